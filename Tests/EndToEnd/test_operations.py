"""Safe operation end to end: the tamper-evident audit log (and `fapictl audit`), throttling, /metrics,
structured logs, readiness, slow-client deadlines, and a SIGKILL in the middle of a token load."""
import hashlib
import json
import re
import signal
import socket
import sqlite3
import ssl
import threading
import time
import uuid

import pytest
import requests
from joserfc import jws
from joserfc.jwk import KeySet

from test_hybrid_flow import PASSWORD, TPP_DN, Flow
from tpp import TokenClient, issue_certificate, register, thumbprint

FIELDS = ["seq", "time", "type", "client_id", "org_id", "user", "x5t#S256", "interaction_id", "source", "outcome", "reason"]
COLUMNS = ["seq", "time", "type", "client_id", "org_id", "user", "cnf_x5t", "interaction_id", "source", "outcome", "reason"]


def chain_hash(values: dict, previous: str) -> str:
    """The documented row hash (docs/operations.md), computed independently of fapid."""
    text = "fapid-audit-v1\n"
    for field in FIELDS:
        value = values.get(field)
        if value is None:
            text += "-\n"
        else:
            value = str(value)
            text += f"{len(value.encode())}:{value}\n"
    return hashlib.sha256((text + previous).encode()).hexdigest()


def export(daemon, *args):
    result = daemon.fapictl("audit", "export", *args)
    return [json.loads(line) for line in result.stdout.splitlines() if line]


def verify(daemon, *args, database=None):
    env = dict(daemon.env)
    if database:
        env["FAPID_DATABASE"] = str(database)
    import subprocess
    from conftest import BIN
    return subprocess.run([str(BIN / "fapictl"), "audit", "verify", *args], env=env, capture_output=True, text=True, timeout=60)


def snapshot(daemon, name):
    """A consistent copy of the live database (SQLite's backup API), to damage without touching the daemon's."""
    copy = daemon.workdir / f"{name}.sqlite"
    source = sqlite3.connect(daemon.workdir / "fapid.sqlite")
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    return copy


def mtls_client(daemon, **extra):
    metadata = {"client_name": "Example TPP", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
                "scope": "accounts payments", "grant_types": ["client_credentials"]}
    metadata.update(extra)
    return register(daemon, metadata)


@pytest.fixture
def flow(daemon, pki):
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    return Flow(daemon, pki)


