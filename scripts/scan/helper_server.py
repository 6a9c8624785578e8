"""What the helper servers of scripts/scan.sh share: serving one handler on a free port of
127.0.0.1, written to a file, until SIGTERM."""
import http.server
import signal
import threading


def serve(handler, port_file):
    """Serves handler (a BaseHTTPRequestHandler class) on 127.0.0.1 at a free port, writes the
    port to port_file, and returns when SIGTERM arrives."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with open(port_file, "w") as f:
        f.write(str(server.server_address[1]))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
