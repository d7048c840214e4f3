"""Scale-out end to end: two fapid instances on one PostgreSQL database, each on its own port with its own
admin socket, sharing the issuer and the signing keys. Single-use artefacts (codes, request_uri, client
assertion jti, auth_req_id) raced across both instances are used exactly once; tokens, revocations and key
rotations are seen by both; a killed instance loses nothing a client received.

Needs FAPID_TEST_POSTGRES_URL (an admin URL of a throwaway cluster, as `make test` exports it): skipped
without it, and failed without it when CI is set. Every test gets fresh databases, dropped afterwards."""
import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from conftest import free_port, https_server
from test_ciba import CIBA_GRANT, CIBAClient, pending_id
from test_hybrid_flow import PASSWORD, Flow
from tpp import JWT_BEARER, TokenClient, assertion, fresh_key, register, thumbprint

TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
ADMIN_URL = os.environ.get("FAPID_TEST_POSTGRES_URL")


class SharedDatabase:
    """Fresh PostgreSQL databases, and fapid instances on them: the first instance's URL is everyone's issuer."""

    def __init__(self, make_daemon, admin_url):
        self.make_daemon = make_daemon
        self.admin_url = admin_url
        self.names = []
        self.daemons = []

    def psql(self, sql):
        result = subprocess.run(["psql", self.admin_url, "-qAtc", sql], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def database(self):
        name = "fapid_e2e_" + uuid.uuid4().hex[:16]
        self.psql(f"CREATE DATABASE {name}")
        self.names.append(name)
        return urllib.parse.urlsplit(self.admin_url)._replace(path="/" + name).geturl()

    def instances(self, count=2, url=None, config=None, keys=None, start=True):
        env = {"FAPID_STORAGE": "postgres", "FAPID_DATABASE_URL": url or self.database()}
        first = self.make_daemon(config=config, env=env, keys=keys)
        group = [first]
        for _ in range(count - 1):
            # Tokens, assertions and request objects name one issuer whichever instance serves them.
            other = self.make_daemon(config=config, env={**env, "FAPID_ISSUER": first.issuer}, keys=keys)
            other.issuer = first.issuer
            group.append(other)
        self.daemons += group
        if start:
            for daemon in group:
                daemon.start(wait=False)
            for daemon in group:
                daemon.wait_ready()
        return group

    def close(self):
        for daemon in self.daemons:
            if daemon.process and daemon.process.poll() is None:
                daemon.process.kill()
                daemon.process.wait()
        for name in self.names:
            self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgres_admin_url():
    if not ADMIN_URL:
        reason = "FAPID_TEST_POSTGRES_URL is not set (`make test` starts a throwaway PostgreSQL cluster and exports it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return ADMIN_URL


@pytest.fixture
def shared(postgres_admin_url, make_daemon):
    # postgres_admin_url comes first, so a skip happens before the PKI is made.
    database = SharedDatabase(make_daemon, postgres_admin_url)
    yield database
    database.close()


@pytest.fixture
def pair(shared):
    """Two running instances, A and B, on one fresh database, with PSU alice and the TPP as resource server."""
    a, b = shared.instances()
    a.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    a.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    return a, b


def tpp_client(daemon, pki):
    return TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))


def warmed(client):
    """The client with its mTLS connection already open, so a race below is decided at the server, not in handshakes."""
    assert client.session.get(client.daemon.base + "/jwks", timeout=10).status_code == 200
    return client


def simultaneously(calls):
    """Runs the calls in threads released together by a barrier; their results, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def new_browser(daemon):
    """A PSU's browser: cookies kept, the test CA trusted, no proxy from the environment."""
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = str(daemon.keys / "ca.pem")
    return browser


def kids(daemon):
    return {key["kid"] for key in daemon.get("/jwks").json()["keys"]}


def mtls_client(daemon, **extra):
    metadata = {"client_name": "Example TPP", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
                "scope": "accounts payments", "grant_types": ["client_credentials"]}
    metadata.update(extra)
    return register(daemon, metadata)


def error_codes(responses):
    return sorted((response.status_code, response.json().get("error")) for response in responses if response.status_code != 200)


