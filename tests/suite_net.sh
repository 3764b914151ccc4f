#!/usr/bin/env bash
# The network actions (http, sql, ssh) end to end, through the command line, against real
# loopback servers started once: a PostgreSQL primary with a streaming standby (TLS with a test
# CA), a private sshd, and HTTP stand-ins (tests/servers/httpd.py) that answer like the
# Cloudflare v4 and Hetzner Cloud v1 APIs (routes in tests/net/*.json) and record every request.
# Checks: the seed runbooks run for real; the examples that need a network run; every shipped
# runbook dry-runs without a write reaching a server; Ctrl-C during http/sql/ssh steps, then
# resume; refused connections with retry; secrets never leak; TLS verification; connection
# reuse. Every run has a time bound that only catches hangs.
#   bash tests/suite_net.sh BINARY SOURCE_DIR      (RB_NET_ONLY="t_repl t_dns": only those tests)
set -u
bin=$(realpath "$1") src=$(realpath "$2")
. "$src/tests/lib.sh" # check, eq, has, lacks, exists, absent, lines, run_id_of
net=$src/tests/net servers=$src/tests/servers
work=$(mktemp -d "${TMPDIR:-/tmp}/rb-net.XXXXXX")
export RUNBOOK_LOCK_DIR=$work/system-locks # the machine-wide lock folder, private to this suite
chmod a+x "$work"
export RUNBOOK_PATH=$src/runbooks:$net NO_COLOR=1
unset XDG_STATE_HOME PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSSLMODE PGSERVICE
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}log_path=$work/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}${UBSAN_OPTIONS:+:}log_path=$work/sanitizer"
pass=0 fail=0
bgpids=()
PSQL_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

cleanup() {
    local p
    for p in "${bgpids[@]}"; do kill -9 "$p" 2>/dev/null; done
    sh "$servers/sshd.sh" stop "$work/sshd" 2>/dev/null
    for c in standby primary; do bash "$servers/pg.sh" stop "$work/pg/$c" immediate 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

# ---- helpers (as in suite_exec.sh) ----

begin() {
    T=$work/t/$1 S=$work/t/$1/state D=$work/t/$1/d
    mkdir -p "$D"
}
rb() {
    timeout -k 5 90 "$bin" "$@" </dev/null >"$T/out" 2>"$T/err"
    code=$?
    out=$(<"$T/out") err=$(<"$T/err")
    rid=$(run_id_of "$T/out")
}
jq_() { "$bin" journal "$1" --state-dir "$S" --format json 2>/dev/null | python3 "$src/tests/exec/jr.py" "${@:2}"; }
jcheck() { check "$1" eq "$(jq_ "$2" "$3")" true; }
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) && [[ -n $st && $st != Z ]]
}
# Live processes whose command line holds the text (procps may be missing).
procs_with() {
    python3 -c '
import glob, os, sys
me = str(os.getpid())
for c in glob.glob("/proc/[0-9]*/cmdline"):
    pid = c.split("/")[2]
    try:
        text = open(c, "rb").read().replace(b"\0", b" ").decode("utf-8", "replace")
        state = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()[0]
    except OSError:
        continue
    if sys.argv[1] in text and pid != me and state != "Z":
        print(pid + ": " + text)' "$1"
}
no_proc() { local l; l=$(procs_with "$1"); [[ -z $l ]] || { echo "    still running: $l"; return 1; }; }
ms_now() { echo $(($(date +%s%N) / 1000000)); }

# psql over the unix socket as postgres (trust there): psql_ primary|standby SQL
psql_() {
    local dir=$work/pg/$1 port
    [[ $1 == primary ]] && port=$PP || port=$SP
    runuser -u postgres -- "$PSQL_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d "${3:-rb}" -c "$2"
}

