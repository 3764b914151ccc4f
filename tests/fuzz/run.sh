#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for SECONDS (default 30) on a copy of its
# corpus (tests/fuzz/corpus/NAME), so a run never grows the repository.
#   tests/fuzz/run.sh [SECONDS]
# Environment: CC (default clang), RUNBOOK_FUZZ_BUILD (build dir, default build-fuzz in the
# source tree), FUZZ_TARGETS (default: every target built), FUZZ_ARGS (extra libFuzzer flags).
# Exits non-zero when a target crashes (or leaks, times out, runs out of memory); the inputs
# that did it are kept under $RUNBOOK_FUZZ_BUILD/findings/NAME/ and their paths printed.
set -euo pipefail

secs=${1:-30}
[[ $secs =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${RUNBOOK_FUZZ_BUILD:-$root/build-fuzz}
cc=${CC:-clang}
command -v "$cc" >/dev/null || { echo "$0: $cc not found (libFuzzer needs clang)" >&2; exit 2; }

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DRUNBOOK_FUZZ=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if [[ -n ${FUZZ_TARGETS:-} ]]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    targets=(fuzz_load)
    [[ -f $here/fuzz_expr.c ]] && targets+=(fuzz_expr)
    [[ -f $here/fuzz_shell.c ]] && targets+=(fuzz_shell)
fi
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}"

work=$(mktemp -d "${TMPDIR:-/tmp}/runbook-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=0
for target in "${targets[@]}"; do
    name=${target#fuzz_}
    corpus=$work/corpus-$name findings=$build/findings/$name
    mkdir -p "$corpus" "$findings"
    if [[ -d $here/corpus/$name ]]; then
        cp -R "$here/corpus/$name/." "$corpus/"
    fi
    dict=()
    [[ -f $here/$name.dict ]] && dict=(-dict="$here/$name.dict")
    echo "== $target: ${secs}s on a copy of tests/fuzz/corpus/$name"
    log=$work/$name.log
    set +e
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    "$build/tests/fuzz/$target" "$corpus" ${dict[@]+"${dict[@]}"} -max_total_time="$secs" \
        -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$findings/" ${FUZZ_ARGS:-} >"$log" 2>&1
    rc=$?
    set -e
    if [[ $rc -ne 0 ]]; then
        status=1
        tail -n 200 "$log"
        echo "!! $target failed (exit $rc); inputs kept in $findings:" >&2
        ls -1 "$findings" >&2 || true
    else
        grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || tail -n 5 "$log"
        echo "   corpus: $(find "$corpus" -type f | wc -l) inputs after the run"
    fi
done
exit $status
