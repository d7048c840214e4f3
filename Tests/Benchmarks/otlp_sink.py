"""`make bench`'s OTLP/HTTP collector stand-in: accepts trace exports on 127.0.0.1 (port written to argv[1]),
answers 200, and on SIGTERM writes how many exports and bytes it took to argv[2]."""
import http.server
import signal
import sys
import threading

received = {"exports": 0, "bytes": 0}
lock = threading.Lock()


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        with lock:
            received["exports"] += 1
            received["bytes"] += length
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)


def stop(*_):
    with open(sys.argv[2], "w") as out:
        out.write(f"{received['exports']} {received['bytes']}\n")
    threading.Thread(target=server.shutdown).start()


signal.signal(signal.SIGTERM, stop)
with open(sys.argv[1], "w") as out:
    out.write(str(server.server_address[1]))
server.serve_forever()
