#!/usr/bin/env bash
# The conventions of a command line (issue 10 items 4, 8-11): plan's totals, validate on folders
# of mixed YAML, short/repeated/conflicting options from the option tables, help, colour,
# shell completion, the man page, install and the Debian package.
set -u
bin=$1 src=$2
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
pass=0 fail=0
. "$src/tests/lib.sh"
tmp=$(mktemp -d)
export RUNBOOK_LOCK_DIR=$tmp/system-locks
trap 'rm -rf "$tmp"' EXIT
T=$tmp/t
mkdir -p "$T"
unset NO_COLOR RUNBOOK_PATH
rb() { "$bin" "$@" >"$T/out" 2>"$T/err"; code=$?; out=$(<"$T/out"); err=$(<"$T/err"); }

# A runbook with a required input, a retried step under an RTO, and a person's confirmation.
W=$tmp/w
mkdir -p "$W"
cat >"$W/need.yaml" <<'EOF'
runbook: need
version: 1
title: needs a person
objectives: {rto: 5m}
inputs:
  region: {type: string, pattern: '^[a-z]+$'}
secrets:
  token: {env: CONV_TEST_TOKEN}
steps:
  - id: probe
    effect: read
    exec: [echo, "${{ inputs.region }}"]
    timeout: 1m
    retry: {attempts: 3, delay: 10s, backoff: 2}
  - id: promote
    title: promote the replica
    confirm: promote now?
    confirm_by: person
    exec: [true]
    timeout: 30s
    irreversible: true
  - id: note
    effect: read
    when: ${{ inputs.region == 'x' }}
    confirm: note it?
    exec: [true]
    timeout: 30s
EOF

t_plan_totals() {
    rb plan "$W/need.yaml"
    check "plan: exit 0" eq "$code" 0
    check "plan: totals line" has "$out" "Totals: 3 steps · 1 write · 1 irreversible · 2 confirmations (1 by a person) · 0 with a rollback"
    check "plan: the longest path" has "$out" "longest path (3 steps): probe → promote → note"
    # 3 attempts of 1m + delays 10s and 20s, then 30s and 30s
    check "plan: its planned time against the RTO" has "$out" "at most 4m30s by its timeouts"
    check "plan: within the RTO" has "$out" "within the RTO 5m"
    check "plan: run refuses for the input" has "$out" "input region: required: run refuses without a terminal unless --set"
    check "plan: run refuses for the person" has "$out" "step promote: asks a person (confirm_by: person): run refuses without a terminal, even with --yes"
    check "plan: a confirmation under when is not a sure refusal" lacks "$out" "step note:"
    check "plan: an unset secret variable" has "$out" "secret token: its environment variable is not set here"
    CONV_TEST_TOKEN=a-long-random-value rb plan "$W/need.yaml" --set region=eu
    check "plan: with the input and the secret, only the person remains" eq "$(grep -c '^    [a-z]* [a-z]*: ' "$T/out")" 1

    rb plan "$W/need.yaml" --format json
    check "plan json: exit 0" eq "$code" 0
    check "plan json: totals" eq "$(jq -c '[.totals.steps, .totals.writes, .totals.irreversible, .totals.confirmations, .totals.confirmations_by_person]' "$T/out")" "[3,1,1,2,1]"
    check "plan json: longest path" eq "$(jq -c '[.longest_path.steps, .longest_path.planned_ms, .longest_path.rto_ms, .longest_path.within_rto]' "$T/out")" '[["probe","promote","note"],270000,300000,true]'
    check "plan json: refusals" eq "$(jq -c '[.run_refuses[] | .kind + ":" + .name]' "$T/out")" '["secret_not_set:token","needs_input:region","needs_person:promote"]'
    check "plan json: steps in run order" eq "$(jq -c '[.steps[] | .id + ":" + (.planned_ms|tostring)]' "$T/out")" '["probe:210000","promote:30000","note:30000"]'
    check "plan json: an input nobody gave is null" eq "$(jq -c .inputs "$T/out")" '{"region":null}'
    rb plan "$W/need.yaml" --format json --simulate probe=fail
    check "plan: --simulate and --format are refused together" eq "$code" 2
    check "plan: ...saying so" has "$err" "--simulate and --format cannot be used together"

    # Over the RTO, and a runbook that run starts as it is.
    sed -e 's/rto: 5m/rto: 2m/' -e 's/^runbook: need/runbook: tight/' "$W/need.yaml" >"$W/tight.yaml"
    rb plan "$W/tight.yaml" --set region=eu
    check "plan: over the RTO is said" has "$out" "OVER the RTO 2m"
    rb plan "$src/examples/hello.yaml"
    check "plan: nothing to refuse" has "$out" "run would start: nothing needs a terminal, a flag or an input"
}

