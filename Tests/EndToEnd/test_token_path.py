"""The TPP and resource-server token path over real HTTPS with real certificates: client authentication
(tls_client_auth, self_signed_tls_client_auth, private_key_jwt), certificate-bound tokens,
introspection, revocation and the error rules of RFC 6749 §5.2."""
import http.server
import json
import time
import uuid

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, import_key

from conftest import https_server
from tpp import (JWT_BEARER, TokenClient, assertion, fresh_key, issue_certificate, make_ca, public_jwk_of_certificate,
                 register, self_signed_certificate, thumbprint)

TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"


@pytest.fixture
def rs_daemon(make_daemon, pki):
    """A daemon with the sample TPP certificate registered as a resource server too."""
    daemon = make_daemon(config={"access_token_lifetime": 2}).start()
    daemon.fapictl("resource-servers", "add", "--name", "accounts-api", "--subject-dn", TPP_DN)
    return daemon


def mtls_client(daemon, pki, **metadata):
    base = {"client_name": "Example TPP", "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": TPP_DN, "scope": "accounts payments", "grant_types": ["client_credentials"]}
    base.update(metadata)
    return register(daemon, base)


def assert_invalid_client(response):
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def introspect(daemon, pki, token):
    session = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
    return session.post("/introspect", {"token": token})


# --- tls_client_auth -------------------------------------------------------------------------------

def test_tls_client_auth_issues_a_certificate_bound_token(rs_daemon, pki):
    client_id = mtls_client(rs_daemon, pki)
    response = TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key")).token(client_id, scope="accounts")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 2 and body["scope"] == "accounts"
    assert len(body["access_token"]) >= 43
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    assert "x-fapi-interaction-id" in response.headers

    info = introspect(rs_daemon, pki, body["access_token"]).json()
    assert info["active"] is True
    assert info["client_id"] == client_id and info["scope"] == "accounts" and info["iss"] == rs_daemon.issuer
    assert info["token_type"] == "Bearer" and info["exp"] - info["iat"] == 2
    assert info["cnf"]["x5t#S256"] == thumbprint(pki / "tpp.pem")
    assert "sub" not in info


def test_tls_client_auth_matches_the_dn_not_the_string(rs_daemon, pki):
    # Same DN written with other spacing and case of types and values (RFC 4514 / RFC 4518 matching).
    client_id = mtls_client(rs_daemon, pki, tls_client_auth_subject_dn="cn=Example-TPP-Client, ou=0015800001041RbAAI, o=example tpp ltd, c=gb")
    assert TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key")).token(client_id).status_code == 200


def test_tls_client_auth_failures_are_invalid_client(rs_daemon, pki, tmp_path):
    client_id = mtls_client(rs_daemon, pki)
    # no certificate at all
    assert_invalid_client(TokenClient(rs_daemon, None).token(client_id))
    # a certificate from the trusted CA with another subject
    other = issue_certificate(tmp_path, "other", "/C=GB/O=Other TPP/CN=other-client", pki / "ca.pem", pki / "ca.key")
    assert_invalid_client(TokenClient(rs_daemon, other).token(client_id))
    # the right subject, but from a CA the server does not trust
    rogue_ca = make_ca(tmp_path / "rogue", "rogue-ca")
    forged = issue_certificate(tmp_path, "forged", "/C=GB/O=Example TPP Ltd/OU=0015800001041RbAAI/CN=example-tpp-client", *rogue_ca)
    assert_invalid_client(TokenClient(rs_daemon, forged).token(client_id))
    # a client_id that does not exist
    assert_invalid_client(TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key")).token("no-such-client"))
    # shared secrets are not a way in
    response = TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key")).session.post(
        rs_daemon.base + "/token", data={"grant_type": "client_credentials"}, auth=(client_id, "secret"), timeout=10)
    assert_invalid_client(response)


