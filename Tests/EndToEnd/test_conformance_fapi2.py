"""Traceability to the OpenID Foundation conformance suite, FAPI 2.0 Security Profile Final
(fapi2-security-profile-final-test-plan) and FAPI 2.0 Message Signing Final (fapi2-message-signing-final-test-plan),
profile plain_fapi: one test per module of docs/conformance.md §3, named after the module, sending what the
module sends and accepting what it accepts (fapi2spfinal/*.java at the checklist's commit).

Variants, as an id `PROFILE-AUTH-SENDER`:
* PROFILE `sp` = client metadata `fapi_profile: fapi2-security-profile` (the SP plan: unsigned form parameters
  at PAR, plain `code` response in the query) | `ms` = `fapi2-message-signing` (the MS plan: a signed request
  object at PAR, JARM `response_mode=jwt`);
* AUTH `mtls` (tls_client_auth) | `pkjwt` (private_key_jwt, `aud` = the issuer);
* SENDER `mtls` (certificate-bound tokens, RFC 8705) | `dpop` (RFC 9449).
A module runs in every variant the suite runs it in where the variant changes what the server must do (token
endpoint, refresh, sender constraint: all eight); DPoP-only modules in the four dpop variants, private_key_jwt-only
modules in the four pkjwt variants; modules about the authorization request in one variant per profile
(`sp-mtls-mtls`, `ms-pkjwt-dpop`), since client authentication and sender constraint do not reach them; modules
that need a signed request object only in `ms`. `openid` (openid_connect) is the default; plain_oauth (no
`openid` scope, no id_token) runs in the happy flow.

One daemon serves the whole module and FAPI 1 Advanced clients beside the FAPI 2 ones (the done-when flows at
the end); a second one with short lifetimes (request_uri 5 s, authorization code 2 s) serves the two expiry
modules, which the suite runs by sleeping the full lifetime; a third demands DPoP server nonces
(dpop_nonce_required), so that the suite's use_dpop_nonce retry is taken (the `*_dpop_nonce` tests)."""
import json
import secrets
import time
import urllib.parse

import pytest
import requests

from conformance_fapi2_support import (DPOP_ERRORS, access_token_hash, FAPI2_ALGS, MESSAGE_SIGNING, OAUTH_SCOPE, SECURITY_PROFILE, DPoPKey, FAPI2Client,
                                       assert_fapi2_callback, assert_fapi2_par_response, assert_fapi2_resource_works, assert_fapi2_tls,
                                       assert_fapi2_token_response, break_signature, raw_request, rename_header_member, unsigned_jwt)
from conformance_support import (REDIRECT_URIS, Browser, Callback, FAPIClient, add_psu_and_resource_server, assert_error_members,
                                 assert_error_page, assert_oauth_error, assert_rejected, assert_resource_works, assert_token_response,
                                 describe, discovery, is_redirect, start_daemon, stop_daemon)
from tpp import JWT_BEARER, TokenClient, issue_certificate, thumbprint

RS_DN = "CN=conformance-resource-server,O=Conformance Bank,C=GB"
PROFILES = {"sp": SECURITY_PROFILE, "ms": MESSAGE_SIGNING, "cc": SECURITY_PROFILE}
ALL_VARIANTS = [f"{profile}-{auth}-{sender}" for profile in ("sp", "ms") for auth in ("mtls", "pkjwt") for sender in ("mtls", "dpop")]
DPOP_VARIANTS = [v for v in ALL_VARIANTS if v.endswith("-dpop")]
PKJWT_VARIANTS = [v for v in ALL_VARIANTS if "-pkjwt-" in v]
# Modules about the authorization request: one variant per profile.
REQUEST_VARIANTS = ["sp-mtls-mtls", "ms-pkjwt-dpop"]
MS_VARIANT = "ms-pkjwt-dpop"
# The SP plan's fapi_client_credentials_grant profile: client_credentials only, no authorization endpoint.
CC_VARIANTS = [f"cc-{auth}-{sender}" for auth in ("mtls", "pkjwt") for sender in ("mtls", "dpop")]
INVALID_REQUEST_OBJECT = ("invalid_request_object",)
MISSING_CLAIM_ERRORS = ("invalid_request", "invalid_request_object", "invalid_request_uri", "access_denied")


def parse(variant):
    profile, auth, sender = variant.split("-")
    return auth, sender, PROFILES[profile]


class Setup:
    """The module's daemon, PSU, resource server and client pairs (created on first use)."""

    def __init__(self, daemon, pki):
        self.daemon = daemon
        self.pki = pki
        self.workdir = daemon.workdir
        self.rs = TokenClient(daemon, issue_certificate(self.workdir / "certs", "rs", "/C=GB/O=Conformance Bank/CN=conformance-resource-server",
                                                        pki / "ca.pem", pki / "ca.key"))
        add_psu_and_resource_server(daemon, RS_DN)
        self.pairs = {}
        self.browser = Browser(daemon)

    def pair(self, variant):
        """(client1, client2) of one variant: ES256 and PS256 signing keys (and DPoP keys), their own certificates."""
        if variant not in self.pairs:
            auth, sender, profile = parse(variant)
            self.pairs[variant] = tuple(
                FAPI2Client(self.daemon, self.pki, self.workdir, f"fapi2-{variant}-client{n}", auth=auth, alg=alg, sender=sender,
                            profile=profile, dpop_alg=alg, client_credentials=variant.startswith("cc-"))
                for n, alg in ((1, "ES256"), (2, "PS256")))
        return self.pairs[variant]

    def client(self, variant, index=0):
        return self.pair(variant)[index]

    def introspect(self, token):
        response = self.rs.post("/introspect", {"token": token})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def fapi(tmp_path_factory, pki):
    daemon = start_daemon(tmp_path_factory, pki, "fapi2-conformance")
    try:
        yield Setup(daemon, pki)
    finally:
        stop_daemon(daemon)


@pytest.fixture(scope="module")
def short(tmp_path_factory, pki):
    """A daemon whose request_uris live 5 s and authorization codes 2 s (pushed_request_lifetime_seconds,
    authorization_code_lifetime_seconds), for the two modules that wait for an expiry."""
    daemon = start_daemon(tmp_path_factory, pki, "fapi2-short", env={"FAPID_PUSHED_REQUEST_LIFETIME_SECONDS": "5",
                                                                      "FAPID_AUTHORIZATION_CODE_LIFETIME_SECONDS": "2"})
    try:
        yield Setup(daemon, pki)
    finally:
        stop_daemon(daemon)


def endpoint(fapi, name):
    return discovery(fapi.daemon)[name]


def no_cert(call):
    """A call over TLS without the certificate the variant needs: a dropped connection (None) or the answer."""
    try:
        return call()
    except (requests.exceptions.SSLError, requests.exceptions.ConnectionError):
        return None


def refuse(fapi, variant, change, *, par_errors, redirect_errors, client_index=0, **send):
    """A request changed by `change(request, client)` (which may return a request object to push instead) must
    be refused: a PAR error from `par_errors`, an error page, or an error redirect from `redirect_errors`
    (invalid_request_uri too: with PAR, a request refused at /authorize is refused through its request_uri)."""
    client = fapi.client(variant, client_index)
    request = client.new_request()
    token = change(request, client)
    attempt = client.send(request, fapi.browser, token=token, **send)
    return assert_rejected(attempt, fapi.browser, par_errors=par_errors, redirect_errors=tuple(redirect_errors) + ("invalid_request_uri",))


def finish_and_exchange(fapi, client, request, attempt, **exchange):
    callback = attempt.finish(fapi.browser)
    params = assert_fapi2_callback(callback, request)
    return params, assert_fapi2_token_response(client.exchange(params["code"], request, **exchange), client, request=request)


