"""CIBA (poll and ping) with FAPI-CIBA signed requests built by joserfc, decided by bank staff through
`fapictl ciba` (scripted, and the interactive prompt driven through a real terminal with pexpect)."""
import http.server
import json
import os
import time
import uuid

import pexpect
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from conftest import BIN, https_server
from tpp import TokenClient, register, thumbprint

TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"


class CIBAClient:
    def __init__(self, daemon, pki, mode="poll", endpoint=None):
        self.daemon = daemon
        self.key = ECKey.generate_key("P-256")
        metadata = {"client_name": "Call Centre Payments", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
                    "grant_types": [CIBA_GRANT], "scope": "openid accounts payments", "backchannel_token_delivery_mode": mode,
                    "jwks": {"keys": [self.key.as_dict(private=False)]}}
        if endpoint:
            metadata["backchannel_client_notification_endpoint"] = endpoint
        self.client_id = register(daemon, metadata)
        self.tpp = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))

    def signed(self, drop=(), **claims):
        now = int(time.time())
        body = {"iss": self.client_id, "aud": self.daemon.issuer, "exp": now + 300, "iat": now, "nbf": now, "jti": str(uuid.uuid4()),
                "scope": "openid accounts", "login_hint": "alice", "binding_message": "Order 1234"}
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        return jwt.encode({"alg": "ES256"}, body, self.key, algorithms=["ES256"])

    def authorize(self, request=None, **form):
        data = {"client_id": self.client_id}
        if request is not None:
            data["request"] = request
        data.update(form)
        return self.tpp.post("/bc-authorize", data)

    def poll(self, auth_req_id):
        return self.tpp.post("/token", {"grant_type": CIBA_GRANT, "client_id": self.client_id, "auth_req_id": auth_req_id})


def pending_id(daemon, binding="Order 1234"):
    rows = json.loads(daemon.fapictl("ciba", "list", "--json").stdout)
    return next(row["id"] for row in rows if row["binding_message"] == binding)


@pytest.fixture
def ciba(daemon, pki):
    daemon.fapictl("users", "add", "alice", input_text="correct horse battery staple\n")
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    return CIBAClient(daemon, pki)


def error(response, code, status=400):
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


def test_poll_pending_slow_down_approve_and_tokens(ciba, daemon, pki):
    response = ciba.authorize(ciba.signed())
    assert response.status_code == 200, response.text
    ack = response.json()
    assert len(ack["auth_req_id"]) >= 43 and ack["expires_in"] == 300 and ack["interval"] == 5
    error(ciba.poll(ack["auth_req_id"]), "authorization_pending")
    error(ciba.poll(ack["auth_req_id"]), "slow_down")

    listed = json.loads(daemon.fapictl("ciba", "list", "--json").stdout)
    entry = next(row for row in listed if row["binding_message"] == "Order 1234")
    assert entry["client_name"] == "Call Centre Payments" and entry["user"] == "alice" and ack["auth_req_id"] not in json.dumps(listed)
    daemon.fapictl("ciba", "approve", entry["id"])

    tokens = ciba.poll(ack["auth_req_id"])
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["Cache-Control"] == "no-store"
    body = tokens.json()
    keys = KeySet.import_key_set(daemon.get("/jwks").json())
    claims = jwt.decode(body["id_token"], keys, algorithms=["PS256"]).claims
    assert claims["urn:openid:params:jwt:claim:auth_req_id"] == ack["auth_req_id"] and claims["sub"] == "alice"
    assert "c_hash" not in claims and "s_hash" not in claims and "refresh_token" in body
    info = ciba.tpp.post("/introspect", {"token": body["access_token"]}).json()
    assert info["active"] and info["cnf"]["x5t#S256"] == thumbprint(pki / "tpp.pem")
    error(ciba.poll(ack["auth_req_id"]), "invalid_grant")

    # The request and the staff decision are in the audit log; the auth_req_id is not.
    export = daemon.fapictl("audit", "export").stdout
    rows = [json.loads(line) for line in export.splitlines()]
    requested = next(row for row in rows if row["type"] == "ciba.requested")
    decided = next(row for row in rows if row["type"] == "ciba.decided")
    assert requested["user"] == "alice" and requested["client_id"] == decided["client_id"]
    assert decided["user"] and entry["id"] in decided["reason"] and "approved" in decided["reason"] and decided["outcome"] == "success"
    assert ack["auth_req_id"] not in export and body["access_token"] not in export


