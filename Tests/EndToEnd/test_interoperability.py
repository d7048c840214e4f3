"""Interoperability with clients and tools fapid does not share code with (issue 15): registration metadata as
OpenID Dynamic Registration and RFC 7591/7592 define it, error_description characters (RFC 6749 §5.2),
authlib's stock private_key_jwt, TLS 1.2 without SHA-1 signatures (RFC 9155), HSTS, HTTP/1.0 connection
semantics (RFC 9112 §9.3, ApacheBench), a postgres:// FAPID_DATABASE, fapictl tables, and CIBA ping failures
in the log. The client side is requests + joserfc + authlib, openssl s_client and ab, over real mTLS."""
import base64
import html
import http.server
import json
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.parse
import uuid

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from conftest import Daemon, free_port
from conftest import https_server as serve_https
from test_ciba import CIBAClient, pending_id
from test_hybrid_flow import PASSWORD, Flow, half_hash
from test_par import push, request_object
from test_registration import directory_key, manage, post, refused, software_key, ssa, tpp_cert  # noqa: F401 (fixtures)
from test_scale_out import SharedDatabase, postgres_admin_url  # noqa: F401 (fixture)
from tpp import JWT_BEARER, TokenClient, assertion, register, self_signed_certificate, thumbprint

TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
REDIRECT = "https://tpp.example.com/callback"
IMPLICIT_HYBRID = ["authorization_code", "implicit", "refresh_token"]
# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E (printable ASCII without '"' and '\').
SAFE_DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5B\x5D-\x7E]*")
# Text a TPP controls, with every kind of character a description must not carry.
NASTY = 'x"y\\z\u00e9\u00a7\u2028\t'


@pytest.fixture(scope="module")
def srv(pki, tmp_path_factory):
    """One daemon for most of this module's tests (each test registers its own clients), with alice and the
    sample TPP certificate as a resource server."""
    daemon = Daemon(tmp_path_factory.mktemp("interop"), pki).start()
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    yield daemon
    if daemon.process and daemon.process.poll() is None:
        daemon.process.kill()
        daemon.process.wait()


def tpp(daemon, pki):
    return TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))


def error(response, code, status=400):
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


def error_in(response, codes, status=400):
    assert response.status_code == status, response.text
    assert response.json()["error"] in codes, response.text


def add_client(daemon, metadata):
    """`fapictl clients add`: (exit code, printed registration or None, stderr)."""
    result = daemon.fapictl("clients", "add", check=False, input_text=json.dumps(metadata))
    printed = json.loads(result.stdout) if result.returncode == 0 else None
    return result.returncode, printed, result.stderr


def hybrid_metadata(key, **overrides):
    metadata = {"client_name": "Spec-following hybrid client", "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": TPP_DN, "redirect_uris": [REDIRECT], "grant_types": IMPLICIT_HYBRID,
                "response_types": ["code id_token"], "scope": "openid accounts", "jwks": {"keys": [key.as_dict(private=False)]}}
    metadata.update(overrides)
    return {k: v for k, v in metadata.items() if v is not None}


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers every GET and POST with `status` and `body`; records the paths it saw."""
    status = 200
    body = b"{}"
    seen: list = []

    def _reply(self):
        length = int(self.headers.get("Content-Length", 0) or 0)
        if length:
            self.rfile.read(length)
        type(self).seen.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = _reply
    do_POST = _reply

    def log_message(self, *args):
        pass


def https_server(cert, key, status=200, body=b"{}"):
    """An HTTPS server on loopback (the certificate decides whether fapid trusts it)."""
    handler = type("H", (Handler,), {"status": status, "body": body, "seen": []})
    return serve_https(handler, cert, key)


def jwks_server(pki, key, kid):
    body = json.dumps({"keys": [{**key.as_dict(private=False), "kid": kid, "use": "sig"}]}).encode()
    server = https_server(pki / "server.pem", pki / "server.key", body=body)
    return server, f"https://localhost:{server.server_address[1]}/jwks.json"


def registration_request(key, software_id, issuer, members, alg="ES256", kid=None, **claims):
    """An Open Banking style application/jwt registration (or update) request signed by the software's key."""
    now = int(time.time())
    body = dict(members, iss=software_id, aud=issuer, iat=now, exp=now + 300, jti=str(uuid.uuid4()))
    body.update(claims)
    header = {"alg": alg, "typ": "JWT"}
    if kid:
        header["kid"] = kid
    return jwt.encode(header, body, key, algorithms=[alg])