def run_full_flow(flow, daemon):
    """Consent, code, tokens, refresh, revocation, code reuse, a denied consent and a failed authentication."""
    fragment = flow.run_to_fragment()
    interaction = str(uuid.uuid4())
    tokens = flow.tpp.post("/token", {"grant_type": "authorization_code", "client_id": flow.client_id, "code": fragment["code"],
                                      "redirect_uri": "https://tpp.example.com/callback", "code_verifier": flow.verifier},
                           headers={"x-fapi-interaction-id": interaction})
    assert tokens.status_code == 200, tokens.text
    tokens = tokens.json()
    refreshed = flow.tpp.post("/token", {"grant_type": "refresh_token", "client_id": flow.client_id, "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert flow.tpp.post("/revoke", {"client_id": flow.client_id, "token": refreshed.json()["access_token"]}).status_code == 200
    assert flow.exchange(fragment["code"]).status_code == 400  # reuse
    page = flow.authorize(flow.par())
    denied = flow.consent(flow.login(page.text).text, decision="deny")
    assert denied["error"] == "access_denied"
    assert TokenClient(daemon, None).token(flow.client_id).status_code == 401
    return interaction, tokens, refreshed.json(), fragment["code"]


# --- audit log -------------------------------------------------------------------------------------

def test_audit_chain_verifies_after_a_full_flow(flow, daemon, pki):
    interaction, tokens, refreshed, code = run_full_flow(flow, daemon)
    result = verify(daemon)
    assert result.returncode == 0, result.stderr
    assert "audit chain intact" in result.stdout

    rows = export(daemon)
    types = [row["type"] for row in rows]
    for expected in ["configuration.loaded", "key.added", "client.registered", "resource_server.added", "consent.given", "token.issued",
                     "token.refreshed", "token.revoked", "code.reuse_detected", "consent.denied", "client.authentication_failed"]:
        assert expected in types, (expected, types)
    issued = [row for row in rows if row["type"] == "token.issued" and row.get("interaction_id") == interaction]
    assert len(issued) == 1
    assert issued[0]["client_id"] == flow.client_id and issued[0]["user"] == "alice"
    assert issued[0]["x5t#S256"] == thumbprint(pki / "tpp.pem") and issued[0]["source"] == "127.0.0.1"
    consent = next(row for row in rows if row["type"] == "consent.given")
    assert consent["user"] == "alice" and consent["client_id"] == flow.client_id and "openid accounts" in consent["reason"]
    failure = next(row for row in rows if row["type"] == "client.authentication_failed")
    assert failure["outcome"] == "failure" and failure["reason"].startswith("no_certificate")

    # Our own walk of the chain, by the documented format.
    previous = "0" * 64
    for index, row in enumerate(rows, start=1):
        assert row["seq"] == index and row["prev_hash"] == previous
        assert chain_hash(row, previous) == row["hash"]
        previous = row["hash"]

    # Nothing secret in the log.
    text = json.dumps(rows)
    for secret in [tokens["access_token"], tokens["refresh_token"], refreshed["access_token"], code, PASSWORD]:
        assert secret not in text

    since = export(daemon, "--since", rows[-1]["time"])
    assert since and since[-1]["seq"] == rows[-1]["seq"] and all(row["time"] >= rows[-1]["time"] for row in since)
    bad = daemon.fapictl("audit", "export", "--since", "yesterday", check=False)
    assert bad.returncode != 0 and "--since" in bad.stderr


def tamper_cases():
    def change(db, seq):
        db.execute("UPDATE audit_log SET client_id = 'someone-else' WHERE seq = ?", (seq,))

    def change_outcome(db, seq):
        db.execute("UPDATE audit_log SET outcome = CASE outcome WHEN 'success' THEN 'failure' ELSE 'success' END WHERE seq = ?", (seq,))

    def delete(db, seq):
        db.execute("DELETE FROM audit_log WHERE seq = ?", (seq,))

    def swap(db, seq):
        db.execute("UPDATE audit_log SET seq = -1 WHERE seq = ?", (seq,))
        db.execute("UPDATE audit_log SET seq = ? WHERE seq = ?", (seq, seq + 1))
        db.execute("UPDATE audit_log SET seq = ? WHERE seq = -1", (seq + 1,))

    return {"change": change, "change_outcome": change_outcome, "delete": delete, "swap": swap}


def test_any_changed_deleted_or_reordered_row_is_named(flow, daemon):
    run_full_flow(flow, daemon)
    count = len(export(daemon))
    assert count >= 10
    for name, damage in tamper_cases().items():
        for seq in [1, count // 2, count - 1, count]:
            if name == "swap" and seq == count:
                continue
            copy = snapshot(daemon, f"{name}-{seq}")
            db = sqlite3.connect(copy)
            damage(db, seq)
            db.commit()
            db.close()
            result = verify(daemon, database=copy)
            assert result.returncode == 1, (name, seq, result.stdout)
            assert f"audit chain broken at row {seq}:" in result.stderr, (name, seq, result.stderr)


def rewrite_whole_table(path, seq_to_change):
    """What an intruder with the database could do: change a row and recompute every hash after it."""
    db = sqlite3.connect(path)
    rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_log ORDER BY seq").fetchall()
    previous = "0" * 64
    for row in rows:
        values = dict(zip(FIELDS, row))
        if values["seq"] == seq_to_change:
            values["client_id"] = "someone-else"
        digest = chain_hash(values, previous)
        db.execute("UPDATE audit_log SET client_id = ?, prev_hash = ?, hash = ? WHERE seq = ?", (values["client_id"], previous, digest, values["seq"]))
        previous = digest
    db.execute("UPDATE audit_head SET hash = ?", (previous,))
    db.execute("DELETE FROM audit_checkpoints")
    db.commit()
    db.close()


def test_an_exported_checkpoint_detects_a_rewritten_table(flow, daemon, tmp_path):
    run_full_flow(flow, daemon)
    checkpoint = daemon.fapictl("audit", "checkpoint").stdout.strip()
    # The checkpoint is a JWS by the daemon's published key: checked here with joserfc.
    keys = KeySet.import_key_set(daemon.get("/jwks").json())
    token = jws.deserialize_compact(checkpoint, keys, algorithms=["PS256"])
    claims = json.loads(token.payload)
    assert token.protected["typ"] == "fapid-audit-checkpoint+jwt" and claims["iss"] == daemon.issuer
    exported = tmp_path / "checkpoint.jws"
    exported.write_text(checkpoint + "\n")
    assert verify(daemon, "--checkpoint", str(exported)).returncode == 0

    copy = snapshot(daemon, "rewritten")
    rewrite_whole_table(copy, 3)
    # The rewritten chain is self-consistent: only the checkpoint kept elsewhere can tell.
    assert verify(daemon, database=copy).returncode == 0
    result = verify(daemon, "--checkpoint", str(exported), database=copy)
    assert result.returncode == 1
    assert f"audit chain broken at row {claims['seq']}:" in result.stderr and "rewritten" in result.stderr

    # Truncating the table below the checkpoint is caught too.
    copy = snapshot(daemon, "truncated")
    db = sqlite3.connect(copy)
    last = db.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
    db.execute("DELETE FROM audit_log WHERE seq > ?", (last - 3,))
    db.execute("UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit_log WHERE seq = ?)", (last - 3, last - 3))
    db.execute("DELETE FROM audit_checkpoints")
    db.commit()
    db.close()
    result = verify(daemon, "--checkpoint", str(exported), database=copy)
    assert result.returncode == 1 and f"row {last - 2} is missing" in result.stderr


def test_the_daemon_signs_checkpoints_periodically(make_daemon, pki):
    daemon = make_daemon(env={"FAPID_AUDIT_CHECKPOINT_SECONDS": "1"}).start()
    client_id = mtls_client(daemon)
    assert TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key")).token(client_id, scope="accounts").status_code == 200
    db = sqlite3.connect(daemon.workdir / "fapid.sqlite")
    deadline = time.time() + 10
    head = db.execute("SELECT seq FROM audit_head").fetchone()[0]
    while time.time() < deadline:
        row = db.execute("SELECT seq, jws FROM audit_checkpoints ORDER BY seq DESC LIMIT 1").fetchone()
        if row and row[0] >= head:
            break
        time.sleep(0.2)
    assert row and row[0] >= head, "no checkpoint of the head"
    keys = KeySet.import_key_set(daemon.get("/jwks").json())
    claims = json.loads(jws.deserialize_compact(row[1], keys, algorithms=["PS256"]).payload)
    assert claims["seq"] == row[0]
    assert claims["hash"] == db.execute("SELECT hash FROM audit_log WHERE seq = ?", (row[0],)).fetchone()[0]
    db.close()
    assert daemon.stop() == 0
    assert verify(daemon).returncode == 0


def test_admin_actions_and_key_rotation_are_audited(daemon):
    client_id = mtls_client(daemon)
    daemon.fapictl("clients", "remove", client_id)
    daemon.fapictl("keys", "rotate", "--alg", "ES256")
    rows = export(daemon)
    removed = next(row for row in rows if row["type"] == "client.deleted")
    assert removed["client_id"] == client_id and removed["user"]
    staged = next(row for row in rows if row["type"] == "key.staged")  # a rotation publishes the next key first
    assert "ES256" in staged["reason"] and "active from" in staged["reason"] and staged["user"]
    assert verify(daemon).returncode == 0


# --- throttling ------------------------------------------------------------------------------------

def second_client(daemon, pki, tmp_path):
    cert = issue_certificate(tmp_path, "other", "/C=GB/O=Other TPP/CN=other-client", pki / "ca.pem", pki / "ca.key")
    client_id = mtls_client(daemon, tls_client_auth_subject_dn="CN=other-client,O=Other TPP,C=GB")
    return TokenClient(daemon, cert), client_id


def test_bursts_above_the_client_limit_get_429_while_others_are_served(make_daemon, pki, tmp_path):
    daemon = make_daemon(env={"FAPID_RATE_LIMIT_CLIENT_PER_SECOND": "2", "FAPID_RATE_LIMIT_CLIENT_BURST": "3"}).start()
    first = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
    first_id = mtls_client(daemon)
    other, other_id = second_client(daemon, pki, tmp_path)
    answers = [first.token(first_id, scope="accounts") for _ in range(10)]
    codes = [answer.status_code for answer in answers]
    assert codes[:3] == [200, 200, 200] and codes.count(429) >= 5, codes
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"] == "temporarily_unavailable" and refused.headers["Cache-Control"] == "no-store"
    assert "x-fapi-interaction-id" in refused.headers
    # Another client (another certificate) is unaffected.
    assert [other.token(other_id, scope="accounts").status_code for _ in range(3)] == [200, 200, 200]
    # The bucket refills.
    time.sleep(1.1)
    assert first.token(first_id, scope="accounts").status_code == 200
    metrics = daemon.get("/metrics").text
    assert re.search(r'fapid_throttled_requests_total\{endpoint="/token",limit="client"\} ([0-9]+)', metrics)


def test_bursts_above_the_address_limit_get_429(make_daemon, pki):
    daemon = make_daemon(env={"FAPID_RATE_LIMIT_ADDRESS_PER_SECOND": "1", "FAPID_RATE_LIMIT_ADDRESS_BURST": "4"}).start()
    anonymous = TokenClient(daemon, None)
    # Respelled paths reach the same route, and the same bucket.
    codes = [anonymous.post(path, {"client_id": "x"}).status_code for path in ["/par", "/par/", "//par", "/par"] * 2]
    assert codes[:4] == [401] * 4 and codes[4:] == [429] * 4, codes
    # Endpoints outside the list are not throttled.
    assert all(daemon.get("/jwks").status_code == 200 for _ in range(10))


# --- metrics ---------------------------------------------------------------------------------------

def metric(text, name, **labels):
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r'([a-z_:]+)(\{([^}]*)\})? ([0-9.eE+-]+)$', line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'([a-z_]+)="([^"]*)"', match.group(3) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(4))
    return 0.0


def test_metrics_move_with_the_requests(make_daemon, pki):
    daemon = make_daemon().start()
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    client = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
    client_id = mtls_client(daemon)
    before = daemon.get("/metrics")
    assert before.status_code == 200 and before.headers["Content-Type"].startswith("text/plain")
    before = before.text
    tokens = [client.token(client_id, scope="accounts").json()["access_token"] for _ in range(3)]
    assert TokenClient(daemon, None).token(client_id).status_code == 401
    assert client.post("/introspect", {"token": tokens[0]}).json()["active"]
    after = daemon.get("/metrics").text

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("fapid_http_requests_total", endpoint="/token", status="200") == 3
    assert delta("fapid_http_requests_total", endpoint="/token", status="401") == 1
    assert delta("fapid_http_requests_total", endpoint="/introspect", status="200") == 1
    assert delta("fapid_tokens_issued_total", grant_type="client_credentials") == 3
    assert delta("fapid_client_authentication_failures_total", reason="no_certificate") == 1
    assert delta("fapid_http_request_duration_seconds_count", endpoint="/token") == 4
    assert "fapid_certificate_status_cache_hits_total" in after and "fapid_ciba_pending_requests" in after


def test_metrics_on_a_separate_loopback_port(make_daemon):
    port = __import__("conftest").free_port()
    daemon = make_daemon(env={"FAPID_METRICS_LISTEN": f"127.0.0.1:{port}"}).start()
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5, proxies={"http": None, "https": None})
    assert response.status_code == 200 and "fapid_http_requests_total" in response.text
    assert daemon.get("/metrics").status_code == 404


def test_a_non_loopback_metrics_listener_needs_allowing(make_daemon):
    code, log = make_daemon(env={"FAPID_METRICS_LISTEN": "0.0.0.0:9464"}).run_to_exit()
    assert code == 2 and "metrics_listen" in log


# --- logs, readiness, deadlines --------------------------------------------------------------------

def test_json_logs_carry_the_interaction_id_and_no_secrets(make_daemon, pki):
    daemon = make_daemon(env={"FAPID_LOG_FORMAT": "json", "FAPID_LOG_LEVEL": "trace"}).start()
    client = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
    client_id = mtls_client(daemon)
    token = client.token(client_id, scope="accounts").json()["access_token"]
    interaction = str(uuid.uuid4())
    refused = client.post("/token", {"grant_type": "client_credentials", "client_id": "no-such-client"}, headers={"x-fapi-interaction-id": interaction})
    assert refused.status_code == 401 and refused.headers["x-fapi-interaction-id"] == interaction
    daemon.stop()
    lines = [json.loads(line) for line in daemon.log.read_text().splitlines() if line.strip()]
    assert all({"time", "level", "message"} <= set(line) for line in lines)
    tagged = [line for line in lines if line.get("interaction_id") == interaction]
    assert tagged and any("no-such-client" in json.dumps(line) for line in tagged)
    assert token not in daemon.log.read_text()


def test_healthz_reports_database_and_keys(daemon):
    response = daemon.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "signing_keys": "ok"}


