# Helpers the CLI suites share (sourced, not run): counted checks that print what they saw when
# they fail, and small predicates that say why they did not hold. A suite sets pass=0 fail=0 and
# T (the scratch folder of the current test, holding the last command's out and err files).

check() { # description, command...: passes when the command succeeds
    local what=$1
    shift
    if "$@"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $what"
        [[ -f ${T:-}/out ]] && sed 's/^/    out: /' "$T/out" | tail -15 && sed 's/^/    err: /' "$T/err" | grep -v warning | tail -8
    fi
}
eq() { [[ "$1" == "$2" ]] || { echo "    got '$1', want '$2'"; return 1; }; }
has() { grep -qF -- "$2" <<<"$1" || { echo "    no '$2' in the output"; return 1; }; }
lacks() { ! grep -qF -- "$2" <<<"$1" || { echo "    '$2' is in the output"; return 1; }; }
exists() { [[ -e $1 || -L $1 ]] || { echo "    $1 does not exist"; return 1; }; }
absent() { [[ ! -e $1 ]] || { echo "    $1 exists"; return 1; }; }
# A file's lines joined by spaces ("" when it does not exist).
lines() { if [[ -f $1 ]]; then tr '\n' ' ' <"$1" | sed 's/ $//'; fi; }
# The run id a `runbook run` printed into file $1.
run_id_of() { sed -n 's/^\(Dry run\|Run\) \([^ ]*\) (journal: .*/\2/p' "$1" | head -1; }

# A suite's scratch folder $work, private machine-wide lock folder, and sanitizer reports of every
# process it starts written there; removed at exit with the background processes listed in bgpids.
suite_work() { # name
    work=$(mktemp -d "${TMPDIR:-/tmp}/rb-$1.XXXXXX")
    export RUNBOOK_LOCK_DIR=$work/system-locks NO_COLOR=1
    export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}log_path=$work/sanitizer"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}${UBSAN_OPTIONS:+:}log_path=$work/sanitizer"
    unset XDG_STATE_HOME
    pass=0 fail=0
    bgpids=()
    trap suite_cleanup EXIT
}
suite_cleanup() {
    local p
    for p in "${bgpids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$work"
}
# The last check of a suite: no process wrote a sanitizer report (shown when one did).
no_sanitizer_reports() {
    T=$work
    check "no sanitizer report from any process" bash -c "! ls '$work' | grep -q '^sanitizer'"
    ls "$work" | grep -q '^sanitizer' && head -n 40 "$work"/sanitizer* # which process, and where
}
# Polls until the command succeeds (every 50 ms, at most the given seconds).
wait_until() { # seconds, command...
    local n=$(($1 * 20))
    shift
    while ((n-- > 0)); do
        "$@" && return 0
        sleep 0.05
    done
    return 1
}
