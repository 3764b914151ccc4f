#!/usr/bin/env bash
# The command line as a user meets it: folders, ignore files, help, usage errors, exit codes.
set -u
bin=$1 src=$2
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect_exit() { # code, description, command...
    local want=$1 what=$2; shift 2
    out=$("$@" 2>&1); code=$?
    [[ $code == "$want" ]] && ok || bad "$what: exit $code, expected $want
$out"
}
expect_out() { # text, description (uses $out of the last command)
    grep -qF -- "$1" <<<"$out" && ok || bad "$2: output lacks '$1'
$out"
}
tmp=$(mktemp -d)
export RUNBOOK_LOCK_DIR=$tmp/system-locks # the machine-wide lock folder, private to this suite
trap 'rm -rf "$tmp"' EXIT
cd "$src" || exit 1

expect_exit 0 "shipped runbooks and examples are valid under --strict" "$bin" validate --strict runbooks/ examples/
expect_out "0 invalid" "validate summary"
expect_exit 2 "a missing path is a usage error" "$bin" validate no/such/path
expect_out "no such file or folder" "missing path message"
expect_exit 2 "no path at all" "$bin" validate
expect_exit 2 "unknown format" "$bin" validate --format xml runbooks/
expect_exit 2 "unknown option" "$bin" validate --frobnicate runbooks/
expect_exit 2 "unknown command" "$bin" frobnicate
expect_exit 0 "--version" "$bin" --version
expect_out "runbook " "version text"
for cmd in validate plan run resume runs journal report graph list; do
    expect_exit 0 "$cmd --help" "$bin" "$cmd" --help
    expect_out "usage: runbook $cmd" "$cmd help text"
done

# Folders recurse; .runbookignore and --exclude skip; invalid files anywhere fail the run.
mkdir -p "$tmp/tree/sub/skipme" "$tmp/tree/ci"
cp tests/cases/valid-minimal.yaml "$tmp/tree/sub/"
printf 'runbook: broken\nversion: 1\n' >"$tmp/tree/sub/skipme/broken.yaml"
printf 'not: [a runbook\n' >"$tmp/tree/ci/workflow.yml"
printf '# CI files are not runbooks\nci/\nsub/skipme/\n' >"$tmp/tree/.runbookignore"
expect_exit 0 ".runbookignore skips folders" "$bin" validate "$tmp/tree"
expect_out "1 file checked" "only the valid file is checked"
rm "$tmp/tree/.runbookignore"
expect_exit 1 "without the ignore file the broken files count" "$bin" validate "$tmp/tree"
expect_exit 0 "--exclude skips" "$bin" validate --exclude 'skipme/' --exclude '*.yml' "$tmp/tree"

# NAME lookups go through RUNBOOK_PATH.
expect_exit 0 "plan by name on RUNBOOK_PATH" env RUNBOOK_PATH="$tmp/tree/sub" "$bin" plan valid-minimal
expect_out "Plan for valid-minimal" "plan by name"
expect_exit 2 "plan of an unknown name" env RUNBOOK_PATH="$tmp/tree/sub" "$bin" plan no-such-runbook
expect_exit 1 "plan of an invalid file does nothing" "$bin" plan "$tmp/tree/sub/skipme/broken.yaml"
expect_exit 0 "list" "$bin" list runbooks
expect_out "failover-to-secondary" "list shows the failover"
expect_out "critical" "list shows severities"

# The network actions run: a request to a closed loopback port fails the step with a clear
# connect error after its retries, and the run is journaled (nothing is refused up front).
closed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/net-refused.yaml" <<EOF
version: 1
runbook: net-refused
title: A probe of a closed port
description: an http step against a port where nothing listens
steps:
  - id: probe
    http: { url: "http://127.0.0.1:$closed_port/health" }
    timeout: 5s
    retry: { attempts: 2, delay: 100ms, on_errors: [connect] }
