#!/usr/bin/env bash
# The run screen, byte for byte: the last line names the real ending (each ending made by a
# runbook here), plain words on the terminal while the journal keeps its names, the live ticker
# on a pseudo-terminal and never in a pipe or on TERM=dumb, --timestamps, step ids on parallel
# output, a question after its step's header under `| tee`, and dry runs that show what they
# would do (argv, request, file diff, masked) and are marked in runs and journal.
#   bash tests/suite_screen.sh BINARY SOURCE_DIR
set -u
bin=$(realpath "$1") src=$(realpath "$2")
. "$src/tests/lib.sh" # check, eq, has, lacks, exists, absent, lines, run_id_of
suite_work screen
unset RB_SCREEN_TOKEN

begin() { T=$work/$1 S=$work/$1/state D=$work/$1/d; mkdir -p "$D"; }
# Runs the binary without a terminal; sets code, out, err, rid and last (the last line).
rb() {
    timeout -k 5 60 "$bin" "$@" </dev/null >"$T/out" 2>"$T/err"
    code=$?
    out=$(<"$T/out") err=$(<"$T/err")
    rid=$(run_id_of "$T/out")
    last=$(tail -n 1 "$T/out")
}
# The ending without its time: "Run failed (nothing to roll back)".
ending() { sed 's/ in [0-9.]*m\?s\( (RTO.*)\)\?$//' <<<"$last"; }
# A field of the run's journal records, by a Python expression over `recs`.
jfield() {
    "$bin" journal "$rid" --state-dir "$S" --format json 2>/dev/null |
        python3 -c "import json,sys; recs=[json.loads(l) for l in sys.stdin]; print($1)"
}
# Runs a shell command line on a pseudo-terminal; raw bytes (CR, escapes) kept in $T/raw.
tty_raw() { # input-script, TERM, command line
    bash -c "$1" | TERM=$2 SHELL=/bin/bash timeout -k 5 60 script -qec "$3" /dev/null >"$T/raw" 2>&1
    raw=$(sed 's/\r/^M/g; s/\x1b/^[/g' "$T/raw") # CR and ESC made visible, UTF-8 kept
}
book() { cat >"$T/$1.yaml"; }

# ---- every ending named in plain words ----

t_endings() {
    begin endings
    book ok <<'EOF'
runbook: ok
version: 1
title: Succeeds
steps:
  - { id: a, exec: ["true"], effect: read }
EOF
    rb run "$T/ok.yaml" --state-dir "$S"
    check "ending: succeeded" eq "$(ending)" "Run succeeded"
    check "ending: ... is the last line" has "$last" "Run succeeded in "

    book cont <<'EOF'
runbook: cont
version: 1
title: Two failures continued past
steps:
  - { id: a, exec: [sh, -c, "exit 3"], effect: read, on_failure: continue }
  - { id: b, exec: [sh, -c, "exit 4"], effect: read, on_failure: continue }
  - { id: c, exec: ["true"], effect: read }
EOF
    rb run "$T/cont.yaml" --state-dir "$S"
    check "ending: continued failures are counted (exit 0)" eq "$code $(ending)" "0 Run succeeded with 2 failed-and-continued steps"
    check "ending: ... each listed above the last line" has "$out" "  failed and continued past: b (failed)"

    book rolled <<'EOF'
runbook: rolled
version: 1
title: A clean rollback
on_failure: rollback
inputs:
  dir: { type: string }
steps:
  - id: w
    exec: [touch, "${{ inputs.dir }}/w"]
    rollback: { exec: [rm, "${{ inputs.dir }}/w"] }
  - { id: boom, needs: [w], exec: [sh, -c, "exit 9"], effect: read }
EOF
    rb run "$T/rolled.yaml" --state-dir "$S" --set "dir=$D"
    check "ending: rolled back (exit 1)" eq "$code $(ending)" "1 Run rolled back"
    check "ending: ... and it was" absent "$D/w"
    check "ending: the journal keeps its name" eq "$(jfield 'recs[-1]["status"]')" rolled_back

    book incomplete <<'EOF'
runbook: incomplete
version: 1
title: One of three rollbacks fails
on_failure: rollback
inputs:
  dir: { type: string }
steps:
  - { id: a, exec: [touch, "${{ inputs.dir }}/a"], rollback: { exec: [rm, "${{ inputs.dir }}/a"] } }
  - { id: b, needs: [a], exec: [touch, "${{ inputs.dir }}/b"], rollback: { exec: [sh, -c, "exit 1"] } }
  - { id: c, needs: [b], exec: [touch, "${{ inputs.dir }}/c"], rollback: { exec: [rm, "${{ inputs.dir }}/c"] } }
  - { id: boom, needs: [c], exec: [sh, -c, "exit 9"], effect: read }
EOF
    rb run "$T/incomplete.yaml" --state-dir "$S" --set "dir=$D"
    check "ending: rollback incomplete, counted (exit 3)" eq "$code $(ending)" \
        "3 Run failed — rollback incomplete (1 of 3 undo steps failed)"
    check "ending: ... the failed undo is shown above" has "$out" "⤺ b ROLLBACK FAILED"
    check "ending: the journal keeps rollback_incomplete" eq "$(jfield 'recs[-1]["status"]')" rollback_incomplete

    book nothing <<'EOF'
runbook: nothing
version: 1
title: Fails before anything to undo
on_failure: rollback
steps:
  - { id: boom, exec: [sh, -c, "exit 9"], effect: read }
  - { id: w, needs: [boom], exec: ["true"], rollback: { exec: ["true"] } }
EOF
    rb run "$T/nothing.yaml" --state-dir "$S"
    check "ending: nothing to roll back is not 'rolled back' (exit 1)" eq "$code $(ending)" "1 Run failed (nothing to roll back)"
    check "ending: ... and says why above" has "$out" "  step boom failed: exit code 9"

    book abort <<'EOF'
runbook: abort
version: 1
title: Times out, aborts
steps:
  - { id: slow, exec: [sleep, "5"], effect: read, timeout: 300ms }
EOF
    rb run "$T/abort.yaml" --state-dir "$S"
    check "ending: a plain failure" eq "$code $(ending)" "1 Run failed"
    check "ending: a timeout in plain words" has "$out" "✗ slow timed out"
    check "ending: ... never the journal's word" lacks "$out" "timed_out"
    check "ending: ... which the journal keeps" eq "$(jfield '[r for r in recs if r["type"] == "step_end"][-1]["outcome"]')" timed_out
}