# The recorder's requests as "METHOD path?query" lines, or a Python expression over them (R).
rec() { python3 -c '
import json, sys
R = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(eval(sys.argv[2]) if len(sys.argv) > 2 else "\n".join(r["method"] + " " + r["path"] + ("?" + r["query"] if r["query"] else "") for r in R))
' "$@"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- servers, once ----

# httpd NAME [args...]: starts a stand-in recording into $work/http/NAME.rec; sets the port in
# the variable named by NAME in upper case.
httpd() {
    local name=$1
    shift
    mkdir -p "$work/http"
    python3 "$servers/httpd.py" --port 0 --portfile "$work/http/$name.port" --record "$work/http/$name.rec" "$@" >/dev/null 2>"$work/http/$name.log" &
    bgpids+=($!)
    disown $!
}
httpd_port() { wait_until 10 test -s "$work/http/$1.port" && cat "$work/http/$1.port"; }

start_servers() {
    mkdir -p "$work/certs" "$work/pg" "$work/sshd" "$work/bin"
    sh "$servers/mkcert.sh" "$work/certs" >/dev/null 2>&1 || { echo "mkcert failed"; return 1; }
    chmod a+r "$work/certs"/*
    httpd gen --routes "$net/general.json"
    httpd cf --routes "$net/cloudflare.json"
    httpd hz --routes "$net/hetzner.json"
    httpd tls --tls "$work/certs/server.pem" "$work/certs/server.key"
    PP=$(free_port) SP=$(free_port)
    PGPASS_RB=rbpw-net-7 bash "$servers/pg.sh" primary "$work/pg/primary" "$PP" || return 1
    # TLS on the primary with a certificate from the test CA, so the runbooks' sslmode
    # verify-full holds; the standby copies it (and the settings) with the base backup.
    install -o postgres -g postgres -m 600 "$work/certs/server.pem" "$work/pg/primary/server.crt"
    install -o postgres -g postgres -m 600 "$work/certs/server.key" "$work/pg/primary/server.key"
    psql_ primary "ALTER SYSTEM SET ssl = on" postgres && psql_ primary "SELECT pg_reload_conf()" postgres >/dev/null
    psql_ primary "GRANT pg_monitor TO rb; ALTER ROLE postgres PASSWORD 'pgpw-net-7'" postgres
    psql_ primary "CREATE TABLE customers (id int PRIMARY KEY, name text); INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 3) g; ALTER TABLE customers OWNER TO rb; CREATE TABLE naps (s float8); INSERT INTO naps VALUES (30); ALTER TABLE naps OWNER TO rb"
    bash "$servers/pg.sh" standby "$work/pg/standby" "$PP" "$SP" replication_slot_hetzner || return 1
    # From now on postgres needs its password over TCP on the primary (the standby replicates
    # on the replication line, which stays trust).
    sed -i 's/^host all postgres 127.0.0.1\/32 trust/host all postgres 127.0.0.1\/32 scram-sha-256/' "$work/pg/primary/pg_hba.conf"
    psql_ primary "SELECT pg_reload_conf()" postgres >/dev/null
    export PGSSLROOTCERT=$work/certs/ca.pem
    sh "$servers/sshd.sh" start "$work/sshd" >/dev/null || return 1
    # shellcheck disable=SC1091
    . "$work/sshd/server.env"
    SSHP=$PORT
    GEN=$(httpd_port gen) CF=$(httpd_port cf) HZ=$(httpd_port hz) TLSP=$(httpd_port tls)
    [[ -n $GEN && -n $CF && -n $HZ && -n $TLSP ]]
}

# A stand-in for the Fly.io CLI (not installed here, and it would talk to Fly): it records its
# argv and whether it got the token in its environment, and succeeds.
fake_flyctl() {
    cat >"$work/bin/flyctl" <<EOF
#!/bin/sh
printf '%s token=%s\n' "\$*" "\${FLY_API_TOKEN:+set}" >>"$work/flyctl.log"
case "\$*" in
releases*--json) echo '[{"Version":12,"Status":"complete","ImageRef":"registry.fly.io/webhost-prod:deployment-12"},{"Version":11,"Status":"complete","ImageRef":"registry.fly.io/webhost-prod:deployment-11"}]' ;;
"scale show"*--json) echo '[{"Process":"app","Count":3,"CPUKind":"shared","CPUs":1,"Memory":512,"Regions":{"iad":3}}]' ;;
*) echo "fake flyctl: \$*" ;;
esac
EOF
    chmod +x "$work/bin/flyctl"
    export PATH=$work/bin:$PATH
}

# ---- 1. seed runbooks for real ----

t_repl() {
    begin repl
    check "repl: the pair really replicates (a row written on the primary reaches the standby)" \
        wait_until 10 bash -c "[[ \$(runuser -u postgres -- '$PSQL_BIN/psql' -X -At -h '$work/pg/standby' -p $SP -U postgres -d rb -c 'SELECT count(*) FROM customers' 2>/dev/null) == 3 ]]"
    local sets=(--set primary_db_host=127.0.0.1 --set standby_db_host=127.0.0.1 --set "primary_db_port=$PP"
        --set "standby_db_port=$SP" --set db_name=rb --set db_user=rb)
    PRIMARY_DB_PASSWORD=rbpw-net-7 STANDBY_DB_PASSWORD=rbpw-net-7 rb run replication-check --state-dir "$S" "${sets[@]}"
    check "repl: replication-check passes (exit 0)" eq "$code" 0
    check "repl: every step succeeded" eq "$(jq_ "$rid" 'sorted(set(r["outcome"] for r in of("step_end")))')" '["succeeded"]'
    check "repl: seven steps ran" eq "$(jq_ "$rid" 'len(of("step_end"))')" 7
    check "repl: one standby streams" eq "$(jq_ "$rid" 'str(last("step_end","replication")["outputs"]["standbys"])')" 1
    # lag_seconds is CEIL of replay_lag: any lag under a second reads 1
    check "repl: lag at most a second" eq "$(jq_ "$rid" 'int(last("step_end","replication")["outputs"]["lag_seconds"]) <= 1')" true
    check "repl: the standby's receiver streams" eq "$(jq_ "$rid" 'last("step_end","standby_receiving")["outcome"]')" succeeded
    PRIMARY_DB_PASSWORD=rbpw-net-7 STANDBY_DB_PASSWORD=rbpw-net-7 rb run replication-check --state-dir "$S" "${sets[@]}" --set slot_name=no_such_slot
    check "repl: a missing slot fails the check (exit 1)" eq "$code" 1
    check "repl: ... at slot_active" eq "$(jq_ "$rid" 'last("step_end","slot_active")["outcome"]')" failed
    PRIMARY_DB_PASSWORD=wrong-password-1 STANDBY_DB_PASSWORD=rbpw-net-7 rb run replication-check --state-dir "$S" "${sets[@]}"
    check "repl: a wrong password fails (exit 1)" eq "$code" 1
    check "repl: ... with an authentication error" has "$out$err" "authentication failed"
}

t_dns() {
    begin dns
    local Z=023e105f4ecef8ad9ca31a8372d0c353 R=372e67954025e0ba6aaa6d586b9e0b59 f=$work/http/cf.rec
    : >"$f"
    CLOUDFLARE_API_TOKEN=cf-token-1 rb run dns-issues --state-dir "$S" --yes --set "zone_id=$Z" \
        --set "cloudflare_api=http://127.0.0.1:$CF/client/v4" --set new_ip=203.0.113.9 --set resolver=127.0.0.1 \
        --set "site_url=http://127.0.0.1:$GEN/health" --set check_tries=2 --set check_delay=1s
    check "dns: dns-issues repairs the record (exit 0)" eq "$code" 0
    check "dns: the requests, in order" eq "$(rec "$f" | sort | tr '\n' ' ')" \
        "GET /client/v4/zones/$Z GET /client/v4/zones/$Z/dns_records GET /client/v4/zones/$Z/dns_records/$R GET /client/v4/zones/$Z/dns_records?type=A&name=webhost.systems PATCH /client/v4/zones/$Z/dns_records/$R "
    check "dns: every request carries the bearer token" eq "$(rec "$f" 'set(r["headers"].get("Authorization") for r in R)')" "{'Bearer cf-token-1'}"
    check "dns: the PATCH body is only content and ttl (a number): proxied, comment, tags stay as they are" \
        eq "$(rec "$f" '[json.loads(r["body"]) for r in R if r["method"] == "PATCH"]')" \
        "[{'content': '203.0.113.9', 'ttl': 300}]"
    check "dns: the PATCH is sent as JSON" eq "$(rec "$f" '[r["headers"].get("Content-Type") for r in R if r["method"] == "PATCH"]')" "['application/json']"
    check "dns: the record is proxied, so the resolver is not compared" eq "$(jq_ "$rid" 'last("step_end","propagated")["outcome"]')" skipped
    check "dns: the record was found by its captured id" eq "$(jq_ "$rid" 'last("step_end","current_record")["outputs"]["record_id"]')" "$R"
    check "dns: record_updated saw the new address" eq "$(jq_ "$rid" 'last("step_end","record_updated")["outcome"]')" succeeded
    check "dns: the site check passed" eq "$(jq_ "$rid" 'last("step_end","site_healthy")["outcome"]')" succeeded
    : >"$f"
    CLOUDFLARE_API_TOKEN=cf-token-1 rb run dns-issues --state-dir "$S" --yes --set "zone_id=$Z" \
        --set "cloudflare_api=http://127.0.0.1:$CF/client/v4" --set resolver=127.0.0.1 \
        --set "site_url=http://127.0.0.1:$GEN/health" --set check_tries=1 --set check_delay=1s
    check "dns: without new_ip it only diagnoses (exit 0)" eq "$code" 0
    check "dns: ... no write reached the API" eq "$(rec "$f" 'sorted(set(r["method"] for r in R))')" "['GET']"
    check "dns: ... update_record skipped" eq "$(jq_ "$rid" 'last("step_end","update_record")["outcome"]')" skipped
    : >"$f"
    CLOUDFLARE_API_TOKEN=cf-token-1 rb run dns-issues --state-dir "$S" --yes --set "zone_id=$Z" \
        --set "cloudflare_api=http://127.0.0.1:$CF/client/v4" --set new_ip=203.0.113.9 --set ttl=30
    check "dns: a TTL Cloudflare refuses (30) is refused before anything runs (exit 2)" eq "$code" 2
    check "dns: ... nothing reached the API" eq "$(rec "$f" 'len(R)')" 0
}

t_hetzner() {
    begin hetzner
    local f=$work/http/hz.rec common
    common=(--state-dir "$S" --yes --set "hetzner_api=http://127.0.0.1:$HZ/v1" --set "app_health_url=http://127.0.0.1:$GEN/health"
        --set server_delay=1s --set server_tries=4 --set health_tries=2 --set health_delay=1s)
    : >"$f"
    HETZNER_API_TOKEN=hz-token-1 CLOUDFLARE_API_TOKEN=unused rb run hetzner-server-loss "${common[@]}" --set server_id=42
    check "hetzner (off): the run recovers the server (exit 0)" eq "$code" 0
    check "hetzner (off): read, power on, poll until running" eq "$(rec "$f" | tr '\n' ' ')" \
        "GET /v1/servers/42 POST /v1/servers/42/actions/poweron GET /v1/servers/42 "
    check "hetzner (off): no reboot, no replacement" eq "$(jq_ "$rid" 'last("step_end","reboot")["outcome"] + " " + last("step_end","create_server")["outcome"]')" "skipped skipped"
    check "hetzner (off): the application check passed" eq "$(jq_ "$rid" 'last("step_end","app_health")["outcome"]')" succeeded
    check "hetzner: the token goes in the Authorization header" eq "$(rec "$f" 'set(r["headers"].get("Authorization") for r in R)')" "{'Bearer hz-token-1'}"
    : >"$f"
    HETZNER_API_TOKEN=hz-token-1 CLOUDFLARE_API_TOKEN=unused rb run hetzner-server-loss "${common[@]}" --set server_id=43 --set ssh_key_name=ops-key \
        --set cf_zone_id=023e105f4ecef8ad9ca31a8372d0c353 --set dns_record_name=webhost.systems
    # The host key of the new server is a person's check (a manual step): without a terminal the
    # run stops there, before anything connects to it, naming its address.
    check "hetzner (gone): stops at the host-key check, a person's step (exit 1)" eq "$code" 1
    check "hetzner (gone): read (404), create, poll by name until running" eq "$(rec "$f" | tr '\n' ' ')" \
        "GET /v1/servers/43 POST /v1/servers GET /v1/servers?name=webhost-hobby-replacement GET /v1/servers?name=webhost-hobby-replacement "
    check "hetzner (gone): the POST body is the server to create" eq "$(rec "$f" '[json.loads(r["body"]) for r in R if r["method"] == "POST"]')" \
        "[{'name': 'webhost-hobby-replacement', 'server_type': 'cx22', 'image': 'ubuntu-24.04', 'location': 'fsn1', 'ssh_keys': ['ops-key'], 'start_after_create': True}]"
    check "hetzner (gone): the replacement's id and address are outputs" \
        eq "$(jq_ "$rid" 'str(last("step_end","create_server")["outputs"]["new_server_id"]) + " " + last("step_end","create_server")["outputs"]["new_ip"]')" "4711 203.0.113.7"
    check "hetzner (gone): polled twice (initializing, running)" eq "$(jq_ "$rid" 'len(of("attempt_start","new_server_running"))')" 2
    check "hetzner (gone): the host-key step failed and nothing ran after it" \
        eq "$(jq_ "$rid" '[last("step_end","host_key").get("outcome"), len(of("step_start","restore_app_files"))]')" '["failed", 0]'
    check "hetzner (gone): ... its question names the new address" has "$out$err" "runs at 203.0.113.7"
    : >"$f"
    : >"$work/http/gen.rec"
    HETZNER_API_TOKEN=hz-token-1 CLOUDFLARE_API_TOKEN=unused rb run hetzner-server-loss "${common[@]}" --set server_id=44 \
        --set "app_health_url=http://127.0.0.1:$GEN/status/503" --set health_tries=1 --set "alert_webhook_url=http://127.0.0.1:$GEN/alert"
    check "hetzner (hung): without ssh_key_name the replacement stops at its precondition (exit 1)" eq "$code" 1
    check "hetzner (hung): read, ACPI reboot, poll, hard reset, poll" eq "$(rec "$f" | tr '\n' ' ')" \
        "GET /v1/servers/44 POST /v1/servers/44/actions/reboot GET /v1/servers/44 POST /v1/servers/44/actions/reset GET /v1/servers/44 "
    check "hetzner (hung): the team was told that the server is being replaced" \
        eq "$(rec "$work/http/gen.rec" '[r["method"] + " " + r["path"] + " " + str("replacing it" in r["body"]) for r in R if r["path"] == "/alert"]')" "['POST /alert True']"
    check "hetzner (hung): create_server failed at its precondition" has "$out$err" "ssh_key_name"
}

t_dbfail() {
    begin dbfail
    : >"$work/flyctl.log"
    local sets=(--state-dir "$S" --yes --set db_host=127.0.0.1 --set "db_port=$PP" --set db_name=rb --set db_user=rb
        --set restart_wait=0s --set "health_url=http://127.0.0.1:$GEN/health" --set health_tries=2 --set health_delay=1s
        --set db_check_tries=1 --set db_check_delay=1s --set "machines_api=http://127.0.0.1:$GEN/v1"
        --set "alert_webhook_url=http://127.0.0.1:$GEN/alert")
    : >"$work/http/gen.rec"
    FLY_API_TOKEN=fly-token-1 WEBHOST_DB_PASSWORD=rbpw-net-7 rb run database-failure "${sets[@]}"
    check "dbfail: database-failure runs through (exit 0)" eq "$code" 0
    check "dbfail: the writable primary was found" eq "$(jq_ "$rid" 'last("step_end","db_up")["outcome"]')" succeeded
    check "dbfail: the restore branch was skipped" eq "$(jq_ "$rid" 'last("step_end","restore")["outcome"]')" skipped
    check "dbfail: three customers counted" eq "$(jq_ "$rid" 'str(last("step_end","customers")["outputs"]["count"])')" 3
    check "dbfail: the health check passed" eq "$(jq_ "$rid" 'last("step_end","app_healthy")["outcome"]')" succeeded
    check "dbfail: flyctl got the token in its environment, never in argv" \
        eq "$(sort -u "$work/flyctl.log" | tr '\n' '|')" "apps restart webhost-prod token=set|logs -a webhost-prod-db --no-tail token=set|pg restart -a webhost-prod-db --force token=set|status -a webhost-prod-db token=set|"
    check "dbfail: the stopped machines were listed, started one by one and waited for (Machines API)" \
        eq "$(rec "$work/http/gen.rec" '" ".join(r["method"] + " " + r["path"] + ("?" + r["query"] if r["query"] else "") for r in R if "/machines" in r["path"])')" \
        "GET /v1/apps/webhost-prod-db/machines?state=stopped%2csuspended POST /v1/apps/webhost-prod-db/machines/148ed193b95089/start GET /v1/apps/webhost-prod-db/machines/148ed193b95089/wait?state=started&timeout=60 GET /v1/apps/webhost-prod/machines?state=stopped%2csuspended POST /v1/apps/webhost-prod/machines/e286065f969386/start POST /v1/apps/webhost-prod/machines/d8d9e0e6b2e3f8/start GET /v1/apps/webhost-prod/machines/e286065f969386/wait?state=started&timeout=60 GET /v1/apps/webhost-prod/machines/d8d9e0e6b2e3f8/wait?state=started&timeout=60"
    check "dbfail: the Machines API got the token as bearer" eq "$(rec "$work/http/gen.rec" 'set(r["headers"].get("Authorization") for r in R if "/machines" in r["path"])')" "{'Bearer fly-token-1'}"
    check "dbfail: the team was told at the start and the end" eq "$(rec "$work/http/gen.rec" 'len([r for r in R if r["path"] == "/alert"])')" 2
    # The standby is in recovery and the application's /health fails too: the restart "did not
    # help" from both sides, and with no backup_path the restore branch stops at its
    # precondition with the message.
    FLY_API_TOKEN=fly-token-1 WEBHOST_DB_PASSWORD=rbpw-net-7 rb run database-failure "${sets[@]}" --set "db_port=$SP" \
        --set "health_url=http://127.0.0.1:$GEN/status/503" --set "backup_dir=$D"
    check "dbfail (standby): the run stops (exit 1)" eq "$code" 1
    check "dbfail (standby): db_up and app_view failed and were continued past" \
        eq "$(jq_ "$rid" 'last("step_end","db_up")["outcome"] + " " + last("step_end","app_view")["outcome"]')" "failed failed"
    check "dbfail (standby): the dumps were listed" eq "$(jq_ "$rid" 'last("step_end","list_backups")["outcome"]')" succeeded
    check "dbfail (standby): verify_backup asks for backup_path" has "$out$err" "run again with --set backup_path="
    # Only this machine cannot reach the database (the standby is not writable), the application
    # answers: no restore is attempted.
    FLY_API_TOKEN=fly-token-1 WEBHOST_DB_PASSWORD=rbpw-net-7 rb run database-failure "${sets[@]}" --set "db_port=$SP"
    check "dbfail (only from here): the restore branch is skipped" \
        eq "$(jq_ "$rid" 'last("step_end","list_backups")["outcome"] + " " + last("step_end","restore")["outcome"]')" "skipped skipped"
}

# ---- 2. the examples that need a network ----

t_examples() {
    begin examples
    : >"$work/http/gen.rec"
    rb run "$src/examples/parallel.yaml" --state-dir "$S" --yes --yes-manual --jobs 3 --set "api_url=http://127.0.0.1:$GEN/api-health" \
        --set "web_url=http://127.0.0.1:$GEN/web-health" --set domain=localhost
    check "parallel: runs (exit 0)" eq "$code" 0
    check "parallel: the gate passed" eq "$(jq_ "$rid" 'last("step_end","gate")["outcome"]')" succeeded
    check "parallel: api and web overlapped (each waits 400 ms)" \
        eq "$(jq_ "$rid" 'ms(last("step_start","web")) < ms(last("step_end","api")) and ms(last("step_start","api")) < ms(last("step_end","web"))')" true
    check "parallel: they used two connections" eq "$(rec "$work/http/gen.rec" 'len(set(r["conn"] for r in R))')" 2

    rb run "$src/examples/poll-health.yaml" --state-dir "$S" --set "url=http://127.0.0.1:$GEN/poll-health" --set delay=100ms
    check "poll-health: healthy in the end (exit 0)" eq "$code" 0
    check "poll-health: three attempts (503, 503, OK)" eq "$(jq_ "$rid" 'len(of("attempt_start","health"))')" 3

    DEMO_DB_PASSWORD=pgpw-net-7 PGPORT=$PP rb run "$src/examples/captures.yaml" --state-dir "$S" --yes --yes-manual \
        --set "api_url=http://127.0.0.1:$GEN" --set db_host=127.0.0.1 --set disk_limit=100
    check "captures: runs (exit 0)" eq "$code" 0
    check "captures: the version was captured" eq "$(jq_ "$rid" 'last("step_end","version")["outputs"]["version"]')" 1.4.2
    check "captures: one standby streams" eq "$(jq_ "$rid" 'str(last("step_end","replicas")["outputs"]["standbys"])')" 1
    check "captures: branches: old_version asked, no_standby skipped" \
        eq "$(jq_ "$rid" 'last("step_end","old_version")["outcome"] + " " + last("step_end","no_standby")["outcome"]')" "succeeded skipped"
    DEMO_DB_PASSWORD=wrong-password-1 PGPORT=$PP rb run "$src/examples/captures.yaml" --state-dir "$S" --yes --yes-manual \
        --set "api_url=http://127.0.0.1:$GEN" --set db_host=127.0.0.1
    check "captures: the password really is checked (wrong one: exit 1)" eq "$code" 1
}

# ---- 3. dry runs of every shipped runbook write nothing ----

db_state() { # what a write would change on a cluster
    psql_ "$1" "SELECT pg_is_in_recovery(), (SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots),
        (SELECT count(*) FROM customers), (SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace)"
}

# The --set values that point runbook $1 at the loopback servers.
dry_sets() {
    local g=http://127.0.0.1:$GEN cfa=http://127.0.0.1:$CF/client/v4 z=023e105f4ecef8ad9ca31a8372d0c353
    case $1 in
    app-server-failure) echo "health_url=$g/health health_tries=1 health_delay=1s machines_api=$g/v1" ;;
    database-failure) echo "db_host=127.0.0.1 db_port=$PP db_name=rb db_user=rb restart_wait=0s health_url=$g/health health_tries=1 db_check_tries=1 machines_api=$g/v1 alert_webhook_url=$g/alert" ;;
    dns-issues) echo "zone_id=$z cloudflare_api=$cfa new_ip=203.0.113.9 resolver=127.0.0.1 site_url=$g/health check_tries=1 check_delay=1s" ;;
    dr-monitor) echo "primary_db_host=127.0.0.1 primary_api_url=$g secondary_api_url=$g health_tries=1 health_delay=1s alert_webhook_url=$g/alert" ;;
    failback-to-primary) echo "hetzner_db_host=127.0.0.1 hetzner_db_port=$PP do_db_host=127.0.0.1 do_db_port=$SP do_app_host=127.0.0.1 hetzner_app_host=127.0.0.1 db_name=rb digitalocean_api=$g do_api_url=$g public_api_url=$g health_tries=1 health_delay=1s dns_tries=1 startup_wait=0s dns_propagation_wait=0s db_start_tries=1 db_start_delay=1s catchup_tries=1 sync_tries=1" ;;
    failover-to-secondary) echo "primary_db_host=127.0.0.1 primary_db_port=9 primary_check_timeout=2s standby_db_host=127.0.0.1 standby_db_port=$SP db_name=rb secondary_web_url=$g secondary_api_url=$g public_api_url=$g digitalocean_api=$g app_host=127.0.0.1 health_tries=1 health_delay=1s dns_tries=1 startup_wait=0s dns_propagation_wait=0s promote_check_tries=1 promote_check_delay=1s" ;;
    hetzner-server-loss) echo "server_id=42 hetzner_api=http://127.0.0.1:$HZ/v1 app_health_url=$g/health cloudflare_api=$cfa server_tries=1 server_delay=1s health_tries=1 health_delay=1s alert_webhook_url=$g/alert" ;;
    region-outage) echo "replica_db_host=127.0.0.1 replica_db_port=$SP db_name=rb health_url=$g/health health_tries=1 health_delay=1s db_check_tries=1 db_check_delay=1s cloudflare_api=$cfa cf_zone_id=$z dns_new_ip=203.0.113.9 machines_api=$g/v1 alert_webhook_url=$g/alert" ;;
    replication-check) echo "primary_db_host=127.0.0.1 standby_db_host=127.0.0.1 primary_db_port=$PP standby_db_port=$SP db_name=rb db_user=rb" ;;
    *) echo "UNKNOWN" ;;
    esac
}

t_dry() {
    begin dry
    local f name sets a before_p before_s n=0
    for f in "$work"/http/*.rec; do : >"$f"; done
    : >"$work/flyctl.log"
    before_p=$(db_state primary) before_s=$(db_state standby)
    # (secret values long enough not to occur in argvs and messages: "fly" would be masked in "flyctl")
    export PRIMARY_DB_PASSWORD=rbpw-net-7 STANDBY_DB_PASSWORD=rbpw-net-7 WEBHOST_DB_PASSWORD=rbpw-net-7 HETZNER_DB_PASSWORD=pgpw-net-7 DO_DB_PASSWORD=pgpw-net-7 \
        REPLICATOR_PASSWORD=repl-secret-1 CLOUDFLARE_API_TOKEN=cf-token-9 HETZNER_API_TOKEN=hz-token-9 FLY_API_TOKEN=fly-token-9 \
        DIGITALOCEAN_TOKEN=do-token-9 HOPWHISTLE_APP_DB_PASSWORD=app-secret-9 WEBHOST_REPLICA_DB_PASSWORD=pgpw-net-7 WEBHOST_NEW_DATABASE_URL=postgres://x DR_ALERT_WEBHOOK_URL="http://127.0.0.1:$GEN/alert"
    for f in "$src"/runbooks/*.yaml; do
        name=$(basename "$f" .yaml)
        sets=()
        for a in $(dry_sets "$name"); do sets+=(--set "$a"); done
        check "dry: $name has loopback inputs in this suite" test "${sets[*]}" != "--set UNKNOWN"
        rb run "$f" --dry-run --state-dir "$S" "${sets[@]}"
        n=$((n + 1))
        case $name in
        # A read step that checks what a write step did cannot pass when the write did not run:
        # the promotion is skipped, so the "accepts writes" check after it is undecided (tried
        # once), not failed, and the dry run ends without a failure.
        failback-to-primary | failover-to-secondary)
            check "dry: $name exits 0 ($code)" eq "$code" 0
            check "dry: $name leaves the check after the skipped promotion undecided" \
                eq "$(jq_ "$rid" 'last("step_end", "'"$(case $name in failback*) echo do_is_primary ;; *) echo promoted ;; esac)"'").get("undecided")')" true ;;
        *) check "dry: $name exits 0 ($code)" eq "$code" 0 ;;
        esac
        check "dry: $name is journaled as a dry run" eq "$(jq_ "$rid" 'last("run_start").get("dry_run")')" true
    done
    unset PRIMARY_DB_PASSWORD STANDBY_DB_PASSWORD WEBHOST_DB_PASSWORD HETZNER_DB_PASSWORD DO_DB_PASSWORD REPLICATOR_PASSWORD \
        CLOUDFLARE_API_TOKEN HETZNER_API_TOKEN FLY_API_TOKEN DIGITALOCEAN_TOKEN HOPWHISTLE_APP_DB_PASSWORD \
        WEBHOST_REPLICA_DB_PASSWORD WEBHOST_NEW_DATABASE_URL DR_ALERT_WEBHOOK_URL
    check "dry: every shipped runbook was tried ($n)" test "$n" -ge 9
    check "dry: the stand-ins saw reads (GET) only" eq "$(cat "$work"/http/*.rec | python3 -c '
import json, sys; print(sorted(set(json.loads(l)["method"] for l in sys.stdin if l.strip())))')" "['GET']"
    check "dry: the reads reached the stand-ins (Cloudflare, Hetzner)" test -s "$work/http/cf.rec" -a -s "$work/http/hz.rec"
    check "dry: the primary is unchanged" eq "$(db_state primary)" "$before_p"
    check "dry: the standby is unchanged (still a standby)" eq "$(db_state standby)" "$before_s"
    check "dry: flyctl only ran read commands" eq "$(grep -Ev '^(status|logs|releases|scale show|machine list)( |$)' "$work/flyctl.log")" ""
}

# ---- 4. faults: Ctrl-C during a network step, then resume ----

pg_sleeping() { [[ $(psql_ primary "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(s) FROM naps%' AND pid <> pg_backend_pid()") != 0 ]]; }
pg_quiet() { ! pg_sleeping; }
http_slow_seen() { grep -q '"/slow-once"' "$work/http/gen.rec" 2>/dev/null; }
ssh_sleeping() { [[ -n $(procs_with "sleep $nap") ]]; }
ssh_quiet() { ! ssh_sleeping; }

# Host names are looked up by runbook itself within the step's timeout (c-ares): a resolver of
# the test's own, on loopback port 53, seen through a private /etc/resolv.conf (a mount namespace).
t_lookup() {
    begin lookup
    command -v unshare >/dev/null || { check "lookup: unshare is installed" false; return; }
    mkdir -p "$T/ns"
    echo '{"records": ["db.lookup.test. 60 IN A 127.0.0.1"]}' >"$T/ns/zone.json"
    /usr/bin/python3 "$servers/dnsd.py" --zone "$T/ns/zone.json" --portfile "$T/ns/answering" --host 127.0.0.3 --port 53 >/dev/null 2>&1 &
    bgpids+=($!)
    /usr/bin/python3 "$servers/dnsd.py" --zone "$T/ns/zone.json" --portfile "$T/ns/silent" --host 127.0.0.2 --port 53 --silent >/dev/null 2>&1 &
    bgpids+=($!)
    check "lookup: both resolvers listen on port 53" wait_until 10 eval '[[ $(cat "$T/ns/answering" "$T/ns/silent" 2>/dev/null | tr "\n" " ") == "53 53 " ]]'
    echo "nameserver 127.0.0.3" >"$T/ns/answering.conf"
    echo "nameserver 127.0.0.2" >"$T/ns/silent.conf"
    local args=(--state-dir "$S" --set host=db.lookup.test --set "pg_port=$PP" --set "ssh_port=$SSHP" --set "user=$KEY_USER"
        --set "key=$work/sshd/id_ed25519" --set "known_hosts=$T/known_hosts")
    lookup_run() { # resolv.conf: the run with that resolver
        RB_NET_PG_PASSWORD=rbpw-net-7 timeout -k 5 60 unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' \
            "$1" "$bin" run lookup "${args[@]}" </dev/null >"$T/out" 2>"$T/err"
        code=$?
        out=$(<"$T/out") err=$(<"$T/err")
    }
    lookup_run "$T/ns/answering.conf"
    check "lookup: a name the resolver knows connects (sql and ssh, exit 0)" eq "$code" 0
    check "lookup: ... both steps succeeded" eq "$(jq_ "$(run_id_of "$T/out")" '[last("step_end", s)["outcome"] for s in ("by_sql", "by_ssh")]')" '["succeeded", "succeeded"]'
    local t0 t1
    t0=$(ms_now)
    lookup_run "$T/ns/silent.conf"
    t1=$(ms_now)
    check "lookup: a resolver that never answers fails both steps as timed out" \
        eq "$(jq_ "$(run_id_of "$T/out")" '[last("step_end", s)["outcome"] for s in ("by_sql", "by_ssh")]')" '["timed_out", "timed_out"]'
    check "lookup: ... saying so" has "$out" "looking up db.lookup.test: no answer before the deadline"
    check "lookup: ... within the two 2 s timeouts, not the resolver's 5 s x attempts ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 9000
}

t_cancel() { # http|sql|ssh
    local kind=$1 pid t0 t1 r args started gone
    begin "cancel-$kind"
    nap=31.$RANDOM
    case $kind in
    http) args=(--set "base=http://127.0.0.1:$GEN") started=http_slow_seen gone=true ;;
    sql) args=(--set "port=$PP") started=pg_sleeping gone=pg_quiet
        psql_ primary "UPDATE naps SET s = 30" ;;
    ssh) echo "$nap" >"$D/nap"
        chmod a+r "$D/nap"
        args=(--set "port=$SSHP" --set "user=$KEY_USER" --set "key=$work/sshd/id_ed25519"
            --set "known_hosts=$work/sshd/known_hosts" --set "nap_file=$D/nap")
        started=ssh_sleeping gone=ssh_quiet ;;
    esac
    local c0=$SECONDS
    RB_NET_PG_PASSWORD=rbpw-net-7 timeout -k 5 90 "$bin" run "cancel-$kind" --state-dir "$S" "${args[@]}" </dev/null >"$T/first" 2>"$T/err" &
    pid=$!
    check "cancel $kind: the long step reached the server" wait_until 20 "$started"
    [[ -n ${RB_NET_TIMES:-} ]] && echo "    started after $((SECONDS - c0)) s"
    t0=$(ms_now)
    kill -INT "$pid" 2>/dev/null
    wait "$pid"
    code=$?
    t1=$(ms_now)
    r=$(run_id_of "$T/first")
    check "cancel $kind: the run exits 130" eq "$code" 130
    check "cancel $kind: within 2 s of the signal ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 2500
    check "cancel $kind: the step is journaled as cancelled" eq "$(jq_ "$r" 'last("step_end","wait").get("outcome")')" cancelled
    check "cancel $kind: the interruption is journaled" eq "$(jq_ "$r" 'last("interrupted") != {}')" true
    check "cancel $kind: the server-side work is gone" wait_until 3 "$gone"
    # the retried action is short now
    case $kind in sql) psql_ primary "UPDATE naps SET s = 0" ;; ssh) echo 0 >"$D/nap" ;; esac
    RB_NET_PG_PASSWORD=rbpw-net-7 rb resume "$r" --state-dir "$S"
    check "cancel $kind: resume without consent stops at the step in doubt (exit 1)" eq "$code" 1
    check "cancel $kind: ... saying it is in doubt" has "$err" "step wait is in doubt"
    RB_NET_PG_PASSWORD=rbpw-net-7 rb resume "$r" --state-dir "$S" --rerun-in-doubt
    check "cancel $kind: resume --rerun-in-doubt finishes the run" eq "$code" 0
    check "cancel $kind: step one ran once, wait and three succeeded" \
        eq "$(jq_ "$r" '[len(of("step_start","one")), last("step_end","wait")["outcome"], last("step_end","three")["outcome"]]')" '[1, "succeeded", "succeeded"]'
}

t_refused() {
    begin refused
    local hp pgp
    hp=$(free_port) pgp=$(free_port)
    rb run refused --state-dir "$S" --set "http_port=$hp" --set "pg_port=$pgp"
    check "refused: the run fails (exit 1)" eq "$code" 1
    check "refused: http tried 3 times, sql 2 times" eq "$(jq_ "$rid" '[len(of("attempt_start","web")), len(of("attempt_start","query"))]')" "[3, 2]"
    check "refused: both failed" eq "$(jq_ "$rid" 'last("step_end","web")["outcome"] + " " + last("step_end","query")["outcome"]')" "failed failed"
    check "refused: http says the connection failed" has "$(jq_ "$rid" 'last("step_end","web").get("message","")')" "onnect"
    check "refused: sql says the connection was refused" has "$(jq_ "$rid" 'last("step_end","query").get("message","")')" "refused"
    check "refused: the retries are shown" has "$out" "attempt 1/3 failed"
}

# retry.on_errors by class, end to end: the recorder counts the requests, the journal the attempts.
t_retry() {
    begin retry
    local f=$work/http/gen.rec closed
    closed=$(free_port)
    : >"$f"
    RB_NET_PG_PASSWORD=rbpw-net-7 rb run net-retry --state-dir "$S" --yes --set "base=http://127.0.0.1:$GEN" --set "pg_port=$PP" --set "closed_port=$closed"
    check "retry: the run goes past the failed steps (on_failure: continue, exit 0)" eq "$code" 0
    check "retry: every step failed in the end" eq "$(jq_ "$rid" 'sorted(set(r["outcome"] for r in of("step_end")))')" '["failed"]'
    check "retry: 503 under on_errors [5xx]: three requests reached the server" eq "$(rec "$f" 'len([r for r in R if r["path"] == "/status/503"])')" 3
    check "retry: ... three attempts journaled" eq "$(jq_ "$rid" 'len(of("attempt_start","unavailable"))')" 3
    check "retry: 404 under on_errors [5xx]: one request" eq "$(rec "$f" 'len([r for r in R if r["path"] == "/status/404"])')" 1
    check "retry: ... one attempt" eq "$(jq_ "$rid" 'len(of("attempt_start","not_found"))')" 1
    check "retry: SQLSTATE 40001 under on_errors [\"40001\"]: three attempts" eq "$(jq_ "$rid" 'len(of("attempt_start","serialization"))')" 3
    check "retry: ... the server's message and SQLSTATE in the failure" has "$(jq_ "$rid" 'last("step_end","serialization").get("message","")')" "could not serialize (SQLSTATE 40001)"
    check "retry: division by zero (22012) is not retried" eq "$(jq_ "$rid" 'len(of("attempt_start","division"))')" 1
    check "retry: a refused sql connection under on_errors [connect]: three attempts" eq "$(jq_ "$rid" 'len(of("attempt_start","refused"))')" 3
    check "retry: a refused http connection under on_errors [connect]: two attempts" eq "$(jq_ "$rid" 'len(of("attempt_start","refused_web"))')" 2
}

# sql_literal()/sql_ident() in params, read back by the server as SQL on the same connection.
t_quote() {
    begin quote
    local v=$'it\'s a \\back\\slash, "quoted" \u2014 Gr\u00fc\u00dfe \u65e5\u672c' scs
    for scs in on off; do
        RB_NET_PG_PASSWORD=rbpw-net-7 rb run net-quote --state-dir "$S" --yes --set "pg_port=$PP" --set "value=$v" --set 'name=we"ird col' --set "scs=$scs"
        check "quote ($scs): the run passes (exit 0)" eq "$code" 0
        check "quote ($scs): the value comes back unchanged" eq "$(jq_ "$rid" 'last("step_end","literal")["outputs"]["back"]')" "$v"
        # libpq writes " E'...'" for a value with a backslash; the connection-free quoting has no space
        check "quote ($scs): quoted by libpq on the connection" eq "$(jq_ "$rid" 'last("step_end","literal")["outputs"]["quoted"][:3]')" " E'"
        check "quote ($scs): the identifier with a quote names the column" eq "$(jq_ "$rid" 'last("step_end","ident")["outcome"]')" succeeded
    done
}

# ---- secrets never leak ----

no_canary() { # file or folder...: none holds the canary
    local hits
    hits=$(grep -rlF -- "$canary" "$@" 2>/dev/null)
    [[ -z $hits ]] || { echo "    the canary is in: $hits"; return 1; }
}
scan_cmdlines() { # until $T/stop-scan: counts samples in $T/samples, writes LEAK on a hit
    RB_SCAN_CANARY=$canary python3 - "$T" <<'PY'
import glob, os, sys, time
t, canary = sys.argv[1], os.environ["RB_SCAN_CANARY"].encode()
n = 0
while not os.path.exists(t + "/stop-scan"):
    for c in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            text = open(c, "rb").read()
        except OSError:
            continue
        if canary in text:
            open(t + "/LEAK", "a").write(c + ": " + text.replace(b"\0", b" ").decode("utf-8", "replace") + "\n")
    n += 1
    open(t + "/samples", "w").write(str(n))
    time.sleep(0.01)
PY
}

t_secrets() {
    begin secrets
    canary="Cn4ry-$RANDOM-S3cr3t"
    check "secrets: a password login exists (root)" test -n "$PASSWORD_USER"
    printf '%s:%s\n' "$PASSWORD_USER" "$canary" | chpasswd
    psql_ primary "CREATE ROLE canary LOGIN PASSWORD '$canary'" rb
    local f=$work/http/gen.rec variant sets scanner ctl
    # control: the scanner does see a canary in a command line
    rm -f "$T/stop-scan" "$T/LEAK"
    sh -c 'sleep 5; :' "$canary" &
    ctl=$!
    scan_cmdlines &
    scanner=$!
    wait_until 5 test -s "$T/LEAK"
    touch "$T/stop-scan"
    wait "$scanner"
    kill "$ctl" 2>/dev/null
    wait "$ctl" 2>/dev/null
    check "secrets: the scanner sees a canary in a command line (control)" test -s "$T/LEAK"
    sets=(--set "pg_port=$PP" --set "base=http://127.0.0.1:$GEN" --set "ssh_port=$SSHP" --set "ssh_user=$PASSWORD_USER"
        --set "known_hosts=$work/sshd/known_hosts")
    for variant in good bad; do
        : >"$f"
        rm -f "$T/stop-scan" "$T/LEAK" "$T/samples"
        scan_cmdlines &
        scanner=$!
        if [[ $variant == good ]]; then
            RB_NET_PG_SECRET=$canary RB_NET_TOKEN_SECRET=$canary RB_NET_SSH_SECRET=$canary rb run net-secrets --state-dir "$S" "${sets[@]}"
            check "secrets (good): every step succeeded" eq "$(jq_ "$rid" '[r["outcome"] for r in of("step_end")]')" '["succeeded", "succeeded", "succeeded"]'
            check "secrets (good): logged in as the canary role" eq "$(jq_ "$rid" 'last("step_end","query")["outputs"].get("who")')" canary
        else
            RB_NET_PG_SECRET=$canary-x RB_NET_TOKEN_SECRET=$canary RB_NET_SSH_SECRET=$canary-x rb run net-secrets --state-dir "$S" "${sets[@]}" --set "http_path=/status/401"
            check "secrets (bad): every step failed" eq "$(jq_ "$rid" '[r["outcome"] for r in of("step_end")]')" '["failed", "failed", "failed"]'
            check "secrets (bad): sql says authentication failed" has "$(jq_ "$rid" 'last("step_end","query").get("message","")')" "authentication failed"
        fi
        touch "$T/stop-scan"
        wait "$scanner"
        check "secrets ($variant): the token reached the server as bearer and header" \
            eq "$(rec "$f" '[(r["headers"].get("Authorization") == "Bearer " + sys.argv[3], r["headers"].get("X-Api-Key") == sys.argv[3]) for r in R]' "$canary")" "[(True, True)]"
        check "secrets ($variant): the command lines were sampled while the steps ran ($(cat "$T/samples" 2>/dev/null))" test "$(cat "$T/samples" 2>/dev/null || echo 0)" -ge 5
        check "secrets ($variant): no command line held the canary" eq "$(cat "$T/LEAK" 2>/dev/null)" ""
        check "secrets ($variant): not in the terminal output" no_canary "$T/out" "$T/err"
        "$bin" journal "$rid" --state-dir "$S" >"$T/journal.txt" 2>&1
        check "secrets ($variant): not in the state folder (every file) nor the journal shown" no_canary "$S" "$T/journal.txt"
    done
    psql_ primary "DROP ROLE canary" rb
}

t_tls() {
    begin tls
    rb run net-tls --state-dir "$S" --set "base=https://127.0.0.1:$TLSP" --set "ca=$work/certs/ca.pem"
    check "tls: the run passes with the CA (exit 0)" eq "$code" 0
    check "tls: without ca: the certificate is refused" eq "$(jq_ "$rid" 'last("step_end","no_ca")["outcome"]')" failed
    check "tls: ... with a message about the certificate" has "$(jq_ "$rid" 'last("step_end","no_ca").get("message","")')" "certificate"
    check "tls: with ca: it passes and reads the body" eq "$(jq_ "$rid" 'last("step_end","with_ca")["outputs"]["name"]')" runbook
}

# ---- 5. one connection per target for the whole run ----

t_reuse() {
    begin reuse
    local f=$work/http/gen.rec
    : >"$f"
    RB_NET_PG_PASSWORD=rbpw-net-7 rb run net-reuse --state-dir "$S" --set "base=http://127.0.0.1:$GEN" --set "pg_port=$PP"
    check "reuse: the run passes" eq "$code" 0
    check "reuse: 20 http steps, one connection id" eq "$(jq_ "$rid" '[len([r for r in of("step_end") if r["step"].startswith("h")]), len(set(str(r["outputs"]["conn"]) for r in of("step_end") if r["step"].startswith("h")))]')" "[20, 1]"
    check "reuse: the server saw 20 requests on one connection" eq "$(rec "$f" '[len(R), len(set(r["conn"] for r in R))]')" "[20, 1]"
    check "reuse: 10 sql steps, one backend pid" eq "$(jq_ "$rid" '[len([r for r in of("step_end") if r["step"].startswith("s")]), len(set(str(r["outputs"]["pid"]) for r in of("step_end") if r["step"].startswith("s")))]')" "[10, 1]"
}

# Connections are closed when the run ends: the backend and the sshd session that served the
# steps are gone, and no backend of the test role nor session child of the test's sshd is left.
rb_backends() { psql_ primary "SELECT count(*) FROM pg_stat_activity WHERE usename = 'rb' AND backend_type = 'client backend'" postgres; }
sshd_children() { # processes whose parent is the test's sshd listener
    local l p n=0
    l=$(cat "$work/sshd/sshd.pid")
    for p in /proc/[0-9]*/stat; do
        [[ $(sed 's/.*) //' "$p" 2>/dev/null | cut -d' ' -f2) == "$l" ]] && n=$((n + 1))
    done
    echo "$n"
}
t_close() {
    begin close
    check "close: no backend of the test role before the run" wait_until 5 eval '[[ $(rb_backends) == 0 ]]'
    check "close: no sshd session before the run" wait_until 5 eval '[[ $(sshd_children) == 0 ]]'
    RB_NET_PG_PASSWORD=rbpw-net-7 rb run net-close --state-dir "$S" --set "pg_port=$PP" --set "ssh_port=$SSHP" --set "user=$KEY_USER" \
        --set "key=$work/sshd/id_ed25519" --set "known_hosts=$work/sshd/known_hosts"
    check "close: the run passes (exit 0)" eq "$code" 0
    local bpid spid
    bpid=$(jq_ "$rid" 'last("step_end","backend")["outputs"]["pid"]') spid=$(jq_ "$rid" 'last("step_end","session")["outputs"]["pid"]')
    check "close: the steps named their backend and session ($bpid, $spid)" test -n "$bpid" -a -n "$spid"
    check "close: that backend is gone" wait_until 5 eval '[[ $(psql_ primary "SELECT count(*) FROM pg_stat_activity WHERE pid = $bpid" postgres) == 0 ]]'
    check "close: no backend of the test role remains" wait_until 5 eval '[[ $(rb_backends) == 0 ]]'
    check "close: that sshd session is gone" wait_until 5 eval '! alive "$spid"'
    check "close: no sshd session child remains" wait_until 5 eval '[[ $(sshd_children) == 0 ]]'
}

t_cancel_all() { t_cancel http; t_cancel sql; t_cancel ssh; }

# file steps on an ssh target: written over SFTP with their mode, and a later failure's rollback
# puts the old content and mode back and removes the file that did not exist.
t_file_ssh() {
    begin file-ssh
    mkdir -p "$D/host" && chmod 755 "$D" "$D/host"
    printf 'DATABASE_URL=old\n' >"$D/host/app.env" && chmod 600 "$D/host/app.env"
    local args=(--set "port=$SSHP" --set "user=$KEY_USER" --set "key=$work/sshd/id_ed25519"
        --set "known_hosts=$work/sshd/known_hosts" --set "dir=$D/host")
    rb run file-ssh --state-dir "$S" "${args[@]}" --set fail=false
    check "file over ssh: written (exit 0)" eq "$code" 0
    check "file over ssh: the new content is on the host" eq "$(cat "$D/host/app.env")" "DATABASE_URL=new"
    check "file over ssh: ... with its mode" eq "$(stat -c %a "$D/host/app.env")" 640
    check "file over ssh: the new file exists" exists "$D/host/fresh.conf"
    printf 'DATABASE_URL=old\n' >"$D/host/app.env" && chmod 600 "$D/host/app.env" && rm -f "$D/host/fresh.conf"
    rb run file-ssh --state-dir "$S" "${args[@]}"
    check "file over ssh: a later failure rolls back (exit 1)" eq "$code" 1
    check "file over ssh: the old content is back" eq "$(cat "$D/host/app.env")" "DATABASE_URL=old"
    check "file over ssh: ... with its old mode" eq "$(stat -c %a "$D/host/app.env")" 600
    check "file over ssh: the file that did not exist is removed" absent "$D/host/fresh.conf"
    check "file over ssh: no temporary file is left" eq "$(ls -A "$D/host")" "app.env"
}

# A key protected by a passphrase, the passphrase from a secret: it logs in, a wrong one is an
# auth failure, and the passphrase appears in nothing the run printed or journaled.
t_ssh_passphrase() {
    begin ssh-passphrase
    local phrase=Pp-$RANDOM-canary-$RANDOM
    ssh-keygen -q -t ed25519 -N "$phrase" -C pass -f "$T/id_pass"
    cat "$T/id_pass.pub" >>"$work/sshd/authorized_keys"
    local args=(--set "port=$SSHP" --set "user=$KEY_USER" --set "key=$T/id_pass" --set "known_hosts=$work/sshd/known_hosts")
    RB_NET_KEY_PASSPHRASE=$phrase rb run ssh-passphrase --state-dir "$S" "${args[@]}"
    check "key passphrase: logs in (exit 0)" eq "$code" 0
    RB_NET_KEY_PASSPHRASE=wrong-$phrase rb run ssh-passphrase --state-dir "$S" "${args[@]}"
    check "key passphrase: a wrong one fails the run (exit 1)" eq "$code" 1
    check "key passphrase: ... and is shown nowhere" bash -c "! grep -rqF -- '$phrase' '$T/out' '$T/err' '$S'"
}

# kill -9 of runbook during an ssh step: the kernel closes the connection, and the remote
# command must not outlive its channel; a resume then runs the step again with consent.
t_kill_ssh() {
    begin kill-ssh
    nap=32.$RANDOM
    echo "$nap" >"$D/nap"
    chmod a+r "$D/nap"
    local args=(--set "port=$SSHP" --set "user=$KEY_USER" --set "key=$work/sshd/id_ed25519"
        --set "known_hosts=$work/sshd/known_hosts" --set "nap_file=$D/nap") pid r
    "$bin" run cancel-ssh --state-dir "$S" "${args[@]}" </dev/null >"$T/first" 2>"$T/err" &
    pid=$! # runbook itself, not a wrapper: its death is what closes the connection
    check "kill -9 ssh: the remote command started" wait_until 20 ssh_sleeping
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    r=$(run_id_of "$T/first")
    check "kill -9 ssh: the remote command is gone with the connection" wait_until 5 ssh_quiet
    echo 0 >"$D/nap"
    rb resume "$r" --state-dir "$S" --rerun-in-doubt
    check "kill -9 ssh: resume --rerun-in-doubt finishes the run" eq "$code" 0
}

main() {
    start_servers || { echo "FAIL: the servers did not start"; exit 1; }
    fake_flyctl
    local t all="t_repl t_dns t_hetzner t_dbfail t_examples t_dry t_cancel_all t_kill_ssh t_file_ssh t_ssh_passphrase t_refused t_retry t_quote t_close t_secrets t_tls t_reuse t_lookup"
    for t in ${RB_NET_ONLY:-$all}; do
        local t0=$SECONDS
        "$t"
        [[ -n ${RB_NET_TIMES:-} ]] && echo "  $t: $((SECONDS - t0)) s"
    done
    T=$work
    check "no sanitizer report from any process" bash -c "! ls '$work' | grep -q '^sanitizer'"
    cat "$work"/sanitizer* 2>/dev/null | head -40
    echo "$pass passed, $fail failed"
    [[ $fail -eq 0 ]]
}
main
