#!/usr/bin/env python3
"""Splits a run's time, from its journal (`runbook journal RUN --format json` on stdin):

    python3 split.py RUNBOOK.yaml < journal.json

  waits    the runbook's own waits, set by its inputs: sleep steps and the delays between retries
  servers  the actions: the time from each attempt's start to its end, and each rollback's
  people   from a step's start to the answer of its confirmation
  runbook  the rest: the tool itself (loading, checking, rendering, journaling, scheduling)
"""
import datetime, json, re, sys

src = open(sys.argv[1]).read()
sleeps = set(re.findall(r"^  - id: (\S+)\n(?:(?!^  - id:).*\n)*?    sleep:", src, re.M))
R = [json.loads(l) for l in sys.stdin if l.strip()]


def ms(r):
    t = datetime.datetime.strptime(r["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000


total = next((r["duration_ms"] for r in R if r["type"] == "run_end"), 0)
waits = servers = people = 0
last_end, step_start, rb_start = {}, {}, {}
for r in R:
    t, s = r["type"], r.get("step")
    if t == "step_start":
        step_start[s] = ms(r)
    elif t == "confirm":
        people += ms(r) - step_start.get(s, ms(r))
    elif t == "attempt_start" and s in last_end:
        waits += ms(r) - last_end[s]
    elif t == "attempt_end":
        last_end[s] = ms(r)
        if s in sleeps:
            waits += r.get("duration_ms", 0)
        else:
            servers += r.get("duration_ms", 0)
    elif t == "rollback_start":
        rb_start[s] = ms(r)
    elif t == "rollback_end" and s in rb_start:
        servers += ms(r) - rb_start[s]
tool = max(0, total - waits - servers - people)
pct = lambda v: 100.0 * v / total if total else 0
print("  run %.2f s = waits %.2f s (%.1f %%) + servers %.2f s (%.1f %%) + people %.2f s (%.1f %%) + runbook %.3f s (%.2f %%)"
      % (total / 1000, waits / 1000, pct(waits), servers / 1000, pct(servers), people / 1000, pct(people), tool / 1000, pct(tool)))
