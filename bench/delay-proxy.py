#!/usr/bin/env python3
"""bench/delay-proxy.py PORT UPSTREAM_HOST:PORT RTT_MS COUNT_FILE

An HTTP/1.1 proxy on 127.0.0.1:PORT for bench/lazy.sh: each request waits
RTT_MS before it goes upstream (this kernel has no netem qdisc, so latency
comes from here; bandwidth from tbf on the link to UPSTREAM), responses
stream back as they come, and the bytes of every response body are added to
COUNT_FILE (one line per request: method, path, Range, bytes)."""
import http.client
import http.server
import sys
import threading
import time

port, upstream, rtt, count_file = (int(sys.argv[1]), sys.argv[2], float(sys.argv[3]) / 1000,
                                   sys.argv[4])
host, uport = upstream.rsplit(":", 1)
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self, method):
        time.sleep(rtt)
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(host, int(uport), timeout=120)
        # Header by header: a client may send several Accept lines.
        conn.putrequest(method, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            if k.lower() != "host":
                conn.putheader(k, v)
        conn.putheader("Host", upstream)
        conn.endheaders(body)
        r = conn.getresponse()
        self.send_response(r.status)
        size = r.getheader("Content-Length")
        data = None
        if size is None:
            data = r.read()
            size = str(len(data))
        for k, v in r.getheaders():
            if k.lower() == "location":
                v = v.replace(upstream, "127.0.0.1:%d" % port)
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", size)
        self.end_headers()
        sent = 0
        if method != "HEAD":
            if data is not None:
                self.wfile.write(data)
                sent = len(data)
            else:
                while True:
                    chunk = r.read(65536)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    sent += len(chunk)
        conn.close()
        with lock, open(count_file, "a") as f:
            f.write("%s %s %s %d\n" % (method, self.path, self.headers.get("Range", "-"), sent))

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


srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
srv.daemon_threads = True
srv.serve_forever()
