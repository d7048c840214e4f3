"""Issue 16, the core's items, end to end over mTLS with independent clients (requests, joserfc, openssl):
client-assertion audiences per endpoint (9), jti kept for the clock skew (12), essential acr (8), registered
signing algorithms (19), CIBA id_token_hint of another client (24), display text from TPPs (2), Client-Cert
from a pinned proxy only (5), software statement age and exp (18), and RFC 7592 management re-checking the
certificate (17)."""
import base64
import json
import time
import urllib.parse
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from test_ciba import CIBAClient, pending_id
from test_hybrid_flow import PASSWORD, Flow
from test_par import push, request_object
from test_registration import directory_key, manage, post, refused, software_key, ssa  # noqa: F401 (fixtures)
from tpp import JWT_BEARER, TokenClient, assertion, issue_certificate, register, thumbprint

TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
REDIRECT = "https://tpp.example.com/callback"


def error(response, code, status=400):
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


@pytest.fixture
def pkjwt(daemon):
    key = ECKey.generate_key("P-256")
    client_id = register(daemon, {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.as_dict(private=False)]},
                                  "grant_types": ["client_credentials"], "scope": "accounts"})
    return client_id, key


# --- 9. client-assertion audience per endpoint --------------------------------------------------------------------

def test_assertion_audience_is_the_issuer_the_token_endpoint_or_the_endpoint_itself(daemon, pki, pkjwt):
    client_id, key = pkjwt
    tpp = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))

    def token(aud):
        return tpp.post("/token", {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
                                   "client_assertion": assertion(key, "ES256", client_id, aud)})

    def revoke(aud):
        return tpp.post("/revoke", {"token": "x", "client_assertion_type": JWT_BEARER, "client_assertion": assertion(key, "ES256", client_id, aud)})

    issuer = daemon.issuer
    for aud in (issuer, issuer + "/token", ["https://junk.example", issuer]):
        assert token(aud).status_code == 200, aud
    # Another endpoint's URL is not this endpoint's audience.
    for aud in (issuer + "/par", issuer + "/revoke", issuer + "/bc-authorize", "https://other.example/token"):
        error(token(aud), "invalid_client", 401)
    for aud in (issuer, issuer + "/token", issuer + "/revoke"):
        assert revoke(aud).status_code == 200, aud
    for aud in (issuer + "/par", issuer + "/bc-authorize"):
        error(revoke(aud), "invalid_client", 401)


# --- 12. jti kept until exp plus the skew -------------------------------------------------------------------------

@pytest.fixture
def par_client_key(daemon):
    key = ECKey.generate_key("P-256")
    client_id = register(daemon, {
        "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN, "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code"], "response_types": ["code id_token"], "scope": "openid accounts",
        "jwks": {"keys": [key.as_dict(private=False)]}})
    return client_id, key


def test_request_object_jti_is_not_replayable_within_the_clock_skew(daemon, pki, par_client_key):
    client_id, key = par_client_key
    now = int(time.time())
    ro = request_object(daemon, client_id, key, exp=now + 1, nbf=now - 5, jti="once-" + uuid.uuid4().hex)
    assert push(daemon, pki, client_id, ro).status_code == 201
    time.sleep(2.5)  # past exp, still inside the 10 s skew: the object itself is still accepted
    error(push(daemon, pki, client_id, ro), "invalid_request_object")


def test_ciba_request_jti_is_not_replayable_within_the_clock_skew(daemon, pki):
    daemon.fapictl("users", "add", "alice", input_text="correct horse battery staple\n")
    client = CIBAClient(daemon, pki)
    now = int(time.time())
    signed = client.signed(exp=now + 1, nbf=now - 5, iat=now - 5, jti="once-" + uuid.uuid4().hex)
    assert client.authorize(signed).status_code == 200
    time.sleep(2.5)
    error(client.authorize(signed), "invalid_request")


# --- 19. registered signing algorithms ----------------------------------------------------------------------------