def test_deny_expiry_and_other_clients(ciba, daemon, pki):
    denied = ciba.authorize(ciba.signed(binding_message="Deny me")).json()
    daemon.fapictl("ciba", "deny", pending_id(daemon, "Deny me"))
    error(ciba.poll(denied["auth_req_id"]), "access_denied")

    short = ciba.authorize(ciba.signed(binding_message="Quick", requested_expiry="1")).json()
    assert short["expires_in"] == 1
    time.sleep(2.2)
    error(ciba.poll(short["auth_req_id"]), "expired_token")

    other = CIBAClient(daemon, pki)
    mine = ciba.authorize(ciba.signed(binding_message="Mine")).json()
    error(other.poll(mine["auth_req_id"]), "invalid_grant")
    error(ciba.poll("unknown-auth-req-id"), "invalid_grant")


def test_configured_lifetimes(make_daemon, pki):
    """ciba_request_lifetime_seconds, ciba_request_max_lifetime_seconds, ciba_poll_interval_seconds and
    id_token_lifetime_seconds reach the acknowledgement (CIBA Core §7.3) and the ID token."""
    daemon = make_daemon(env={
        "FAPID_CIBA_REQUEST_LIFETIME_SECONDS": "120", "FAPID_CIBA_REQUEST_MAX_LIFETIME_SECONDS": "240",
        "FAPID_CIBA_POLL_INTERVAL_SECONDS": "7", "FAPID_ID_TOKEN_LIFETIME_SECONDS": "90",
    }).start()
    daemon.fapictl("users", "add", "alice", input_text="correct horse battery staple\n")
    client = CIBAClient(daemon, pki)
    ack = client.authorize(client.signed()).json()
    assert ack["expires_in"] == 120 and ack["interval"] == 7, ack
    long = client.authorize(client.signed(binding_message="Long", requested_expiry="1000")).json()
    assert long["expires_in"] == 240, long
    daemon.fapictl("ciba", "approve", pending_id(daemon))
    tokens = client.poll(ack["auth_req_id"])
    assert tokens.status_code == 200, tokens.text
    keys = KeySet.import_key_set(daemon.get("/jwks").json())
    claims = jwt.decode(tokens.json()["id_token"], keys, algorithms=["PS256"]).claims
    assert claims["exp"] - claims["iat"] == 90, claims


def test_request_rules(ciba):
    error(ciba.authorize(ciba.signed(login_hint="nobody")), "unknown_user_id")
    error(ciba.authorize(scope="openid", login_hint="alice", binding_message="x"), "invalid_request")
    error(ciba.authorize(ciba.signed(exp=int(time.time()) - 60)), "invalid_request")
    error(ciba.authorize(ciba.signed(drop=("nbf",))), "invalid_request")
    error(ciba.authorize(ciba.signed(exp=int(time.time()) + 7200)), "invalid_request")
    error(ciba.authorize(ciba.signed(id_token_hint="x.y.z")), "invalid_request")
    error(ciba.authorize(ciba.signed(drop=("binding_message",))), "invalid_binding_message")
    error(ciba.authorize(ciba.signed(binding_message="x" * 80)), "invalid_binding_message")
    error(ciba.authorize(ciba.signed(scope="accounts")), "invalid_scope")
    replayed = ciba.signed()
    assert ciba.authorize(replayed).status_code == 200
    error(ciba.authorize(replayed), "invalid_request")
    error(TokenClient(ciba.daemon, None).post("/bc-authorize", {"client_id": ciba.client_id, "request": ciba.signed()}), "invalid_client", 401)