t_interrupted() {
    begin interrupted
    book hang <<'EOF'
runbook: hang
version: 1
title: Interrupted
steps:
  - { id: wait, exec: [sleep, "30"], effect: read }
EOF
    timeout -k 5 60 "$bin" run "$T/hang.yaml" --state-dir "$S" </dev/null >"$T/out" 2>"$T/err" &
    local pid=$! n=100
    while ((n-- > 0)) && ! grep -q "▶ wait" "$T/out" 2>/dev/null; do sleep 0.05; done
    sleep 0.2
    kill -INT "$pid"
    wait "$pid"
    code=$? out=$(<"$T/out") last=$(tail -n 1 "$T/out")
    check "interrupted: exit 130" eq "$code" 130
    check "interrupted: the last line says so" eq "$(ending)" "Run interrupted"
    check "interrupted: the step in plain words" has "$out" "✗ wait interrupted"
    check "interrupted: never 'cancelled: cancelled'" lacks "$out" "cancelled"
}

# ---- the live ticker ----

t_ticker() {
    begin ticker
    book slow <<'EOF'
runbook: slow
version: 1
title: A slow step
steps:
  - { id: slow, exec: [sh, -c, "echo started; sleep 2.6; echo finished"], effect: read }
  - { id: next, exec: [echo, next], effect: read }
EOF
    command -v script >/dev/null || { check "ticker: util-linux script is installed" false; return; }
    local cmd
    cmd=$(printf '%q ' "$bin" run "$T/slow.yaml" --state-dir "$S")
    tty_raw "sleep 4" xterm "$cmd"
    check "ticker: on a terminal it shows the elapsed time, redrawn in place" has "$raw" '^M⋯ slow running 1s^[[K'
    check "ticker: ... then the next second" has "$raw" '⋯ slow running 2s^[[K'
    check "ticker: ... erased before the next output line" has "$raw" '^M^[[K    │ finished'
    check "ticker: ... one line, drawn from its start, never with a newline inside" python3 -c "
import re, sys
s = open(sys.argv[1], 'rb').read().decode()
ticks = [m.start() for m in re.finditer('⋯', s)]
assert ticks and all(s[t - 1] == '\r' and '\n' not in s[t:s.index('\x1b[K', t)] for t in ticks), ticks" "$T/raw"
    tty_raw "sleep 4" dumb "$cmd"
    check "ticker: never on TERM=dumb" lacks "$raw" "running 1s"
    rb run "$T/slow.yaml" --state-dir "$S"
    check "ticker: never when piped" lacks "$out" "running"
    check "ticker: ... no escape codes in the pipe" bash -c "! grep -q $'\e' '$T/out'"
    check "ticker: ... and no carriage returns" bash -c "! grep -q $'\r' '$T/out'"
}