def put_jwt(daemon, cert, url, token, body):
    return TokenClient(daemon, cert).session.put(
        url, data=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/jwt"}, timeout=10)


def current_metadata(response):
    """What a registration read answers, as the body of an update (RFC 7592 §2.2)."""
    members = dict(response.json())
    for member in ("registration_client_uri", "client_id_issued_at", "registration_access_token", "client_secret_expires_at"):
        members.pop(member, None)
    return members


def public_keys(registered):
    return [(key.get("kty"), key.get("crv"), key.get("x"), key.get("y"), key.get("n")) for key in registered["jwks"]["keys"]]


def key_tuple(key):
    public = key.as_dict(private=False)
    return (public.get("kty"), public.get("crv"), public.get("x"), public.get("y"), public.get("n"))


# --- 1. implicit beside a hybrid response type ----------------------------------------------------------------

def test_fapictl_accepts_implicit_for_a_code_id_token_client_and_still_accepts_hybrid_without_it(srv):
    key = ECKey.generate_key("P-256")
    code, printed, stderr = add_client(srv, hybrid_metadata(key))
    assert code == 0, stderr
    assert set(printed["grant_types"]) == set(IMPLICIT_HYBRID) and printed["response_types"] == ["code id_token"]
    # Open Banking UK profiles omit implicit: still a hybrid client.
    code, printed, stderr = add_client(srv, hybrid_metadata(key, grant_types=["authorization_code", "refresh_token"]))
    assert code == 0, stderr
    assert "implicit" not in printed["grant_types"]


def test_fapictl_refuses_implicit_without_a_hybrid_response_type(srv):
    key = ECKey.generate_key("P-256")
    for response_types in (None, ["code"]):  # omitted means ["code"] (RFC 7591 §2)
        code, printed, stderr = add_client(srv, hybrid_metadata(key, response_types=response_types))
        assert code != 0, (response_types, printed)
        assert "implicit" in stderr or "grant_types" in stderr or "response_types" in stderr, stderr
        assert stderr.strip().count("\n") == 0, stderr


def test_register_endpoint_accepts_implicit_for_hybrid_clients_only(srv, tpp_cert, directory_key, software_key):
    def attempt(**metadata):
        statement, _ = ssa(directory_key, software_key)
        return post(srv, tpp_cert, dict({"software_statement": statement, "redirect_uris": [REDIRECT], "scope": "openid accounts"},
                                        **metadata))

    accepted = attempt(grant_types=IMPLICIT_HYBRID, response_types=["code id_token"])
    assert accepted.status_code == 201, accepted.text
    assert set(accepted.json()["grant_types"]) == set(IMPLICIT_HYBRID)
    without = attempt(grant_types=["authorization_code", "refresh_token"], response_types=["code id_token"])
    assert without.status_code == 201, without.text
    refused(attempt(grant_types=IMPLICIT_HYBRID), "invalid_client_metadata")
    refused(attempt(grant_types=IMPLICIT_HYBRID, response_types=["code"]), "invalid_client_metadata")


def test_implicit_is_never_a_grant_of_the_token_endpoint(srv, pki):
    key = ECKey.generate_key("P-256")
    client_id = register(srv, hybrid_metadata(key, grant_types=IMPLICIT_HYBRID + ["client_credentials"]))
    client = tpp(srv, pki)
    response = client.post("/token", {"grant_type": "implicit", "client_id": client_id, "scope": "accounts"})
    error_in(response, {"unsupported_grant_type", "unauthorized_client"})
    assert "access_token" not in response.text
    # the client's real grant still works: the refusal is about implicit, not the client
    assert client.token(client_id, scope="accounts").status_code == 200


def test_hybrid_client_registered_with_implicit_completes_par_sign_in_consent_code_exchange_and_refresh(srv, pki):
    """Done when of issue 15: the spec-following hybrid registration, end to end over mTLS."""
    flow = Flow(srv, pki)
    flow.client_id = register(srv, hybrid_metadata(flow.key, client_name="Example TPP"))
    fragment = flow.run_to_fragment()
    assert fragment["state"] == flow.state and fragment["iss"] == srv.issuer and "code" in fragment
    keys = KeySet.import_key_set(srv.get("/jwks").json())
    front = jwt.decode(fragment["id_token"], keys, algorithms=["PS256", "ES256"])
    claims = front.claims
    assert front.header["alg"] == "PS256"
    assert claims["iss"] == srv.issuer and claims["aud"] == flow.client_id and claims["nonce"] == flow.nonce
    assert claims["c_hash"] == half_hash(fragment["code"]) and claims["s_hash"] == half_hash(flow.state)
    assert claims["sub"] == "alice" and claims["exp"] > time.time()

    response = flow.exchange(fragment["code"])
    assert response.status_code == 200, response.text
    tokens = response.json()
    back = jwt.decode(tokens["id_token"], keys, algorithms=["PS256"]).claims
    assert back["sub"] == "alice" and back["at_hash"] == half_hash(tokens["access_token"]) and back["aud"] == flow.client_id
    info = flow.tpp.post("/introspect", {"token": tokens["access_token"]}).json()
    assert info["active"] and info["client_id"] == flow.client_id and info["cnf"]["x5t#S256"] == thumbprint(pki / "tpp.pem")

    refreshed = flow.tpp.post("/token", {"grant_type": "refresh_token", "client_id": flow.client_id, "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["access_token"] != tokens["access_token"]
    assert jwt.decode(refreshed.json()["id_token"], keys, algorithms=["PS256"]).claims["sub"] == "alice"


# --- 2. grant_types default -------------------------------------------------------------------------------------

def test_omitted_grant_types_default_to_authorization_code(srv, pki, tpp_cert, directory_key, software_key):
    code, printed, stderr = add_client(srv, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
                                             "redirect_uris": [REDIRECT], "scope": "openid accounts"})
    assert code == 0, stderr
    assert printed["grant_types"] == ["authorization_code"]
    shown = json.loads(srv.fapictl("clients", "show", printed["client_id"]).stdout)
    assert shown["grant_types"] == ["authorization_code"]
    error(tpp(srv, pki).token(printed["client_id"], scope="accounts"), "unauthorized_client")

    statement, _ = ssa(directory_key, software_key)
    response = post(srv, tpp_cert, {"software_statement": statement, "scope": "openid accounts"})
    assert response.status_code == 201, response.text
    assert response.json()["grant_types"] == ["authorization_code"]
    error(tpp(srv, pki).token(response.json()["client_id"], scope="accounts"), "unauthorized_client")


# --- 3. client metadata inside the software statement ------------------------------------------------------------

def test_statement_with_inline_jwks_registers_a_private_key_jwt_client_by_signed_request_and_updates_by_signed_jwt(
        srv, pki, tpp_cert, directory_key, software_key):
    """Done when of issue 15: a statement whose keys are inline as `jwks`, its JWT-form registration, and an
    RFC 7592 update with a signed JWT body."""
    statement, claims = ssa(directory_key, software_key, software_jwks=None, jwks={"keys": [software_key.as_dict(private=False)]})
    body = registration_request(software_key, claims["software_id"], srv.issuer, {
        "software_statement": statement, "token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256",
        "grant_types": ["client_credentials"], "scope": "accounts"})
    response = post(srv, tpp_cert, body, content_type="application/jwt")
    assert response.status_code == 201, response.text
    registered = response.json()
    assert registered["token_endpoint_auth_method"] == "private_key_jwt"
    assert public_keys(registered) == [key_tuple(software_key)]
    client_id = registered["client_id"]
    token = tpp(srv, pki).token(client_assertion_type=JWT_BEARER, client_assertion=assertion(software_key, "ES256", client_id, srv.issuer))
    assert token.status_code == 200, token.text

    url, rat = registered["registration_client_uri"], registered["registration_access_token"]
    read = manage(srv, tpp_cert, "GET", url, rat)
    assert read.status_code == 200, read.text
    update = registration_request(software_key, claims["software_id"], srv.issuer, dict(current_metadata(read), client_name="Renamed by JWT"))
    updated = put_jwt(srv, tpp_cert, url, rat, update)
    assert updated.status_code == 200, updated.text
    assert updated.json()["client_name"] == "Renamed by JWT" and updated.json()["client_id"] == client_id
    assert updated.json()["registration_access_token"] != rat
    again = tpp(srv, pki).token(client_assertion_type=JWT_BEARER, client_assertion=assertion(software_key, "ES256", client_id, srv.issuer))
    assert again.status_code == 200, again.text


def test_statement_with_jwks_uri_registers_a_private_key_jwt_client(srv, pki, tpp_cert, directory_key, software_key):
    server, url = jwks_server(pki, software_key, "sw-1")
    try:
        statement, _ = ssa(directory_key, software_key, software_jwks=None, jwks_uri=url)
        response = post(srv, tpp_cert, {"software_statement": statement, "token_endpoint_auth_method": "private_key_jwt",
                                        "token_endpoint_auth_signing_alg": "ES256", "grant_types": ["client_credentials"], "scope": "accounts"})
        assert response.status_code == 201, response.text
        registered = response.json()
        assert registered["jwks_uri"] == url and "jwks" not in registered
        token = tpp(srv, pki).token(client_assertion_type=JWT_BEARER,
                                    client_assertion=assertion(software_key, "ES256", registered["client_id"], srv.issuer, kid="sw-1"))
        assert token.status_code == 200, token.text
    finally:
        server.shutdown()


def test_statement_metadata_takes_precedence_over_the_request(srv, pki, tpp_cert, directory_key, software_key):
    other = ECKey.generate_key("P-256")
    statement, _ = ssa(directory_key, software_key, client_name="Name From The Statement", token_endpoint_auth_method="private_key_jwt",
                       jwks={"keys": [software_key.as_dict(private=False)]})
    response = post(srv, tpp_cert, {"software_statement": statement, "client_name": "Name From The Request",
                                    "token_endpoint_auth_method": "tls_client_auth", "jwks": {"keys": [other.as_dict(private=False)]},
                                    "grant_types": ["client_credentials"], "scope": "accounts"})
    assert response.status_code == 201, response.text
    registered = response.json()
    assert registered["client_name"] == "Name From The Statement"
    assert registered["token_endpoint_auth_method"] == "private_key_jwt"
    assert public_keys(registered) == [key_tuple(software_key)]
    client = tpp(srv, pki)
    client_id = registered["client_id"]
    assert client.token(client_assertion_type=JWT_BEARER, client_assertion=assertion(software_key, "ES256", client_id, srv.issuer)).status_code == 200
    error(client.token(client_assertion_type=JWT_BEARER, client_assertion=assertion(other, "ES256", client_id, srv.issuer)), "invalid_client", 401)


def test_software_jwks_uri_is_a_software_key_location_like_software_jwks_endpoint(srv, pki, tpp_cert, directory_key, software_key):
    server, url = jwks_server(pki, software_key, "brasil-1")
    try:
        statement, claims = ssa(directory_key, software_key, software_jwks=None, software_jwks_uri=url)
        members = {"software_statement": statement, "token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256",
                   "grant_types": ["client_credentials"], "scope": "accounts"}
        forged = registration_request(ECKey.generate_key("P-256"), claims["software_id"], srv.issuer, members, kid="brasil-1")
        refused(post(srv, tpp_cert, forged, content_type="application/jwt"), "invalid_client_metadata")
        # A refused registration uses its statement up (issue 16): the next attempt brings a new one.
        members["software_statement"], _ = ssa(directory_key, software_key, software_jwks=None, software_jwks_uri=url,
                                               software_id=claims["software_id"])
        body = registration_request(software_key, claims["software_id"], srv.issuer, members, kid="brasil-1")
        response = post(srv, tpp_cert, body, content_type="application/jwt")
        assert response.status_code == 201, response.text
        registered = response.json()
        assert registered["jwks_uri"] == url
        token = tpp(srv, pki).token(client_assertion_type=JWT_BEARER,
                                    client_assertion=assertion(software_key, "ES256", registered["client_id"], srv.issuer, kid="brasil-1"))
        assert token.status_code == 200, token.text
    finally:
        server.shutdown()


# --- 4. RFC 7592 update with a signed JWT body -------------------------------------------------------------------

def test_rfc7592_update_with_a_signed_jwt_body_checks_key_audience_and_replay(srv, tpp_cert, directory_key, software_key):
    statement, claims = ssa(directory_key, software_key)
    response = post(srv, tpp_cert, {"software_statement": statement, "redirect_uris": [REDIRECT], "scope": "openid accounts",
                                    "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code id_token"]})
    assert response.status_code == 201, response.text
    registered = response.json()
    url, rat = registered["registration_client_uri"], registered["registration_access_token"]
    members = dict(current_metadata(manage(srv, tpp_cert, "GET", url, rat)), client_name="Renamed by a signed update")

    stranger = ECKey.generate_key("P-256")
    refused(put_jwt(srv, tpp_cert, url, rat, registration_request(stranger, claims["software_id"], srv.issuer, members)), "invalid_client_metadata")
    refused(put_jwt(srv, tpp_cert, url, rat, registration_request(software_key, claims["software_id"], "https://other.example", members)),
            "invalid_client_metadata")
    refused(put_jwt(srv, tpp_cert, url, rat, registration_request(software_key, "another-software", srv.issuer, members)),
            "invalid_client_metadata")
    # none of the refusals changed anything or rotated the token
    assert manage(srv, tpp_cert, "GET", url, rat).json()["client_name"] == registered["client_name"]

    signed = registration_request(software_key, claims["software_id"], srv.issuer, members)
    updated = put_jwt(srv, tpp_cert, url, rat, signed)
    assert updated.status_code == 200, updated.text
    assert updated.json()["client_name"] == "Renamed by a signed update"
    assert updated.json()["redirect_uris"] == [REDIRECT]
    new_rat = updated.json()["registration_access_token"]
    assert new_rat and new_rat != rat
    error(manage(srv, tpp_cert, "GET", url, rat), "invalid_token", 401)

    replay = put_jwt(srv, tpp_cert, url, new_rat, signed)
    assert replay.status_code == 400, replay.text
    assert replay.json()["error"] in {"invalid_client_metadata", "invalid_request"}, replay.text
    read = manage(srv, tpp_cert, "GET", url, new_rat)
    assert read.status_code == 200 and read.json()["client_name"] == "Renamed by a signed update"

    # the JSON form keeps working
    json_update = manage(srv, tpp_cert, "PUT", url, new_rat, dict(current_metadata(read), client_name="Renamed by JSON"))
    assert json_update.status_code == 200, json_update.text
    assert json_update.json()["client_name"] == "Renamed by JSON"


# --- 5. registration without a certificate ------------------------------------------------------------------------

def test_registration_without_a_client_certificate_is_invalid_client_401(srv, directory_key, software_key):
    statement, _ = ssa(directory_key, software_key)
    response = post(srv, None, {"software_statement": statement})
    refused(response, "invalid_client", 401)
    assert response.headers["Content-Type"].startswith("application/json")


# --- 9. error_description characters -------------------------------------------------------------------------------

def safe_description(description, where, required=True):
    if required:
        assert description, f"{where}: no error_description"
    if description is not None:
        assert SAFE_DESCRIPTION.fullmatch(description), f"{where}: {description!r}"


def safe_json_error(response, where, required=True):
    assert 400 <= response.status_code < 500, f"{where}: {response.status_code} {response.text}"
    body = response.json()
    assert body.get("error"), f"{where}: {body}"
    safe_description(body.get("error_description"), where, required)
    return body


def safe_www_authenticate(response, where):
    header = response.headers.get("WWW-Authenticate")
    assert header, f"{where}: no WWW-Authenticate"
    if "error_description" in header:
        match = re.search(r'error_description="([^"\\]*)"\s*(?:,|$)', header)
        assert match, f"{where}: {header!r}"
        safe_description(match.group(1), where)


def error_page_message(response, where):
    match = re.search(r'<p class="error" role="alert">(.*?)</p>', response.text, re.S)
    assert match, f"{where}: {response.text}"
    return html.unescape(match.group(1))


def fragment_of(response):
    assert response.status_code in (302, 303), response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    parts = urllib.parse.urlsplit(location)
    return dict(urllib.parse.parse_qsl(parts.fragment or parts.query))


def test_error_descriptions_use_only_rfc6749_characters_on_every_endpoint(srv, pki, tpp_cert, directory_key, software_key):
    client = tpp(srv, pki)
    bare = TokenClient(srv, None)

    # /token: a FAPI private_key_jwt client with a valid assertion but no TLS client certificate
    key = ECKey.generate_key("P-256")
    pkj = register(srv, {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.as_dict(private=False)]},
                         "grant_types": ["client_credentials"], "scope": "accounts"})
    no_cert = bare.token(client_assertion_type=JWT_BEARER, client_assertion=assertion(key, "ES256", pkj, srv.issuer))
    body = safe_json_error(no_cert, "/token without a certificate")
    assert no_cert.status_code == 400 and body["error"] == "invalid_request"
    assert "certificate" in body["error_description"]
    safe_json_error(client.post("/token", {"client_id": pkj}), "/token without grant_type")

    # /par
    flow = Flow(srv, pki)
    safe_json_error(push(srv, pki, flow.client_id), "/par without a request object")
    safe_json_error(push(srv, pki, flow.client_id, request_object(srv, flow.client_id, flow.key, exp=int(time.time()) - 60)), "/par expired")
    safe_json_error(push(srv, pki, flow.client_id, request_object(srv, flow.client_id, flow.key), cert=False), "/par without a certificate")

    # /authorize: the error page and an error redirect
    page = flow.browser.get(srv.base + "/authorize", params={"client_id": flow.client_id, "request_uri": "urn:ietf:params:oauth:request_uri:nope"},
                            timeout=10)
    assert page.status_code == 400
    safe_description(error_page_message(page, "/authorize page"), "/authorize page")
    redirect = flow.browser.get(srv.base + "/authorize", params={"client_id": flow.client_id, "request_uri": flow.par(prompt="none")},
                                allow_redirects=False, timeout=10)
    fragment = fragment_of(redirect)
    assert fragment["error"] == "login_required"
    safe_description(fragment.get("error_description"), "/authorize redirect", required=False)

    # /bc-authorize
    ciba = CIBAClient(srv, pki)
    safe_json_error(ciba.authorize(ciba.signed(login_hint="nobody")), "/bc-authorize unknown user")
    safe_json_error(ciba.authorize(ciba.signed(exp=int(time.time()) + 7200)), "/bc-authorize long-lived")
    safe_json_error(TokenClient(srv, None).post("/bc-authorize", {"client_id": ciba.client_id, "request": ciba.signed()}),
                    "/bc-authorize without a certificate")

    # /register
    statement, _ = ssa(directory_key, software_key)
    safe_json_error(post(srv, tpp_cert, {"software_statement": statement, "id_token_signed_response_alg": "RS256"}), "/register metadata")
    safe_json_error(post(srv, tpp_cert, {"redirect_uris": [REDIRECT]}), "/register without a statement")
    safe_json_error(post(srv, None, {"software_statement": statement}), "/register without a certificate")

    # /introspect and /revoke
    safe_json_error(bare.post("/introspect", {"token": "x"}), "/introspect without a certificate")
    mtls = register(srv, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
                          "grant_types": ["client_credentials"], "scope": "accounts"})
    safe_json_error(client.post("/revoke", {"client_id": mtls}), "/revoke without a token")
    safe_json_error(bare.post("/revoke", {"client_id": mtls, "token": "x"}), "/revoke without a certificate")

    # /userinfo's WWW-Authenticate (and its JSON body, if any)
    userinfo = client.session.get(srv.base + "/userinfo", headers={"Authorization": "Bearer not-a-token"}, timeout=10)
    assert userinfo.status_code == 401
    safe_www_authenticate(userinfo, "/userinfo")
    if userinfo.headers.get("Content-Type", "").startswith("application/json"):
        safe_json_error(userinfo, "/userinfo body", required=False)