# --- start-up --------------------------------------------------------------------------------------

def test_two_instances_starting_together_on_an_empty_database(shared):
    # Migrations and the first registration of the signing keys race; a few rounds give the race its chances.
    for _ in range(3):
        a, b = shared.instances()
        for daemon in (a, b):
            assert daemon.get("/healthz").json() == {"status": "ok", "database": "ok", "signing_keys": "ok"}
        assert kids(a) == kids(b) and len(kids(a)) == 2
        records = json.loads(a.fapictl("keys", "list", "--json").stdout)
        active = sorted(record["alg"] for record in records if record["state"] == "active")
        assert active == ["ES256", "PS256"], records
        assert a.fapictl("audit", "verify", check=False).returncode == 0
        a.stop()
        b.stop()


# --- single use across instances ------------------------------------------------------------------

def test_one_code_redeemed_in_parallel_at_both_instances_is_redeemed_once(pair, pki):
    a, b = pair
    flow = Flow(a, pki)
    code = flow.run_to_fragment()["code"]
    clients = [warmed(tpp_client(a if index % 2 == 0 else b, pki)) for index in range(50)]
    responses = simultaneously([lambda client=client: flow.exchange(code, client=client) for client in clients])
    assert [response.status_code for response in responses].count(200) == 1, error_codes(responses)
    assert error_codes(responses) == [(400, "invalid_grant")] * 49


def test_one_request_uri_used_at_both_instances_proceeds_once(pair, pki):
    a, b = pair
    flow = Flow(a, pki)
    request_uri = flow.par()

    # One sign-in per instance; every browser of that instance carries the session cookie, so each goes
    # straight to consent and the race is on the request_uri alone.
    signed_in = {}
    for daemon in (a, b):
        browser = new_browser(daemon)
        page = browser.get(daemon.base + "/authorize", params={"client_id": flow.client_id, "request_uri": flow.par()}, timeout=10)
        assert page.status_code == 200 and "Sign in" in page.text, page.text
        login = browser.post(daemon.base + "/authorize/login", data={"interaction": Flow.hidden(page.text, "interaction"),
                                                                     "csrf": Flow.hidden(page.text, "csrf"), "username": "alice",
                                                                     "password": PASSWORD}, timeout=30)
        assert login.status_code == 200 and "Approve" in login.text, login.text
        signed_in[daemon.port] = browser.cookies

    threads = 16
    barrier = threading.Barrier(threads)

    def attempt(daemon):
        browser = new_browser(daemon)
        browser.cookies.update(signed_in[daemon.port])
        page = browser.get(daemon.base + "/authorize", params={"client_id": flow.client_id, "request_uri": request_uri}, timeout=10)
        barrier.wait(timeout=60)
        if page.status_code != 200:
            return page
        assert "Approve" in page.text and "Sign in" not in page.text, page.text
        return browser.post(daemon.base + "/authorize/consent", data={"interaction": Flow.hidden(page.text, "interaction"),
                                                                      "csrf": Flow.hidden(page.text, "csrf"), "decision": "approve"},
                            allow_redirects=False, timeout=10)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = list(pool.map(attempt, [a if index % 2 == 0 else b for index in range(threads)]))
    proceeded = [outcome for outcome in outcomes if outcome.status_code == 303]
    refused = [outcome for outcome in outcomes if outcome.status_code != 303]
    assert len(proceeded) == 1, [(outcome.status_code, outcome.text[:200]) for outcome in outcomes]
    assert all(outcome.status_code == 400 and "cannot go on" in outcome.text for outcome in refused), \
        [(outcome.status_code, outcome.text[:200]) for outcome in refused]
    fragment = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(proceeded[0].headers["Location"]).fragment))
    assert fragment["state"] == flow.state and fragment["iss"] == a.issuer
    assert flow.exchange(fragment["code"], client=tpp_client(b, pki)).status_code == 200


