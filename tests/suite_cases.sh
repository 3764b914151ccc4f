#!/usr/bin/env bash
# Data-driven CLI cases: each tests/cases/NAME.yaml runs through `runbook ARGS NAME.yaml` (from
# inside tests/cases) and NAME.expect says what must come out:
#   args: validate --strict      the command line before the file (default: validate)
#   exit: N                      the exit code (default 0)
#   errors: N                    the exact number of "error:" diagnostics
#   LINE:COL: error: TEXT        a diagnostic at that place whose message contains TEXT
#   LINE:COL: warning: TEXT      the same for a warning
#   out: TEXT                    some line of the output contains TEXT
#   not: TEXT                    no line of the output contains TEXT
#   schema: invalid|valid        read by suite_schema.sh only
set -u
bin=$1 src=$2
cd "$src/tests/cases" || exit 1
pass=0 fail=0
check() { # name, condition-text, command...
    local name=$1 what=$2; shift 2
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $name: $what"; fi
}
has_diag() { # output, file, line:col, severity, text
    grep -F -- "$2:$3: $4:" <<<"$1" | grep -qF -- "$5"
}
for expect in *.expect; do
    name=${expect%.expect}
    file=$name.yaml
    [[ -f $file ]] || file=$(ls "$name".* 2>/dev/null | grep -v '\.expect$' | head -1)
    args=$(sed -n 's/^args: //p' "$expect" | head -1)
    want_exit=$(sed -n 's/^exit: //p' "$expect" | head -1)
    read -r -a argv <<<"${args:-validate}"
    out=$(RUNBOOK_PATH=. NO_COLOR=1 timeout 60 "$bin" "${argv[@]}" "$file" 2>&1)
    code=$?
    check "$name" "exit $code, expected ${want_exit:-0}
$out" test "$code" = "${want_exit:-0}"
    while IFS= read -r line; do
        case $line in
        errors:*)
            n=$(grep -c ": error: " <<<"$out")
            check "$name" "expected ${line#errors: } errors, got $n
$out" test "$n" = "${line#errors: }" ;;
        out:*) check "$name" "output lacks '${line#out: }'
$out" grep -qF -- "${line#out: }" <<<"$out" ;;
        not:*) check "$name" "output has '${line#not: }'" bash -c '! grep -qF -- "$1" <<<"$2"' _ "${line#not: }" "$out" ;;
        [0-9]*:[0-9]*:\ *)
            pos=${line%%: *} rest=${line#*: } sev=${rest%%: *} text=${rest#*: }
            check "$name" "no $sev at $pos containing '$text'
$out" has_diag "$out" "$file" "$pos" "$sev" "$text" ;;
        esac
    done <"$expect"
done
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
