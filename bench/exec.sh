#!/usr/bin/env bash
# The executor benchmark: per-step overhead of `runbook run` (journal synced) against a shell loop
# running /bin/true and against Ansible running local command tasks; the cost of one fdatasync;
# 50 parallel one-second sleeps; peak memory. See bench/README.md. Usage: bash bench/exec.sh
#
# Knobs: RUNS=5 (medians of that many runs), ANSIBLE=1 (0 skips Ansible), RUNBOOK=path.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build-bench"
RUNS=${RUNS:-5}
ANSIBLE=${ANSIBLE:-1}
die() { echo "bench: FAIL: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

need=()
[ -x /usr/bin/time ] || need+=(time)
[ "$ANSIBLE" != 1 ] || command -v ansible-playbook >/dev/null || need+=(ansible)
if ((${#need[@]})) && [ "$(id -u)" = 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v ansible-playbook >/dev/null || { [ "$ANSIBLE" != 1 ] || die "ansible is missing (ANSIBLE=0 skips it)"; }

if [ -z "${RUNBOOK:-}" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target runbook >/dev/null
    RUNBOOK="$BUILD/runbook"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/fsync_cost" "$ROOT/bench/fsync_cost.c"

gen() { # name, steps, step line printer
    local name=$1 n=$2
    { printf 'runbook: %s\nversion: 1\ntitle: bench\nsteps:\n' "$name"
      for ((i = 0; i < n; i++)); do printf "  - {id: s%d, $3}\n" "$i"; done; } >"$work/$name.yaml"
}
gen true1000 1000 'exec: [/bin/true], effect: read'
gen true1 1 'exec: [/bin/true], effect: read'
gen sleep50 50 'needs: [], sleep: 1s'

# Median wall seconds of a command over RUNS runs.
median() {
    local t=()
    for ((r = 0; r < RUNS; r++)); do
        local s e
        s=$(date +%s.%N); "$@" >/dev/null 2>&1 || die "failed: $*"; e=$(date +%s.%N)
        t+=("$(echo "$e - $s" | bc -l)")
    done
    printf '%s\n' "${t[@]}" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"
}
run_rb() { rm -rf "$work/state"; "$RUNBOOK" run "$work/$1.yaml" --state-dir "$work/state" --quiet "${@:2}"; }
shell_loop() { for ((i = 0; i < 1000; i++)); do /bin/true; done; }

say "runbook: 1000 and 1 steps of /bin/true"
t1000=$(median run_rb true1000)
t1=$(median run_rb true1)
say "shell loop: /bin/true 1000 times"
tloop=$(median bash -c 'for ((i = 0; i < 1000; i++)); do /bin/true; done')
mkdir -p "$work/state"
fsync_ms=$("$work/fsync_cost" "$work/state" 500)
say "50 parallel sleeps of 1s with --jobs 50"
tpar=$(median run_rb sleep50 --jobs 50)
peak=$( { /usr/bin/time -f '%M' "$RUNBOOK" run "$work/true1000.yaml" --state-dir "$work/state2" --quiet >/dev/null; } 2>&1 | tail -1)

ans_task=""
if [ "$ANSIBLE" = 1 ]; then
    for n in 50 200; do
        { echo "- hosts: localhost"; echo "  connection: local"; echo "  gather_facts: false"; echo "  tasks:"
          for ((i = 0; i < n; i++)); do echo "    - command: /bin/true"; done; } >"$work/play$n.yml"
    done
    export ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_INVENTORY_UNPARSED_WARNING=False
    say "ansible: 50 and 200 local command tasks"
    ta50=$(RUNS=$(( RUNS < 3 ? RUNS : 3 )) median ansible-playbook -i localhost, "$work/play50.yml")
    ta200=$(RUNS=$(( RUNS < 3 ? RUNS : 3 )) median ansible-playbook -i localhost, "$work/play200.yml")
    ans_task=$(echo "($ta200 - $ta50) / 150 * 1000" | bc -l)
fi

step_ms=$(echo "($t1000 - $t1) / 999 * 1000" | bc -l)
loop_ms=$(echo "$tloop / 1000 * 1000" | bc -l)
budget=$(echo "$loop_ms + $fsync_ms + 0.2" | bc -l)
printf '\n%-52s %10s\n' "measure" "value"
printf '%-52s %10.3f ms\n' "runbook per-step overhead ((T1000 - T1) / 999)" "$step_ms"
printf '%-52s %10.3f ms\n' "shell loop, per /bin/true" "$loop_ms"
printf '%-52s %10.3f ms\n' "one 200-byte write + fdatasync (median of 500)" "$fsync_ms"
printf '%-52s %10.3f ms  -> %s\n' "target: loop + fdatasync + 0.2 ms" "$budget" \
    "$(echo "$step_ms <= $budget" | bc -l | sed 's/1/met/;s/0/NOT met/')"
if [ -n "$ans_task" ]; then
    printf '%-52s %10.1f ms\n' "ansible per task ((T200 - T50) / 150)" "$ans_task"
    printf '%-52s %10.1f x  -> %s\n' "ansible / runbook per-step overhead (target >= 100)" \
        "$(echo "$ans_task / $step_ms" | bc -l)" "$(echo "$ans_task / $step_ms >= 100" | bc -l | sed 's/1/met/;s/0/NOT met/')"
fi
printf '%-52s %10.3f s   -> %s\n' "50 parallel sleep 1s, --jobs 50 (target < 1.5 s)" "$tpar" \
    "$(echo "$tpar < 1.5" | bc -l | sed 's/1/met/;s/0/NOT met/')"
printf '%-52s %10.1f MiB -> %s\n' "peak memory, 1000-step run (target < 32 MiB)" "$(echo "$peak / 1024" | bc -l)" \
    "$(echo "$peak < 32768" | bc -l | sed 's/1/met/;s/0/NOT met/')"
