#!/usr/bin/env bash
# The validate benchmark: `runbook validate` against a libyaml-events-only floor (yaml_events.c)
# and against Python's yaml.safe_load + jsonschema (py_validate.py), on generated runbooks.
# See bench/README.md. Usage: bash bench/run.sh
#
# Knobs (environment):
#   RUNS=5        timed runs (rounds) of each C command, after 1 warm-up round; medians reported
#   PY_RUNS=3     timed rounds of the Python pair (no warm-up: the files are already in the page
#                 cache from the validity check)
#   PY_FILES=20   how many of the 100 files the Python pair reads (it takes ~1.5 s a file);
#                 its ratio is taken against `runbook validate` timed on the same files.
#                 PY_FILES=100 runs it on all of them (~2.5 min a run: use PY_RUNS=1).
#   RUNBOOK=path  use this runbook binary instead of building build-bench/runbook
#   TIMER=rounds  (default) time with bench/timer.py in interleaved rounds (see there why);
#   TIMER=hyperfine  time each command's runs in one block with hyperfine instead
#   INSNS=1       (default) also count instructions under callgrind on 10 files (~1 min);
#                 INSNS=0 skips that
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
TIMER=${TIMER:-rounds}
INSN_FILES=10
PY=/usr/bin/python3
SCHEMA="$ROOT/schema/runbook.schema.json"

