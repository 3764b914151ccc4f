#!/usr/bin/python3
"""Time commands in interleaved rounds: wall time and user+system CPU time of each run.

usage: timer.py SPEC RUNS WARMUP OUT.json

SPEC has one command a line: NAME, a tab, then the argv separated by tabs. Each round runs every
command once, in order (A B C, A B C, ...), so that all of them see the same background load;
a ratio taken round by round then cancels load that comes and goes over seconds, which timing
each command's runs in one block (as hyperfine does) does not. WARMUP rounds come first and are
not recorded. Standard output and error of the commands go to /dev/null; a command that exits
non-zero stops everything with exit status 1.

OUT.json: {NAME: {"wall": [s, ...], "cpu": [s, ...], "maxrss_kib": n}, ...} in SPEC's order.
CPU time comes from wait4's rusage (microseconds), wall time from time.perf_counter.
"""
import json
import os
import subprocess
import sys
import time


def run_once(argv):
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.stderr.write("timer.py: %s exited with %d\n" % (" ".join(argv), p.returncode))
        sys.exit(1)
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def main(argv):
    if len(argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    spec, runs, warmup, out = argv[1], int(argv[2]), int(argv[3]), argv[4]
    cmds = []
    with open(spec, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                name, *cmd = line.split("\t")
                cmds.append((name, cmd))
    res = {name: {"wall": [], "cpu": [], "maxrss_kib": 0} for name, _ in cmds}
    for r in range(warmup + runs):
        for name, cmd in cmds:
            wall, cpu, rss = run_once(cmd)
            if r >= warmup:
                res[name]["wall"].append(wall)
                res[name]["cpu"].append(cpu)
                res[name]["maxrss_kib"] = max(res[name]["maxrss_kib"], rss)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
