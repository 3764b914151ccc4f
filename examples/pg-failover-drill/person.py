#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal and answers its questions as the drill's operator.

    python3 person.py LOG 'REGEX' [-- 'REGEX' ...] -- COMMAND...

A person at a terminal is what `confirm_by: person` asks for; this is the drill's person. Every
question ("... [y/N]") whose text matches one of the REGEXes is answered y, any other n, and
each answer is shown (and logged to LOG) as `[operator] y: <question>`. Exits with the command's
exit code. Output is passed through.
"""
import os, pty, re, select, sys, time

log = sys.argv[1]
args = sys.argv[2:]
cut = args.index("--")
rules = [re.compile(r, re.S) for r in args[:cut]]
cmd = args[cut + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
buf = b""
with open(log, "a") as lf:
    while True:
        try:
            r, _, _ = select.select([fd], [], [], 1)
        except InterruptedError:
            continue
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        sys.stdout.buffer.write(chunk.replace(b"\r\n", b"\n"))
        sys.stdout.flush()
        buf += chunk
        text = buf.decode("utf-8", "replace").replace("\r", "")
        if re.search(r"\[y/N\]\s*$", text):
            q = text.rstrip().rsplit("\n", 1)[-1]
            ans = "y" if any(r.search(q) for r in rules) else "n"
            flat = " ".join(q.split())
            lf.write("%s %s: %s\n" % (time.strftime("%H:%M:%S"), ans, flat))
            lf.flush()
            sys.stdout.write("[operator] %s\n" % ans)
            time.sleep(0.05)
            os.write(fd, (ans + "\n").encode())
            buf = b""
        elif len(buf) > 65536:
            buf = buf[-8192:]
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8)
