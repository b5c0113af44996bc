#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""servers: the small servers the registry tests start, on 127.0.0.1 only.

  servers.py token PORT KEY CERT ISSUER USER:PASSWORD [EXP]
      a bearer token server for docker-registry's token auth: GET
      /token?service=S&scope=repository:NAME:ACTIONS answers an RS256 JWT
      signed with KEY (the registry trusts CERT), granting the scope's
      actions to USER:PASSWORD given as Basic auth (except on a repository
      named "forbidden") and nothing to anyone else; EXP (600) is the
      tokens' "exp" in seconds from now.  Each request is logged: "token SCOPE USER".

  servers.py proxy PORT UPSTREAM MODE
      forwards everything to 127.0.0.1:UPSTREAM (uploads too: Location
      headers are rewritten to come back through it), except that blob GETs (and
      manifest GETs for "bigmanifest") misbehave as MODE says:
        cut         the first answer of each blob over 4 KiB stops halfway
                    (connection closed), later ones (resumes) pass
        corrupt     one byte of every blob over 4 KiB (layers) flipped
        stall       headers and 1000 bytes, then nothing (for 300 s)
        silent      headers, then nothing (for 300 s)
        slow        blobs at 256 KiB/s
        ratelimit   the first request of each blob gets 429, Retry-After: 1
        bigmanifest manifests are 5 MiB of spaces after the JSON
        endless     blobs over 4 KiB never end (no length, data for 300 s)
        pass        nothing
      Each request is logged: "METHOD PATH RANGE" (or Content-Range).
"""
import base64
import hashlib
import http.client
import http.server
import json
import sys
import threading
import time
import urllib.parse

LOCK = threading.Lock()
SEEN = set()


def log(*words):
    with LOCK:
        print(*words, flush=True)


def first_time(key):
    with LOCK:
        if key in SEEN:
            return False
        SEEN.add(key)
        return True


def libtrust_kid(cert_pem):
    """The key ID docker-registry derives from a public key (libtrust)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_pem)
    der = cert.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, 48, 4))


def token_server(port, key_path, cert_path, issuer, cred, exp="600"):
    """Grants cred what it asks for.  exp: the tokens' "exp" claim, in
    seconds from now; distribution accepts a token until 60 s after it, so
    -56 makes tokens that expire 4 s after they are issued."""
    import jwt

    key = open(key_path, "rb").read()
    kid = libtrust_kid(open(cert_path, "rb").read())
    want = "Basic " + base64.b64encode(cred.encode()).decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            user = "user" if self.headers.get("Authorization") == want else "anonymous"
            if self.headers.get("Authorization") and user == "anonymous":
                log("token refused")
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            access = []
            for scope in q.get("scope", []):
                kind, name, actions = scope.split(":")
                log("token", scope, user)
                if user != "anonymous" and name != "forbidden":
                    access.append({"type": kind, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            claims = {"iss": issuer, "sub": user, "aud": q.get("service", [""])[0],
                      "exp": now + int(exp), "nbf": now - 10, "iat": now,
                      "jti": str(time.monotonic_ns()), "access": access}
            tok = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
            body = json.dumps({"token": tok, "expires_in": max(int(exp) + 60, 1)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    serve(port, Handler)


def proxy_server(port, upstream, mode):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def forward(self, method):
            log(method, self.path,
                self.headers.get("Range", self.headers.get("Content-Range", "-")))
            is_blob = method == "GET" and "/blobs/sha256:" in self.path
            is_manifest = method == "GET" and "/manifests/" in self.path
            if is_blob and mode == "ratelimit" and first_time(self.path):
                self.send_response(429)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(length) if length else None
            conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = "127.0.0.1:%d" % upstream
            conn.request(method, self.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            conn.close()
            if is_blob and r.status in (200, 206):
                return self.blob(r, data)
            if is_manifest and mode == "bigmanifest" and r.status == 200:
                data = data + b" " * (5 << 20)
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() == "location":  # uploads go on through us
                    v = v.replace("127.0.0.1:%d" % upstream, "127.0.0.1:%d" % port)
                if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(data)

        def blob(self, r, data):
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(k, v)
            if mode == "endless" and len(data) > 4096:
                self.send_header("Connection", "close")
                self.end_headers()
                end = time.monotonic() + 300
                while time.monotonic() < end:
                    self.wfile.write(b"\0" * 65536)
                return
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if mode == "cut" and len(data) > 4096 and first_time(self.path):
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if mode == "corrupt" and len(data) > 4096:  # layers, not configs
                i = len(data) // 2
                data = data[:i] + bytes([data[i] ^ 0xff]) + data[i + 1:]
            if mode == "silent":  # not a byte of the body
                time.sleep(300)
                return
            if mode == "stall":
                self.wfile.write(data[:1000])
                self.wfile.flush()
                time.sleep(300)
                return
            if mode == "slow":
                for i in range(0, len(data), 16384):
                    self.wfile.write(data[i:i + 16384])
                    self.wfile.flush()
                    time.sleep(1 / 16)
                return
            self.wfile.write(data)

        def do_GET(self):
            self.forward("GET")

        def do_HEAD(self):
            self.forward("HEAD")

        def do_POST(self):
            self.forward("POST")

        def do_PUT(self):
            self.forward("PUT")

        def do_PATCH(self):
            self.forward("PATCH")

    serve(port, Handler)


def serve(port, handler):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    srv.daemon_threads = True
    srv.serve_forever()


def main():
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "token":
        token_server(port, *sys.argv[3:8])
    elif kind == "proxy":
        proxy_server(port, int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit("servers.py: unknown kind " + kind)


if __name__ == "__main__":
    main()
