"""End-to-end fixtures: a development PKI made by keys/make-dev-pki.sh and the real fapid daemon
started on a free loopback port, driven by independent clients (requests, curl, Python's ssl)."""
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("FAPID_BIN", ROOT / ".build" / "debug"))


def https_server(handler, cert, key):
    """A local HTTPS server (the given certificate) answering with `handler` on a thread of its own; the
    caller shuts it down. Stands for a TPP's jwks_uri, notification endpoint or redirect target."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """One development PKI for the whole run, written exactly as `make keys` writes it."""
    directory = tmp_path_factory.mktemp("pki") / "dev"
    subprocess.run([str(ROOT / "keys" / "make-dev-pki.sh"), str(directory)], check=True, capture_output=True)
    return directory


class Daemon:
    """A fapid process with its own database and keys directory."""

    def __init__(self, workdir: Path, keys: Path, config: dict | None = None, env: dict | None = None):
        self.workdir = workdir
        self.keys = keys
        self.port = free_port()
        self.issuer = f"https://localhost:{self.port}"
        self.base = self.issuer
        self.env = dict(os.environ)
        self.env.update({
            "FAPID_LISTEN": f"127.0.0.1:{self.port}",
            "FAPID_ISSUER": self.issuer,
            "FAPID_DATABASE": str(workdir / "fapid.sqlite"),
            "FAPID_ADMIN_SOCKET": str(workdir / "fapid.sock"),
            "FAPID_KEYS_DIR": str(keys),
            "FAPID_MIGRATIONS_DIR": str(ROOT / "migrations"),
            "FAPID_LOG_LEVEL": "info",
            # Tests send bursts from one address; the throttling tests set their own limits.
            "FAPID_RATE_LIMIT_CLIENT_PER_SECOND": "100000",
            "FAPID_RATE_LIMIT_CLIENT_BURST": "100000",
            "FAPID_RATE_LIMIT_ADDRESS_PER_SECOND": "100000",
            "FAPID_RATE_LIMIT_ADDRESS_BURST": "100000",
            "FAPID_RATE_LIMIT_AUTHORIZE_PER_SECOND": "100000",
            "FAPID_RATE_LIMIT_AUTHORIZE_BURST": "100000",
            "FAPID_RATE_LIMIT_SIGN_IN_PER_SECOND": "100000",
            "FAPID_RATE_LIMIT_SIGN_IN_BURST": "100000",
            # The tests' jwks_uri and notification servers run on loopback.
            "FAPID_OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true",
        })
        self.env.update(env or {})
        self.args = [str(BIN / "fapid")]
        if config is not None:
            path = workdir / "fapid.json"
            path.write_text(json.dumps(config))
            self.args += ["--config", str(path)]
        self.process = None
        self.log = workdir / "fapid.log"

    def fapictl(self, *args, check=True, input_text=None):
        return subprocess.run(
            [str(BIN / "fapictl"), *args], env=self.env, capture_output=True, text=True, check=check, timeout=60, input=input_text
        )

    def start(self, wait=True):
        self.process = subprocess.Popen(self.args, env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"fapid exited with {self.process.returncode}: {self.log.read_text()}")
            try:
                if requests.get(self.base + "/healthz", verify=str(self.keys / "ca.pem"), timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"fapid did not become ready: {self.log.read_text()}")

    def run_to_exit(self, timeout=30):
        """Starts the daemon expecting it to refuse to start; returns (exit code, stderr)."""
        self.start(wait=False)
        code = self.process.wait(timeout=timeout)
        return code, self.log.read_text()

    def stop(self, timeout=15):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            return self.process.wait(timeout=timeout)
        return self.process.returncode if self.process else None

    def get(self, path, **kwargs):
        kwargs.setdefault("verify", str(self.keys / "ca.pem"))
        kwargs.setdefault("timeout", 10)
        return requests.get(self.base + path, **kwargs)


@pytest.fixture
def make_daemon(tmp_path, pki):
    daemons = []

    def make(config=None, env=None, keys=None):
        workdir = tmp_path / f"d{len(daemons)}"
        workdir.mkdir()
        daemon = Daemon(workdir, keys or pki, config=config, env=env)
        daemons.append(daemon)
        return daemon

    yield make
    for daemon in daemons:
        if daemon.process and daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()


@pytest.fixture
def daemon(make_daemon):
    return make_daemon().start()


@pytest.fixture
def private_pki(tmp_path, pki):
    """A copy of the PKI a test may damage (permissions, files)."""
    copy = tmp_path / "keys"
    shutil.copytree(pki, copy)
    return copy
