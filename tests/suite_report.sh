#!/usr/bin/env bash
# runbook report: a small run with parallel steps, a confirmation answered by --yes, a failure
# and its rollbacks, and declared figures; its report as JSON checked against its journal, as
# text, and as HTML rendered in headless Chromium (screenshot not blank; the DOM shows the steps
# and the figures the journal holds). Then a hostile journal: its text stays escaped.
#
#   bash tests/suite_report.sh RUNBOOK_BINARY SOURCE_DIR
set -u
bin=$1 src=$2
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # description, command...
    local what=$1; shift
    if out=$("$@" 2>&1); then ok; else bad "$what
$out"; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NO_COLOR=1

cat >"$tmp/drill.yaml" <<'EOF'
runbook: drill
version: 1
title: A small drill for the report
objectives: { rto: 3s, rpo: 5s }
on_failure: rollback
steps:
  - id: measure-lag
    exec: [sh, -c, "echo lag=1234; echo rows=42"]
    effect: read
    capture:
      lag_ms: "re:lag=(\\d+)"
      rows: "re:rows=(\\d+)"
  - id: left
    needs: [measure-lag]
    sleep: 400ms
  - id: right
    needs: [measure-lag]
    exec: [sleep, "0.25"]
    effect: write
    rollback: { exec: [sleep, "0.05"] }
  - id: approve
    needs: [left, right]
    confirm: "Switch the traffic?"
    exec: [sleep, "0.1"]
    effect: write
    rollback: { exec: [true] }
  - id: verify
    exec: [sh, -c, "echo not healthy >&2; exit 3"]
    effect: read
    retry: { attempts: 2, delay: 100ms }
report:
  - { label: Replication lag before the disaster, value: steps.measure-lag.lag_ms, objective: rpo }
  - { label: Rows written before the disaster, value: "${{ steps.measure-lag.rows }}", unit: rows }
  - { label: Time to switch, value: steps.approve.duration, objective: rto }
  - { label: Never recorded, value: steps.verify.stdout }
EOF
check "the drill is valid" "$bin" validate --strict "$tmp/drill.yaml"
"$bin" run "$tmp/drill.yaml" --yes --jobs 4 --state-dir "$tmp/state" >"$tmp/run.out" 2>&1
code=$?
[[ $code == 1 ]] && ok || bad "the drill fails and rolls back: exit $code
$(cat "$tmp/run.out")"
run=$(basename "$(ls "$tmp"/state/runs/*.jsonl | head -1)" .jsonl)