def test_error_descriptions_quoting_tpp_text_are_sanitised(srv, pki, tpp_cert, directory_key, software_key):
    client = tpp(srv, pki)
    mtls = register(srv, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
                          "grant_types": ["client_credentials"], "scope": "accounts"})
    body = safe_json_error(client.post("/token", {"grant_type": "urn:example:" + NASTY, "client_id": mtls}), "/token grant_type")
    assert body["error"] == "unsupported_grant_type"
    safe_json_error(client.token(mtls, scope="accounts " + NASTY), "/token scope")

    flow = Flow(srv, pki)
    safe_json_error(push(srv, pki, flow.client_id, request_object(srv, flow.client_id, flow.key, scope="openid " + NASTY)), "/par scope")
    safe_json_error(push(srv, pki, flow.client_id, request_object(srv, flow.client_id, flow.key, redirect_uri=REDIRECT + "?q=" + NASTY)),
                    "/par redirect_uri")
    page = flow.browser.get(srv.base + "/authorize", params={"client_id": NASTY, "request_uri": NASTY}, timeout=10)
    assert page.status_code == 400
    safe_description(error_page_message(page, "/authorize page"), "/authorize page")

    statement, _ = ssa(directory_key, software_key)
    safe_json_error(post(srv, tpp_cert, {"software_statement": statement, "redirect_uris": ["https://evil.example/cb?" + NASTY]}),
                    "/register redirect_uris")
    safe_json_error(post(srv, tpp_cert, {"software_statement": statement, "scope": "openid " + NASTY}), "/register scope")

    ciba = CIBAClient(srv, pki)
    safe_json_error(ciba.authorize(ciba.signed(login_hint="nobody" + NASTY)), "/bc-authorize login_hint")
    safe_json_error(ciba.authorize(ciba.signed(scope="openid " + NASTY)), "/bc-authorize scope")


