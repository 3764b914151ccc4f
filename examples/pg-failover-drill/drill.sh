#!/usr/bin/env bash
# A real DR drill on this machine, with the shipped runbooks and nothing but their inputs set.
#
#   drill.sh              failover: the primary is stopped hard, failover-to-secondary runs
#   drill.sh --failback   the failover, a while of writes on Hetzner, then failback-to-primary as
#                         a planned switchover back: DigitalOcean re-synced as a standby of Hetzner,
#                         promoted, Hetzner made its standby again, application and DNS moved back
#   drill.sh --fault      the failover with an application whose health never comes up: the
#                         runbook's rollback runs for real and must leave things as they were
#   drill.sh --failback --fault
#                         the failback with a DigitalOcean application whose health never comes
#                         up, after the promotion: the run must stop there, not roll back past it
#
# Everything lives in a temporary folder on 127.0.0.1: a PostgreSQL primary ("DigitalOcean") and
# its streaming standby ("Hetzner", pg_basebackup -R with a slot), TLS with a throwaway CA; a
# private sshd standing in for the application hosts (docker-compose there is ./docker-compose,
# which starts ./app.py; sudo and systemctl there are ./sudo and ./systemctl, which start and stop
# the drill's PostgreSQL clusters with pg_ctl); ./doapi.py standing in for the DigitalOcean DNS API and for the public
# names that follow its records. A person-only confirmation (the promotion) is answered on a
# pseudo-terminal by ./person.py, as a person would; --yes answers the others.
# The world is then checked from outside the runbook. Exit 0 only when everything happened.
# Needs root (PostgreSQL runs as postgres through runuser). RUNBOOK=path overrides the binary;
# KEEP=1 keeps the folder.
set -u
mode=failover
case "${1:-} ${2:-}" in
" ") ;;
"--fault ") mode=fault ;;
"--failback ") mode=failback ;;
"--failback --fault" | "--fault --failback") mode=failback-fault ;;
*) echo "usage: drill.sh [--failback] [--fault]" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$(realpath "${RUNBOOK:-$root/build/runbook}")
servers=$root/tests/servers
[[ $(id -u) == 0 ]] || { echo "drill.sh: run as root (PostgreSQL is started as postgres through runuser)" >&2; exit 2; }
[[ -x $bin ]] || { echo "drill.sh: no $bin: build first (cmake -S . -B build && cmake --build build -j2)" >&2; exit 2; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d /tmp/rb-drill.XXXXXX)
chmod a+x "$work"
export RUNBOOK_PATH=$root/runbooks NO_COLOR=1
# The drill's servers are a world of their own: its runs take the runbooks' locks (hopwhistle-dr)
# there, not in this machine's /run/lock/runbook, where a real run or another drill may hold them.
export RUNBOOK_LOCK_DIR=$work/system-locks
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSSLMODE PGSERVICE PGSSLROOTCERT
bg=()
failures=0

