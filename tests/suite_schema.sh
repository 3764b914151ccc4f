#!/usr/bin/env bash
# Schema agreement: schema/runbook.schema.json and `runbook validate` must agree.
#
#   bash tests/suite_schema.sh RUNBOOK_BINARY SOURCE_DIR        (ctest runs it this way)
#
# Files: runbooks/*.yaml, examples/*.yaml, tests/cases/*.yaml, tests/bad/*.yaml (and *.yml).
# Each file is checked against the schema (tests/schema/check.mjs, ajv + the `yaml` npm package) and
# with `runbook validate FILE` (exit 0 valid, 1 invalid). Counted checks:
#   (0) `runbook validate` ends with 0 or 1 (no crash, no hang) on every file;
#   (a) every file `runbook validate` accepts, the schema accepts (the schema never rejects a valid
#       runbook);
#   (b) every case whose .expect has a line `schema: invalid` is rejected by both;
#   (c) every runbook and example of the repo is accepted by both;
#   plus one check that the schema compiles in ajv's strict mode with a description on every property.
# tests/bad files (refused by the loader: bad UTF-8, duplicate keys, tags... which the npm YAML parser
# may read differently) count only under (0) and (a).
#
# The npm packages are installed with `npm ci` into a folder beside the binary (schema-check/), so the
# source tree stays clean; set RUNBOOK_SCHEMA_WORKDIR to use another folder. Needs node >= 18 and npm.
# One line per failing check, then `N passed, M failed`; exit 1 on any failure.
set -u

if [ $# -ne 2 ]; then
    echo "usage: bash tests/suite_schema.sh RUNBOOK_BINARY SOURCE_DIR" >&2
    exit 2
fi
bin=$1
src=$(cd "$2" && pwd) || { echo "suite_schema: no source folder $2" >&2; exit 2; }
schema=$src/schema/runbook.schema.json

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
finish() {
    printf '%d passed, %d failed\n' "$passed" "$failed"
    [ "$failed" -eq 0 ]
    exit $?
}
# A fatal setup problem: one failed check, then the summary.
abort() {
    fail "$*"
    finish
}

# ---- tools
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    abort "setup: node and npm are needed for the schema suite (apt-get install nodejs npm; CI installs them)"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 18 ] 2>/dev/null; then
    abort "setup: node >= 18 is needed for the schema suite, found $(node --version 2>/dev/null)"
fi
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
if [ ! -x "$bin" ]; then
    abort "setup: runbook binary not found or not executable: $bin (build it first)"
fi
if [ ! -f "$schema" ]; then
    abort "setup: no schema at $schema"
fi

# ---- npm packages, installed once per lockfile into a work folder
work=${RUNBOOK_SCHEMA_WORKDIR:-$(dirname "$bin")/schema-check}
mkdir -p "$work" || abort "setup: cannot create $work"
cp "$src/tests/schema/check.mjs" "$src/tests/schema/package.json" "$work/" ||
    abort "setup: cannot copy tests/schema into $work"
if [ ! -d "$work/node_modules/ajv" ] || [ ! -d "$work/node_modules/yaml" ] ||
    ! cmp -s "$src/tests/schema/package-lock.json" "$work/package-lock.json"; then
    cp "$src/tests/schema/package-lock.json" "$work/" || abort "setup: cannot copy package-lock.json"
    if ! (cd "$work" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >npm-ci.log 2>&1); then
        tail -n 20 "$work/npm-ci.log" | sed 's/^/  npm: /'
        rm -rf "$work/node_modules"
        abort "setup: npm ci failed in $work (is the npm registry reachable?)"
    fi
fi

# ---- the schema itself
lint_out=$(cd "$work" && timeout 120 node check.mjs --lint-schema "$schema" 2>&1)
if [ $? -eq 0 ]; then
    pass
else
    printf '%s\n' "$lint_out" | sed 's/^/  /'
    fail "schema: $schema does not compile in strict mode or lacks descriptions"
    finish
fi

