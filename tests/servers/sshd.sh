#!/bin/sh
# A private OpenSSH server on 127.0.0.1 for tests and drills, with fresh host and client keys.
#
#   sshd.sh start DIR [PORT]   DIR must exist (empty); PORT defaults to a free one.
#   sshd.sh stop DIR           stops the server by DIR/sshd.pid; removes the throwaway user.
#
# After `start`, DIR holds (all paths absolute):
#   server.env            shell lines to source: PORT, KEY_USER (the current user, who logs in with
#                         the client keys), PASSWORD_USER and PASSWORD (empty unless run as root)
#   id_ed25519 id_ecdsa id_rsa (+ .pub)   client keys, no passphrase; all in authorized_keys.
#                         The RSA key is for the refusal test: libssh2 1.10 cannot sign with it.
#   known_hosts           both host keys as "[127.0.0.1]:PORT type key", after one junk line
#                         (libssh2_knownhost_readfile would stop there; a careful reader skips it)
#   known_hosts.hashed    the same, hashed (ssh-keygen -H: |1|salt|hash entries)
#   known_hosts.ed25519   only the ed25519 host key       known_hosts.ecdsa  only the ecdsa one
#   known_hosts.wrong     other keys of both types for the same host: a "changed" host key
#   sshd_config sshd.log sshd.pid host_ed25519 host_ecdsa authorized_keys
#
# Password login: run as root, `start` creates a local user `rbtNNNNNN` (random digits, one per
# DIR, so parallel servers do not share it; no home, /bin/sh) with a fresh random password, and
# `stop` deletes it (userdel -f); root itself may log in by key only
# (PermitRootLogin prohibit-password). As another user there is no password login
# (UsePAM no makes sshd check /etc/shadow, which only root can read).
set -eu

die() { echo "sshd.sh: $*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

keygen() { ssh-keygen -q -t "$1" -N '' -C "$2" -f "$3"; }

make_keys() {
    d=$1
    keygen ed25519 host "$d/host_ed25519"
    keygen ecdsa host "$d/host_ecdsa"
    for t in ed25519 ecdsa rsa; do keygen "$t" client "$d/id_$t"; done
    cat "$d/id_ed25519.pub" "$d/id_ecdsa.pub" "$d/id_rsa.pub" >"$d/authorized_keys"
    keygen ed25519 other "$d/other_ed25519"
    keygen ecdsa other "$d/other_ecdsa"
}

# "[127.0.0.1]:PORT type key" for each public key file given.
known_line() {
    port=$1; shift
    for f in "$@"; do awk -v h="[127.0.0.1]:$port" '{print h, $1, $2}' "$f"; done
}

make_known_hosts() {
    d=$1 port=$2
    { echo 'this line is not a known_hosts entry'
      known_line "$port" "$d/host_ed25519.pub" "$d/host_ecdsa.pub"; } >"$d/known_hosts"
    known_line "$port" "$d/host_ed25519.pub" "$d/host_ecdsa.pub" >"$d/known_hosts.hashed"
    ssh-keygen -q -H -f "$d/known_hosts.hashed" >/dev/null 2>&1
    rm -f "$d/known_hosts.hashed.old"
    known_line "$port" "$d/host_ed25519.pub" >"$d/known_hosts.ed25519"
    known_line "$port" "$d/host_ecdsa.pub" >"$d/known_hosts.ecdsa"
    known_line "$port" "$d/other_ed25519.pub" "$d/other_ecdsa.pub" >"$d/known_hosts.wrong"
}

write_config() {
    d=$1 port=$2
    cat >"$d/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $port
HostKey $d/host_ed25519
HostKey $d/host_ecdsa
AuthorizedKeysFile $d/authorized_keys
PidFile $d/sshd.pid
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
LogLevel VERBOSE
Subsystem sftp internal-sftp
CONF
}

# A throwaway password account (root only): sshd checks the password against /etc/shadow.
make_password_user() {
    name=$1 pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    useradd -M -d / -s /bin/sh "$name" || die "cannot create the user $name"
    echo "$name:$pw" | chpasswd
    echo "$pw"
}

start() {
    d=$(cd "$1" && pwd) port=${2:-$(free_port)}
    make_keys "$d"
    make_known_hosts "$d" "$port"
    write_config "$d" "$port"
    pw_user='' pw=''
    if [ "$(id -u)" = 0 ]; then
        mkdir -p /run/sshd
        pw_user=rbt$(od -An -N4 -tu4 /dev/urandom | tr -d ' ' | cut -c1-6)
        pw=$(make_password_user "$pw_user")
    fi
    printf 'PORT=%s\nKEY_USER=%s\nPASSWORD_USER=%s\nPASSWORD=%s\n' \
        "$port" "$(id -un)" "$pw_user" "$pw" >"$d/server.env"
    chmod 600 "$d/server.env"
    /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" || die "sshd did not start: see $d/sshd.log"
    i=0
    while [ ! -s "$d/sshd.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ -s "$d/sshd.pid" ] || die "sshd wrote no pid file"
}

stop() {
    d=$1
    if [ -s "$d/sshd.pid" ]; then
        kill "$(cat "$d/sshd.pid")" 2>/dev/null || true
        rm -f "$d/sshd.pid"
    fi
    pw_user=$(sed -n 's/^PASSWORD_USER=//p' "$d/server.env" 2>/dev/null || true)
    if [ -n "$pw_user" ] && [ "$(id -u)" = 0 ]; then
        userdel -f "$pw_user" 2>/dev/null || true
    fi
}

case "${1:-}" in
start) [ $# -ge 2 ] || die "usage: sshd.sh start DIR [PORT]"; start "$2" "${3:-}" ;;
stop) [ $# -ge 2 ] || die "usage: sshd.sh stop DIR"; stop "$2" ;;
*) die "usage: sshd.sh start|stop DIR [PORT]" ;;
esac
