#!/usr/bin/env python3
"""The drill's stand-in application (Python 3 standard library and psql only).

    python3 app.py APP_DIR PORT

Reads DATABASE_URL from APP_DIR/.env once, at start (as a container reads its env_file), and
records what it read in APP_DIR/app.state (pid, start time, the URL without its password).
GET /health answers 200 "OK" only while that database accepts a write (txid_current() fails on
a standby), else 503. GET / is the web front: 200 while /health would be. With FAULT=1 in
APP_DIR/compose.env, /health never comes up (the fault drill).
"""
import json, os, re, subprocess, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

app_dir, port = sys.argv[1], int(sys.argv[2])


def read_env(path):
    env = {}
    try:
        for line in open(path):
            if "=" in line and not line.lstrip().startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                env[k.strip()] = v
    except OSError:
        pass
    return env


ENV = read_env(os.path.join(app_dir, ".env"))
FAULT = read_env(os.path.join(app_dir, "compose.env")).get("FAULT") == "1"
URL = ENV.get("DATABASE_URL", "")
with open(os.path.join(app_dir, "app.state"), "w") as f:
    json.dump({"pid": os.getpid(), "started": time.time(),
               "database_url": re.sub(r"://([^:@/]*):[^@]*@", r"://\1:***@", URL)}, f)


def healthy():
    if FAULT or not URL:
        return False
    try:
        r = subprocess.run(["psql", "-X", "-At", "-c", "SELECT txid_current()", URL],
                           capture_output=True, timeout=3,
                           env=dict(os.environ, PGCONNECT_TIMEOUT="2"))
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = healthy()
        body = (b"OK\n" if self.path == "/health" else b"<h1>Hopwhistle</h1>\n") if ok else b"unhealthy\n"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