# ---- --timestamps and parallel step ids ----

t_timestamps() {
    begin timestamps
    book par <<'EOF'
runbook: par
version: 1
title: Two steps talk at once
steps:
  - { id: left, needs: [], exec: [sh, -c, "for i in 1 2 3; do echo L$i; sleep 0.1; done"], effect: read }
  - { id: right, needs: [], exec: [sh, -c, "for i in 1 2 3; do echo R$i; sleep 0.1; done"], effect: read }
EOF
    rb run "$T/par.yaml" --state-dir "$S" --timestamps
    local bad
    bad=$(grep -v '^$' "$T/out" | grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{2}:[0-9]{2} ')
    check "timestamps: every line starts with an ISO 8601 local time with ms ($bad without)" eq "$bad" 0
    check "timestamps: ... the end line too" bash -c "tail -n 1 '$T/out' | grep -qE '^[0-9-]{10}T[0-9:.]{12}[+-][0-9:]{5} Run succeeded'"
    check "timestamps: resume takes it too" bash -c "'$bin' resume --help | grep -q -- --timestamps"

    rb run "$T/par.yaml" --state-dir "$S" --jobs 2
    check "jobs 2: every output line names its step" eq "$(grep -c '│' "$T/out")" \
        "$(grep -cE '│ (left: L|right: R)[123]$' "$T/out")"
    check "jobs 2: ... all six lines are there" eq "$(grep -c '│' "$T/out")" 6
    rb run "$T/par.yaml" --state-dir "$S"
    check "jobs 1: output lines carry no id" has "$out" "    │ L1"
}

# ---- a question comes after its step's header, also under | tee ----

t_tee_order() {
    begin tee
    book ask <<'EOF'
runbook: ask
version: 1
title: Asks
inputs:
  dir: { type: string }
steps:
  - { id: before, exec: [echo, hello], effect: read }
  - { id: ask, title: The question step, confirm: "Go on?", exec: [touch, "${{ inputs.dir }}/yes"], effect: read }
EOF
    command -v script >/dev/null || return
    local cmd
    cmd="$(printf '%q ' "$bin" run "$T/ask.yaml" --state-dir "$S" --set "dir=$D") | tee $(printf '%q' "$T/log")"
    tty_raw "sleep 1.5; printf 'y\n'" xterm "$cmd"
    check "tee: the answer ran the step" exists "$D/yes"
    check "tee: the question comes after its step's header on the screen" \
        python3 -c "import sys; s=open(sys.argv[1], 'rb').read().decode('utf-8', 'replace'); h=s.find('▶ ask'); q=s.find('? ask: Go on?'); assert 0 <= h < q, (h, q)" "$T/raw"
    check "tee: the log has the header" grep -q "▶ ask — The question step" "$T/log"
}

# ---- dry runs show what they would do ----

t_dry() {
    begin dry
    printf 'port 80\nworkers 2\nlog info\nkey old\n' >"$D/app.conf"
    book dry <<'EOF'
runbook: dry
version: 1
title: What a dry run would do
secrets:
  token: { env: RB_SCREEN_TOKEN }
inputs:
  dir: { type: string }
  who: { type: string, default: "it's me" }
steps:
  - id: conf
    file:
      path: "${{ inputs.dir }}/app.conf"
      content: "port 80\nworkers 4\nlog info\nkey ${{ secrets.token }}\n"
  - id: restart
    exec: { argv: [systemctl, restart, "app web", "${{ inputs.who }}"], env: { TOKEN: "${{ secrets.token }}" } }
  - id: script
    shell: "echo ${{ inputs.who }} >/dev/null"
  - id: notify
    http: { url: "http://127.0.0.1:9/hook", method: POST, json: { by: "${{ inputs.who }}", token: "${{ secrets.token }}" } }
  - id: records
    for_each: [api, www]
    as: name
    exec: [dnsctl, set, "${{ each.name }}", "--index=${{ each.index }}"]
EOF
    RB_SCREEN_TOKEN=s3cr3t-t0ken-value rb run "$T/dry.yaml" --state-dir "$S" --set "dir=$D" --dry-run
    check "dry: succeeds without writing" eq "$code $(cat "$D/app.conf" | sed -n 2p)" "0 workers 2"
    local want
    want="    would write $D/app.conf (44 bytes)
    --- $D/app.conf (before)
    +++ $D/app.conf (after)
    @@ -1,4 +1,4 @@
     port 80
    -workers 2
    +workers 4
     log info
    -key old
    +key ***"
    check "dry: a file step shows a unified diff of old and new content, masked" has "$out" "$want"
    check "dry: the argv, quoted to paste" has "$out" "    would run: systemctl restart 'app web' 'it'\\''s me' (with env TOKEN)"
    check "dry: a shell script with its values" has "$out" "    would run: RB_V1='it'\\''s me' sh -c 'echo \"\$RB_V1\" >/dev/null'"
    check "dry: the request" has "$out" "    would send: POST http://127.0.0.1:9/hook"
    check "dry: ... its body masked" has "$out" '      body: {"by":"it'"'"'s me","token":"***"}'
    check "dry: a loop shows each item's action" has "$out" "    item 0:
    would run: dnsctl set api --index=0
    item 1:
    would run: dnsctl set www --index=1"
    check "dry: no secret anywhere" lacks "$out$err" "s3cr3t-t0ken-value"
    check "dry: the last line says dry run" eq "$(ending)" "Dry run succeeded"
    "$bin" runs --state-dir "$S" >"$T/runs" 2>&1
    check "dry: runs marks it" grep -q "$rid .*succeeded (dry run)" "$T/runs"
    "$bin" journal "$rid" --state-dir "$S" >"$T/journal" 2>&1
    check "dry: journal marks it" eq "$(head -n 1 "$T/journal")" "DRY RUN: write steps were not run; nothing was changed"
    RB_SCREEN_TOKEN=s3cr3t-t0ken-value rb run "$T/dry.yaml" --state-dir "$S" --set "dir=$D" --yes
    "$bin" runs --state-dir "$S" >"$T/runs" 2>&1
    check "dry: a real run is not marked" bash -c "grep '$rid' '$T/runs' | grep -vq 'dry run'"

    printf 'port 80\nworkers 4\nlog info\nkey s3cr3t-t0ken-value\n' >"$D/app.conf"
    RB_SCREEN_TOKEN=s3cr3t-t0ken-value rb run "$T/dry.yaml" --state-dir "$S" --set "dir=$D" --dry-run
    check "dry: an unchanged file says so" has "$out" "(no change: $D/app.conf already has this content)"
    rm "$D/app.conf"
    RB_SCREEN_TOKEN=s3cr3t-t0ken-value rb run "$T/dry.yaml" --state-dir "$S" --set "dir=$D" --dry-run
    check "dry: a new file is all added" has "$out" "@@ -0,0 +1,4 @@"
    RB_SCREEN_TOKEN=s3cr3t-t0ken-value rb run "$T/dry.yaml" --state-dir "$S" --set "dir=$D" --dry-run --jobs 2
    check "dry, jobs 2: a preview's lines name their step" has "$out" "    conf: +key ***"

    # A secret the preview would quote (it holds a ') or cut into diff lines (it spans two): it is
    # masked before, in the new content and in the old one read from disk.
    book key <<'EOF'
runbook: key
version: 1
title: A two-line key
secrets:
  key: { env: RB_SCREEN_TOKEN }
inputs:
  dir: { type: string }
steps:
  - { id: keyfile, file: { path: "${{ inputs.dir }}/key", content: "begin\n${{ secrets.key }}\nend\n" } }
  - { id: use, shell: "printf %s ${{ secrets.key }} >/dev/null" }
EOF
    local key=$'first-half-0f-key\nsecond-half-0f-k\'ey'
    printf 'begin\n%s\nend-old\n' "$key" >"$D/key"
    RB_SCREEN_TOKEN=$key rb run "$T/key.yaml" --state-dir "$S" --set "dir=$D" --dry-run
    check "dry: a multi-line secret is not in the diff, old or new" lacks "$out" "half-0f"
    check "dry: ... the diff is still shown" has "$out" "+end"
    check "dry: a secret with a quote is masked before it is quoted" has "$out" "would run: RB_V1='***' sh -c"
}

t_endings
t_interrupted
t_ticker
t_timestamps
t_tee_order
t_dry
no_sanitizer_reports
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