# ---- the files
shopt -s nullglob
repo_files=("$src"/runbooks/*.yaml "$src"/runbooks/*.yml "$src"/examples/*.yaml "$src"/examples/*.yml)
case_files=("$src"/tests/cases/*.yaml "$src"/tests/cases/*.yml)
bad_files=("$src"/tests/bad/*.yaml "$src"/tests/bad/*.yml)
shopt -u nullglob
all_files=("${repo_files[@]}" "${case_files[@]}" "${bad_files[@]}")
if [ ${#all_files[@]} -eq 0 ]; then
    echo "suite_schema: no runbooks, examples or cases found under $src"
    finish
fi

tmp=$(mktemp -d) || abort "setup: mktemp failed"
trap 'rm -rf "$tmp"' EXIT

# One node process for every file: the schema is compiled once.
(cd "$work" && timeout 300 node check.mjs "$schema" "${all_files[@]}") >"$tmp/schema.out" 2>"$tmp/schema.err"
rc=$?
declare -A verdict
if [ $rc -eq 0 ] || [ $rc -eq 1 ]; then
    while IFS=$'\t' read -r file result; do
        verdict[$file]=$result
    done <"$tmp/schema.out"
else
    # A file made the checker itself die (a hostile tests/bad file, say): check them one by one.
    echo "note: the schema check of all files ended with status $rc; checking file by file"
    sed 's/^/  /' "$tmp/schema.err" | head -n 5
    for f in "${all_files[@]}"; do
        line=$(cd "$work" && timeout 60 node check.mjs "$schema" "$f" 2>/dev/null | head -n 1)
        frc=${PIPESTATUS[0]}
        result=${line#*$'\t'}
        if [ -n "$line" ] && [ "$result" != "$line" ]; then
            verdict[$f]=$result
        else
            verdict[$f]="invalid: the schema check failed on this file (status $frc)"
        fi
    done
fi

rel() { printf '%s' "${1#"$src"/}"; }
is_in() { # is_in FILE ARRAY...
    local f=$1 x
    shift
    for x in "$@"; do [ "$x" = "$f" ] && return 0; done
    return 1
}

for f in "${all_files[@]}"; do
    r=$(rel "$f")
    sv=${verdict[$f]:-}
    if [ -z "$sv" ]; then
        fail "(schema) $r: the schema check printed no verdict"
        continue
    fi
    # `runbook validate`, bounded; called runbooks are looked up beside the file, then in runbooks/.
    dir=$(dirname "$f")
    rp=$dir
    [ "$dir" != "$src/runbooks" ] && rp=$dir:$src/runbooks
    (cd "$src" && RUNBOOK_PATH=$rp timeout -k 5 30 "$bin" validate "$f") </dev/null >"$tmp/v.out" 2>&1
    vrc=$?
    first_error=$(grep -m1 -E ': error: ' "$tmp/v.out" | cut -c1-300)
    [ -n "$first_error" ] || first_error=$(head -n1 "$tmp/v.out" | cut -c1-300)

    # (0) validate terminates with 0 or 1
    if [ $vrc -ne 0 ] && [ $vrc -ne 1 ]; then
        if [ $vrc -eq 124 ] || [ $vrc -eq 137 ]; then
            fail "(0) $r: runbook validate did not finish in 30 s"
        else
            fail "(0) $r: runbook validate exited $vrc (expected 0 or 1): $first_error"
        fi
        continue
    fi
    pass

    # (a) accepted by validate => accepted by the schema
    if [ $vrc -eq 0 ]; then
        if [ "$sv" = valid ]; then pass; else fail "(a) $r: runbook validate accepts it, the schema does not: $sv"; fi
    fi

    # tests/bad files count only under (0) and (a)
    is_in "$f" "${bad_files[@]}" && continue

    # (b) `schema: invalid` in the .expect => rejected by both
    expect=${f%.*}.expect
    if [ -f "$expect" ] && grep -qE '^schema:[[:space:]]*invalid[[:space:]]*$' "$expect"; then
        if [ $vrc -eq 1 ] && [ "$sv" != valid ]; then
            pass
        elif [ $vrc -eq 0 ]; then
            fail "(b) $r: marked 'schema: invalid' but runbook validate accepts it"
        else
            fail "(b) $r: marked 'schema: invalid' but the schema accepts it (validate: $first_error)"
        fi
    elif [ -n "${RUNBOOK_SCHEMA_VERBOSE:-}" ] && [ $vrc -eq 1 ] && [ "$sv" != valid ]; then
        echo "note: $r: rejected by both; its .expect could say 'schema: invalid' ($sv)"
    fi

    # (c) the repo's runbooks and examples are accepted by both
    if is_in "$f" "${repo_files[@]}"; then
        if [ $vrc -eq 0 ] && [ "$sv" = valid ]; then
            pass
        elif [ $vrc -ne 0 ]; then
            fail "(c) $r: runbook validate rejects it: $first_error"
        else
            fail "(c) $r: the schema rejects it: $sv"
        fi
    fi
done

finish
