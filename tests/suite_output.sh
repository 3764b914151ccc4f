#!/usr/bin/env bash
# What leaves the program, through the command line: masking that keeps the journal's structure
# (and refuses secrets it cannot mask), messages masked after any cut, control characters shown
# visibly on the terminal, GitHub annotations from line 1, and secrets' environment variables
# kept from children.
#   bash tests/suite_output.sh BINARY SOURCE_DIR
set -u
bin=$(realpath "$1") src=$(realpath "$2")
. "$src/tests/lib.sh" # check, eq, has, lacks, exists, absent, lines, run_id_of
suite_work output
unset RB_OUT_TOK RB_OUT_PART RB_OUT_OTHER

begin() { T=$work/$1 S=$work/$1/state D=$work/$1/d; mkdir -p "$D"; }
rb() {
    timeout -k 5 60 "$bin" "$@" </dev/null >"$T/out" 2>"$T/err"
    code=$?
    out=$(<"$T/out") err=$(<"$T/err")
    rid=$(sed -n 's/^\(Dry run\|Run\) \([^ ]*\) (journal: .*/\2/p' "$T/out" | head -1)
}
no_esc() { # file...: no raw ESC, BEL or CR byte reached it
    local f
    for f in "$@"; do
        if LC_ALL=C grep -q $'[\x1b\x07\r]' "$f"; then
            echo "    $f holds a raw control character:"
            LC_ALL=C grep -n $'[\x1b\x07\r]' "$f" | head -3 | cat -v | sed 's/^/      /'
            return 1
        fi
    done
}
on_tty() { # input-script, args...: on a pseudo-terminal (util-linux script); raw bytes in $T/tty
    local feed=$1
    shift
    # script runs the command with $SHELL; printf %q may write bash-only $'...' quoting
    bash -c "$feed" | SHELL=/bin/bash timeout -k 5 60 script -qec "$(printf '%q ' "$bin" "$@")" /dev/null >"$T/tty" 2>&1
}

# ---- masking keeps the journal's structure ----

cat >"$work/words.yaml" <<'EOF'
runbook: words
version: 1
title: A secret inside a step id
inputs:
  dir: { type: string }
secrets:
  part: { env: RB_OUT_PART }
  tok: { env: RB_OUT_TOK }
steps:
  - id: deploy-db
    exec:
      argv: [sh, -c, 'echo "deployed with $P"; echo run >> "$0/count"', "${{ inputs.dir }}"]
      env: { P: "${{ secrets.part }}" }
    effect: write
    irreversible: true
  - id: wait
    exec: [sleep, "3"]
    effect: read
    idempotent: true
  - id: boom
    file:
      path: "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa${{ secrets.tok }}bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
      content: "x"
EOF

t_refused() {
    begin refused
    RB_OUT_PART=deploy RB_OUT_TOK=Zk4qW9xLm2vRt7yPq3sN rb run "$work/words.yaml" --state-dir "$S" --set "dir=$D"
    check "refused: a secret equal to a word of a step id stops the run (exit 2)" eq "$code" 2
    check "refused: the message names the secret" has "$err" 'secret "part"'
    check "refused: ... and says why" has "$err" "equals a word of the runbook's own ids and keys"
    check "refused: no step ran" absent "$D/count"
    check "refused: no journal was started" absent "$S/runs"
    RB_OUT_PART=db RB_OUT_TOK=Zk4qW9xLm2vRt7yPq3sN rb run "$work/words.yaml" --state-dir "$S" --set "dir=$D"
    check "refused: a secret equal to 'db' too" eq "$code" 2
    RB_OUT_PART=outcome RB_OUT_TOK=Zk4qW9xLm2vRt7yPq3sN rb run "$work/words.yaml" --state-dir "$S" --set "dir=$D"
    check "refused: a secret equal to a journal field name" eq "$code" 2
    RB_OUT_PART=ab12x RB_OUT_TOK=Zk4qW9xLm2vRt7yPq3sN rb run "$work/words.yaml" --state-dir "$S" --set "dir=$D"
    check "refused: a secret under 6 bytes (exit 2)" eq "$code" 2
    check "refused: ... with a message naming it, not its value" has "$err" 'secret "part" is shorter than 6 bytes'
    check "refused: ... the value is not printed" lacks "$out$err" "ab12x"
}