def test_browser_moving_between_instances_completes_and_its_consent_form_works_once(pair, pki):
    """A load balancer without sticky sessions: each browser request may reach the other instance."""
    a, b = pair
    flow = Flow(a, pki)
    browser = new_browser(a)
    page = browser.get(a.base + "/authorize", params={"client_id": flow.client_id, "request_uri": flow.par()}, timeout=10)
    assert page.status_code == 200 and "Sign in" in page.text, page.text
    # Sign-in at B, for the interaction A started.
    login = browser.post(b.base + "/authorize/login", data={"interaction": Flow.hidden(page.text, "interaction"),
                                                            "csrf": Flow.hidden(page.text, "csrf"), "username": "alice",
                                                            "password": PASSWORD}, timeout=30)
    assert login.status_code == 200 and "Approve" in login.text, login.text
    form = {"interaction": Flow.hidden(login.text, "interaction"), "csrf": Flow.hidden(login.text, "csrf"), "decision": "approve"}
    # The same consent form sent to both instances at once: one proceeds, the other finds it used.
    outcomes = simultaneously([
        lambda daemon=daemon: browser.post(daemon.base + "/authorize/consent", data=form, allow_redirects=False, timeout=10)
        for daemon in (a, b, a, b)])
    assert sorted(outcome.status_code for outcome in outcomes) == [303, 400, 400, 400], [o.text[:200] for o in outcomes]
    location = next(outcome.headers["Location"] for outcome in outcomes if outcome.status_code == 303)
    fragment = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).fragment))
    assert flow.exchange(fragment["code"], client=tpp_client(b, pki)).status_code == 200

    # The session cookie set by B signs the PSU in at A too: the next request goes straight to consent.
    page = browser.get(a.base + "/authorize", params={"client_id": flow.client_id, "request_uri": flow.par()}, timeout=10)
    assert page.status_code == 200 and "Approve" in page.text and "Sign in" not in page.text, page.text


def test_one_client_assertion_sent_to_both_instances_gets_one_token(pair, pki):
    a, b = pair
    key = fresh_key("ES256")
    client_id = register(a, {"token_endpoint_auth_method": "private_key_jwt", "scope": "accounts",
                             "jwks": {"keys": [key.as_dict(private=False)]}})
    token = assertion(key, "ES256", client_id, a.issuer, jti="race-" + str(uuid.uuid4()))
    clients = [warmed(tpp_client(a if index % 2 == 0 else b, pki)) for index in range(20)]
    responses = simultaneously([lambda client=client: client.token(client_assertion_type=JWT_BEARER, client_assertion=token)
                                for client in clients])
    assert [response.status_code for response in responses].count(200) == 1, error_codes(responses)
    assert error_codes(responses) == [(401, "invalid_client")] * 19


# --- CIBA ----------------------------------------------------------------------------------------

def ciba_poll(client, ciba, auth_req_id):
    return client.post("/token", {"grant_type": CIBA_GRANT, "client_id": ciba.client_id, "auth_req_id": auth_req_id})


