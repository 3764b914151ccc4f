#!/usr/bin/env python3
"""The drill's stand-in for the DigitalOcean DNS API, and the public names that follow it.

    python3 doapi.py STATE_DIR TOKEN

STATE_DIR/records.json: {"zone": "...", "records": [{"id", "type", "name", "data", "ttl"}],
"fronts": {"target name": "http://127.0.0.1:PORT"}}; read at start, rewritten on every accepted
change, and so is STATE_DIR/zone.json, the zone a nameserver of the drill serves. Writes its port to STATE_DIR/port and every request, with the answer's status, as one
JSON line to STATE_DIR/requests.jsonl.

As the real API (docs.digitalocean.com/reference/api, Domain Records):
  GET /v2/domains/ZONE/records[?type=T&name=FULL.NAME]  {"domain_records": [...], "links": {},
      "meta": {"total": N}}; `name` is relative to the zone ("api"), CNAME data has no
      trailing dot
  PUT|PATCH /v2/domains/ZONE/records/ID {"type", "data", ...}  200 {"domain_record": {...}};
      a CNAME whose data does not end with "." is refused: 422 {"id": "unprocessable_entity"}
  a missing or wrong "Authorization: Bearer TOKEN": 401 {"id": "unauthorized"}
The public names: GET /front/FULL.NAME/PATH goes where the record points (its data looked up in
"fronts") and answers what that server answers (502 when it does not answer): a check of the
public API through this follows the DNS switch.
"""
import json, os, socket, sys, threading, urllib.error, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

state_dir, token = sys.argv[1], sys.argv[2]
path = os.path.join(state_dir, "records.json")
DB = json.load(open(path))
LOCK = threading.RLock()


def save():
    tmp = path + ".tmp"
    json.dump(DB, open(tmp, "w"), indent=1)
    os.replace(tmp, path)
    save_zone()


def save_zone():
    """The zone as the nameserver serves it (tests/servers/dnsd.py reads STATE_DIR/zone.json
    again when it changes): what a dns step asks after a switch."""
    lines = ["%s. %d IN %s %s%s" % (full(r), r["ttl"], r["type"], r["data"], "." if r["type"] == "CNAME" else "")
             for r in DB["records"]]
    tmp = os.path.join(state_dir, "zone.json.tmp")
    json.dump({"records": lines}, open(tmp, "w"))
    os.replace(tmp, os.path.join(state_dir, "zone.json"))


def full(r):
    return r["name"] + "." + DB["zone"] if r["name"] != "@" else DB["zone"]


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, obj, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if raw is None else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with LOCK, open(os.path.join(state_dir, "requests.jsonl"), "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "status": status,
                                "body": self.req_body}) + "\n")

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.req_body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        u = urllib.parse.urlsplit(self.path)
        parts = u.path.strip("/").split("/")
        if parts[0] == "front" and len(parts) >= 2:
            return self.front(parts[1], "/" + "/".join(parts[2:]))
        if self.headers.get("Authorization") != "Bearer " + token:
            return self.answer(401, {"id": "unauthorized", "message": "Unable to authenticate you."})
        if len(parts) < 4 or parts[:2] != ["v2", "domains"] or parts[2] != DB["zone"] or parts[3] != "records":
            return self.answer(404, {"id": "not_found", "message": "The resource you were accessing could not be found."})
        with LOCK:
            if len(parts) == 4 and self.command == "GET":
                q = dict(urllib.parse.parse_qsl(u.query))
                recs = [r for r in DB["records"] if ("type" not in q or r["type"] == q["type"])
                        and ("name" not in q or full(r) == q["name"])]
                return self.answer(200, {"domain_records": recs, "links": {}, "meta": {"total": len(recs)}})
            if len(parts) == 5 and self.command in ("PUT", "PATCH"):
                rec = next((r for r in DB["records"] if str(r["id"]) == parts[4]), None)
                if rec is None:
                    return self.answer(404, {"id": "not_found", "message": "The resource you were accessing could not be found."})
                try:
                    new = json.loads(self.req_body)
                except ValueError:
                    return self.answer(400, {"id": "bad_request", "message": "invalid JSON"})
                data = new.get("data", rec["data"] + ".")
                if rec["type"] == "CNAME" and not data.endswith("."):
                    return self.answer(422, {"id": "unprocessable_entity",
                                             "message": "Data needs to end with a dot (.)"})
                rec["data"] = data[:-1] if rec["type"] == "CNAME" else data
                if "ttl" in new:
                    rec["ttl"] = new["ttl"]
                save()
                return self.answer(200, {"domain_record": rec})
        return self.answer(405, {"id": "method_not_allowed", "message": "method not allowed"})

    def front(self, name, rest):
        with LOCK:
            rec = next((r for r in DB["records"] if full(r) == name), None)
            target = DB["fronts"].get(rec["data"]) if rec else None
        if not target:
            return self.answer(502, None, b"no such name\n")
        try:
            with urllib.request.urlopen(target + rest, timeout=5) as r:
                return self.answer(r.status, None, r.read())
        except urllib.error.HTTPError as e:
            return self.answer(e.code, None, e.read())
        except (OSError, socket.timeout):
            return self.answer(502, None, b"bad gateway\n")

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = handle_any

    def log_message(self, *a):
        pass


save_zone()
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(os.path.join(state_dir, "port.tmp"), "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(os.path.join(state_dir, "port.tmp"), os.path.join(state_dir, "port"))
srv.serve_forever()
