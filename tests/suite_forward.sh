#!/usr/bin/env bash
# A way forward from any stop (issue 10 items 5-7): resume --mark-done and --retry-failed,
# run --from with --outputs-from, the RUN shortcuts (last, a prefix, a runbook's name), the runs
# filters and JSON, and Ctrl-C at a confirmation on a pseudo-terminal. Side effects are counted
# in files; the journal is read through `runbook journal --format json`.
#   bash tests/suite_forward.sh BINARY SOURCE_DIR
set -u
bin=$(realpath "$1") src=$(realpath "$2")
. "$src/tests/lib.sh" # check, eq, has, lacks, exists, absent, lines, run_id_of
ex=$src/tests/exec
suite_work forward
export RUNBOOK_PATH=$work/rbs
unset SUDO_USER

# ---- helpers ----

begin() { # a fresh folder per test: T (scratch), S (state dir), D (files the runbooks touch)
    T=$work/$1 S=$work/$1/state D=$work/$1/d
    mkdir -p "$D"
}
rb() { # runs the binary without a terminal; sets code, out, err and rid
    timeout -k 5 60 "$bin" "$@" </dev/null >"$T/out" 2>"$T/err"
    code=$?
    out=$(<"$T/out") err=$(<"$T/err")
    rid=$(run_id_of "$T/out")
}
jq_() { "$bin" journal "$1" --state-dir "$S" --format json 2>/dev/null | python3 "$ex/jr.py" "${@:2}"; }
jcheck() { check "$1" eq "$(jq_ "$2" "$3")" true; }
count() { grep -cx -- "$2" "$1" 2>/dev/null || true; } # lines of file $1 that are exactly $2
nruns() { ls "$S/runs" 2>/dev/null | grep -c '\.jsonl$'; }

mkdir -p "$work/rbs"
# prepare prints a token that use reads; flaky fails until the file "fixed" exists.
cat >"$work/rbs/fwd.yaml" <<'EOF'
runbook: fwd
version: 1
title: A way forward
inputs:
  dir: { type: string, pattern: "/.*" }
steps:
  - id: prepare
    exec: [sh, -c, 'echo prepare >> "$0/log"; echo token-42', "${{ inputs.dir }}"]
    effect: read
  - id: flaky
    exec: [sh, -c, 'echo flaky >> "$0/log"; test -e "$0/fixed"', "${{ inputs.dir }}"]
    effect: read
  - id: use
    exec: [sh, -c, 'echo "use $1" >> "$0/log"', "${{ inputs.dir }}", "${{ steps.prepare.stdout }}"]
    effect: read
  - id: final
    exec: [sh, -c, 'echo final >> "$0/log"', "${{ inputs.dir }}"]
    effect: read
EOF
# The same, rolled back when flaky fails.
sed -e 's/^runbook: fwd/runbook: fwd-rb/' -e 's/^steps:/on_failure: rollback\nsteps:/' \
    -e 's/    effect: read/    effect: read\n    rollback: { exec: [true] }/' "$work/rbs/fwd.yaml" >"$work/rbs/fwd-rb.yaml"
# hang waits for the file "go"; in hang-reads, the step after reads its output.
cat >"$work/rbs/hang.yaml" <<'EOF'
runbook: hang
version: 1
title: A step that hangs
inputs:
  dir: { type: string, pattern: "/.*" }
steps:
  - id: one
    exec: [sh, -c, 'echo one >> "$0/log"', "${{ inputs.dir }}"]
    effect: read
  - id: wait
    exec: [sh, -c, 'echo wait >> "$0/log"; echo waited; while [ ! -e "$0/go" ]; do sleep 0.1; done', "${{ inputs.dir }}"]
    irreversible: true
  - id: after
    exec: [sh, -c, 'echo after >> "$0/log"', "${{ inputs.dir }}"]
    effect: read
EOF
sed -e 's/^runbook: hang/runbook: hang-reads/' -e 's/  - id: after/  - id: after\n    when: "steps.wait.stdout != '"''"'"/' \
    "$work/rbs/hang.yaml" >"$work/rbs/hang-reads.yaml"
cat >"$work/rbs/other.yaml" <<'EOF'
runbook: other
version: 1
title: Another runbook
steps:
  - id: only
    exec: [true]
    effect: read
EOF
cat >"$work/rbs/ask.yaml" <<'EOF'
runbook: ask
version: 1
title: A confirmation
inputs:
  dir: { type: string, pattern: "/.*" }
steps:
  - id: before
    exec: [sh, -c, 'echo before >> "$0/log"', "${{ inputs.dir }}"]
    effect: read
  - id: promote
    confirm: Promote now?
    exec: [sh, -c, 'echo promoted >> "$0/log"', "${{ inputs.dir }}"]
    irreversible: true
