#!/usr/bin/env python3
"""A loopback HTTP/HTTPS server for tests (Python 3 standard library only).

    python3 httpd.py --port 0 --portfile F [--host 127.0.0.1] [--tls CERT KEY]
                     [--record FILE] [--routes FILE.json] [--blackhole-portfile F2]

Writes the chosen port to --portfile (written whole, then renamed, so a reader never sees half
a number) and prints it. HTTP/1.1 with keep-alive; every answer has a Content-Length unless
it is chunked on purpose.

Built-in endpoints:
  /status/NNN        answers status NNN with a small JSON body {"status": NNN}
  /slow?ms=N         sleeps N ms, then answers 200 {"slept_ms": N}
  /blackhole         reads the request, then never answers (until the client goes away)
  /json              200 with a JSON body {"name": "runbook", "ok": true, "n": 3, "items": [..]}
  /redirect?to=URL   302 to URL
  /chunked?bytes=N   200 with N bytes of 'x' sent with Transfer-Encoding: chunked
  /echo              200 with JSON {method, path, query, args, headers, body} of the request
                     (args: the query parsed, key -> last value; headers: name as sent -> value)
  /conn              200 with JSON {"conn": ID}: one ID per TCP connection (for reuse tests)
  /bytes?hex=HH..    200 with exactly those bytes as the body (e.g. invalid UTF-8)
  /headers?K=V&K=W   200 with each query pair sent as a response header, repeats kept
  /bigheaders?kb=N   200 with N response headers of about 1 KiB each
Anything else: 404.

--record FILE: every request is appended to FILE as one JSON line
  {"method", "path", "query", "headers", "body", "conn"} (body decoded as UTF-8, bad bytes
  replaced).

--routes FILE.json: API stand-ins, looked at before the built-in endpoints. A JSON list of
  routes, tried in order; the first that matches answers:
    {"method": "GET",            optional; absent or "*" matches any method
     "path": "/v4/droplets",     exact path (no query); a path starting with "^" is a Python
                                 regular expression that must match the whole path
     "status": 200,              optional, default 200
     "json": {...},              a JSON body (Content-Type: application/json), or
     "body": "text",             a raw body (Content-Type: text/plain unless headers say)
     "headers": {"X-A": "b"},    optional extra response headers
     "delay_ms": 0,              optional: sleep before answering
     "times": N}                 optional: the route answers N times, then no longer matches
                                 (so a list can script a sequence: pending, then ready)
  The recorder sees route requests too.

--blackhole-portfile F2: also listen on a second port that accepts TCP connections and never
  reads or answers them; F2 gets that port.
"""
import argparse
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECORD_LOCK = threading.Lock()
ROUTES_LOCK = threading.Lock()
CONN_IDS = iter(range(1, 1 << 62))
CONN_LOCK = threading.Lock()
MAX_BODY = 16 << 20


def write_portfile(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "runbook-test-httpd"
    # headers and body go out in two writes: without this, a reused connection waits for the
    # client's delayed ACK (40 ms) on every answer
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        with CONN_LOCK:
            self.conn_id = next(CONN_IDS)

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    # ---- helpers ----
    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(n, MAX_BODY)) if n > 0 else b""

    def answer(self, status, body=b"", ctype="application/json", headers=None, pairs=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        extra = list((headers or {}).items()) + list(pairs)
        if not any(k.lower() == "content-type" for k, _ in extra):
            self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def answer_json(self, status, doc, headers=None):
        self.answer(status, json.dumps(doc), "application/json", headers)

    def record(self, path, query, body):
        if not self.server.record:
            return
        line = json.dumps({"method": self.command, "path": path, "query": query,
                           "headers": dict(self.headers.items()),
                           "body": body.decode("utf-8", "replace"), "conn": self.conn_id})
        with RECORD_LOCK, open(self.server.record, "a") as f:
            f.write(line + "\n")

    # ---- dispatch ----
    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, url.query
        args = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
        body = self.read_body()
        self.record(path, query, body)
        if self.route(path):
            return
        builtin = BUILTINS.get(path.split("/")[1] if path.count("/") else "")
        if builtin:
            builtin(self, path, query, args, body)
        else:
            self.answer_json(404, {"error": "no such endpoint", "path": path})

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = handle_any

    def route(self, path):
        with ROUTES_LOCK:
            r = next((r for r in self.server.routes if route_matches(r, self.command, path)), None)
            if r is None:
                return False
            if "times" in r:
                r["times"] -= 1
        time.sleep(r.get("delay_ms", 0) / 1000.0)
        status, headers = r.get("status", 200), r.get("headers", {})
        if "json" in r:
            self.answer_json(status, r["json"], headers)
        else:
            self.answer(status, r.get("body", ""), "text/plain", headers)
        return True


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that hangs up early (a bound hit, a cancel, a timeout) is what tests do
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)