# --- 10. client-assertion lifetime (authlib's stock PrivateKeyJWT) --------------------------------------------------

def pkj_client(daemon, key):
    return register(daemon, {"client_name": "authlib", "token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "PS256",
                             "jwks": {"keys": [key.as_dict(private=False)]}, "grant_types": ["client_credentials"], "scope": "accounts"})


def test_authlib_private_key_jwt_with_an_hour_long_assertion_gets_a_token(srv, pki):
    try:
        from authlib.integrations.requests_client import OAuth2Session
        from authlib.oauth2.rfc7523 import PrivateKeyJWT
    except ImportError:
        pytest.fail("authlib is required (PY_TEST_PACKAGES in the Makefile pins it)")

    key = RSAKey.generate_key(2048)
    client_id = pkj_client(srv, key)
    token_endpoint = srv.issuer + "/token"
    session = OAuth2Session(client_id, key.as_pem(private=True).decode(), token_endpoint_auth_method="private_key_jwt", scope="accounts")
    session.register_client_auth_method(PrivateKeyJWT(token_endpoint, alg="PS256"))
    session.trust_env = False
    session.verify = str(pki / "ca.pem")
    session.cert = (str(pki / "tpp.pem"), str(pki / "tpp.key"))
    sent = []
    session.hooks["response"].append(lambda response, *args, **kwargs: sent.append(response))
    token = session.fetch_token(token_endpoint, grant_type="client_credentials")
    assert token["access_token"] and token["token_type"].lower() == "bearer"
    # what authlib sent: its stock exp = iat + 3600
    form = dict(urllib.parse.parse_qsl(sent[-1].request.body))
    payload = form["client_assertion"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] - claims["iat"] == 3600 and claims["aud"] == token_endpoint
    info = tpp(srv, pki).post("/introspect", {"token": token["access_token"]}).json()
    assert info["active"] and info["client_id"] == client_id