die() { echo "bench: FAIL: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

(( PY_FILES >= 1 && PY_FILES <= NFILES )) || die "PY_FILES must be 1..$NFILES"

# ---- tools: install what is missing when we are root (Debian), else fall back or fail ----
need_pkgs=()
[ "$TIMER" != hyperfine ] || command -v hyperfine >/dev/null || need_pkgs+=(hyperfine)
[ "${INSNS:-1}" != 1 ] || command -v valgrind >/dev/null || need_pkgs+=(valgrind)
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
# Each group of commands is timed in interleaved rounds by timer.py (see there why), or with
# TIMER=hyperfine one command after another by hyperfine; both write the same JSON.
# spec FILE NAME CMD...: add a command to a timer.py spec file
spec() {
    local file=$1
    shift
    (IFS=$'\t'; printf '%s\n' "$*") >>"$file"
}
# timed SPEC RUNS WARMUP OUT
timed() {
    local specf=$1 runs=$2 warmup=$3 out=$4
    if [ "$TIMER" = hyperfine ]; then
        local name cmd q i=0 args
        while IFS=$'\t' read -r -a args; do
            name=${args[0]} cmd=""
            for q in "${args[@]:1}"; do cmd+=" $(printf '%q' "$q")"; done
            hyperfine --style none --warmup "$warmup" --runs "$runs" --export-json "$TMP/hf-$i.json" "$cmd" \
                >/dev/null 2>&1 || die "$name: the timed command failed"
            echo "$name" >"$TMP/hf-$i.name"
            i=$((i + 1))
        done <"$specf"
        "$PY" - "$out" "$TMP" "$i" <<'EOF'
import json, sys
out, tmp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
res = {}
for i in range(n):
    name = open("%s/hf-%d.name" % (tmp, i)).read().strip()
    r = json.load(open("%s/hf-%d.json" % (tmp, i)))["results"][0]
    # hyperfine keeps each run's wall time but only the mean CPU time
    res[name] = {"wall": r["times"], "cpu": [r["user"] + r["system"]] * len(r["times"]), "maxrss_kib": 0}
json.dump(res, open(out, "w"))
EOF
    else
        "$PY" "$ROOT/bench/timer.py" "$specf" "$runs" "$warmup" "$out" || die "timing failed"
    fi
}

# peak_kib CMD...: peak resident memory (KiB) of one run, by GNU time's %M
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

if [ "$TIMER" = hyperfine ] && ! command -v hyperfine >/dev/null; then
    say "no hyperfine: timing in rounds with timer.py"
    TIMER=rounds
fi
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
say "timing the C commands: $RUNS rounds after 1 warm-up ($TIMER)"
: >"$TMP/c.spec"
spec "$TMP/c.spec" yaml_events "$TMP/yaml_events" "${FILES[@]}"
spec "$TMP/c.spec" validate "$RUNBOOK" validate "${FILES[@]}"
spec "$TMP/c.spec" yaml_events_big "$TMP/yaml_events" "$BIG"
spec "$TMP/c.spec" validate_big "$RUNBOOK" validate "$BIG"
timed "$TMP/c.spec" "$RUNS" 1 "$TMP/c.json"

say "timing the Python pair on $PY_FILES files: $PY_RUNS rounds ($TIMER)"
: >"$TMP/py.spec"
spec "$TMP/py.spec" python "$PY" "$ROOT/bench/py_validate.py" "$SCHEMA" "${PYSET[@]}"
spec "$TMP/py.spec" validate_pyset "$RUNBOOK" validate "${PYSET[@]}"
timed "$TMP/py.spec" "$PY_RUNS" 0 "$TMP/py.json"
LOAD1=$(cut -d' ' -f1 /proc/loadavg)

say "peak memory (GNU time %M)"
m_val_big=$(peak_kib "$RUNBOOK" validate "$BIG")
m_val=$(peak_kib "$RUNBOOK" validate "${FILES[@]}")
m_yaml_big=$(peak_kib "$TMP/yaml_events" "$BIG")
m_py_big=$(peak_kib "$PY" "$ROOT/bench/py_validate.py" "$SCHEMA" "$BIG")

# insns NAME CMD...: instructions executed (callgrind's "Collected"), a count the load does not move
insns() {
    local name=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$TMP/$name.cg" --log-file="$TMP/$name.vg" "$@" \
        >/dev/null 2>&1 || die "callgrind: $name failed"
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$TMP/$name.vg" | tail -1
}
i_yaml=0 i_val=0
if [ "${INSNS:-1}" = 1 ] && command -v valgrind >/dev/null; then
    say "instruction counts under callgrind on the first $INSN_FILES files"
    i_yaml=$(insns yaml_events "$TMP/yaml_events" "${FILES[@]:0:INSN_FILES}")
    i_val=$(insns validate "$RUNBOOK" validate "${FILES[@]:0:INSN_FILES}")
elif [ "${INSNS:-1}" = 1 ]; then
    say "no valgrind: no instruction counts (apt-get install valgrind for them)"
fi

# ---- report ----
"$PY" - "$TMP/c.json" "$TMP/py.json" "$TIMER" "$NFILES" "$NSTEPS" "$BIGSTEPS" "$BYTES" "$BIGBYTES" \
    "$PY_FILES" "$RUNS" "$PY_RUNS" "$(nproc)" "$LOAD0" "$LOAD1" "$m_val_big" "$m_val" "$m_yaml_big" \
    "$m_py_big" "$INSN_FILES" "$i_yaml" "$i_val" <<'EOF'
import json, statistics, sys
a = sys.argv[1:]
t = json.load(open(a[0]))
t.update(json.load(open(a[1])))
timer = a[2]
nf, ns, nb, by, bb, pyf, runs, pyruns, ncpu = (int(x) for x in a[3:12])
load0, load1 = a[12], a[13]
m_val_big, m_val, m_yaml_big, m_py_big = (int(x) for x in a[14:18])
insn_files, i_yaml, i_val = (int(x) for x in a[18:21])
med = statistics.median

def ratio(num, den, kind):
    """In rounds, the median of the round-by-round ratios; with hyperfine, the ratio of medians."""
    x, y = t[num][kind], t[den][kind]
    if timer == "rounds":
        return med(p / q for p, q in zip(x, y))
    return med(x) / med(y)

pyb = by * pyf // nf
rows = [
    ("yaml_events", "yaml_events (libyaml events only), %d files" % nf, by),
    ("validate", "runbook validate, %d files" % nf, by),
    ("yaml_events_big", "yaml_events, %d-step file" % nb, bb),
    ("validate_big", "runbook validate, %d-step file" % nb, bb),
    ("validate_pyset", "runbook validate, %s%d files" % ("" if pyf == nf else "first ", pyf), pyb),
    ("python", "yaml.safe_load + jsonschema, %s%d files" % ("" if pyf == nf else "first ", pyf), pyb),
]
print("runbook validate benchmark: %d files x %d steps (%.1f MB); 1 file x %d steps (%.1f MB)"
      % (nf, ns, by / 1e6, nb, bb / 1e6))
print("medians of %d runs (Python pair: %d), timer: %s; load average %s -> %s on %d cores"
      % (runs, pyruns, timer, load0, load1, ncpu))
print()
print("%-46s %9s %9s %9s" % ("command", "wall (s)", "cpu (s)", "MB/cpu-s"))
for key, name, b in rows:
    w, c = med(t[key]["wall"]), med(t[key]["cpu"])
    print("%-46s %9.3f %9.3f %9.1f" % (name, w, c, b / 1e6 / c if c > 0 else float("inf")))
print()
print("%-46s %9s" % ("peak memory (max RSS)", "MiB"))
for name, k in (("runbook validate, %d-step file" % nb, m_val_big), ("runbook validate, %d files" % nf, m_val),
                ("yaml_events, %d-step file" % nb, m_yaml_big),
                ("yaml.safe_load + jsonschema, %d-step file" % nb, m_py_big)):
    print("%-46s %9.1f" % (name, k / 1024))
print()
ok = lambda b: "met" if b else "NOT MET"
print("%-46s %9s %9s  %s" % ("ratio", "by cpu", "by wall", "target (judged on cpu)"))
fl = ratio("validate", "yaml_events", "cpu")
print("%-46s %8.2fx %8.2fx  <= 1.5x: %s" % ("validate / libyaml floor, %d files" % nf, fl,
                                           ratio("validate", "yaml_events", "wall"), ok(fl <= 1.5)))
print("%-46s %8.2fx %8.2fx" % ("validate / libyaml floor, %d-step file" % nb,
                               ratio("validate_big", "yaml_events_big", "cpu"),
                               ratio("validate_big", "yaml_events_big", "wall")))
if i_yaml and i_val:
    print("%-46s %8.2fx %9s  (instructions: %.0fM / %.0fM)" % (
        "validate / libyaml floor, %d files, by insns" % insn_files, i_val / i_yaml, "", i_val / 1e6, i_yaml / 1e6))
py = ratio("python", "validate_pyset", "cpu")
print("%-46s %8.1fx %8.1fx  >= 30x: %s" % ("Python pair / validate, %d files" % pyf, py,
                                          ratio("python", "validate_pyset", "wall"), ok(py >= 30)))
print("%-46s %8.1f MiB %18s <= 64 MiB: %s" % ("peak memory, validate, %d-step file" % nb, m_val_big / 1024, "",
                                             ok(m_val_big <= 64 * 1024)))
EOF