def route_matches(r, method, path):
    if r.get("times", 1) <= 0:
        return False
    if r.get("method", "*") not in ("*", method):
        return False
    want = r.get("path", "")
    return re.fullmatch(want, path) is not None if want.startswith("^") else want == path


# ---- built-in endpoints ----
def ep_status(h, path, query, args, body):
    try:
        code = int(path.split("/")[2])
    except (IndexError, ValueError):
        code = 400
    h.answer_json(code, {"status": code})


def ep_slow(h, path, query, args, body):
    ms = int(args.get("ms", "1000"))
    time.sleep(ms / 1000.0)
    h.answer_json(200, {"slept_ms": ms})


def ep_blackhole(h, path, query, args, body):
    # wait until the client goes away (or a minute), never answering
    h.connection.settimeout(60)
    try:
        while h.connection.recv(4096):
            pass
    except OSError:
        pass
    h.close_connection = True


def ep_json(h, path, query, args, body):
    h.answer_json(200, {"name": "runbook", "ok": True, "n": 3, "items": [{"id": 7}, {"id": 8}]})


def ep_redirect(h, path, query, args, body):
    h.answer(302, "", "text/plain", {"Location": args.get("to", "/json")})


def ep_chunked(h, path, query, args, body):
    left = int(args.get("bytes", "0"))
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    try:
        while left > 0:
            n = min(left, 65536)
            h.wfile.write(b"%x\r\n%s\r\n" % (n, b"x" * n))
            left -= n
        h.wfile.write(b"0\r\n\r\n")
    except OSError:
        h.close_connection = True  # the client stopped reading: expected past its bound


def ep_echo(h, path, query, args, body):
    h.answer_json(200, {"method": h.command, "path": path, "query": query, "args": args,
                        "headers": dict(h.headers.items()),
                        "body": body.decode("utf-8", "replace")})


def ep_conn(h, path, query, args, body):
    h.answer_json(200, {"conn": h.conn_id, "port": h.client_address[1]})


def ep_bytes(h, path, query, args, body):
    h.answer(200, bytes.fromhex(args.get("hex", "")), "application/octet-stream")


def ep_headers(h, path, query, args, body):
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    h.answer(200, "", "text/plain", None, pairs)


def ep_bigheaders(h, path, query, args, body):
    n = int(args.get("kb", "1"))
    h.answer(200, "", "text/plain", None, [("X-Filler-%d" % i, "f" * 1000) for i in range(n)])


BUILTINS = {"headers": ep_headers, "bigheaders": ep_bigheaders, "status": ep_status, "slow": ep_slow, "blackhole": ep_blackhole, "json": ep_json,
            "redirect": ep_redirect, "chunked": ep_chunked, "echo": ep_echo, "conn": ep_conn,
            "bytes": ep_bytes}


# ---- the never-answering listener ----
def blackhole_listener(host, portfile):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(64)
    write_portfile(portfile, s.getsockname()[1])
    held = []  # kept open, never read: the client sees a connection that says nothing

    def loop():
        while True:
            conn, _ = s.accept()
            held.append(conn)
            if len(held) > 256:
                held.pop(0).close()

    threading.Thread(target=loop, daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description="loopback test HTTP server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--portfile")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--record")
    ap.add_argument("--routes")
    ap.add_argument("--blackhole-portfile")
    a = ap.parse_args()

    srv = Server((a.host, a.port), Handler)
    srv.record = a.record
    srv.routes = []
    if a.routes:
        with open(a.routes) as f:
            srv.routes = json.load(f)
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if a.blackhole_portfile:
        blackhole_listener(a.host, a.blackhole_portfile)
    port = srv.server_address[1]
    if a.portfile:
        write_portfile(a.portfile, port)
    print(port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
