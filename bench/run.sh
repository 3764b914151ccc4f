#!/usr/bin/env bash
# The validate benchmark: `runbook validate` against a libyaml-events-only floor (yaml_events.c)
# and against Python's yaml.safe_load + jsonschema (py_validate.py), on generated runbooks.
# See bench/README.md. Usage: bash bench/run.sh
#
# Knobs (environment):
#   RUNS=5        timed runs of each C command (median reported), after 1 warm-up run
#   PY_RUNS=3     timed runs of the Python pair (no warm-up: the files are already in the page
#                 cache from the validity check)
#   PY_FILES=20   how many of the 100 files the Python pair reads (it takes ~1.5 s a file);
#                 its ratio is taken against `runbook validate` timed on the same files.
#                 PY_FILES=100 runs it on all of them (~2.5 min a run: use PY_RUNS=1).
#   RUNBOOK=path  use this runbook binary instead of building build-bench/runbook
#   HYPERFINE=0   time with a bash loop (date +%s.%N) even when hyperfine is installed
#   KEEP=1        keep the generated files (their folder is printed)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build-bench"
RUNS=${RUNS:-5}
PY_RUNS=${PY_RUNS:-3}
NFILES=100
NSTEPS=1000
BIGSTEPS=10000
PY_FILES=${PY_FILES:-20}
PY=/usr/bin/python3
SCHEMA="$ROOT/schema/runbook.schema.json"

