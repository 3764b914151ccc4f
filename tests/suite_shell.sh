#!/usr/bin/env bash
# Values in shell scripts and ssh commands, through the real binary (issue 7 item 1): each
# bypass of the old quoting is a small runbook run with hostile --set values, and a marker file
# that a value would create must never appear; validate refuses what it must, at FILE:LINE:COL;
# a secret that stands as a word of a command is a secret-in-argv warning. The ssh part runs
# against a private sshd on 127.0.0.1 (tests/servers/sshd.sh) and is skipped when it cannot start.
#   bash tests/suite_shell.sh BINARY SOURCE_DIR
set -u
bin=$(realpath "$1") src=$(realpath "$2")
work=$(mktemp -d "${TMPDIR:-/tmp}/rb-shell.XXXXXX")
export RUNBOOK_LOCK_DIR=$work/system-locks # the machine-wide lock folder, private to this suite
export NO_COLOR=1
unset XDG_STATE_HOME
pass=0 fail=0 sshd_dir=
cleanup() {
    [[ -n $sshd_dir ]] && sh "$src/tests/servers/sshd.sh" stop "$sshd_dir" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

. "$src/tests/lib.sh" # check, eq, has, lacks (absent is this suite's own, below)
T=$work # check shows $T/out and $T/err when one fails
printed() { sed -n 's/^    │ //p' "$work/out" | tr -d '\n'; } # the step's output, lines joined
absent() { [[ ! -e $1 ]] || { echo "    $1 exists: a value ran as code"; return 1; }; }

rb() { # runs the binary in the scratch folder (a value's relative `touch M` lands there)
    (cd "$work/d" && timeout -k 5 60 "$bin" "$@" </dev/null >"$work/out" 2>"$work/err")
    code=$?
    out=$(<"$work/out") err=$(<"$work/err")
}

# A runbook NAME with input x (and y) whose one step runs the script read from stdin.
runbook() {
    local name=$1 kind=${2:-shell}
    {
        printf 'runbook: %s\nversion: 1\ntitle: t\ninputs:\n  x: { type: string }\n' "$name"
        printf '  y: { type: string, default: "}}" }\nsecrets:\n  pw: { env: RB_SHELL_PW }\n'
        [[ $kind == ssh ]] && cat "$work/target"
        printf 'steps:\n  - id: s\n    effect: read\n'
        if [[ $kind == ssh ]]; then
            printf '    ssh:\n      target: box\n      command: |\n'
            sed 's/^/        /'
        else
            printf '    shell: |\n'
            sed 's/^/      /'
        fi
    } >"$work/$name.yaml"
}

mkdir -p "$work/d"
export RB_SHELL_PW=hunter2-secret
M=$work/d/M
values=("\$(touch $M)" "\`touch $M\`" "';touch $M;'" "\";touch $M;\"" ";touch $M;#" $'\ntouch '"$M"
    $'EOF\ntouch '"$M" "a[\$(touch $M)]" "\${x:-\$(touch $M)}")

# Runs runbook NAME with every hostile value; the marker must never appear. With `printed`, the
# run must succeed and print each value literally.
hostile() {
    local name=$1 printed=${2:-} v i=0
    for v in "${values[@]}"; do
        i=$((i + 1))
        rb run "$work/$name.yaml" --yes --state-dir "$work/state" --set "x=$v"
        check "$name #$i: no value ran as code" absent "$M"
        rm -f "$M"
        if [[ -n $printed ]]; then
            check "$name #$i: the run succeeds" eq "$code" 0
            check "$name #$i: the value is printed as it is" has "$(printed)" "${v//$'\n'/}"
        fi
    done
}

refused_at() { # name, LINE:COL, text
    rb validate "$work/$1.yaml"
    check "$1: validate refuses it" eq "$code" 1
    check "$1: at $2: $3" has "$out$err" "$1.yaml:$2: error: $3"
    rb run "$work/$1.yaml" --yes --state-dir "$work/state" --set 'x=a'
    check "$1: run refuses it too" eq "$code" 1
}

# ---- the five bypasses of issue 7 ----

printf '%s\n' 'echo \${{ inputs.x }}' | runbook backslash
refused_at backslash 13:13 'a ${{ }} after a backslash is refused'
hostile backslash

printf '%s\n' "echo \${{ default('}}', 'a') }} \"' \${{ inputs.x }} \"" | runbook string-braces
hostile string-braces printed

printf '%s\n' "echo '\$\${{' }} ' \${{ inputs.x }}'" | runbook escape-in-quotes
refused_at escape-in-quotes 13:24 'a ${{ }} inside single quotes is refused'
hostile escape-in-quotes

printf '%s\n' 'cat <<EOF <<S' 'S' '${{ inputs.x }}' 'EOF' 'S' | runbook two-heredocs
hostile two-heredocs
printf '%s\n' 'cat <<A; cat <<B' '${{ inputs.x }}' 'A' '${{ inputs.x }}' 'B' | runbook two-heredocs-bodies
hostile two-heredocs-bodies printed

D=$(printf 'D%.0s' $(seq 100))
printf '%s\n' "cat <<$D" "${D:0:63}" '${{ inputs.x }}' "$D" | runbook long-delimiter
hostile long-delimiter printed

# ---- words, quotes, here-documents: one literal value each ----

printf '%s\n' "printf '[%s]' \${{ inputs.x }} \"<\${{ inputs.x }}>\"; echo" 'cat <<-EOF' \
    '	(${{ inputs.x }})' '	EOF' | runbook words
for v in "${values[@]}"; do
    rb run "$work/words.yaml" --yes --state-dir "$work/state" --set "x=$v"
    check "words: one word, quoted, here-document" has "$(printed)" "[${v//$'\n'/}][<${v//$'\n'/}>](${v//$'\n'/}"
    check "words: nothing ran" absent "$M"
done

printf '%s\n' "cat <<'EOF'" '${{ inputs.x }}' 'EOF' | runbook quoted-heredoc
refused_at quoted-heredoc 14:7 'a ${{ }} inside a here-document whose delimiter is quoted is refused'
printf '%s\n' 'eval "echo ${{ inputs.x }}"' | runbook eval
refused_at eval 13:18 'a ${{ }} as an argument of eval is refused'
printf '%s\n' 'echo $((1 + ${{ inputs.x }}))' | runbook arith
refused_at arith 13:19 'a ${{ }} inside arithmetic is refused'

# ---- where bash reads a value as code or as a name (found by an audit: these ran the value) ----

printf '%s\n' 'alias greet=${{ inputs.x }}' 'greet' | runbook alias
refused_at alias 13:19 'a ${{ }} as an argument of alias is refused'
hostile alias
printf '%s\n' 'printf -v "${{ inputs.x }}" %s 1' | runbook printf-v
refused_at printf-v 13:18 'a ${{ }} as an argument of printf is refused'
printf '%s\n' 'n=${{ inputs.x }}' 'echo $((n))' | runbook arith-flow
refused_at arith-flow 13:9 "this value reaches the script's line 2, where bash evaluates it"

# An int input may flow into arithmetic; run here with bash as /bin/sh (a private mount), the
# shell of other systems and of most ssh logins.
cat >"$work/count.yaml" <<'EOF'
runbook: count
version: 1
title: t
inputs:
  n: { type: int }
steps:
  - id: s
    effect: read
    shell: |
      n=${{ inputs.n }}
      echo "next $((n + 1)) from $(readlink -f /bin/sh)"
EOF
as_bash() { unshare -m sh -c 'mount --bind /bin/bash /bin/sh && exec "$@"' sh "$@"; }
if as_bash true 2>/dev/null; then
    (cd "$work/d" && as_bash timeout -k 5 60 "$bin" run "$work/count.yaml" --yes --state-dir "$work/state" --set n=41 \
        </dev/null >"$work/out" 2>"$work/err")
    check "count: an int flows into bash's arithmetic" has "$(printed)" "next 42 from"
    (cd "$work/d" && as_bash timeout -k 5 60 "$bin" run "$work/count.yaml" --yes --state-dir "$work/state" \
        --set "n=a[\$(touch $M)]" </dev/null >"$work/out" 2>"$work/err")
    check "count: a hostile value is no int: refused, and nothing ran" absent "$M"
else
    echo "SKIP: unshare -m (bash as /bin/sh) is not available here"
fi

# ---- a secret as a word of a command is in that command's argv ----

printf '%s\n' 'sh -c : ${{ secrets.pw }}' | runbook secret-word
rb validate "$work/secret-word.yaml"
check "secret-word: a warning" has "$out$err" "warning: a secret as a word of a shell command"
check "secret-word: named secret-in-argv" has "$out$err" "secret-in-argv"
rb validate --strict "$work/secret-word.yaml"
check "secret-word: an error under --strict" eq "$code" 1
printf '%s\n' 'PW=${{ secrets.pw }} sh -c ":"' 'cat <<EOF >/dev/null' '${{ secrets.pw }}' 'EOF' | runbook secret-env
rb validate --strict "$work/secret-env.yaml"
check "secret-env: an assignment or a here-document is not an argv" eq "$code" 0
rb run "$work/secret-env.yaml" --yes --state-dir "$work/state" --set x=a
check "secret-env: runs" eq "$code" 0

# ---- ssh: the same values over the channel ----

if command -v sshd >/dev/null 2>&1 || [[ -x /usr/sbin/sshd ]]; then
    sshd_dir=$work/sshd
    mkdir -p "$sshd_dir"
    if sh "$src/tests/servers/sshd.sh" start "$sshd_dir" >/dev/null 2>&1; then
        # shellcheck disable=SC1091
        . "$sshd_dir/server.env"
        printf 'targets:\n  box:\n    ssh: { host: 127.0.0.1, port: %s, user: %s, key: %s, known_hosts: %s }\n' \
            "$PORT" "$KEY_USER" "$sshd_dir/id_ed25519" "$sshd_dir/known_hosts" >"$work/target"
        printf '%s\n' "cd '$work/d' && printf '[%s]' \${{ inputs.x }} \"<\${{ inputs.x }}>\"; echo" \
            'cat <<EOF' '(${{ inputs.x }})' 'EOF' | runbook remote ssh
        for v in "${values[@]}"; do
            rb run "$work/remote.yaml" --yes --state-dir "$work/state" --set "x=$v"
            check "ssh: the run succeeds" eq "$code" 0
            check "ssh: one word, quoted, here-document" has "$(printed)" "[${v//$'\n'/}][<${v//$'\n'/}>](${v//$'\n'/}"
            check "ssh: nothing ran" absent "$M"
        done
        printf '%s\n' "echo 'a \${{ inputs.x }}'" | runbook remote-single ssh
        refused_at remote-single 18:17 'a ${{ }} inside single quotes is refused'
    else
        echo "skip: the private sshd did not start"
    fi
else
    echo "skip: no sshd"
fi

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