cleanup() {
    local p
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
    for d in "$work"/*-app; do [[ -f $d/compose.env ]] && (cd "$d" && PATH=$work/hostbin:$PATH docker-compose down >/dev/null 2>&1); done
    sh "$servers/sshd.sh" stop "$work/sshd" 2>/dev/null
    # a clean stop: the control files then say which cluster was a standby (suite_drill reads them)
    for c in do-db hetzner-db; do bash "$servers/pg.sh" stop "$work/pg/$c" 2>/dev/null; done
    if [[ ${KEEP:-} == 1 ]]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }
ms_now() { echo $(($(date +%s%N) / 1000000)); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secret() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
check() { # what, command...: one outside fact
    local what=$1
    shift
    if "$@"; then say "  ok    $what"; else say "  FAIL  $what"; failures=$((failures + 1)); fi
}
eq() { [[ "$1" == "$2" ]] || { say "        got '$1', want '$2'"; return 1; }; }
# psql as postgres over the cluster's socket: sql do-db|hetzner-db SQL
sql() {
    local port
    [[ $1 == do-db ]] && port=$P1 || port=$P2
    runuser -u postgres -- "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$work/pg/$1" -p "$port" -U postgres -d rb -c "$2"
}
in_recovery() { sql "$1" "SELECT pg_is_in_recovery()" 2>/dev/null || echo down; }
wait_file() { local n=100; while ((n-- > 0)); do [[ -s $1 ]] && return 0; sleep 0.05; done; return 1; }

# ---- the world before the disaster ----

setup() {
    P1=$(free_port) P2=$(free_port) A1=$(free_port) A2=$(free_port)
    DBA_PW=$(secret) APP_PW=$(secret) REPL_PW=$(secret) DO_TOKEN=dop_v1_$(secret)
    mkdir -p "$work/certs" "$work/sshd" "$work/hostbin" "$work/dns" "$work/state" "$work/hosts/units" "$work/pg"
    # the clusters' parent belongs to postgres: the failback moves data directories aside as postgres
    chown postgres:postgres "$work/pg"
    sh "$servers/mkcert.sh" "$work/certs" >/dev/null 2>&1 || return 1
    chmod a+r "$work/certs"/*
    PGPASS_RB=$APP_PW bash "$servers/pg.sh" primary "$work/pg/do-db" "$P1" || return 1
    install -o postgres -g postgres -m 600 "$work/certs/server.pem" "$work/pg/do-db/server.crt"
    install -o postgres -g postgres -m 600 "$work/certs/server.key" "$work/pg/do-db/server.key"
    # (a standby reports its replay position every second, not every 10 s: the failback's
    # "replayed everything" check sees it sooner)
    sql do-db "ALTER SYSTEM SET ssl = on" && sql do-db "ALTER SYSTEM SET synchronous_commit = on" &&
        sql do-db "ALTER SYSTEM SET wal_receiver_status_interval = '1s'" &&
        sql do-db "ALTER ROLE postgres PASSWORD '$DBA_PW'" &&
        sql do-db "CREATE ROLE replicator REPLICATION LOGIN PASSWORD '$REPL_PW'" &&
        sql do-db "SELECT pg_reload_conf()" >/dev/null &&
        sql do-db "CREATE TABLE orders (id bigint PRIMARY KEY, note text, at timestamptz NOT NULL DEFAULT clock_timestamp()); ALTER TABLE orders OWNER TO rb" || return 1
    bash "$servers/pg.sh" standby "$work/pg/hetzner-db" "$P1" "$P2" replication_slot_hetzner || return 1
    # from now on postgres needs its password over TCP (replication stays trust on loopback for
    # postgres; the failback's role `replicator` gives its password, from its password file)
    local c
    for c in do-db hetzner-db; do
        sed -i -e 's/^host all postgres 127.0.0.1\/32 trust/host all postgres 127.0.0.1\/32 scram-sha-256/' \
            -e 's/^host all all 127.0.0.1\/32 scram-sha-256/host replication replicator 127.0.0.1\/32 scram-sha-256\n&/' "$work/pg/$c/pg_hba.conf"
        sql $c "SELECT pg_reload_conf()" >/dev/null
    done
    # the systemd units of the "database hosts", for ./systemctl
    printf 'PGDATA=%s\nPORT=%s\nLOG=%s\n' "$work/pg/do-db" "$P1" "$work/pg/do-db.log" >"$work/hosts/units/drill-do-db"
    printf 'PGDATA=%s\nPORT=%s\nLOG=%s\n' "$work/pg/hetzner-db" "$P2" "$work/pg/hetzner-db.log" >"$work/hosts/units/drill-hetzner-db"

    # the application hosts: one sshd whose sessions find ./docker-compose on their PATH
    sh "$servers/sshd.sh" start "$work/sshd" >/dev/null || return 1
    . "$work/sshd/server.env"
    SSHP=$PORT
    local tool
    for tool in docker-compose sudo systemctl; do ln -s "$here/$tool" "$work/hostbin/$tool"; done
    kill "$(cat "$work/sshd/sshd.pid")" && sleep 0.2
    echo "SetEnv PATH=$work/hostbin:/usr/local/bin:/usr/bin:/bin DRILL_HOSTS=$work/hosts" >>"$work/sshd/sshd_config"
    /usr/sbin/sshd -f "$work/sshd/sshd_config" -E "$work/sshd/sshd.log" && wait_file "$work/sshd/sshd.pid" || return 1
    local fault=0
    [[ $mode == fault ]] && fault=1
    mkdir -p "$work/do-app" "$work/hetzner-app"
    printf 'PORT=%s\nAPP=%s\nFAULT=0\n' "$A1" "$here/app.py" >"$work/do-app/compose.env"
    printf 'PORT=%s\nAPP=%s\nFAULT=%s\n' "$A2" "$here/app.py" "$fault" >"$work/hetzner-app/compose.env"
    printf 'DATABASE_URL=postgresql://rb:%s@127.0.0.1:%s/rb\nNODE_ENV=production\n' "$APP_PW" "$P1" >"$work/do-app/.env"
    # Hetzner's stale settings from before (the runbook replaces them and keeps them aside)
    printf 'DATABASE_URL=postgresql://rb:%s@127.0.0.1:%s/rb\nNODE_ENV=standby\n' "$APP_PW" "$P1" >"$work/hetzner-app/.env"
    cp -p "$work/hetzner-app/.env" "$work/hetzner-app.env.before"
    (cd "$work/do-app" && PATH=$work/hostbin:$PATH docker-compose up -d >/dev/null)

    cat >"$work/dns/records.json" <<EOF
{"zone": "hopwhistle.com",
 "records": [{"id": 3352896, "type": "CNAME", "name": "api", "data": "api-do.hopwhistle.com", "ttl": 1800},
             {"id": 3352897, "type": "CNAME", "name": "www", "data": "web-do.hopwhistle.com", "ttl": 1800}],
 "fronts": {"api-do.hopwhistle.com": "http://127.0.0.1:$A1", "web-do.hopwhistle.com": "http://127.0.0.1:$A1",
            "api-hetzner.hopwhistle.com": "http://127.0.0.1:$A2", "web-hetzner.hopwhistle.com": "http://127.0.0.1:$A2"}}
EOF
    python3 "$here/doapi.py" "$work/dns" "$DO_TOKEN" 2>"$work/dns/log" &
    bg+=($!)
    wait_file "$work/dns/port" || return 1
    DNSP=$(cat "$work/dns/port")
    PUBLIC=http://127.0.0.1:$DNSP/front/api.hopwhistle.com
    # the zone's nameserver, serving what the API stand-in holds (Debian's python3 has dnslib)
    wait_file "$work/dns/zone.json" || return 1
    /usr/bin/python3 "$servers/dnsd.py" --zone "$work/dns/zone.json" --portfile "$work/dns/ns-port" >/dev/null 2>"$work/dns/ns.log" &
    bg+=($!)
    wait_file "$work/dns/ns-port" || return 1
    NS=127.0.0.1:$(cat "$work/dns/ns-port")
}

# Who accepts writes, polled from outside every 100 ms for the whole drill: "ms do hetzner".
poll_writable() {
    PGPASSWORD=$DBA_PW PGCONNECT_TIMEOUT=1 python3 - "$P1" "$P2" "$work/writable.log" <<'EOF' &
import subprocess, sys, time
p1, p2, out = sys.argv[1:4]
def writable(port):
    r = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "rb",
                        "-c", "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'"],
                       capture_output=True, text=True)
    return "w" if r.stdout.strip() == "t" else ("r" if r.returncode == 0 else "-")
with open(out, "a", buffering=1) as f:
    while True:
        f.write("%d %s %s\n" % (time.time() * 1000, writable(p1), writable(p2)))
        time.sleep(0.1)
EOF
    bg+=($!)
}

# Rows on the primary, one transaction each; then the time until the standby has replayed the last.
write_rows() {
    local i lsn t0
    # one session, one transaction per row (autocommit), as an application writes
    for i in $(seq 1 "$1"); do
        echo "INSERT INTO orders (id, note) VALUES ($i, 'order $i, before the disaster');"
    done | runuser -u postgres -- "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$work/pg/do-db" -p "$P1" -U postgres -d rb || return 1
    lsn=$(sql do-db "SELECT pg_current_wal_lsn()")
    t0=$(ms_now)
    until [[ $(sql hetzner-db "SELECT pg_last_wal_replay_lsn() >= '$lsn'") == t ]]; do
        (($(ms_now) - t0 > 30000)) && { say "the standby did not replay $lsn in 30 s"; return 1; }
        sleep 0.005
    done
    LAG_MS=$(($(ms_now) - t0))
    REPLAY_LAG=$(sql do-db "SELECT COALESCE(round(EXTRACT(epoch FROM replay_lag) * 1000)::text || ' ms', 'none (idle)') FROM pg_stat_replication")
    ROWS=$(sql do-db "SELECT count(*) FROM orders") LAST_ID=$(sql do-db "SELECT max(id) FROM orders")
}

# Runs a shipped runbook as the operator would: --yes, and a person on the terminal for the rest.
run_runbook() { # log-name answer-regex runbook --set...
    local name=$1 rule=$2
    shift 2
    python3 "$here/person.py" "$work/answers.log" "$rule" -- "$bin" run "$@" --yes --state-dir "$work/state" \
        | tee "$work/$name.out"
    RC=${PIPESTATUS[0]}
    RUN_ID=$(sed -n 's/^Run \([^ ]*\) (journal: .*/\1/p' "$work/$name.out" | head -1)
}
journal_json() { "$bin" journal "$1" --state-dir "$work/state" --format json; }