def test_tls_client_auth_by_san(make_daemon, pki, tmp_path):
    daemon = make_daemon().start()
    cert_dir = tmp_path / "san"
    cert_dir.mkdir()
    from tpp import openssl
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "san.key", cwd=cert_dir)
    openssl("req", "-new", "-key", "san.key", "-out", "san.csr", "-subj", "/CN=whatever", cwd=cert_dir)
    (cert_dir / "san.ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:tpp.example.com,URI:https://tpp.example.com/id\n")
    openssl("x509", "-req", "-in", "san.csr", "-CA", str(pki / "ca.pem"), "-CAkey", str(pki / "ca.key"), "-CAcreateserial",
            "-out", "san.pem", "-days", "30", "-extfile", "san.ext", cwd=cert_dir)
    by_dns = register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "tpp.example.com"})
    by_uri = register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_uri": "https://tpp.example.com/id"})
    wrong = register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "other.example.com"})
    client = TokenClient(daemon, (cert_dir / "san.pem", cert_dir / "san.key"))
    assert client.token(by_dns).status_code == 200
    assert client.token(by_uri).status_code == 200
    assert_invalid_client(client.token(wrong))


# --- self_signed_tls_client_auth ---------------------------------------------------------------------

def test_self_signed_tls_client_auth(rs_daemon, pki, tmp_path):
    cert = self_signed_certificate(tmp_path, "self", "/CN=self-signed-tpp")
    client_id = register(rs_daemon, {"token_endpoint_auth_method": "self_signed_tls_client_auth",
                                     "jwks": {"keys": [public_jwk_of_certificate(cert[0])]}, "scope": "accounts"})
    response = TokenClient(rs_daemon, cert).token(client_id)
    assert response.status_code == 200, response.text
    info = introspect(rs_daemon, pki, response.json()["access_token"]).json()
    assert info["active"] and info["cnf"]["x5t#S256"] == thumbprint(cert[0])

    # another self-signed certificate, with another key, is refused
    impostor = self_signed_certificate(tmp_path, "impostor", "/CN=self-signed-tpp")
    assert_invalid_client(TokenClient(rs_daemon, impostor).token(client_id))
    assert_invalid_client(TokenClient(rs_daemon, None).token(client_id))


# --- private_key_jwt -----------------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["PS256", "ES256"])
def test_private_key_jwt_with_requests_and_joserfc(rs_daemon, pki, alg):
    key = fresh_key(alg)
    client_id = register(rs_daemon, {"token_endpoint_auth_method": "private_key_jwt", "scope": "accounts",
                                     "jwks": {"keys": [key.as_dict(private=False)]}})
    client = TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key"))
    response = client.token(client_assertion_type=JWT_BEARER,
                            client_assertion=assertion(key, alg, client_id, rs_daemon.issuer + "/token"))
    assert response.status_code == 200, response.text
    info = introspect(rs_daemon, pki, response.json()["access_token"]).json()
    # FAPI: bound to the connection's certificate even though the client authenticated with a JWT.
    assert info["active"] and info["client_id"] == client_id and info["cnf"]["x5t#S256"] == thumbprint(pki / "tpp.pem")
    # aud may also be the issuer itself, or an array containing it
    for audience in (rs_daemon.issuer, ["https://elsewhere.example", rs_daemon.issuer]):
        assert client.token(client_assertion_type=JWT_BEARER, client_assertion=assertion(key, alg, client_id, audience)).status_code == 200


def test_private_key_jwt_failures_are_invalid_client(rs_daemon, pki):
    key = fresh_key("ES256")
    client_id = register(rs_daemon, {"token_endpoint_auth_method": "private_key_jwt",
                                     "jwks": {"keys": [key.as_dict(private=False)]}})
    client = TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key"))
    aud = rs_daemon.issuer + "/token"

    def send(token, **extra):
        return client.token(client_assertion_type=JWT_BEARER, client_assertion=token, **extra)

    replayed = assertion(key, "ES256", client_id, aud, jti="fixed-" + str(uuid.uuid4()))
    assert send(replayed).status_code == 200
    assert_invalid_client(send(replayed))                                                      # jti replay
    assert_invalid_client(send(assertion(key, "ES256", client_id, aud, iat_offset=-600, lifetime=60)))   # expired
    assert_invalid_client(send(assertion(key, "ES256", client_id, "https://other.example/token")))       # wrong aud
    assert_invalid_client(send(assertion(key, "ES256", client_id, aud, lifetime=86400)))                 # exp far away
    assert_invalid_client(send(assertion(fresh_key("ES256"), "ES256", client_id, aud)))                  # wrong key
    assert_invalid_client(send(assertion(key, "ES256", client_id, aud, extra={"sub": "someone-else"})))  # sub != iss
    assert_invalid_client(send(assertion(key, "ES256", client_id, aud), client_id="another-client"))     # inconsistent id
    # alg none
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "jti": str(uuid.uuid4()), "exp": now + 60}
    unsigned = "eyJhbGciOiJub25lIn0." + jwt_part(claims) + "."
    assert_invalid_client(send(unsigned))
    # HS256 with the public key's bytes as the secret (the classic algorithm confusion)
    secret = OctKey.import_key(json.dumps(key.as_dict(private=False)).encode())
    assert_invalid_client(send(jwt.encode({"alg": "HS256"}, claims, secret, algorithms=["HS256"])))
    # wrong assertion type
    response = client.token(client_assertion_type="urn:example:other", client_assertion=assertion(key, "ES256", client_id, aud))
    assert_invalid_client(response)


