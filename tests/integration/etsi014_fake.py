#!/usr/bin/env python3
"""etsi014_fake.py: a scripted ETSI 014 key server for client tests (docs/client.md): HTTPS
with a mandatory client certificate (alice's node certificate, the test CA), enc_keys from
os.urandom remembered by key_ID, dec_keys once per key_ID (unknown -> 400). Faults on demand:
--corrupt-after N flips one bit of every dec key after N dec calls; --close answers every
request with "Connection: close". Writes its port to PORT_FILE once listening."""
import argparse, base64, json, os, ssl, sys, threading, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ap = argparse.ArgumentParser()
ap.add_argument("certs")
ap.add_argument("port_file")
ap.add_argument("--corrupt-after", type=int, default=-1)
ap.add_argument("--close", action="store_true")
args = ap.parse_args()
STORE, LOCK, DECS = {}, threading.Lock(), [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        if args.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(b)

    def call(self, post):
        u = urlparse(self.path)
        parts, q, body = u.path.split("/"), parse_qs(u.query), {}
        if post:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = json.loads(raw) if raw.strip() else {}
        if parts[-1] == "enc_keys":
            n = int(body.get("number", q.get("number", ["1"])[0]))
            size = int(body.get("size", q.get("size", ["256"])[0]))
            keys = []
            with LOCK:
                for _ in range(n):
                    k, i = os.urandom(size // 8), str(uuid.uuid4())
                    STORE[i] = k
                    keys.append({"key_ID": i, "key": base64.b64encode(k).decode()})
            return self.answer(200, {"keys": keys})
        if parts[-1] == "dec_keys":
            ids = [k["key_ID"] for k in body.get("key_IDs", [])] if post else q.get("key_ID", [])
            with LOCK:
                if not ids or any(i not in STORE for i in ids):
                    return self.answer(400, {"message": "key_ID unknown"})
                DECS[0] += 1
                bad = 0 <= args.corrupt_after < DECS[0]
                keys = []
                for i in ids:
                    k = bytearray(STORE.pop(i))
                    if bad:
                        k[0] ^= 1
                    keys.append({"key_ID": i, "key": base64.b64encode(bytes(k)).decode()})
            return self.answer(200, {"keys": keys})
        self.answer(404, {"message": "not an ETSI 014 path"})

    def do_GET(self):
        self.call(False)

    def do_POST(self):
        self.call(True)


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(f"{args.certs}/alice/node.pem", f"{args.certs}/alice/node.key")
ctx.load_verify_locations(f"{args.certs}/ca.pem")
ctx.verify_mode = ssl.CERT_REQUIRED
srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
