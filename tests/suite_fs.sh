#!/usr/bin/env bash
# The file system under attack by a second local user: state folders and journals planted for
# root to trust, file steps sent through planted or swapped symlinks, locks held from another
# state folder. Runs as root (it adds a throwaway user and removes it at the end); skipped
# otherwise.
#   bash tests/suite_fs.sh BINARY SOURCE_DIR
set -u
bin=$(realpath "$1") src=$(realpath "$2")
. "$src/tests/lib.sh" # check, eq, has, lacks, exists, absent, lines, run_id_of
if [[ $(id -u) -ne 0 ]] || ! command -v useradd >/dev/null || ! command -v runuser >/dev/null; then
    echo "suite_fs: needs root, useradd and runuser: skipped"
    exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/rb-fs.XXXXXX")
chmod 755 "$work" # the other user must reach the folders it is given
mkdir -m 1777 "$work/pids"
export NO_COLOR=1
unset XDG_STATE_HOME RUNBOOK_LOCK_DIR
other=rbfs$$
useradd -M -N -d /nonexistent -s /bin/sh "$other" || { echo "suite_fs: cannot add a user"; exit 1; }
pass=0 fail=0
bgpids=()
cleanup() {
    local p
    for p in "${bgpids[@]}"; do kill -9 "$p" 2>/dev/null; done
    userdel "$other" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# ---- helpers (as in suite_exec.sh) ----

begin() { # a fresh folder per test: T (scratch), S (root's state dir), D (files)
    T=$work/$1 S=$work/$1/state D=$work/$1/d
    mkdir -p "$D"
    chmod 755 "$T"
}
rb() { # runs the binary as root without a terminal; sets code, out, err
    timeout -k 5 60 "$bin" "$@" </dev/null >"$T/out" 2>"$T/err"
    code=$?
    out=$(<"$T/out") err=$(<"$T/err")
}
as_other() { runuser -u "$other" -- "$@"; }
ne() { [[ "$1" != "$2" ]] || { echo "    got '$1'"; return 1; }; }

# A root-only folder with a file in it: what the other user must not reach through runbook.
vault() {
    V=$T/vault
    mkdir -p "$V"
    chmod 700 "$V"
    echo "PRECIOUS" >"$V/victim"
}

# ---- item 5: file steps and planted symlinks ----

write_rb() { # file: a runbook whose step w writes $dir/app.conf; then a step `between`, then a failure
    cat >"$T/fs-write.yaml" <<EOF
runbook: fs-write
version: 1
title: A file step and a rollback
on_failure: rollback
inputs:
  dir: { type: string }
  between: { type: string, default: "true" }
steps:
  - id: w
    file: { path: "\${{ inputs.dir }}/app.conf", content: "WRITTEN\n" }
  - id: between
    needs: [w]
    exec: [sh, -c, "\${{ inputs.between }}"]
    effect: read
  - id: fail
    needs: [between]
    exec: [sh, -c, 'exit 1']
    effect: read
EOF
}

t_file_planted_link() {
    begin file-planted
    vault
    write_rb
    local spy="cat $V/victim > $T/during" # runs only when the write succeeded: it must not
    # a folder the other user owns, with a symlink it planted beforehand
    mkdir "$T/users"
    chown "$other" "$T/users"
    as_other ln -s "$V/victim" "$T/users/app.conf"
    rb run "$T/fs-write.yaml" --state-dir "$S" --set "dir=$T/users" --set "between=$spy"
    check "file: a write through a link planted in another user's folder fails" eq "$code" 1
    check "... and the root-only file behind the link was never written" eq "$(cat "$T/during" 2>/dev/null)" ""
    as_other rm "$T/users/app.conf"
    rb run "$T/fs-write.yaml" --state-dir "$S" --set "dir=$T/users"
    check "file: a write into another user's folder is refused" absent "$T/users/app.conf"
    check "... saying whose folder it is" has "$out$err" "is owned by uid $(id -u "$other"), not by you or root"
    # a shared folder of root's (sticky like /tmp, and plain world-writable)
    for mode in 1777 0777; do
        mkdir -p "$T/shared$mode"
        chmod "$mode" "$T/shared$mode"
        as_other ln -s "$V/victim" "$T/shared$mode/app.conf"
        rm -f "$T/during"
        rb run "$T/fs-write.yaml" --state-dir "$S" --set "dir=$T/shared$mode" --set "between=$spy"
        check "file: a symlink planted by another user in a $mode folder is not followed" eq "$(cat "$T/during" 2>/dev/null)" ""
        check "... the step fails saying so" has "$out$err" "is a symlink owned by uid $(id -u "$other")"
        check "... and the link is left as it was" eq "$(readlink "$T/shared$mode/app.conf")" "$V/victim"
    done
    # root's own link in a folder others can change could be swapped at any time: not followed
    mkdir -p "$T/open"
    chmod 0777 "$T/open"
    ln -s "$V/victim" "$T/open/app.conf"
    rm -f "$T/during"
    rb run "$T/fs-write.yaml" --state-dir "$S" --set "dir=$T/open" --set "between=$spy"
    check "file: root's link in a folder others can change is not followed" eq "$(cat "$T/during" 2>/dev/null)" ""
    check "... saying why" has "$out$err" "in a folder that others can change"
    # a folder on the way that is a link planted by the other user
    mkdir -p "$T/mine"
    chown "$other" "$T/mine"
    as_other ln -s "$V" "$T/mine/sub"
    rm -f "$T/during"
    rb run "$T/fs-write.yaml" --state-dir "$S" --set "dir=$T/mine/sub" --set "between=$spy"
    check "file: a planted symlink on the way to the folder is not followed" eq "$(cat "$T/during" 2>/dev/null)" ""
    check "... the step fails saying so" has "$out$err" "is a symlink owned by uid $(id -u "$other")"
    # root's link in root's folder is still written through, and rolled back through
    mkdir -p "$T/etc"
    echo ORIG >"$T/etc/real.conf"
    ln -s real.conf "$T/etc/app.conf"
    rb run "$T/fs-write.yaml" --state-dir "$S" --set "dir=$T/etc" --set "between=grep -q WRITTEN $T/etc/real.conf"
    check "file: a trusted link is written through and the failing run rolled back" eq "$code" 1
    check "... the write reached the target" has "$out" "between"
    check "... the rollback restored it" eq "$(cat "$T/etc/real.conf")" ORIG
    check "... and the link stays" eq "$(readlink "$T/etc/app.conf")" real.conf
}

t_file_swapped_link() {
    begin file-swapped
    vault
    write_rb
    mkdir -p "$T/shared"
    chmod 0777 "$T/shared" # root's folder, writable by all, not sticky: others may replace entries
    # the step creates app.conf; before the rollback removes it, the other user swaps in a link
    local swap="runuser -u $other -- sh -c 'rm -f $T/shared/app.conf && ln -s $V/victim $T/shared/app.conf'"
    rb run "$T/fs-write.yaml" --state-dir "$S" --set "dir=$T/shared" --set "between=$swap"
    check "file: the swap happened between the write and the rollback" eq "$(readlink "$T/shared/app.conf")" "$V/victim"
    check "file: the rollback does not delete through a swapped-in symlink" exists "$V/victim"
    check "... the root-only file keeps its content" eq "$(cat "$V/victim" 2>/dev/null)" PRECIOUS
    check "... the rollback says it did not complete (exit 3)" eq "$code" 3
    check "... and why" has "$out$err" "is no longer the regular file this step wrote"
    # the file existed: the rollback's restore must not write through a swapped-in link either
    rm -f "$T/shared/app.conf"
    echo OLD >"$T/shared/app.conf"
    rb run "$T/fs-write.yaml" --state-dir "$S" --set "dir=$T/shared" --set "between=$swap"
    check "file: a restore does not write through a swapped-in symlink" eq "$(cat "$V/victim")" PRECIOUS
    check "... the rollback says it did not complete (exit 3)" eq "$code" 3
}

# ---- item 4: the state folder, the journal and the lock must be root's own ----

resume_rb() { # a runbook that waits (until $dir/go exists) and then marks who ran it and with what
    cat >"$T/fs-resume.yaml" <<'EOF'
runbook: fs-resume
version: 1
title: Waits, then marks who ran it
inputs:
  dir: { type: string }
  name: { type: string, pattern: "^[a-z]+$" }
steps:
  - id: wait
    exec: [sh, -c, 'i=0; while [ ! -e "$0/go" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done', "${{ inputs.dir }}"]
    effect: read
  - id: mark
    needs: [wait]
    exec: [sh, -c, 'id -u > "$0/ran-as"; echo "$1" >> "$0/ran-as"', "${{ inputs.dir }}", "${{ inputs.name }}"]
    effect: read
EOF
    chmod 644 "$T/fs-resume.yaml"
}

# Starts fs-resume as USER (root or the other user) in the background and interrupts it while
# `wait` runs; sets rid to its run id. USER STATE_DIR
interrupted_run() {
    local who=$1 state=$2 pidf=$work/pids/$RANDOM
    local cmd="echo \$\$ > $pidf; exec $bin run $T/fs-resume.yaml --state-dir $state --set dir=$D --set name=abc"
    local before
    before=$(ls "$state"/runs/*.jsonl 2>/dev/null)
    if [[ $who == root ]]; then
        sh -c "$cmd" >"$T/bg.out" 2>&1 </dev/null &
    else
        runuser -u "$other" -- sh -c "$cmd" >"$T/bg.out" 2>&1 </dev/null &
    fi
    local bg=$! i f
    bgpids+=("$bg")
    rid=
    for i in $(seq 100); do
        for f in "$state"/runs/*.jsonl; do
            grep -qxF -- "$f" <<<"$before" && continue
            grep -qs '"attempt_start"' "$f" && rid=$(basename "$f" .jsonl)
        done
        [[ -n $rid ]] && break
        sleep 0.1
    done
    kill -INT "$(cat "$pidf")"
    wait "$bg"
}

t_state_other_users() {
    begin state-other
    resume_rb
    chmod 777 "$D"
    # the other user's own state folder, with a journal of theirs: root must not trust it
    mkdir -p "$T/ostate"
    chown "$other" "$T/ostate"
    interrupted_run "$other" "$T/ostate"
    check "state: the other user's run was interrupted and left a journal" exists "$T/ostate/runs/$rid.jsonl"
    touch "$D/go"
    rb resume "$rid" --state-dir "$T/ostate" --yes --rerun-in-doubt
    check "state: root's resume of a journal in another user's folder is refused (exit 2)" eq "$code" 2
    check "... saying whose folder it is" has "$err" "is owned by uid $(id -u "$other"), not by you"
    check "... and nothing ran as root" absent "$D/ran-as"
    # a state folder others may write is refused, and so is a folder under it
    rm -f "$D/go"
    mkdir -p "$S"
    chmod 777 "$S"
    rb run "$T/fs-resume.yaml" --state-dir "$S" --set "dir=$D" --set name=abc
    check "state: a state folder writable by others is refused (exit 2)" eq "$code" 2
    check "... saying so" has "$err" "may be written by others"
    chmod 700 "$S"
    mkdir -p "$S/runs"
    chown "$other" "$S/runs"
    rb run "$T/fs-resume.yaml" --state-dir "$S" --set "dir=$D" --set name=abc
    check "state: a runs/ folder owned by another user is refused (exit 2)" eq "$code" 2
    check "... naming it" has "$err" "the folder $S/runs is owned by uid"
    check "... and nothing ran" absent "$D/ran-as"
    # a lock planted by the other user, held with a spoofed holder, in a state folder it made
    mkdir -p "$T/xdg/runbook/locks"
    chown -R "$other" "$T/xdg"
    runuser -u "$other" -- python3 -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
os.write(fd, b"19700101T000000Z-spoofed-0000 1\n")
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
open(sys.argv[2], "w").write(str(os.getpid()))
time.sleep(30)' "$T/xdg/runbook/locks/fs-resume.lock" "$work/pids/holder" &
    local holder=$! i
    bgpids+=("$holder")
    for i in $(seq 50); do [[ -s $work/pids/holder ]] && break; sleep 0.1; done
    touch "$D/go"
    XDG_STATE_HOME=$T/xdg rb run "$T/fs-resume.yaml" --set "dir=$D" --set name=abc
    check "state: a state folder prepared by another user is refused (exit 2)" eq "$code" 2
    check "... as not root's" has "$err" "is owned by uid $(id -u "$other"), not by you"
    check "... not as a lock held by the spoofed holder" lacks "$err" "spoofed"
    kill -9 "$(cat "$work/pids/holder")"
    wait "$holder" 2>/dev/null
}

t_state_forged_journal() {
    begin state-forged
    resume_rb
    # an untouched journal resumes (the control)
    interrupted_run root "$S"
    touch "$D/go"
    rb resume "$rid" --state-dir "$S" --yes --rerun-in-doubt
    check "resume: an untouched journal resumes" eq "$code" 0
    check "... with its inputs" eq "$(tr '\n' ' ' <"$D/ran-as")" "0 abc "
    rm -f "$D/go" "$D/ran-as"
    # a journal whose input the runbook's pattern forbids (crc recomputed) is refused
    interrupted_run root "$S"
    python3 "$src/tests/journal_forge.py" "$S/runs/$rid.jsonl" --first 'inputs.name=x;touch M'
    touch "$D/go"
    rb journal "$rid" --state-dir "$S"
    check "resume: the forged journal still reads as whole" eq "$code" 0
    check "... with the forged input" has "$out" "x;touch M"
    rb resume "$rid" --state-dir "$S" --yes --rerun-in-doubt
    check "resume: a journaled input that the runbook's pattern forbids is refused (exit 2)" eq "$code" 2
    check "... naming the input" has "$err" "the journal's input name is not a value the runbook accepts"
    check "... and nothing ran" absent "$D/ran-as"
    # a runbook another user may change is not resumed
    rm -f "$D/go"
    interrupted_run root "$S"
    touch "$D/go"
    chown "$other" "$T/fs-resume.yaml"
    rb resume "$rid" --state-dir "$S" --yes --rerun-in-doubt
    check "resume: a runbook owned by another user is not resumed (exit 2)" eq "$code" 2
    check "... saying why" has "$err" "is owned by uid $(id -u "$other")"
    chown root "$T/fs-resume.yaml"
    chmod 666 "$T/fs-resume.yaml"
    rb resume "$rid" --state-dir "$S" --yes --rerun-in-doubt
    check "resume: a runbook others may write is not resumed (exit 2)" eq "$code" 2
    check "... and nothing ran" absent "$D/ran-as"
}

t_state_no_home() {
    begin state-home
    resume_rb
    chmod 777 "$D"
    touch "$D/go"
    mkdir -p "$T/ohome"
    chown "$other" "$T/ohome"
    usermod -d "$T/ohome" "$other"
    (cd "$T" && runuser -u "$other" -- env -u HOME -u XDG_STATE_HOME "$bin" run "$T/fs-resume.yaml" \
        --set "dir=$D" --set name=abc >"$T/out" 2>"$T/err")
    code=$?
    check "state: with HOME unset a run uses the home of the password database" eq "$code" 0
    check "... its journal is there" has "$(cat "$T/out")" "(journal: $T/ohome/.local/state/runbook/runs/"
    check "... and nothing of it went to /tmp" eq "$(find /tmp/.local -user "$other" 2>/dev/null | wc -l)" 0
    usermod -d /nonexistent "$other"
    (cd "$T" && runuser -u "$other" -- env -u HOME XDG_STATE_HOME=relative "$bin" run "$T/fs-resume.yaml" \
        --set "dir=$D" --set name=abc >"$T/out" 2>"$T/err")
    code=$?
    check "state: with no usable home the run is refused (exit 2)" eq "$code" 2
    check "... naming the folder it could not make" has "$(cat "$T/err")" "/nonexistent/.local/state/runbook"
    check "... and nothing of it went to /tmp" eq "$(find /tmp/.local -user "$other" 2>/dev/null | wc -l)" 0
}

# ---- item 9: one lock per name on the machine, whatever the state folder ----

t_lock_system() {
    begin lock-system
    local name=fs-lock-$$ sys=/run/lock/runbook
    cat >"$T/fs-hold.yaml" <<EOF
runbook: fs-hold
version: 1
title: Holds its lock for a while
lock: $name
inputs:
  hold: { type: duration, default: 4s }
steps:
  - id: hold
    sleep: "\${{ inputs.hold }}"
EOF
    chmod 644 "$T/fs-hold.yaml"
    "$bin" run "$T/fs-hold.yaml" --state-dir "$T/s1" </dev/null >"$T/first" 2>&1 &
    local first=$! i
    bgpids+=("$first")
    for i in $(seq 100); do grep -qs '"attempt_start"' "$T"/s1/runs/*.jsonl && break; sleep 0.1; done
    local holder
    holder=$(basename "$(ls "$T"/s1/runs/*.jsonl)" .jsonl)
    rb run "$T/fs-hold.yaml" --state-dir "$T/s2" --set hold=0s
    check "lock: a run under another state folder is refused (exit 2)" eq "$code" 2
    check "... naming the holder's run id, pid and user" has "$err" "held by run $holder (pid $first) of user root"
    check "... and it ran nothing (no journal)" eq "$(ls "$T/s2/runs" 2>/dev/null | grep -c jsonl)" 0
    check "lock: the system folder is root's and sticky" eq "$(stat -c '%U %a' "$sys")" "root 1777"
    XDG_STATE_HOME=$T/xdg HOME=$T/home rb run "$T/fs-hold.yaml" --set hold=0s
    check "lock: ... and under another XDG_STATE_HOME / HOME too" eq "$code" 2
    # another user's run, with its own state folder, holds it: root's run is refused naming them
    kill -9 "$first"
    { wait "$first"; } 2>/dev/null
    rb run "$T/fs-hold.yaml" --state-dir "$T/s2" --set hold=0s
    check "lock: a killed holder leaves no stale system lock" eq "$code" 0
    mkdir -p "$T/ostate"
    chown "$other" "$T/ostate"
    runuser -u "$other" -- "$bin" run "$T/fs-hold.yaml" --state-dir "$T/ostate" </dev/null >"$T/second" 2>&1 &
    local second=$!
    bgpids+=("$second")
    for i in $(seq 100); do grep -qs '"attempt_start"' "$T"/ostate/runs/*.jsonl && break; sleep 0.1; done
    rb run "$T/fs-hold.yaml" --state-dir "$T/s1" --set hold=0s
    check "lock: another user's run keeps root's out (exit 2)" eq "$code" 2
    check "... naming that user" has "$err" "of user $other, under another state folder"
    wait "$second"
    check "lock: the other user's run succeeded" eq "$?" 0
    # a lock file left with a dead holder's details does not block
    printf '19700101T000000Z-gone-0000 999999 0\n' >"$sys/$name.lock"
    rb run "$T/fs-hold.yaml" --state-dir "$T/s1" --set hold=0s
    check "lock: a system lock file naming a dead holder does not block" eq "$code" 0
    rm -f "$sys/$name.lock"
}

# A holder runbook in $T with lock $1 (default one per test), and a caller of it with lock $2.
lock_rbs() {
    cat >"$T/fs-held.yaml" <<EOF
runbook: fs-held
version: 1
title: Holds its lock for a while
lock: $1
inputs:
  hold: { type: duration, default: 0s }
steps:
  - id: hold
    sleep: "\${{ inputs.hold }}"
EOF
    cat >"$T/fs-calls.yaml" <<EOF
runbook: fs-calls
version: 1
title: Calls fs-held under a lock of its own
lock: $2
steps:
  - id: call
    runbook: { name: fs-held }
EOF
    chmod 644 "$T/fs-held.yaml" "$T/fs-calls.yaml"
}
warnings() { grep -c 'warning: runs by other operators on this machine are not kept apart' <<<"$1"; }

# Item 9: a system lock folder that cannot be trusted is not used, and the run says so once.
t_lock_system_warning() {
    begin lock-warning
    lock_rbs "fs-warn-a$$" "fs-warn-b$$"
    local sys=$T/sys uid
    uid=$(id -u "$other")
    # another user made the folder first (as anyone can in /run/lock): root does not use it
    mkdir -m 1777 "$sys"
    chown "$other" "$sys"
    RUNBOOK_LOCK_DIR=$sys rb run "$T/fs-calls.yaml" --state-dir "$S"
    check "lock warning: a folder of another user's does not stop root's run (exit 0)" eq "$code" 0
    check "... one warning line, for the run and its call" eq "$(warnings "$out")" 1
    check "... saying why" has "$out" "the system lock folder $sys cannot be used (it is owned by uid $uid, not root)"
    check "... and how to fix it" has "$out" "to fix, as root: remove that folder, then systemd-tmpfiles --create, or run runbook once"
    check "... and root put nothing in it" eq "$(ls -A "$sys")" ""
    # root's own, but not writable by all: the other operators could not take a lock in it
    chown root "$sys"
    chmod 1755 "$sys"
    RUNBOOK_LOCK_DIR=$sys rb run "$T/fs-held.yaml" --state-dir "$S"
    check "lock warning: a folder of the wrong mode: named" has "$out" "cannot be used (its mode is 1755, not 1777)"
    # missing, and the user is not root: nothing shared is created
    rmdir "$sys"
    mkdir -p "$T/ostate"
    chown "$other" "$T/ostate"
    RUNBOOK_LOCK_DIR=$sys as_other "$bin" run "$T/fs-held.yaml" --state-dir "$T/ostate" </dev/null >"$T/out" 2>&1
    check "lock warning: missing, for a user: the run goes on (exit 0)" eq "$?" 0
    check "... saying it is missing, and how to fix it" has "$(<"$T/out")" "cannot be used (it is missing); to fix, as root: systemd-tmpfiles --create, or run runbook once"
    check "... and the user made no folder" absent "$sys"
    # root makes it right; then no warning, and runs under other state folders are kept apart
    RUNBOOK_LOCK_DIR=$sys rb run "$T/fs-held.yaml" --state-dir "$S"
    check "lock warning: root makes the folder (exit 0)" eq "$code" 0
    check "... root's, mode 1777" eq "$(stat -c '%U %a' "$sys")" "root 1777"
    check "... and says nothing" eq "$(warnings "$out")" 0
    RUNBOOK_LOCK_DIR=$sys as_other "$bin" run "$T/fs-held.yaml" --state-dir "$T/ostate" --set hold=4s </dev/null >"$T/second" 2>&1 &
    local second=$! i
    bgpids+=("$second")
    for i in $(seq 100); do
        [[ $(ls "$T"/ostate/runs/*.jsonl | wc -l) -ge 2 ]] && grep -qs '"attempt_start"' "$(ls -t "$T"/ostate/runs/*.jsonl | head -1)" && break
        sleep 0.1
    done
    check "lock warning: ... the other user's run says nothing either" eq "$(warnings "$(<"$T/second")")" 0
    # the file is writable by all: what the holder wrote can be forged, the kernel cannot
    as_other sh -c "printf 'forged-run 1 0\n' >'$sys/fs-warn-a$$.lock'"
    RUNBOOK_LOCK_DIR=$sys rb run "$T/fs-held.yaml" --state-dir "$T/s3"
    check "lock: the other user's run keeps root's out, under another state folder (exit 2)" eq "$code" 2
    check "... naming that user from the kernel" has "$err" "of user $other, under another state folder"
    check "... not the forged text" lacks "$err" "forged-run"
    check "... nor its pid" lacks "$err" "(pid 1)"
    mkdir -p "$T/ostate2"
    chown "$other" "$T/ostate2"
    RUNBOOK_LOCK_DIR=$sys as_other "$bin" run "$T/fs-held.yaml" --state-dir "$T/ostate2" </dev/null >"$T/third" 2>&1
    check "lock: the same user under a second state folder is kept out too (exit 2)" eq "$?" 2
    wait "$second"
    check "lock: the holding run succeeded" eq "$?" 0
}

t_file_planted_link
t_file_swapped_link
t_lock_system
t_lock_system_warning
t_state_other_users
t_state_forged_journal
t_state_no_home

echo "suite_fs: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
