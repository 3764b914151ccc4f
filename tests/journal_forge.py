"""Forged journal records for the suites' hostile-journal tests: every record carries the
CRC-32C of its text, so a forged or stale record must be sealed like a real one.

As a module: crc32c(bytes), seal(record) -> one journal line (no newline).
As a program:
    python3 journal_forge.py PATH (--first | --last TEXT) KEY=VALUE...
rewrites the first record, or the last one whose line holds TEXT, setting each KEY (a dotted
path such as inputs.name) to VALUE (an int when it is all digits), and seals it again."""
import json
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def seal(rec):
    rec = {k: v for k, v in rec.items() if k != "crc"}
    body = json.dumps(rec, separators=(",", ":"), ensure_ascii=False)
    return body[:-1] + ',"crc":"%08x"}' % crc32c(body.encode())


def main(argv):
    path, how = argv[1], argv[2]
    sets = argv[3:] if how == "--first" else argv[4:]
    lines = open(path, "rb").read().decode().splitlines()
    if how == "--first":
        at = 0
    else:
        at = max(i for i, line in enumerate(lines) if argv[3] in line)
    rec = json.loads(lines[at])
    for key, value in (a.split("=", 1) for a in sets):
        *outer, last = key.split(".")
        node = rec
        for k in outer:
            node = node[k]
        node[last] = int(value) if value.isdigit() else value
    lines[at] = seal(rec)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv)