def test_ciba_decided_through_one_instance_is_redeemed_at_the_other_once(pair, pki):
    a, b = pair
    ciba = CIBAClient(a, pki)
    ack = ciba.authorize(ciba.signed(binding_message="Across instances")).json()
    a.fapictl("ciba", "approve", pending_id(a, "Across instances"))
    tokens = ciba_poll(tpp_client(b, pki), ciba, ack["auth_req_id"])
    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["id_token"], KeySet.import_key_set(b.get("/jwks").json()), algorithms=["PS256"]).claims
    assert claims["urn:openid:params:jwt:claim:auth_req_id"] == ack["auth_req_id"] and claims["iss"] == a.issuer
    assert tpp_client(a, pki).post("/introspect", {"token": tokens.json()["access_token"]}).json()["active"] is True
    again = ciba_poll(tpp_client(a, pki), ciba, ack["auth_req_id"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    # Approved, then polled by both instances at once: one gets the tokens.
    ack = ciba.authorize(ciba.signed(binding_message="Raced poll")).json()
    a.fapictl("ciba", "approve", pending_id(a, "Raced poll"))
    clients = [warmed(tpp_client(a if index % 2 == 0 else b, pki)) for index in range(12)]
    responses = simultaneously([lambda client=client: ciba_poll(client, ciba, ack["auth_req_id"]) for client in clients])
    assert [response.status_code for response in responses].count(200) == 1, error_codes(responses)
    assert error_codes(responses) == [(400, "invalid_grant")] * 11


class Notifications(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Notifications.received.append((self.headers.get("Authorization"), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_ciba_ping_is_sent_once_by_two_instances(pair, pki):
    a, b = pair
    Notifications.received = []
    server = https_server(Notifications, pki / "server.pem", pki / "server.key")
    try:
        ciba = CIBAClient(a, pki, mode="ping", endpoint=f"https://localhost:{server.server_address[1]}/cb")
        notification_token = "notify-" + uuid.uuid4().hex
        ack = ciba.authorize(ciba.signed(client_notification_token=notification_token, binding_message="Ping once")).json()
        a.fapictl("ciba", "approve", pending_id(a, "Ping once"))
        deadline = time.time() + 10
        while time.time() < deadline and not Notifications.received:
            time.sleep(0.1)
        assert Notifications.received, "no ping arrived"
        time.sleep(4)  # both notifiers run every 250 ms: a second ping would have come by now
        assert Notifications.received == [("Bearer " + notification_token, {"auth_req_id": ack["auth_req_id"]})]
        assert ciba_poll(tpp_client(b, pki), ciba, ack["auth_req_id"]).status_code == 200
    finally:
        server.shutdown()


# --- tokens across instances ----------------------------------------------------------------------

def test_token_of_one_instance_is_live_and_revocable_at_the_other(pair, pki):
    a, b = pair
    client_id = mtls_client(a)
    token = tpp_client(a, pki).token(client_id, scope="accounts").json()["access_token"]
    info = tpp_client(b, pki).post("/introspect", {"token": token}).json()
    assert info["active"] is True and info["client_id"] == client_id and info["iss"] == a.issuer
    assert info["cnf"]["x5t#S256"] == thumbprint(pki / "tpp.pem")
    assert tpp_client(b, pki).post("/revoke", {"client_id": client_id, "token": token, "token_type_hint": "access_token"}).status_code == 200
    assert tpp_client(a, pki).post("/introspect", {"token": token}).json() == {"active": False}


def test_key_rotation_reaches_both_instances(shared, private_pki):
    a, b = shared.instances(config={"key_refresh_seconds": 1}, keys=private_pki)
    a.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    before = kids(a)
    assert kids(b) == before
    rotated = a.fapictl("keys", "rotate", "--now", "--alg", "PS256").stdout.split()
    assert rotated[0] == "PS256"
    new_kid = rotated[1]
    assert new_kid not in before
    deadline = time.time() + 1 + 2  # key_refresh_seconds + 2
    while time.time() < deadline and not all(new_kid in kids(daemon) for daemon in (a, b)):
        time.sleep(0.1)
    assert new_kid in kids(a) and new_kid in kids(b), (kids(a), kids(b))
    # The retired key stays published for tokens it signed.
    assert before <= kids(a) and before <= kids(b)

    client_id = mtls_client(a, access_token_format="jwt", access_token_signing_alg="PS256")
    keys = KeySet.import_key_set(a.get("/jwks").json())
    for daemon in (b, a):
        token = tpp_client(daemon, private_pki).token(client_id).json()["access_token"]
        decoded = jwt.decode(token, keys, algorithms=["PS256"])
        assert decoded.header["kid"] == new_kid and decoded.claims["iss"] == a.issuer
    fragment = Flow(b, private_pki).run_to_fragment()
    front = jwt.decode(fragment["id_token"], keys, algorithms=["PS256"])
    assert front.header["kid"] == new_kid


def test_staged_rotation_switches_both_instances_at_the_same_second_and_is_audited_once(shared, private_pki):
    """Two instances on one database follow one schedule: from the activation second on, tokens of both carry the new
    kid and none before it; each transition is one audit event, whichever instance noticed it first."""
    from test_keys_rotation import ENV, PUBLISH_AHEAD, CachingVerifier, access_tokens, audit_rows, check_switch_by_iat, jwt_client, \
        keys_list, running, wait_for
    env = {"FAPID_STORAGE": "postgres", "FAPID_DATABASE_URL": shared.database(), **ENV}
    a = shared.make_daemon(env=env, keys=private_pki)
    b = shared.make_daemon(env={**env, "FAPID_ISSUER": a.issuer}, keys=private_pki)
    b.issuer = a.issuer
    shared.daemons += [a, b]
    a.start()
    b.start()
    old = {entry["alg"]: kid for kid, entry in keys_list(a).items() if entry["state"] == "active"}
    _, client_id = jwt_client(a, "ES256")
    verifiers = [CachingVerifier(daemon, access_tokens({"ES256": (TokenClient(daemon, (private_pki / "tpp.pem", private_pki / "tpp.key")),
                                                                   client_id, daemon.port)})) for daemon in (a, b)]
    with running(verifiers):
        new_kid = a.fapictl("keys", "rotate", "--alg", "ES256").stdout.split()[1]
        activates_at = keys_list(b)[new_kid]["activates_at"]
        wait_for(lambda: all(new_kid in verifier.used_at for verifier in verifiers), PUBLISH_AHEAD + 10, "both instances signing with the new key")
        time.sleep(1)
    for verifier in verifiers:
        check_switch_by_iat(verifier.tokens, old, {"ES256": new_kid}, {"ES256": activates_at})
        assert {kid for _, kid, _, _ in verifier.tokens} == {old["ES256"], new_kid}
    time.sleep(1.5)  # both instances refreshed after the switch
    for kind, kid in (("key.staged", new_kid), ("key.activated", new_kid), ("key.retiring", old["ES256"])):
        assert len([row for row in audit_rows(a, kind) if kid in row["reason"]]) == 1, kind


def test_sealed_keys_rotate_across_instances_without_a_shared_key_directory(shared, pki, tmp_path):
    """Hosts with key directories of their own and one key encryption key: a rotated key lives sealed in the
    database, is published and used by both, and no instance without that key can load it."""
    kek = tmp_path / "kek.hex"
    kek.write_text(os.urandom(32).hex() + "\n")
    kek.chmod(0o600)
    directories = []
    for name in ("a", "b"):
        directory = tmp_path / f"keys-{name}"
        shutil.copytree(pki, directory)
        directories.append(directory)
    env = {"FAPID_STORAGE": "postgres", "FAPID_DATABASE_URL": shared.database(), "FAPID_KEY_ENCRYPTION_KEY_FILE": str(kek)}
    a = shared.make_daemon(config={"key_refresh_seconds": 1}, env=env, keys=directories[0])
    b = shared.make_daemon(config={"key_refresh_seconds": 1}, env={**env, "FAPID_ISSUER": a.issuer}, keys=directories[1])
    b.issuer = a.issuer
    shared.daemons += [a, b]
    a.start()
    b.start()

    rotated = a.fapictl("keys", "rotate", "--now", "--alg", "ES256").stdout.split()
    new_kid = rotated[1]
    for directory in directories:
        assert not list(directory.rglob(f"*{new_kid}*")), "a sealed key must not be written to a key directory"
    stored = subprocess.run(["psql", env["FAPID_DATABASE_URL"], "-qAtc",
                             f"SELECT key_file, length(sealed_key) FROM signing_keys WHERE kid = '{new_kid}'"],
                            capture_output=True, text=True, check=True).stdout.strip()
    key_file, length = stored.split("|")
    assert key_file == "database" and int(length) > 100
    deadline = time.time() + 3
    while time.time() < deadline and new_kid not in kids(b):
        time.sleep(0.1)
    assert new_kid in kids(a) and new_kid in kids(b)
    client_id = mtls_client(a, access_token_format="jwt", access_token_signing_alg="ES256")
    keys = KeySet.import_key_set(b.get("/jwks").json())
    token = tpp_client(b, pki).token(client_id).json()["access_token"]
    assert jwt.decode(token, keys, algorithms=["ES256"]).header["kid"] == new_kid

    # Without the key encryption key an instance refuses to start rather than run without its signing key.
    c = shared.make_daemon(env={**{k: v for k, v in env.items() if k != "FAPID_KEY_ENCRYPTION_KEY_FILE"}, "FAPID_ISSUER": a.issuer},
                           keys=directories[1])
    code, log = c.run_to_exit()
    assert code != 0 and "key_encryption_key_file" in log, log


def test_sigkill_of_one_instance_under_load_loses_no_issued_token(pair, pki):
    a, b = pair
    client_id = mtls_client(a)
    issued, lock, stop = {a.port: [], b.port: []}, threading.Lock(), threading.Event()

    def load(daemon):
        client = tpp_client(daemon, pki)
        while not stop.is_set():
            try:
                response = client.token(client_id, scope="accounts")
            except requests.RequestException:
                return
            if response.status_code == 200:
                with lock:
                    issued[daemon.port].append(response.json()["access_token"])

    threads = [threading.Thread(target=load, args=(daemon,)) for daemon in (a, b) * 4]
    for thread in threads:
        thread.start()
    time.sleep(1)
    # Verifying the chain while both instances append to it finds it whole.
    live = a.fapictl("audit", "verify", check=False)
    assert live.returncode == 0, live.stderr
    time.sleep(1)
    b.process.send_signal(signal.SIGKILL)
    b.process.wait()
    time.sleep(0.5)  # A goes on serving
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(issued[a.port]) > 10 and len(issued[b.port]) > 10, {port: len(tokens) for port, tokens in issued.items()}

    assert a.get("/healthz").status_code == 200
    introspector = tpp_client(a, pki)
    inactive = [token for tokens in issued.values() for token in tokens
                if not introspector.post("/introspect", {"token": token}).json()["active"]]
    assert inactive == []
    result = a.fapictl("audit", "verify", check=False)
    assert result.returncode == 0, result.stderr


# --- the database going away ----------------------------------------------------------------------

def test_unreachable_database_fails_fast_and_recovers(postgres_admin_url, make_daemon, pki, tmp_path):
    """With PostgreSQL down, requests fail within database_timeout_seconds (server_error, /healthz 503)
    instead of hanging, and the instance serves again as soon as the database is back."""
    cluster = Path(__file__).resolve().parents[1] / "postgres" / "cluster.sh"
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="fapid-pg-outage-"))
    data.chmod(0o755)
    try:
        admin = subprocess.run([str(cluster), "start", str(data / "data"), str(port)], capture_output=True, text=True, check=True).stdout.strip()
        subprocess.run(["psql", admin, "-qc", "CREATE DATABASE outage"], check=True, capture_output=True)
        url = urllib.parse.urlsplit(admin)._replace(path="/outage").geturl()
        daemon = make_daemon(config={"database_timeout_seconds": 2}, env={"FAPID_STORAGE": "postgres", "FAPID_DATABASE_URL": url}).start()
        client_id = mtls_client(daemon)
        assert tpp_client(daemon, pki).token(client_id).status_code == 200

        subprocess.run([str(cluster), "stop", str(data / "data")], check=True)
        started = time.monotonic()
        health = daemon.get("/healthz")
        assert health.status_code == 503 and health.json()["database"] == "not answering"
        token = tpp_client(daemon, pki).token(client_id)
        assert token.status_code == 500 and token.json()["error"] == "server_error"
        assert time.monotonic() - started < 10

        subprocess.run([str(cluster), "start", str(data / "data"), str(port)], check=True, capture_output=True)
        deadline = time.time() + 15
        while time.time() < deadline and daemon.get("/healthz").status_code != 200:
            time.sleep(0.2)
        assert daemon.get("/healthz").status_code == 200
        assert tpp_client(daemon, pki).token(client_id).status_code == 200

        # A server that goes silent (no reset: frozen, or a network partition) is given up on just the same.
        postmaster = int((data / "data" / "postmaster.pid").read_text().split()[0])
        frozen = [postmaster] + [int(pid) for pid in subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()]
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            assert tpp_client(daemon, pki).token(client_id).status_code == 500
            assert daemon.get("/healthz").status_code == 503
            assert time.monotonic() - started < 10
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        deadline = time.time() + 15
        while time.time() < deadline and daemon.get("/healthz").status_code != 200:
            time.sleep(0.2)
        assert tpp_client(daemon, pki).token(client_id).status_code == 200
    finally:
        subprocess.run([str(cluster), "stop", str(data / "data")], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
