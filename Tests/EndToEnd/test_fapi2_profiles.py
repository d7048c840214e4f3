"""The per-client FAPI profile end to end (docs/profiles.md): chosen by fapictl clients add/update, by a trusted
directory's software statement, or by the server default (FAPID_FAPI_PROFILE); a FAPI 2.0 Security Profile client
(tls_client_auth, certificate-bound tokens) completing PAR with unsigned form parameters → sign-in → consent →
code (with iss) → token → refresh (not rotated) → userinfo, and a FAPI 1 Advanced hybrid client completing its
flow in the same daemon. Independent clients: requests and joserfc over real HTTPS."""
import base64
import hashlib
import json
import secrets
import subprocess
import time
import urllib.parse
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, import_key

from conformance_support import (REDIRECT_URIS, SCOPE, Browser, Client, FAPIClient, add_psu_and_resource_server, assert_error_page,
                                 assert_oauth_error, assert_par_response, assert_resource_works, assert_token_response, describe,
                                 is_redirect, start_daemon, stop_daemon)
from conftest import BIN
from tpp import TokenClient, issue_certificate

RS_DN = "CN=profiles-resource-server,O=Profiles Bank,C=GB"
ORG_ID = "0015800001041RbAAI"


@pytest.fixture(scope="module")
def profiles(tmp_path_factory, pki):
    daemon = start_daemon(tmp_path_factory, pki, "fapi2-profiles")
    add_psu_and_resource_server(daemon, RS_DN)
    try:
        yield daemon
    finally:
        stop_daemon(daemon)