def tls_socket(daemon):
    context = ssl.create_default_context(cafile=str(daemon.keys / "ca.pem"))
    raw = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="localhost")


def closed_within(sock, seconds):
    """True when the server closes the connection within `seconds`."""
    deadline = time.time() + seconds
    sock.settimeout(0.5)
    while time.time() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True
    return False


def test_slow_and_idle_clients_are_cut_off(make_daemon):
    daemon = make_daemon(config={"request_timeout_seconds": 2, "idle_timeout_seconds": 3}).start()
    idle = tls_socket(daemon)
    started = time.time()
    assert closed_within(idle, 6) and time.time() - started >= 2.5

    slow = tls_socket(daemon)
    slow.sendall(b"POST /token HTTP/1.1\r\nHost: localhost\r\n")
    started = time.time()
    closed = False
    while time.time() - started < 6:
        try:
            slow.sendall(b"X-Slow: a\r\n")
        except (OSError, ssl.SSLError):
            closed = True
            break
        if closed_within(slow, 0.5):
            closed = True
            break
    assert closed and time.time() - started < 4.5

    # A connection that keeps sending whole requests stays open past the request timeout.
    busy = tls_socket(daemon)
    for _ in range(4):
        busy.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        reply = b""
        while not reply.endswith(b"}"):
            chunk = busy.recv(4096)
            assert chunk, "closed"
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200")
        time.sleep(1)