def test_client_assertion_lifetime_is_bounded_at_3600_seconds_and_its_jti_is_single_use(srv, pki):
    key = RSAKey.generate_key(2048)
    client_id = pkj_client(srv, key)
    client = tpp(srv, pki)

    def send(token):
        return client.token(client_assertion_type=JWT_BEARER, client_assertion=token)

    hour = assertion(key, "PS256", client_id, srv.issuer + "/token", lifetime=3600, jti="hour-" + uuid.uuid4().hex)
    first = send(hour)
    assert first.status_code == 200, first.text
    error(send(hour), "invalid_client", 401)  # replayed jti of an hour-long assertion
    error(send(assertion(key, "PS256", client_id, srv.issuer + "/token", lifetime=3700)), "invalid_client", 401)
    assert send(assertion(key, "PS256", client_id, srv.issuer + "/token", lifetime=3500)).status_code == 200


def test_client_assertion_max_lifetime_is_a_setting(make_daemon, pki):
    key = RSAKey.generate_key(2048)

    def sender(maximum):
        daemon = make_daemon(env={"FAPID_CLIENT_ASSERTION_MAX_LIFETIME_SECONDS": str(maximum)}).start()
        client_id = pkj_client(daemon, key)
        client = tpp(daemon, pki)
        return lambda lifetime: client.token(client_assertion_type=JWT_BEARER,
                                             client_assertion=assertion(key, "PS256", client_id, daemon.issuer, lifetime=lifetime))

    short = sender(600)
    error(short(3600), "invalid_client", 401)
    error(short(900), "invalid_client", 401)
    assert short(300).status_code == 200
    # above the old fixed 10 minutes and below the default hour: the setting, not a constant, decides
    medium = sender(1200)
    assert medium(900).status_code == 200
    error(medium(1500), "invalid_client", 401)


