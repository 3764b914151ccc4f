#!/usr/bin/env bash
# The file system under attack by a second local user: state folders and journals planted for
# root to trust, file steps sent through planted or swapped symlinks, locks held from another
# state folder. Runs as root (it adds a throwaway user and removes it at the end); skipped
# otherwise.
#   bash tests/suite_fs.sh BINARY SOURCE_DIR
set -u
bin=$(realpath "$1") src=$(realpath "$2")
if [[ $(id -u) -ne 0 ]] || ! command -v useradd >/dev/null || ! command -v runuser >/dev/null; then
    echo "suite_fs: needs root, useradd and runuser: skipped"
    exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/rb-fs.XXXXXX")
chmod 755 "$work" # the other user must reach the folders it is given
export NO_COLOR=1
unset XDG_STATE_HOME
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
rb() { # runs the binary as root without a terminal; sets code, out, err, rid
    timeout -k 5 60 "$bin" "$@" </dev/null >"$T/out" 2>"$T/err"
    code=$?
    out=$(<"$T/out") err=$(<"$T/err")
    rid=$(sed -n 's/^\(Dry run\|Run\) \([^ ]*\) (journal: .*/\2/p' "$T/out" | head -1)
}
as_other() { runuser -u "$other" -- "$@"; }
check() {
    local what=$1
    shift
    if "$@"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $what"
        [[ -f ${T:-}/out ]] && sed 's/^/    out: /' "$T/out" | tail -15 && sed 's/^/    err: /' "$T/err" | tail -8
    fi
}
eq() { [[ "$1" == "$2" ]] || { echo "    got '$1', want '$2'"; return 1; }; }
ne() { [[ "$1" != "$2" ]] || { echo "    got '$1'"; return 1; }; }
has() { grep -qF -- "$2" <<<"$1" || { echo "    no '$2' in the output"; return 1; }; }
lacks() { ! grep -qF -- "$2" <<<"$1" || { echo "    '$2' is in the output"; return 1; }; }
exists() { [[ -e $1 || -L $1 ]] || { echo "    $1 does not exist"; return 1; }; }
absent() { [[ ! -e $1 ]] || { echo "    $1 exists"; return 1; }; }

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
    # a folder the other user owns, with a symlink it planted beforehand
    mkdir "$T/users"
    chown "$other" "$T/users"
    as_other ln -s "$V/victim" "$T/users/app.conf"
    rb run "$T/fs-write.yaml" --state-dir "$S" --set "dir=$T/users"
    check "file: a write through a link planted in another user's folder fails" eq "$code" 1
    check "... and the root-only file behind the link is untouched" eq "$(cat "$V/victim")" PRECIOUS
    as_other rm "$T/users/app.conf"
    rb run "$T/fs-write.yaml" --state-dir "$S" --set "dir=$T/users"
    check "file: a write into another user's folder is refused" absent "$T/users/app.conf"
    check "... saying whose folder it is" has "$out$err" "is owned by uid $(id -u "$other"), not by you or root"
    # a shared folder of root's (sticky like /tmp, and plain world-writable)
    for mode in 1777 0777; do
        mkdir -p "$T/shared$mode"
        chmod "$mode" "$T/shared$mode"
        as_other ln -s "$V/victim" "$T/shared$mode/app.conf"
        rb run "$T/fs-write.yaml" --state-dir "$S" --set "dir=$T/shared$mode"
        check "file: a symlink planted by another user in a $mode folder is not followed" eq "$(cat "$V/victim")" PRECIOUS
        check "... the step fails saying so" has "$out$err" "is a symlink owned by uid $(id -u "$other")"
        check "... and the link is left as it was" eq "$(readlink "$T/shared$mode/app.conf")" "$V/victim"
    done
    # root's own link in a folder others can change could be swapped at any time: not followed
    mkdir -p "$T/open"
    chmod 0777 "$T/open"
    ln -s "$V/victim" "$T/open/app.conf"
    rb run "$T/fs-write.yaml" --state-dir "$S" --set "dir=$T/open"
    check "file: root's link in a folder others can change is not followed" eq "$(cat "$V/victim")" PRECIOUS
    check "... saying why" has "$out$err" "in a folder that others can change"
    # a folder on the way that is a link planted by the other user
    mkdir -p "$T/mine"
    chown "$other" "$T/mine"
    as_other ln -s "$V" "$T/mine/sub"
    rb run "$T/fs-write.yaml" --state-dir "$S" --set "dir=$T/mine/sub"
    check "file: a planted symlink on the way to the folder is not followed" absent "$V/app.conf"
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

t_file_planted_link
t_file_swapped_link

echo "suite_fs: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