def assert_bound(fapi, client, body, dpop_key):
    """Introspection (the resource server's view): active, this client, and bound to the DPoP key (cnf.jkt,
    token_type DPoP, RFC 9449 §6.2) or to the client's certificate (cnf.x5t#S256, RFC 8705 §3.2)."""
    info = fapi.introspect(body["access_token"])
    assert info["active"] is True and info["client_id"] == client.client_id, info
    if client.sender == "dpop":
        assert info["cnf"]["jkt"] == dpop_key.jkt, info
        assert info.get("token_type") == "DPoP", info
    else:
        assert info["cnf"]["x5t#S256"] == thumbprint(client.cert[0]), info
    return info


# === Happy path / must succeed =======================================================================

def test_fapi2_sp_final_discovery_endpoint_verification(fapi):
    response = fapi.daemon.get("/.well-known/openid-configuration")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    metadata = response.json()
    assert metadata["issuer"] == fapi.daemon.issuer
    assert "code" in metadata["response_types_supported"]
    assert metadata["pushed_authorization_request_endpoint"].startswith(fapi.daemon.issuer + "/")
    assert isinstance(metadata["require_pushed_authorization_requests"], bool)
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert "S256" in metadata["code_challenge_methods_supported"]
    # The issuer is the same in the OIDC and the RFC 8414 documents.
    oauth = fapi.daemon.get("/.well-known/oauth-authorization-server")
    assert oauth.status_code == 200 and oauth.json()["issuer"] == fapi.daemon.issuer
    for name in ("id_token_signing_alg_values_supported", "token_endpoint_auth_signing_alg_values_supported", "dpop_signing_alg_values_supported"):
        assert metadata[name] and set(metadata[name]) <= set(FAPI2_ALGS), (name, metadata[name])
    assert {"tls_client_auth", "private_key_jwt"} <= set(metadata["token_endpoint_auth_methods_supported"])
    assert metadata["tls_client_certificate_bound_access_tokens"] is True
    assert metadata["jwks_uri"].startswith(fapi.daemon.issuer + "/")
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint"):
        assert metadata[name].startswith(fapi.daemon.issuer + "/"), name
    for name in ("ui_locales_supported", "claims_locales_supported"):
        for tag in metadata.get(name, []):
            assert isinstance(tag, str) and tag.replace("-", "").isalnum(), (name, tag)
    for scope in metadata.get("scopes_supported", []):
        assert scope and all(c == "\x21" or "\x23" <= c <= "\x5b" or "\x5d" <= c <= "\x7e" for c in scope), scope  # RFC 6749 §3.3


HAPPY = [pytest.param(v, True, id=f"{v}-openid") for v in ALL_VARIANTS] + \
        [pytest.param(v, False, id=f"{v}-plain_oauth") for v in ("sp-mtls-mtls", "ms-pkjwt-dpop")]


@pytest.mark.parametrize("variant,openid", HAPPY)
def test_fapi2_sp_final_happy_flow(fapi, variant, openid):
    """Both clients, the second with the redirect URI that has a query and its parameters in reverse order;
    the token is sender-constrained, refused from another client and in the query string."""
    happy_flow(fapi, variant, openid)


def happy_flow(fapi, variant, openid):
    client1, client2 = fapi.pair(variant)
    flows = {}
    for client, redirect_uri, reverse in ((client1, REDIRECT_URIS[0], False), (client2, REDIRECT_URIS[1], True)):
        request, callback, params = client.run_flow(fapi.browser, openid=openid, redirect_uri=redirect_uri, reverse=reverse)
        body = assert_fapi2_token_response(client.exchange(params["code"], request), client, request=request)
        if not openid:
            assert set(body.get("scope", OAUTH_SCOPE).split()) == set(OAUTH_SCOPE.split())
        assert_bound(fapi, client, body, request.dpop)
        if openid:
            assert_fapi2_resource_works(client, body["access_token"], request.dpop)
        flows[client.name] = (request, body)
    request1, body1 = flows[client1.name]
    request2, body2 = flows[client2.name]
    if openid:
        # Client 1 (its certificate, or its DPoP key) with client 2's token.
        stolen = client1.userinfo(body2["access_token"], dpop_key=request1.dpop)
        assert 400 <= stolen.status_code < 500, stolen.text
        # The access token in the query string is refused by the resource.
        query = client1.resource_session.session.get(fapi.daemon.base + "/userinfo", params={"access_token": body1["access_token"]}, timeout=10)
        assert 400 <= query.status_code < 500, query.text
    for name in ("authorization_endpoint", "token_endpoint", "pushed_authorization_request_endpoint", "userinfo_endpoint"):
        assert_fapi2_tls(endpoint(fapi, name), fapi.daemon.keys / "ca.pem")


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_user_rejects_authentication(fapi, variant):
    client = fapi.client(variant)
    request = client.new_request()
    callback = client.send(request, fapi.browser).finish(fapi.browser, decision="deny")
    assert callback.redirected, describe(callback.response)
    assert callback.params["error"] == "access_denied" and callback.params["state"] == request.state
    assert "code" not in callback.params and not {"code", "error"} & callback.fragment.keys()
    # iss in every authorization response, errors included (RFC 9207 §2).
    if request.jarm:
        assert callback.jarm is not None and callback.jarm.claims["iss"] == fapi.daemon.issuer
    else:
        assert callback.params.get("iss") == fapi.daemon.issuer, callback.params
    assert_error_members(callback.params)


def test_fapi2_sp_final_ensure_server_accepts_request_object_with_multiple_aud(fapi):
    client = fapi.client(MS_VARIANT)
    request = client.new_request()
    request.jwt_claims["aud"] = [fapi.daemon.issuer, "https://junk.example.com"]
    finish_and_exchange(fapi, client, request, client.send(request, fapi.browser))


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_ensure_authorization_request_without_state_success(fapi, variant):
    client = fapi.client(variant)
    request = client.new_request().drop("state")
    attempt = client.send(request, fapi.browser)
    assert not any(name == "state" for name, _ in attempt.query)
    params, _ = finish_and_exchange(fapi, client, request, attempt)
    assert "state" not in params


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_ensure_authorization_request_without_nonce_success(fapi, variant):
    client = fapi.client(variant)
    request = client.new_request().drop("nonce")
    _, body = finish_and_exchange(fapi, client, request, client.send(request, fapi.browser))
    assert "nonce" not in body["id_token_claims"]


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_ensure_authorization_request_with64_char_nonce_success(fapi, variant):
    """Required here (FAPI 2 SP §5.3.2.2: a 64-character nonce must be accepted), returned unchanged."""
    client = fapi.client(variant)
    request = client.new_request().set(nonce=secrets.token_hex(32))
    _, body = finish_and_exchange(fapi, client, request, client.send(request, fapi.browser))
    assert body["id_token_claims"]["nonce"] == request.nonce and len(request.nonce) == 64


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_ensure_other_scope_order_succeeds(fapi, variant):
    client = fapi.client(variant)
    request = client.new_request().set(scope="accounts openid")
    finish_and_exchange(fapi, client, request, client.send(request, fapi.browser))


# OIDC Core §5.1: the standard identity claims (CheckIfOidcStandardClaimsSupported looks for these).
STANDARD_CLAIMS = {"name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile", "picture", "website",
                   "email", "email_verified", "gender", "birthdate", "zoneinfo", "locale", "phone_number", "phone_number_verified",
                   "address", "updated_at"}


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_test_claims_parameter_identity_claims(fapi, variant):
    """Optional module: when `claims_parameter_supported`, every identity claim of `claims_supported` asked for
    through `claims` comes back in the id_token or userinfo, and unknown claims are ignored. The suite skips it
    when the parameter or the standard identity claims are not offered; the request must then still succeed."""
    metadata = discovery(fapi.daemon)
    identity = [claim for claim in metadata.get("claims_supported", []) if claim in STANDARD_CLAIMS]
    client = fapi.client(variant)
    asked = {claim: None for claim in identity}
    asked["unknown_claim_" + secrets.token_hex(4)] = None
    request = client.new_request()
    # OIDC Core §5.5: a JSON object inside a request object, its JSON text as a form parameter.
    request.ro["claims"] = {"id_token": asked, "userinfo": asked} if request.signed else json.dumps({"id_token": asked, "userinfo": asked})
    _, body = finish_and_exchange(fapi, client, request, client.send(request, fapi.browser))
    info = assert_fapi2_resource_works(client, body["access_token"], request.dpop).json()
    if metadata.get("claims_parameter_supported") and identity:
        missing = [claim for claim in identity if claim not in body["id_token_claims"] and claim not in info]
        assert not missing, missing
    assert not any(name.startswith("unknown_claim_") for name in list(body["id_token_claims"]) + list(info))