# --- 11. no SHA-1 in TLS 1.2 signatures --------------------------------------------------------------------------------

# OpenSSL 3 refuses SHA-1 signatures at security level 1 and above: level 0 lets our side offer (and use) them,
# so the only thing that can refuse SHA-1 in these handshakes is fapid.
LEGACY_CIPHERS = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0"


def s_client(daemon, *args, stdin=""):
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{daemon.port}", "-servername", "localhost", "-tls1_2",
                           "-cipher", LEGACY_CIPHERS, *args], input=stdin, capture_output=True, text=True, timeout=30)


def handshake_done(result):
    return result.returncode == 0 and re.search(r"Cipher is ECDHE-", result.stdout) is not None


def test_tls12_server_never_signs_with_sha1(srv, pki):
    control = s_client(srv, "-sigalgs", "RSA-PSS+SHA256:RSA+SHA256:ECDSA+SHA256", "-CAfile", str(pki / "ca.pem"))
    assert handshake_done(control), control.stdout + control.stderr
    sha1 = s_client(srv, "-sigalgs", "RSA+SHA1:ECDSA+SHA1")
    assert not handshake_done(sha1), sha1.stdout
    assert "Peer signing digest: SHA1" not in sha1.stdout


def test_tls12_certificate_request_lists_no_sha1(srv, pki):
    result = s_client(srv, "-cert", str(pki / "tpp.pem"), "-key", str(pki / "tpp.key"), "-CAfile", str(pki / "ca.pem"))
    assert handshake_done(result), result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if re.match(r"^(Shared )?(Requested )?Signature Algorithms:", line)]
    assert lines, "no CertificateRequest signature algorithms in:\n" + result.stdout
    requested = [line for line in lines if "Requested" in line] or lines
    for line in requested:
        assert "SHA1" not in line.upper().replace("-", ""), line
    assert "SHA256" in " ".join(requested)


def test_tls12_client_certificate_verify_with_sha1_gets_no_token(srv, pki):
    client_id = register(srv, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
                               "grant_types": ["client_credentials"], "scope": "accounts"})
    form = f"grant_type=client_credentials&client_id={client_id}&scope=accounts"
    request = (f"POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
               f"Content-Length: {len(form)}\r\nConnection: close\r\n\r\n{form}")

    def token_over(client_sigalgs):
        return s_client(srv, "-quiet", "-ign_eof", "-cert", str(pki / "tpp.pem"), "-key", str(pki / "tpp.key"),
                        "-client_sigalgs", client_sigalgs, stdin=request)

    control = token_over("RSA-PSS+SHA256:RSA+SHA256")
    assert control.stdout.startswith("HTTP/1.1 200") and '"access_token"' in control.stdout, control.stdout + control.stderr
    sha1 = token_over("RSA+SHA1")
    assert '"access_token"' not in sha1.stdout, sha1.stdout
    if sha1.stdout.startswith("HTTP/"):  # the handshake went through without a (SHA-1) client certificate
        assert sha1.stdout.startswith("HTTP/1.1 401") and "invalid_client" in sha1.stdout, sha1.stdout


