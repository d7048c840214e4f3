"""Shared helpers for the fault-injection tests (test_faults_*.py): the one check of a failure's shape, the
store checks every fault ends with, load drivers, and the figures each test measures.

A figure is printed (`FAULT-FIGURE {json}`, seen with `pytest -s` or in the failure report) and, when
FAPID_FAULT_FIGURES names a file, appended to it as one JSON line, which is where docs/robustness.md's
fault table takes its numbers from."""
import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from conftest import BIN

# A failing dependency answers with one of these (RFC 6749 §5.2 and §4.1.2.1; RFC 9110 §15.6.1, §15.6.4).
UNAVAILABLE = {(500, "server_error"), (503, "temporarily_unavailable")}
# What must never reach a client in an error: a stack, a file path, a backend's own message.
LEAKS = ["Fatal error", ".swift", "SQLITE_", "sqlite", "database or disk is full", "PSQLError", "Backtrace", "/work/", "/tmp/"]


def record(name: str, **figures):
    """Prints and keeps one test's figures."""
    line = json.dumps({"test": name, **figures}, sort_keys=True)
    print(f"FAULT-FIGURE {line}")
    target = os.environ.get("FAPID_FAULT_FIGURES")
    if target:
        with open(target, "a") as out:
            out.write(line + "\n")


def assert_unavailable(response, allowed=UNAVAILABLE):
    """A spec-shaped failure of the server: JSON `{"error": ...}` with 500 server_error or 503
    temporarily_unavailable, no-store, nothing of the cause's internals in the body."""
    assert (response.status_code, _error(response)) in allowed, f"HTTP {response.status_code} {response.text[:300]}"
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    for leak in LEAKS:
        assert leak.lower() not in response.text.lower(), f"{leak!r} in {response.text[:300]}"
    return response.json()["error"]


def _error(response):
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def audit_verify(daemon, env=None):
    """`fapictl audit verify` against the daemon's database (offline: no daemon needed)."""
    result = subprocess.run([str(BIN / "fapictl"), "audit", "verify"], env={**daemon.env, **(env or {})},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"audit verify: {result.stdout} {result.stderr}"
    return result.stdout.strip()


def audit_types(daemon):
    result = daemon.fapictl("audit", "export")
    return [json.loads(line)["type"] for line in result.stdout.splitlines() if line]


def sqlite_intact(path: Path):
    """PRAGMA integrity_check and foreign_key_check on a read-only connection: nothing corrupt or dangling."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchall()
        assert integrity == [("ok",)], integrity
        dangling = db.execute("PRAGMA foreign_key_check").fetchall()
        assert dangling == [], dangling
    finally:
        db.close()


class Timed:
    """`with Timed() as t:` … `t.seconds`."""

    def __enter__(self):
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.seconds = time.monotonic() - self.started
        return False


def wait_until(predicate, timeout, what, interval=0.1):
    """Polls `predicate` until it is true or `timeout` seconds pass (then fails naming `what`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class SilentServer:
    """A TCP listener that accepts connections and never answers: a hung peer (OCSP responder, CRL server,
    CIBA notification endpoint). `connections` counts what it accepted; every socket is kept open until close()."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        self.accepted = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def open_connections(self):
        """Connections the peer still holds open (a closed one reads EOF or an error)."""
        alive = 0
        for connection in self.accepted:
            connection.setblocking(False)
            try:
                while connection.recv(65536):
                    pass  # what the peer sent; an empty read is its close
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        return alive

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}/{path}"

    def close(self):
        self.closed.set()
        self.listener.close()
        for connection in self.accepted:
            connection.close()


def connections_to(port):
    """TCP connections on this host whose remote end is `port` (the daemon's, to a peer the test runs) that the
    daemon still holds open: ESTABLISHED, SYN_SENT or CLOSE_WAIT (one it closed lingers in FIN_WAIT without a descriptor)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port, state = int(fields[2].rsplit(":", 1)[1], 16), fields[3]
            if remote_port == port and state in ("01", "02", "08"):
                count += 1
    return count


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def thread_count(pid):
    return int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Threads:")))