@pytest.mark.parametrize("variant", ["sp-mtls-mtls", "sp-pkjwt-dpop", "ms-mtls-dpop", "ms-pkjwt-mtls"])
def test_fapi2_sp_final_access_token_type_header_case_sensitivity(fapi, variant):
    """RFC 9110 §11.1: the scheme (Bearer, or DPoP) in any case."""
    client = fapi.client(variant)
    request, body = client.tokens(fapi.browser)
    scheme = "DPoP" if client.sender == "dpop" else "Bearer"
    for variant_scheme in (scheme.lower(), scheme.upper(), scheme):
        response = client.userinfo(body["access_token"], dpop_key=request.dpop, scheme=variant_scheme)
        assert response.status_code == 200, (variant_scheme, response.status_code, response.text)


def test_fapi2_sp_final_ensure_request_object_with_nbf8_seconds_in_the_future_is_accepted(fapi):
    client = fapi.client(MS_VARIANT)
    request = client.new_request()
    request.jwt_claims["nbf"] = int(time.time()) + 8
    finish_and_exchange(fapi, client, request, client.send(request, fapi.browser))


# === DPoP: must succeed =====================================================================================

def dpop_flow(fapi, variant, *, iat_offset=0, extra_claims=None, dpop_jkt=False, at_par=True):
    """A full flow in which every proof (PAR, token, resource) carries `iat_offset` and `extra_claims`."""
    client = fapi.client(variant)
    request = client.new_request()
    key = request.dpop
    if dpop_jkt:
        request.set(dpop_jkt=key.jkt)
    url = client.url

    def proof(method, path, **more):
        return lambda nonce: key.proof(method, url(path), nonce=nonce, iat_offset=iat_offset, claims=extra_claims, **more)

    attempt = client.send(request, fapi.browser, dpop=at_par, proof=proof("POST", "/par"))
    params = assert_fapi2_callback(attempt.finish(fapi.browser), request)
    body = assert_fapi2_token_response(client.exchange(params["code"], request, make_proof=proof("POST", "/token")), client, request=request)
    assert_bound(fapi, client, body, key)
    response = client.userinfo(body["access_token"], dpop_key=key, make_proof=proof("GET", "/userinfo", access_token=body["access_token"]))
    assert response.status_code == 200, f"HTTP {response.status_code} {response.headers.get('WWW-Authenticate')} {response.text}"
    return client, request, body


@pytest.mark.parametrize("variant", DPOP_VARIANTS)
def test_fapi2_sp_final_check_dpop_proof_nbf_exp(fapi, variant):
    now = int(time.time())
    dpop_flow(fapi, variant, extra_claims={"nbf": now, "exp": now + 300}, at_par=False)


@pytest.mark.parametrize("variant", DPOP_VARIANTS)
def test_fapi2_sp_final_ensure_dpop_proof_with_iat10_seconds_before_succeeds(fapi, variant):
    dpop_flow(fapi, variant, iat_offset=-10)


@pytest.mark.parametrize("variant", DPOP_VARIANTS)
def test_fapi2_sp_final_ensure_dpop_proof_with_iat10_seconds_after_succeeds(fapi, variant):
    # The module sends iat 8 s ahead (SetDpopIatTo8SecondsInFuture), within FAPI 2 SP §5.3.2.1-13's 10 s.
    dpop_flow(fapi, variant, iat_offset=8)


@pytest.mark.parametrize("variant", DPOP_VARIANTS)
def test_fapi2_sp_final_ensure_dpop_proof_at_par_endpoint_binding_success(fapi, variant):
    dpop_flow(fapi, variant, at_par=True)


@pytest.mark.parametrize("variant", DPOP_VARIANTS)
def test_fapi2_sp_final_ensure_dpop_auth_code_binding_success(fapi, variant):
    dpop_flow(fapi, variant, dpop_jkt=True, at_par=True)


# === DPoP: authorization code binding negatives (RFC 9449 §10.1) ==============================================

@pytest.mark.parametrize("variant", DPOP_VARIANTS)
def test_fapi2_sp_final_ensure_mismatched_dpop_jkt_fails(fapi, variant):
    """dpop_jkt names another key than the PAR proof's: PAR must refuse (only a PAR error is accepted)."""
    client = fapi.client(variant)
    request = client.new_request().set(dpop_jkt=DPoPKey().jkt)
    pushed = client.push(request, dpop=True)
    assert_oauth_error(pushed, ("invalid_request", "invalid_dpop_proof"))


@pytest.mark.parametrize("variant", DPOP_VARIANTS)
def test_fapi2_sp_final_ensure_token_endpoint_fails_with_mismatched_dpop_proof_jkt(fapi, variant):
    client = fapi.client(variant)
    request = client.new_request()
    params = assert_fapi2_callback(client.send(request, fapi.browser, dpop=True).finish(fapi.browser), request)
    response = client.exchange(params["code"], request, dpop_key=DPoPKey())  # another key than at PAR
    assert_oauth_error(response, DPOP_ERRORS)


@pytest.mark.parametrize("variant", DPOP_VARIANTS)
def test_fapi2_sp_final_ensure_token_endpoint_fails_with_mismatched_dpop_jkt(fapi, variant):
    client = fapi.client(variant)
    request = client.new_request().set(dpop_jkt=DPoPKey().jkt)  # no proof at PAR; dpop_jkt of a key never used
    params = assert_fapi2_callback(client.send(request, fapi.browser).finish(fapi.browser), request)
    assert_oauth_error(client.exchange(params["code"], request), DPOP_ERRORS)


# === "Possible failure": either outcome passes ===========================================================

def success_or_invalid_request(fapi, client, request, attempt):
    """The accepted outcomes of a possible-failure module: success (returned to the caller), or invalid_request
    from PAR, on an error page or in an error redirect (None)."""
    if attempt.refused_at_par:
        assert_oauth_error(attempt.par, "invalid_request")
        return None
    final = fapi.browser.play(attempt.page)
    if not is_redirect(final):
        assert_error_page(final, ("invalid_request",))
        return None
    callback = Callback(final, request)
    if "error" in callback.params:
        assert callback.params["error"] == "invalid_request" and callback.params.get("state") == request.state
        assert_error_members(callback.params)
        return None
    params = assert_fapi2_callback(callback, request)
    return params, assert_fapi2_token_response(client.exchange(params["code"], request), client, request=request)


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_ensure_different_nonce_inside_and_outside_request_object(fapi, variant):
    """The PAR nonce is used, never the one on the URL; or invalid_request."""
    client = fapi.client(variant)
    request = client.new_request()
    request.params["nonce"] = "outside-" + secrets.token_urlsafe(12)
    attempt = client.send(request, fapi.browser)
    assert ("nonce", request.params["nonce"]) in attempt.query
    result = success_or_invalid_request(fapi, client, request, attempt)
    if result:
        assert result[1]["id_token_claims"]["nonce"] == request.ro["nonce"]


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_ensure_different_state_inside_and_outside_request_object(fapi, variant):
    client = fapi.client(variant)
    request = client.new_request()
    request.params["state"] = "outside-" + secrets.token_urlsafe(12)
    attempt = client.send(request, fapi.browser)
    assert ("state", request.params["state"]) in attempt.query
    result = success_or_invalid_request(fapi, client, request, attempt)
    if result:
        assert result[0]["state"] == request.ro["state"]


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_ensure_authorization_request_with_long_nonce(fapi, variant):
    client = fapi.client(variant)
    request = client.new_request().set(nonce=secrets.token_hex(192))  # 384 characters
    result = success_or_invalid_request(fapi, client, request, client.send(request, fapi.browser))
    if result:
        assert result[1]["id_token_claims"]["nonce"] == request.nonce


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_ensure_authorization_request_with_long_state(fapi, variant):
    client = fapi.client(variant)
    request = client.new_request().set(state=secrets.token_hex(500))  # 1000 characters, as the module sends
    result = success_or_invalid_request(fapi, client, request, client.send(request, fapi.browser))
    if result:
        assert result[0]["state"] == request.state


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_state_only_outside_request_object_not_used(fapi, variant):
    """state only on the URL is ignored: success returning no state, or a refusal."""
    client = fapi.client(variant)
    request = client.new_request()
    request.ro.pop("state")
    attempt = client.send(request, fapi.browser)
    assert ("state", request.params["state"]) in attempt.query
    if attempt.refused_at_par:
        assert_oauth_error(attempt.par, ("invalid_request", "invalid_request_object", "access_denied"))
        return
    final = fapi.browser.play(attempt.page)
    if not is_redirect(final):
        assert_error_page(final)
        return
    callback = Callback(final, request)
    if "error" in callback.params:
        assert callback.params["error"] in ("invalid_request", "invalid_request_object", "access_denied")
        return
    params = assert_fapi2_callback(callback, request)  # request.state is None: no state
    assert "state" not in params and "state" not in callback.query