class Listener(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Listener.received.append((self.headers.get("Authorization"), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_ping_mode(daemon, pki):
    daemon.fapictl("users", "add", "alice", input_text="correct horse battery staple\n")
    server = https_server(Listener, pki / "server.pem", pki / "server.key")
    try:
        client = CIBAClient(daemon, pki, mode="ping", endpoint=f"https://localhost:{server.server_address[1]}/cb")
        error(client.authorize(client.signed()), "invalid_request")  # no client_notification_token
        ack = client.authorize(client.signed(client_notification_token="notify-" + uuid.uuid4().hex, binding_message="Ping me")).json()
        daemon.fapictl("ciba", "approve", pending_id(daemon, "Ping me"))
        deadline = time.time() + 10
        while time.time() < deadline and not Listener.received:
            time.sleep(0.1)
        assert Listener.received, "no ping arrived"
        authorization, body = Listener.received[0]
        assert authorization.startswith("Bearer notify-") and body == {"auth_req_id": ack["auth_req_id"]}
        assert client.poll(ack["auth_req_id"]).status_code == 200
    finally:
        server.shutdown()


def test_interactive_prompt_in_a_terminal(ciba, daemon):
    ack = ciba.authorize(ciba.signed(binding_message="Pay 42.00 GBP to ACME", scope="openid payments")).json()
    env = dict(daemon.env, USER="staff-anna")
    child = pexpect.spawn(str(BIN / "fapictl"), ["ciba", "--seconds", "20"], env=env, encoding="utf-8", timeout=15)
    try:
        child.expect("Pay 42.00 GBP to ACME")
        child.expect(r"Approve\? \[y/N\]")
        child.sendline("y")
        child.expect("Type yes to confirm")
        child.sendline("yes")
        child.expect("Approved.")
    finally:
        child.terminate(force=True)
    tokens = ciba.poll(ack["auth_req_id"])
    assert tokens.status_code == 200 and tokens.json()["scope"] == "openid payments"
    import sqlite3
    with sqlite3.connect(daemon.workdir / "fapid.sqlite") as db:
        # Issue 16 item 16: the approver is the admin socket peer's account (SO_PEERCRED), not $USER.
        import pwd
        decided_by = db.execute("SELECT decided_by FROM ciba_requests WHERE binding_message = 'Pay 42.00 GBP to ACME'").fetchone()[0]
        assert decided_by == pwd.getpwuid(os.geteuid()).pw_name != "staff-anna"


def test_a_restart_loses_nothing(ciba, daemon):
    ack = ciba.authorize(ciba.signed(binding_message="Across a restart")).json()
    assert daemon.stop() == 0
    daemon.start()
    daemon.fapictl("ciba", "approve", pending_id(daemon, "Across a restart"))
    assert ciba.poll(ack["auth_req_id"]).status_code == 200


def test_push_mode_for_a_non_fapi_client(daemon, pki):
    daemon.fapictl("users", "add", "alice", input_text="correct horse battery staple\n")
    Listener.received = []
    server = https_server(Listener, pki / "server.pem", pki / "server.key")
    try:
        endpoint = f"https://localhost:{server.server_address[1]}/cb"
        client_id = register(daemon, {"fapi": False, "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
                                      "grant_types": [CIBA_GRANT], "scope": "openid accounts", "backchannel_token_delivery_mode": "push",
                                      "backchannel_client_notification_endpoint": endpoint})
        # FAPI clients cannot register for push at all.
        refused = daemon.fapictl("clients", "add", check=False, input_text=json.dumps({
            "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN, "grant_types": [CIBA_GRANT],
            "backchannel_token_delivery_mode": "push", "backchannel_client_notification_endpoint": endpoint}))
        assert refused.returncode != 0 and "push" in refused.stderr
        tpp = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
        ack = tpp.post("/bc-authorize", {"client_id": client_id, "scope": "openid accounts", "login_hint": "alice",
                                         "binding_message": "Push me", "client_notification_token": "push-token"}).json()
        assert "interval" not in ack
        daemon.fapictl("ciba", "approve", pending_id(daemon, "Push me"))
        deadline = time.time() + 10
        while time.time() < deadline and not Listener.received:
            time.sleep(0.1)
        authorization, body = Listener.received[0]
        assert authorization == "Bearer push-token" and body["auth_req_id"] == ack["auth_req_id"]
        claims = jwt.decode(body["id_token"], KeySet.import_key_set(daemon.get("/jwks").json()), algorithms=["PS256"]).claims
        assert claims["urn:openid:params:jwt:claim:auth_req_id"] == ack["auth_req_id"]
        assert "urn:openid:params:jwt:claim:rt_hash" in claims and "at_hash" in claims
        # Delivered by push: the auth_req_id cannot be redeemed again.
        poll = tpp.post("/token", {"grant_type": CIBA_GRANT, "client_id": client_id, "auth_req_id": ack["auth_req_id"]})
        assert poll.status_code == 400 and poll.json()["error"] == "invalid_grant"
    finally:
        server.shutdown()


def test_admin_socket_is_private_and_required(ciba, daemon):
    socket_path = daemon.workdir / "fapid.sock"
    assert socket_path.exists() and socket_path.stat().st_mode & 0o777 == 0o600
    assert daemon.stop() == 0
    assert not socket_path.exists()
    result = daemon.fapictl("ciba", "list", check=False)
    assert result.returncode != 0 and "is fapid running" in result.stderr