t_validate_folders() {
    local d=$tmp/tree
    mkdir -p "$d/rb" "$d/ci" "$tmp/empty"
    cp "$src/tests/cases/valid-minimal.yaml" "$d/rb/"
    printf 'on: push\njobs: {build: {runs-on: ubuntu-latest}}\n' >"$d/ci/workflow.yml"
    printf 'services:\n  db: {image: postgres}\n' >"$d/compose.yaml"
    rb validate "$d"
    check "validate: other YAML in a folder is skipped" eq "$code" 0
    check "validate: ...and counted" has "$out" "1 file checked: 1 valid, 0 invalid (0 errors, 0 warnings); 2 skipped: not a runbook"
    rb validate --format json "$d"
    check "validate json: the skipped files" eq "$(jq -c '[.skipped[].path] | sort' "$T/out")" "[\"$d/ci/workflow.yml\",\"$d/compose.yaml\"]"
    rb validate "$d/compose.yaml"
    check "validate: a file named on the command line is always checked" eq "$code" 1
    check "validate: ...and its errors shown" has "$out" 'missing required key "runbook"'
    printf 'runbook: broken\n' >"$d/rb/broken.yaml"
    rb validate "$d"
    check "validate: a broken runbook in the folder fails" eq "$code" 1
    rm "$d/rb/broken.yaml"
    printf 'not: [yaml\n' >"$d/torn.yaml"
    rb validate "$d"
    check "validate: a file that is not YAML at all is checked, not skipped" eq "$code" 1
    rm "$d/torn.yaml"
    rb validate "$tmp/empty"
    check "validate: an empty folder fails" eq "$code" 1
    check "validate: ...saying nothing was checked" has "$err" "runbook validate: no runbook was checked"
    rb validate --exclude 'rb/' "$d"
    check "validate: everything skipped or excluded fails" eq "$code" 1
    check "validate: ...with the count of skipped files" has "$err" "2 YAML files skipped: not a runbook"

    printf 'runbook: bad\nversion: 1\ntitle: bad\nsteps:\n  - id: a\n    exec: systemctl restart nginx\n' >"$d/rb/bad.yaml"
    rb validate "$d/rb/bad.yaml"
    check "validate: exec given a string gets the hint" has "$out" "hint: write a list, exec: [systemctl, restart, nginx], or use shell: for a command line"

    rb list "$d/rb"
    check "list: exit 0" eq "$code" 0
    check "list: the invalid runbook is listed, marked" has "$out" "[invalid: 1 error; see runbook validate $d/rb/bad.yaml]"
    check "list: the valid one is unmarked" eq "$(grep '^valid-minimal' "$T/out" | grep -c invalid)" 0
    check "list: other YAML is not listed" lacks "$out" "compose"
    rb list "$d"
    check "list: other YAML in a folder walk is left out" lacks "$out" "workflow"
    rb list "$tmp/no-such"
    check "list: a missing folder is a usage error" eq "$code" 2
    check "list: ...in list's own name" has "$err" "runbook list: $tmp/no-such: no such file or folder"
}

t_options() {
    rb run "$W/need.yaml" -q -v
    check "options: --quiet with --verbose is refused" eq "$code" 2
    check "options: ...saying which" has "$err" "--quiet and --verbose cannot be used together"
    rb run "$W/need.yaml" --quiet --verbose
    check "options: also in long form" eq "$code" 2
    rb run "$W/need.yaml" --state-dir "$tmp/a" --state-dir "$tmp/b"
    check "options: a repeated --state-dir is refused" eq "$code" 2
    check "options: ...not replaced" has "$err" "--state-dir is given twice ('$tmp/b'): give it once"
    check "options: ...and nothing was run" absent "$tmp/a"
    rb validate --format json --format text "$src/examples/hello.yaml"
    check "options: a repeated --format is refused" eq "$code" 2
    rb validate --exclude a --exclude b "$src/examples/hello.yaml"
    check "options: a repeatable option accumulates" eq "$code" 0
    rb plan "$W/need.yaml" --set region=eu --set region=x
    check "options: --set accumulates (the last given wins, as documented)" has "$out" "input  region             \"x\""
    rb run "$W/need.yaml" --stat-dir x
    check "options: a misspelt option gets a suggestion" has "$err" "unknown option '--stat-dir' (did you mean --state-dir?)"
    rb run "$W/need.yaml" -Z
    check "options: an unknown short option" has "$err" "unknown option '-Z'"
    rb run "$W/need.yaml" --color blue
    check "options: --color takes auto, always or never" eq "$code" 2

    rb run --help
    check "help: short forms are shown" has "$out" "-y, --yes"
    check "help: -q" has "$out" "-q, --quiet"
    check "help: conflicts are shown from the table" has "$out" "(not with --verbose)"
    check "help: repeatable options are shown" has "$out" "--set NAME=VALUE       give an input (repeatable)"
    rb run -h
    check "help: -h" has "$out" "usage: runbook run"
    rb help plan
    check "help: runbook help CMD" has "$out" "usage: runbook plan"
    check "help: ...exit 0" eq "$code" 0
    rb help frobnicate
    check "help: an unknown command" eq "$code" 2
    rb --help
    check "help: --version is mentioned" has "$out" "runbook --version"
    check "help: help is listed" has "$out" "  help "
    check "help: completion is listed" has "$out" "  completion "
    rb -h
    check "help: -h at the top" eq "$code" 0
}