# === Negative tests: request object (message signing only) ================================================

def signed_change(**claims):
    def change(request, _):
        request.jwt_claims.update(claims)
    return change


def without_claims(*names):
    def change(request, _):
        for name in names:
            request.jwt_claims.pop(name, None)
    return change


def test_fapi2_sp_final_ensure_request_object_without_exp_fails(fapi):
    refuse(fapi, MS_VARIANT, without_claims("exp"), par_errors=INVALID_REQUEST_OBJECT, redirect_errors=MISSING_CLAIM_ERRORS)


def test_fapi2_sp_final_ensure_request_object_without_nbf_fails(fapi):
    refuse(fapi, MS_VARIANT, without_claims("nbf"), par_errors=INVALID_REQUEST_OBJECT, redirect_errors=MISSING_CLAIM_ERRORS)


def test_fapi2_sp_final_ensure_expired_request_object_fails(fapi):
    refuse(fapi, MS_VARIANT, signed_change(exp=int(time.time()) - 3600), par_errors=INVALID_REQUEST_OBJECT, redirect_errors=INVALID_REQUEST_OBJECT)


def test_fapi2_sp_final_ensure_request_object_with_bad_aud_fails(fapi):
    refuse(fapi, MS_VARIANT, signed_change(aud="https://www.other1.example.com/"), par_errors=INVALID_REQUEST_OBJECT,
           redirect_errors=INVALID_REQUEST_OBJECT)


def test_fapi2_sp_final_ensure_request_object_with_exp_over60_fails(fapi):
    def change(request, _):
        request.jwt_claims["exp"] = request.jwt_claims["nbf"] + 70 * 60

    refuse(fapi, MS_VARIANT, change, par_errors=INVALID_REQUEST_OBJECT, redirect_errors=INVALID_REQUEST_OBJECT)


def test_fapi2_sp_final_ensure_request_object_with_nbf_over60_fails(fapi):
    refuse(fapi, MS_VARIANT, signed_change(nbf=int(time.time()) - 70 * 60), par_errors=INVALID_REQUEST_OBJECT,
           redirect_errors=INVALID_REQUEST_OBJECT)


def test_fapi2_sp_final_ensure_signed_request_object_with_rs256_fails(fapi):
    # Client 2 holds an RSA key: its own key, with the algorithm FAPI forbids.
    refuse(fapi, MS_VARIANT, lambda request, client: request.request_object(alg="RS256"), client_index=1,
           par_errors=INVALID_REQUEST_OBJECT, redirect_errors=INVALID_REQUEST_OBJECT)


def test_fapi2_sp_final_ensure_request_object_signature_algorithm_is_not_none(fapi):
    refuse(fapi, MS_VARIANT, lambda request, _: unsigned_jwt({"alg": "none"}, {**request.ro, **request.jwt_claims}),
           par_errors=INVALID_REQUEST_OBJECT, redirect_errors=INVALID_REQUEST_OBJECT)


def test_fapi2_sp_final_ensure_request_object_with_invalid_signature_fails(fapi):
    refuse(fapi, MS_VARIANT, lambda request, _: break_signature(request.request_object()),
           par_errors=INVALID_REQUEST_OBJECT, redirect_errors=INVALID_REQUEST_OBJECT)


def test_fapi2_sp_final_ensure_matching_key_in_authorization_request(fapi):
    other = fapi.client(MS_VARIANT, 1)
    refuse(fapi, MS_VARIANT, lambda request, _: request.request_object(key=other.key, alg=other.alg),
           par_errors=("invalid_request", "invalid_request_object"), redirect_errors=INVALID_REQUEST_OBJECT)


def test_fapi2_sp_final_ensure_unsigned_request_at_par_endpoint_fails(fapi):
    """A message-signing client pushing plain form parameters: PAR invalid_request (EnsurePARInvalidRequestError),
    or a refusal at the authorization endpoint."""
    refuse(fapi, MS_VARIANT, lambda request, _: None, unsigned=True, par_errors=("invalid_request",),
           redirect_errors=("invalid_request", "invalid_request_object"))


def test_fapi2_sp_final_par_reject_request_uri_in_par_authorization_request(fapi):
    client = fapi.client(MS_VARIANT)
    request = client.new_request()
    request.ro["request_uri"] = "urn:ietf:params:oauth:request_uri:" + secrets.token_urlsafe(32)
    assert_oauth_error(client.push(request), ("invalid_request_object", "invalid_request"))


# === Negative tests: authorization request ==================================================================

@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_ensure_request_object_without_redirect_uri_fails(fapi, variant):
    """redirect_uri missing from what is pushed (the URL keeps it); two URIs are registered, so no fallback."""
    def change(request, _):
        request.ro.pop("redirect_uri")

    refuse(fapi, variant, change, par_errors=("invalid_request", "invalid_request_object"),
           redirect_errors=("invalid_request", "invalid_request_object"))


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_tolerate_unregistered_redirect_uri(fapi, variant):
    """A redirect_uri the client never registered (the registered one with a suffix, CreateBadRedirectUriByAppending),
    sent through authenticated PAR: accepted (RFC 9126 §2.4: the flow then completes to that URI), or refused
    at PAR or with an error page, never a redirect to a registered URI."""
    client = fapi.client(variant)
    unregistered = REDIRECT_URIS[0] + "/unregistered-" + secrets.token_hex(4)
    request = client.new_request(redirect_uri=unregistered)
    attempt = client.send(request, fapi.browser)
    if attempt.refused_at_par:
        assert_oauth_error(attempt.par, ("invalid_request", "invalid_request_object"))
        return
    final = fapi.browser.play(attempt.page)
    if not is_redirect(final):
        assert_error_page(final)
        return
    callback = Callback(final, request)  # checks the redirect goes to the requested URI
    params = assert_fapi2_callback(callback, request)
    assert_fapi2_token_response(client.exchange(params["code"], request), client, request=request)


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_ensure_unsigned_authorization_request_without_using_par_fails(fapi, variant):
    client = fapi.client(variant)
    request = client.new_request()
    final = fapi.browser.play(fapi.browser.authorize(sorted(request.params.items())))  # every parameter on the URL, no PAR
    if is_redirect(final):
        callback = Callback(final, request)
        assert "code" not in callback.params and callback.params.get("error") == "invalid_request", final.headers["Location"]
        assert_error_members(callback.params)
    else:
        assert_error_page(final)


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_ensure_redirect_uri_in_authorization_request(fapi, variant):
    def change(request, _):
        request.drop("redirect_uri")

    refuse(fapi, variant, change, par_errors=("invalid_request", "invalid_request_object"), redirect_errors=())


