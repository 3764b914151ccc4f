#!/usr/bin/env python3
"""Journal queries for suite_exec.sh: reads the records of `runbook journal RUN --format json`
on standard input and prints the value of a Python expression over them (argv[1]).

Names: R (the records, in order), of(type, step=None) (records of a type, optionally of one
step), last(type, step=None) (the last such record or {}), ms(record) (its ts in
milliseconds), steps(type) (the step keys of such records, in order). A boolean prints as
true/false, a string as itself, anything else as JSON."""
import datetime
import json
import sys

R = [json.loads(line) for line in sys.stdin if line.strip()]


def of(type_, step=None):
    return [r for r in R if r.get("type") == type_ and (step is None or r.get("step") == step)]


def last(type_, step=None):
    found = of(type_, step)
    return found[-1] if found else {}


def ms(record):
    ts = datetime.datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return int(ts.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def steps(type_):
    return [r.get("step") for r in of(type_)]


value = eval(sys.argv[1])  # the suite's own expressions, never outside input
if isinstance(value, bool):
    print("true" if value else "false")
elif isinstance(value, str):
    print(value)
else:
    print(json.dumps(value))