def test_registered_request_object_signing_alg_is_enforced(daemon, pki):
    es, ps = ECKey.generate_key("P-256"), RSAKey.generate_key(2048)
    client_id = register(daemon, {
        "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN, "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code"], "response_types": ["code id_token"], "scope": "openid accounts",
        "request_object_signing_alg": "ES256",
        "jwks": {"keys": [dict(es.as_dict(private=False), kid="es"), dict(ps.as_dict(private=False), kid="ps")]}})
    assert push(daemon, pki, client_id, request_object(daemon, client_id, es, alg="ES256")).status_code == 201
    error(push(daemon, pki, client_id, request_object(daemon, client_id, ps, alg="PS256")), "invalid_request_object")


# --- 8. essential acr ------------------------------------------------------------------------------------------------

@pytest.fixture
def flow(daemon, pki):
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    return Flow(daemon, pki)


def test_essential_acr_that_the_sign_in_cannot_reach_is_access_denied(flow):
    claims = {"id_token": {"acr": {"essential": True, "values": ["urn:openbanking:psd2:sca"]}}}
    page = flow.authorize(flow.par(claims=claims))
    consent = flow.login(page.text)
    fragment = flow.consent(consent.text)
    assert fragment["error"] == "access_denied" and "code" not in fragment and "id_token" not in fragment, fragment
    assert fragment["state"] == flow.state


def test_the_acr_reached_is_stated_when_asked_for(flow, daemon):
    from joserfc.jwk import KeySet
    page = flow.authorize(flow.par(acr_values="urn:openbanking:psd2:sca urn:openbanking:psd2:ca"))
    fragment = flow.consent(flow.login(page.text).text)
    keys = KeySet.import_key_set(daemon.get("/jwks").json())
    assert jwt.decode(fragment["id_token"], keys, algorithms=["PS256"]).claims["acr"] == "urn:openbanking:psd2:ca"


# --- 24. CIBA id_token_hint of another client ---------------------------------------------------------------------

def test_ciba_id_token_hint_must_have_been_issued_to_the_requesting_client(daemon, pki):
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    flow = Flow(daemon, pki)
    fragment = flow.run_to_fragment()
    other_clients_id_token = fragment["id_token"]  # issued to the hybrid client, aud = its client_id
    ciba = CIBAClient(daemon, pki)
    error(ciba.authorize(ciba.signed(login_hint=None, drop=("login_hint",), id_token_hint=other_clients_id_token)), "invalid_request")


# --- 2. display text from TPPs ------------------------------------------------------------------------------------

