#!/usr/bin/env bash
# The DR drill of examples/pg-failover-drill end to end, as CI runs it: the failover and the
# fault drill (each checks the world from outside the runbook itself and exits non-zero when
# anything did not happen); here, their exit codes and a few facts read again from the folder
# each drill keeps (KEEP=1): the DNS stand-in's requests and records, the operator's answers,
# the outside poll of which database accepts writes, the journal.
#   bash tests/suite_drill.sh BINARY SOURCE_DIR        (root only; exit 77 = skipped otherwise)
set -u
bin=$(realpath "$1") src=$(realpath "$2")
[[ $(id -u) == 0 ]] || { echo "SKIP: the drill needs root (PostgreSQL through runuser)"; exit 77; }
pass=0 fail=0
check() {
    local what=$1
    shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $what"; fi
}
eq() { [[ "$1" == "$2" ]] || { echo "    got '$1', want '$2'"; return 1; }; }
drill() { # mode: runs the drill, sets code, out, dir
    RUNBOOK=$bin KEEP=1 timeout -k 5 200 bash "$src/examples/pg-failover-drill/drill.sh" $1 >"$tmp/out" 2>&1
    code=$?
    out=$(<"$tmp/out")
    dir=$(sed -n 's/^kept: //p' "$tmp/out" | tail -1)
    [[ $code == 0 ]] || tail -40 "$tmp/out"
}
puts() { python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["method"] != "GET": print(r["status"], r["method"], json.loads(r["body"])["data"])' "$dir/dns/requests.jsonl" | tr '\n' ' '; }
data() { python3 -c 'import json,sys; print(" ".join(r["data"] for r in json.load(open(sys.argv[1]))["records"]))' "$dir/dns/records.json"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

drill ""
check "failover drill: exit 0" eq "$code" 0
check "failover drill: prints RTO and RPO against the objectives" grep -q "RTO .* within 1h" <<<"$out"
check "failover drill: ... and the tool's own share" grep -q "runbook [0-9.]* s ([0-9.]* %)" <<<"$out"
check "failover drill: DNS stand-in got both switches, with trailing dots, accepted" \
    eq "$(puts)" "200 PUT api-hetzner.hopwhistle.com. 200 PUT web-hetzner.hopwhistle.com. "
check "failover drill: the records point at Hetzner" eq "$(data)" "api-hetzner.hopwhistle.com web-hetzner.hopwhistle.com"
check "failover drill: one person-only question, the promotion, answered on the terminal" \
    eq "$(cut -d' ' -f2-4 "$dir/answers.log")" "y: ? promote:"
check "failover drill: the outside poll saw DigitalOcean writable and Hetzner read-only first" \
    eq "$(head -1 "$dir/writable.log" | cut -d' ' -f2-)" "w r"
check "failover drill: ... and at the end DigitalOcean down, Hetzner writable" eq "$(tail -1 "$dir/writable.log" | cut -d' ' -f2-)" "- w"
check "failover drill: never both writable" eq "$(awk '$2 == "w" && $3 == "w"' "$dir/writable.log")" ""
[[ -n $dir && -d $dir ]] && rm -rf "$dir"

drill --fault
check "fault drill: exit 0 (the rollback left things as they were)" eq "$code" 0
check "fault drill: the run rolled back" grep -q "Run rolled back in" <<<"$out"
check "fault drill: no DNS write reached the stand-in" eq "$(puts)" ""
check "fault drill: the records still point at DigitalOcean" eq "$(data)" "api-do.hopwhistle.com web-do.hopwhistle.com"
check "fault drill: .env restored" cmp -s "$dir/hetzner-app/.env" "$dir/hetzner-app.env.before"
check "fault drill: the application was started, then stopped by the rollback" \
    eq "$(head -2 "$dir/hetzner-app/compose.log" | cut -d' ' -f2- | tr '\n' '/')" "up -d/down/"
[[ -n $dir && -d $dir ]] && rm -rf "$dir"

echo "suite_drill: $pass passed, $fail failed"
((fail == 0))
