"""Fault injection on the SQLite backend: the file system filling up under the database (a small tmpfs,
so root is needed to mount it), and the database locked by another process (`BEGIN EXCLUSIVE` held by a
separate python sqlite3 process). Writes fail spec-shaped (500 server_error or 503 temporarily_unavailable),
bounded in time; reads go on; nothing is corrupt (PRAGMA integrity_check, `fapictl audit verify`); every token
a client was given stays active; service comes back by itself once the fault is gone."""
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from faults_support import Timed, assert_unavailable, audit_verify, record, sqlite_intact, wait_until
from test_hybrid_flow import TPP_DN
from tpp import TokenClient, register


def mtls(daemon, pki):
    return TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))


def setup_parties(daemon):
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    return register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN, "scope": "accounts"})


@pytest.fixture
def small_filesystem():
    """A 24 MiB tmpfs of our own, unmounted afterwards."""
    # On CI (as root) the fault must be tested, not skipped.
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("mounting a tmpfs needs root, and CI runs `make test` as root")
        pytest.skip("mounting a tmpfs needs root (CI and `make test` run as root)")
    mountpoint = Path(tempfile.mkdtemp(prefix="fapid-full-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0755", "tmpfs", str(mountpoint)], capture_output=True, text=True)
    if mounted.returncode != 0:
        mountpoint.rmdir()
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs on CI: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)
    mountpoint.rmdir()


def fill(directory: Path) -> Path:
    """Writes zeros until the file system has no byte left; returns the filler."""
    filler = directory / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 512):
            try:
                while True:
                    os.write(descriptor, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(descriptor)
    return filler


def test_disk_full_fails_writes_spec_shaped_keeps_reads_and_recovers(make_daemon, pki, small_filesystem):
    daemon = make_daemon(env={"FAPID_DATABASE": str(small_filesystem / "fapid.sqlite")}).start()
    client_id = setup_parties(daemon)
    client = mtls(daemon, pki)
    issued = []
    for _ in range(20):
        response = client.token(client_id, scope="accounts")
        assert response.status_code == 200, response.text
        issued.append(response.json()["access_token"])

    filler = fill(small_filesystem)
    # SQLite may still place a few commits in WAL pages it already holds; past those, every write must fail.
    accepted_while_full, failures, statuses, slowest = 0, 0, set(), 0.0
    for _ in range(400):
        with Timed() as took:
            response = client.token(client_id, scope="accounts")
        slowest = max(slowest, took.seconds)
        if response.status_code == 200:
            accepted_while_full += 1
            issued.append(response.json()["access_token"])
            continue
        statuses.add(assert_unavailable(response))
        failures += 1
        if failures == 20:
            break
    assert failures == 20, f"writes kept succeeding on a full disk ({accepted_while_full} accepted)"
    # A write that a client sends while the disk is full fails every time, within the request's bound.
    assert slowest < 10, slowest

    # Reads where the answer needs no write: the key set, discovery, introspection of a live token.
    assert daemon.get("/jwks").status_code == 200
    assert daemon.get("/.well-known/openid-configuration").status_code == 200
    reads_ok = sum(mtls(daemon, pki).post("/introspect", {"token": token}).json().get("active") is True for token in issued[:10])
    health = daemon.get("/healthz")
    assert daemon.process.poll() is None, "fapid exited on a full disk"

    filler.unlink()
    with Timed() as recovery:
        wait_until(lambda: client.token(client_id, scope="accounts").status_code == 200, 30, "token issuing to resume once space returned")
    inactive = [token for token in issued if not mtls(daemon, pki).post("/introspect", {"token": token}).json().get("active")]
    assert inactive == [], f"{len(inactive)} tokens issued before or during the fault were lost"
    sqlite_intact(small_filesystem / "fapid.sqlite")
    audit_verify(daemon)
    assert daemon.stop() == 0
    sqlite_intact(small_filesystem / "fapid.sqlite")
    record("disk_full", writes_failed=failures, error_codes=sorted(statuses), commits_accepted_after_fill=accepted_while_full,
           slowest_failed_write_seconds=round(slowest, 2), introspections_ok_while_full=reads_ok, healthz_while_full=health.status_code,
           recovery_seconds=round(recovery.seconds, 2), tokens_checked=len(issued), tokens_lost=0)


# SQLiteDatabase's busy timeout: how long a write waits for another process's lock.
BUSY_TIMEOUT = 5

LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


def test_database_locked_by_another_process_fails_bounded_and_recovers(make_daemon, pki):
    daemon = make_daemon().start()
    client_id = setup_parties(daemon)
    client = mtls(daemon, pki)
    live = client.token(client_id, scope="accounts").json()["access_token"]

    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(daemon.workdir / "fapid.sqlite")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        # Eight writers at once while the lock is held: each fails spec-shaped. Writes are group-committed, so one
        # that arrives while a batch waits for the lock waits that batch's busy timeout, then its own: two at most.
        def write(_):
            with Timed() as took:
                response = mtls(daemon, pki).session.post(daemon.base + "/token", timeout=60, data={
                    "grant_type": "client_credentials", "client_id": client_id, "scope": "accounts"})
            return response, took.seconds

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(write, range(8)))
        codes = {assert_unavailable(response) for response, _ in outcomes}
        slowest_write = max(seconds for _, seconds in outcomes)
        assert slowest_write < 2 * BUSY_TIMEOUT + 3, slowest_write
        # Reads do not wait for the writer (WAL): keys and introspection stay fast.
        with Timed() as reads:
            assert daemon.get("/jwks").status_code == 200
            assert mtls(daemon, pki).post("/introspect", {"token": live}).json()["active"] is True
        assert reads.seconds < 2, reads.seconds
    finally:
        locker.stdin.write("\n")
        locker.stdin.close()
        locker.wait(timeout=10)

    with Timed() as recovery:
        response = client.token(client_id, scope="accounts")
    assert response.status_code == 200, response.text
    assert mtls(daemon, pki).post("/introspect", {"token": response.json()["access_token"]}).json()["active"] is True
    audit_verify(daemon)
    sqlite_intact(daemon.workdir / "fapid.sqlite")
    record("sqlite_locked", concurrent_writes_failed=len(outcomes), error_codes=sorted(codes), slowest_failed_write_seconds=round(slowest_write, 2),
           reads_seconds=round(reads.seconds, 3), first_write_after_release_seconds=round(recovery.seconds, 3))