def response_type_refused(fapi, variant, response_type):
    client = fapi.client(variant)
    request = client.new_request().set(response_type=response_type)
    attempt = client.send(request, fapi.browser)
    if attempt.refused_at_par:
        assert_oauth_error(attempt.par, ("unsupported_response_type", "invalid_request", "unauthorized_client"))
        return
    final = fapi.browser.play(attempt.page)
    if not is_redirect(final):
        assert_error_page(final)
        return
    callback = Callback(final, request)
    assert not {"code", "access_token", "id_token"} & (callback.query.keys() | callback.fragment.keys() | callback.params.keys()), final.headers["Location"]
    assert callback.params.get("error") in ("unsupported_response_type", "invalid_request"), final.headers["Location"]
    assert callback.params.get("state") == request.state
    assert_error_members(callback.params)


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_ensure_response_type_code_id_token_fails(fapi, variant):
    response_type_refused(fapi, variant, "code id_token")


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_ensure_response_type_token_fails(fapi, variant):
    response_type_refused(fapi, variant, "token")


# === Negative tests: token endpoint =========================================================================

@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_fapi2_sp_final_ensure_client_id_in_token_endpoint(fapi, variant):
    """Client 2's client_id with client 1's code: mtls with client 1's certificate; private_key_jwt with an
    assertion naming client 2, signed with client 1's key."""
    client1, client2 = fapi.pair(variant)
    request, _, params = client1.run_flow(fapi.browser)
    if client1.auth == "mtls":
        credentials = {"client_id": client2.client_id}
    else:
        credentials = lambda: {"client_id": client2.client_id, "client_assertion_type": JWT_BEARER,
                               "client_assertion": client1.assertion(fapi.daemon.issuer, iss=client2.client_id, sub=client2.client_id)}
    assert_oauth_error(client1.exchange(params["code"], request, auth=credentials), ("invalid_client", "invalid_grant"))


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_fapi2_sp_final_ensure_holder_of_key_required(fapi, variant):
    """TLS checks on every endpoint; the token request without the sender-constraint proof fails: no
    certificate (mtls: a dropped connection or invalid_client/invalid_request/invalid_grant), or no DPoP header."""
    for name in ("authorization_endpoint", "token_endpoint", "pushed_authorization_request_endpoint", "userinfo_endpoint"):
        assert_fapi2_tls(endpoint(fapi, name), fapi.daemon.keys / "ca.pem")
    client, _ = fapi.pair(variant)
    request, _, params = client.run_flow(fapi.browser)
    if client.sender == "mtls":
        response = no_cert(lambda: client.exchange(params["code"], request, session=client.nocert))
        if response is not None:
            assert_oauth_error(response, ("invalid_client", "invalid_request", "invalid_grant"))
    else:
        assert_oauth_error(client.exchange(params["code"], request, proof=False), DPOP_ERRORS)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_fapi2_sp_final_ensure_authorization_code_is_bound_to_client(fapi, variant):
    client1, client2 = fapi.pair(variant)
    request, _, params = client1.run_flow(fapi.browser)
    assert_oauth_error(client2.exchange(params["code"], request), "invalid_grant")


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_fapi2_sp_final_attempt_reuse_authorization_code_after_one_second(fapi, variant):
    client, _ = fapi.pair(variant)
    request, _, params = client.run_flow(fapi.browser)
    first = assert_fapi2_token_response(client.exchange(params["code"], request), client, request=request)
    time.sleep(1)
    assert_oauth_error(client.exchange(params["code"], request), "invalid_grant")
    # The first tokens should be revoked (a warning in the suite; fapid revokes them) [FAPI2-SP-FINAL-5.3.2.2-9].
    assert fapi.introspect(first["access_token"]) == {"active": False}


@pytest.mark.parametrize("variant", ["sp-mtls-mtls", "ms-pkjwt-dpop"])
def test_fapi2_sp_final_attempt_to_use_expired_auth_code(short, variant):
    """A code first used after its lifetime → invalid_grant. The suite waits 62 s for the 60 s bound
    (FAPI 2 SP §5.3.2.1-11); here the daemon's authorization_code_lifetime_seconds is 2 and the test waits 3 s:
    the same rule (a code is refused once its lifetime is over), without a minute's sleep. The 60 s bound
    itself is the setting's range (1 to 60, docs/operations.md)."""
    client = short.client(variant)
    request, _, params = client.run_flow(short.browser)
    time.sleep(3)
    response = client.exchange(params["code"], request)
    assert_oauth_error(response, "invalid_grant", status=400)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_fapi2_sp_final_par_ensure_pkce_code_verifier_required(fapi, variant):
    client = fapi.client(variant)
    request, _, params = client.run_flow(fapi.browser)
    assert_oauth_error(client.exchange(params["code"], request, drop=("code_verifier",)), "invalid_grant")


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_par_incorrect_pkce_code_verifier_rejected(fapi, variant):
    client = fapi.client(variant)
    request, _, params = client.run_flow(fapi.browser)
    response = client.exchange(params["code"], request, overrides={"code_verifier": secrets.token_urlsafe(48)})
    assert_oauth_error(response, "invalid_grant")


# === private_key_jwt modules ==================================================================================

def pkjwt_code(fapi, variant, index=0):
    client = fapi.client(variant, index)
    request, _, params = client.run_flow(fapi.browser)
    return client, request, params["code"]


@pytest.mark.parametrize("variant", PKJWT_VARIANTS)
def test_fapi2_sp_final_ensure_signed_client_assertion_with_rs256_fails(fapi, variant):
    client, request, code = pkjwt_code(fapi, variant, index=1)  # client 2's RSA key, signing RS256
    response = client.exchange(code, request, auth=lambda: client.auth_fields(alg="RS256"))
    assert_oauth_error(response, "invalid_client")


@pytest.mark.parametrize("variant", PKJWT_VARIANTS)
def test_fapi2_sp_final_ensure_client_assertion_in_token_endpoint(fapi, variant):
    client, request, code = pkjwt_code(fapi, variant)
    assert_oauth_error(client.exchange(code, request, auth={"client_id": client.client_id}), ("invalid_client", "invalid_request"))


@pytest.mark.parametrize("variant", PKJWT_VARIANTS)
def test_fapi2_sp_final_ensure_client_assertion_with_exp_is5_minutes_in_past_fails(fapi, variant):
    client, request, code = pkjwt_code(fapi, variant)
    response = client.exchange(code, request, auth=lambda: client.auth_fields(iat_offset=-360, lifetime=60))  # exp 5 minutes ago
    assert_oauth_error(response, ("invalid_client", "invalid_request"))


@pytest.mark.parametrize("variant", PKJWT_VARIANTS)
def test_fapi2_sp_final_ensure_client_assertion_with_wrong_aud_fails(fapi, variant):
    client, request, code = pkjwt_code(fapi, variant)
    response = client.exchange(code, request, auth=lambda: client.auth_fields(aud="https://fapidev-rs.authlete.net/api/userinfo"))
    assert_oauth_error(response, ("invalid_client", "invalid_request"))


@pytest.mark.parametrize("variant", PKJWT_VARIANTS)
def test_fapi2_sp_final_ensure_client_assertion_with_no_sub_fails(fapi, variant):
    client, request, code = pkjwt_code(fapi, variant)
    response = client.exchange(code, request, auth=lambda: client.auth_fields(drop=("sub",)))
    assert_oauth_error(response, ("invalid_client", "invalid_request"))


def par_with_assertion(fapi, variant, **assertion):
    client = fapi.client(variant)
    request = client.new_request()
    return client.push(request, auth=lambda: client.auth_fields(**assertion))


@pytest.mark.parametrize("variant", PKJWT_VARIANTS)
def test_fapi2_sp_final_par_ensure_jwt_client_assertion_with_iat_nbf8_seconds_in_the_future_is_accepted(fapi, variant):
    now = int(time.time())
    assert_fapi2_par_response(par_with_assertion(fapi, variant, iat=now + 8, nbf=now + 8, exp=now + 68))


