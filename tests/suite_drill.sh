#!/usr/bin/env bash
# The DR drills of examples/pg-failover-drill end to end, as CI runs them: the failback (which
# is the failover drill, then failback-to-primary), the fault drill, and the failback whose
# application fails after the promotion. Each drill checks the world from outside the runbook
# itself and exits non-zero when anything did not happen; here, their exit codes and facts read
# again from the folder each drill keeps (KEEP=1): the clusters' control files (pg_controldata:
# which one was a standby when it stopped), the DNS stand-in's requests and records, the
# operator's answers, the outside poll of which database accepts writes, the hosts' systemctl
# and docker-compose calls, the journals.
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
drill() { # mode...: runs the drill, sets code, out, dir
    RUNBOOK=$bin KEEP=1 timeout -k 5 480 bash "$src/examples/pg-failover-drill/drill.sh" "$@" >"$tmp/out" 2>&1
    code=$?
    out=$(<"$tmp/out")
    dir=$(sed -n 's/^kept: //p' "$tmp/out" | tail -1)
    [[ $code == 0 ]] || { grep -n "FAIL" "$tmp/out"; tail -40 "$tmp/out"; } # the failing checks first: the tail alone hides them
}
puts() { python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["method"] != "GET": print(r["status"], r["method"], json.loads(r["body"])["data"])' "$dir/dns/requests.jsonl" | tr '\n' ' '; }
data() { python3 -c 'import json,sys; print(" ".join(r["data"] for r in json.load(open(sys.argv[1]))["records"]))' "$dir/dns/records.json"; }
# "shut down" (a primary) or "shut down in recovery" (a standby), from the stopped cluster's control file
cluster_state() { "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_controldata" "$dir/pg/$1" | sed -n 's/^Database cluster state: *//p'; }
run_of() { basename "$(ls "$dir"/state/runs/*-"$1"-*.jsonl | tail -1)" .jsonl; }
journal_has() { # runbook jq-like python expression over R
    "$bin" journal "$(run_of "$1")" --state-dir "$dir/state" --format json | python3 -c '
import json, sys
R = [json.loads(l) for l in sys.stdin if l.strip()]
print(eval(sys.argv[1]))' "$2"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

drill --failback
check "failback drill: exit 0" eq "$code" 0
check "failback drill: prints RTO and RPO against the objectives" grep -q "RTO .* within 1h" <<<"$out"
check "failback drill: ... and the tool's own share" grep -q "runbook [0-9.]* s ([0-9.]* %)" <<<"$out"
check "failback drill: ... and how long writes paused" grep -q "writes paused [0-9.]* s" <<<"$out"
check "failback drill: DNS stand-in got the failover's two switches, then the failback's two, with trailing dots, accepted" \
    eq "$(puts)" "200 PUT api-hetzner.hopwhistle.com. 200 PUT web-hetzner.hopwhistle.com. 200 PUT api-do.hopwhistle.com. 200 PUT web-do.hopwhistle.com. "
check "failback drill: the records point at DigitalOcean again" eq "$(data)" "api-do.hopwhistle.com web-do.hopwhistle.com"
check "failback drill: the person-only and manual questions were answered on the terminal" \
    eq "$(cut -d' ' -f2-4 "$dir/answers.log" | tr '\n' '|')" "y: ? promote:|y: ? prerequisites:|y: ? promote_do:|y: ? cleanup_reminder:|"
check "failback drill: DigitalOcean stopped as the primary" eq "$(cluster_state do-db)" "shut down"
check "failback drill: Hetzner stopped as its standby" eq "$(cluster_state hetzner-db)" "shut down in recovery"
check "failback drill: both old data directories kept aside" eq "$(cd "$dir/pg" && ls -d *.pre-failback-* | sed 's/\.pre-failback-.*//' | tr '\n' ' ')" "do-db hetzner-db "
check "failback drill: systemctl on the database hosts" eq "$(cut -d' ' -f2- "$dir/hosts/systemctl.log" | tr '\n' '/')" \
    "is-active drill-do-db/start drill-do-db/stop drill-hetzner-db/start drill-hetzner-db/"
# (the last `down` of each is the drill's clean-up)
check "failback drill: Hetzner's application started by the failover, stopped by the failback" \
    eq "$(cut -d' ' -f2- "$dir/hetzner-app/compose.log" | tr '\n' '/')" "up -d/down/down/"
check "failback drill: DigitalOcean's application restarted by the failback" \
    eq "$(cut -d' ' -f2- "$dir/do-app/compose.log" | tr '\n' '/')" "up -d/up -d/down/"
check "failback drill: the outside poll saw DigitalOcean writable and Hetzner read-only first" \
    eq "$(head -1 "$dir/writable.log" | cut -d' ' -f2-)" "w r"
check "failback drill: ... and the same at the end" eq "$(tail -1 "$dir/writable.log" | cut -d' ' -f2-)" "w r"
check "failback drill: ... with Hetzner alone writable in between" grep -q " - w$" "$dir/writable.log"
check "failback drill: never both writable" eq "$(awk '$2 == "w" && $3 == "w"' "$dir/writable.log")" ""
check "failback drill: both journals end succeeded" \
    eq "$(journal_has failover-to-secondary '[r for r in R if r["type"] == "run_end"][-1]["status"]') $(journal_has failback-to-primary '[r for r in R if r["type"] == "run_end"][-1]["status"]')" "succeeded succeeded"
check "failback drill: the looped switch journaled one item per record, each with its PUT's status" \
    eq "$(journal_has failback-to-primary '[r["outputs"]["status"] for r in R if r["type"] == "item_end" and r.get("step") == "switch_records"]')" "[200, 200]"
[[ -n $dir && -d $dir ]] && rm -rf "$dir"

drill --fault
check "fault drill: exit 0 (the rollback left things as they were)" eq "$code" 0
check "fault drill: the run rolled back" grep -q "Run rolled back in" <<<"$out"
check "fault drill: no DNS write reached the stand-in" eq "$(puts)" ""
check "fault drill: the records still point at DigitalOcean" eq "$(data)" "api-do.hopwhistle.com web-do.hopwhistle.com"
check "fault drill: .env restored" cmp -s "$dir/hetzner-app/.env" "$dir/hetzner-app.env.before"
check "fault drill: the application was started, then stopped by the rollback" \
    eq "$(head -2 "$dir/hetzner-app/compose.log" | cut -d' ' -f2- | tr '\n' '/')" "up -d/down/"
check "fault drill: Hetzner stays promoted (stopped as a primary)" eq "$(cluster_state hetzner-db)" "shut down"
[[ -n $dir && -d $dir ]] && rm -rf "$dir"

drill --failback --fault
check "failback fault drill: exit 0 (the run stopped after the promotion and undid nothing)" eq "$code" 0
check "failback fault drill: the failback failed" grep -q "Run failed in" <<<"$out"
check "failback fault drill: no rollback in its journal" eq "$(journal_has failback-to-primary 'len([r for r in R if r["type"].startswith("rollback")])')" 0
check "failback fault drill: DigitalOcean stays promoted (stopped as a primary)" eq "$(cluster_state do-db)" "shut down"
check "failback fault drill: Hetzner's old data directory was not touched (no step 6)" eq "$(ls -d "$dir"/pg/hetzner-db.pre-failback-* 2>/dev/null)" ""
check "failback fault drill: DNS got only the failover's switches" eq "$(puts)" "200 PUT api-hetzner.hopwhistle.com. 200 PUT web-hetzner.hopwhistle.com. "
check "failback fault drill: never both writable" eq "$(awk '$2 == "w" && $3 == "w"' "$dir/writable.log")" ""
[[ -n $dir && -d $dir ]] && rm -rf "$dir"

echo "suite_drill: $pass passed, $fail failed"
((fail == 0))
