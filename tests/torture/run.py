#!/usr/bin/env python3
"""Crash torture for the executor (tests/torture/torture.yaml, whose steps append one line per
run to a file).

Each trial starts a run, kills it with SIGKILL at a random moment (some trials wait for the
rollback phase first), then resumes it without a terminal, itself killed at random, until the
run ends. A resume starts at once, while what the kill left running may still run: its own
search for survivors (docs/running.md, resume) must wait for them. --rerun-in-doubt is given
only after a resume stopped on a step in doubt (the test consents then, as an operator would).
Checked:
  - the journal always parses (`runbook journal --format json`);
  - a step (or rollback) whose end was journaled never runs again;
  - no step runs more often than 1 + the consents journaled for it;
  - outputs survive a resume (a later step and a rollback read an earlier step's capture);
  - the run ends as it should: succeeded with the files written, or rolled back with the old
    content (and mode) of the file steps back;
  - every exit is a documented code, never a crash.
Then the torn-record test: the journal cut at every byte of a step_end record, each copy
resumed: never a crash, and the step is never taken as done (it is in doubt).

    python3 tests/torture/run.py [TRIALS] [--bin build/runbook] [--seed N] [--work DIR] [--keep]
Prints one line per failure and ends with "N passed, M failed"."""
import argparse
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUNBOOK = os.path.join(HERE, "torture.yaml")
STEPS = ["s1", "s2", "idem", "s3", "last"]  # the steps that append to "appends"
UNDONE = {"s1": "rb-s1", "s2": "rb-s2", "s3": "rb-s3"}  # rollback lines in "rollbacks"
MAX_RESUMES = 40
ORIGINAL = "ORIGINAL-1\n"