die() { echo "bench: FAIL: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

(( PY_FILES >= 1 && PY_FILES <= NFILES )) || die "PY_FILES must be 1..$NFILES"

# ---- tools: install what is missing when we are root (Debian), else fall back or fail ----
need_pkgs=()
command -v hyperfine >/dev/null || need_pkgs+=(hyperfine)
[ -x /usr/bin/time ] || need_pkgs+=(time)
command -v pkg-config >/dev/null || need_pkgs+=(pkg-config)
pkg-config --exists yaml-0.1 2>/dev/null || need_pkgs+=(libyaml-dev)
[ -x "$PY" ] && "$PY" -c 'import yaml' 2>/dev/null || need_pkgs+=(python3-yaml)
[ -x "$PY" ] && "$PY" -c 'import jsonschema' 2>/dev/null || need_pkgs+=(python3-jsonschema)
if ((${#need_pkgs[@]})); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing ${need_pkgs[*]}"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    else
        say "missing ${need_pkgs[*]} and not root: falling back where possible"
    fi
fi
pkg-config --exists yaml-0.1 || die "libyaml's development files (libyaml-dev) are missing"
"$PY" -c 'import yaml, jsonschema; jsonschema.Draft202012Validator' ||
    die "Debian's python3-yaml and python3-jsonschema (with Draft202012Validator) are needed"
[ -f "$SCHEMA" ] || die "no schema at $SCHEMA"

# ---- build ----
if [ -z "${RUNBOOK:-}" ]; then
    say "building $BUILD/runbook (Release)"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" --target runbook -j2 >/dev/null || die "the runbook build failed"
    RUNBOOK="$BUILD/runbook"
fi
[ -x "$RUNBOOK" ] || die "no runbook binary at $RUNBOOK"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/runbook-bench.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
    say "keeping generated files in $TMP"
else
    trap 'rm -rf "$TMP"' EXIT
fi
cc -O2 -o "$TMP/yaml_events" "$ROOT/bench/yaml_events.c" $(pkg-config --cflags --libs yaml-0.1)

# ---- generate, and check that the runbooks are valid and lint-clean ----
say "generating $NFILES runbooks of $NSTEPS steps and one of $BIGSTEPS steps in $TMP"
"$PY" "$ROOT/bench/gen_runbooks.py" "$TMP/files" "$NFILES" "$NSTEPS" bench-
"$PY" "$ROOT/bench/gen_runbooks.py" "$TMP/big" 1 "$BIGSTEPS" big-
FILES=("$TMP"/files/*.yaml)
BIG="$TMP/big/big-000.yaml"
PYSET=("${FILES[@]:0:PY_FILES}")
[ "${#FILES[@]}" = "$NFILES" ] || die "expected $NFILES generated files, found ${#FILES[@]}"
BYTES=$(cat "${FILES[@]}" | wc -c)
BIGBYTES=$(wc -c <"$BIG")

# --strict turns lint warnings into errors: exit 0 means no error and no warning.
if ! "$RUNBOOK" validate --strict "${FILES[@]}" "$BIG" >"$TMP/validate.out" 2>&1; then
    tail -20 "$TMP/validate.out" >&2
    die "runbook validate --strict rejects the generated runbooks (above): fix bench/gen_runbooks.py or the validator"
fi
"$TMP/yaml_events" "${FILES[@]}" "$BIG" || die "yaml_events failed on the generated runbooks"
"$PY" "$ROOT/bench/py_validate.py" "$SCHEMA" "${FILES[0]}" "$BIG" ||
    die "the schema rejects the generated runbooks (above)"
say "validity: $(tail -1 "$TMP/validate.out")"

# ---- timing: median of RUNS runs ----
# median_of NAME RUNS WARMUP CMD...: prints the median wall time in seconds
median_of() {
    local name=$1 runs=$2 warmup=$3
    shift 3
    if [ "${HYPERFINE:-1}" = 1 ] && command -v hyperfine >/dev/null; then
        local q cmd=""
        for q in "$@"; do cmd+=" $(printf '%q' "$q")"; done
        hyperfine --style none --warmup "$warmup" --runs "$runs" --export-json "$TMP/$name.json" "$cmd" >/dev/null 2>&1 ||
            die "$name: the timed command failed"
        "$PY" -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["results"][0]["median"])' "$TMP/$name.json"
    else
        local i t0 t1 times=()
        for ((i = 0; i < warmup; i++)); do
            "$@" >/dev/null 2>&1 || die "$name: the timed command failed"
        done
        for ((i = 0; i < runs; i++)); do
            t0=$(date +%s.%N)
            "$@" >/dev/null 2>&1 || die "$name: the timed command failed"
            t1=$(date +%s.%N)
            times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}')")
        done
        printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {m = NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.4f\n", m}'
    fi
}

# peak_kib CMD...: peak resident memory (KiB) of one run
peak_kib() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f %M -o "$TMP/peak" "$@" >/dev/null 2>&1 || die "peak: $1 failed"
        tail -1 "$TMP/peak"
    else
        "$PY" -c 'import resource,subprocess,sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
    fi
}

say "timing ($RUNS runs each; the Python pair $PY_RUNS runs on $PY_FILES files)"
t_yaml=$(median_of yaml_events "$RUNS" 1 "$TMP/yaml_events" "${FILES[@]}")
t_val=$(median_of validate "$RUNS" 1 "$RUNBOOK" validate "${FILES[@]}")
t_yaml_big=$(median_of yaml_events_big "$RUNS" 1 "$TMP/yaml_events" "$BIG")
t_val_big=$(median_of validate_big "$RUNS" 1 "$RUNBOOK" validate "$BIG")
t_py=$(median_of python "$PY_RUNS" 0 "$PY" "$ROOT/bench/py_validate.py" "$SCHEMA" "${PYSET[@]}")
if ((PY_FILES == NFILES)); then
    t_val_py=$t_val
else
    t_val_py=$(median_of validate_pyset "$RUNS" 1 "$RUNBOOK" validate "${PYSET[@]}")
fi

say "peak memory"
m_val_big=$(peak_kib "$RUNBOOK" validate "$BIG")
m_val=$(peak_kib "$RUNBOOK" validate "${FILES[@]}")
m_yaml_big=$(peak_kib "$TMP/yaml_events" "$BIG")
m_py_big=$(peak_kib "$PY" "$ROOT/bench/py_validate.py" "$SCHEMA" "$BIG")

# ---- report ----
"$PY" - "$NFILES" "$NSTEPS" "$BIGSTEPS" "$BYTES" "$BIGBYTES" "$PY_FILES" "$t_yaml" "$t_val" "$t_py" \
    "$t_val_py" "$t_yaml_big" "$t_val_big" "$m_val_big" "$m_val" "$m_yaml_big" "$m_py_big" "$RUNS" "$PY_RUNS" <<'EOF'
import sys
a = sys.argv[1:]
nf, ns, nb, by, bb, pyf = (int(x) for x in a[0:6])
ty, tv, tp, tvp, tyb, tvb = (float(x) for x in a[6:12])
mvb, mv, myb, mpb = (int(x) for x in a[12:16])
runs, pyruns = a[16], a[17]
mb = by / 1e6
print("runbook validate benchmark: %d files x %d steps (%.1f MB), and 1 file x %d steps (%.1f MB)"
      % (nf, ns, mb, nb, bb / 1e6))
print("median wall time of %s runs (the Python pair: %s runs)" % (runs, pyruns))
print()
print("%-44s %10s %10s" % ("command", "time (s)", "MB/s"))
def row(name, t, size):
    print("%-44s %10.3f %10.1f" % (name, t, size / 1e6 / t))
row("yaml_events (libyaml events only), 100 files", ty, by)
row("runbook validate, 100 files", tv, by)
row("yaml_events, 10,000-step file", tyb, bb)
row("runbook validate, 10,000-step file", tvb, bb)
pyb = by * pyf // nf
if pyf != nf:
    row("runbook validate, first %d files" % pyf, tvp, pyb)
row("yaml.safe_load + jsonschema, %s%d files" % ("" if pyf == nf else "first ", pyf), tp, pyb)
print()
print("%-44s %10s" % ("peak memory", "MiB"))
for name, k in (("runbook validate, 10,000-step file", mvb), ("runbook validate, 100 files", mv),
                ("yaml_events, 10,000-step file", myb), ("yaml.safe_load + jsonschema, 10,000-step file", mpb)):
    print("%-44s %10.1f" % (name, k / 1024))
print()
r_floor, r_py, r_floor_big = tv / ty, tp / tvp, tvb / tyb
ok = lambda b: "met" if b else "NOT MET"
print("validate / libyaml floor, 100 files:   %6.2fx   (target <= 1.5x: %s)" % (r_floor, ok(r_floor <= 1.5)))
print("validate / libyaml floor, 10,000 steps: %6.2fx" % r_floor_big)
print("Python pair / validate, %3d files:      %6.1fx   (target >= 30x: %s)" % (pyf, r_py, ok(r_py >= 30)))
print("peak memory, 10,000-step file:         %6.1f MiB (target <= 64 MiB: %s)" % (mvb / 1024, ok(mvb <= 64 * 1024)))
EOF