EOF

# Starts `hang` in the background and interrupts it inside step wait (in doubt); sets r.
interrupted_hang() { # runbook
    "$bin" run "$1" --state-dir "$S" --set "dir=$D" </dev/null >"$T/first" 2>&1 &
    local pid=$!
    bgpids+=("$pid")
    wait_until 10 grep -qs wait "$D/log"
    kill -INT "$pid"
    wait "$pid"
    code=$?
    r=$(ls "$S/runs" | sed -n 's/\.jsonl$//p' | sort | tail -1)
}

# ---- resume --retry-failed ----

t_retry_failed() {
    begin retry
    rb run fwd --state-dir "$S" --set "dir=$D"
    local r=$rid
    check "retry: the first run fails at flaky (exit 1)" eq "$code" 1
    rb resume "$r" --state-dir "$S"
    check "retry: a plain resume of a failed run is refused (exit 2)" eq "$code" 2
    check "retry: ... saying how to go on" has "$err" "resume with --retry-failed"
    touch "$D/fixed"
    rb resume "$r" --state-dir "$S" --retry-failed
    check "retry: --retry-failed finishes the run" eq "$code" 0
    check "retry: the failed step ran again, the finished one did not" eq "$(count "$D/log" prepare) $(count "$D/log" flaky)" "1 2"
    check "retry: the steps not run yet ran, reading the first run's outputs" eq "$(count "$D/log" 'use token-42')" 1
    jcheck "retry: the resume record names the retried step" "$r" 'last("resume")["retry_failed"] == ["flaky"]'
    jcheck "retry: the run ends succeeded" "$r" 'last("run_end")["status"] == "succeeded"'
    rb runs --state-dir "$S" --format json
    check "retry: runs shows the run as succeeded now" eq \
        "$(python3 -c 'import json,sys; print([x["status"] for x in json.load(sys.stdin) if x["id"]==sys.argv[1]][0])' "$r" <"$T/out")" succeeded
    rb resume "$r" --state-dir "$S" --retry-failed
    check "retry: a succeeded run is not resumed again (exit 2)" eq "$code" 2

    rm -f "$D/fixed" "$D/log"
    rb run fwd-rb --state-dir "$S" --set "dir=$D"
    check "retry: a run that rolled back ends rolled back" eq "$code" 1
    rb resume "$rid" --state-dir "$S" --retry-failed
    check "retry: --retry-failed refuses a rolled-back run (exit 2)" eq "$code" 2
    check "retry: ... saying its effects were undone" has "$err" "its steps' effects were undone"
}

# ---- resume --mark-done ----

t_mark_done() {
    begin mark
    local r
    interrupted_hang hang
    check "mark: the run is interrupted inside wait (exit 130)" eq "$code" 130
    rb resume "$r" --state-dir "$S" --mark-done wait
    check "mark: --mark-done without --reason is refused (exit 2)" eq "$code" 2
    check "mark: ... asking for the reason" has "$err" "--mark-done needs --reason"
    rb resume "$r" --state-dir "$S" --mark-done nosuch --reason x
    check "mark: an unknown step is refused (exit 2)" eq "$code" 2
    check "mark: ... naming it" has "$err" 'has no step "nosuch"'
    rb resume "$r" --state-dir "$S" --mark-done one --reason x
    check "mark: a step that succeeded is not marked (exit 2)" eq "$code" 2
    check "mark: ... saying so" has "$err" "already succeeded"
    USER=alice SUDO_USER=bob rb resume "$r" --state-dir "$S" --mark-done wait --reason "checked the flag by hand"
    check "mark: the resume goes on (exit 0)" eq "$code" 0
    check "mark: the marked step did not run again, the next one ran" eq "$(lines "$D/log")" "one wait after"
    jcheck "mark: journaled as succeeded, marked done, with who and why" "$r" \
        'last("step_end","wait")["outcome"] == "succeeded" and last("step_end","wait")["marked_done"] is True and last("step_end","wait")["reason"] == "checked the flag by hand" and last("step_end","wait")["user"] == "alice" and last("step_end","wait")["sudo_user"] == "bob"'
    check "mark: the screen says who marked it" has "$out" "marked done by hand (--mark-done, user alice): checked the flag by hand"

    begin mark-reads
    interrupted_hang hang-reads
    rb resume "$r" --state-dir "$S" --mark-done wait --reason "done by hand"
    check "mark: a later step reading the marked step's output is refused (exit 2)" eq "$code" 2
    check "mark: ... with a clear message" has "$err" "step after reads steps.wait.stdout, but step wait was marked done by hand"
    check "mark: ... and nothing ran" eq "$(lines "$D/log")" "one wait"
    jcheck "mark: ... and nothing was journaled as done" "$r" 'last("step_end","wait").get("marked_done") is None'

    begin mark-failed
    rb run fwd --state-dir "$S" --set "dir=$D"
    r=$rid
    rb resume "$r" --state-dir "$S" --mark-done flaky --reason "fixed by hand"
    check "mark: a failed run goes on past its failed step marked done" eq "$code" 0
    check "mark: ... which did not run again" eq "$(count "$D/log" flaky) $(count "$D/log" final)" "1 1"
}