# ---- JSON against the journal
"$bin" journal "$run" --format json --state-dir "$tmp/state" >"$tmp/journal.jsonl" || bad "journal --format json"
"$bin" report "$run" --format json --state-dir "$tmp/state" >"$tmp/report.json" || bad "report --format json"
check "report --format json agrees with the journal" python3 - "$tmp/journal.jsonl" "$tmp/report.json" <<'EOF'
import json, sys, datetime
recs = [json.loads(l) for l in open(sys.argv[1])]
rep = json.load(open(sys.argv[2]))
def ms(rec):
    return int(datetime.datetime.strptime(rec["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp() * 1000 + 0.5)
errs = []
def want(what, got, exp):
    if got != exp: errs.append(f"{what}: report says {got!r}, journal {exp!r}")
start = recs[0]; t0 = ms(start)
end = [r for r in recs if r["type"] == "run_end"][0]
want("status", rep["status"], end["status"]); want("exit_code", rep["exit_code"], end["exit_code"])
want("total_ms", rep["total_ms"], end["duration_ms"]); want("rto_ms", rep["rto_ms"], start["rto_ms"])
want("rpo_ms", rep["rpo_ms"], start["rpo_ms"]); want("rto_met", rep["rto_met"], end["duration_ms"] <= start["rto_ms"])
want("rto/rpo as declared", (rep["rto_ms"], rep["rpo_ms"]), (3000, 5000))
ends = {r["step"]: r for r in recs if r["type"] == "step_end"}
starts = {r["step"]: r for r in recs if r["type"] == "step_start"}
want("the steps", sorted(s["step"] for s in rep["steps"]), sorted(ends))
for s in rep["steps"]:
    e = ends[s["step"]]
    for k, j in (("duration_ms", "duration_ms"), ("attempts", "attempts"), ("outcome", "outcome")):
        want(f"{s['step']} {k}", s[k], e[j])
    want(f"{s['step']} start_ms", s["start_ms"], ms(starts[s["step"]]) - t0)
want("verify failed after 2 attempts", [(s["outcome"], s["attempts"]) for s in rep["steps"] if s["step"] == "verify"], [("failed", 2)])
lanes = {s["step"]: s["lane"] for s in rep["steps"]}
if lanes["left"] == lanes["right"]: errs.append("parallel steps left and right share a lane")
conf = [r for r in recs if r["type"] == "confirm"]
want("confirmations", [(c["step"], c["by"], c["answer"]) for c in rep["confirmations"]], [(c["step"], c["by"], c["answer"]) for c in conf])
want("confirmed by --yes", [c["by"] for c in rep["confirmations"]], ["--yes"])
rb = [r for r in recs if r["type"] == "rollback_end"]
want("rollbacks", [(b["step"], b["outcome"]) for b in rep["rollbacks"]], [(r["step"], r["outcome"]) for r in rb])
want("rolled back, newest first", [b["step"] for b in rep["rollbacks"]], ["approve", "right"])
f = {x["label"]: x for x in rep["figures"]}
lag = ends["measure-lag"]["outputs"]["lag_ms"]
want("lag value", f["Replication lag before the disaster"]["value"], lag)
want("lag as ms", f["Replication lag before the disaster"]["value_ms"], int(lag))
want("lag against the RPO", f["Replication lag before the disaster"]["met"], int(lag) <= start["rpo_ms"])
want("rows", (f["Rows written before the disaster"]["value"], f["Rows written before the disaster"]["unit"]), (ends["measure-lag"]["outputs"]["rows"], "rows"))
want("switch time", f["Time to switch"]["value"], ends["approve"]["duration_ms"])
want("switch against the RTO", f["Time to switch"]["met"], ends["approve"]["duration_ms"] <= 3000)
want("a figure the run did not record", (f["Never recorded"]["value"], f["Never recorded"]["met"]), (None, None))
if errs: print("\n".join(errs)); sys.exit(1)
EOF

# ---- text
"$bin" report "$run" --state-dir "$tmp/state" >"$tmp/report.txt" 2>&1 || bad "report (text)"
for want in "Run $run" "Status: rolled_back (exit 1)" "against the RTO of 3s: within" "measure-lag" \
    "approve: yes, answered by --yes" "Rollbacks" "exit code 3" "Replication lag before the disaster" \
    "1s234ms  RPO 5s: pass" "42 rows" "not recorded"; do
    grep -qF -- "$want" "$tmp/report.txt" && ok || bad "the text report lacks '$want'
$(cat "$tmp/report.txt")"
done
check "a format it does not know" bash -c "! '$bin' report '$run' --format pdf --state-dir '$tmp/state'"
check "no such run is a usage error" bash -c "'$bin' report 20260101T000000Z-nope-0000 --state-dir '$tmp/state'; [[ \$? == 2 ]]"

# ---- html in a real browser
"$bin" report "$run" --format html --state-dir "$tmp/state" >"$tmp/report.html" || bad "report --format html"
check "the page fetches nothing and runs no script" bash -c "! grep -Eiq '<script|src=|href=|@import|url\\(http' '$tmp/report.html'"
if ! command -v chromium >/dev/null; then
    bad "chromium is not installed (scripts/install-deps.sh installs it)"
else
    browse() { # output flag, file
        timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
            --disable-component-update --disable-sync --no-first-run --user-data-dir="$(mktemp -d -p "$tmp")" \
            --window-size=1200,900 "$@" 2>/dev/null
    }
    browse --screenshot="$tmp/shot.png" "file://$tmp/report.html" >/dev/null
    check "the screenshot is not blank" python3 - "$tmp/shot.png" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), f"unexpected PNG format {depth}/{ctype}"
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride, prev, colors, ink = w * bpp, bytearray(w * bpp), set(), 0
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp * 2):
        px = bytes(line[x:x + 3]); colors.add(px)
        ink += px != b"\xff\xff\xff"
    prev = line
print(f"{w}x{h}, {len(colors)} colors, {ink} non-white samples")
assert len(colors) > 20 and ink > 2000, "the page looks blank"
EOF
    browse --dump-dom "file://$tmp/report.html" >"$tmp/dom.html"
    check "the rendered DOM shows the steps and the figures of the journal" python3 - "$tmp/dom.html" "$tmp/journal.jsonl" <<'EOF'
import html.parser, json, sys
class Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.table = None; self.rows = {}; self.cell = None; self.attrs = {}; self.svg_titles = []; self.in_title = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table": self.table = a.get("id"); self.rows[self.table] = []
        elif tag == "tr": self.rows[self.table].append([])
        elif tag in ("td", "th"): self.cell = ""; self.attrs = a
        elif tag == "title": self.in_title = True; self.title = ""
    def handle_endtag(self, tag):
        if tag in ("td", "th"): self.rows[self.table][-1].append((self.cell, self.attrs)); self.cell = None
        elif tag == "title": self.in_title = False; self.svg_titles.append(self.title)
    def handle_data(self, d):
        if self.cell is not None: self.cell += d
        if self.in_title: self.title += d
p = Cells(); p.feed(open(sys.argv[1]).read())
recs = [json.loads(l) for l in open(sys.argv[2])]
ends = {r["step"]: r for r in recs if r["type"] == "step_end"}
errs = []
steps = {row[0][0]: row for row in p.rows.get("steps", [])[1:]}
if set(steps) != set(ends): errs.append(f"steps table {sorted(steps)} != journal {sorted(ends)}")
for k, row in steps.items():
    if int(row[2][1].get("data-ms", -1)) != ends[k]["duration_ms"]: errs.append(f"{k}: duration {row[2][1]} != {ends[k]['duration_ms']}")
    if row[4][0] != ends[k]["outcome"]: errs.append(f"{k}: outcome {row[4][0]} != {ends[k]['outcome']}")
bars = {t.split(":")[0] for t in p.svg_titles}
if not set(ends) <= bars: errs.append(f"timeline bars {sorted(bars)} miss steps of {sorted(ends)}")
figs = {row[0][0]: row for row in p.rows.get("figures", [])[1:]}
lag = figs.get("Replication lag before the disaster")
if not lag or lag[1][1].get("data-value") != ends["measure-lag"]["outputs"]["lag_ms"] or lag[3][0] != "pass":
    errs.append(f"lag figure: {lag}")
rows = figs.get("Rows written before the disaster")
if not rows or rows[1][0] != ends["measure-lag"]["outputs"]["rows"] + " rows": errs.append(f"rows figure: {rows}")
doc = open(sys.argv[1]).read()
for want in ('id="rto-line"', 'id="rto-verdict" class="pass"', "--yes"):
    if want not in doc: errs.append(f"the page lacks {want}")
if errs: print("\n".join(errs)); sys.exit(1)
EOF
fi

# ---- a hostile journal: step ids, messages, outputs and labels with markup and controls
hostile=20260101T000000Z-hostile-beef
mkdir -p "$tmp/evil/runs"
python3 - "$tmp/evil/runs/$hostile.jsonl" "$src/tests" <<'EOF'
import sys
sys.path.insert(0, sys.argv[2])
from journal_forge import seal
evil = "<script>alert(1)</script>\x1b]0;pwned\x07\x1b[2J\u202e"
recs = [
  ("run_start", {"runbook": "<b>evil</b>", "rto_ms": 1000, "rpo_ms": 1000, "inputs": {}, "dry_run": False,
                 "report": [{"label": "<img src=x onerror=alert(1)>", "step": evil, "field": "v", "objective": "rpo"}]}),
  ("step_start", {"step": evil}),
  ("confirm", {"step": evil, "by": "<i>--yes</i>", "answer": "yes", "user": "\x1b[31mroot"}),
  ("step_end", {"step": evil, "outcome": "succeeded", "attempts": 1, "duration_ms": 5,
                "outputs": {"v": "</td><script>alert(2)</script>\x1b[5m"}}),
  ("step_start", {"step": "x\" onmouseover=\"alert(3)"}),
  ("step_end", {"step": "x\" onmouseover=\"alert(3)", "outcome": "<svg onload=alert(4)>", "attempts": 1,
                "duration_ms": 1, "message": "bad\x1b[1A\rdone <script>alert(5)</script>"}),
  ("rollback_start", {"step": evil}),
  ("rollback_end", {"step": evil, "outcome": "failed", "message": "\x1b[2K<script>x</script>"}),
  ("run_end", {"status": "<script>s</script>", "exit_code": 3, "duration_ms": 20}),
]
with open(sys.argv[1], "wb") as f:
    for i, (t, fields) in enumerate(recs, 1):
        rec = dict(seq=i, ts="2026-01-01T00:00:00.%03dZ" % i, type=t, **fields)
        f.write(seal(rec).encode() + b"\n")
EOF
"$bin" report "$hostile" --format html --state-dir "$tmp/evil" >"$tmp/evil.html" || bad "report of a hostile journal (html)"
"$bin" report "$hostile" --state-dir "$tmp/evil" >"$tmp/evil.txt" || bad "report of a hostile journal (text)"
"$bin" report "$hostile" --format json --state-dir "$tmp/evil" >"$tmp/evil.json" || bad "report of a hostile journal (json)"
check "the hostile page has no markup from the journal" python3 - "$tmp/evil.html" <<'EOF'
import re, sys
doc = open(sys.argv[1], encoding="utf-8").read()
errs = [f"raw {w!r}" for w in ("<script", "<img", "<svg onload", "<b>evil", "<i>", "onmouseover=\"", "\x1b", "\x07", "\u202e") if w in doc]
for w in ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;", "\\e]0;pwned\\x07", "\\u202e"):
    if w not in doc: errs.append(f"lacks the escaped {w!r}")
if re.search(r'class="[^"]*[<>]', doc): errs.append("an outcome reached a class attribute")
if errs: print("\n".join(errs)); sys.exit(1)
EOF
check "the hostile text report shows controls visibly" python3 - "$tmp/evil.txt" <<'EOF'
import sys
t = open(sys.argv[1], "rb").read()
errs = [f"raw {w!r}" for w in (b"\x1b", b"\x07", b"\r", "\u202e".encode()) if w in t]
for w in (b"<script>alert(1)</script>\\e]0;pwned\\x07\\e[2J\\u202e", b"bad\\e[1A\\rdone"):
    if w not in t: errs.append(f"lacks {w!r}")
if errs: print("\n".join(errs)); print(t.decode(errors="replace")); sys.exit(1)
EOF
check "the hostile JSON report is JSON" python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$tmp/evil.json"

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