t_journal_structure() {
    begin structure
    local part=ploy-db tok=Zk4qW9xLm2vRt7yPq3sN r
    RB_OUT_PART=$part RB_OUT_TOK=$tok timeout -k 5 60 "$bin" run "$work/words.yaml" --state-dir "$S" \
        --set "dir=$D" </dev/null >"$T/first" 2>&1 &
    local pid=$!
    bgpids+=("$pid")
    for _ in $(seq 100); do [[ -e $D/count ]] && break; sleep 0.05; done
    sleep 0.5
    kill -INT "$pid"
    wait "$pid"
    r=$(sed -n 's/^Run \([^ ]*\) (journal: .*/\1/p' "$T/first" | head -1)
    local j=$S/runs/$r.jsonl
    check "structure: the journal keeps the step id whole" grep -qF '"step":"deploy-db"' "$j"
    check "structure: ... and masks the secret in the step's output" grep -qF '"stdout":"deployed with ***\n"' "$j"
    check "structure: the secret is nowhere in the journal's text" bash -c "! grep -q 'deployed with $part' '$j'"
    RB_OUT_PART=$part RB_OUT_TOK=$tok rb resume "$r" --state-dir "$S" --yes
    check "resume: the resume found the step done and did not run it again" eq "$(wc -l <"$D/count")" 1
    check "resume: it ran on to the failing step (exit 1)" eq "$code" 1
    # a file name over 255 bytes is refused, and the message carries the secret at 133..153
    check "resume: its failure message is printed" has "$err" "runbook resume: step boom failed: /tmp/aaaa"
    check "resume: ... masked" has "$err" "***"
    check "resume: no part of the secret in what it printed" lacks "$out$err" "${tok:0:4}"
    check "summary: the 200-character message cut at 140 shows no half of the secret" \
        has "$out" "  step boom failed: /tmp/aaaa"
    check "summary: ... none of it" lacks "$(grep 'step boom failed' <<<"$out")" "${tok:0:4}"
    check "summary: ... its stars are there" has "$(grep '  step boom failed' <<<"$out")" "***"
}

# ---- control characters ----

cat >"$work/ctl.yaml" <<'EOF'
runbook: ctl
version: 1
title: "Control \e]0;owned\a characters"
inputs:
  who: { type: string }
steps:
  - id: noisy
    title: "Noisy \e[2J step"
    exec: [sh, -c, 'printf "a\033]0;title\007b\033[2Jc\rd\n"; printf "\033]52;c;ZXZpbA==\007\n" >&2']
    effect: read
  - id: ask
    confirm: "Promote ${{ inputs.who }}?"
    exec: [true]
    effect: read
EOF

t_control() {
    begin control
    rb run "$work/ctl.yaml" --state-dir "$S" --set "who=x" --yes
    check "control: the run succeeds" eq "$code" 0
    check "control: no raw ESC, BEL or CR from output, titles or values" no_esc "$T/out" "$T/err"
    check "control: the output's escape codes are shown visibly" has "$out" 'a\e]0;title\x07b\e[2Jc\rd'
    check "control: stderr's clipboard write too" has "$out" '\e]52;c;ZXZpbA==\x07'
    check "control: a title's too" has "$out" 'Noisy \e[2J step'
    rb run "$work/ctl.yaml" --state-dir "$S" --set $'who=x\e[31m' --set $'nope\e]0;t\a=1'
    check "control: --set errors show values visibly" no_esc "$T/out" "$T/err"
    check "control: ... the bad name is echoed escaped" has "$err" 'nope\e]0;t\x07'
    "$bin" plan "$work/ctl.yaml" --set $'who=\e[2J' >"$T/out" 2>"$T/err"
    check "control: plan shows values and titles visibly" no_esc "$T/out" "$T/err"
    "$bin" graph "$work/ctl.yaml" >"$T/out" 2>"$T/err"
    "$bin" graph "$work/ctl.yaml" --format mermaid >>"$T/out" 2>>"$T/err"
    check "control: graph shows titles visibly" no_esc "$T/out" "$T/err"
    mkdir -p "$T/lib" && cp "$work/ctl.yaml" "$T/lib/"
    RUNBOOK_PATH=$T/lib "$bin" list >"$T/out" 2>"$T/err"
    check "control: list shows titles visibly" no_esc "$T/out" "$T/err"
    check "control: ... escaped" has "$(<"$T/out")" 'Control \e]0;owned\x07 characters'
    local r
    r=$(ls "$S/runs" | sed -n 's/\.jsonl$//p' | head -1)
    "$bin" journal "$r" --state-dir "$S" >"$T/out" 2>"$T/err"
    check "control: journal shows recorded output visibly" no_esc "$T/out" "$T/err"
    check "control: ... as JSON escapes" has "$(<"$T/out")" '\u001B[2J'
    printf 'runbook: v\nversion: 1\ntitle: t\nsteps:\n  - id: "bad\\e[31mid"\n    exec: [true]\n' >"$T/bad.yaml"
    "$bin" validate "$T/bad.yaml" >"$T/out" 2>"$T/err"
    check "control: validate refuses the bad step id" grep -qF 'bad\e[31mid' "$T/out" "$T/err"
    check "control: ... and echoes it, and its source line, visibly" no_esc "$T/out" "$T/err"
    "$bin" validate --format github "$T/bad.yaml" >"$T/out" 2>"$T/err"
    check "control: the GitHub format too" no_esc "$T/out"
    printf 'runbook: v\nversion: 1\ntitle: t\nsteps: [\n' >"$T/broken.yaml"
    : >"$T/empty.yaml"
    "$bin" validate --format github "$T/empty.yaml" >"$T/out" 2>"$T/err"
    check "github: a file-level error is at line 1, column 1" grep -q '^::error file=[^,]*,line=1,col=1::' "$T/out"
    check "github: never line 0" bash -c "! grep -q 'line=0' '$T/out'"
}