def jwt_part(claims):
    import base64
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()


def test_fapi_clients_need_a_certificate_even_with_private_key_jwt(rs_daemon, pki):
    key = fresh_key("ES256")
    client_id = register(rs_daemon, {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.as_dict(private=False)]}})
    response = TokenClient(rs_daemon, None).token(client_assertion_type=JWT_BEARER,
                                                  client_assertion=assertion(key, "ES256", client_id, rs_daemon.issuer))
    # FAPI: only sender-constrained tokens, so no certificate means no token.
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    non_fapi = register(rs_daemon, {"fapi": False, "token_endpoint_auth_method": "private_key_jwt",
                                    "jwks": {"keys": [key.as_dict(private=False)]}})
    response = TokenClient(rs_daemon, None).token(client_assertion_type=JWT_BEARER,
                                                  client_assertion=assertion(key, "ES256", non_fapi, rs_daemon.issuer))
    assert response.status_code == 200, response.text
    assert "cnf" not in introspect(rs_daemon, pki, response.json()["access_token"]).json()


def test_rs256_assertions_are_refused_for_fapi_clients(rs_daemon, pki):
    key = fresh_key("PS256")
    client_id = register(rs_daemon, {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.as_dict(private=False)]}})
    client = TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key"))
    token = assertion(key, "RS256", client_id, rs_daemon.issuer)
    assert_invalid_client(client.token(client_assertion_type=JWT_BEARER, client_assertion=token))


