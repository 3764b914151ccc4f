#!/usr/bin/env bash
# The executor for real, through the command line: timeouts that leave no process behind,
# retries and polling, rollbacks, failure policies, confirmations, secrets and injection,
# locks, signals and resume, dry runs, parallel steps, runbook calls, exit codes, and the crash
# torture (tests/torture/run.py). Every run has a time bound that only catches hangs.
#   bash tests/suite_exec.sh BINARY SOURCE_DIR     (RB_TORTURE_TRIALS=N: torture trials, 50)
set -u
bin=$(realpath "$1") src=$(realpath "$2")
. "$src/tests/lib.sh" # check, eq, has, lacks, exists, absent, lines, run_id_of
ex=$src/tests/exec
suite_work exec # $work, sanitizer reports of every process (runs, journals, the torture's) there
export RUNBOOK_PATH=$ex
unset RB_TEST_CANARY

# ---- helpers ----

# A fresh folder per test: T (scratch), S (state dir), D (files the runbooks touch).
begin() {
    T=$work/$1 S=$work/$1/state D=$work/$1/d
    mkdir -p "$D"
}

# Runs the binary without a terminal; sets code, out, err and rid (the run id it printed).
rb() {
    timeout -k 5 60 "$bin" "$@" </dev/null >"$T/out" 2>"$T/err"
    code=$?
    out=$(<"$T/out") err=$(<"$T/err")
    rid=$(run_id_of "$T/out")
}
printed_run_id() { [[ -n $(run_id_of "$1") ]]; }


# The value of a Python expression over the run's journal records (tests/exec/jr.py).
jq_() { "$bin" journal "$1" --state-dir "$S" --format json 2>/dev/null | python3 "$ex/jr.py" "${@:2}"; }
jcheck() { # description, run id, expression that must be true
    local v
    v=$(jq_ "$2" "$3")
    check "$1" eq "$v" true
}