# Colour on a pseudo-terminal: on by default, off for TERM=dumb, NO_COLOR and --color=never;
# --color=always colours a pipe.
on_tty() { # env assignments..., -- args...
    local envs=()
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" SHELL=/bin/bash timeout -k 5 60 script -qec "$(printf '%q ' "$bin" "$@")" /dev/null </dev/null >"$T/out" 2>&1
}
has_esc() { LC_ALL=C grep -q $'\x1b\\[' "$1"; }
t_colour() {
    command -v script >/dev/null || { check "colour: util-linux script is installed" false; return; }
    local bad=$tmp/colour/bad.yaml
    mkdir -p "$tmp/colour"
    printf 'runbook: bad\nversion: 1\n' >"$bad"
    on_tty TERM=xterm -- validate "$bad"
    check "colour: on a terminal" has_esc "$T/out"
    on_tty TERM=dumb -- validate "$bad"
    check "colour: off for TERM=dumb" bash -c "! LC_ALL=C grep -q \$'\\x1b' '$T/out'"
    on_tty TERM=xterm NO_COLOR=1 -- validate "$bad"
    check "colour: off for NO_COLOR" bash -c "! LC_ALL=C grep -q \$'\\x1b' '$T/out'"
    on_tty TERM=xterm -- validate --color=never "$bad"
    check "colour: off for --color=never" bash -c "! LC_ALL=C grep -q \$'\\x1b' '$T/out'"
    on_tty TERM=dumb -- plan --color always "$src/examples/hello.yaml"
    check "colour: --color=always wins over TERM=dumb" has_esc "$T/out"
    NO_COLOR=1 "$bin" validate --color=always "$bad" >"$T/out" 2>&1
    check "colour: --color=always colours a pipe, even under NO_COLOR" has_esc "$T/out"
    TERM=xterm "$bin" validate "$bad" >"$T/out" 2>&1
    check "colour: a pipe is not coloured" bash -c "! LC_ALL=C grep -q \$'\\x1b' '$T/out'"
    "$bin" run "$src/examples/hello.yaml" --color=always --state-dir "$tmp/colour/state" >"$T/out" 2>&1 </dev/null
    check "colour: run --color=always colours a pipe" has_esc "$T/out"
    on_tty TERM=xterm -- run "$src/examples/hello.yaml" --color=never --state-dir "$tmp/colour/state"
    check "colour: run --color=never on a terminal" bash -c "! LC_ALL=C grep -q \$'\\x1b' '$T/out'"
}

