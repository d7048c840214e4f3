"""DPoP (RFC 9449) end to end over real HTTPS, with an independent client: joserfc makes the proofs (ES256 and
PS256 keys), requests sends them, and the JWK thumbprints (RFC 7638) and ath values are computed here.
Covers the token endpoint (client_credentials, authorization_code with PAR binding, refresh with a new key),
the FAPI 2 sender-constraint rule, dpop_bound_access_tokens, introspection (cnf.jkt), server nonces, jti replay
(also across two instances on one PostgreSQL database), and the conformance suite's proof negatives at userinfo."""
import base64
import hashlib
import http.client
import json
import ssl
import time
import urllib.parse
import uuid

import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey, RSAKey

from test_hybrid_flow import PASSWORD, REDIRECT, Flow
from test_scale_out import postgres_admin_url, shared  # noqa: F401  (fixtures)
from tpp import JWT_BEARER, TokenClient, assertion, fresh_key, register

TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ath(token: str) -> str:
    return b64(hashlib.sha256(token.encode()).digest())


class DPoPKey:
    """A client's DPoP key and the proofs it signs (RFC 9449 §4.2)."""

    def __init__(self, alg="ES256"):
        self.alg = alg
        self.key = ECKey.generate_key("P-256") if alg == "ES256" else RSAKey.generate_key(2048)
        self.public = self.key.as_dict(private=False)

    @property
    def thumbprint(self) -> str:
        """RFC 7638 §3: SHA-256 over the required members in lexicographic order, without whitespace."""
        required = ["crv", "kty", "x", "y"] if self.public["kty"] == "EC" else ["e", "kty", "n"]
        canonical = json.dumps({name: self.public[name] for name in required}, separators=(",", ":"), sort_keys=True)
        return b64(hashlib.sha256(canonical.encode()).digest())

    def proof(self, htm, htu, *, token=None, nonce=None, claims=None, header=None, drop=()):
        payload = {"jti": str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": int(time.time())}
        if token is not None:
            payload["ath"] = ath(token)
        if nonce is not None:
            payload["nonce"] = nonce
        payload.update(claims or {})
        protected = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.public}
        protected.update(header or {})
        for name in drop:
            payload.pop(name, None)
            protected.pop(name, None)
        if "alg" not in protected:
            # joserfc needs an alg to sign: sign with one, then send a header without it.
            signed = jws.serialize_compact({**protected, "alg": self.alg}, json.dumps(payload).encode(), self.key, algorithms=[self.alg])
            _, body, signature = signed.split(".")
            return b64(json.dumps(protected).encode()) + "." + body + "." + signature
        return jws.serialize_compact(protected, json.dumps(payload).encode(), self.key, algorithms=[self.alg, "RS256"])