EOF
expect_exit 1 "an http step against a closed port fails the run" "$bin" run "$tmp/net-refused.yaml" --state-dir "$tmp/state"
expect_out "cannot connect to 127.0.0.1:$closed_port" "the failure names the address"
[[ $(cat "$tmp"/state/runs/*.jsonl | grep -c '"attempt_end"') == 2 ]] && ok || bad "a connect error is retried as retry.on_errors says"

# A target may read an earlier step's output (a replacement server's address): rendered when a
# step uses it, and the server sees the request.
mkdir -p "$tmp/www" && echo hello >"$tmp/www/hello.txt"
www_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$www_port" --bind 127.0.0.1 --directory "$tmp/www" >"$tmp/www.log" 2>&1 &
www_pid=$!
for _ in $(seq 50); do grep -q . "$tmp/www.log" 2>/dev/null && break; curl -s "http://127.0.0.1:$www_port/" >/dev/null 2>&1 && break; sleep 0.1; done
cat >"$tmp/target-from-step.yaml" <<EOF
version: 1
runbook: target-from-step
title: A target whose address an earlier step found
targets:
  web:
    http:
      base_url: "http://127.0.0.1:\${{ steps.find.port }}"
      timeout: 5s
steps:
  - id: find
    exec: [echo, "port=$www_port"]
    effect: read
    capture: { port: 're:port=([0-9]+)' }
  - id: get
    needs: [find]
    http: { target: web, path: /hello.txt }
    expect: { body: "^hello" }
EOF
expect_exit 0 "a target that reads a step's output" "$bin" run "$tmp/target-from-step.yaml" --state-dir "$tmp/state2"
grep -q 'GET /hello.txt' "$tmp/www.log" && ok || bad "the server saw the request to the rendered address"
kill "$www_pid" 2>/dev/null

# A NUL byte in command output cannot be passed on (it would cut the value there without a word):
# the step that would use it fails and says why.
cat >"$tmp/nul.yaml" <<'EOF'
version: 1
runbook: nul
title: A NUL in a captured value
steps:
  - id: e
    exec: [printf, 'env=prod\0-staging\n']
    effect: read
    capture: { env: "re:env=(.*)" }
  - id: use
    exec: [echo, "${{ steps.e.env }}"]
    effect: read
EOF
expect_exit 1 "a captured value with a NUL byte is not passed on" "$bin" run "$tmp/nul.yaml" --state-dir "$tmp/state3"
expect_out "the value holds a NUL byte" "the failure says why"

# A summary names every step continued past, also past 4,096 of them (they were dropped).
python3 - "$tmp/many.yaml" <<'EOF'
import sys
steps = "".join(f"  - id: s{i}\n    assert: \"inputs.n < 0\"\n    on_failure: continue\n" for i in range(4100))
open(sys.argv[1], "w").write("version: 1\nrunbook: many\ntitle: Many failures\ninputs:\n  n: { type: int, default: 1 }\nsteps:\n" + steps)
EOF
expect_exit 0 "4,100 steps continued past" "$bin" run "$tmp/many.yaml" --state-dir "$tmp/state4" --quiet
[[ $(grep -c '^  failed and continued past: ' <<<"$out") == 4096 ]] && ok || bad "the summary lists 4,096 by name"
expect_out "and 4 more steps continued past or undecided" "the summary counts the rest"

# The bad-input corpus: every file is refused with exit 1 and a located error, never a crash.
for f in tests/bad/*.yaml; do
    want=$(cat "${f%.yaml}.expect")
    pos=${want%% *} text=${want#* }
    expect_exit 1 "bad input $f" timeout 60 "$bin" validate "$f"
    if [[ $pos == 0:0 ]]; then
        expect_out "$f: error: $text" "bad input $f message"
    else
        expect_out "$f:$pos: error: $text" "bad input $f position and message"
    fi
done

# Inputs that once crashed the checker (found by fuzzing): refused cleanly now.
for f in tests/fuzz/crashes/*.yaml; do
    expect_exit 1 "former crash $f" timeout 60 "$bin" validate "$f"
done

# Huge inputs are refused or accepted quickly, with bounded memory (time bound only catches hangs).
python3 - "$tmp" <<'PY'
import sys, os
d = sys.argv[1]
open(os.path.join(d, "huge-scalar.yaml"), "w").write("runbook: huge-scalar\nversion: 1\ntitle: x\ndescription: " + "a" * (20 << 20) + "\nsteps: [{id: a, sleep: 1s}]\n")
with open(os.path.join(d, "many-keys.yaml"), "w") as f:
    f.write("runbook: many-keys\nversion: 1\ntitle: x\ninputs:\n")
    for i in range(200000):
        f.write(f"  i{i}: {{ default: v }}\n")
    f.write("steps: [{id: a, sleep: 1s}]\n")
open(os.path.join(d, "long-line.yaml"), "w").write("runbook: long-line\nversion: 1\ntitle: " + "t" * (1 << 20) + "\nsteps: [{id: a, sleep: 1s}]\n")
open(os.path.join(d, "deep.yaml"), "w").write("runbook: deep\nversion: 1\ntitle: x\nsteps: " + "[" * 1000000 + "\n")
PY
for f in huge-scalar many-keys long-line deep; do
    out=$( { /usr/bin/time -f 'maxrss_kb=%M' timeout 60 "$bin" validate "$tmp/$f.yaml"; } 2>&1 ); code=$?
    [[ $code == 0 || $code == 1 ]] && ok || bad "huge input $f: exit $code"
    rss=$(sed -n 's/.*maxrss_kb=\([0-9]*\).*/\1/p' <<<"$out" | tail -1)
    [[ -n $rss && $rss -lt 1048576 ]] && ok || bad "huge input $f: peak memory ${rss:-?} KiB"
done
[[ $(timeout 60 "$bin" validate "$tmp/huge-scalar.yaml" 2>&1) == *"larger than 16 MiB"* ]] && ok || bad "a 20 MiB file is refused by size"
[[ $(timeout 60 "$bin" validate "$tmp/deep.yaml" 2>&1) == *"nesting deeper than 64"* ]] && ok || bad "deep nesting is refused"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