@pytest.mark.parametrize("variant", PKJWT_VARIANTS)
def test_fapi2_sp_final_par_ensure_jwt_client_assertion_with_iat_nbf_over60_seconds_in_the_future_fails(fapi, variant):
    now = int(time.time())
    response = par_with_assertion(fapi, variant, iat=now + 61, nbf=now + 61, exp=now + 121)
    assert_oauth_error(response, ("invalid_client", "invalid_request"))


@pytest.mark.parametrize("variant", PKJWT_VARIANTS)
def test_fapi2_sp_final_par_endpoint_as_array_audience_fails(fapi, variant):
    """FAPI 2 SP §5.3.2.1-8: the assertion's aud is the issuer as a single string; an array is refused (FAPI 1 accepts
    it). The module sends the issuer and another value (AddArrayContainingIssuerAndAnotherValueAsAud...); an array
    holding the issuer alone is refused too."""
    for audience in ([fapi.daemon.issuer, "https://dummy.example.com"], [fapi.daemon.issuer]):
        assert_oauth_error(par_with_assertion(fapi, variant, aud=audience), ("invalid_client", "invalid_request"))


@pytest.mark.parametrize("variant", PKJWT_VARIANTS)
def test_fapi2_sp_final_par_endpoint_as_audience_fails(fapi, variant):
    response = par_with_assertion(fapi, variant, aud=endpoint(fapi, "pushed_authorization_request_endpoint"))
    assert_oauth_error(response, ("invalid_client", "invalid_request"))


@pytest.mark.parametrize("variant", PKJWT_VARIANTS)
def test_fapi2_sp_final_par_token_endpoint_as_audience_fails(fapi, variant):
    response = par_with_assertion(fapi, variant, aud=endpoint(fapi, "token_endpoint"))
    assert_oauth_error(response, ("invalid_client", "invalid_request"))


# === DPoP negative tests (at the resource) ==============================================================================

@pytest.mark.parametrize("variant", DPOP_VARIANTS)
def test_fapi2_sp_final_dpop_negative_tests(fapi, variant):
    """FAPI2SPFinalDpopNegativeTests: a DPoP-bound token (PS256 DPoP key, so the RS256 case runs too), then
    proofs the resource must refuse (400/401) or accept (200), each sent with the nonce retry."""
    dpop_negative_tests(fapi, variant)


def dpop_negative_tests(fapi, variant):
    client = fapi.client(variant)
    request, body = client.tokens(fapi.browser, dpop_alg="PS256")
    key, token = request.dpop, body["access_token"]
    url = client.url("/userinfo")
    other = DPoPKey("PS256")

    def call(proof=True, retry=True, **proof_args):
        make = (lambda nonce: key.proof("GET", url, access_token=token, nonce=nonce, **proof_args)) if proof is True else proof
        return client.userinfo(token, dpop_key=key, make_proof=make, retry=retry) if proof is not False else client.userinfo(token, proof=False)

    def refused(response, what):
        assert response.status_code in (400, 401), f"{what}: HTTP {response.status_code} {response.text}"

    def accepted(response, what):
        assert response.status_code == 200, f"{what}: HTTP {response.status_code} {response.headers.get('WWW-Authenticate')} {response.text}"

    accepted(call(), "a correct proof")
    # The header name in capitals (RFC 9110 §5.1: field names are case-insensitive; the module expects success).
    response = client.with_dpop(
        lambda value: client.resource_session.session.get(url, headers={"Authorization": f"DPoP {token}", "DPOP": value}, timeout=10),
        lambda nonce: key.proof("GET", url, access_token=token, nonce=nonce), at_resource=True)
    accepted(response, "DPOP header name in capitals")
    # Two DPoP headers (RFC 9449 §4.3-1).
    nonce = client.rs_nonce
    status, _, _ = raw_request(fapi.daemon, "GET", "/userinfo", [
        ("Authorization", f"DPoP {token}"), ("DPoP", key.proof("GET", url, access_token=token, nonce=nonce)),
        ("DPoP", key.proof("GET", url, access_token=token, nonce=nonce))], cert=client.cert if client.sender == "mtls" else None)
    assert status in (400, 401), f"two DPoP headers: HTTP {status}"
    # Not a well-formed JWT; missing members; wrong typ; RS256; none; bad signature; private key in jwk.
    refused(call(lambda nonce: key.proof("GET", url, access_token=token, nonce=nonce).rsplit(".", 1)[0]), "not a JWT")
    refused(call(drop_header=("typ",)), "no typ")
    refused(call(lambda nonce: rename_header_member(key.proof("GET", url, access_token=token, nonce=nonce), "alg", "alg2")), "no alg")
    refused(call(lambda nonce: key.proof("GET", url, access_token=token, nonce=nonce, drop_header=("jwk",))), "no jwk")
    for claim in ("jti", "htm", "htu", "iat", "ath"):
        refused(call(drop_claims=(claim,)), f"no {claim}")
    refused(call(header={"typ": "dpop+jwt+wrongyousee"}), "wrong typ")
    refused(call(alg="RS256"), "RS256")
    refused(call(lambda nonce: unsigned_jwt({"alg": "none", "typ": "dpop+jwt"},
                                            {"jti": secrets.token_hex(8), "htm": "GET", "htu": url, "iat": int(time.time()),
                                             "ath": access_token_hash(token), **({"nonce": nonce} if nonce else {})})),
            "alg none")
    refused(call(lambda nonce: break_signature(key.proof("GET", url, access_token=token, nonce=nonce))), "bad signature")
    refused(call(private_jwk=True), "private key in jwk")
    # htm and htu (RFC 9449 §4.3-8/9).
    refused(call(claims={"htm": "PUT"}), "htm PUT")
    accepted(call(claims={"htu": url + "?allthedoorsonthisspaceshiphavebeen#programmedtohaveacheeryandsunnydisposition"}), "htu with query and fragment")
    accepted(call(claims={"htu": url}), "htu without query")
    refused(call(claims={"htu": url + "ohnonotagain"}), "htu of another URL")
    # iat an hour away: refused, unless the server demanded a nonce (then the suite accepts either). As the
    # suite does, the stored nonce is dropped first, so a server that uses nonces answers use_dpop_nonce.
    for offset in (3600, -3600):
        client.rs_nonce = None
        response = call(iat_offset=offset)
        if response.used_nonce:
            assert response.status_code in (200, 400, 401), response.text
        else:
            refused(response, f"iat {offset:+d} s")
    # jti reuse: the first use succeeds, the second should fail (the suite warns; fapid keeps a replay cache, RFC 9449 §11.1).
    used = {}

    def remembered_jti(nonce):
        # A fresh jti for each attempt (the suite drops its fixed jti before a nonce retry); the last one is reused.
        used["jti"] = secrets.token_hex(8)
        return key.proof("GET", url, access_token=token, nonce=nonce, claims={"jti": used["jti"]})

    accepted(call(remembered_jti), "first use of a jti")
    replay = used["jti"]
    refused(call(lambda nonce: key.proof("GET", url, access_token=token, nonce=nonce, claims={"jti": replay}), retry=False), "second use of a jti")
    # ath of another token; a proof of another key.
    refused(call(claims={"ath": "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"}), "wrong ath")
    refused(call(lambda nonce: other.proof("GET", url, access_token=token, nonce=nonce)), "another key")
    # Extra members are ignored; scheme and host in capitals (RFC 3986 §6.2.2/§6.2.3 normalisation).
    accepted(call(header={"tx_id": int(time.time()) + 3600}, claims={"tx_id_key": int(time.time()) + 3600}), "extra members")
    parts = urllib.parse.urlsplit(url)
    accepted(call(claims={"htu": url.replace(parts.scheme, parts.scheme.upper(), 1).replace(parts.hostname, parts.hostname.upper(), 1)}),
             "scheme and host in capitals")
    # DpopHtuWithPort adds the port only when it is the scheme's default; this daemon's URL names its own port already.
    accepted(call(claims={"htu": f"{parts.scheme}://{parts.hostname}:{parts.port}{parts.path}"}), "explicit port")
    # No proof at all; the token as Bearer without a proof.
    refused(call(False), "no proof")
    refused(client.userinfo(token, scheme="Bearer", proof=False), "Bearer without a proof")
    # The token still works (the refusals above were for the proofs).
    accepted(call(), "a correct proof at the end")


