#!/bin/bash
# Throwaway PostgreSQL clusters for tests, on 127.0.0.1 only. Prints nothing but errors.
#
#   pg.sh primary DIR PORT               a primary: wal_level replica, replication from 127.0.0.1
#   pg.sh standby DIR PRIMARY_PORT PORT SLOT
#                                        a streaming standby of the primary on PRIMARY_PORT, on
#                                        physical slot SLOT (created on the primary when missing)
#   pg.sh tls DIR PORT CA_DIR            a cluster that takes only hostssl + scram-sha-256, with a
#                                        certificate for CN/SAN 127.0.0.1 signed by the CA in
#                                        CA_DIR (CA_DIR/ca.crt + ca.key, made when absent)
#   pg.sh stop DIR [immediate]           stops it (fast shutdown; "immediate" is the disaster)
#
# DIR is the data directory: it is created (it must not exist or be empty), owned by postgres
# when run as root (every server command then runs through runuser), and its parent is made
# traversable (chmod a+x). The unix socket is in DIR (psql -h DIR -p PORT), the log is DIR/log.
# Every cluster has a login role `rb` with a scram-sha-256 password from the environment
# variable PGPASS_RB (default "rb") and a database `rb` it owns. Access, all from 127.0.0.1:
#   primary, standby: postgres by trust (also for replication), everyone else by scram password
#   tls:              hostssl only, scram password for everyone (postgres has none: use the socket)
# Over the unix socket everything is trust. initdb --no-sync and fsync=off: test speed, not data.
set -euo pipefail

BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

die() { echo "pg.sh: $*" >&2; exit 1; }

# Runs a server command as postgres (PostgreSQL refuses root); directly when not root.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Runs a command quietly; on failure shows its output (and the server log, if any) and stops.
quiet() {
    local out
    if ! out=$("$@" 2>&1); then
        echo "$out" >&2
        [ -n "${LOG:-}" ] && [ -f "$LOG" ] && tail -20 "$LOG" >&2
        die "failed: $1 ${2:-}"
    fi
}

make_dir() {
    local dir=$1
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    chmod a+x "$(dirname "$dir")"
    chmod 0700 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    return 0
}

# Settings shared by every cluster; later lines of postgresql.conf win.
base_conf() {
    local dir=$1 port=$2
    cat >>"$dir/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
password_encryption = 'scram-sha-256'
EOF
}

init_cluster() {
    local dir=$1 port=$2
    make_dir "$dir"
    quiet as_pg "$BIN/initdb" -D "$dir" --no-sync -U postgres -E UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256
    base_conf "$dir" "$port"
}

start_cluster() {
    local dir=$1
    LOG="$dir/log" quiet as_pg "$BIN/pg_ctl" -D "$dir" -l "$dir/log" -w -t 30 start
}

# The rb role and database; the password goes through stdin, never argv.
make_rb_user() {
    local dir=$1 port=$2 pw=${PGPASS_RB:-rb}
    pw=${pw//\'/\'\'}
    quiet as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres <<EOF
CREATE ROLE rb LOGIN PASSWORD '$pw';
CREATE DATABASE rb OWNER rb;
EOF
}

cmd_primary() {
    local dir=$1 port=$2
    init_cluster "$dir" "$port"
    cat >>"$dir/postgresql.conf" <<EOF
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
EOF
    cat >"$dir/pg_hba.conf" <<EOF
local all all trust
host replication postgres 127.0.0.1/32 trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
EOF
    start_cluster "$dir"
    make_rb_user "$dir" "$port"
}

cmd_standby() {
    local dir=$1 pport=$2 port=$3 slot=$4
    [[ $slot =~ ^[a-z0-9_]+$ ]] || die "a slot name is lower-case letters, digits and _"
    quiet as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pport" -U postgres -d postgres -c \
        "SELECT pg_create_physical_replication_slot('$slot') WHERE NOT EXISTS
           (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$slot')"
    make_dir "$dir"
    quiet as_pg "$BIN/pg_basebackup" -h 127.0.0.1 -p "$pport" -U postgres -D "$dir" \
        -R -S "$slot" -c fast --no-sync -X stream
    rm -f "$dir/log"
    base_conf "$dir" "$port"
    start_cluster "$dir"
}

# A throwaway CA (once per CA_DIR) and a server certificate for 127.0.0.1 signed by it.
make_certs() {
    local dir=$1 ca=$2
    mkdir -p "$ca"
    if [ ! -f "$ca/ca.crt" ]; then
        quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$ca/ca.key" -out "$ca/ca.crt" -days 2 -subj /CN=runbook-test-ca \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    fi
    quiet openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$dir/server.key" -out "$dir/server.csr" -subj /CN=127.0.0.1
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$dir/server.ext"
    quiet openssl x509 -req -in "$dir/server.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" \
        -CAcreateserial -out "$dir/server.crt" -days 2 -extfile "$dir/server.ext"
    rm -f "$dir/server.csr" "$dir/server.ext"
    chmod 0600 "$dir/server.key"
    chmod a+r "$ca/ca.crt"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/server.key" "$dir/server.crt"
    return 0
}

cmd_tls() {
    local dir=$1 port=$2 ca=$3
    init_cluster "$dir" "$port"
    make_certs "$dir" "$ca"
    cat >>"$dir/postgresql.conf" <<EOF
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
EOF
    cat >"$dir/pg_hba.conf" <<EOF
local all all trust
hostssl all all 127.0.0.1/32 scram-sha-256
EOF
    start_cluster "$dir"
    make_rb_user "$dir" "$port"
}

cmd_stop() {
    local dir=$1 mode=${2:-fast}
    [ -f "$dir/postmaster.pid" ] || return 0
    if ! as_pg "$BIN/pg_ctl" -D "$dir" -m "$mode" -w -t 20 stop >/dev/null 2>&1; then
        quiet as_pg "$BIN/pg_ctl" -D "$dir" -m immediate -w -t 20 stop
    fi
}

case "${1:-}" in
primary) [ $# = 3 ] || die "usage: pg.sh primary DIR PORT"; cmd_primary "$2" "$3" ;;
standby) [ $# = 5 ] || die "usage: pg.sh standby DIR PRIMARY_PORT PORT SLOT"; cmd_standby "$2" "$3" "$4" "$5" ;;
tls) [ $# = 4 ] || die "usage: pg.sh tls DIR PORT CA_DIR"; cmd_tls "$2" "$3" "$4" ;;
stop) [ $# -ge 2 ] || die "usage: pg.sh stop DIR [immediate]"; cmd_stop "$2" "${3:-fast}" ;;
*) die "usage: pg.sh primary|standby|tls|stop ..." ;;
esac