# ---- run --from ----

t_from() {
    begin from
    touch "$D/fixed"
    rb run fwd --state-dir "$S" --set "dir=$D"
    local first=$rid
    : >"$D/log"
    local before
    before=$(nruns)
    rb run fwd --state-dir "$S" --set "dir=$D" --from use
    check "from: refused when a step that runs reads a skipped step's output (exit 2)" eq "$code" 2
    check "from: ... saying which and how to give it" has "$err" "step use reads steps.prepare.stdout, but step prepare is skipped by --from use: give --outputs-from RUN"
    check "from: ... before any step: nothing ran, no journal" eq "$(lines "$D/log")/$(nruns)" "/$before"
    rb run fwd --state-dir "$S" --set "dir=$D" --from use --outputs-from "$first"
    check "from: with --outputs-from the run goes on" eq "$code" 0
    check "from: the steps before it were skipped, the rest ran with the earlier outputs" eq "$(lines "$D/log")" "use token-42  final"
    jcheck "from: the skipped steps are journaled as skipped by --from, with the outputs taken" "$rid" \
        'last("step_end","prepare")["outcome"] == "skipped" and last("step_end","prepare")["skipped_by"] == "--from" and last("step_end","prepare")["outputs_from"] == "'"$first"'" and steps("step_start") == ["use", "final"]'
    check "from: the screen says why they were skipped" has "$out" "prepare skipped: before --from use (outputs from run $first)"
    : >"$D/log"
    rb run fwd --state-dir "$S" --set "dir=$D" --from final
    check "from: a start that needs no outputs runs without --outputs-from" eq "$code/$(lines "$D/log")" "0/final"
    rb run fwd --state-dir "$S" --set "dir=$D" --from nosuch
    check "from: an unknown step is refused (exit 2)" eq "$code" 2
    check "from: ... naming it" has "$err" 'has no step "nosuch"'
    rb run hang --state-dir "$S" --set "dir=$D" --from after --outputs-from "$first"
    check "from: outputs from a run of another runbook are refused (exit 2)" eq "$code" 2
    check "from: ... saying whose run it is" has "$err" "a run of runbook fwd, not of hang"
    rb run hang-reads --state-dir "$S" --set "dir=$D" --from after
    check "from: a when reading a skipped step's output counts as needing it (exit 2)" eq "$code" 2
    rb run fwd --state-dir "$S" --set "dir=$D" --outputs-from "$first"
    check "from: --outputs-from without --from is refused (exit 2)" eq "$code" 2
}

# ---- RUN shortcuts ----

t_ids() {
    begin ids
    touch "$D/fixed"
    rb run fwd --state-dir "$S" --set "dir=$D"
    local a=$rid
    rb run other --state-dir "$S"
    local b=$rid
    rb journal last --state-dir "$S" --format json
    check "ids: last names a run" has "$out" '"type":"run_start"'
    check "ids: ... of other" eq "$(jq_ last 'last("run_start")["runbook"]')" other
    check "ids: a runbook's name is its newest run" eq "$(jq_ fwd 'last("run_start")["runbook"]')" fwd
    rb journal "${a:0:${#a}-2}" --state-dir "$S"
    check "ids: a unique prefix names its run" eq "$code" 0
    rb report "${b:0:${#b}-3}" --state-dir "$S"
    check "ids: report takes a prefix too" has "$out" "$b"
    rb journal 2 --state-dir "$S"
    check "ids: an ambiguous prefix is refused (exit 2)" eq "$code" 2
    check "ids: ... listing the candidates" has "$err" "$a"
    check "ids: ... all of them" has "$err" "$b"
    rb journal nosuch --state-dir "$S"
    check "ids: a wrong one is refused (exit 2)" eq "$code" 2
    check "ids: ... pointing at runbook runs" has "$err" "see 'runbook runs'"
    rb resume nosuch --state-dir "$S"
    check "ids: resume points at runbook runs too" has "$err" "see 'runbook runs'"
    rb resume fwd --state-dir "$S"
    check "ids: resume takes a runbook's name (its newest run, ended here)" has "$err" "already ended (succeeded)"
}