# Completion: source the script, set COMP_WORDS/COMP_CWORD as bash does, call the function.
complete_words() { # words...: prints COMPREPLY for the last word (or word $CW)
    CW=${CW:-} bash -c '
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=${CW:-$((${#COMP_WORDS[@]} - 1))}; COMPREPLY=()
        _runbook; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " " | sed "s/ $//"
    ' _ "$tmp/runbook.bash" "$@"
}
t_completion() {
    rb completion bash
    check "completion: bash script printed" eq "$code" 0
    cp "$T/out" "$tmp/runbook.bash"
    check "completion: bash script parses" bash -n "$tmp/runbook.bash"
    rb completion zsh
    check "completion: zsh script printed" has "$out" "#compdef runbook"
    check "completion: zsh has the conflicts from the table" has "$out" "'(-q --quiet -v --verbose)'{-q,--quiet}'[show only failures and the summary]'"
    if command -v zsh >/dev/null; then check "completion: zsh script parses" zsh -n "$T/out"; fi
    rb completion fish
    check "completion: an unknown shell is a usage error" eq "$code" 2

    # the scripts call `runbook` on PATH for names, run ids and inputs
    export PATH="$(dirname "$bin"):$PATH" RUNBOOK_PATH="$W"
    check "completion: commands" eq "$(complete_words runbook re)" "report resume"
    check "completion: a command's flags" eq "$(complete_words runbook validate -)" "--color --exclude --format --help --ignore --strict -h"
    check "completion: short forms" has " $(complete_words runbook run -) " " -q -v -y "
    check "completion: choices of a value" eq "$(complete_words runbook validate --format '')" "github json sarif text"
    check "completion: --color=VALUE split at '='" eq "$(complete_words runbook plan --color = al)" "always"
    check "completion: runbook names from RUNBOOK_PATH" eq "$(complete_words runbook plan ne)" "need"
    check "completion: --set input names of the named runbook" eq "$(complete_words runbook run need --set r)" "region="
    check "completion: --set before the runbook is named" eq "$(CW=3 complete_words runbook plan --set '' need)" "region="
    S=$tmp/state
    "$bin" run "$src/examples/hello.yaml" --state-dir "$S" >/dev/null 2>&1 </dev/null
    local id
    id=$(ls "$S/runs" 2>/dev/null | sed -n 's/\.jsonl$//p' | head -1)
    check "completion: a run to complete exists" test -n "$id"
    check "completion: run ids for resume (with --state-dir)" eq "$(complete_words runbook resume --state-dir "$S" '')" "$id"
    check "completion: help completes commands" eq "$(complete_words runbook help compl)" "completion"
    unset RUNBOOK_PATH
}

t_man() {
    rb man
    check "man: exit 0" eq "$code" 0
    check "man: a roff page" has "$out" ".TH RUNBOOK 1"
    check "man: each command" eq "$(grep -c '^\.SS ' "$T/out")" "$(grep -c . <<<"$("$bin" --help | sed -n '/^commands:/,/^$/p' | grep '^  [a-z]')")"
    check "man: options from the tables" has "$out" '\fB\-y\fR, \fB\-\-yes\fR'
    check "man: conflicts from the tables" has "$out" '(not with \-\-verbose)'
    check "man: exit status" has "$out" ".SH EXIT STATUS"
    if command -v groff >/dev/null; then
        "$bin" man | groff -man -Tutf8 -ww -z 2>"$T/err"
        check "man: groff reads it without warnings" eq "$(<"$T/err")" ""
        "$bin" man | MANWIDTH=100 man -l - 2>/dev/null >"$T/out"
        check "man: man -l renders the options" grep -q -- "-q, --quiet" "$T/out"
    fi
}

t_install() {
    local build=$(dirname "$bin")
    [[ -f $build/CMakeCache.txt ]] || { echo "skip: install (not a CMake build folder)"; return; }
    cmake --install "$build" --prefix "$tmp/prefix" >/dev/null 2>"$T/err"
    check "install: exit 0" eq "$?" 0
    local f
    for f in bin/runbook share/man/man1/runbook.1 share/bash-completion/completions/runbook \
        share/zsh/vendor-completions/_runbook share/runbook/runbook.schema.json lib/tmpfiles.d/runbook.conf; do
        check "install: $f" exists "$tmp/prefix/$f"
    done
    check "install: the installed page is the program's" cmp -s "$tmp/prefix/share/man/man1/runbook.1" <("$bin" man)
    check "install: the tmpfiles.d line makes the system lock folder root's, 1777" \
        grep -qx 'd /run/lock/runbook 1777 root root -' "$tmp/prefix/lib/tmpfiles.d/runbook.conf"
    # The Debian package (scripts/install-deps.sh installs dpkg-dev; RUNBOOK_TEST_DEB=0 skips it)
    if [[ ${RUNBOOK_TEST_DEB:-1} == 1 ]] && command -v dpkg-shlibdeps >/dev/null; then
        (cd "$build" && cpack -G DEB -B "$tmp/deb" >/dev/null 2>&1)
        local deb=$(ls "$tmp"/deb/*.deb 2>/dev/null | head -1)
        check "deb: built" test -n "$deb"
        dpkg-deb -c "$deb" >"$T/out"
        check "deb: the binary" grep -q './usr/bin/runbook$' "$T/out"
        check "deb: the man page" grep -q './usr/share/man/man1/runbook.1' "$T/out"
        check "deb: the completions" grep -q './usr/share/bash-completion/completions/runbook$' "$T/out"
        check "deb: the tmpfiles.d line" grep -q './usr/lib/tmpfiles.d/runbook.conf$' "$T/out"
        check "deb: depends on the libraries" bash -c "dpkg-deb -f '$deb' Depends | grep -q libyaml"
        dpkg-deb -e "$deb" "$T/control"
        check "deb: a postinst that makes the lock folder, executable" \
            bash -c "test -x '$T/control/postinst' && grep -q 'systemd-tmpfiles --create' '$T/control/postinst' && sh -n '$T/control/postinst'"
    fi
}

t_plan_totals
t_validate_folders
t_options
t_colour
t_completion
t_man
t_install

echo "conventions: $pass passed, $fail failed"
((fail == 0))