class Failure(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return default


def count_lines(path):
    counts = {}
    for line in read(path).splitlines():
        key = line.split(" ")[0]
        counts[key] = counts.get(key, 0) + 1
    return counts


def without(counts, keys):
    return {k: v for k, v in counts.items() if k not in keys}


class Trial:
    def __init__(self, binary, root, index, rng, shape):
        self.bin = binary
        self.shape = shape  # fail -> (records in a whole run, the rollback_begin's record)
        self.rng = rng
        self.index = index
        self.dir = os.path.join(root, f"trial-{index}")
        self.d = os.path.join(self.dir, "d")
        self.state = os.path.join(self.dir, "state")
        self.fail = rng.random() < 0.5
        self.kill_in_rollback = self.fail and rng.random() < 0.5
        self.run_id = None
        self.kills = 0
        self.log = []

    # ---- processes ----

    def start(self, args):
        out = open(os.path.join(self.dir, f"out-{len(self.log)}"), "w")
        err = open(os.path.join(self.dir, f"err-{len(self.log)}"), "w")
        # Trials run side by side as if on machines of their own: each has its own system lock folder.
        env = dict(os.environ, RUNBOOK_LOCK_DIR=os.path.join(self.dir, "syslock"))
        p = subprocess.Popen([self.bin] + args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        self.log.append(" ".join(args[:2]) + (" --rerun-in-doubt" if "--rerun-in-doubt" in args else ""))
        return p, out, err

    def finish(self, p, out, err, kill_after):
        if kill_after is not None:
            try:
                p.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                p.kill()
                self.kills += 1
        try:
            code = p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            raise Failure("a run hung for 60 s")
        out.close()
        err.close()
        self.log[-1] += f" -> {code}"
        return code, read(err.name)

    def journal_lines(self):
        if self.run_id is None:
            self.find_run()
        return read(self.journal_path()).count("\n") if self.run_id else 0

    def kill_point(self, p, records):
        """Waits until the journal holds `records` records (or the run ends), then a random few
        milliseconds more, so kills land between and inside every kind of event; returns the
        wait left before the kill."""
        end = time.time() + 30
        while p.poll() is None and time.time() < end and self.journal_lines() < records:
            time.sleep(0.001)
        return self.rng.uniform(0, 0.03)

    # ---- the journal ----

    def find_run(self):
        runs = os.path.join(self.state, "runs")
        names = [n[:-6] for n in os.listdir(runs) if n.endswith(".jsonl")] if os.path.isdir(runs) else []
        started = [n for n in names if read(os.path.join(runs, n + ".jsonl")).strip()]
        if started:
            self.run_id = sorted(started)[-1]

    def journal_path(self):
        return os.path.join(self.state, "runs", self.run_id + ".jsonl")

    def records(self):
        r = subprocess.run([self.bin, "journal", self.run_id, "--state-dir", self.state, "--format", "json"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        expect(r.returncode == 0, f"the journal does not parse: {r.stderr.strip()}")
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    # ---- the trial ----

    def setup(self):
        os.makedirs(self.d)
        with open(os.path.join(self.d, "target1"), "w") as f:
            f.write(ORIGINAL)
        os.chmod(os.path.join(self.d, "target1"), 0o600)

    def first_run(self):
        """Runs and kills; a kill before the first record leaves no run to resume (and must
        leave no effect): then it starts again."""
        for _ in range(10):
            p, out, err = self.start(["run", RUNBOOK, "--state-dir", self.state, "--set", f"dir={self.d}",
                                      "--set", f"fail={'true' if self.fail else 'false'}"])
            total, rollback_at = self.shape[self.fail]
            first = rollback_at if self.kill_in_rollback else 1
            code, _ = self.finish(p, out, err, self.kill_point(p, self.rng.randint(first, total)))
            expect(code in (0, 1, -9), f"the run exited {code}")
            self.find_run()
            if self.run_id:
                return
            expect(not read(os.path.join(self.d, "appends")), "a run with no journal record acted")
        raise Failure("ten runs killed before their first record")

    def resume_until_done(self):
        consent = False
        for _ in range(MAX_RESUMES):
            recs = self.records()
            if any(r["type"] == "run_end" for r in recs):
                return recs
            ended = {r["step"] for r in recs if r["type"] == "step_end" and r["outcome"] != "cancelled"}
            undone = {r["step"] for r in recs if r["type"] == "rollback_end"}
            # A child of the killed process may still be running and write its line after `before`
            # is read (the resume rightly finds no survivor once it has ended): only the steps
            # and rollbacks in doubt can have such a child. The final count still bounds them.
            doubt = {r["step"] for r in recs if r["type"] == "attempt_start"} - ended
            rb_doubt = {UNDONE.get(r["step"]) for r in recs if r["type"] == "rollback_start"} - \
                {UNDONE.get(s) for s in undone}
            before = count_lines(os.path.join(self.d, "appends"))
            rb_before = count_lines(os.path.join(self.d, "rollbacks"))
            args = ["resume", self.run_id, "--state-dir", self.state] + (["--rerun-in-doubt"] if consent else [])
            p, out, err = self.start(args)
            kill = self.rng.uniform(0, 0.25) if self.rng.random() < 0.5 else None
            code, errtext = self.finish(p, out, err, kill)
            expect(code in (0, 1, 3, -9), f"resume exited {code}: {errtext.strip()[-300:]}")
            after = count_lines(os.path.join(self.d, "appends"))
            rb_after = count_lines(os.path.join(self.d, "rollbacks"))
            for s in ended:
                expect(after.get(s, 0) == before.get(s, 0), f"step {s} ran again after its step_end")
            for s in undone:
                line = UNDONE.get(s)
                if line:
                    expect(rb_after.get(line, 0) == rb_before.get(line, 0), f"rollback of {s} ran again after its end")
            consent = code == 1 and "in doubt" in errtext
            if consent:
                expect(without(after, doubt) == without(before, doubt) and
                       without(rb_after, rb_doubt) == without(rb_before, rb_doubt),
                       "a resume that stopped in doubt ran something")
        raise Failure(f"the run did not end after {MAX_RESUMES} resumes")

    def check_end(self, recs):
        end = [r for r in recs if r["type"] == "run_end"][-1]
        want = "rolled_back" if self.fail else "succeeded"
        expect(end["status"] == want, f"the run ended {end['status']}, expected {want}")
        appends = count_lines(os.path.join(self.d, "appends"))
        for s in STEPS:
            consents = sum(1 for r in recs if r["type"] == "note" and r.get("step") == s
                           and r.get("resume", "").startswith(("running it again", "verify says it did not")))
            expect(1 <= appends.get(s, 0) <= 1 + consents,
                   f"step {s} ran {appends.get(s, 0)} times with {consents} consents")
        seen_end = set()
        for r in recs:
            if r["type"] == "step_end" and r["outcome"] != "cancelled":
                seen_end.add(r["step"])
            if r["type"] == "step_start":
                expect(r["step"] not in seen_end, f"step {r['step']} started again after its step_end")
        s2 = [r for r in recs if r["type"] == "step_end" and r["step"] == "s2"][-1]
        token = s2["outputs"]["token"]
        expect(read(os.path.join(self.d, "s3-token")).strip() == token, "s3 did not read s2's capture")
        target1 = os.path.join(self.d, "target1")
        target2 = os.path.join(self.d, "target2")
        if self.fail:
            self.check_rollback(recs, token)
            expect(read(target1) == ORIGINAL, f"target1 not restored: {read(target1)!r}")
            expect(os.stat(target1).st_mode & 0o777 == 0o600, "target1's mode not restored")
            expect(not os.path.exists(target2), "target2 not removed by the rollback")
        else:
            expect(read(target1) == f"NEW-1 {self.run_id}\n", f"target1 is {read(target1)!r}")
            expect(os.stat(target1).st_mode & 0o777 == 0o640, "target1's mode is not 0640")
            expect(read(target2) == "NEW-2\n", "target2 not written")

    def check_rollback(self, recs, token):
        lines = read(os.path.join(self.d, "rollbacks")).splitlines()
        counts = count_lines(os.path.join(self.d, "rollbacks"))
        for s, line in UNDONE.items():
            consents = sum(1 for r in recs if r["type"] == "note" and r.get("step") == s
                           and r.get("resume") == "running its rollback again")
            expect(1 <= counts.get(line, 0) <= 1 + consents,
                   f"rollback of {s} ran {counts.get(line, 0)} times with {consents} consents")
        expect(all(line.split(" ")[1] == token for line in lines if line.startswith("rb-s2")),
               "the rollback of s2 did not read its capture")
        first = []
        for line in lines:
            if line.split(" ")[0] not in first:
                first.append(line.split(" ")[0])
        expect(first == ["rb-s3", "rb-s2", "rb-s1"], f"rollbacks out of order: {first}")

    def run(self):
        self.setup()
        self.first_run()
        self.check_end(self.resume_until_done())


def run_shape(binary, root, fail):
    """How many records a whole run journals, and where its rollback begins (fail only)."""
    base = os.path.join(root, f"shape-{fail}")
    d = os.path.join(base, "d")
    state = os.path.join(base, "state")
    os.makedirs(d)
    subprocess.run([binary, "run", RUNBOOK, "--state-dir", state, "--set", f"dir={d}", "--set",
                    f"fail={'true' if fail else 'false'}"], stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    runs = os.path.join(state, "runs")
    name = [n for n in os.listdir(runs) if n.endswith(".jsonl")][0]
    lines = read(os.path.join(runs, name)).splitlines()
    begin = next((i + 1 for i, line in enumerate(lines) if '"rollback_begin"' in line), 1)
    shutil.rmtree(base)
    return len(lines), begin


def torn_records(binary, root):
    """Cuts the journal at every byte of s2's step_end and resumes each copy."""
    failures = []
    base = os.path.join(root, "torn-base")
    d = os.path.join(base, "d")
    state = os.path.join(base, "state")
    os.makedirs(d)
    subprocess.run([binary, "run", RUNBOOK, "--state-dir", state, "--set", f"dir={d}"],
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=True)
    run_id = [n[:-6] for n in os.listdir(os.path.join(state, "runs")) if n.endswith(".jsonl")][0]
    with open(os.path.join(state, "runs", run_id + ".jsonl"), "rb") as f:
        lines = f.read().splitlines(keepends=True)
    k = next(i for i, line in enumerate(lines) if b'"step_end","step":"s2"' in line)
    head, record = b"".join(lines[:k]), lines[k]
    for cut in range(len(record) + 1):
        case = os.path.join(root, f"torn-{cut}")
        cd, cstate = os.path.join(case, "d"), os.path.join(case, "state")
        shutil.copytree(os.path.join(state, "runs", run_id + ".d"), os.path.join(cstate, "runs", run_id + ".d"))
        os.makedirs(cd)
        with open(os.path.join(cstate, "runs", run_id + ".jsonl"), "wb") as f:
            f.write(head + record[:cut])
        with open(os.path.join(cd, "appends"), "w") as f:
            f.write("s1\ns2\n")
        intact = cut == len(record)
        before = count_lines(os.path.join(d, "appends"))
        # the journaled inputs name the base folder: only the intact copy may run anything there
        r = subprocess.run([binary, "resume", run_id, "--state-dir", cstate], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        try:
            expect(r.returncode in (0, 1), f"cut at {cut}: resume exited {r.returncode}: {r.stderr.strip()[-300:]}")
            if intact:
                expect(r.returncode == 0, f"intact record: resume exited {r.returncode}: {r.stderr.strip()[-200:]}")
                after = count_lines(os.path.join(d, "appends"))
                expect(after.get("s2") == before.get("s2") and after.get("s3") == before.get("s3", 0) + 1,
                       f"intact record: the resume did not go on after s2: {after}")
            else:
                expect(r.returncode == 1 and "step s2 is in doubt" in r.stderr,
                       f"cut at {cut}: s2 not in doubt ({r.returncode}): {r.stderr.strip()[-200:]}")
                expect(read(os.path.join(cd, "appends")) == "s1\ns2\n", f"cut at {cut}: something ran")
                expect(count_lines(os.path.join(d, "appends")) == before, f"cut at {cut}: something ran")
            v = subprocess.run([binary, "journal", run_id, "--state-dir", cstate, "--format", "json"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
            expect(v.returncode == 0, f"cut at {cut}: the journal does not parse after the resume")
        except Failure as e:
            failures.append(str(e))
        shutil.rmtree(case)
    return len(record) + 1, failures


def main():
    ap = argparse.ArgumentParser(description="Crash torture for runbook's executor.")
    ap.add_argument("count", nargs="?", type=int, help="trials (default 50)")
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build", "runbook"))
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--work", default=None)
    ap.add_argument("--jobs", type=int, default=2, help="trials at once")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    a = ap.parse_args()
    if a.count is not None:
        a.trials = a.count
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    root = tempfile.mkdtemp(prefix="rb-torture.", dir=a.work)
    binary = os.path.abspath(a.bin)
    print(f"seed {seed}, work {root}")
    passed = failed = 0

    shape = {fail: run_shape(binary, root, fail) for fail in (False, True)}

    def one(i):
        t = Trial(binary, root, i, random.Random(seed * 1000 + i), shape)
        try:
            t.run()
            return None, t
        except Failure as e:
            return str(e), t
        except Exception as e:  # a bug in this script is a failure too, never a pass
            return f"{type(e).__name__}: {e}", t

    stats = {"kills": 0, "resumes": 0, "in doubt": 0, "rollback trials": 0}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        for why, t in pool.map(one, range(a.trials)):
            stats["kills"] += t.kills
            stats["resumes"] += sum(1 for entry in t.log if entry.startswith("resume"))
            stats["in doubt"] += sum(1 for entry in t.log if "--rerun-in-doubt" in entry)
            stats["rollback trials"] += t.fail
            if why:
                failed += 1
                print(f"FAIL trial {t.index} (seed {seed}, fail={t.fail}, run {t.run_id}): {why}")
                print("    " + "; ".join(t.log))
            else:
                passed += 1
    print(", ".join(f"{v} {k}" for k, v in stats.items()))
    cases, torn = torn_records(binary, root)
    for why in torn:
        print(f"FAIL torn record: {why}")
    passed += cases - len(torn)
    failed += len(torn)
    if not a.keep and failed == 0:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