t_runs() {
    begin runs
    rb run fwd --state-dir "$S" --set "dir=$D"
    local failed=$rid
    touch "$D/fixed"
    rb run fwd --state-dir "$S" --set "dir=$D"
    rb run fwd --state-dir "$S" --set "dir=$D" --dry-run
    rb run other --state-dir "$S"
    rb runs --state-dir "$S" --format json
    local py='import json,sys; a=json.load(sys.stdin); print(eval(sys.argv[1]))'
    check "runs: --format json is an array of every run" eq "$(python3 -c "$py" 'len(a)' <"$T/out")" 4
    check "runs: ... with id, runbook, status, started, duration_ms, dry_run" eq \
        "$(python3 -c "$py" 'set(k for x in a for k in x) >= {"id","runbook","status","started","duration_ms","dry_run"} and [x["dry_run"] for x in a]' <"$T/out")" \
        "[False, False, True, False]"
    rb runs --state-dir "$S" --format json --status failed
    check "runs: --status keeps the runs that ended so" eq "$(python3 -c "$py" '[x["id"] for x in a]' <"$T/out")" "['$failed']"
    rb runs --state-dir "$S" --format json --runbook other
    check "runs: --runbook keeps that runbook's runs" eq "$(python3 -c "$py" '[x["runbook"] for x in a]' <"$T/out")" "['other']"
    rb runs --state-dir "$S" --format json --runbook fwd --limit 2
    check "runs: --limit keeps the newest N after the filters" eq "$(python3 -c "$py" '[x["dry_run"] for x in a]' <"$T/out")" "[False, True]"
    rb runs --state-dir "$S" --limit 1
    check "runs: --limit in text: a header and one run" eq "$(wc -l <"$T/out")" 2
    rb runs --state-dir "$S" --status finished
    check "runs: an unknown status is refused (exit 2)" eq "$code" 2
    check "runs: ... listing the known ones" has "$err" "rolled_back"
    rb runs --state-dir "$S" --limit 0
    check "runs: --limit 0 is refused (exit 2)" eq "$code" 2
    rb runs --state-dir "$S" --format yaml
    check "runs: an unknown format is refused (exit 2)" eq "$code" 2
}

# ---- Ctrl-C at a confirmation (a pseudo-terminal) ----

# Runs the binary on a pseudo-terminal with the input the feed writes; sets out and code.
on_tty() { # feed-script, args...
    local feed=$1
    shift
    bash -c "$feed" | SHELL=/bin/bash timeout -k 5 60 script -qec "$(printf '%q ' "$bin" "$@")" /dev/null >"$T/tty" 2>&1
    code=${PIPESTATUS[1]}
    out=$(tr -d '\r' <"$T/tty")
}

# The pid of the run journaled in $S (its run_start), once the question is on the screen.
asking_pid() {
    wait_until 10 grep -qs "Promote now" "$T/tty" || return 1
    local r
    r=$(ls "$S/runs" | sed -n 's/\.jsonl$//p' | sort | tail -1)
    jq_ "$r" 'R[0]["pid"]'
}

t_ctrl_c() {
    begin ctrl-c
    command -v script >/dev/null || { check "ctrl-c: util-linux script is installed" false; return; }
    # The feed waits for the question, then interrupts the runbook process (as Ctrl-C would).
    local feed="T=$T S=$S; $(declare -f wait_until asking_pid jq_); bin=$bin ex=$ex; "'p=$(asking_pid) && kill -INT "$p"; sleep 2'
    on_tty "$feed" run ask --state-dir "$S" --set "dir=$D"
    check "ctrl-c: the run ends 130" eq "$code" 130
    local r
    r=$(ls "$S/runs" | sed -n 's/\.jsonl$//p' | sort | tail -1)
    jcheck "ctrl-c: the confirmation is journaled as an interrupt, not as no" "$r" \
        'last("confirm","promote")["answer"] == "interrupted" and last("interrupted") != {}'
    check "ctrl-c: the step did not run" eq "$(lines "$D/log")" "before"
    on_tty "sleep 1; printf 'y\n'" resume "$r" --state-dir "$S"
    check "ctrl-c: resume asks again" has "$out" "Promote now? [y/N]"
    check "ctrl-c: ... and the yes runs the step, once" eq "$code/$(lines "$D/log")" "0/before promoted"
    jcheck "ctrl-c: the second answer is journaled" "$r" 'last("confirm","promote")["answer"] == "yes"'
}

t_retry_failed
t_mark_done
t_from
t_ids
t_runs
t_ctrl_c
no_sanitizer_reports
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
