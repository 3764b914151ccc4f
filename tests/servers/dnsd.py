#!/usr/bin/python3
"""A loopback DNS server for tests (python3-dnslib), UDP and TCP on one port.

    python3 dnsd.py --zone ZONE.json --portfile F [--host 127.0.0.1] [--port 0] [--silent]

Writes the chosen port to --portfile (written whole, then renamed) and prints it. The zone file
is read again on SIGHUP and whenever its mtime or size changed (looked at on every query), so a
test can "propagate" a change to one server and not to another:

    {"records": ["www.example.test. 300 IN A 192.0.2.1",      zone-file lines (dnslib's parser)
                 "alias.example.test. 60 IN CNAME www.example.test."],
     "rcodes": {"broken.example.test.": "SERVFAIL"}}          names answered with that rcode

A name with records but none of the asked type answers NOERROR with no records (following an
in-zone CNAME for other types); a name without records answers NXDOMAIN. A UDP answer over 512
bytes goes out truncated (TC, no records), so the client asks again over TCP.

--silent: reads queries and never answers (for timeouts).
"""
import argparse
import os
import select
import signal
import socket
import struct
import sys

from dnslib import DNSRecord, QTYPE, RCODE, RR

UDP_MAX = 512


class Zone:
    def __init__(self, path):
        self.path, self.stamp, self.records, self.rcodes = path, None, [], {}

    def refresh(self, force=False):
        try:
            st = os.stat(self.path)
        except OSError:
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self.stamp and not force:
            return
        import json
        try:
            with open(self.path) as f:
                doc = json.load(f)
            records = [rr for line in doc.get("records", []) for rr in RR.fromZone(line)]
        except (OSError, ValueError, Exception) as e:  # a half-written file: keep the old zone
            print("dnsd: zone not read: %s" % e, file=sys.stderr)
            return
        self.records = records
        self.rcodes = {k.lower().rstrip(".") + ".": v for k, v in doc.get("rcodes", {}).items()}
        self.stamp = stamp

    def answer(self, request):
        self.refresh()
        reply = request.reply()
        qname = str(request.q.qname).lower()
        if qname in self.rcodes:
            reply.header.rcode = getattr(RCODE, self.rcodes[qname])
            return reply
        self.fill(reply, qname, request.q.qtype, 0)
        return reply

    def fill(self, reply, qname, qtype, depth):
        found = [rr for rr in self.records if str(rr.rname).lower() == qname]
        if not found:
            if depth == 0:
                reply.header.rcode = RCODE.NXDOMAIN
            return
        for rr in found:
            if rr.rtype == qtype:
                reply.add_answer(rr)
        cnames = [rr for rr in found if rr.rtype == QTYPE.CNAME]
        if qtype != QTYPE.CNAME and cnames and depth < 8:
            reply.add_answer(cnames[0])
            self.fill(reply, str(cnames[0].rdata.label).lower(), qtype, depth + 1)


def answer_bytes(zone, data, udp):
    try:
        request = DNSRecord.parse(data)
    except Exception:
        return None
    out = zone.answer(request).pack()
    if udp and len(out) > UDP_MAX:
        short = request.reply()
        short.header.tc = 1
        out = short.pack()
    return out


def bind_pair(host, port):
    """A UDP and a TCP socket on the same port (another free port if TCP's is taken)."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((host, port))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            if port:
                raise
            continue
        tcp.listen(16)
        return udp, tcp
    raise OSError("no free port for UDP and TCP")


def serve_tcp(zone, conn, silent):
    conn.settimeout(5)
    try:
        head = conn.recv(2)
        if len(head) < 2:
            return
        (n,) = struct.unpack("!H", head)
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                return
            data += chunk
        out = None if silent else answer_bytes(zone, data, False)
        if out:
            conn.sendall(struct.pack("!H", len(out)) + out)
    except OSError:
        pass
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zone", required=True)
    ap.add_argument("--portfile", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--silent", action="store_true")
    a = ap.parse_args()
    zone = Zone(a.zone)
    zone.refresh()
    signal.signal(signal.SIGHUP, lambda *_: zone.refresh(force=True))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    udp, tcp = bind_pair(a.host, a.port)
    port = udp.getsockname()[1]
    with open(a.portfile + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(a.portfile + ".tmp", a.portfile)
    print(port, flush=True)
    while True:
        try:
            ready, _, _ = select.select([udp, tcp], [], [])
        except InterruptedError:
            continue
        if udp in ready:
            data, peer = udp.recvfrom(65535)
            out = None if a.silent else answer_bytes(zone, data, True)
            if out:
                udp.sendto(out, peer)
        if tcp in ready:
            conn, _ = tcp.accept()
            serve_tcp(zone, conn, a.silent)


if __name__ == "__main__":
    main()