# --- 12. HSTS on every HTTPS response ---------------------------------------------------------------------------------

def test_strict_transport_security_on_every_https_response(srv, pki):
    client = tpp(srv, pki)
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = str(pki / "ca.pem")
    responses = {
        "discovery": srv.get("/.well-known/openid-configuration"),
        "oauth metadata": srv.get("/.well-known/oauth-authorization-server"),
        "jwks": srv.get("/jwks"),
        "healthz": srv.get("/healthz"),
        "token error": client.post("/token", {"grant_type": "client_credentials"}),
        "par error": client.post("/par", {"client_id": "nobody"}),
        "register error": client.session.post(srv.base + "/register", data="x", headers={"Content-Type": "text/plain"}, timeout=10),
        "userinfo error": client.session.get(srv.base + "/userinfo", timeout=10),
        "authorize error page": browser.get(srv.base + "/authorize", timeout=10),
        "404": srv.get("/no-such-path"),
        "405": client.session.get(srv.base + "/token", timeout=10),
    }
    for name, response in responses.items():
        value = response.headers.get("Strict-Transport-Security")
        assert value, f"{name} ({response.status_code}) has no Strict-Transport-Security"
        match = re.match(r"\s*max-age=(\d+)", value, re.I)
        assert match and int(match.group(1)) > 0, f"{name}: {value}"
    assert responses["404"].status_code == 404


# --- 13. HTTP/1.0 connection semantics -------------------------------------------------------------------------------

def tls_connection(daemon):
    context = ssl.create_default_context(cafile=str(daemon.keys / "ca.pem"))
    raw = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
    return context.wrap_socket(raw, server_hostname="localhost")


def read_response(sock):
    """One response with a Content-Length body: (status line, headers, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "closed before a response: " + repr(data)
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    assert "content-length" in headers, "a persistent HTTP/1.0 response needs Content-Length: " + head.decode("latin-1")
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(4096)
        assert chunk, "closed inside the body"
        rest += chunk
    return lines[0], headers, rest[:length]


def test_http_1_0_without_keep_alive_is_answered_then_closed(srv):
    with tls_connection(srv) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        sock.settimeout(3)
        started, data = time.time(), b""
        try:
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pytest.fail(f"the connection was still open {time.time() - started:.1f} s after the HTTP/1.0 response: {data!r}")
        except (ConnectionResetError, ssl.SSLError):
            pass  # closed, if abruptly
    assert re.match(rb"HTTP/1\.[01] 200 ", data), data
    assert b'"status"' in data and b"ok" in data
    assert time.time() - started < 3


def test_http_1_0_with_keep_alive_echoes_it_and_stays_open(srv):
    with tls_connection(srv) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n")
            status, headers, body = read_response(sock)
            assert re.match(r"HTTP/1\.[01] 200 ", status), status
            assert "keep-alive" in headers.get("connection", "").lower(), headers
            assert json.loads(body)["status"] == "ok"
    # and HTTP/1.1 stays persistent by default
    with tls_connection(srv) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            status, _, _ = read_response(sock)
            assert status.startswith("HTTP/1.1 200"), status


@pytest.mark.parametrize("keep_alive", [False, True], ids=["close", "keep-alive"])
def test_apachebench_over_mtls_finishes_with_no_failed_requests(srv, pki, tmp_path, keep_alive):
    ab = shutil.which("ab")
    if ab is None:
        pytest.fail("ab is required (apt-get install apache2-utils)")
    combined = tmp_path / "tpp-with-key.pem"
    combined.write_text((pki / "tpp.pem").read_text() + (pki / "tpp.key").read_text())
    args = [ab, "-n", "100", "-c", "4", "-s", "10", "-f", "TLS1.2", "-E", str(combined)]
    if keep_alive:
        args.append("-k")
    started = time.time()
    try:
        result = subprocess.run(args + [f"https://127.0.0.1:{srv.port}/healthz"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("ab did not finish in 30 s: the server keeps HTTP/1.0 connections open")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"Complete requests:\s+100\b", output), output
    assert re.search(r"Failed requests:\s+0\b", output), output
    assert "Non-2xx responses" not in output, output
    if keep_alive:
        assert re.search(r"Keep-Alive requests:\s+[1-9]", output), output
    assert time.time() - started < 30


# --- 14. FAPID_DATABASE as a postgres:// URL ------------------------------------------------------------------------

def test_fapid_database_accepts_a_postgres_url(postgres_admin_url, make_daemon, pki):
    databases = SharedDatabase(make_daemon, postgres_admin_url)
    try:
        parts = urllib.parse.urlsplit(databases.database())
        # user:password@host:port/db, as DESIGN.md's contract spells it (the test cluster trusts loopback, so any password does)
        url = parts._replace(netloc=f"{parts.username or 'fapid'}:not-checked@{parts.hostname}:{parts.port}").geturl()
        daemon = make_daemon(env={"FAPID_DATABASE": url})
        daemon.env.pop("FAPID_STORAGE", None)
        daemon.env.pop("FAPID_DATABASE_URL", None)
        migrated = daemon.fapictl("migrate", check=False)
        assert migrated.returncode == 0, migrated.stderr
        daemon.start()
        health = daemon.get("/healthz")
        assert health.status_code == 200 and health.json()["database"] == "ok", health.text
        client_id = register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
                                      "grant_types": ["client_credentials"], "scope": "accounts"})
        token = tpp(daemon, pki).token(client_id, scope="accounts")
        assert token.status_code == 200, token.text
        assert not (daemon.workdir / "fapid.sqlite").exists()
        # the client is in PostgreSQL
        result = subprocess.run(["psql", url, "-qAtc", "SELECT count(*) FROM clients"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert int(result.stdout.strip()) >= 1
        assert daemon.stop() == 0
        assert "not-checked" not in daemon.log.read_text(), "the database password is in the log"
    finally:
        databases.close()


# --- 15. fapictl tables print whole ids --------------------------------------------------------------------------------

def test_fapictl_tables_print_whole_ids_that_show_accepts(srv):
    client_id = register(srv, {"client_name": "Table Test TPP", "token_endpoint_auth_method": "tls_client_auth",
                               "tls_client_auth_subject_dn": TPP_DN, "grant_types": ["client_credentials"], "scope": "accounts"})
    listed = srv.fapictl("clients", "list").stdout
    row = next(line for line in listed.splitlines() if "Table Test TPP" in line)
    copied = row.split()[0]
    assert copied == client_id, row
    assert json.loads(srv.fapictl("clients", "show", copied).stdout)["client_id"] == client_id

    added = json.loads(srv.fapictl("resource-servers", "add", "--name", "table-test-resource-server-with-a-long-name",
                                   "--subject-dn", "CN=table-test-rs,O=Bank,C=GB").stdout)
    servers = srv.fapictl("resource-servers", "list").stdout
    assert any(added["id"] in line.split() and "table-test-resource-server-with-a-long-name" in line.split() for line in servers.splitlines()), servers

    long_name = "psu." + "a" * 40 + "@bank.example"
    srv.fapictl("users", "add", long_name, input_text=PASSWORD + "\n")
    assert long_name in srv.fapictl("users", "list").stdout.split()

    kids = {key["kid"] for key in srv.get("/jwks").json()["keys"]}
    keys_table = srv.fapictl("keys", "list").stdout.split()
    assert kids <= set(keys_table), keys_table


# --- 16. a failed CIBA ping says why ---------------------------------------------------------------------------------------

def ping_log_lines(daemon, client_id, reason, deadline):
    """The log lines about the client's ping; waits (until `deadline`) for one that matches `reason`."""
    while True:
        lines = [line for line in daemon.log.read_text().splitlines() if client_id in line and re.search(r"ping|notif", line, re.I)]
        if any(re.search(reason, line, re.I) for line in lines) or time.time() > deadline:
            return lines
        time.sleep(0.2)