def fapi2_client(daemon, pki, name, profile="fapi2-security-profile", **metadata):
    """A FAPI 2 tls_client_auth client registered by fapictl: code only, two redirect URIs, refresh tokens."""
    return Client(daemon, pki, daemon.workdir, name, auth="mtls", alg="ES256", metadata={
        "fapi_profile": profile, "redirect_uris": REDIRECT_URIS, "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], **metadata})


def pkce():
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def par_form(client, challenge, **overrides):
    form = {**client.auth_fields(), "response_type": "code", "redirect_uri": REDIRECT_URIS[0], "scope": SCOPE,
            "state": "state-" + secrets.token_urlsafe(8), "nonce": "nonce-" + secrets.token_urlsafe(8), "code_challenge": challenge,
            "code_challenge_method": "S256"}
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


def fapictl_json(daemon, *args, input_text=None):
    result = daemon.fapictl(*args, check=False, input_text=input_text)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- choosing the profile ------------------------------------------------------------------------------

def test_fapictl_add_and_update_set_the_profile(profiles, pki, tmp_path):
    base = {"client_name": "profile-tpp", "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": "CN=profile-tpp,O=Profile TPP,C=GB", "grant_types": ["authorization_code"],
            "redirect_uris": REDIRECT_URIS, "scope": SCOPE}
    # Without a profile: the server default, fapi1-advanced, stored and shown.
    fapi1 = fapictl_json(profiles, "clients", "add", input_text=json.dumps(base))
    assert fapi1["fapi_profile"] == "fapi1-advanced"
    added = fapictl_json(profiles, "clients", "add", input_text=json.dumps({**base, "fapi_profile": "fapi2-security-profile"}))
    assert added["fapi_profile"] == "fapi2-security-profile" and added["tls_client_certificate_bound_access_tokens"] is True
    # Update replaces the whole metadata and keeps the client_id: the shown JSON, edited, from a file.
    shown = fapictl_json(profiles, "clients", "show", added["client_id"])
    shown.update(fapi_profile="fapi2-message-signing", client_name="profile-tpp-ms")
    path = tmp_path / "client.json"
    path.write_text(json.dumps(shown))
    updated = fapictl_json(profiles, "clients", "update", added["client_id"], "--file", str(path))
    assert updated["client_id"] == added["client_id"] and updated["client_id_issued_at"] == added["client_id_issued_at"]
    assert updated["fapi_profile"] == "fapi2-message-signing" and updated["client_name"] == "profile-tpp-ms"
    assert fapictl_json(profiles, "clients", "show", added["client_id"])["fapi_profile"] == "fapi2-message-signing"
    # From stdin, moving the FAPI 1 client to FAPI 2.
    moved = fapictl_json(profiles, "clients", "update", fapi1["client_id"], input_text=json.dumps({**base, "fapi_profile": "fapi2-security-profile"}))
    assert moved["client_id"] == fapi1["client_id"] and moved["fapi_profile"] == "fapi2-security-profile"
    # A FAPI 2 client cannot have the hybrid flow: refused naming the field, nothing changed.
    hybrid = {**base, "fapi_profile": "fapi2-security-profile", "response_types": ["code id_token"]}
    refused = profiles.fapictl("clients", "update", added["client_id"], check=False, input_text=json.dumps(hybrid))
    assert refused.returncode != 0 and "response_types" in refused.stderr, refused.stderr
    assert fapictl_json(profiles, "clients", "show", added["client_id"])["fapi_profile"] == "fapi2-message-signing"
    other = profiles.fapictl("clients", "update", added["client_id"], check=False, input_text=json.dumps({**base, "client_id": fapi1["client_id"]}))
    assert other.returncode != 0 and "client_id" in other.stderr, other.stderr
    missing = profiles.fapictl("clients", "update", "no-such-client", check=False, input_text=json.dumps(base))
    assert missing.returncode != 0 and "no client" in missing.stderr, missing.stderr
    unknown = profiles.fapictl("clients", "add", check=False, input_text=json.dumps({**base, "fapi_profile": "fapi3"}))
    assert unknown.returncode != 0 and "fapi_profile" in unknown.stderr, unknown.stderr


def test_server_default_profile_from_the_environment(tmp_path_factory, pki):
    daemon = start_daemon(tmp_path_factory, pki, "fapi2-default", env={"FAPID_FAPI_PROFILE": "fapi2-security-profile"})
    try:
        metadata = {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=default-tpp,O=Default TPP,C=GB",
                    "grant_types": ["authorization_code"], "redirect_uris": REDIRECT_URIS, "scope": SCOPE}
        added = fapictl_json(daemon, "clients", "add", input_text=json.dumps(metadata))
        assert added["fapi_profile"] == "fapi2-security-profile"
        # The default is only a default: a named profile wins.
        named = fapictl_json(daemon, "clients", "add", input_text=json.dumps({**metadata, "fapi_profile": "fapi1-advanced",
                                                                            "response_types": ["code id_token"]}))
        assert named["fapi_profile"] == "fapi1-advanced"
        # Under the FAPI 2 default, hybrid registrations without a profile are refused.
        hybrid = daemon.fapictl("clients", "add", check=False, input_text=json.dumps({**metadata, "response_types": ["code id_token"]}))
        assert hybrid.returncode != 0 and "response_types" in hybrid.stderr
    finally:
        stop_daemon(daemon)
    bad = dict(daemon.env, FAPID_FAPI_PROFILE="fapi3")
    result = subprocess.run([str(BIN / "fapictl"), "clients", "list"], env=bad, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "fapi_profile" in result.stderr, result.stderr


def test_registration_software_statement_carries_the_profile(profiles, pki):
    key = import_key((pki / "directory.key").read_bytes())
    kid = json.loads((pki / "directory.jwks.json").read_text())["keys"][0]["kid"]
    software_key = ECKey.generate_key("P-256")
    now = int(time.time())

    def statement(**extra):
        claims = {"iss": "fapid development directory", "iat": now, "jti": str(uuid.uuid4()), "software_id": "sw-" + uuid.uuid4().hex[:8],
                  "org_id": ORG_ID, "software_roles": ["AISP"], "software_redirect_uris": REDIRECT_URIS,
                  "software_jwks": {"keys": [software_key.as_dict(private=False)]}, **extra}
        return jwt.encode({"alg": "PS256", "kid": kid, "typ": "JWT"}, claims, key, algorithms=["PS256"])

    http = TokenClient(profiles, (pki / "tpp.pem", pki / "tpp.key"))

    def register(body):
        return http.session.post(profiles.base + "/register", data=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=10)

    # The statement's fapi_profile overrides the request's (RFC 7591 §2.3).
    response = register({"software_statement": statement(fapi_profile="fapi2-message-signing"), "fapi_profile": "fapi2-security-profile",
                         "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]})
    assert response.status_code == 201, response.text
    assert response.json()["fapi_profile"] == "fapi2-message-signing"
    # A TPP cannot choose its own profile: without a statement value the request's is ignored and the server
    # default applies.
    response = register({"software_statement": statement(), "fapi_profile": "fapi2-security-profile", "grant_types": ["authorization_code"]})
    assert response.status_code == 201 and response.json()["fapi_profile"] == "fapi1-advanced", response.text
    response = register({"software_statement": statement(), "grant_types": ["authorization_code"]})
    assert response.status_code == 201 and response.json()["fapi_profile"] == "fapi1-advanced", response.text
    # A FAPI 2 statement with a hybrid registration is invalid_client_metadata.
    response = register({"software_statement": statement(fapi_profile="fapi2-security-profile"), "response_types": ["code id_token"]})
    assert_oauth_error(response, "invalid_client_metadata")
    assert "response_types" in response.json()["error_description"]


# --- flows in one daemon -----------------------------------------------------------------------------------

def test_fapi2_security_profile_flow_par_unsigned_to_userinfo(profiles, pki):
    client = fapi2_client(profiles, pki, "fapi2-sp-mtls")
    assert profiles.get("/.well-known/openid-configuration").json()["authorization_response_iss_parameter_supported"] is True
    verifier, challenge = pkce()
    form = par_form(client, challenge)
    pushed = client.post("/par", form)
    body = assert_par_response(pushed)
    assert body["expires_in"] < 600
    browser = Browser(profiles)
    # Only client_id and request_uri on the URL; a state there is ignored.
    page = browser.authorize([("client_id", client.client_id), ("request_uri", body["request_uri"]), ("state", "from-the-url")])
    final = browser.play(page)
    assert is_redirect(final), describe(final)
    location = urllib.parse.urlsplit(final.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URIS[0] and not location.fragment
    params = dict(urllib.parse.parse_qsl(location.query))
    assert set(params) == {"code", "state", "iss"}, params
    assert params["iss"] == profiles.issuer and params["state"] == form["state"]
    exchange = {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT_URIS[0], "code_verifier": verifier,
                **client.auth_fields()}
    tokens = assert_token_response(client.post("/token", exchange), client)
    assert tokens["id_token_claims"]["nonce"] == form["nonce"]
    assert_resource_works(client, tokens["access_token"])
    # Certificate-bound: another certificate cannot use it.
    stranger = TokenClient(profiles, issue_certificate(profiles.workdir / "certs", "stranger", "/C=GB/O=Stranger/CN=stranger",
                                                       pki / "ca.pem", pki / "ca.key"))
    assert client.userinfo(tokens["access_token"], session=stranger).status_code == 401
    # Refresh: not rotated (FAPI 2 SP §5.3.2.1), works again, needs the client's authentication.
    first = assert_token_response(client.refresh(tokens["refresh_token"]), client)
    assert "refresh_token" not in first
    again = assert_token_response(client.refresh(tokens["refresh_token"]), client)
    assert_resource_works(client, again["access_token"])
    assert client.refresh(tokens["refresh_token"], session=stranger).status_code in (400, 401)
    # The code was single use.
    assert_oauth_error(client.post("/token", exchange), "invalid_grant")


def test_fapi2_refuses_hybrid_and_requests_without_par(profiles, pki):
    client = fapi2_client(profiles, pki, "fapi2-sp-negative")
    verifier, challenge = pkce()
    for response_type in ("code id_token", "token"):
        assert_oauth_error(client.post("/par", par_form(client, challenge, response_type=response_type)), "invalid_request")
    assert_oauth_error(client.post("/par", par_form(client, challenge, code_challenge_method="plain", code_challenge=verifier)), "invalid_request")
    assert_oauth_error(client.post("/par", par_form(client, challenge, redirect_uri=None)), "invalid_request")
    # Straight to /authorize without PAR: an error page.
    query = {key: value for key, value in par_form(client, challenge).items() if not key.startswith("client_assertion")}
    assert_error_page(Browser(profiles).authorize(query), ["invalid_request"])
    # Message signing: an unsigned request at PAR is invalid_request.
    signing = fapi2_client(profiles, pki, "fapi2-ms-negative", profile="fapi2-message-signing")
    assert_oauth_error(signing.post("/par", par_form(signing, challenge)), "invalid_request")


def test_fapi1_hybrid_client_in_the_same_daemon(profiles, pki):
    fapi2_client(profiles, pki, "fapi2-beside-fapi1")
    client = FAPIClient(profiles, pki, profiles.workdir, "fapi1-hybrid", auth="mtls", alg="PS256", method="par")
    assert fapictl_json(profiles, "clients", "show", client.client_id)["fapi_profile"] == "fapi1-advanced"
    tokens = client.tokens(Browser(profiles))
    assert_resource_works(client, tokens["access_token"])
    # FAPI 1 keeps its rules: unsigned parameters at PAR are refused.
    _, challenge = pkce()
    assert_oauth_error(client.post("/par", par_form(client, challenge, response_type="code id_token")), "invalid_request")