failover_sets() {
    F=(--set primary_db_host=127.0.0.1 --set "primary_db_port=$P1" --set primary_check_timeout=2s
        --set "pg_ca_file=$work/certs/ca.pem" --set standby_db_host=127.0.0.1 --set "standby_db_port=$P2"
        --set db_name=rb --set app_db_user=rb
        --set "secondary_api_url=http://127.0.0.1:$A2" --set "secondary_web_url=http://127.0.0.1:$A2"
        --set "public_api_url=$PUBLIC" --set "digitalocean_api=http://127.0.0.1:$DNSP"
        --set app_host=127.0.0.1 --set "app_dir=$work/hetzner-app" --set ssh_user=root --set "ssh_port=$SSHP"
        --set "ssh_key=$work/sshd/id_ed25519" --set "known_hosts=$work/sshd/known_hosts"
        --set promote_check_tries=20 --set promote_check_delay=1s --set startup_wait=0s
        --set health_tries="$([[ $mode == fault ]] && echo 3 || echo 10)" --set health_delay=1s
        --set dns_propagation_wait=1s --set dns_tries=5 --set "dns_server=$NS")
}

# A figure from the journal (python over R, the records): jq_ RUN EXPR
jq_() { journal_json "$1" | python3 -c '
import datetime, json, sys
R = [json.loads(l) for l in sys.stdin if l.strip()]
def of(t, s=None): return [r for r in R if r.get("type") == t and (s is None or r.get("step") == s)]
def last(t, s=None): f = of(t, s); return f[-1] if f else {}
def ms(r): return datetime.datetime.strptime(r["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000
v = eval(sys.argv[1]); print(json.dumps(v) if not isinstance(v, str) else v)' "$2"; }

dns_puts() { python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["method"] in ("PUT", "PATCH"): print(r["status"], r["path"].rsplit("/", 1)[1], json.loads(r["body"]).get("data"))' "$work/dns/requests.jsonl"; }
dns_data() { python3 -c 'import json,sys; print(" ".join(r["name"] + "=" + r["data"] for r in json.load(open(sys.argv[1]))["records"]))' "$work/dns/records.json"; }
ns_cname() { # NAME: the CNAME the drill's nameserver serves for NAME.hopwhistle.com, asked from outside
    /usr/bin/python3 -c '
import sys
from dnslib import DNSRecord
host, port = sys.argv[1].rsplit(":", 1)
r = DNSRecord.parse(DNSRecord.question(sys.argv[2], "CNAME").send(host, int(port), timeout=3))
print(" ".join(str(a.rdata) for a in r.rr) or "-")' "$NS" "$1.hopwhistle.com"; }
public_health() { curl -s -m 5 "$PUBLIC/health" 2>/dev/null | tr -d '\n'; }
app_state() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/$1/app.state" "$2" 2>/dev/null; }
app_alive() { [[ -s $work/$1/app.pid ]] && kill -0 "$(cat "$work/$1/app.pid")" 2>/dev/null; }
two_writers() { awk '$2 == "w" && $3 == "w"' "$work/writable.log" | head -3; }
steps_of() { sed -n 's/^  - id: \([a-z0-9_-]*\)$/\1/p' "$root/runbooks/$1.yaml"; }

# Every step of the runbook journaled with an end, and the split of the run's time.
journal_checks() { # runbook run-id
    local missing
    missing=$(comm -23 <(steps_of "$1" | sort) <(jq_ "$2" '"\n".join(sorted(set(r["step"] for r in of("step_end"))))' | sort))
    check "the journal holds an end for every step of $1" eq "$missing" ""
}

# ---- the drills ----

failover() {
    say "== before the disaster"
    check "DigitalOcean (do-db) is the primary" eq "$(in_recovery do-db)" f
    check "Hetzner (hetzner-db) is a standby" eq "$(in_recovery hetzner-db)" t
    check "the public API answers through DigitalOcean" eq "$(public_health)" OK
    check "DNS points at DigitalOcean" eq "$(dns_data)" "api=api-do.hopwhistle.com www=web-do.hopwhistle.com"
    check "Hetzner's application is stopped" eval '! app_alive hetzner-app'
    write_rows 200 || return 1
    say "  wrote $ROWS rows (last id $LAST_ID); the standby replayed the last one $LAG_MS ms after its commit (pg_stat_replication replay_lag: $REPLAY_LAG)"

    say "== the disaster: PostgreSQL on DigitalOcean stopped hard (pg_ctl -m immediate)"
    T_DISASTER=$(ms_now)
    bash "$servers/pg.sh" stop "$work/pg/do-db" immediate || return 1
    check "DigitalOcean's database is down" eq "$(in_recovery do-db)" down
    check "the public API is down" eval '[[ $(public_health) != OK ]]'

    say "== runbook run failover-to-secondary"
    failover_sets
    DO_DB_PASSWORD=$DBA_PW HETZNER_DB_PASSWORD=$DBA_PW HOPWHISTLE_APP_DB_PASSWORD=$APP_PW DIGITALOCEAN_TOKEN=$DO_TOKEN \
        run_runbook failover '^\? promote: Promote the Hetzner standby ' failover-to-secondary "${F[@]}"
    T_END=$(ms_now)
    FAILOVER_RUN=$RUN_ID
    say "== the world after the failover, seen from outside"
}

check_failover() {
    check "the runbook exited 0" eq "$RC" 0
    check "Hetzner is the primary now (pg_is_in_recovery() = f)" eq "$(in_recovery hetzner-db)" f
    check "DigitalOcean's database is still down" eq "$(in_recovery do-db)" down
    check "every row written before the disaster is on the new primary ($ROWS, last id $LAST_ID)" \
        eq "$(sql hetzner-db "SELECT count(*) || ' ' || max(id) FROM orders")" "$ROWS $LAST_ID"
    check ".env on the Hetzner host points at the promoted database" grep -q "@127.0.0.1:$P2/rb" "$work/hetzner-app/.env"
    check "the previous .env is kept beside it" test -f "$work/hetzner-app/.env.before-failover-$FAILOVER_RUN"
    check "Hetzner's application runs (docker-compose up -d over ssh)" app_alive hetzner-app
    check "... started after the disaster, reading the new .env" eval \
        '[[ $(app_state hetzner-app database_url) == *"@127.0.0.1:$P2/rb" ]] && (( $(app_state hetzner-app started | cut -d. -f1) * 1000 >= T_DISASTER - 1000 ))'
    check "the DNS API accepted both switches, with the trailing dot" eq "$(dns_puts | tr '\n' ' ')" \
        "200 3352896 api-hetzner.hopwhistle.com. 200 3352897 web-hetzner.hopwhistle.com. "
    check "DNS points at Hetzner" eq "$(dns_data)" "api=api-hetzner.hopwhistle.com www=web-hetzner.hopwhistle.com"
    check "the zone's nameserver was asked until it served both (dns steps, no fixed wait)" eq \
        "$(jq_ "$FAILOVER_RUN" '" ".join(last("step_end", s).get("outcome", "-") for s in ("api_record_served", "www_record_served", "dns_propagation_wait"))')" \
        "succeeded succeeded skipped"
    check "... and it serves Hetzner's names" eq "$(ns_cname api) $(ns_cname www)" "api-hetzner.hopwhistle.com. web-hetzner.hopwhistle.com."
    check "the public API answers healthy through the new record" eq "$(public_health)" OK
    check "the operator was asked exactly one question: the promotion" eq "$(cut -d' ' -f2- "$work/answers.log" | cut -c1-32 | tr '\n' '|')" "y: ? promote: Promote the Hetzne|"
    check "never two databases accepting writes" eq "$(two_writers)" ""
    journal_checks failover-to-secondary "$FAILOVER_RUN"
}

check_fault() {
    check "the runbook failed and rolled back (exit 1)" eq "$RC" 1
    check "the journal has the rollback" eq "$(jq_ "$FAILOVER_RUN" 'sorted(r["step"] + ":" + r["outcome"] for r in of("rollback_end"))')" \
        '["promote:skipped", "start_services:succeeded", "write_env:succeeded"]'
    check "Hetzner stays promoted (irreversible; a re-run skips it)" eq "$(in_recovery hetzner-db)" f
    check "every row written before the disaster is on it" eq "$(sql hetzner-db "SELECT count(*) || ' ' || max(id) FROM orders")" "$ROWS $LAST_ID"
    check ".env on the Hetzner host is restored, byte for byte" cmp -s "$work/hetzner-app/.env" "$work/hetzner-app.env.before"
    check "no backup left behind" eval '! ls "$work/hetzner-app"/.env.before-failover-* >/dev/null 2>&1'
    check "Hetzner's application is stopped, as before (docker-compose down ran)" eval '! app_alive hetzner-app && grep -q " down$" "$work/hetzner-app/compose.log"'
    check "the DNS API received no write (health failed before the switch)" eq "$(dns_puts)" ""
    check "DNS still points at DigitalOcean, its old value" eq "$(dns_data)" "api=api-do.hopwhistle.com www=web-do.hopwhistle.com"
    check "never two databases accepting writes" eq "$(two_writers)" ""
}

report() { # RTO and RPO against the runbook's objectives
    local rpo_ms
    rpo_ms=$((15 * 60 * 1000))
    say ""
    say "== measured against failover-to-secondary's objectives (rto 1h, rpo 15m)"
    local secs run_secs
    secs=$(echo "($T_END - $T_DISASTER) / 1000" | bc -l)
    run_secs=$(jq_ "$FAILOVER_RUN" 'last("run_end").get("duration_ms", 0) / 1000')
    if [[ $mode == fault ]]; then
        printf '  RTO  not met: the run rolled back after %.1f s (%.1f s after the disaster); nothing serves until the application is fixed\n' "$run_secs" "$secs"
    else
        printf '  RTO  %6.1f s  from the disaster to the public API healthy again (the run: %.1f s)  %s\n' \
            "$secs" "$run_secs" "$( ((T_END - T_DISASTER <= 3600000)) && echo "within 1h" || echo "OVER 1h")"
    fi
    local lost
    lost=$((ROWS - $(sql hetzner-db "SELECT count(*) FROM orders" 2>/dev/null || echo 0)))
    printf '  RPO  %6.3f s  replication lag before the disaster; %d of %d rows lost  %s\n' \
        "$(echo "$LAG_MS / 1000" | bc -l)" "$lost" "$ROWS" "$( ((LAG_MS <= rpo_ms && lost == 0)) && echo "within 15m" || echo "OVER 15m or rows lost")"
    journal_json "$FAILOVER_RUN" | python3 "$here/split.py" "$root/runbooks/failover-to-secondary.yaml"
    say ""
    say "== runbook report (from the journal alone)"
    "$bin" report "$FAILOVER_RUN" --state-dir "$work/state"
    # DRILL_REPORT=FILE keeps the HTML report (timeline, RTO line, figures) after the clean-up
    if [[ -n ${DRILL_REPORT:-} ]]; then
        "$bin" report "$FAILOVER_RUN" --state-dir "$work/state" --format html >"$DRILL_REPORT" &&
            say "  the HTML report is in $DRILL_REPORT"
    fi
}

# ---- the failback: a planned switchover back to DigitalOcean ----

# Rows FROM..TO on a database, one transaction each, as the application writes: insert_rows DB FROM TO NOTE
insert_rows() {
    local port
    [[ $1 == do-db ]] && port=$P1 || port=$P2
    for i in $(seq "$2" "$3"); do
        echo "INSERT INTO orders (id, note) VALUES ($i, 'order $i, $4');"
    done | runuser -u postgres -- "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$work/pg/$1" -p "$port" -U postgres -d rb
}
rows_on() { sql "$1" "SELECT count(*) || ' ' || max(id) FROM orders" 2>/dev/null || echo down; }
wait_rows() { # db want: the standby replays, 10 s at most
    local n=100
    while ((n-- > 0)); do [[ $(rows_on "$1") == "$2" ]] && return 0; sleep 0.1; done
    say "        $1 has $(rows_on "$1"), want $2"
    return 1
}

failback_sets() {
    B=(--set hetzner_db_host=127.0.0.1 --set "hetzner_db_port=$P2" --set do_db_host=127.0.0.1 --set "do_db_port=$P1"
        --set "pg_ca_file=$work/certs/ca.pem" --set db_name=rb
        --set hetzner_app_host=127.0.0.1 --set "hetzner_app_dir=$work/hetzner-app"
        --set do_app_host=127.0.0.1 --set "do_app_dir=$work/do-app"
        --set "do_pgdata=$work/pg/do-db" --set "hetzner_pgdata=$work/pg/hetzner-db"
        --set do_pg_service=drill-do-db --set hetzner_pg_service=drill-hetzner-db
        --set "passfile=$work/pg/.pgpass-replication"
        --set ssh_user=root --set "ssh_port=$SSHP" --set "ssh_key=$work/sshd/id_ed25519" --set "known_hosts=$work/sshd/known_hosts"
        --set "digitalocean_api=http://127.0.0.1:$DNSP" --set "do_api_url=http://127.0.0.1:$A1" --set "public_api_url=$PUBLIC"
        --set basebackup_timeout=5m --set db_start_tries=30 --set db_start_delay=1s
        --set catchup_tries=30 --set catchup_delay=1s --set sync_tries=100 --set sync_delay=100ms
        --set startup_wait=0s --set health_tries="$([[ $mode == failback-fault ]] && echo 3 || echo 10)" --set health_delay=1s
        --set dns_propagation_wait=1s --set dns_tries=5 --set "dns_server=$NS")
}

failback() {
    say ""
    say "== after the failover: the application writes on Hetzner"
    insert_rows hetzner-db $((LAST_ID + 1)) $((LAST_ID + 100)) "on Hetzner after the failover" || return 1
    ROWS_B=$(sql hetzner-db "SELECT count(*) FROM orders") LAST_B=$(sql hetzner-db "SELECT max(id) FROM orders")
    say "  $ROWS_B rows on Hetzner (last id $LAST_B)"
    # the failback-fault drill: DigitalOcean's application never comes up healthy once restarted
    [[ $mode == failback-fault ]] && sed -i 's/^FAULT=0$/FAULT=1/' "$work/do-app/compose.env"
    say "== runbook run failback-to-primary"
    failback_sets
    : >"$work/hosts/systemctl.log"
    T_FAILBACK=$(ms_now)
    HETZNER_DB_PASSWORD=$DBA_PW DO_DB_PASSWORD=$DBA_PW REPLICATOR_PASSWORD=$REPL_PW DIGITALOCEAN_TOKEN=$DO_TOKEN \
        run_runbook failback '^\? (prerequisites|promote_do|cleanup_reminder): ' failback-to-primary "${B[@]}"
    T_FAILBACK_END=$(ms_now)
    FAILBACK_RUN=$RUN_ID
    say "== the world after the failback, seen from outside"
}

# The poll's samples during the failback: "do hetzner" states, repeats folded ("w r|- w|...").
poll_during_failback() {
    awk -v t0="$T_FAILBACK" -v t1="$T_FAILBACK_END" '$1 >= t0 && $1 <= t1 { s = $2 " " $3; if (s != last) { printf "%s|", s; last = s } }' "$work/writable.log"
}
# From the poll's last sample with Hetzner accepting writes to its first with DigitalOcean
# accepting them, in ms (the databases' own pause, to the poll's resolution).
db_pause_ms() {
    awk -v t0="$T_FAILBACK" -v t1="$T_FAILBACK_END" '$1 >= t0 && $1 <= t1 {
        if ($3 == "w") { h = $1; d = 0 } else if ($2 == "w" && h && !d) d = $1 } END { print (h && d) ? d - h : -1 }' "$work/writable.log"
}
compose_calls() { cut -d' ' -f2- "$work/$1/compose.log" | tr '\n' '/'; }

check_failback() {
    check "the runbook exited 0" eq "$RC" 0
    check "DigitalOcean is the primary again (pg_is_in_recovery() = f)" eq "$(in_recovery do-db)" f
    check "Hetzner is a standby again (pg_is_in_recovery() = t)" eq "$(in_recovery hetzner-db)" t
    insert_rows do-db $((LAST_B + 1)) $((LAST_B + 50)) "on DigitalOcean after the failback"
    check "every row, before the disaster, on Hetzner and after the failback, is on DigitalOcean" \
        eq "$(rows_on do-db)" "$((ROWS_B + 50)) $((LAST_B + 50))"
    check "... and streams to the Hetzner standby" wait_rows hetzner-db "$((ROWS_B + 50)) $((LAST_B + 50))"
    check "DigitalOcean streams to Hetzner through replication_slot_hetzner" \
        eq "$(sql do-db "SELECT string_agg(s.slot_name || ' ' || r.state, ',') FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid")" \
        "replication_slot_hetzner streaming"
    check "both old data directories are kept aside" test -d "$work/pg/do-db.pre-failback-$FAILBACK_RUN" -a -d "$work/pg/hetzner-db.pre-failback-$FAILBACK_RUN"
    check "systemctl on the database hosts: DigitalOcean's asked (down since the disaster, so not stopped) and started as a standby; Hetzner's stopped, then started as a standby" \
        eq "$(cut -d' ' -f2- "$work/hosts/systemctl.log" | tr '\n' '/')" \
        "is-active drill-do-db/start drill-do-db/stop drill-hetzner-db/start drill-hetzner-db/"
    check "the replicator's password never reached a command line" eval '! grep -qF "$REPL_PW" "$work/hosts/sudo.log"'
    check "... and sits in a password file only postgres may read" eq "$(stat -c '%U %a' "$work/pg/.pgpass-replication")" "postgres 600"
    check "Hetzner's application was stopped at the cut-over (docker-compose down)" eval \
        '! app_alive hetzner-app && [[ $(compose_calls hetzner-app) == "up -d/down/" ]]'
    check "DigitalOcean's application was restarted by the failback, reading its .env" eval \
        'app_alive do-app && [[ $(app_state do-app database_url) == *"@127.0.0.1:$P1/rb" ]] && (( $(app_state do-app started | cut -d. -f1) * 1000 >= T_FAILBACK - 1000 ))'
    check "the DNS API accepted the failover's two switches, then the failback's two" eq "$(dns_puts | tr '\n' ' ')" \
        "200 3352896 api-hetzner.hopwhistle.com. 200 3352897 web-hetzner.hopwhistle.com. 200 3352896 api-do.hopwhistle.com. 200 3352897 web-do.hopwhistle.com. "
    check "DNS points at DigitalOcean" eq "$(dns_data)" "api=api-do.hopwhistle.com www=web-do.hopwhistle.com"
    check "the failback asked the zone's nameserver until it served both" eq \
        "$(jq_ "$FAILBACK_RUN" '" ".join(last("step_end", s).get("outcome", "-") for s in ("api_record_served", "www_record_served", "dns_propagation_wait"))')" \
        "succeeded succeeded skipped"
    check "... and it serves DigitalOcean's names again" eq "$(ns_cname api) $(ns_cname www)" "api-do.hopwhistle.com. web-do.hopwhistle.com."
    check "the public API answers healthy through DigitalOcean" eq "$(public_health)" OK
    check "the operator answered the promotions and the failback's two manual steps" \
        eq "$(cut -d' ' -f2- "$work/answers.log" | sed 's/^\(y: ? [a-z_]*\):.*/\1/' | tr '\n' '|')" \
        "y: ? promote|y: ? prerequisites|y: ? promote_do|y: ? cleanup_reminder|"
    check "the poll saw Hetzner writable, then neither, then DigitalOcean, then Hetzner as its standby" eval \
        '[[ $(poll_during_failback) =~ ^"- w|"(.*\|)?"r -|"(.*\|)?"w "[-r]"|"(.*\|)?"w r|"$ ]] || { say "        $(poll_during_failback)"; false; }'
    check "never two databases accepting writes (polled every 100 ms, the whole drill)" eq "$(two_writers)" ""
    journal_checks failback-to-primary "$FAILBACK_RUN"
}

check_failback_fault() {
    check "the runbook failed after the promotion (exit 1)" eq "$RC" 1
    check "... at DigitalOcean's health check" eq "$(jq_ "$FAILBACK_RUN" 'last("run_end").get("status") + " " + last("step_end", "do_healthy").get("outcome")')" "failed failed"
    check "nothing was rolled back (on_failure: abort from the promotion on)" \
        eq "$(jq_ "$FAILBACK_RUN" 'len(of("rollback_start")) + len(of("rollback_end"))')" 0
    check "DigitalOcean stays the primary (the promotion is not undone)" eq "$(in_recovery do-db)" f
    check "Hetzner's database stays stopped (not started again beside it)" eq "$(in_recovery hetzner-db)" down
    check "every row written before the failback is on DigitalOcean" eq "$(rows_on do-db)" "$ROWS_B $LAST_B"
    check "Hetzner's application stays stopped" eval '! app_alive hetzner-app && [[ $(compose_calls hetzner-app) == "up -d/down/" ]]'
    check "DigitalOcean's old data directory stays aside (not moved back over the promoted one)" \
        test -d "$work/pg/do-db.pre-failback-$FAILBACK_RUN"
    check "the DNS API received only the failover's switches" eq "$(dns_puts | tr '\n' ' ')" \
        "200 3352896 api-hetzner.hopwhistle.com. 200 3352897 web-hetzner.hopwhistle.com. "
    check "never two databases accepting writes" eq "$(two_writers)" ""
}

failback_report() {
    say ""
    say "== the failback"
    printf '  run  %6.1f s  (%s)\n' "$(echo "($T_FAILBACK_END - $T_FAILBACK) / 1000" | bc -l)" "$(jq_ "$FAILBACK_RUN" 'last("run_end").get("status")')"
    local api_ms
    if [[ $mode == failback ]]; then
        api_ms=$(jq_ "$FAILBACK_RUN" 'round(ms(last("step_end", "do_healthy")) - ms(last("step_start", "stop_hetzner_app")))')
        printf '  writes paused %.1f s: from stopping the Hetzner application to DigitalOcean'"'"'s answering healthy (journal)\n' "$(echo "$api_ms / 1000" | bc -l)"
    else
        say "  writes still paused: the run stopped after the promotion (DigitalOcean's application never came up); nothing was rolled back past it"
    fi
    printf '  no database accepted writes for %.1f s: from Hetzner'"'"'s last to DigitalOcean'"'"'s first (outside poll)\n' "$(echo "$(db_pause_ms) / 1000" | bc -l)"
    "$bin" report "$FAILBACK_RUN" --state-dir "$work/state"
}

setup || { say "drill: setup failed"; exit 1; }
poll_writable
failover
case $mode in
fault) check_fault ;;
# the failback fault drill needs the failover only as its starting point (the failback drill checks it in full)
failback-fault) check "the failover exited 0" eq "$RC" 0 ;;
*) check_failover ;;
esac
[[ $mode == failback-fault ]] || report
if [[ $mode == failback* ]]; then
    failback
    if [[ $mode == failback ]]; then check_failback; else check_failback_fault; fi
    failback_report
fi
if ((failures)); then say "drill: $failures check(s) failed"; exit 1; fi
say "drill: $mode passed"
