#!/usr/bin/env bash
# The network actions benchmark: per-step cost of `runbook run` with 200 sequential `http` GET
# steps and 200 `sql` `SELECT 1` steps against a local HTTP server and a local PostgreSQL, against
# one curl (connection reused) and one `psql -f` given the same 200 requests, against 200 separate
# curl and psql processes, and against one measured fdatasync. See bench/README.md.
# Usage: bash bench/net.sh
#
# Knobs: RUNS=5 (rounds; medians), PERSON_RUNS=3 (runs of the 200-process loops, ~35 s each),
# STEPS=200, STATE_ON=DIR (the state folder, and the fdatasync measured, on another file system,
# e.g. /dev/shm to see the run without disk syncs; default: the temporary folder), RUNBOOK=path (skips the build), NODELAY=1 (0: the HTTP server as tests run it, with
# Nagle's algorithm on; see README), FAR=10 (how many times cheaper than a process per request a
# step must be), KEEP=1 (keep the temporary folder and print it).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build-bench"
RUNS=${RUNS:-5}
PERSON_RUNS=${PERSON_RUNS:-3}
STEPS=${STEPS:-200}
NODELAY=${NODELAY:-1}
FAR=${FAR:-10}
KEEP=${KEEP:-0}
STATE_ON=${STATE_ON:-}
export PGPASS_RB=${PGPASS_RB:-rb-bench}
die() { echo "bench: FAIL: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

need=()
command -v curl >/dev/null || need+=(curl)
command -v psql >/dev/null || need+=(postgresql-client)
ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v bc >/dev/null || need+=(bc)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})) && [ "$(id -u)" = 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for c in curl psql bc python3; do command -v $c >/dev/null || die "$c is missing"; done

if [ -z "${RUNBOOK:-}" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target runbook >/dev/null
    RUNBOOK="$BUILD/runbook"
fi

work=$(mktemp -d)
chmod a+x "$work" # PostgreSQL runs as postgres under root and must reach its data folder
httpd_pid=""
cleanup() {
    [ -z "$httpd_pid" ] || kill "$httpd_pid" 2>/dev/null || true
    [ ! -f "$work/pg/postmaster.pid" ] || bash "$ROOT/tests/servers/pg.sh" stop "$work/pg" || true
    [ -z "$STATE_ON" ] || rm -rf "$state"
    if [ "$KEEP" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
state="$work/state"
[ -z "$STATE_ON" ] || state=$(mktemp -d -p "$STATE_ON")
cc -O2 -o "$work/fsync_cost" "$ROOT/bench/fsync_cost.c"

# The test server answers headers and body in two writes; with Nagle's algorithm on, the body
# waits for the client's delayed ACK (40 ms a request on loopback). NODELAY=1 sets TCP_NODELAY on
# the server's sockets (socketserver's own switch) without touching the file.
say "starting the HTTP server and PostgreSQL"
python3 -c 'import sys
sys.path.insert(0, sys.argv[1]); import httpd
httpd.Handler.disable_nagle_algorithm = sys.argv[2] == "1"
sys.argv = sys.argv[2:]; sys.exit(httpd.main())' \
    "$ROOT/tests/servers" "$NODELAY" --port 0 --portfile "$work/http.port" >/dev/null 2>&1 &
httpd_pid=$!
for ((i = 0; i < 100; i++)); do [ -s "$work/http.port" ] && break; sleep 0.05; done
HP=$(cat "$work/http.port" 2>/dev/null) || die "the HTTP server did not start"
PP=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bash "$ROOT/tests/servers/pg.sh" primary "$work/pg" "$PP" || die "PostgreSQL did not start"
PGCONN="host=127.0.0.1 port=$PP dbname=rb user=rb sslmode=disable"
URL="http://127.0.0.1:$HP/status/200"

gen() { # name, steps, header lines, step line
    { printf 'runbook: %s\nversion: 1\ntitle: bench\n%s\nsteps:\n' "$1" "$3"
      for ((i = 0; i < $2; i++)); do printf "  - {id: s%d, %s, timeout: 10s}\n" "$i" "$4"; done; } >"$work/$1.yaml"
}
HTTP_HEAD="targets:
  t: {http: {base_url: \"http://127.0.0.1:$HP\", timeout: 10s}}"
SQL_HEAD="secrets:
  pw: {env: PGPASS_RB}
targets:
  pg: {postgres: {host: 127.0.0.1, port: $PP, dbname: rb, user: rb, password: \"\${{ secrets.pw }}\", sslmode: disable}}"
gen http "$STEPS" "$HTTP_HEAD" 'http: {target: t, path: /status/200}'
gen http1 1 "$HTTP_HEAD" 'http: {target: t, path: /status/200}'
gen sql "$STEPS" "$SQL_HEAD" 'sql: {target: pg, query: "SELECT 1"}, effect: read'
gen sql1 1 "$SQL_HEAD" 'sql: {target: pg, query: "SELECT 1"}, effect: read'
for ((i = 0; i < STEPS; i++)); do echo "url = \"$URL\""; done >"$work/curl.cfg"
for ((i = 0; i < STEPS; i++)); do echo 'SELECT 1;'; done >"$work/select.sql"

run_rb() { rm -rf "$state/rb"; "$RUNBOOK" run "$work/$1.yaml" --state-dir "$state/rb" --quiet; }
curl_one() { curl -sf -K "$work/curl.cfg"; }
psql_one() { PGPASSWORD=$PGPASS_RB psql -X -q -v ON_ERROR_STOP=1 "$PGCONN" -f "$work/select.sql"; }
curl_each() { for ((i = 0; i < STEPS; i++)); do curl -sf "$URL" || return 1; done; }
psql_each() { for ((i = 0; i < STEPS; i++)); do PGPASSWORD=$PGPASS_RB psql -X -q "$PGCONN" -c 'SELECT 1' || return 1; done; }

# Before timing: every command works, and every step of the runbooks succeeded.
for rb in http sql; do
    "$RUNBOOK" validate --strict "$work/$rb.yaml" >/dev/null || die "$rb.yaml does not validate"
    run_rb "$rb" >/dev/null || die "runbook run $rb.yaml failed"
    ok=$(grep -c '"type":"step_end","step":"s[0-9]*","outcome":"succeeded"' "$state"/rb/runs/*.jsonl)
    [ "$ok" = "$STEPS" ] || die "$rb.yaml: $ok of $STEPS steps succeeded"
done
[ "$(curl_one | grep -o '"status": 200' | wc -l)" = "$STEPS" ] || die "curl did not get $STEPS answers"
[ "$(psql_one | grep -c '^ *1$')" = "$STEPS" ] || die "psql did not get $STEPS rows"

# Wall nanoseconds of one run of a command (output discarded; failure stops the benchmark).
clock() {
    local s e
    s=$(date +%s%N); "$@" >/dev/null 2>&1 || die "failed: $*"; e=$(date +%s%N)
    echo $((e - s))
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }

# Interleaved rounds: the load on this shared machine changes between blocks, not within a round.
declare -A T
F=""
names=(rb_http curl_one rb_sql psql_one rb_http1 rb_sql1)
say "$RUNS rounds of: runbook http, curl, runbook sql, psql -f, 1-step runbooks, 100 fdatasyncs"
for ((r = 0; r < RUNS; r++)); do
    T[rb_http]+=" $(clock run_rb http)"; T[curl_one]+=" $(clock curl_one)"
    T[rb_sql]+=" $(clock run_rb sql)"; T[psql_one]+=" $(clock psql_one)"
    T[rb_http1]+=" $(clock run_rb http1)"; T[rb_sql1]+=" $(clock run_rb sql1)"
    mkdir -p "$state/fs"
    F+=" $("$work/fsync_cost" "$state/fs" 100)" # measured in the round, under the round's load
done
say "$PERSON_RUNS runs of $STEPS curl processes and $STEPS psql processes"
for ((r = 0; r < PERSON_RUNS; r++)); do
    T[curl_each]+=" $(clock curl_each)"; T[psql_each]+=" $(clock psql_each)"
done
# shellcheck disable=SC2086
fsync_ms=$(median $F)

declare -A M # per request (or step), ms
for n in "${names[@]}" curl_each psql_each; do
    # shellcheck disable=SC2086
    M[$n]=$(echo "$(median ${T[$n]}) / $STEPS / 1000000" | bc -l)
done
M[rb_http1]=$(echo "${M[rb_http1]} * $STEPS" | bc -l) # one-step runs: the whole run
M[rb_sql1]=$(echo "${M[rb_sql1]} * $STEPS" | bc -l)
verdict() { [ "$(echo "$1" | bc -l)" = 1 ] && echo PASS || echo FAIL; }

printf '\nnetwork actions benchmark: %s sequential steps; medians of %s rounds (process loops: %s)\n' \
    "$STEPS" "$RUNS" "$PERSON_RUNS"
printf '%s, tree %s; load average %s on %s cores; NODELAY=%s\n\n' "$(date +%F)" \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)" "$NODELAY"
printf '%-56s %10s\n' "measure" "ms"
row() { printf '%-56s %10.3f\n' "$1" "$2"; }
row "runbook run, http step (run / $STEPS)" "${M[rb_http]}"
row "one curl, $STEPS URLs, per request (connection reused)" "${M[curl_one]}"
row "$STEPS curl processes, per request" "${M[curl_each]}"
row "runbook run, sql step (run / $STEPS)" "${M[rb_sql]}"
row "one psql -f, $STEPS statements, per statement" "${M[psql_one]}"
row "$STEPS psql -c processes, per statement" "${M[psql_each]}"
row "runbook run, 1 http step (whole run)" "${M[rb_http1]}"
row "runbook run, 1 sql step (whole run)" "${M[rb_sql1]}"
row "one 200-byte write + fdatasync (median of rounds' medians)" "$fsync_ms"
# Not judged: the step without the run's fixed cost (start, linking, journal creation).
row "  (not judged) http step, (run - 1-step run) / $((STEPS - 1))" \
    "$(echo "(${M[rb_http]} * $STEPS - ${M[rb_http1]}) / ($STEPS - 1)" | bc -l)"
row "  (not judged) sql step, (run - 1-step run) / $((STEPS - 1))" \
    "$(echo "(${M[rb_sql]} * $STEPS - ${M[rb_sql1]}) / ($STEPS - 1)" | bc -l)"

printf '\n%-56s %10s %8s %s\n' "target" "budget" "actual" "verdict"
for k in http:curl_one sql:psql_one; do
    rb=rb_${k%%:*} base=${k#*:}
    budget=$(echo "${M[$base]} + $fsync_ms + 0.2" | bc -l)
    printf '%-56s %7.3f ms %5.3f ms %s\n' "${k%%:*} step <= ${base%_one} per request + fdatasync + 0.2 ms" \
        "$budget" "${M[$rb]}" "$(verdict "${M[$rb]} <= $budget")"
done
for k in http:curl_each sql:psql_each; do
    rb=rb_${k%%:*} base=${k#*:}
    ratio=$(echo "${M[$base]} / ${M[$rb]}" | bc -l)
    printf '%-56s %9s %7.1fx %s\n' "${k%%:*} step vs one ${base%_each} process per request" \
        ">= ${FAR}x" "$ratio" "$(verdict "$ratio >= $FAR")"
done