def test_client_names_with_terminal_controls_are_refused_at_registration(daemon):
    for name in ["\u001b]52;c;ZXZpbA==\u0007Good Bank", "Pay\u202eevil", "Line\u2028two", "\u009b2J"]:
        result = daemon.fapictl("clients", "add", check=False, input_text=json.dumps({
            "client_name": name, "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN}))
        assert result.returncode != 0 and "client_name" in result.stderr, (name, result.stderr)


def test_binding_message_is_bounded_in_scalars_not_graphemes(daemon, pki):
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    client = CIBAClient(daemon, pki)
    error(client.authorize(client.signed(binding_message="a" + "\u0301" * 2000)), "invalid_binding_message")
    error(client.authorize(client.signed(binding_message="Pay \u202eevil")), "invalid_binding_message")
    assert client.authorize(client.signed(binding_message="Zahlung 5 €")).status_code == 200


# --- 5. Client-Cert from a pinned proxy only -----------------------------------------------------------------------

def test_client_cert_header_needs_the_pinned_proxy_certificate(make_daemon, pki, tmp_path):
    proxy = issue_certificate(tmp_path, "proxy", "/C=GB/O=Bank/CN=ingress-proxy", pki / "ca.pem", pki / "ca.key")
    stranger = issue_certificate(tmp_path, "stranger", "/C=GB/O=Bank/CN=not-the-proxy", pki / "ca.pem", pki / "ca.key")
    daemon = make_daemon(config={"trusted_proxies": ["127.0.0.1"], "trusted_proxy_certificates": [thumbprint(proxy[0])]}).start()
    client_id = register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN, "scope": "accounts"})
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    der = x509.load_pem_x509_certificate((pki / "tpp.pem").read_bytes()).public_bytes(serialization.Encoding.DER)
    header = {"Client-Cert": ":" + base64.b64encode(der).decode() + ":"}

    def token(hop):
        return TokenClient(daemon, hop).session.post(daemon.base + "/token", data={"grant_type": "client_credentials", "client_id": client_id},
                                                     headers=header, timeout=10)

    bound = token(proxy)
    assert bound.status_code == 200, bound.text
    # From a trusted address only the header counts, so the resource server comes through the proxy too.
    info = TokenClient(daemon, proxy).session.post(daemon.base + "/introspect", data={"token": bound.json()["access_token"]},
                                                   headers=header, timeout=10).json()
    assert info["active"] and info["cnf"]["x5t#S256"] == thumbprint(pki / "tpp.pem")
    # The right address but an unauthenticated hop, or another certificate: the header is not believed.
    assert token(None).status_code in (400, 401)
    assert token(stranger).status_code == 401


def test_trusted_proxy_certificates_must_be_thumbprints(make_daemon):
    code, log = make_daemon(config={"trusted_proxy_certificates": ["not-a-thumbprint"]}).run_to_exit()
    assert code != 0 and "trusted_proxy_certificates" in log


# --- 18. software statement age and exp ------------------------------------------------------------------------

def test_old_software_statements_are_refused(daemon, pki, directory_key, software_key):
    tpp_cert = (pki / "tpp.pem", pki / "tpp.key")
    old, _ = ssa(directory_key, software_key, iat=int(time.time()) - 31 * 86400)
    refused(post(daemon, tpp_cert, {"software_statement": old}), "invalid_software_statement")
    recent, _ = ssa(directory_key, software_key, iat=int(time.time()) - 29 * 86400)
    assert post(daemon, tpp_cert, {"software_statement": recent, "grant_types": ["client_credentials"]}).status_code == 201


def test_a_directory_can_require_exp(make_daemon, pki, directory_key, software_key):
    directory = {"name": "strict", "jwks_file": str(pki / "directory.jwks.json"), "ca_file": str(pki / "ca.pem"), "require_exp": True}
    daemon = make_daemon(config={"directories": [directory]}).start()
    tpp_cert = (pki / "tpp.pem", pki / "tpp.key")
    without, _ = ssa(directory_key, software_key)
    refused(post(daemon, tpp_cert, {"software_statement": without}), "invalid_software_statement")
    with_exp, _ = ssa(directory_key, software_key, exp=int(time.time()) + 600)
    assert post(daemon, tpp_cert, {"software_statement": with_exp, "grant_types": ["client_credentials"]}).status_code == 201


# --- 17. RFC 7592 management re-checks the certificate -----------------------------------------------------------

def test_management_rechecks_the_registration_certificate(make_daemon, pki, tmp_path, directory_key, software_key):
    """The certificate is registered through a directory whose CA list is then changed: the same certificate,
    no longer chaining to the directory's CAs, cannot manage the client any more."""
    cas = tmp_path / "directory-cas.pem"
    cas.write_text((pki / "ca.pem").read_text())
    directory = {"name": "rotating", "jwks_file": str(pki / "directory.jwks.json"), "ca_file": str(cas)}
    daemon = make_daemon(config={"directories": [directory]}).start()
    tpp_cert = (pki / "tpp.pem", pki / "tpp.key")
    statement, _ = ssa(directory_key, software_key)
    response = post(daemon, tpp_cert, {"software_statement": statement, "grant_types": ["client_credentials"]})
    assert response.status_code == 201, response.text
    url, rat = response.json()["registration_client_uri"], response.json()["registration_access_token"]
    assert manage(daemon, tpp_cert, "GET", url, rat).status_code == 200
    daemon.stop()
    from tpp import make_ca
    other_ca, _ = make_ca(tmp_path / "other", "other-directory-ca")
    cas.write_text(other_ca.read_text())  # the directory no longer vouches for the TPP's CA
    daemon.start()
    refused(manage(daemon, tpp_cert, "GET", url, rat), "invalid_token", 401)


def test_no_raw_escape_reaches_the_staff_terminal(daemon, pki):
    """A client registered before the display-text rule (its name written straight into the database) still
    works, and the staff terminal shows its name with the controls made visible: no raw ESC or CSI byte."""
    import sqlite3
    import pexpect
    from conftest import BIN
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    client = CIBAClient(daemon, pki)
    forged = "\u001b[2K\u001b[1AGood Bank\u009b31m\u001b]0;pwned\u0007"
    with sqlite3.connect(daemon.workdir / "fapid.sqlite") as db:
        db.execute("UPDATE clients SET metadata = json_set(metadata, '$.client_name', ?) WHERE client_id = ?", (forged, client.client_id))
    assert client.authorize(client.signed(binding_message="Order 77")).status_code == 200
    listed = daemon.fapictl("ciba", "list").stdout
    assert "Order 77" in listed and "\x1b" not in listed and "\x9b" not in listed and "\\u{1B}" in listed, listed
    child = pexpect.spawn(str(BIN / "fapictl"), ["ciba", "--seconds", "10"], env=daemon.env, timeout=15)
    try:
        child.expect(rb"Approve\? \[y/N\]")
        shown = child.before
        assert b"Order 77" in shown and b"\\u{1B}" in shown, shown
        assert b"\x1b" not in shown and "\u009b".encode() not in shown and b"\x9b" not in shown, shown
        child.sendline(b"n")
        child.expect(b"Denied.")
    finally:
        child.terminate(force=True)


# --- 1. a software statement is used up before any work on TPP-supplied keys -------------------------------------

def test_a_refused_registration_uses_its_statement_up(daemon, pki, directory_key, software_key):
    tpp_cert = (pki / "tpp.pem", pki / "tpp.key")
    statement, _ = ssa(directory_key, software_key)
    huge = {"keys": [software_key.as_dict(private=False)] * 40}  # refused metadata: a key set over the limit
    first = post(daemon, tpp_cert, {"software_statement": statement, "token_endpoint_auth_method": "private_key_jwt", "jwks": huge})
    refused(first, "invalid_client_metadata")
    # Replaying the statement costs one signature check and is refused as used; the keys are not looked at again.
    refused(post(daemon, tpp_cert, {"software_statement": statement, "token_endpoint_auth_method": "private_key_jwt", "jwks": huge}),
            "invalid_software_statement")


def test_x_forwarded_for_needs_the_pinned_proxy_certificate_too(make_daemon, pki, tmp_path):
    """With trusted_proxy_certificates set, the address a hop forwards is believed only from the pinned hop:
    the audit log records the forwarded address for the proxy, the socket's address for anyone else."""
    proxy = issue_certificate(tmp_path, "proxy", "/C=GB/O=Bank/CN=ingress-proxy", pki / "ca.pem", pki / "ca.key")
    daemon = make_daemon(config={"trusted_proxies": ["127.0.0.1"], "trusted_proxy_certificates": [thumbprint(proxy[0])]}).start()

    def failed_token_request(hop, forwarded):
        # An unknown client: refused, and recorded in the audit log with the request's source address.
        return TokenClient(daemon, hop).session.post(daemon.base + "/token", data={"grant_type": "client_credentials", "client_id": "nobody-" + forwarded},
                                                     headers={"X-Forwarded-For": forwarded}, timeout=10)

    assert failed_token_request(proxy, "203.0.113.7").status_code == 401
    assert failed_token_request(None, "203.0.113.8").status_code == 401
    rows = [json.loads(line) for line in daemon.fapictl("audit", "export").stdout.splitlines()]
    sources = {row.get("client_id"): row.get("source") for row in rows if row["type"] == "client.authentication_failed"}
    assert sources.get("nobody-203.0.113.7") == "203.0.113.7", sources
    assert sources.get("nobody-203.0.113.8") == "127.0.0.1", sources
