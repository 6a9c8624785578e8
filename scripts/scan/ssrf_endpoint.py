#!/usr/bin/env python3
"""A loopback stand-in for wapiti's SSRF endpoint (wapiti3.ovh), for scripts/scan.sh.

wapiti's ssrf module puts URLs of the form <endpoint>ssrf/<session>/<path id>/<hex parameter>/
into every parameter it attacks; if the target ever fetches one, the endpoint records it. At
the end wapiti asks <endpoint>get_ssrf.php?id=<session> which URLs were fetched, and reports
each as a vulnerability. This server plays that part on 127.0.0.1, so that the module works
with no network beyond loopback (scan.sh gives it to wapiti as --external-endpoint and
--internal-endpoint).

Usage: ssrf_endpoint.py PORT_FILE HITS_FILE  (listens on a free port of 127.0.0.1, written to
PORT_FILE; every request under /ssrf/ is appended to HITS_FILE as one JSON line; stops on
SIGTERM).
"""
import datetime
import http.server
import json
import sys
import threading
import urllib.parse

import helper_server

hits = {}  # session -> path id -> hex parameter -> [info]
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if url.path.endswith("get_ssrf.php"):
            session = urllib.parse.parse_qs(url.query).get("id", [""])[0]
            with lock:
                self.answer(200, json.dumps(hits.get(session, {})), "application/json")
            return
        if len(parts) >= 4 and parts[0] == "ssrf":
            session, path_id, hex_param = parts[1], parts[2], parts[3]
            length = int(self.headers.get("Content-Length") or 0)
            if length > 0:
                self.rfile.read(length)
            info = {
                "url": self.path, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "ip": self.client_address[0], "method": self.command, "size": length,
            }
            with lock:
                hits.setdefault(session, {}).setdefault(path_id, {}).setdefault(hex_param, []).append(info)
                with open(sys.argv[2], "a") as f:
                    f.write(json.dumps(info) + "\n")
            self.answer(200, "ok")
            return
        self.answer(404, "not found")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


def main():
    open(sys.argv[2], "a").close()
    helper_server.serve(Handler, sys.argv[1])


if __name__ == "__main__":
    main()