# === Refresh token ===========================================================================================

@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_fapi2_sp_final_refresh_token(fapi, variant):
    """Refresh works (with a NEW DPoP key in dpop variants, RFC 9449 §5: bound to the client, not the key); FAPI 2
    does not rotate, so the same refresh token keeps working; an id_token on refresh is consistent; not without
    client authentication, not without the sender-constraint proof, not for another client."""
    client1, client2 = fapi.pair(variant)
    request1, first = client1.tokens(fapi.browser)
    request2, second = client2.tokens(fapi.browser)
    refresh_token = first["refresh_token"]
    new_key = DPoPKey(client1.dpop_alg) if client1.sender == "dpop" else None
    response = client1.refresh(refresh_token, dpop_key=new_key)
    refreshed = assert_fapi2_token_response(response, client1, openid="id_token" in response.json())
    if "id_token" in refreshed:
        before, after = first["id_token_claims"], refreshed["id_token_claims"]
        assert (after["sub"], after["iss"], after["aud"]) == (before["sub"], before["iss"], before["aud"])
    # Not rotated under FAPI 2 (the same token, or none, comes back), and the old one still works.
    assert refreshed.get("refresh_token", refresh_token) == refresh_token
    if client1.sender == "dpop":
        assert_bound(fapi, client1, refreshed, new_key)
    assert_fapi2_resource_works(client1, refreshed["access_token"], new_key)
    again = client1.refresh(refresh_token, dpop_key=request1.dpop)
    assert_fapi2_token_response(again, client1, openid="id_token" in again.json())
    # Without client authentication (every variant but mtls + mtls, where the certificate is both).
    if not (client1.auth == "mtls" and client1.sender == "mtls"):
        if client1.auth == "mtls":
            response = no_cert(lambda: client1.refresh(refresh_token, dpop_key=request1.dpop, session=client1.nocert))
        else:
            response = client1.refresh(refresh_token, dpop_key=request1.dpop, auth={})
        if response is not None:
            assert_oauth_error(response, ("invalid_client", "invalid_grant", "invalid_request"))
    # Without the proof of possession.
    if client1.sender == "mtls":
        response = no_cert(lambda: client1.refresh(refresh_token, session=client1.nocert))
        if response is not None:
            assert_oauth_error(response, ("invalid_client", "invalid_grant", "invalid_request"))
    else:
        assert_oauth_error(client1.refresh(refresh_token, proof=False), DPOP_ERRORS)
    # Client 2's refresh token used by client 1.
    assert_oauth_error(client1.refresh(second["refresh_token"], dpop_key=request1.dpop), "invalid_grant")


# === PAR =======================================================================================================

@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_par_ensure_server_accepts_reused_request_uri_before_authentication_completion(fapi, variant):
    client = fapi.client(variant)
    browser = Browser(fapi.daemon)  # not signed in
    request = client.new_request()
    attempt = client.send(request, browser)
    assert attempt.page.status_code == 200 and 'action="/authorize/login"' in attempt.page.text, describe(attempt.page)
    again = browser.authorize(attempt.query)
    assert again.status_code == 200 and 'action="/authorize/login"' in again.text, describe(again)
    params = assert_fapi2_callback(Callback(browser.play(again), request), request)
    assert_fapi2_token_response(client.exchange(params["code"], request), client, request=request)


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_par_attempt_reuse_request_uri(fapi, variant):
    client = fapi.client(variant)
    request = client.new_request()
    attempt = client.send(request, fapi.browser)
    assert_fapi2_callback(attempt.finish(fapi.browser), request)
    final = fapi.browser.play(fapi.browser.authorize(attempt.query))
    if is_redirect(final):
        params = Callback(final, request).params
        assert "code" not in params and params.get("error") == "invalid_request_uri", final.headers["Location"]
    else:
        assert_error_page(final)


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_par_attempt_to_use_expired_request_uri(short, variant):
    """The suite sleeps the request_uri's whole lifetime; this daemon's is 5 s (pushed_request_lifetime_seconds)."""
    client = short.client(variant)
    request = client.new_request()
    body = assert_fapi2_par_response(client.push(request))
    assert body["expires_in"] == 5, body
    time.sleep(body["expires_in"] + 1)
    final = short.browser.play(short.browser.authorize(request.query(body["request_uri"])))
    if is_redirect(final):
        params = Callback(final, request).params
        assert "code" not in params and params.get("error") == "invalid_request_uri", final.headers["Location"]
    else:
        assert_error_page(final)


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_par_ensure_request_uri_is_bound_to_client(fapi, variant):
    client1, client2 = fapi.pair(variant)
    request = client1.new_request()
    pushed = assert_fapi2_par_response(client1.push(request))
    query = [(name, client2.client_id if name == "client_id" else value) for name, value in request.query(pushed["request_uri"])]
    final = fapi.browser.play(fapi.browser.authorize(query))
    if is_redirect(final):
        params = Callback(final, request).params
        assert "code" not in params, final.headers["Location"]
        assert params.get("error") in ("invalid_request", "invalid_request_object", "invalid_request_uri"), final.headers["Location"]
    else:
        assert_error_page(final)


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_par_reject_request_uri_in_par_authorization_form_params(fapi, variant):
    client = fapi.client(variant)
    request = client.new_request()
    response = client.push(request, form={"request_uri": "urn:ietf:params:oauth:request_uri:" + secrets.token_urlsafe(32)})
    assert_oauth_error(response, ("invalid_request", "invalid_request_object", "request_uri_not_supported"))


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_par_reject_invalid_http_verb(fapi, variant):
    client = fapi.client(variant)
    for method in ("GET", "PUT"):
        response = client.par_session.session.request(method, fapi.daemon.base + "/par", params={"client_id": client.client_id}, timeout=10)
        assert 400 <= response.status_code < 500, (method, response.status_code)


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_par_ensure_pkce_required(fapi, variant):
    def change(request, _):
        request.drop("code_challenge", "code_challenge_method")

    refuse(fapi, variant, change,
           par_errors=("invalid_request",), redirect_errors=("invalid_request",))


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_par_ensure_plain_pkce_rejected(fapi, variant):
    def change(request, _):
        request.set(code_challenge=request.verifier, code_challenge_method="plain")

    refuse(fapi, variant, change, par_errors=("invalid_request",), redirect_errors=("invalid_request",))


@pytest.mark.parametrize("variant", REQUEST_VARIANTS)
def test_fapi2_sp_final_par_without_duplicate_parameters(fapi, variant):
    client = fapi.client(variant)
    request = client.new_request()
    attempt = client.send(request, fapi.browser, duplicates=False)
    assert [name for name, _ in attempt.query] == ["client_id", "request_uri"]
    finish_and_exchange(fapi, client, request, attempt)


# === fapi_client_credentials_grant (issue 18 item 5) ======================================================================
# The modules the SP plan runs in this profile that reach the token endpoint. fapid's only resource, userinfo,
# needs a user, so what a client-credentials token is bound to is checked through introspection (the resource
# server's view) instead of a resource call.

@pytest.mark.parametrize("variant", CC_VARIANTS)
def test_fapi2_sp_final_happy_flow_client_credentials_grant(fapi, variant):
    """Both clients get a sender-constrained token by client_credentials (no refresh token, RFC 6749 §4.4.3,
    a warning in the suite); the token is bound to the DPoP key or the certificate."""
    for client in fapi.pair(variant):
        key = DPoPKey(client.dpop_alg) if client.sender == "dpop" else None
        body = assert_fapi2_token_response(client.client_credentials(dpop_key=key), client, openid=False)
        assert "refresh_token" not in body, body
        assert_bound(fapi, client, body, key)
    assert "client_credentials" in discovery(fapi.daemon)["grant_types_supported"]
    assert_fapi2_tls(endpoint(fapi, "token_endpoint"), fapi.daemon.keys / "ca.pem")