# A process that exists and is not a zombie.
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) && [[ -n $st && $st != Z ]]
}
dead() { ! alive "$1" || { echo "    process $1 is still alive"; return 1; }; }
no_marker() { # no live process has the marker in its command line (procps may be missing)
    local c p text left=()
    for c in /proc/[0-9]*/cmdline; do
        text=$(tr '\0' ' ' 2>/dev/null <"$c") || continue
        p=${c#/proc/} p=${p%/cmdline}
        [[ $text == *"$1"* && $p != "$BASHPID" ]] && alive "$p" && left+=("$p: $text")
    done
    [[ ${#left[@]} -eq 0 ]] || { printf '    still running: %s\n' "${left[@]}"; return 1; }
}
journal_has() { grep -q "\"type\":\"$2\"" "$S/runs/$1.jsonl" 2>/dev/null; }
latest_run() { ls "$S/runs" 2>/dev/null | sed -n 's/\.jsonl$//p' | sort | tail -1; }
marker() { echo "rbmark-$1-$$-$RANDOM"; }

# Runs RUNBOOK (with RUN-ARGS) in the background, waits until WAIT-CMD succeeds (a point inside a
# step), and kills the run with -9 there, as a crash would; sets r to the run id.
#   killed_run RUNBOOK [RUN-ARGS...] -- WAIT-CMD...
killed_run() {
    local name=$1 args=() pid
    shift
    while [[ $1 != -- ]]; do args+=("$1"); shift; done
    shift
    "$bin" run "$name" --state-dir "$S" --set "dir=$D" "${args[@]}" </dev/null >"$T/first" 2>&1 &
    pid=$!
    bgpids+=("$pid")
    wait_until 10 "$@" >/dev/null 2>&1
    r=$(latest_run)
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
}

# ---- a timeout ends the whole process group ----

t_timeout() {
    begin timeout
    local m t0 t1 bg
    m=$(marker timeout)
    t0=$(date +%s%N)
    rb run timeout --state-dir "$S" --set "marker=$m"
    t1=$(date +%s%N)
    bg=$(sed -n 's/.*bg=\([0-9]*\).*/\1/p' <<<"$out" | head -1)
    check "timeout: the run fails (exit 1)" eq "$code" 1
    check "timeout: journaled as timed_out" eq "$(jq_ "$rid" 'last("step_end","hang").get("outcome")')" timed_out
    check "timeout: it took about the timeout, not the sleep" test $(((t1 - t0) / 1000000)) -lt 15000
    check "timeout: the background pid was printed first" test -n "$bg"
    check "timeout: the background sleep is gone" dead "${bg:-1}"
    check "timeout: nothing with the marker is left" no_marker "$m"
}

# ---- retries, backoff, until, on_errors ----

t_retry() {
    begin retry
    rb run retry --state-dir "$S" --set "dir=$D" --set code=3
    check "retry: failures continued past, exit 0" eq "$code" 0
    check "retry: four attempts journaled" eq "$(jq_ "$rid" 'len(of("attempt_start","backoff"))')" 4
    check "retry: step_end says 4 attempts" eq "$(jq_ "$rid" 'last("step_end","backoff")["attempts"]')" 4
    # the pause before attempt n+1, from the journal: about 300, 600, 1200 ms
    local gaps
    gaps=$(jq_ "$rid" '[ms(s) - ms(e) for e, s in zip(of("attempt_end","backoff"), of("attempt_start","backoff")[1:])]')
    check "retry: three pauses ($gaps)" eq "$(python3 -c "print(len($gaps))")" 3
    check "retry: pauses at least the delays 300/600/1200 ms ($gaps)" \
        python3 -c "g=$gaps; assert g[0] >= 290 and g[1] >= 590 and g[2] >= 1190, g"
    check "retry: pauses grow by the backoff ($gaps)" \
        python3 -c "g=$gaps; assert g[1] > 1.5 * g[0] and g[2] > 1.5 * g[1] and g[2] < 6000, g"
    check "retry: a retry is shown" has "$out" "attempt 1/4 failed"
    check "retry: until polled until the file appeared (3 attempts)" \
        eq "$(jq_ "$rid" 'last("step_end","poll")["outcome"] + " " + str(len(of("attempt_start","poll")))')" "succeeded 3"
    check "retry: the poll ran three times" eq "$(<"$D/n")" 3
    check "retry: an exit code not in on_errors fails at once" \
        eq "$(jq_ "$rid" 'str(len(of("attempt_start","listed"))) + " " + last("step_end","listed")["outcome"]')" "1 failed"
    check "retry: ... and the command ran once" eq "$(lines "$D/listed")" x

    begin retry-listed
    rb run retry --state-dir "$S" --set "dir=$D" --set code=7 --set need=99
    check "retry: an exit code in on_errors is retried to the limit" eq "$(jq_ "$rid" 'len(of("attempt_start","listed"))')" 3
    check "retry: until that never holds fails after every attempt" \
        eq "$(jq_ "$rid" 'str(len(of("attempt_start","poll"))) + " " + last("step_end","poll")["outcome"]')" "6 failed"
    check "retry: ... with a message about until" has "$(jq_ "$rid" 'last("step_end","poll").get("message","")')" "until"

    begin defaults-retry
    local t0 t1
    t0=$(date +%s%N)
    rb run defaults-retry --state-dir "$S" --set "dir=$D" --set limit=1s
    t1=$(date +%s%N)
    check "defaults.retry: its on_errors applies (exit 3 is not listed: one attempt)" eq "$(lines "$D/count")" x
    check "defaults.timeout / deadline from an expression stop a 30 s step" test $(((t1 - t0) / 1000000)) -lt 10000
    check "defaults.timeout from an expression: the run fails" eq "$code" 1
    check "defaults.timeout: the slow step did not succeed" \
        python3 -c "import sys; assert sys.argv[1] in ('timed_out', 'cancelled'), sys.argv[1]" \
        "$(jq_ "$rid" 'last("step_end","slow").get("outcome","none")')"
    check "defaults.timeout: nothing left running" no_marker "$D-slow"
}

# ---- rollback order, and a rollback that fails ----

t_rollback() {
    begin rollback
    rb run rollback --state-dir "$S" --set "dir=$D" --jobs 3
    check "rollback: a rolled-back run exits 1" eq "$code" 1
    check "rollback: steps finished b c a, rollbacks ran newest first" eq "$(lines "$D/order")" "b c a rb-a rb-c rb-b"
    jcheck "rollback: journal order of rollbacks is the reverse of completion" "$rid" \
        'steps("rollback_start") == [r["step"] for r in reversed(of("step_end")) if r["outcome"] == "succeeded"]'
    jcheck "rollback: every rollback succeeded" "$rid" 'all(r["outcome"] == "succeeded" for r in of("rollback_end"))'
    check "rollback: run_end status rolled_back" eq "$(jq_ "$rid" 'last("run_end")["status"]')" rolled_back

    begin rollback-bad
    rb run rollback --state-dir "$S" --set "dir=$D" --set bad=true --jobs 3
    check "failing rollback: exit 3" eq "$code" 3
    check "failing rollback: the rest still ran" eq "$(lines "$D/order")" "b c a rb-a rb-c rb-b"
    check "failing rollback: journaled as failed" eq "$(jq_ "$rid" 'last("rollback_end","c")["outcome"]')" failed
    check "failing rollback: run_end status rollback_incomplete" \
        eq "$(jq_ "$rid" 'last("run_end")["status"] + " " + str(last("run_end")["exit_code"])')" "rollback_incomplete 3"
    check "failing rollback: reported" has "$out" "c ROLLBACK FAILED"
    check "failing rollback: the last line says the rollback did not complete" eq "$(tail -1 <<<"$out" | sed "s/ in .*//")" "Run failed — rollback incomplete (1 of 3 undo steps failed)"
    "$bin" runs --state-dir "$S" >"$T/runs" 2>&1
    check "failing rollback: runs lists it as rollback_incomplete" grep -q "$rid .*rollback_incomplete" "$T/runs"
}

# ---- on_failure: continue ----

t_continue() {
    begin continue
    rb run continue --state-dir "$S" --set "dir=$D"
    check "continue: exit 0" eq "$code" 0
    check "continue: the step stays failed in the journal" eq "$(jq_ "$rid" 'last("step_end","flaky")["outcome"]')" failed
    check "continue: shown as failed and continuing" has "$out" "flaky failed, continuing"
    check "continue: listed as failed-and-continued in the summary" has "$out" "failed and continued past: flaky"
    check "continue: never shown as succeeded" lacks "$out" "✓ flaky"
    check "continue: run_end lists it" eq "$(jq_ "$rid" 'last("run_end").get("continued")')" '["flaky"]'
    check "continue: a later step branched on outcome == failed" exists "$D/if-failed"
    check "continue: the other branch was skipped" absent "$D/if-succeeded"
}

# ---- confirmations without a terminal, and --yes ----

t_confirm() {
    begin confirm
    rb run confirm --state-dir "$S" --set "dir=$D"
    check "confirm: no terminal and no --yes refuses the run before its first step (exit 2)" eq "$code" 2
    check "confirm: ... naming the step, its text and the way on" has "$err" 'step ask of confirm will ask "Really do it?", and there is no terminal to ask: run on a terminal, or with --yes'
    check "confirm: the action did not run" absent "$D/did-it"
    check "confirm: no journal was started" absent "$S/runs"

    begin confirm-yes
    rb run confirm --state-dir "$S" --set "dir=$D" --yes
    check "confirm --yes: a manual step is not answered by --yes (exit 2)" eq "$code" 2
    check "confirm --yes: ... the refusal names --yes-manual" has "$err" "a manual step: run on a terminal, or add --yes-manual"
    check "confirm --yes: ... and nothing ran" absent "$D/did-it"

    begin confirm-yes-manual
    USER= rb run confirm --state-dir "$S" --set "dir=$D" --yes --yes-manual
    check "confirm --yes --yes-manual: succeeds" eq "$code" 0
    check "confirm --yes --yes-manual: the action ran" exists "$D/did-it"
    check "confirm --yes: every text it answers is shown" has "$out" "--yes answers: Really do it?"
    check "confirm --yes: journaled as --yes and --yes-manual" \
        eq "$(jq_ "$rid" '[r["by"] + "/" + r["answer"] for r in of("confirm")]')" '["--yes/yes", "--yes-manual/yes"]'
    check "confirm --yes: the manual step is done" eq "$(jq_ "$rid" 'last("step_end","manual")["outcome"]')" succeeded
    check "confirm: without USER the journal names the user from the password database" \
        eq "$(jq_ "$rid" 'last("confirm","ask")["user"]')" "$(id -un)"

    begin confirm-person
    rb run confirm-person --state-dir "$S" --set "dir=$D" --yes
    check "confirm_by person: --yes without a terminal refuses the run (exit 2)" eq "$code" 2
    check "confirm_by person: ... saying --yes does not answer it" has "$err" "confirm_by: person: only a person at a terminal may answer it"
    check "confirm_by person: ... before the first step" absent "$D/before"
}

# ---- secrets never leak ----

no_canary() { # file...: none holds the canary or its encoded forms
    local f form
    for f in "$@"; do
        for form in "${forms[@]}"; do
            if grep -qF -- "$form" "$f"; then
                echo "    $f holds '$form'"
                return 1
            fi
        done
    done
}

scan_cmdlines() { # writes SEEN when a marked process was seen, LEAK when any cmdline held the canary
    # one grep a pass (not a subshell per process), so a loaded machine still scans every 50 ms or
    # so; the patterns come from files, or grep's own command line would hold them
    local end=$((SECONDS + 20)) f
    printf '%s\n' "$m" >"$T/pattern-marker"
    printf '%s\n' "$RB_TEST_CANARY" >"$T/pattern-canary"
    while ((SECONDS < end)); do
        grep -qlaF -f "$T/pattern-marker" /proc/[0-9]*/cmdline 2>/dev/null && echo seen >"$T/SEEN"
        for f in $(grep -laF -f "$T/pattern-canary" /proc/[0-9]*/cmdline 2>/dev/null); do
            tr '\0' ' ' 2>/dev/null <"$f" >>"$T/LEAK"
        done
        [[ -e $T/stop-scan ]] && return
        sleep 0.05
    done
}

t_secret() {
    begin secret
    local canary m scanner
    canary="Cn4ry/$RANDOM+S3cr3t=x&y"
    export RB_TEST_CANARY=$canary
    m=$(marker secret)
    forms=("$canary"
        "$(printf %s "$canary" | base64 -w0)"
        "$(printf %s "$canary" | base64 -w0 | tr -d =)"
        "$(python3 -c 'import sys,urllib.parse as u; print(u.quote(sys.argv[1], safe=""))' "$canary")"
        "$(python3 -c 'import sys,urllib.parse as u; print(u.quote_plus(sys.argv[1]))' "$canary")")
    printf 'password=old-%s\n' "$canary" >"$D/app.conf"
    chmod 600 "$D/app.conf"
    scan_cmdlines &
    scanner=$!
    bgpids+=("$scanner")
    rb run secret --state-dir "$S" --set "dir=$D" --set "marker=$m"
    touch "$T/stop-scan"
    wait "$scanner"
    unset RB_TEST_CANARY
    check "secret: the run fails only at the argv step (exit 1)" eq "$code" 1
    check "secret: the argv step is refused" has "$out" "refused: a secret would be visible in the argv"
    check "secret: ... and never ran" bash -c "! ls '$D' | grep -q leaked"
    check "secret: outputs were masked, not dropped" has "$out" "raw=***"
    check "secret: the shell script got it as one quoted word" has "$out" "inline=***"
    check "secret: the file step wrote it" grep -qF "password=$canary" "$D/app.conf"
    check "secret: nothing in stdout or stderr" no_canary "$T/out" "$T/err"
    "$bin" journal "$rid" --state-dir "$S" >"$T/journal.txt" 2>&1
    "$bin" journal "$rid" --state-dir "$S" --format json >"$T/journal.json" 2>&1
    check "secret: nothing in the journal (file, text, json)" no_canary "$S/runs/$rid.jsonl" "$T/journal.txt" "$T/journal.json"
    local f others=() copies=()
    while IFS= read -r f; do
        if grep -qF -- "$canary" "$f"; then copies+=("$f"); else others+=("$f"); fi
    done < <(find "$S" -type f)
    check "secret: no side file holds it but the rollback copy" \
        eq "${copies[*]##*/}" "conf.old"
    check "secret: the rollback copy is beside the journal" eq "$(dirname "${copies[0]:-/x}")" "$S/runs/$rid.d"
    check "secret: the rollback copy is mode 0600" eq "$(stat -c %a "${copies[0]:-/x}" 2>&1)" 600
    check "secret: the journal is mode 0600" eq "$(stat -c %a "$S/runs/$rid.jsonl")" 600
    check "secret: the other state files hold no encoded form" no_canary "${others[@]}"
    check "secret: a marked child was seen while it slept" exists "$T/SEEN"
    check "secret: no process ever had it in its command line" absent "$T/LEAK"
    check "secret: the secret capture is masked in the journal" \
        eq "$(jq_ "$rid" 'last("step_end","forms")["outputs"]["seen"]')" "***"
}

t_secret_resume() {
    begin secret-capture
    local pw r
    pw="Pw-$RANDOM-$RANDOM-s3cret"
    printf '%s\n' "$pw" >"$D/pw"
    killed_run secret-capture -- grep -q wait "$D/log"
    touch "$D/go"
    wait_until 10 no_marker "$D" >/dev/null
    rm -f "$D/pw" # the capture must come back from the run's side file, not from a new read
    rb resume "$r" --state-dir "$S" --rerun-in-doubt
    check "secret capture: the resumed run succeeds" eq "$code" 0
    check "secret capture: the fetch step did not run again" eq "$(jq_ "$r" 'len(of("step_start","fetch"))')" 1
    check "secret capture: a later step read its value after the resume" \
        eq "$(cat "$D/digest" 2>&1)" "$(printf %s "$pw" | md5sum | cut -d' ' -f1)"
    check "secret capture: still masked in the resumed run's output" has "$out" "using ***"
    check "secret capture: never in any output or journal" bash -c "! grep -rqF -- '$pw' '$T/out' '$T/err' '$T/first' '$S/runs/$r.jsonl'"
    check "secret capture: kept beside the journal, mode 0600" eq "$(stat -c %a "$S/runs/$r.d/fetch.secrets" 2>&1)" 600
}

# ---- injection canaries stay literal ----

t_inject() {
    begin inject
    local v i=0
    local values=("\$(touch $D/pwned1)" "; touch $D/pwned2" "\`touch $D/pwned3\`" $'two\nlines; touch '"$D/pwned4"
        "-n" "--help" "a'b\"c" "\$HOME" '*' "x && touch $D/pwned5 #")
    for v in "${values[@]}"; do
        i=$((i + 1))
        rb run inject --state-dir "$S" --set "v=$v"
        check "inject #$i: the run succeeds" eq "$code" 0
        check "inject #$i: exec argv keeps it as one literal argument" \
            eq "$(jq_ "$rid" 'last("step_end","argv")["outputs"]["stdout"] == sys.argv[2] + "\n"' "$v")" true
        check "inject #$i: the shell script sees one literal word" \
            eq "$(jq_ "$rid" 'last("step_end","script")["outputs"]["stdout"] == "[" + sys.argv[2] + "]\n"' "$v")" true
        check "inject #$i: two substitutions are two words" \
            eq "$(jq_ "$rid" 'last("step_end","script_count")["outputs"]["stdout"]')" 2
    done
    check "inject: no command in a value ever ran" bash -c "! ls '$D' | grep -q pwned"
}

# ---- locks ----

t_lock() {
    begin lock
    "$bin" run lock-a --state-dir "$S" --set hold=4s </dev/null >"$T/first" 2>&1 &
    local first=$!
    bgpids+=("$first")
    wait_until 10 printed_run_id "$T/first"
    local holder
    holder=$(run_id_of "$T/first")
    wait_until 10 journal_has "$holder" attempt_start
    rb run lock-a --state-dir "$S"
    check "lock: a second run of the same runbook is refused (exit 2)" eq "$code" 2
    check "lock: ... naming the holder's run id and pid" has "$err" "held by run $holder (pid $first)"
    rb run lock-b --state-dir "$S"
    check "lock: another runbook with the same lock name is refused" eq "$code" 2
    check "lock: ... naming the holder" has "$err" "held by run $holder"
    check "lock: refused runs leave no journal" eq "$(ls "$S/runs" | grep -c jsonl)" 1
    rb run lock-b --state-dir "$S" --dry-run
    check "lock: a dry run does not need the lock" eq "$code" 0
    rb resume "$holder" --state-dir "$S"
    check "lock: resuming a run that is still going is refused" eq "$code" 2
    check "lock: ... and its journal is untouched" eq "$(grep -c '"resume"' "$S/runs/$holder.jsonl")" 0
    wait "$first"
    check "lock: the first run succeeded" eq "$?" 0
    rb run lock-b --state-dir "$S"
    check "lock: after the first ends, a run succeeds" eq "$code" 0
}

# ---- SIGINT / SIGTERM, then resume ----

t_signal() { # signal name
    local sig=$1
    begin "signal-$sig"
    local m pid t0 t1
    m=$(marker "sig$sig")
    "$bin" run interrupt --state-dir "$S" --set "dir=$D" --set "marker=$m" </dev/null >"$T/first" 2>&1 &
    pid=$!
    bgpids+=("$pid")
    wait_until 10 grep -q wait "$D/log" 2>/dev/null
    local r
    r=$(latest_run)
    kill "-$sig" "$pid"
    t0=$(date +%s%N)
    wait "$pid"
    code=$?
    t1=$(date +%s%N)
    check "$sig: the run exits 130" eq "$code" 130
    check "$sig: promptly" test $(((t1 - t0) / 1000000)) -lt 10000
    check "$sig: the step's process group is gone" no_marker "$m"
    check "$sig: the interruption is journaled" eq "$(jq_ "$r" 'last("interrupted") != {}')" true
    check "$sig: the step is journaled as cancelled" eq "$(jq_ "$r" 'last("step_end","wait")["outcome"]')" cancelled
    check "$sig: the summary says how to resume" has "$(<"$T/first")" "runbook resume $r"
    rb resume "$r" --state-dir "$S"
    check "$sig: resume without consent stops at the interrupted step (exit 1)" eq "$code" 1
    check "$sig: ... saying it is in doubt" has "$err" "step wait is in doubt"
    check "$sig: ... and runs nothing" eq "$(lines "$D/log")" "one wait"
    touch "$D/go"
    rb resume "$r" --state-dir "$S" --rerun-in-doubt
    check "$sig: resume --rerun-in-doubt finishes the run" eq "$code" 0
    check "$sig: the interrupted step ran again (with consent), then the rest" eq "$(lines "$D/log")" "one wait wait three"
    check "$sig: the consent is journaled" eq "$(jq_ "$r" 'last("note","wait")["by"]')" "--rerun-in-doubt"
    rb resume "$r" --state-dir "$S"
    check "$sig: an ended run is not resumed (exit 2)" eq "$code" 2
}

# ---- a signal during the rollback phase ----

t_signal_rollback() {
    begin signal-rollback
    local m pid r
    m=$(marker sigrb)
    "$bin" run rollback-wait --state-dir "$S" --set "dir=$D" --set "marker=$m" </dev/null >"$T/first" 2>&1 &
    pid=$!
    bgpids+=("$pid")
    wait_until 10 grep -q rb-a "$D/log" 2>/dev/null
    r=$(latest_run)
    kill -TERM "$pid"
    wait "$pid"
    check "rollback interrupted: exit 130" eq "$?" 130
    check "rollback interrupted: the rollback's process group is gone" no_marker "$m"
    check "rollback interrupted: journaled as cancelled" eq "$(jq_ "$r" 'last("rollback_end","a")["outcome"]')" cancelled
    rb resume "$r" --state-dir "$S"
    check "rollback interrupted: resume without consent stops (exit 1)" eq "$code" 1
    check "rollback interrupted: ... the cut rollback is in doubt, not done" has "$err" "rollback of step a is in doubt"
    touch "$D/go"
    rb resume "$r" --state-dir "$S" --rerun-in-doubt
    check "rollback interrupted: with consent the rollback completes (exit 1, rolled back)" \
        eq "$code/$(jq_ "$r" 'last("run_end")["status"]')" "1/rolled_back"
    check "rollback interrupted: only the cut rollback ran again" eq "$(lines "$D/log")" "a b rb-b rb-a rb-a"
}

# ---- verify settles a step in doubt ----

t_verify() {
    local variant
    for variant in happened did-not rerun; do
        begin "verify-$variant"
        local r
        killed_run verify -- exists "$D/done"
        touch "$D/go"
        wait_until 10 no_marker "$D" >/dev/null
        [[ $variant == did-not ]] && rm "$D/done"
        if [[ $variant == rerun ]]; then # --rerun-in-doubt still asks the world first
            rb resume "$r" --state-dir "$S" --rerun-in-doubt
        else
            rb resume "$r" --state-dir "$S"
        fi
        check "verify ($variant): the resume needs no operator (exit 0)" eq "$code" 0
        if [[ $variant != did-not ]]; then
            check "verify ($variant): the step is marked done, not run again" eq "$(lines "$D/log")" "act next"
            check "verify ($variant): journaled" has "$(jq_ "$r" 'last("note","act")["resume"]')" "verify says it happened"
        else
            check "verify (did not): the step runs again" eq "$(lines "$D/log")" "act act next"
        fi
    done
}

# ---- a crash after a failure, before its policy: resume applies the policy ----

t_policy_after_crash() {
    begin policy
    rb run policy --state-dir "$S" --set "dir=$D"
    check "policy: the run rolled back" eq "$(lines "$D/log")" "w bad rb-w"
    local j=$S/runs/$rid.jsonl n
    # cut the journal right after the failed step's step_end, as a crash there would
    n=$(grep -n '"type":"step_end","step":"bad"' "$j" | cut -d: -f1)
    head -n "$n" "$j" >"$j.cut" && mv "$j.cut" "$j"
    : >"$D/log"
    rb resume "$rid" --state-dir "$S"
    check "policy: resume applies the failure's rollback (exit 1)" eq "$code" 1
    check "policy: nothing after the failure ran, the rollback did" eq "$(lines "$D/log")" "rb-w"
    check "policy: run_end rolled_back" eq "$(jq_ "$rid" 'last("run_end")["status"]')" rolled_back
}

# ---- a crash between a failure and the cancel of the steps beside it ----

t_indoubt_rollback() {
    begin indoubt
    rb run indoubt-rollback --state-dir "$S" --set "dir=$D" --jobs 4
    check "in doubt: the first run rolled back" eq "$code" 1
    local j=$S/runs/$rid.jsonl n
    # cut the journal right after the failure's step_end: slow and slow2 started and never ended
    n=$(grep -n '"type":"step_end","step":"bad"' "$j" | cut -d: -f1)
    head -n "$n" "$j" >"$j.cut" && mv "$j.cut" "$j"
    : >"$D/log"
    rb resume "$rid" --state-dir "$S"
    check "in doubt: without an answer the resume stops before the rollback (exit 1)" eq "$code" 1
    check "in doubt: ... naming every step in doubt" has "$out$err" "steps slow, slow2 are in doubt"
    check "in doubt: ... and nothing was rolled back" eq "$(lines "$D/log")" ""
    rb resume "$rid" --state-dir "$S" --rerun-in-doubt
    check "in doubt: with consent the resume rolls back (exit 1)" eq "$code" 1
    check "in doubt: ... the steps in doubt too, newest first" eq "$(lines "$D/log" | tr ' ' '\n' | sort | tr '\n' ' ')" "rb-slow rb-slow2 rb-w "
    check "in doubt: ... and the reason is the journaled failure" has "$out$err" "step bad failed"
}

# ---- kill -9 leaves a child running: resume waits for it before asking the world ----

t_orphan() {
    begin orphan
    local r
    echo 2 >"$D/seconds"
    killed_run orphan -- exists "$D/started"
    rb resume "$r" --state-dir "$S" --yes
    check "orphan: the resume succeeds (exit 0)" eq "$code" 0
    check "orphan: ... after waiting for the survivor" has "$out$err" "of the interrupted run still run"
    check "orphan: the step ran once, then the rest" eq "$(lines "$D/log")" "act next"
    begin orphan-stop
    echo 300 >"$D/seconds"
    killed_run orphan -- exists "$D/started"
    RUNBOOK_SURVIVOR_WAIT=1 rb resume "$r" --state-dir "$S"
    check "orphan: a survivor that stays refuses a resume without consent (exit 1)" eq "$code" 1
    check "orphan: ... saying how to go on" has "$out$err" "resume on a terminal or with --yes to stop them"
    check "orphan: ... and it is still running" test -n "$(pgrep -f 'sleep 300' || true)"
    echo 0 >"$D/seconds"
    RUNBOOK_SURVIVOR_WAIT=1 rb resume "$r" --state-dir "$S" --yes
    check "orphan: with --yes it is stopped, then verify and the rest run (exit 0)" eq "$code" 0
    check "orphan: ... the survivor is gone" test -z "$(pgrep -f 'sleep 300' || true)"
    check "orphan: ... the step ran again (verify said it had not happened), then the rest" eq "$(lines "$D/log")" "act next"
    check "orphan: ... the stop is journaled" grep -q '"resume":"stopped the survivors"' "$S/runs/$r.jsonl"
}

# ---- a survivor that dropped the mark is found by its journaled process group ----

# Sets fields (key=value; digits make a number) of the last `process` record of the main action
# of step act, its crc recomputed, as a forged or stale journal would hold them.
forge_process() {
    python3 "$src/tests/journal_forge.py" "$1" --last '"type":"process","step":"act","kind":"main"' "${@:2}"
}
start_time_of() { sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20; } # field 22
pgid_of() { sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f3; }         # field 5

# Runs orphan-env (its step's child drops the environment: env -i) and kills the run with -9
# once the child started; sets r to the run id.
killed_orphan_env() {
    echo "$1" >"$D/seconds"
    killed_run orphan-env -- exists "$D/started"
}

t_orphan_group() {
    begin orphan-group
    local r upid j
    killed_orphan_env 2
    rb resume "$r" --state-dir "$S" --yes
    check "orphan group: a survivor without RUNBOOK_RUN (env -i): the resume succeeds (exit 0)" eq "$code" 0
    check "orphan group: ... after waiting for the survivor" has "$out$err" "of the interrupted run still run"
    check "orphan group: ... the irreversible step ran once (verify saw the survivor's act), then the rest" \
        eq "$(lines "$D/log")" "act next"
    jcheck "orphan group: the attempt's process group, start time and boot id are journaled" "$r" \
        '[(p["pgid"] > 1, p["start_time"] > 0, len(p["boot_id"]), p["attempt"]) for p in of("process","act") if p["kind"] == "main"] == [(True, True, 36, 1)]'

    begin orphan-recycled
    killed_orphan_env 1
    wait_until 10 grep -qs act "$D/log" >/dev/null # the survivor ended: its pgid is free
    setsid sleep 60 &                                # an unrelated process leading its own group
    upid=$!
    bgpids+=("$upid")
    check "orphan group: the stand-in leads its own process group" eq "$(pgid_of "$upid")" "$upid"
    j=$S/runs/$r.jsonl
    forge_process "$j" "pgid=$upid" "start_time=$(start_time_of "$upid")"
    RUNBOOK_SURVIVOR_WAIT=1 rb resume "$r" --state-dir "$S"
    check "orphan group: a journaled group whose leader has the journaled start time is a survivor (exit 1)" eq "$code" 1
    check "orphan group: ... named, and the resume asks for consent" has "$out$err" "(pid $upid); let them end, or resume on a terminal or with --yes"
    forge_process "$j" "pgid=$upid" "start_time=$(($(start_time_of "$upid") - 1))"
    RUNBOOK_SURVIVOR_WAIT=1 rb resume "$r" --state-dir "$S"
    check "orphan group: the pgid now held by a process with another start time is not a survivor (exit 0)" eq "$code" 0
    check "orphan group: ... no wait for it" lacks "$out$err" "of the interrupted run still run"
    check "orphan group: ... verify settled the step, then the rest ran" eq "$(lines "$D/log")" "act next"
    check "orphan group: ... and the unrelated process was left alone" alive "$upid"

    begin orphan-reboot
    killed_orphan_env 1
    wait_until 10 grep -qs act "$D/log" >/dev/null
    forge_process "$S/runs/$r.jsonl" "pgid=$upid" "start_time=$(start_time_of "$upid")" "boot_id=00000000-0000-0000-0000-000000000000"
    RUNBOOK_SURVIVOR_WAIT=1 rb resume "$r" --state-dir "$S"
    check "orphan group: a process record of another boot matches nothing (exit 0)" eq "$code" 0
    check "orphan group: ... no wait" lacks "$out$err" "of the interrupted run still run"
    check "orphan group: ... the unrelated process was left alone" alive "$upid"
    kill "$upid" 2>/dev/null
}

# ---- for_each ----

t_loop() {
    begin loop
    rb run loop --state-dir "$S" --set "dir=$D"
    check "loop: three items then the step after (exit 0)" eq "$code" 0
    check "loop: each item ran once, in order" eq "$(lines "$D/log")" "api www mail pair-one pair-two"
    check "loop: each item is journaled with its outputs" \
        eq "$(jq_ "$rid" '[r["outputs"]["done"] for r in of("item_end","records")]')" '["api", "www", "mail"]'
    begin loop-fail
    rb run loop --state-dir "$S" --set "dir=$D" --set fail_at=www
    check "loop: a failing item fails the step and rolls back (exit 1)" eq "$code" 1
    check "loop: ... naming the item" has "$out" 'item 1 ("www")'
    check "loop: ... only the finished item is undone" eq "$(lines "$D/log")" "api www undo-api-0"
    begin loop-fail-later
    rb run loop --state-dir "$S" --set "dir=$D" --set fail_at=last
    check "loop: a later failure undoes both loops, newest first; a rollback reads the other loop's item" \
        eq "$(lines "$D/log")" "api www mail pair-one pair-two unpair-two-www unpair-one-api undo-mail-2 undo-www-1 undo-api-0"
    begin loop-dry
    rb run loop --state-dir "$S" --set "dir=$D" --dry-run
    check "loop dry run: a step reading a loop that did not run is undecided, not failed (exit 0)" eq "$code" 0
    check "loop dry run: ... journaled undecided" eq "$(jq_ "$rid" 'last("step_end","after").get("undecided")')" true
    begin loop-resume
    touch "$D/hold"
    local r
    killed_run loop -- exists "$D/held"
    rm -f "$D/hold"
    wait_until 10 no_marker "$D" >/dev/null
    rb resume "$r" --state-dir "$S" --rerun-in-doubt
    check "loop resume: the run finishes (exit 0)" eq "$code" 0
    check "loop resume: the finished item did not run again" eq "$(grep -c '^api$' "$D/log")" 1
    check "loop resume: the rest ran" eq "$(grep -c '^mail$' "$D/log")" 1
}

# ---- dry runs ----

t_dry() {
    begin dry
    rb run dry --state-dir "$S" --set "dir=$D" --dry-run
    check "dry run: succeeds" eq "$code" 0
    check "dry run: read steps ran" exists "$D/probe-ran"
    check "dry run: a write step did not" absent "$D/promote-ran"
    check "dry run: a file step did not write" absent "$D/written"
    check "dry run: dry_run outputs decide a later when" exists "$D/after-promote-ran"
    check "dry run: captures of read steps decide too" exists "$D/on-role-ran"
    check "dry run: dry_run values keep their types and templates (exit_code: 0 is a number)" \
        exists "$D/after-typed-ran"
    check "dry run: ... and that write step did not run" absent "$D/typed-ran"
    check "dry run: a when on an unknown output is not guessed" absent "$D/after-write-ran"
    check "dry run: ... it is reported as undecided" has "$out" "? after_write undecided"
    check "dry run: ... and journaled so" \
        eq "$(jq_ "$rid" 'last("step_end","after_write")["outcome"] + " " + str(last("step_end","after_write").get("undecided"))')" "not_run True"
    check "dry run: a condition on an undecided step is undecided too" absent "$D/after-after-ran"
    check "dry run: ... journaled so" eq "$(jq_ "$rid" 'last("step_end","after_after").get("undecided")')" true
    check "dry run: a read step needing an unknown value is undecided, not failed" \
        eq "$(jq_ "$rid" 'last("step_end","reads_unknown").get("undecided")')" true
    check "dry run: ... and not run" bash -c "! ls '$D' | grep -q exit-"
    check "dry run: the summary lists the undecided" has "$out" "undecided (only a real run can tell): after_write"
    check "dry run: a check of a write the dry run did not make is undecided, not failed" \
        eq "$(jq_ "$rid" 'last("step_end","checks_promoted").get("undecided")')" true
    check "dry run: ... tried once, not through its retries" \
        eq "$(jq_ "$rid" 'len(of("attempt_end","checks_promoted"))')" 1
    jcheck "dry run: the journal marks the run and its steps as dry" "$rid" \
        'R[0]["dry_run"] is True and all(r.get("dry_run") for r in of("step_end"))'

    begin dry-rollback
    rb run dry --state-dir "$S" --set "dir=$D" --set fail=true --dry-run
    check "dry run: a failure exits 1" eq "$code" 1
    check "dry run: a rollback is only shown, never run" absent "$D/rollback-ran"
    check "dry run: ... as would be rolled back" has "$out" "promote would be rolled back"

    begin dry-interrupt
    local m pid r
    m=$(marker dry)
    "$bin" run dry-interrupt --state-dir "$S" --set "dir=$D" --set "marker=$m" --dry-run </dev/null >"$T/first" 2>&1 &
    pid=$!
    bgpids+=("$pid")
    wait_until 10 grep -q wait "$D/log" 2>/dev/null
    r=$(latest_run)
    kill -TERM "$pid"
    wait "$pid"
    check "dry run: an interrupted dry run exits 130" eq "$?" 130
    touch "$D/go"
    rb resume "$r" --state-dir "$S" --rerun-in-doubt --yes
    check "dry run: an interrupted dry run is not resumed (exit 2)" eq "$code" 2
    check "dry run: ... saying so" has "$err" "was a dry run"
    check "dry run: ... and no write step ran for real" absent "$D/written"
}

# ---- --jobs ----

t_jobs() {
    begin jobs
    local m t0 t1
    m=$(marker jobs)
    rb run parallel --state-dir "$S" --set "marker=$m" --jobs 3
    check "jobs 3: succeeds" eq "$code" 0
    jcheck "jobs 3: the three steps overlap (each starts before any ends)" "$rid" \
        'max(ms(last("step_start", s)) for s in ("p1","p2","p3")) < min(ms(last("step_end", s)) for s in ("p1","p2","p3"))'
    rb run parallel --state-dir "$S" --set "marker=$m" --jobs 1
    jcheck "jobs 1: no overlap" "$rid" \
        'all(ms(last("step_start", b)) >= ms(last("step_end", a)) for a, b in (("p1","p2"),("p2","p3")))'

    begin jobs-fail
    t0=$(date +%s%N)
    rb run parallel --state-dir "$S" --set "marker=$m" --set fail=true --set len=30 --jobs 3
    t1=$(date +%s%N)
    check "jobs: a failing step fails the run" eq "$code" 1
    check "jobs: its siblings are journaled as cancelled" \
        eq "$(jq_ "$rid" '[last("step_end", s)["outcome"] for s in ("p1","p2","p3")]')" '["cancelled", "cancelled", "failed"]'
    check "jobs: ... at once (not after their 30 s)" test $(((t1 - t0) / 1000000)) -lt 10000
    check "jobs: ... and their processes are gone" no_marker "$m"
    check "jobs: nothing after them started" eq "$(jq_ "$rid" 'len(of("step_start","after"))')" 0
}

# ---- runbook calls ----

t_call_rollback() {
    begin call-rollback
    rb run caller-rb --state-dir "$S" --set "dir=$D"
    check "call rollback: the caller's failure rolls back (exit 1)" eq "$code" 1
    local tok
    tok=$(sed -n 's/^undo-callee-two //p' "$D/log")
    check "call rollback: the callee's steps are undone too, newest first, then the caller's" \
        eq "$(lines "$D/log")" "first callee-one callee-two undo-callee-two $tok undo-callee-one undo-first"
    check "call rollback: ... reading the callee's own outputs" test -n "$tok"
    check "call rollback: each callee rollback is journaled under the call" \
        eq "$(jq_ "$rid" '[r["step"] for r in of("rollback_end")]')" '["call/two", "call/one", "call", "first"]'
    # the same from a resume: cut the journal right after the failure, before its rollback
    local j=$S/runs/$rid.jsonl n
    n=$(grep -n '"type":"step_end","step":"bad"' "$j" | cut -d: -f1)
    head -n "$n" "$j" >"$j.cut" && mv "$j.cut" "$j"
    : >"$D/log"
    rb resume "$rid" --state-dir "$S"
    check "call rollback (resume): the rollback runs (exit 1)" eq "$code" 1
    check "call rollback (resume): ... through the call, from the journal" \
        eq "$(lines "$D/log")" "undo-callee-two $tok undo-callee-one undo-first"
}

t_call_preflight() {
    begin call-preflight
    rb run caller-secret --state-dir "$S" --set "dir=$D"
    check "call preflight: a callee's missing secret refuses the run (exit 2)" eq "$code" 2
    check "call preflight: ... naming the callee and the variable" has "$err" "runbook callee-secret ("
    check "call preflight: ... and the reason" has "$err" "secret \"token\": environment variable RB_TEST_CALLEE_TOKEN is not set"
    check "call preflight: ... before the caller's first write" eq "$(lines "$D/log")" ""
    RB_TEST_CALLEE_TOKEN=tok-abcdef rb run caller-secret --state-dir "$S" --set "dir=$D"
    check "call preflight: with the secret the call runs (exit 0)" eq "$code" 0
    check "call preflight: ... both wrote" eq "$(lines "$D/log")" "first callee"
}

# A caller whose irreversible first step creates $D/first, then calls `callee` (written beside it
# from stdin): whatever stops the callee must be found before that file exists.
call_tree() {
    mkdir -p "$T/rb"
    cat >"$T/rb/callee.yaml"
    cat >"$T/rb/caller.yaml" <<'EOF'
runbook: caller
version: 1
title: Writes, then calls a runbook
inputs:
  dir: { type: string }
steps:
  - id: first
    exec: [sh, -c, 'touch "$0/first"', "${{ inputs.dir }}"]
    irreversible: true
  - id: call
    runbook:
      name: callee
      inputs: { dir: "${{ inputs.dir }}" }
EOF
}
callee_with_secret() { # how the secret is declared
    cat <<EOF
runbook: callee
version: 1
title: A called runbook with a secret
inputs:
  dir: { type: string }
secrets:
  token: $1
steps:
  - id: use-token
    exec:
      argv: [sh, -c, 'test -n "\$TOKEN" && touch "\$0/callee"', "\${{ inputs.dir }}"]
      env: { TOKEN: "\${{ secrets.token }}" }
    irreversible: true
EOF
}
callee_with_script() { # the shell script of its one step
    cat <<EOF
runbook: callee
version: 1
title: A called runbook
inputs:
  dir: { type: string }
  x: { type: string, default: "a;touch \${{ inputs.dir }}/injected" }
steps:
  - id: one
    shell: '$1'
EOF
}
# The run was refused before anything ran, with this exit code and reason.
refused_before_first() { # what, exit code, reason
    check "call tree: $1: refused (exit $2)" eq "$code" "$2"
    check "call tree: $1: ... naming the callee's file" has "$err" "runbook callee ($T/rb/callee.yaml), called by caller"
    check "call tree: $1: ... and the reason" has "$err" "$3"
    check "call tree: $1: ... before the caller's first step" absent "$D/first"
    check "call tree: $1: ... and no run was started" eq "$(ls "$S/runs" 2>/dev/null | wc -l)" 0
}

t_call_tree() {
    begin call-short
    callee_with_secret '{ env: CT }' | call_tree
    CT=Qz7x rb run "$T/rb/caller.yaml" --state-dir "$S" --set "dir=$D"
    refused_before_first "a callee's secret shorter than 6 bytes" 2 'secret "token" is shorter than 6 bytes'
    check "call tree: ... the secret is shown nowhere" lacks "$out$err" Qz7x

    begin call-idword
    callee_with_secret '{ env: CT }' | call_tree
    CT=use-token rb run "$T/rb/caller.yaml" --state-dir "$S" --set "dir=$D"
    refused_before_first "a callee's secret equal to its step id" 2 "secret \"token\" equals a word of the runbook's own ids and keys"
    check "call tree: ... the secret is shown nowhere" lacks "$out$err" use-token
    CT=tok-Zq81mX rb run "$T/rb/caller.yaml" --state-dir "$S" --set "dir=$D"
    check "call tree: with a good secret the call runs (exit 0)" eq "$code" 0
    check "call tree: ... the callee ran" exists "$D/callee"

    begin call-nofile
    callee_with_secret "{ file: $T/no-such-secret }" | call_tree
    rb run "$T/rb/caller.yaml" --state-dir "$S" --set "dir=$D"
    refused_before_first "a callee's secret file that does not exist" 2 "secret \"token\": cannot read $T/no-such-secret"

    begin call-invalid
    callee_with_script 'echo \${{ inputs.x }}' | call_tree
    "$bin" validate "$T/rb/callee.yaml" >"$T/validate" 2>&1
    check "call tree: the callee alone fails validate" eq "$?" 1
    rb run "$T/rb/caller.yaml" --state-dir "$S" --set "dir=$D"
    refused_before_first "a callee that fails validate" 1 "is not valid: $T/rb/callee.yaml:"
    check "call tree: ... with its located diagnostic, as validate prints it" has "$err" "$(grep -m1 -F ": error: " "$T/validate")"
    check "call tree: ... and nothing was injected" absent "$D/injected"

    begin call-unknown-step
    callee_with_script 'echo ${{ steps.nope.stdout }}' | call_tree
    rb run "$T/rb/caller.yaml" --state-dir "$S" --set "dir=$D"
    refused_before_first "a callee with a checker error" 1 "unknown step"
    check "call tree: ... the error located in the callee" has "$err" "$T/rb/callee.yaml:9:"

    begin call-resume-invalid
    callee_with_script 'touch ${{ inputs.dir }}/callee' | call_tree
    sed -i 's/^  - id: call$/  - id: gate\n    exec: [test, -e, "${{ inputs.dir }}\/open"]\n  - id: call\n    needs: [gate]/' "$T/rb/caller.yaml"
    rb run "$T/rb/caller.yaml" --state-dir "$S" --set "dir=$D"
    local r=$rid
    check "call tree resume: the first run fails at the gate (exit 1)" eq "$code" 1
    rm -f "$D/first"
    touch "$D/open"
    callee_with_script 'echo ${{ steps.nope.stdout }}' >"$T/rb/callee.yaml"
    rb resume "$r" --state-dir "$S" --retry-failed --yes
    check "call tree resume: a callee made invalid refuses the resume (exit 1)" eq "$code" 1
    check "call tree resume: ... naming it and the reason" has "$err" "runbook callee ($T/rb/callee.yaml), called by caller, is not valid"
    check "call tree resume: ... before anything ran" eq "$(jq_ "$r" 'len(of("resume"))')" 0
    check "call tree resume: ... the gate did not run again" eq "$(jq_ "$r" 'len(of("step_start", "gate"))')" 1
    # a file that appears between the preflight and the call (found first, beside the caller):
    # the call checks what it loads, and refuses it as a failed step
    begin call-swapped
    mkdir -p "$T/lib" "$T/rb"
    callee_with_script 'touch ${{ inputs.dir }}/good' >"$T/lib/callee.yaml"
    callee_with_script 'touch ${{ inputs.dir }}/bad ${{ steps.nope.stdout }}' >"$T/bad.yaml"
    cat >"$T/rb/caller.yaml" <<'EOF'
runbook: caller
version: 1
title: Puts a runbook beside itself, then calls it
inputs:
  dir: { type: string }
  swap: { type: string }
steps:
  - id: first
    exec: [cp, "${{ inputs.swap }}", "${{ inputs.dir }}/../rb/callee.yaml"]
    irreversible: true
  - id: call
    runbook:
      name: callee
      inputs: { dir: "${{ inputs.dir }}" }
EOF
    RUNBOOK_PATH=$T/lib rb run "$T/rb/caller.yaml" --state-dir "$S" --set "dir=$D" --set "swap=$T/bad.yaml"
    check "call swapped: the run fails at the call (exit 1)" eq "$code" 1
    check "call swapped: ... refused as invalid, naming the file" has "$(jq_ "$rid" 'last("step_end","call")["message"]')" "runbook callee ($T/rb/callee.yaml) is not valid: $T/rb/callee.yaml:"
    check "call swapped: ... and nothing of it ran" absent "$D/bad"
    check "call swapped: ... nor the one checked before" absent "$D/good"
}

t_calls() {
    begin calls
    rb run caller --state-dir "$S" --set "dir=$D"
    check "call: succeeds" eq "$code" 0
    check "call: the callee's steps are journaled as caller-step/step" \
        eq "$(jq_ "$rid" 'steps("step_end")')" '["first", "call/inner1", "call/inner2", "call/inner3", "call", "after"]'

    begin calls-fail
    rb run caller --state-dir "$S" --set "dir=$D" --set fail=true
    check "call: a failing callee fails the run" eq "$code" 1
    check "call: ... through the calling step" eq "$(jq_ "$rid" 'last("step_end","call")["outcome"]')" failed
    check "call: ... which names the callee's failed step" has "$(jq_ "$rid" 'last("step_end","call")["message"]')" "inner2"
    check "call: nothing after it ran" eq "$(lines "$D/log")" "first inner1 inner2"

    begin calls-resume
    local r
    killed_run caller --set wait=true -- grep -q inner2 "$D/log"
    touch "$D/go" # the orphaned inner2 ends; wait for it, as a crash would have ended it
    wait_until 10 no_marker "$D" >/dev/null
    rb resume "$r" --state-dir "$S"
    check "call resume: a callee step in doubt stops the resume (exit 1)" eq "$code" 1
    check "call resume: ... naming it" has "$err" "step call/inner2 is in doubt"
    check "call resume: ... and nothing ran" eq "$(lines "$D/log")" "first inner1 inner2"
    rb resume "$r" --state-dir "$S" --rerun-in-doubt
    check "call resume: with consent the run finishes" eq "$code" 0
    check "call resume: the callee's finished step did not run again" eq "$(lines "$D/log")" "first inner1 inner2 inner2 inner3 after"
}

# ---- exit codes and input errors ----

t_exits() {
    begin exits
    rb run exits --state-dir "$S" --set mode=ok
    check "exit 0 on success" eq "$code" 0
    rb run exits --state-dir "$S" --set mode=fail
    check "exit 1 when the run fails (and rolls back)" eq "$code" 1
    rb run exits --state-dir "$S" --set mode=rollback_fails
    check "exit 3 when a rollback did not complete" eq "$code" 3
    rb run exits --state-dir "$S" --set mode=bogus
    check "exit 2 for a bad --set value" eq "$code" 2
    rb run exits --state-dir "$S" --set nosuch=1 --set mode=ok
    check "exit 2 for an undeclared input" eq "$code" 2
    rb run no-such-runbook --state-dir "$S"
    check "exit 2 for a missing runbook" eq "$code" 2
    rb run required --state-dir "$S"
    check "exit 2 for a missing required input without a terminal" eq "$code" 2
    check "... with a clear message" has "$err" "input 'target_host' is required (string, the host to act on): give it with --set target_host=VALUE"
    check "... and no run was started" eq "$(ls "$S/runs" 2>/dev/null | grep -c required)" 0
    rb resume 20200101T000000Z-nothing-0000 --state-dir "$S"
    check "exit 2 for resuming an unknown run" eq "$code" 2
    rb run "$src/tests/exec/jr.py" --state-dir "$S"
    check "exit 1 for a file that is not a valid runbook" eq "$code" 1
}

# ---- crash torture ----

t_torture() {
    T=$work/torture
    mkdir -p "$T"
    local n=${RB_TORTURE_TRIALS:-50}
    python3 "$src/tests/torture/run.py" --bin "$bin" --trials "$n" --work "$T" >"$T/out" 2>"$T/err"
    code=$?
    local summary
    summary=$(tail -1 "$T/out")
    check "torture: $n kill -9 trials, rollbacks, torn journals ($summary)" eq "$code" 0
    [[ $code -eq 0 ]] || grep -i fail "$T/out" | head -20
}

# ---- file steps through symlinks ----

t_file_link() {
    begin file-link
    echo "A-ORIG" >"$D/real.conf"
    chmod 600 "$D/real.conf"
    chown nobody "$D/real.conf" 2>/dev/null
    ln -s real.conf "$D/current.conf"
    local owner
    owner=$(stat -c %U "$D/real.conf")
    rb run file-link --state-dir "$S" --set "dir=$D"
    check "file: the failing run is rolled back" eq "$code" 1
    check "file: the write went through the symlink to its target" has "$(cat "$D/during")" "NEW"
    check "file: ... keeping the target's owner and mode" has "$(cat "$D/during")" "$owner 600 regular file"
    check "file: ... and the link stays a link" has "$(cat "$D/during")" "symbolic link"
    check "file: the rollback restored the target's content" eq "$(cat "$D/real.conf")" "A-ORIG"
    check "file: ... its mode" eq "$(stat -c %a "$D/real.conf")" 600
    check "file: ... and left the link in place" eq "$(readlink "$D/current.conf")" real.conf
}

# ---- a terminal: inputs asked for, confirmations answered by a person ----

on_tty() { # input-script, args...: runs the binary on a pseudo-terminal (util-linux script)
    local feed=$1; shift
    # script runs the command with $SHELL; printf %q may write bash-only $'...' quoting
    bash -c "$feed" | SHELL=/bin/bash timeout -k 5 60 script -qec "$(printf '%q ' "$bin" "$@")" /dev/null 2>&1 |
        tr -d '\r' | sed 's/\x1b\[[0-9;]*m//g' >"$T/out"
    out=$(<"$T/out")
}

t_terminal() {
    begin terminal
    command -v script >/dev/null || { check "terminal: util-linux script is installed" false; return; }
    on_tty "printf 'alice\n7\n2\n'; sleep 1; printf 'y\n'" run ask --state-dir "$S" --set "dir=$D"
    check "terminal: a missing input is asked for with its description and type" has "$out" "who (string) — who is on call:"
    check "terminal: a bad value is refused and asked again" has "$out" "7 is out of range (1 to 3)"
    check "terminal: the question shows rendered values" has "$out" "Promote alice? [y/N]"
    check "terminal: the answer yes runs the step" eq "$(cat "$D/promoted" 2>/dev/null)" "promoted alice x2"
    jcheck "terminal: the journal says a person answered" "$(latest_run)" \
        'last("confirm","promote")["by"] == "operator" and last("confirm","promote")["answer"] == "yes"'
    rm -f "$D/promoted"
    on_tty "sleep 1; printf 'n\n'" run ask --state-dir "$S" --set "dir=$D" --set who=bob --set n=1
    check "terminal: the answer no fails the step" has "$out" "the operator said no"
    check "terminal: ... and it did not run" absent "$D/promoted"
    on_tty "sleep 1; printf 'y\n'" run confirm-person --state-dir "$S" --set "dir=$D" --yes
    check "terminal: with --yes a person-only confirm is still asked" has "$out" "Fence the old primary in $D? [y/N]"
    check "terminal: ... and the person's yes runs it" exists "$D/fenced"
    jcheck "terminal: ... journaled as the operator's answer" "$(latest_run)" \
        'last("confirm","fence")["by"] == "operator" and last("confirm","fence")["answer"] == "yes"'
}

t_call_limits() {
    local t0 t1
    begin call-step-timeout
    t0=$(date +%s%N)
    rb run caller-limit --state-dir "$S" --set "dir=$D" --set step_timeout=1s --jobs 2
    t1=$(date +%s%N)
    check "call limits: a call past its step's timeout fails, and continue goes on (exit 0)" eq "$code" 0
    check "call limits: ... the call step is journaled as timed out" eq "$(jq_ "$rid" 'last("step_end","call")["outcome"]')" timed_out
    check "call limits: ... naming the step's timeout" has "$(jq_ "$rid" 'last("step_end","call")["message"]')" "the timeout of step call had passed"
    check "call limits: ... the callee's slow step was stopped, and its write rolled back (its on_failure)" \
        eq "$(lines "$D/log" | tr ' ' '\n' | grep -v '^sibling$' | grep -v '^after$' | tr '\n' ' ' | sed 's/ $//')" \
        "callee-write slow-started undo-callee-write"
    check "call limits: ... the caller's parallel sibling was not stopped with it" grep -qx sibling "$D/log"
    check "call limits: ... and the step after both ran" grep -qx after "$D/log"
    check "call limits: ... well before the slow step's 30 s" test $(((t1 - t0) / 1000000)) -lt 15000

    begin call-deadline
    rb run caller-limit --state-dir "$S" --set "dir=$D" --set callee_limit=1s
    check "call limits: the called runbook's own deadline stops it (exit 0 with continue)" eq "$code" 0
    check "call limits: ... the call is timed out, naming the callee's deadline (defaults.timeout is not the call's)" \
        has "$(jq_ "$rid" 'last("step_end","call")["message"]')" "the deadline of runbook callee-slow had passed"
    check "call limits: ... its rollback journaled with the deadline as cause" \
        eq "$(jq_ "$rid" '[r.get("cause") for r in of("rollback_begin")]')" '["deadline"]'
    check "call limits: ... the slow step never finished" bash -c "! grep -q slow-finished '$D/log'"
}

t_loop_parallel() {
    begin loop-parallel
    rb run loop-parallel --state-dir "$S" --set "dir=$D" --set barrier=true --jobs 4
    check "parallel items: four at once pass a barrier only they can pass (exit 0)" eq "$code" 0
    check "parallel items: ... the outputs keep the list's order (the assert after)" \
        eq "$(jq_ "$rid" 'last("step_end","after")["outcome"]')" succeeded
    check "parallel items: ... every item journaled once" \
        eq "$(jq_ "$rid" 'sorted(r["index"] for r in of("item_end","items"))')" '[0, 1, 2, 3]'
    begin loop-parallel-jobs1
    rb run loop-parallel --state-dir "$S" --set "dir=$D"
    check "parallel items: without --jobs they run one by one" \
        eq "$(lines "$D/log")" "start-a end-a start-b end-b start-c end-c start-d end-d"
    begin loop-parallel-fail
    rb run loop-parallel --state-dir "$S" --set "dir=$D" --set fail_at=a --jobs 2
    check "parallel items: a failing item fails the step (exit 1)" eq "$code" 1
    check "parallel items: ... naming it" has "$out" 'item 0 ("a")'
    check "parallel items: ... the item running beside it finished (not left in doubt), and no other started" \
        eq "$(sort "$D/log" | tr '\n' ' ')" "end-b start-a start-b undo-b "
    check "parallel items: ... then its rollback ran" eq "$(tail -n 1 "$D/log")" "undo-b"
}

t_timeout
t_retry
t_rollback
t_continue
t_confirm
t_secret
t_secret_resume
t_inject
t_lock
t_signal INT
t_signal TERM
t_signal_rollback
t_verify
t_policy_after_crash
t_indoubt_rollback
t_orphan
t_orphan_group
t_loop
t_loop_parallel
t_dry
t_jobs
t_calls
t_call_preflight
t_call_tree
t_call_rollback
t_call_limits
t_exits
t_file_link
t_terminal
t_torture
no_sanitizer_reports
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