def unsigned(htm, htu, key: DPoPKey) -> str:
    header = b64(json.dumps({"typ": "dpop+jwt", "alg": "none", "jwk": key.public}).encode())
    payload = b64(json.dumps({"jti": str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": int(time.time())}).encode())
    return f"{header}.{payload}."


class DPoPClient:
    """A FAPI 2 private_key_jwt client without a certificate: its tokens can only be DPoP-bound."""

    def __init__(self, daemon, **metadata):
        self.daemon = daemon
        self.signing = fresh_key("ES256")
        base = {"client_name": "DPoP TPP", "token_endpoint_auth_method": "private_key_jwt", "fapi_profile": "fapi2-security-profile",
                "jwks": {"keys": [self.signing.as_dict(private=False)]}, "scope": "accounts", "grant_types": ["client_credentials"],
                "access_token_format": "jwt"}
        base.update(metadata)
        self.client_id = register(daemon, base)
        self.http = TokenClient(daemon, None)

    def form(self, **extra):
        data = {"grant_type": "client_credentials", "client_id": self.client_id, "client_assertion_type": JWT_BEARER,
                "client_assertion": assertion(self.signing, "ES256", self.client_id, self.daemon.issuer)}
        data.update(extra)
        return data

    def token(self, proof=None, **extra):
        headers = {"DPoP": proof} if proof is not None else {}
        return self.http.post("/token", self.form(**extra), headers=headers)


def token_url(daemon):
    return daemon.issuer + "/token"


def userinfo_url(daemon):
    return daemon.issuer + "/userinfo"


def introspect(daemon, pki, token):
    return TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key")).post("/introspect", {"token": token}).json()


def jwt_claims(token):
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


@pytest.fixture
def rs(daemon):
    daemon.fapictl("resource-servers", "add", "--name", "accounts-api", "--subject-dn", TPP_DN)
    return daemon


# --- token endpoint ----------------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["ES256", "PS256"])
def test_client_credentials_with_dpop_binds_the_token_to_the_key(rs, pki, alg):
    client = DPoPClient(rs)
    key = DPoPKey(alg)
    response = client.token(key.proof("POST", token_url(rs)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert response.headers.get("DPoP-Nonce")
    assert jwt_claims(body["access_token"])["cnf"] == {"jkt": key.thumbprint}
    info = introspect(rs, pki, body["access_token"])
    assert info["active"] is True and info["token_type"] == "DPoP" and info["cnf"] == {"jkt": key.thumbprint}


def test_discovery_names_the_dpop_algorithms(daemon):
    metadata = daemon.get("/.well-known/openid-configuration").json()
    assert metadata["dpop_signing_alg_values_supported"] == ["PS256", "ES256", "EdDSA"]


def test_fapi2_client_without_proof_or_certificate_is_refused(daemon, pki):
    client = DPoPClient(daemon)
    response = client.token()
    assert response.status_code == 400 and response.json()["error"] == "invalid_request", response.text
    # With its certificate and no proof, the token is certificate-bound.
    with_cert = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key")).post("/token", client.form())
    assert with_cert.status_code == 200 and with_cert.json()["token_type"] == "Bearer", with_cert.text
    assert "x5t#S256" in jwt_claims(with_cert.json()["access_token"])["cnf"]


def test_dpop_bound_access_tokens_requires_a_proof(daemon, pki):
    client = DPoPClient(daemon, dpop_bound_access_tokens=True)
    response = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key")).post("/token", client.form())
    assert response.status_code == 400 and response.json()["error"] == "invalid_dpop_proof", response.text
    assert client.token(DPoPKey().proof("POST", token_url(daemon))).json()["token_type"] == "DPoP"


def bad_token_proofs(daemon, key):
    url = token_url(daemon)
    now = int(time.time())
    rsa = DPoPKey("PS256")
    return {
        "two segments": "a.b",
        "upper case": key.proof("POST", url).upper(),
        "no typ": key.proof("POST", url, drop=["typ"]),
        "wrong typ": key.proof("POST", url, header={"typ": "JWT"}),
        "no jwk": key.proof("POST", url, drop=["jwk"]),
        "private jwk": key.proof("POST", url, header={"jwk": key.key.as_dict(private=True)}),
        "RS256": jws.serialize_compact({"typ": "dpop+jwt", "alg": "RS256", "jwk": rsa.public},
                                       json.dumps({"jti": "x", "htm": "POST", "htu": url, "iat": now}).encode(), rsa.key, algorithms=["RS256"]),
        "alg none": unsigned("POST", url, key),
        "bad signature": key.proof("POST", url).rsplit(".", 1)[0] + "." + DPoPKey().proof("POST", url).rsplit(".", 1)[1],
        "no jti": key.proof("POST", url, drop=["jti"]),
        "no htm": key.proof("POST", url, drop=["htm"]),
        "no htu": key.proof("POST", url, drop=["htu"]),
        "no iat": key.proof("POST", url, drop=["iat"]),
        "wrong htm": key.proof("GET", url),
        "other htu": key.proof("POST", daemon.issuer + "/par"),
        "iat an hour ago": key.proof("POST", url, claims={"iat": now - 3600}),
        "iat in an hour": key.proof("POST", url, claims={"iat": now + 3600}),
        "iat 61 s ahead": key.proof("POST", url, claims={"iat": now + 61}),
    }


def test_token_endpoint_refuses_bad_proofs(daemon):
    client = DPoPClient(daemon)
    key = DPoPKey()
    for name, proof in bad_token_proofs(daemon, key).items():
        response = client.token(proof)
        assert response.status_code == 400, (name, response.text)
        assert response.json()["error"] == "invalid_dpop_proof", (name, response.text)


def test_token_endpoint_accepts_tolerated_proofs(daemon):
    client = DPoPClient(daemon)
    key = DPoPKey()
    url = token_url(daemon)
    now = int(time.time())
    authority = url.split("/")[2]
    for name, proof in {
        "iat 10 s ago": key.proof("POST", url, claims={"iat": now - 10}),
        "iat 10 s ahead": key.proof("POST", url, claims={"iat": now + 10}),
        "nbf and exp": key.proof("POST", url, claims={"nbf": now - 5, "exp": now + 60}),
        "extra members": key.proof("POST", url, claims={"extra": 1}, header={"kid": "x"}),
        "query and fragment": key.proof("POST", url + "?a=b#c"),
        "upper-case scheme and host": key.proof("POST", "HTTPS://LOCALHOST:" + authority.split(":")[1] + "/token"),
    }.items():
        response = client.token(proof)
        assert response.status_code == 200, (name, response.text)


def test_a_proof_is_single_use(daemon):
    client = DPoPClient(daemon)
    proof = DPoPKey().proof("POST", token_url(daemon))
    assert client.token(proof).status_code == 200
    replay = client.token(proof)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_dpop_proof", replay.text


def test_server_nonce_flow(make_daemon, pki):
    daemon = make_daemon(env={"FAPID_DPOP_NONCE_REQUIRED": "true"}).start()
    client = DPoPClient(daemon)
    key = DPoPKey()
    first = client.token(key.proof("POST", token_url(daemon)))
    assert first.status_code == 400 and first.json()["error"] == "use_dpop_nonce", first.text
    nonce = first.headers["DPoP-Nonce"]
    wrong = client.token(key.proof("POST", token_url(daemon), nonce="not-the-nonce"))
    assert wrong.status_code == 400 and wrong.json()["error"] == "use_dpop_nonce"
    second = client.token(key.proof("POST", token_url(daemon), nonce=nonce))
    assert second.status_code == 200 and second.json()["token_type"] == "DPoP", second.text
    assert second.headers["DPoP-Nonce"]


def test_a_wrong_nonce_is_refused_even_when_not_required(daemon):
    client = DPoPClient(daemon)
    response = client.token(DPoPKey().proof("POST", token_url(daemon), nonce="made-up"))
    assert response.status_code == 400 and response.json()["error"] == "use_dpop_nonce"
    nonce = response.headers["DPoP-Nonce"]
    assert client.token(DPoPKey().proof("POST", token_url(daemon), nonce=nonce)).status_code == 200


def test_removing_the_client_makes_its_dpop_token_inactive(rs, pki):
    client = DPoPClient(rs)
    token = client.token(DPoPKey().proof("POST", token_url(rs))).json()["access_token"]
    assert introspect(rs, pki, token)["active"] is True
    rs.fapictl("clients", "remove", client.client_id)
    assert introspect(rs, pki, token) == {"active": False}


# --- code flow with PAR binding, userinfo, refresh (a FAPI 2 Message Signing client; FAPI 1 has no DPoP) ----

class DPoPFlow(Flow):
    """The PAR flow of test_hybrid_flow for a FAPI 2 Message Signing client (signed request object at PAR,
    response_type code), with DPoP proofs at PAR, token and userinfo."""

    def __init__(self, daemon, pki):
        super().__init__(daemon, pki)
        self.client_id = register(daemon, {
            "client_name": "DPoP code TPP", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
            "fapi_profile": "fapi2-message-signing", "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"], "scope": "openid accounts", "jwks": {"keys": [self.key.as_dict(private=False)]},
        })

    def consent(self, page, decision="approve"):
        response = self.browser.post(self.daemon.base + "/authorize/consent", data={
            "interaction": self.hidden(page, "interaction"), "csrf": self.hidden(page, "csrf"), "decision": decision},
            allow_redirects=False, timeout=10)
        assert response.status_code == 303, response.text
        location = response.headers["Location"]
        assert location.startswith(REDIRECT + "?"), location
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
        assert query.get("iss") == self.daemon.issuer, query
        return query

    def par_response(self, key, **overrides):
        now = int(time.time())
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        claims = {"iss": self.client_id, "aud": self.daemon.issuer, "exp": now + 300, "nbf": now, "jti": str(uuid.uuid4()),
                  "client_id": self.client_id, "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid accounts",
                  "state": self.state, "nonce": self.nonce, "code_challenge": challenge, "code_challenge_method": "S256"}
        claims.update(overrides)
        headers = {"DPoP": key.proof("POST", self.daemon.issuer + "/par")} if key else {}
        return self.tpp.post("/par", {"client_id": self.client_id, "request": jwt.encode({"alg": "ES256"}, claims, self.key, algorithms=["ES256"])},
                             headers=headers)

    def code(self, key, **overrides):
        response = self.par_response(key, **overrides)
        assert response.status_code == 201, response.text
        page = self.authorize(response.json()["request_uri"])
        consent = self.login(page.text)
        return self.consent(consent.text)["code"]

    def redeem(self, code, key):
        headers = {"DPoP": key.proof("POST", self.daemon.issuer + "/token")} if key else {}
        return self.tpp.post("/token", {"grant_type": "authorization_code", "client_id": self.client_id, "code": code,
                                        "redirect_uri": REDIRECT, "code_verifier": self.verifier}, headers=headers)


@pytest.fixture
def dpop_flow(daemon, pki):
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    return DPoPFlow(daemon, pki)


def test_par_proof_binds_the_code_and_refresh_takes_a_new_key(dpop_flow, daemon, pki):
    key = DPoPKey()
    # Another key at the token endpoint: refused, and the code is spent.
    mismatched = dpop_flow.redeem(dpop_flow.code(key), DPoPKey())
    assert mismatched.status_code == 400 and mismatched.json()["error"] == "invalid_grant", mismatched.text
    missing = dpop_flow.redeem(dpop_flow.code(key), None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_dpop_proof", missing.text

    response = dpop_flow.redeem(dpop_flow.code(key), key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    info = introspect(daemon, pki, body["access_token"])
    assert info["token_type"] == "DPoP" and info["cnf"]["jkt"] == key.thumbprint

    # Userinfo: the DPoP scheme in any case, with a proof naming the token.
    token = body["access_token"]
    for scheme in ["DPoP", "dpop", "DPOP"]:
        answer = dpop_flow.tpp.session.get(userinfo_url(daemon), headers={
            "Authorization": f"{scheme} {token}", "DPoP": key.proof("GET", userinfo_url(daemon), token=token)}, timeout=10)
        assert answer.status_code == 200 and answer.json()["sub"] == "alice", (scheme, answer.text)
        assert answer.headers["DPoP-Nonce"]

    # Refresh with a new key: the new token is bound to it; without a proof: refused.
    new_key = DPoPKey("PS256")
    refreshed = dpop_flow.tpp.post("/token", {"grant_type": "refresh_token", "client_id": dpop_flow.client_id, "refresh_token": body["refresh_token"]},
                                   headers={"DPoP": new_key.proof("POST", token_url(daemon))})
    assert refreshed.status_code == 200 and refreshed.json()["token_type"] == "DPoP", refreshed.text
    assert introspect(daemon, pki, refreshed.json()["access_token"])["cnf"]["jkt"] == new_key.thumbprint
    without = dpop_flow.tpp.post("/token", {"grant_type": "refresh_token", "client_id": dpop_flow.client_id, "refresh_token": body["refresh_token"]})
    assert without.status_code == 400 and without.json()["error"] == "invalid_dpop_proof", without.text


def test_dpop_jkt_must_match_the_par_proof(dpop_flow):
    key = DPoPKey()
    response = dpop_flow.par_response(key, dpop_jkt=DPoPKey().thumbprint)
    assert response.status_code == 400 and response.json()["error"] == "invalid_dpop_proof", response.text
    # dpop_jkt alone (no proof at PAR) binds the code as it says.
    other = DPoPKey()
    code = dpop_flow.code(None, dpop_jkt=other.thumbprint)
    refused = dpop_flow.redeem(code, key)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant", refused.text
    assert dpop_flow.redeem(dpop_flow.code(None, dpop_jkt=other.thumbprint), other).json()["token_type"] == "DPoP"


def raw_userinfo(daemon, pki, headers: list[tuple[str, str]], path="/userinfo"):
    """GET /userinfo with the headers exactly as given (two DPoP headers included), over mTLS."""
    context = ssl.create_default_context(cafile=str(daemon.keys / "ca.pem"))
    context.load_cert_chain(str(pki / "tpp.pem"), str(pki / "tpp.key"))
    connection = http.client.HTTPSConnection("localhost", daemon.port, context=context, timeout=10)
    connection.putrequest("GET", path)
    for name, value in headers:
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    result = (response.status, dict(response.getheaders()), body)
    connection.close()
    return result


def test_userinfo_refuses_the_conformance_suites_bad_proofs(dpop_flow, daemon, pki):
    key = DPoPKey()
    token = dpop_flow.redeem(dpop_flow.code(key), key).json()["access_token"]
    url = userinfo_url(daemon)
    now = int(time.time())
    rsa = DPoPKey("PS256")

    def good(**kwargs):
        return key.proof("GET", url, token=token, **kwargs)

    bad = {
        "upper-case value": [("Authorization", f"DPoP {token}"), ("DPoP", good().upper())],
        "two DPoP headers": [("Authorization", f"DPoP {token}"), ("DPoP", good()), ("DPoP", good())],
        "not a JWT": [("Authorization", f"DPoP {token}"), ("DPoP", "not-a-jwt")],
        "wrong typ": [("Authorization", f"DPoP {token}"), ("DPoP", good(header={"typ": "JWT"}))],
        "RS256": [("Authorization", f"DPoP {token}"), ("DPoP", jws.serialize_compact(
            {"typ": "dpop+jwt", "alg": "RS256", "jwk": rsa.public},
            json.dumps({"jti": "x", "htm": "GET", "htu": url, "iat": now, "ath": ath(token)}).encode(), rsa.key, algorithms=["RS256"]))],
        "alg none": [("Authorization", f"DPoP {token}"), ("DPoP", unsigned("GET", url, key))],
        "bad signature": [("Authorization", f"DPoP {token}"), ("DPoP", good().rsplit(".", 1)[0] + "." + DPoPKey().proof("GET", url).rsplit(".", 1)[1])],
        "private jwk": [("Authorization", f"DPoP {token}"), ("DPoP", good(header={"jwk": key.key.as_dict(private=True)}))],
        "wrong htm": [("Authorization", f"DPoP {token}"), ("DPoP", key.proof("POST", url, token=token))],
        "other htu": [("Authorization", f"DPoP {token}"), ("DPoP", key.proof("GET", token_url(daemon), token=token))],
        "iat an hour ago": [("Authorization", f"DPoP {token}"), ("DPoP", good(claims={"iat": now - 3600}))],
        "iat in an hour": [("Authorization", f"DPoP {token}"), ("DPoP", good(claims={"iat": now + 3600}))],
        "wrong ath": [("Authorization", f"DPoP {token}"), ("DPoP", good(claims={"ath": ath("other")}))],
        "another key": [("Authorization", f"DPoP {token}"), ("DPoP", DPoPKey().proof("GET", url, token=token))],
        "no proof": [("Authorization", f"DPoP {token}")],
        "sent as Bearer": [("Authorization", f"Bearer {token}"), ("DPoP", good())],
    }
    for name in ["typ", "alg", "jwk", "jti", "htm", "htu", "iat", "ath"]:
        bad[f"no {name}"] = [("Authorization", f"DPoP {token}"), ("DPoP", good(drop=[name]))]
    for name, headers in bad.items():
        status, response_headers, body = raw_userinfo(daemon, pki, headers)
        assert status == 401, (name, status, body)
        challenge = response_headers.get("WWW-Authenticate", "")
        if name != "sent as Bearer":
            assert challenge.startswith("DPoP ") and "algs=" in challenge, (name, challenge)
            assert json.loads(body)["error"] in ("invalid_dpop_proof", "invalid_token"), (name, body)

    # Accepted: query/fragment in htu, extra members, other case of scheme and host, the default port given explicitly.
    port = url.split("/")[2].split(":")[1]
    for name, proof in {
        "query": key.proof("GET", url + "?x=1", token=token),
        "extra": good(claims={"extra": True}, header={"kid": "k"}),
        "case": key.proof("GET", f"HTTPS://LOCALHOST:{port}/userinfo", token=token),
        "nbf and exp": good(claims={"nbf": now - 5, "exp": now + 60}),
    }.items():
        status, _, body = raw_userinfo(daemon, pki, [("Authorization", f"DPoP {token}"), ("DPoP", proof)])
        assert status == 200, (name, body)
    # The token in the query is refused.
    status, _, _ = raw_userinfo(daemon, pki, [("DPoP", good())], path="/userinfo?access_token=" + token)
    assert status in (400, 401)


# --- two instances on one PostgreSQL database ---------------------------------------------------------

def test_replay_memory_and_nonces_are_shared_across_instances(shared, pki):
    a, b = shared.instances()
    client_a = DPoPClient(a)
    client_b = DPoPClient(b)
    client_b.client_id = client_a.client_id
    client_b.signing = client_a.signing
    proof = DPoPKey().proof("POST", token_url(a))
    assert client_a.token(proof).status_code == 200
    replay = client_b.token(proof)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_dpop_proof", replay.text
    # A nonce handed out by one instance is accepted by the other.
    nonce = client_a.token(DPoPKey().proof("POST", token_url(a), nonce="x")).headers["DPoP-Nonce"]
    accepted = client_b.token(DPoPKey().proof("POST", token_url(a), nonce=nonce))
    assert accepted.status_code == 200 and accepted.json()["token_type"] == "DPoP", accepted.text


# --- a FAPI 2 private_key_jwt + DPoP client, the whole flow (with the FAPI 2 authorization rules of docs/profiles.md) --

def test_fapi2_dpop_flow_par_to_userinfo_and_refresh_with_a_new_key(daemon, pki):
    import secrets
    import urllib.parse

    from conformance_support import REDIRECT_URIS, SCOPE, Browser, Client, add_psu_and_resource_server

    add_psu_and_resource_server(daemon, TPP_DN)
    client = Client(daemon, pki, daemon.workdir, "fapi2-dpop", auth="private_key_jwt", alg="ES256", metadata={
        "fapi_profile": "fapi2-security-profile", "redirect_uris": REDIRECT_URIS, "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], "dpop_bound_access_tokens": True})
    http = TokenClient(daemon, None)  # no certificate anywhere: the tokens can only be DPoP-bound
    key = DPoPKey()
    verifier = secrets.token_urlsafe(48)
    challenge = b64(hashlib.sha256(verifier.encode()).digest())
    auth = lambda: client.auth_fields(aud=daemon.issuer)  # noqa: E731  (FAPI 2 SP §5.3.2.1-8: the issuer alone)
    form = {**auth(), "response_type": "code", "redirect_uri": REDIRECT_URIS[0], "scope": SCOPE, "state": "s-" + secrets.token_urlsafe(8),
            "nonce": "n-" + secrets.token_urlsafe(8), "code_challenge": challenge, "code_challenge_method": "S256", "dpop_jkt": key.thumbprint}
    pushed = http.post("/par", form, headers={"DPoP": key.proof("POST", daemon.issuer + "/par")})
    assert pushed.status_code == 201, pushed.text
    browser = Browser(daemon)
    final = browser.play(browser.authorize([("client_id", client.client_id), ("request_uri", pushed.json()["request_uri"])]))
    assert final.status_code in (302, 303), final.text
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(final.headers["Location"]).query))
    assert params["iss"] == daemon.issuer

    exchange = {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT_URIS[0], "code_verifier": verifier}
    tokens = http.post("/token", {**exchange, **auth()}, headers={"DPoP": key.proof("POST", token_url(daemon))})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "DPoP" and body["id_token"] and body["refresh_token"]
    assert introspect(daemon, pki, body["access_token"])["cnf"] == {"jkt": key.thumbprint}

    def userinfo(token, proof_key):
        return http.session.get(userinfo_url(daemon), timeout=10, headers={
            "Authorization": f"DPoP {token}", "DPoP": proof_key.proof("GET", userinfo_url(daemon), token=token)})

    assert userinfo(body["access_token"], key).status_code == 200
    # Refresh with a new key (RFC 9449 §5: the refresh token is bound to the client), not rotated (FAPI 2 SP §5.3.2.1).
    new_key = DPoPKey("PS256")
    refreshed = http.post("/token", {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], **auth()},
                          headers={"DPoP": new_key.proof("POST", token_url(daemon))})
    assert refreshed.status_code == 200 and refreshed.json()["token_type"] == "DPoP", refreshed.text
    assert "refresh_token" not in refreshed.json()
    new_token = refreshed.json()["access_token"]
    assert userinfo(new_token, new_key).status_code == 200
    assert userinfo(new_token, key).status_code == 401
    without = http.post("/token", {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], **auth()})
    assert without.status_code == 400 and without.json()["error"] == "invalid_dpop_proof", without.text


def test_resource_nonce_challenge_when_nonces_are_required(make_daemon, pki):
    daemon = make_daemon(env={"FAPID_DPOP_NONCE_REQUIRED": "true"}).start()
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    flow = DPoPFlow(daemon, pki)
    key = DPoPKey()
    code = flow.code(None)
    first = flow.redeem(code, key)
    assert first.status_code == 400 and first.json()["error"] == "use_dpop_nonce", first.text
    # The nonce was asked for before the code was looked at: the same code still works with it.
    nonce = first.headers["DPoP-Nonce"]
    response = flow.tpp.post("/token", {"grant_type": "authorization_code", "client_id": flow.client_id, "code": code, "redirect_uri": REDIRECT,
                                        "code_verifier": flow.verifier}, headers={"DPoP": key.proof("POST", token_url(daemon), nonce=nonce)})
    assert response.status_code == 200 and response.json()["token_type"] == "DPoP", response.text
    token = response.json()["access_token"]
    challenge = flow.tpp.session.get(userinfo_url(daemon), timeout=10, headers={
        "Authorization": f"DPoP {token}", "DPoP": key.proof("GET", userinfo_url(daemon), token=token)})
    assert challenge.status_code == 401, challenge.text
    assert challenge.headers["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
    resource_nonce = challenge.headers["DPoP-Nonce"]
    answer = flow.tpp.session.get(userinfo_url(daemon), timeout=10, headers={
        "Authorization": f"DPoP {token}", "DPoP": key.proof("GET", userinfo_url(daemon), token=token, nonce=resource_nonce)})
    assert answer.status_code == 200 and answer.json()["sub"] == "alice", answer.text