t_confirm_tty() {
    begin confirm-tty
    command -v script >/dev/null || { check "tty: util-linux script is installed" false; return; }
    on_tty "sleep 1; printf 'n\n'" run "$work/ctl.yaml" --state-dir "$S" --set $'who=\e[1A\e[2K\rDelete nothing'
    check "tty: the question shows the value's escape codes visibly" \
        grep -qF 'Promote \e[1A\e[2K\rDelete nothing? [y/N]' "$T/tty"
    check "tty: no raw ESC reached the terminal (colours are off)" bash -c "! LC_ALL=C grep -q $'\x1b' '$T/tty'"
    check "tty: the output before the question cannot move the cursor" grep -qF 'b\e[2Jc\rd' "$T/tty"
}

# ---- secrets' environment variables ----

cat >"$work/envs.yaml" <<'EOF'
runbook: envs
version: 1
title: Secret variables stay out of children
secrets:
  tok: { env: RB_OUT_TOK }
  other: { env: RB_OUT_OTHER }
steps:
  - id: plain
    exec: [env]
    effect: read
  - id: script
    shell: env
    effect: read
  - id: passed
    exec:
      argv: [env]
      env: { RB_OUT_OTHER: "${{ secrets.other }}" }
    effect: read
  - id: split
    exec:
      argv: [bash, -c, 'printf %s "${T:0:9}"; sleep 0.3; printf %s "${T:9}" >&2']
      env: { T: "${{ secrets.tok }}" }
    effect: read
EOF

t_env() {
    begin env
    RB_OUT_TOK=Zk4qW9xLm2vRt7yPq3sN RB_OUT_OTHER=Ot7her-Secret-99 RB_OUT_KEPT=yes rb run "$work/envs.yaml" --state-dir "$S"
    check "env: the run succeeds" eq "$code" 0
    check "env: an ordinary variable is inherited" has "$out" "RB_OUT_KEPT=yes"
    check "env: a secret's variable is in no child's environment" lacks "$out" "RB_OUT_TOK="
    check "env: ... passed explicitly, it reaches that step only" eq "$(grep -c 'RB_OUT_OTHER=' <<<"$out")" 1
    check "env: ... masked" has "$out" "RB_OUT_OTHER=***"
    local j=$S/runs/$rid.jsonl
    check "split: a secret split between stdout and stderr is masked in the journal" \
        grep -qF '"stdout":"***","stderr":"***"' "$j"
    check "split: ... no half of it is kept" bash -c "! grep -qE 'Zk4qW9xLm|2vRt7yPq3sN' '$j'"
}

t_refused
t_journal_structure
t_control
t_confirm_tty
t_env
no_sanitizer_reports
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