def test_failed_ciba_pings_name_the_reason_in_the_log(srv, pki, tmp_path):
    untrusted_cert = self_signed_certificate(tmp_path, "untrusted", "/CN=localhost")
    failing = https_server(pki / "server.pem", pki / "server.key", status=500, body=b'{"error":"boom"}')
    untrusted = https_server(*untrusted_cert, status=204, body=b"")
    closed_port = free_port()
    cases = {
        "connection refused": (f"https://localhost:{closed_port}/cb", r"refused|connect"),
        "TLS failure": (f"https://localhost:{untrusted.server_address[1]}/cb", r"tls|ssl|certificate|handshake|x509|verif"),
        "HTTP 500": (f"https://localhost:{failing.server_address[1]}/cb", r"\b500\b"),
    }
    try:
        clients = {}
        for name, (endpoint, _) in cases.items():
            client = CIBAClient(srv, pki, mode="ping", endpoint=endpoint)
            binding = "Ping " + uuid.uuid4().hex[:8]
            ack = client.authorize(client.signed(client_notification_token="notify-" + uuid.uuid4().hex, binding_message=binding))
            assert ack.status_code == 200, ack.text
            srv.fapictl("ciba", "approve", pending_id(srv, binding))
            clients[name] = client
        deadline = time.time() + 10
        for name, (endpoint, reason) in cases.items():
            lines = ping_log_lines(srv, clients[name].client_id, reason, deadline)
            assert lines, f"{name}: no log line about the ping of {clients[name].client_id}"
            assert any(re.search(reason, line, re.I) for line in lines), f"{name}: the log does not say why: {lines}"
        assert failing.RequestHandlerClass.seen, "the 500 endpoint was never called"
        assert not untrusted.RequestHandlerClass.seen, "fapid sent the ping to a server it must not trust"
    finally:
        failing.shutdown()
        untrusted.shutdown()


def test_ciba_ping_refused_by_the_outbound_address_policy_says_why(make_daemon, pki):
    daemon = make_daemon(env={"FAPID_OUTBOUND_ALLOW_PRIVATE_NETWORKS": "false"}).start()
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    listener = https_server(pki / "server.pem", pki / "server.key", status=204, body=b"")
    try:
        client = CIBAClient(daemon, pki, mode="ping", endpoint=f"https://localhost:{listener.server_address[1]}/cb")
        ack = client.authorize(client.signed(client_notification_token="notify-" + uuid.uuid4().hex, binding_message="Ping policy"))
        assert ack.status_code == 200, ack.text
        daemon.fapictl("ciba", "approve", pending_id(daemon, "Ping policy"))
        reason = r"address|private|public|policy|outbound"
        lines = ping_log_lines(daemon, client.client_id, reason, time.time() + 10)
        assert lines, "no log line about the ping"
        assert any(re.search(reason, line, re.I) for line in lines), lines
        assert not listener.RequestHandlerClass.seen
    finally:
        listener.shutdown()
