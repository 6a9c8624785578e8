#!/usr/bin/env python3
"""An HTTP proxy for scripts/scan.sh that sends every request it forwards from a loopback
source address of its own: 127.1.0.1, 127.1.0.2, ... (up to 64,516 addresses, then again).

Why: the auth service refuses logins with 429 after 20 failures from one client address in
15 minutes, and the gateway takes the client address from the TCP connection (forwarding
headers are not trusted). sqlmap's payloads against POST /api/v1/auth/token are failed logins,
so from one address all but the first 20 would be answered 429 before they reach the code
under test. Through this proxy each of them comes from a new address. It does not change a
request: method, path, headers and body are passed on as they are (but for the hop-by-hop
headers), and the answer comes back as it is. It forwards only to loopback addresses.

Usage: source_proxy.py PORT_FILE  (listens on 127.0.0.1, a free port written to PORT_FILE;
stops on SIGTERM). It logs one line per request on stdout: source address, method, URL, status.
"""
import http.client
import http.server
import ipaddress
import itertools
import sys
import threading
import urllib.parse

import helper_server

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade",
}

_counter = itertools.count()
_lock = threading.Lock()


def next_source():
    """Returns the next source address: 127.1.a.b with a and b in 1..254."""
    with _lock:
        n = next(_counter) % (254 * 254)
    return "127.1.%d.%d" % (1 + n // 254, 1 + n % 254)


def loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # the request lines are logged by forward()
        pass

    def forward(self):
        url = urllib.parse.urlsplit(self.path)
        if url.scheme != "http" or not url.hostname or not loopback(url.hostname):
            self.send_error(403, "this proxy forwards only to http://127.0.0.1 (loopback)")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else None
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Connection"] = "close"
        source = next_source()
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=60,
                                          source_address=(source, 0))
        try:
            conn.request(self.command, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            self.send_error(502, "proxy: %s" % e)
            print("%s %s %s error %s" % (source, self.command, self.path, e), flush=True)
            return
        finally:
            conn.close()
        print("%s %s %s %d" % (source, self.command, self.path, resp.status), flush=True)
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = forward


def main():
    helper_server.serve(Handler, sys.argv[1])


if __name__ == "__main__":
    main()