def test_oversized_heads_and_bodies_are_refused(daemon, pki):
    big = tls_socket(daemon)
    big.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
    reply = b""
    try:
        reply = big.recv(4096)
    except (OSError, ssl.SSLError):
        pass
    assert b"200 OK" not in reply
    client = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
    response = client.post("/token", {"grant_type": "client_credentials", "pad": "a" * 70_000})
    assert response.status_code in (400, 413), response.status_code


# --- crash consistency -----------------------------------------------------------------------------

def test_sigkill_under_load_loses_no_issued_token(make_daemon, pki):
    daemon = make_daemon().start()
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    client_id = mtls_client(daemon)
    issued, lock, stop = [], threading.Lock(), threading.Event()

    def load():
        client = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
        while not stop.is_set():
            try:
                response = client.token(client_id, scope="accounts")
            except requests.RequestException:
                return
            if response.status_code == 200:
                with lock:
                    issued.append(response.json()["access_token"])

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(issued) > 20

    assert verify(daemon).returncode == 0
    daemon.start()
    introspector = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
    inactive = [token for token in issued if not introspector.post("/introspect", {"token": token}).json()["active"]]
    assert inactive == []
    rows = export(daemon)
    assert sum(row["type"] == "token.issued" for row in rows) >= len(issued)
    result = verify(daemon)
    assert result.returncode == 0, result.stderr


def test_sigterm_under_load_drains_and_exits_cleanly(make_daemon, pki):
    daemon = make_daemon().start()
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    client_id = mtls_client(daemon)
    issued, statuses, lock = [], [], threading.Lock()

    def load():
        client = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
        while True:
            try:
                response = client.token(client_id, scope="accounts")
            except requests.RequestException:
                return  # the listener is closed: no new connection
            with lock:
                statuses.append(response.status_code)
                if response.status_code == 200:
                    issued.append(response.json()["access_token"])

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    assert daemon.stop(timeout=30) == 0
    for thread in threads:
        thread.join(timeout=30)
    assert issued and set(statuses) == {200}, set(statuses)
    assert "fapid stopped" in daemon.log.read_text()
    daemon.start()
    introspector = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
    assert all(introspector.post("/introspect", {"token": token}).json()["active"] for token in issued)
    assert verify(daemon).returncode == 0