class JWKSHandler(http.server.BaseHTTPRequestHandler):
    body = b"{}"
    hits = 0

    def do_GET(self):
        JWKSHandler.hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_private_key_jwt_with_jwks_uri_and_key_rotation(rs_daemon, pki):
    server = https_server(JWKSHandler, pki / "server.pem", pki / "server.key")
    try:
        first = fresh_key("PS256")
        JWKSHandler.body = json.dumps({"keys": [{**first.as_dict(private=False), "kid": "k1"}]}).encode()
        url = f"https://localhost:{server.server_address[1]}/jwks.json"
        client_id = register(rs_daemon, {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": url})
        client = TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key"))
        send = lambda key, kid: client.token(client_assertion_type=JWT_BEARER,
                                             client_assertion=assertion(key, "PS256", client_id, rs_daemon.issuer, kid=kid))
        assert send(first, "k1").status_code == 200
        assert send(first, "k1").status_code == 200
        assert JWKSHandler.hits == 1, "the JWKS is cached"
        # The client rotates to k2: an unknown kid fetches again, at most once a minute.
        second = fresh_key("PS256")
        JWKSHandler.body = json.dumps({"keys": [{**second.as_dict(private=False), "kid": "k2"}]}).encode()
        assert_invalid_client(send(second, "k2"))
        assert JWKSHandler.hits == 1
    finally:
        server.shutdown()


# --- introspection and revocation ---------------------------------------------------------------------

def test_introspection_requires_a_registered_resource_server(rs_daemon, pki, tmp_path):
    client_id = mtls_client(rs_daemon, pki)
    token = TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key")).token(client_id).json()["access_token"]
    assert_invalid_client(TokenClient(rs_daemon, None).post("/introspect", {"token": token}))
    stranger = issue_certificate(tmp_path, "stranger", "/CN=not-a-resource-server", pki / "ca.pem", pki / "ca.key")
    assert_invalid_client(TokenClient(rs_daemon, stranger).post("/introspect", {"token": token}))
    response = introspect(rs_daemon, pki, "not-a-token")
    assert response.status_code == 200 and response.json() == {"active": False}
    missing = TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key")).post("/introspect", {})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


def test_expired_and_revoked_tokens_introspect_inactive(rs_daemon, pki):
    client_id = mtls_client(rs_daemon, pki)
    client = TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key"))
    expiring = client.token(client_id).json()["access_token"]
    revoked = client.token(client_id).json()["access_token"]
    assert introspect(rs_daemon, pki, revoked).json()["active"] is True
    response = client.post("/revoke", {"client_id": client_id, "token": revoked, "token_type_hint": "access_token"})
    assert response.status_code == 200
    assert introspect(rs_daemon, pki, revoked).json() == {"active": False}
    time.sleep(3.1)  # the daemon's access_token_lifetime is 2 s
    assert introspect(rs_daemon, pki, expiring).json() == {"active": False}


def test_revocation_only_touches_the_clients_own_tokens(rs_daemon, pki, tmp_path):
    owner = mtls_client(rs_daemon, pki)
    other_cert = issue_certificate(tmp_path, "other", "/C=GB/O=Other TPP/CN=other-client", pki / "ca.pem", pki / "ca.key")
    other = mtls_client(rs_daemon, pki, tls_client_auth_subject_dn="CN=other-client,O=Other TPP,C=GB")
    token = TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key")).token(owner).json()["access_token"]
    other_client = TokenClient(rs_daemon, other_cert)
    assert other_client.post("/revoke", {"client_id": other, "token": token}).status_code == 200
    assert introspect(rs_daemon, pki, token).json()["active"] is True
    assert other_client.post("/revoke", {"client_id": other, "token": "unknown-token"}).status_code == 200
    assert_invalid_client(TokenClient(rs_daemon, None).post("/revoke", {"client_id": owner, "token": token}))
    assert introspect(rs_daemon, pki, token).json()["active"] is True


# --- JWT access tokens ---------------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["PS256", "ES256"])
def test_jwt_access_tokens_verify_with_the_published_jwks(rs_daemon, pki, alg):
    client_id = mtls_client(rs_daemon, pki, access_token_format="jwt", access_token_signing_alg=alg)
    token = TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key")).token(client_id).json()["access_token"]
    keys = KeySet.import_key_set(rs_daemon.get("/jwks").json())
    decoded = jwt.decode(token, keys, algorithms=[alg])
    assert decoded.header["typ"] == "at+jwt" and decoded.header["alg"] == alg
    claims = decoded.claims
    assert claims["iss"] == rs_daemon.issuer and claims["client_id"] == client_id and claims["sub"] == client_id
    assert claims["cnf"]["x5t#S256"] == thumbprint(pki / "tpp.pem")
    assert claims["exp"] - claims["iat"] == 2 and claims["aud"] == rs_daemon.issuer
    assert introspect(rs_daemon, pki, token).json()["active"] is True


# --- errors and discovery ------------------------------------------------------------------------------

def test_token_endpoint_errors(rs_daemon, pki):
    client_id = mtls_client(rs_daemon, pki)
    client = TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key"))

    def error(response, status, code):
        assert response.status_code == status, response.text
        assert response.json()["error"] == code
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Content-Type"].startswith("application/json")
        assert not any(ch in response.json().get("error_description", "") for ch in "\r\n\t")

    error(client.post("/token", {"client_id": client_id}), 400, "invalid_request")
    error(client.token(client_id, scope="accounts admin"), 400, "invalid_scope")
    error(client.post("/token", {"grant_type": "password", "client_id": client_id, "username": "u", "password": "p"}),
          400, "unsupported_grant_type")
    error(client.post("/token", {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": client_id, "device_code": "x"}),
          400, "unsupported_grant_type")
    # a supported grant the client is not registered for
    error(client.post("/token", {"grant_type": "authorization_code", "client_id": client_id, "code": "x"}), 400, "unauthorized_client")
    error(client.session.post(rs_daemon.base + "/token", data="grant_type=client_credentials&grant_type=client_credentials&client_id=" + client_id,
                              headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10), 400, "invalid_request")
    error(client.session.post(rs_daemon.base + "/token", json={"grant_type": "client_credentials"}, timeout=10), 400, "invalid_request")
    error(client.session.post(rs_daemon.base + "/token", data="grant_type=%zz", headers={"Content-Type": "application/x-www-form-urlencoded"},
                              timeout=10), 400, "invalid_request")
    big = client.session.post(rs_daemon.base + "/token", data={"grant_type": "client_credentials", "x": "a" * 70000}, timeout=10)
    assert big.status_code in (400, 413)
    assert client.session.get(rs_daemon.base + "/token", timeout=10).status_code in (404, 405)


def test_client_without_the_grant_is_unauthorized(rs_daemon, pki):
    client_id = mtls_client(rs_daemon, pki, grant_types=["authorization_code"], redirect_uris=["https://tpp.example.com/cb"])
    response = TokenClient(rs_daemon, (pki / "tpp.pem", pki / "tpp.key")).token(client_id)
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"


def test_discovery_lists_the_token_path(daemon):
    metadata = daemon.get("/.well-known/openid-configuration").json()
    assert metadata["token_endpoint"] == daemon.issuer + "/token"
    assert metadata["introspection_endpoint"] == daemon.issuer + "/introspect"
    assert metadata["revocation_endpoint"] == daemon.issuer + "/revoke"
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {"tls_client_auth", "self_signed_tls_client_auth", "private_key_jwt"}
    assert metadata["tls_client_certificate_bound_access_tokens"] is True
    assert set(metadata["token_endpoint_auth_signing_alg_values_supported"]) == {"PS256", "ES256"}
    assert metadata["mtls_endpoint_aliases"]["token_endpoint"] == daemon.issuer + "/token"
    assert "client_credentials" in metadata["grant_types_supported"]


def test_fapictl_client_registration_rules(make_daemon, pki):
    daemon = make_daemon()

    def refused(metadata, field):
        result = daemon.fapictl("clients", "add", check=False, input_text=json.dumps(metadata))
        assert result.returncode != 0 and field in result.stderr, result.stderr
        assert result.stderr.strip().count("\n") == 0

    refused({"token_endpoint_auth_method": "client_secret_basic"}, "token_endpoint_auth_method")
    refused({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=x", "redirect_uris": ["http://tpp.example/cb"]}, "redirect_uris")
    refused({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}, "jwks_uri": "https://x.example/jwks"}, "jwks")
    refused({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://x.example/jwks", "token_endpoint_auth_signing_alg": "RS256"},
            "token_endpoint_auth_signing_alg")
    refused({"token_endpoint_auth_method": "tls_client_auth"}, "tls_client_auth_subject_dn")
    refused({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=x", "tls_client_auth_san_dns": "x"},
            "tls_client_auth_subject_dn")
    # a non-FAPI client may use RS256
    ok = daemon.fapictl("clients", "add", check=False, input_text=json.dumps(
        {"fapi": False, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://x.example/jwks", "token_endpoint_auth_signing_alg": "RS256"}))
    assert ok.returncode == 0, ok.stderr
    client_id = json.loads(ok.stdout)["client_id"]
    assert json.loads(daemon.fapictl("clients", "show", client_id).stdout)["client_id"] == client_id
    assert client_id in [c["client_id"] for c in json.loads(daemon.fapictl("clients", "list", "--json").stdout)]
    daemon.fapictl("clients", "remove", client_id)
    assert daemon.fapictl("clients", "show", client_id, check=False).returncode != 0


def test_jwks_uri_on_a_private_address_is_not_fetched(make_daemon, pki):
    """SSRF: with outbound_allow_private_networks off (the default), a client's jwks_uri that resolves to
    loopback is never requested, and its assertions fail as invalid_client."""
    daemon = make_daemon(env={"FAPID_OUTBOUND_ALLOW_PRIVATE_NETWORKS": "false"}).start()
    server = https_server(JWKSHandler, pki / "server.pem", pki / "server.key")
    try:
        key = fresh_key("PS256")
        JWKSHandler.body = json.dumps({"keys": [{**key.as_dict(private=False), "kid": "k1"}]}).encode()
        JWKSHandler.hits = 0
        url = f"https://localhost:{server.server_address[1]}/jwks.json"
        client_id = register(daemon, {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": url})
        client = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
        response = client.token(client_assertion_type=JWT_BEARER, client_assertion=assertion(key, "PS256", client_id, daemon.issuer, kid="k1"))
        assert_invalid_client(response)
        assert JWKSHandler.hits == 0
        daemon.stop()
        assert "not a public address" in daemon.log.read_text()
    finally:
        server.shutdown()
