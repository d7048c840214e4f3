"""Pushed authorization requests (RFC 9126) with signed request objects (RFC 9101) under the FAPI rules,
and PSU accounts from `fapictl users`. Request objects are built with joserfc."""
import base64
import hashlib
import json
import secrets
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tpp import TokenClient, register

REDIRECT = "https://tpp.example.com/callback"
TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@pytest.fixture
def client_key():
    return ECKey.generate_key("P-256")


@pytest.fixture
def par_client(daemon, client_key):
    client_id = register(daemon, {
        "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
        "redirect_uris": [REDIRECT, REDIRECT + "?x=1"], "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code id_token"], "scope": "openid accounts", "jwks": {"keys": [client_key.as_dict(private=False)]},
    })
    return client_id


def request_object(daemon, client_id, key, alg="ES256", drop=(), **overrides):
    now = int(time.time())
    _, challenge = pkce()
    claims = {"iss": client_id, "aud": daemon.issuer, "exp": now + 300, "nbf": now, "iat": now, "jti": str(uuid.uuid4()),
              "client_id": client_id, "response_type": "code id_token", "redirect_uri": REDIRECT, "scope": "openid accounts",
              "state": "s-" + uuid.uuid4().hex, "nonce": "n-" + uuid.uuid4().hex, "code_challenge": challenge, "code_challenge_method": "S256"}
    claims.update(overrides)
    for name in drop:
        claims.pop(name, None)
    return jwt.encode({"alg": alg}, claims, key, algorithms=[alg])


def push(daemon, pki, client_id, request=None, cert=True, **extra):
    client = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key") if cert else None)
    data = {"client_id": client_id}
    if request is not None:
        data["request"] = request
    data.update(extra)
    return client.post("/par", data)


def error(response, code, status=400):
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


def test_par_returns_a_short_lived_request_uri(daemon, pki, par_client, client_key):
    response = push(daemon, pki, par_client, request_object(daemon, par_client, client_key))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert len(body["request_uri"]) - len("urn:ietf:params:oauth:request_uri:") >= 43
    assert 5 <= body["expires_in"] <= 90
    assert response.headers["Cache-Control"] == "no-store"
    assert TokenClient(daemon, None).session.get(daemon.base + "/par", timeout=10).status_code in (404, 405)


def test_par_request_object_rules(daemon, pki, par_client, client_key):
    now = int(time.time())
    error(push(daemon, pki, par_client, "eyJhbGciOiJub25lIn0." + base64.urlsafe_b64encode(json.dumps(
        {"iss": par_client, "aud": daemon.issuer, "exp": now + 60}).encode()).rstrip(b"=").decode() + "."), "invalid_request_object")
    error(push(daemon, pki, par_client, request_object(daemon, par_client, ECKey.generate_key("P-256"))), "invalid_request_object")
    error(push(daemon, pki, par_client, request_object(daemon, par_client, client_key, drop=("exp",))), "invalid_request_object")
    error(push(daemon, pki, par_client, request_object(daemon, par_client, client_key, drop=("nbf",))), "invalid_request_object")
    error(push(daemon, pki, par_client, request_object(daemon, par_client, client_key, nbf=now - 10, exp=now + 3700)), "invalid_request_object")
    error(push(daemon, pki, par_client, request_object(daemon, par_client, client_key, nbf=now - 3700, exp=now + 60)), "invalid_request_object")
    error(push(daemon, pki, par_client, request_object(daemon, par_client, client_key, aud="https://other.example")), "invalid_request_object")
    error(push(daemon, pki, par_client, request_object(daemon, par_client, client_key, iss="someone-else")), "invalid_request_object")
    rsa = RSAKey.generate_key(2048)
    error(push(daemon, pki, par_client, request_object(daemon, par_client, rsa, alg="RS256")), "invalid_request_object")
    replayed = request_object(daemon, par_client, client_key)
    assert push(daemon, pki, par_client, replayed).status_code == 201
    error(push(daemon, pki, par_client, replayed), "invalid_request_object")


def test_par_authorization_parameter_rules(daemon, pki, par_client, client_key):
    def ro(**kwargs):
        return request_object(daemon, par_client, client_key, **kwargs)

    error(push(daemon, pki, par_client), "invalid_request")
    error(push(daemon, pki, par_client, ro(), request_uri="urn:ietf:params:oauth:request_uri:x"), "invalid_request")
    error(push(daemon, pki, par_client, ro(drop=("code_challenge", "code_challenge_method"))), "invalid_request")
    error(push(daemon, pki, par_client, ro(code_challenge_method="plain")), "invalid_request")
    error(push(daemon, pki, par_client, ro(redirect_uri="https://tpp.example.com/other")), "invalid_request")
    error(push(daemon, pki, par_client, ro(redirect_uri=REDIRECT + "/")), "invalid_request")
    error(push(daemon, pki, par_client, ro(drop=("nonce",))), "invalid_request")
    error(push(daemon, pki, par_client, ro(response_type="token")), "invalid_request")
    error(push(daemon, pki, par_client, ro(scope="openid payments")), "invalid_scope")
    assert push(daemon, pki, par_client, ro(redirect_uri=REDIRECT + "?x=1")).status_code == 201
    error(push(daemon, pki, par_client, ro(), cert=False), "invalid_client", 401)


def test_discovery_lists_par(daemon):
    metadata = daemon.get("/.well-known/openid-configuration").json()
    assert metadata["pushed_authorization_request_endpoint"] == daemon.issuer + "/par"
    assert metadata["require_pushed_authorization_requests"] is False
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert set(metadata["request_object_signing_alg_values_supported"]) == {"PS256", "ES256"}


def test_fapictl_users(make_daemon):
    daemon = make_daemon()
    assert daemon.fapictl("users", "add", "alice", input_text="correct horse battery staple\n").returncode == 0
    duplicate = daemon.fapictl("users", "add", "alice", check=False, input_text="another password\n")
    assert duplicate.returncode != 0 and "exists" in duplicate.stderr
    assert daemon.fapictl("users", "add", "bad name", check=False, input_text="whatever123\n").returncode != 0
    assert daemon.fapictl("users", "add", "bob", check=False, input_text="short\n").returncode != 0
    users = json.loads(daemon.fapictl("users", "list", "--json").stdout)
    assert [u["username"] for u in users] == ["alice"]
    import sqlite3
    with sqlite3.connect(daemon.workdir / "fapid.sqlite") as db:
        stored = db.execute("SELECT password_hash FROM users WHERE username = 'alice'").fetchone()[0]
    assert stored.startswith("scrypt$") and "correct horse" not in stored
