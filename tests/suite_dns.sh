#!/usr/bin/env bash
# The dns action through the command line, against two loopback resolvers (tests/servers/dnsd.py)
# and a silent one: a step with retry polls until a zone change reaches every resolver (by the
# judge's expect.value, and by retry.until over the outputs), gives up when it never does, reads
# its outputs by server in a later step, and times out on a resolver that never answers.
#   bash tests/suite_dns.sh BINARY SOURCE_DIR
set -u
bin=$(realpath "$1") src=$(realpath "$2")
. "$src/tests/lib.sh" # check, eq, has, lacks, exists, absent, lines, run_id_of
work=$(mktemp -d "${TMPDIR:-/tmp}/rb-dns.XXXXXX")
export RUNBOOK_LOCK_DIR=$work/system-locks # the machine-wide lock folder, private to this suite
export NO_COLOR=1
unset XDG_STATE_HOME
pass=0 fail=0
bgpids=()
cleanup() {
    local p
    for p in "${bgpids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
# Debian's python3 has python3-dnslib; a python3 earlier in PATH (pyenv) may not.
py=/usr/bin/python3
[[ -x $py ]] || py=python3

# ---- helpers (as in suite_exec.sh) ----

begin() { T=$work/$1 S=$work/$1/state; mkdir -p "$T"; }
rb() {
    timeout -k 5 60 "$bin" "$@" </dev/null >"$T/out" 2>"$T/err"
    code=$?
    out=$(<"$T/out") err=$(<"$T/err")
    rid=$(sed -n 's/^\(Dry run\|Run\) \([^ ]*\) (journal: .*/\2/p' "$T/out" | head -1)
}
# Attempts of a step, from the run's journal.
attempts() {
    "$bin" journal "$1" --state-dir "$S" --format json 2>/dev/null |
        "$py" -c 'import json,sys; print(sum(1 for l in sys.stdin if l.strip() and json.loads(l).get("type")=="attempt_start" and json.loads(l).get("step")==sys.argv[1]))' "$2"
}
ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- resolvers ----

# zone FILE ADDRESS: www.example.test answers ADDRESS (written whole, then renamed)
zone() {
    printf '{"records": ["www.example.test. 60 IN A %s"]}\n' "$2" >"$1.tmp" && mv "$1.tmp" "$1"
}
start() { # name, zone file, extra args...: starts dnsd, sets port_<name>
    local name=$1 zf=$2
    shift 2
    "$py" "$src/tests/servers/dnsd.py" --zone "$zf" --portfile "$work/$name.port" "$@" >/dev/null &
    bgpids+=($!)
    local n=100
    while ((n-- > 0)) && [[ ! -s $work/$name.port ]]; do sleep 0.05; done
    printf -v "port_$name" '%s' "$(cat "$work/$name.port" 2>/dev/null)"
}
zone "$work/a.json" 192.0.2.7
zone "$work/b.json" 192.0.2.9
start a "$work/a.json"
start b "$work/b.json"
start silent "$work/a.json" --silent
if [[ -z ${port_a:-} || -z ${port_b:-} || -z ${port_silent:-} ]]; then
    echo "FAIL: the test resolvers did not start (python3-dnslib missing?)"
    echo "0 passed, 1 failed"
    exit 1
fi
A=127.0.0.1:$port_a B=127.0.0.1:$port_b SILENT=127.0.0.1:$port_silent

cat >"$work/propagate.yaml" <<'YAML'
runbook: propagate
version: 1
title: Wait until www has moved on both resolvers
inputs:
  a: { type: string }
  b: { type: string }
  attempts: { type: int, default: 20 }
steps:
  - id: moved
    dns: { name: www.example.test, servers: ["${{ inputs.a }}", "${{ inputs.b }}"] }
    timeout: 2s
    retry: { attempts: "${{ inputs.attempts }}", delay: 200ms }
    expect: { value: 192.0.2.7 }
  - id: seen
    assert: "steps.moved.answers[inputs.b][0] == '192.0.2.7' && steps.moved.rcode[inputs.a] == 'NOERROR'"
YAML

cat >"$work/until.yaml" <<'YAML'
runbook: until
version: 1
title: Poll with retry.until over the answers of one resolver
inputs:
  b: { type: string }
steps:
  - id: poll
    dns: { name: www.example.test, type: A, servers: ["${{ inputs.b }}"] }
    timeout: 2s
    retry: { attempts: 20, delay: 200ms, until: "${{ steps.poll.answers[inputs.b][0] == '192.0.2.7' }}" }
YAML

cat >"$work/silent.yaml" <<'YAML'
runbook: silent
version: 1
title: A resolver that never answers
inputs:
  s: { type: string }
steps:
  - id: ask
    dns: { name: www.example.test, servers: ["${{ inputs.s }}"] }
    timeout: 1s
YAML

# ---- polling until propagated ----

t_expect_polls() {
    begin expect
    zone "$work/b.json" 192.0.2.9
    (sleep 1; zone "$work/b.json" 192.0.2.7) &
    local changer=$! t0 t1
    t0=$(ms)
    rb run "$work/propagate.yaml" --state-dir "$S" --set "a=$A" --set "b=$B"
    t1=$(ms)
    wait "$changer"
    check "expect polls: the run succeeds once b has the new address" eq "$code" 0
    check "expect polls: it took the change's second ($((t1 - t0)) ms)" test $((t1 - t0)) -ge 900
    local n
    n=$(attempts "$rid" moved)
    check "expect polls: more than one attempt, fewer than all ($n)" test "${n:-0}" -gt 1 -a "${n:-0}" -lt 20
}

t_until_polls() {
    begin until
    zone "$work/b.json" 192.0.2.9
    (sleep 1; zone "$work/b.json" 192.0.2.7) &
    local changer=$!
    rb run "$work/until.yaml" --state-dir "$S" --set "b=$B"
    wait "$changer"
    check "until polls: the run succeeds" eq "$code" 0
    local n
    n=$(attempts "$rid" poll)
    check "until polls: more than one attempt ($n)" test "${n:-0}" -gt 1
}

t_never_propagates() {
    begin never
    zone "$work/b.json" 192.0.2.9
    rb run "$work/propagate.yaml" --state-dir "$S" --set "a=$A" --set "b=$B" --set attempts=3
    check "never: the run fails" test "$code" -ne 0
    check "never: all 3 attempts made" eq "$(attempts "$rid" moved)" 3
    check "never: the message names the resolver that differs" has "$out$err" "$B"
    check "never: and what it answered" has "$out$err" "192.0.2.9"
}

t_silent_times_out() {
    begin silent
    local t0 t1
    t0=$(ms)
    rb run "$work/silent.yaml" --state-dir "$S" --set "s=$SILENT"
    t1=$(ms)
    check "silent: the run fails" test "$code" -ne 0
    check "silent: at the step's timeout ($((t1 - t0)) ms)" test $((t1 - t0)) -ge 900 -a $((t1 - t0)) -lt 5000
    check "silent: journaled as timed_out" has "$("$bin" journal "$rid" --state-dir "$S" --format json 2>/dev/null)" '"timed_out"'
}

t_expect_polls
t_until_polls
t_never_propagates
t_silent_times_out
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