@pytest.mark.parametrize("variant", CC_VARIANTS)
def test_fapi2_sp_final_ensure_holder_of_key_required_client_credentials_grant(fapi, variant):
    client = fapi.client(variant)
    if client.sender == "mtls":
        response = no_cert(lambda: client.client_credentials(session=client.nocert))
        if response is not None:
            assert_oauth_error(response, ("invalid_client", "invalid_request", "invalid_grant"))
    else:
        assert_oauth_error(client.client_credentials(proof=False), DPOP_ERRORS)


@pytest.mark.parametrize("variant", [v for v in CC_VARIANTS if v.endswith("-dpop")])
@pytest.mark.parametrize("iat_offset", [-10, 8], ids=["iat10_seconds_before", "iat10_seconds_after"])
def test_fapi2_sp_final_ensure_dpop_proof_with_iat_client_credentials_grant(fapi, variant, iat_offset):
    """FAPI2SPFinalEnsureDpopProofWithIat10SecondsBefore/AfterSucceeds in this profile: the token endpoint's proof."""
    client = fapi.client(variant)
    key = DPoPKey()
    response = client.client_credentials(dpop_key=key, make_proof=lambda nonce: key.proof("POST", client.url("/token"), nonce=nonce, iat_offset=iat_offset))
    assert_bound(fapi, client, assert_fapi2_token_response(response, client, openid=False), key)


@pytest.mark.parametrize("variant", [v for v in CC_VARIANTS if "-pkjwt-" in v])
def test_fapi2_sp_final_ensure_client_assertion_with_wrong_aud_fails_client_credentials_grant(fapi, variant):
    """The private_key_jwt modules in this profile, at the token endpoint: the token URL as aud is refused too
    (FAPI 2 SP §5.3.2.1-8: the issuer only), as are a wrong aud, no sub, RS256 and no assertion."""
    client1, client2 = fapi.pair(variant)
    key = DPoPKey() if client1.sender == "dpop" else None
    for auth in (lambda: client1.auth_fields(aud=endpoint(fapi, "token_endpoint")),
                 lambda: client1.auth_fields(aud="https://fapidev-rs.authlete.net/api/userinfo"),
                 lambda: client1.auth_fields(drop=("sub",)),
                 {"client_id": client1.client_id}):
        assert_oauth_error(client1.client_credentials(dpop_key=key, auth=auth), ("invalid_client", "invalid_request"))
    assert_oauth_error(client2.client_credentials(dpop_key=key, auth=lambda: client2.auth_fields(alg="RS256")), "invalid_client")
    assert_fapi2_token_response(client1.client_credentials(dpop_key=key), client1, openid=False)


# === Issue 18, done when: every profile and variant end to end, and FAPI 1 beside it ====================================

@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_issue18_done_when_fapi2_flow(fapi, variant):
    """PAR → sign-in → consent → code (with iss) → token → refresh (not rotated; a NEW DPoP key in dpop variants)
    → userinfo (DPoP with ath in dpop variants), with a PSU who signs in for this flow."""
    done_when_flow(fapi, variant)


def done_when_flow(fapi, variant):
    client, _ = fapi.pair(variant)
    browser = Browser(fapi.daemon)
    request = client.new_request()
    attempt = client.send(request, browser, dpop=client.sender == "dpop")
    assert attempt.page.status_code == 200 and 'action="/authorize/login"' in attempt.page.text, describe(attempt.page)
    consent = browser.login(attempt.page.text)
    assert consent.status_code == 200 and 'action="/authorize/consent"' in consent.text, describe(consent)
    callback = Callback(browser.consent(consent.text), request)
    params = assert_fapi2_callback(callback, request)
    assert params["iss"] == fapi.daemon.issuer
    body = assert_fapi2_token_response(client.exchange(params["code"], request), client, request=request)
    assert_bound(fapi, client, body, request.dpop)
    assert_fapi2_resource_works(client, body["access_token"], request.dpop)
    new_key = DPoPKey() if client.sender == "dpop" else None
    response = client.refresh(body["refresh_token"], dpop_key=new_key)
    refreshed = assert_fapi2_token_response(response, client, openid="id_token" in response.json())
    assert refreshed.get("refresh_token", body["refresh_token"]) == body["refresh_token"], "refresh token rotated under FAPI 2"
    assert_bound(fapi, client, refreshed, new_key)
    assert_fapi2_resource_works(client, refreshed["access_token"], new_key)
    if new_key is not None:
        # The refreshed token is bound to the new key: the old key's proof does not carry it.
        stale = client.userinfo(refreshed["access_token"], dpop_key=request.dpop)
        assert stale.status_code in (400, 401), stale.text


# === DPoP server nonces (RFC 9449 §8, §9): the same modules against a daemon that demands them =====================
# The suite retries once on use_dpop_nonce at PAR, token and resource (CallTokenEndpointAllowingDpopNonceError,
# CallProtectedResourceAllowingDpopNonceError). The main daemon runs with dpop_nonce_required false (proofs may
# omit the nonce); this one with true, so every first proof of a client is challenged.

@pytest.fixture(scope="module")
def nonces(tmp_path_factory, pki):
    daemon = start_daemon(tmp_path_factory, pki, "fapi2-dpop-nonce", env={"FAPID_DPOP_NONCE_REQUIRED": "true"})
    try:
        yield Setup(daemon, pki)
    finally:
        stop_daemon(daemon)


def assert_challenged(setup, variant):
    for client in setup.pair(variant):
        if client.nonce_challenges != {"as": 0, "rs": 0}:
            assert client.nonce_challenges["as"] > 0, client.nonce_challenges
            return
    raise AssertionError("the server never demanded a DPoP nonce")


@pytest.mark.parametrize("variant", ["sp-mtls-dpop", "ms-pkjwt-dpop"])
def test_fapi2_sp_final_happy_flow_dpop_nonce(nonces, variant):
    happy_flow(nonces, variant, True)
    client1, _ = nonces.pair(variant)
    assert client1.nonce_challenges["as"] > 0 and client1.nonce_challenges["rs"] > 0, client1.nonce_challenges


@pytest.mark.parametrize("variant", ["sp-pkjwt-dpop", "ms-mtls-dpop"])
def test_fapi2_sp_final_dpop_negative_tests_dpop_nonce(nonces, variant):
    dpop_negative_tests(nonces, variant)
    assert_challenged(nonces, variant)


@pytest.mark.parametrize("variant", ["sp-pkjwt-dpop", "ms-mtls-dpop"])
def test_fapi2_sp_final_ensure_dpop_auth_code_binding_success_dpop_nonce(nonces, variant):
    """PAR with a proof and dpop_jkt, the code bound to that key, with nonces demanded at PAR and the token endpoint."""
    dpop_flow(nonces, variant, dpop_jkt=True, at_par=True)
    assert_challenged(nonces, variant)


@pytest.mark.parametrize("variant", ["sp-mtls-dpop", "ms-pkjwt-dpop"])
def test_issue18_done_when_fapi2_flow_dpop_nonce(nonces, variant):
    done_when_flow(nonces, variant)
    assert_challenged(nonces, variant)


def test_issue18_done_when_fapi1_advanced_hybrid_flow_in_the_same_daemon(fapi):
    """A FAPI 1 Advanced client (the default profile) in the daemon that serves the FAPI 2 clients: the hybrid
    flow with PAR, certificate-bound tokens, userinfo, refresh."""
    fapi.pair("sp-pkjwt-dpop")  # FAPI 2 clients registered beside it
    client = FAPIClient(fapi.daemon, fapi.pki, fapi.workdir, "fapi1-beside-fapi2", auth="mtls", alg="PS256", method="par")
    browser = Browser(fapi.daemon)
    body = client.tokens(browser, mode="plain")  # code id_token, with c_hash / s_hash checked
    info = fapi.introspect(body["access_token"])
    assert info["active"] and "x5t#S256" in info["cnf"]
    assert_resource_works(client, body["access_token"])
    assert_token_response(client.refresh(body["refresh_token"]), client)
