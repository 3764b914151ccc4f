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

# ---- timing ----
# timed NAME RUNS WARMUP CMD...: prints "WALL CPU": the median wall time and the mean user+system
# CPU time of one run, in seconds. The targets are judged on the CPU time: it barely moves when
# other work on the machine takes the cores; the wall time does (see README).
timed() {
    local name=$1 runs=$2 warmup=$3
    shift 3
    if [ "${HYPERFINE:-1}" = 1 ] && command -v hyperfine >/dev/null; then
        local q cmd=""
        for q in "$@"; do cmd+=" $(printf '%q' "$q")"; done
        hyperfine --style none --warmup "$warmup" --runs "$runs" --export-json "$TMP/$name.json" "$cmd" \
            >/dev/null 2>&1 || die "$name: the timed command failed"
        "$PY" -c 'import json,sys
r = json.load(open(sys.argv[1]))["results"][0]
print("%.4f %.4f" % (r["median"], r["user"] + r["system"]))' "$TMP/$name.json"
        return
    fi
    local i t0 t1 walls=() cpus=()
    for ((i = 0; i < warmup; i++)); do
        "$@" >/dev/null 2>&1 || die "$name: the timed command failed"
    done
    for ((i = 0; i < runs; i++)); do
        t0=$(date +%s.%N)
        if [ -x /usr/bin/time ]; then
            /usr/bin/time -f '%U %S' -o "$TMP/cpu" "$@" >/dev/null 2>&1 || die "$name: the timed command failed"
        else
            "$@" >/dev/null 2>&1 || die "$name: the timed command failed"
        fi
        t1=$(date +%s.%N)
        walls+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}')")
        if [ -x /usr/bin/time ]; then
            cpus+=("$(tail -1 "$TMP/cpu" | awk '{printf "%.2f", $1 + $2}')")
        else
            cpus+=("${walls[-1]}")
        fi
    done
    local wall cpu
    wall=$(printf '%s\n' "${walls[@]}" | sort -g |
        awk '{a[NR]=$1} END {printf "%.4f", NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
    cpu=$(printf '%s\n' "${cpus[@]}" | awk '{s+=$1} END {printf "%.4f", s/NR}')
    echo "$wall $cpu"
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
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
read -r w_yaml c_yaml < <(timed yaml_events "$RUNS" 1 "$TMP/yaml_events" "${FILES[@]}")
read -r w_val c_val < <(timed validate "$RUNS" 1 "$RUNBOOK" validate "${FILES[@]}")
read -r w_yaml_big c_yaml_big < <(timed yaml_events_big "$RUNS" 1 "$TMP/yaml_events" "$BIG")
read -r w_val_big c_val_big < <(timed validate_big "$RUNS" 1 "$RUNBOOK" validate "$BIG")
read -r w_py c_py < <(timed python "$PY_RUNS" 0 "$PY" "$ROOT/bench/py_validate.py" "$SCHEMA" "${PYSET[@]}")
if ((PY_FILES == NFILES)); then
    w_val_py=$w_val c_val_py=$c_val
else
    read -r w_val_py c_val_py < <(timed validate_pyset "$RUNS" 1 "$RUNBOOK" validate "${PYSET[@]}")
fi
LOAD1=$(cut -d' ' -f1 /proc/loadavg)
[ -n "${c_py:-}" ] || die "timing failed"

say "peak memory"
m_val_big=$(peak_kib "$RUNBOOK" validate "$BIG")
m_val=$(peak_kib "$RUNBOOK" validate "${FILES[@]}")
m_yaml_big=$(peak_kib "$TMP/yaml_events" "$BIG")
m_py_big=$(peak_kib "$PY" "$ROOT/bench/py_validate.py" "$SCHEMA" "$BIG")

# ---- report ----
"$PY" - "$NFILES" "$NSTEPS" "$BIGSTEPS" "$BYTES" "$BIGBYTES" "$PY_FILES" "$RUNS" "$PY_RUNS" "$(nproc)" \
    "$LOAD0" "$LOAD1" "$w_yaml" "$c_yaml" "$w_val" "$c_val" "$w_yaml_big" "$c_yaml_big" "$w_val_big" \
    "$c_val_big" "$w_val_py" "$c_val_py" "$w_py" "$c_py" "$m_val_big" "$m_val" "$m_yaml_big" "$m_py_big" <<'EOF'
import sys
a = sys.argv[1:]
nf, ns, nb, by, bb, pyf, runs, pyruns, ncpu = (int(x) for x in a[0:9])
load0, load1 = a[9], a[10]
(w_yaml, c_yaml, w_val, c_val, w_yaml_big, c_yaml_big, w_val_big, c_val_big,
 w_val_py, c_val_py, w_py, c_py) = (float(x) for x in a[11:23])
m_val_big, m_val, m_yaml_big, m_py_big = (int(x) for x in a[23:27])

pyb = by * pyf // nf
rows = [
    ("yaml_events (libyaml events only), 100 files", w_yaml, c_yaml, by),
    ("runbook validate, 100 files", w_val, c_val, by),
    ("yaml_events, 10,000-step file", w_yaml_big, c_yaml_big, bb),
    ("runbook validate, 10,000-step file", w_val_big, c_val_big, bb),
]
if pyf != nf:
    rows.append(("runbook validate, first %d files" % pyf, w_val_py, c_val_py, pyb))
rows.append(("yaml.safe_load + jsonschema, %s%d files" % ("" if pyf == nf else "first ", pyf), w_py, c_py, pyb))

print("runbook validate benchmark: %d files x %d steps (%.1f MB); 1 file x %d steps (%.1f MB)"
      % (nf, ns, by / 1e6, nb, bb / 1e6))
print("wall: median of %d runs (Python pair: %d); cpu: mean user+system a run; "
      "load average %s -> %s on %d cores" % (runs, pyruns, load0, load1, ncpu))
print()
print("%-46s %9s %9s %9s" % ("command", "wall (s)", "cpu (s)", "MB/cpu-s"))
for name, w, c, b in rows:
    print("%-46s %9.3f %9.3f %9.1f" % (name, w, c, b / 1e6 / c if c > 0 else float("inf")))
print()
print("%-46s %9s" % ("peak memory (max RSS)", "MiB"))
for name, k in (("runbook validate, 10,000-step file", m_val_big), ("runbook validate, 100 files", m_val),
                ("yaml_events, 10,000-step file", m_yaml_big),
                ("yaml.safe_load + jsonschema, 10,000-step file", m_py_big)):
    print("%-46s %9.1f" % (name, k / 1024))
print()
ok = lambda b: "met" if b else "NOT MET"
r = lambda x, y: x / y if y > 0 else float("inf")
print("%-46s %9s %9s  %s" % ("ratio", "by cpu", "by wall", "target (on cpu)"))
fl = r(c_val, c_yaml)
print("%-46s %8.2fx %8.2fx  <= 1.5x: %s" % ("validate / libyaml floor, 100 files", fl, r(w_val, w_yaml), ok(fl <= 1.5)))
print("%-46s %8.2fx %8.2fx" % ("validate / libyaml floor, 10,000-step file", r(c_val_big, c_yaml_big),
                               r(w_val_big, w_yaml_big)))
py = r(c_py, c_val_py)
print("%-46s %8.1fx %8.1fx  >= 30x: %s" % ("Python pair / validate, %d files" % pyf, py, r(w_py, w_val_py),
                                          ok(py >= 30)))
print("%-46s %8.1f MiB %17s <= 64 MiB: %s" % ("peak memory, validate, 10,000-step file", m_val_big / 1024, "",
                                             ok(m_val_big <= 64 * 1024)))
EOF
