"""Traceability to the OpenID Foundation conformance suite, FAPI 1.0 Advanced Final (fapi1-advanced-final-test-plan,
plain_fapi): one test per module of docs/conformance.md §1 and per easy-to-miss requirement of §5, named after
the module, sending what the module sends and accepting what it accepts.

Variants: client authentication mtls | private_key_jwt, request by PAR | by value, response hybrid
(`code id_token`, fragment) | JARM (`code` + `response_mode=jwt`). Each client pair is two clients of one
variant with their own keys (ES256 and PS256) and certificates (distinct subject DNs), two redirect URIs each.
One daemon serves the whole module (and a second, short-lived one for the expired request_uri)."""
import base64
import secrets
import time
import urllib.parse

import pytest
import requests

from conformance_support import (REDIRECT_URIS, Browser, Callback, FAPIClient, add_psu_and_resource_server, assert_entropy,
                                 assert_error_members, assert_error_page, assert_fapi_tls, assert_oauth_error, assert_par_response,
                                 assert_rejected, assert_resource_works, assert_success_callback, assert_token_response,
                                 broken_signature, describe, discovery, half_hash, is_redirect, sign, start_daemon, stop_daemon, tls_report,
                                 unsigned, DESCRIPTION_CHARSET, PSU)
from tpp import JWT_BEARER, TokenClient, issue_certificate

RS_DN = "CN=conformance-resource-server,O=Conformance Bank,C=GB"
METHODS = ["par", "by_value"]
AUTHS = ["mtls", "pkjwt"]
MODES = ["plain", "jarm"]
INVALID_REQUEST_OBJECT = ("invalid_request_object",)


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

    def pair(self, auth="mtls", method="par"):
        """(client1, client2): ES256 and PS256, each with its own certificate, of one variant."""
        if (auth, method) not in self.pairs:
            tag = f"{auth}-{method.replace('_', '-')}"
            self.pairs[(auth, method)] = tuple(
                FAPIClient(self.daemon, self.pki, self.workdir, f"{tag}-client{n}", auth=auth, alg=alg, method=method)
                for n, alg in ((1, "ES256"), (2, "PS256")))
        return self.pairs[(auth, method)]

    def introspect(self, token):
        response = self.rs.post("/introspect", {"token": token})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def fapi(tmp_path_factory, pki):
    daemon = start_daemon(tmp_path_factory, pki, "fapi1-conformance")
    try:
        yield Setup(daemon, pki)
    finally:
        stop_daemon(daemon)


def endpoint(fapi, name):
    return discovery(fapi.daemon)[name]


def no_cert_token_request(client, form):
    """A token request over TLS without a client certificate: a dropped connection or a JSON error."""
    try:
        return TokenClient(client.daemon, None).post("/token", form)
    except (requests.exceptions.SSLError, requests.exceptions.ConnectionError):
        return None


# === Happy path / must succeed =======================================================================

def test_fapi1_advanced_final_discovery_endpoint_verification(fapi):
    response = fapi.daemon.get("/.well-known/openid-configuration")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    metadata = response.json()
    # The issuer is the discovery URL's base, exactly.
    assert metadata["issuer"] == fapi.daemon.issuer
    assert metadata["tls_client_certificate_bound_access_tokens"] is True
    assert {"tls_client_auth", "private_key_jwt"} <= set(metadata["token_endpoint_auth_methods_supported"])
    for name in ("id_token_signing_alg_values_supported", "token_endpoint_auth_signing_alg_values_supported",
                 "request_object_signing_alg_values_supported", "authorization_signing_alg_values_supported"):
        assert metadata[name] and set(metadata[name]) <= {"PS256", "ES256"}, (name, metadata[name])
    assert "code id_token" in metadata["response_types_supported"]
    assert "code" in metadata["response_types_supported"] and "jwt" in metadata["response_modes_supported"]
    assert metadata["request_parameter_supported"] is True
    assert metadata["pushed_authorization_request_endpoint"].startswith("https://")
    assert isinstance(metadata["require_pushed_authorization_requests"], bool)
    assert "S256" in metadata["code_challenge_methods_supported"]
    assert "openid" in metadata["scopes_supported"]
    assert "authorization_code" in metadata["grant_types_supported"]
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
        assert metadata[name].startswith(fapi.daemon.issuer + "/"), name
    for name, value in metadata.items():
        if name.endswith("_supported") and isinstance(value, list):
            assert all(isinstance(entry, str) for entry in value), name


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("auth", AUTHS)
def test_fapi1_advanced_final(fapi, auth, method, mode):
    """Both clients, the second with the redirect URI that has a query and its parameters in reverse order."""
    client1, client2 = fapi.pair(auth, method)
    tokens = {}
    for client, redirect_uri, reverse in ((client1, REDIRECT_URIS[0], False), (client2, REDIRECT_URIS[1], True)):
        request, callback, front = client.run_flow(fapi.browser, mode=mode, redirect_uri=redirect_uri, reverse=reverse)
        body = assert_token_response(client.exchange(callback.params["code"], request), client)
        if mode == "plain":
            assert body["id_token_claims"]["sub"] == front["sub"] == PSU
        info = fapi.introspect(body["access_token"])
        assert info["active"] and info["client_id"] == client.client_id and "x5t#S256" in info["cnf"]
        assert_resource_works(client, body["access_token"])
        tokens[client.name] = body
    # Client 1's certificate with client 2's (certificate-bound) token.
    stolen = client1.userinfo(tokens[client2.name]["access_token"])
    assert 400 <= stolen.status_code < 500, stolen.text
    # The access token in the query string is refused by the resource.
    query = client1.http.session.get(fapi.daemon.base + "/userinfo", params={"access_token": tokens[client1.name]["access_token"]}, timeout=10)
    assert 400 <= query.status_code < 500, query.text
    # Several Accept headers.
    for accept in ("application/json", "*/*", "application/json, */*;q=0.1", "application/json; charset=utf-8"):
        response = client1.userinfo(tokens[client1.name]["access_token"], headers={"Accept": accept})
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json"), accept
    for name in ("token_endpoint", "pushed_authorization_request_endpoint", "userinfo_endpoint"):
        assert_fapi_tls(endpoint(fapi, name), fapi.daemon.keys / "ca.pem")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_user_rejects_authentication(fapi, method, mode):
    client, _ = fapi.pair("mtls", method)
    request = client.new_request(mode=mode)
    callback = client.send(request, fapi.browser).finish(fapi.browser, decision="deny")
    assert callback.redirected, describe(callback.response)
    assert callback.params["error"] == "access_denied" and callback.params["state"] == request.state
    assert "code" not in callback.params and "code" not in callback.query and "error" not in callback.query
    assert_error_members(callback.params)


def test_fapi1_advanced_final_ensure_server_accepts_request_object_with_multiple_aud(fapi):
    client, _ = fapi.pair()
    request = client.new_request()
    request.ro["aud"] = [fapi.daemon.issuer, "https://junk.example.com"]
    callback = client.send(request, fapi.browser).finish(fapi.browser)
    assert_success_callback(callback, request)
    assert_token_response(client.exchange(callback.params["code"], request), client)


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_authorization_request_without_state_success(fapi, method):
    client, _ = fapi.pair("mtls", method)
    request = client.new_request().drop("state")
    callback = client.send(request, fapi.browser).finish(fapi.browser)
    assert_success_callback(callback, request)  # neither state nor s_hash
    assert "state" not in callback.fragment and "state" not in callback.query
    assert_token_response(client.exchange(callback.params["code"], request), client)


def test_fapi1_advanced_final_ensure_valid_pkce_succeeds(fapi):
    client, _ = fapi.pair("mtls", "by_value")
    request = client.new_request(pkce=True)
    callback = client.send(request, fapi.browser).finish(fapi.browser)
    assert_success_callback(callback, request)
    assert_token_response(client.exchange(callback.params["code"], request), client)


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_other_scope_order_succeeds(fapi, method):
    client, _ = fapi.pair("mtls", method)
    request = client.new_request().set(scope="accounts openid")
    callback = client.send(request, fapi.browser).finish(fapi.browser)
    assert_success_callback(callback, request)
    assert_token_response(client.exchange(callback.params["code"], request), client)


def test_fapi1_advanced_final_access_token_type_header_case_sensitivity(fapi):
    client, _ = fapi.pair()
    token = client.tokens(fapi.browser)["access_token"]
    for scheme in ("bearer", "BEARER", "Bearer"):
        response = client.userinfo(token, scheme=scheme)
        assert response.status_code == 200, (scheme, response.text)


def test_fapi1_advanced_final_ensure_client_assertion_with_iss_aud_succeeds(fapi):
    client, _ = fapi.pair("pkjwt", "par")
    request, callback, _ = client.run_flow(fapi.browser)
    response = client.exchange(callback.params["code"], request, auth=client.auth_fields(aud=fapi.daemon.issuer))
    assert_token_response(response, client)


@pytest.mark.parametrize("auth", AUTHS)
def test_fapi1_advanced_final_refresh_token(fapi, auth):
    client1, client2 = fapi.pair(auth, "par")
    first = {client.name: client.tokens(fapi.browser) for client in (client1, client2)}
    time.sleep(1)  # so that the refreshed id_token's iat differs
    original = first[client1.name]
    refreshed = assert_token_response(client1.refresh(original["refresh_token"]), client1)
    before, after = original["id_token_claims"], refreshed["id_token_claims"]
    assert (after["sub"], after["iss"], after["aud"]) == (before["sub"], before["iss"], before["aud"])
    assert after["iat"] > before["iat"]
    # Rotation is optional: go on with the new refresh token if one came back.
    refresh_token = refreshed.get("refresh_token", original["refresh_token"])
    assert_token_response(client1.refresh(refresh_token), client1)
    if auth == "mtls":
        # Without the client certificate: invalid_client, or the TLS connection dropped.
        try:
            response = client1.refresh(refresh_token, session=TokenClient(fapi.daemon, None))
        except (requests.exceptions.SSLError, requests.exceptions.ConnectionError):
            response = None
        if response is not None:
            assert_oauth_error(response, "invalid_client")
    # Client 2's refresh token used by client 1.
    assert_oauth_error(client1.refresh(first[client2.name]["refresh_token"]), "invalid_grant")


def test_fapi1_advanced_final_par_check_audience_for_jwt_client_assertion(fapi):
    client, _ = fapi.pair("pkjwt", "par")
    par_form = {"client_assertion": client.assertion(fapi.daemon.issuer + "/par")}
    request, callback, _ = client.run_flow(fapi.browser, par_form=par_form)
    assert_token_response(client.exchange(callback.params["code"], request), client)


def test_fapi1_advanced_final_par_token_endpoint_as_audience_for_jwt_client_assertion(fapi):
    client, _ = fapi.pair("pkjwt", "par")
    par_form = {"client_assertion": client.assertion(endpoint(fapi, "token_endpoint"))}
    request, callback, _ = client.run_flow(fapi.browser, par_form=par_form)
    assert_token_response(client.exchange(callback.params["code"], request), client)


def test_fapi1_advanced_final_par_array_as_audience_for_jwt_client_assertion(fapi):
    client, _ = fapi.pair("pkjwt", "par")
    audience = [fapi.daemon.issuer, "https://dummy.example.com"]
    request, callback, _ = client.run_flow(fapi.browser, par_form={"client_assertion": client.assertion(audience)})
    response = client.exchange(callback.params["code"], request, auth=client.auth_fields(aud=audience))
    assert_token_response(response, client)


def test_fapi1_advanced_final_par_ensure_server_accepts_reused_request_uri_before_authentication_completion(fapi):
    client, _ = fapi.pair("mtls", "par")
    browser = Browser(fapi.daemon)  # not signed in
    request = client.new_request()
    attempt = client.send(request, browser)
    assert attempt.page.status_code == 200 and 'action="/authorize/login"' in attempt.page.text, describe(attempt.page)
    again = browser.authorize(attempt.query)
    assert again.status_code == 200 and 'action="/authorize/login"' in again.text, describe(again)
    callback = Callback(browser.play(again), request)
    assert_success_callback(callback, request)
    assert_token_response(client.exchange(callback.params["code"], request), client)


def test_fapi1_advanced_final_par_without_duplicate_parameters(fapi):
    client, _ = fapi.pair("mtls", "par")
    request = client.new_request()
    attempt = client.send(request, fapi.browser, duplicates=False)
    assert [name for name, _ in attempt.query] == ["client_id", "request_uri"]
    callback = attempt.finish(fapi.browser)
    assert_success_callback(callback, request)
    assert_token_response(client.exchange(callback.params["code"], request), client)


# === "Possible failure": either outcome passes ===========================================================

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_response_mode_query(fapi, method, mode):
    client, _ = fapi.pair("mtls", method)
    request = client.new_request(mode=mode).set(response_mode="query")
    attempt = client.send(request, fapi.browser)
    if attempt.refused_at_par:
        assert_oauth_error(attempt.par, ("invalid_request", "invalid_request_object"))
        return
    final = fapi.browser.play(attempt.page)
    if not is_redirect(final):
        assert_error_page(final)
        return
    callback = Callback(final, request)
    assert "code" not in callback.query and "error" not in callback.query, final.headers["Location"]
    if "error" in callback.params:
        assert callback.params["error"] == "invalid_request" and callback.params.get("state") == request.state
        assert_error_members(callback.params)
    else:
        assert_success_callback(callback, request)


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_different_nonce_inside_and_outside_request_object(fapi, method):
    client, _ = fapi.pair("mtls", method)
    request = client.new_request()
    request.params["nonce"] = "outside-" + secrets.token_urlsafe(12)  # only on the URL; the request object keeps its own
    attempt = client.send(request, fapi.browser)
    assert not attempt.refused_at_par, attempt.par.text
    final = fapi.browser.play(attempt.page)
    if not is_redirect(final):
        assert_error_page(final, ("invalid_request",))
        return
    callback = Callback(final, request)
    if "error" in callback.params:
        assert callback.params["error"] == "invalid_request" and callback.params.get("state") == request.state
        assert_error_members(callback.params)
        return
    front = assert_success_callback(callback, request)  # checks the id_token's nonce is the inside one
    assert front["nonce"] == request.ro["nonce"]
    body = assert_token_response(client.exchange(callback.params["code"], request), client)
    assert body["id_token_claims"].get("nonce", request.ro["nonce"]) == request.ro["nonce"]


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_registered_redirect_uri(fapi, method):
    client, _ = fapi.pair("mtls", method)
    request = client.new_request().set(redirect_uri="https://tpp.example.com/unregistered")
    # Never a redirect to the unregistered URI: an error page, or the PAR endpoint's error.
    assert_rejected(client.send(request, fapi.browser), fapi.browser, par_errors=("invalid_request", "invalid_request_object"))


def long_value_outcome(fapi, client, request, attempt, *, name):
    """Returned unchanged, or refused with invalid_request; never truncated."""
    if attempt.refused_at_par:
        assert_oauth_error(attempt.par, "invalid_request")
        return
    final = fapi.browser.play(attempt.page)
    if not is_redirect(final):
        assert_error_page(final, ("invalid_request",))
        return
    callback = Callback(final, request)
    if "error" in callback.params:
        assert callback.params["error"] == "invalid_request"
        assert_error_members(callback.params)
        return
    front = assert_success_callback(callback, request)  # state / nonce compared in full
    body = assert_token_response(client.exchange(callback.params["code"], request), client)
    if name == "nonce":
        if callback.jarm is None:  # hybrid: the front-channel id_token carries it too
            assert front["nonce"] == request.nonce
        assert body["id_token_claims"]["nonce"] == request.nonce


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_with_long_nonce(fapi, method, mode):
    client, _ = fapi.pair("mtls", method)
    request = client.new_request(mode=mode).set(nonce=secrets.token_hex(192))  # 384 characters
    long_value_outcome(fapi, client, request, client.send(request, fapi.browser), name="nonce")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_with64_char_nonce_success(fapi, method, mode):
    client, _ = fapi.pair("mtls", method)
    request = client.new_request(mode=mode).set(nonce=secrets.token_hex(32))  # 64 characters
    long_value_outcome(fapi, client, request, client.send(request, fapi.browser), name="nonce")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_with_long_state(fapi, method, mode):
    client, _ = fapi.pair("mtls", method)
    request = client.new_request(mode=mode).set(state=secrets.token_hex(500))  # 1000 characters, as the suite sends
    long_value_outcome(fapi, client, request, client.send(request, fapi.browser), name="state")


# === Negative tests: request object ======================================================================
# By value: an error page, or an error redirect with the codes the module accepts; with PAR: the PAR
# endpoint's error (the codes its module accepts), or invalid_request_uri at the authorization endpoint.

def refuse(fapi, method, change, *, par_errors, redirect_errors, client_index=0, mode="plain"):
    client = fapi.pair("mtls", method)[client_index]
    request = client.new_request(mode=mode)
    token = change(request, client)
    attempt = client.send(request, fapi.browser, token=token)
    if method == "par":
        redirect_errors = tuple(redirect_errors) + ("invalid_request_uri",)
    return assert_rejected(attempt, fapi.browser, par_errors=par_errors, redirect_errors=redirect_errors)


MISSING_CLAIM_ERRORS = ("invalid_request", "invalid_request_object", "invalid_request_uri", "access_denied")


def without(*names):
    """Removes claims from the request object only (the URL parameters keep them)."""
    def change(request, _):
        for name in names:
            request.ro.pop(name, None)
    return change


def drop_everywhere(*names):
    """Removes parameters from the request object and the URL."""
    def change(request, _):
        request.drop(*names)
    return change


def with_claims(**claims):
    def change(request, _):
        request.ro.update(claims)
    return change


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_without_exp_fails(fapi, method):
    refuse(fapi, method, without("exp"),
           par_errors=INVALID_REQUEST_OBJECT, redirect_errors=MISSING_CLAIM_ERRORS)


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_without_nbf_fails(fapi, method):
    refuse(fapi, method, without("nbf"),
           par_errors=INVALID_REQUEST_OBJECT, redirect_errors=MISSING_CLAIM_ERRORS)


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_without_scope_fails(fapi, method):
    # scope only outside the request object (the URL keeps it): it must not count.
    refuse(fapi, method, without("scope"),
           par_errors=("invalid_request", "invalid_request_object"), redirect_errors=MISSING_CLAIM_ERRORS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_without_state(fapi, method, mode):
    """state only on the URL is ignored: success with neither state nor s_hash, or a refusal."""
    client, _ = fapi.pair("mtls", method)
    request = client.new_request(mode=mode)
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
    assert_success_callback(callback, request)  # request.state is None: no state, no s_hash
    assert "state" not in callback.fragment and "state" not in callback.query


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_without_nonce_fails(fapi, method, mode):
    # nonce only on the URL is ignored, so it counts as missing.
    refuse(fapi, method, without("nonce"), mode=mode,
           par_errors=("invalid_request", "invalid_request_object"),
           redirect_errors=("invalid_request", "invalid_request_object", "invalid_request_uri"))


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_without_redirect_uri_fails(fapi, method):
    refuse(fapi, method, without("redirect_uri"),
           par_errors=("invalid_request", "invalid_request_object"),
           redirect_errors=("invalid_request", "invalid_request_object", "invalid_request_uri"))


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_expired_request_object_fails(fapi, method):
    refuse(fapi, method, with_claims(exp=int(time.time()) - 3600),
           par_errors=INVALID_REQUEST_OBJECT, redirect_errors=INVALID_REQUEST_OBJECT)


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_with_bad_aud_fails(fapi, method):
    refuse(fapi, method, with_claims(aud="https://www.other1.example.com/"),
           par_errors=INVALID_REQUEST_OBJECT, redirect_errors=INVALID_REQUEST_OBJECT)


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_with_exp_over60_fails(fapi, method):
    def change(request, _):
        request.ro["exp"] = request.ro["nbf"] + 70 * 60

    refuse(fapi, method, change, par_errors=INVALID_REQUEST_OBJECT, redirect_errors=INVALID_REQUEST_OBJECT)


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_with_nbf_over60_fails(fapi, method):
    def change(request, _):
        request.ro["nbf"] = int(time.time()) - 70 * 60

    refuse(fapi, method, change, par_errors=INVALID_REQUEST_OBJECT, redirect_errors=INVALID_REQUEST_OBJECT)


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_signed_request_object_with_rs256_fails(fapi, method):
    # Client 2 holds an RSA key: its own key, with the algorithm FAPI forbids.
    refuse(fapi, method, lambda request, client: sign(request.ro, client.key, "RS256"), client_index=1,
           par_errors=INVALID_REQUEST_OBJECT, redirect_errors=INVALID_REQUEST_OBJECT)


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_signature_algorithm_is_not_none(fapi, method):
    refuse(fapi, method, lambda request, _: unsigned(request.ro),
           par_errors=INVALID_REQUEST_OBJECT, redirect_errors=INVALID_REQUEST_OBJECT)


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_request_object_with_invalid_signature_fails(fapi, method):
    refuse(fapi, method, lambda request, _: broken_signature(request.sign()),
           par_errors=INVALID_REQUEST_OBJECT, redirect_errors=INVALID_REQUEST_OBJECT)


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_matching_key_in_authorization_request(fapi, method):
    other = fapi.pair("mtls", method)[1]
    refuse(fapi, method, lambda request, _: request.sign(key=other.key, alg=other.alg),
           par_errors=("invalid_request", "invalid_request_object"), redirect_errors=INVALID_REQUEST_OBJECT)


def test_fapi1_advanced_final_par_reject_invalid_audience_in_request_object(fapi):
    refuse(fapi, "par", with_claims(aud=endpoint(fapi, "pushed_authorization_request_endpoint")),
           par_errors=INVALID_REQUEST_OBJECT, redirect_errors=())


def test_fapi1_advanced_final_par_reject_request_uri_in_par_authorization_request(fapi):
    client, _ = fapi.pair("mtls", "par")
    request = client.new_request()
    request.ro["request_uri"] = "urn:ietf:params:oauth:request_uri:" + secrets.token_urlsafe(32)
    response = client.post("/par", {**client.auth_fields(), "request": request.sign()})
    assert_oauth_error(response, "invalid_request_object")


# === Negative tests: authorization request ======================================================

@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_authorization_request_without_request_object_fails(fapi, method):
    client, _ = fapi.pair("mtls", method)
    request = client.new_request()
    page = fapi.browser.authorize(sorted(request.params.items()))  # every parameter plain, never through PAR
    final = fapi.browser.play(page)
    if is_redirect(final):
        callback = Callback(final, request)
        assert "code" not in callback.params and callback.params.get("error") == "invalid_request", final.headers["Location"]
        assert_error_members(callback.params)
    else:
        assert_error_page(final)


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_redirect_uri_in_authorization_request(fapi, method):
    # Two redirect URIs are registered, so there is no single one to fall back to: refuse.
    refuse(fapi, method, drop_everywhere("redirect_uri"),
           par_errors=("invalid_request", "invalid_request_object"), redirect_errors=())


@pytest.mark.parametrize("method", METHODS)
def test_fapi1_advanced_final_ensure_response_type_code_fails(fapi, method):
    """response_type=code without JARM: refused, and no code in the query or the fragment."""
    client, _ = fapi.pair("mtls", method)
    request = client.new_request().set(response_type="code")
    request.drop("response_mode")
    attempt = client.send(request, fapi.browser)
    if attempt.refused_at_par:
        assert_oauth_error(attempt.par, ("unsupported_response_type", "invalid_request", "unauthorized_client"))
        return
    final = fapi.browser.play(attempt.page)
    if not is_redirect(final):
        assert_error_page(final)
        return
    callback = Callback(final, request)
    assert "code" not in callback.query and "code" not in callback.fragment, final.headers["Location"]
    assert callback.params.get("error") in ("unsupported_response_type", "invalid_request"), final.headers["Location"]
    assert callback.params.get("state") == request.state
    assert_error_members(callback.params)


def test_fapi1_advanced_final_par_reject_invalid_redirect_uri(fapi):
    client, _ = fapi.pair("mtls", "par")
    request = client.new_request().set(redirect_uri="https://junk.io/junk/callback")
    assert_rejected(client.send(request, fapi.browser), fapi.browser, par_errors=("invalid_request", "invalid_request_object"))


def test_fapi1_advanced_final_par_reject_request_uri_in_par_authorization_form_params(fapi):
    client, _ = fapi.pair("mtls", "par")
    request = client.new_request()
    response = client.post("/par", {**client.auth_fields(), "request": request.sign(),
                                    "request_uri": "urn:ietf:params:oauth:request_uri:" + secrets.token_urlsafe(32)})
    assert_oauth_error(response, ("invalid_request", "invalid_request_object", "request_uri_not_supported"))


def test_fapi1_advanced_final_par_reject_invalid_http_verb(fapi):
    client, _ = fapi.pair("mtls", "par")
    for method in ("GET", "PUT"):
        response = client.http.session.request(method, fapi.daemon.base + "/par", params={"client_id": client.client_id}, timeout=10)
        assert 400 <= response.status_code < 500, (method, response.status_code)


def test_fapi1_advanced_final_par_attempt_reuse_request_uri(fapi):
    client, _ = fapi.pair("mtls", "par")
    request = client.new_request()
    attempt = client.send(request, fapi.browser)
    callback = attempt.finish(fapi.browser)
    assert_success_callback(callback, request)
    again = fapi.browser.authorize(attempt.query)
    final = fapi.browser.play(again)
    if is_redirect(final):
        params = Callback(final, request).params
        assert "code" not in params and params.get("error") == "invalid_request_uri", final.headers["Location"]
    else:
        assert_error_page(final)


@pytest.fixture(scope="module")
def short_par_daemon(tmp_path_factory, pki):
    """A daemon whose request_uris live 5 s (pushed_request_lifetime_seconds), for the expiry test."""
    daemon = start_daemon(tmp_path_factory, pki, "fapi1-short-par", env={"FAPID_PUSHED_REQUEST_LIFETIME_SECONDS": "5"})
    try:
        add_psu_and_resource_server(daemon, RS_DN)
        yield daemon
    finally:
        stop_daemon(daemon)


def test_fapi1_advanced_final_par_attempt_to_use_expired_request_uri(short_par_daemon, pki):
    daemon = short_par_daemon
    client = FAPIClient(daemon, pki, daemon.workdir, "short-par-client1", auth="mtls", alg="ES256", method="par")
    browser = Browser(daemon)
    request = client.new_request()
    pushed = client.post("/par", {**client.auth_fields(), "request": request.sign()})
    body = assert_par_response(pushed)
    assert body["expires_in"] == 5, body
    time.sleep(body["expires_in"] + 1)
    final = browser.play(browser.authorize(request.query("request_uri", body["request_uri"])))
    if is_redirect(final):
        params = Callback(final, request).params
        assert "code" not in params and params.get("error") == "invalid_request_uri", final.headers["Location"]
    else:
        assert_error_page(final)


def test_fapi1_advanced_final_par_ensure_request_uri_is_bound_to_client(fapi):
    client1, client2 = fapi.pair("mtls", "par")
    request = client1.new_request()
    pushed = assert_par_response(client1.post("/par", {**client1.auth_fields(), "request": request.sign()}))
    query = [(name, client2.client_id if name == "client_id" else value) for name, value in request.query("request_uri", pushed["request_uri"])]
    final = fapi.browser.play(fapi.browser.authorize(query))
    if is_redirect(final):
        location = urllib.parse.urlsplit(final.headers["Location"])
        params = dict(urllib.parse.parse_qsl(location.fragment or location.query))
        assert "code" not in params and params.get("error") in ("invalid_request", "invalid_request_object", "invalid_request_uri"), final.headers["Location"]
    else:
        assert_error_page(final)


def test_fapi1_advanced_final_par_ensure_pkce_required(fapi):
    refuse(fapi, "par", drop_everywhere("code_challenge", "code_challenge_method"),
           par_errors=("invalid_request",), redirect_errors=("invalid_request",))


def test_fapi1_advanced_final_par_ensure_plain_pkce_rejected(fapi):
    def change(request, _):
        request.set(code_challenge=request.verifier, code_challenge_method="plain")

    refuse(fapi, "par", change, par_errors=("invalid_request",), redirect_errors=("invalid_request",))


# === Negative tests: token endpoint / client authentication ===============================================

@pytest.mark.parametrize("auth", AUTHS)
def test_fapi1_advanced_final_ensure_client_id_in_token_endpoint(fapi, auth):
    """Client 2's client_id with client 1's code: mtls with client 1's certificate; private_key_jwt with an
    assertion naming client 2, signed with client 1's key."""
    client1, client2 = fapi.pair(auth, "par")
    request, callback, _ = client1.run_flow(fapi.browser)
    if auth == "mtls":
        credentials = {"client_id": client2.client_id}
    else:
        credentials = {"client_id": client2.client_id, "client_assertion_type": JWT_BEARER,
                       "client_assertion": client1.assertion(iss=client2.client_id, sub=client2.client_id)}
    response = client1.exchange(callback.params["code"], request, auth=credentials)
    assert_oauth_error(response, ("invalid_client", "invalid_grant"))


@pytest.mark.parametrize("auth", AUTHS)
def test_fapi1_advanced_final_ensure_mtls_holder_of_key_required(fapi, auth):
    client, _ = fapi.pair(auth, "par")
    request, callback, _ = client.run_flow(fapi.browser)
    form = {"grant_type": "authorization_code", "code": callback.params["code"], "redirect_uri": request.redirect_uri,
            "code_verifier": request.verifier, **client.auth_fields()}
    response = no_cert_token_request(client, form)
    if response is not None:
        assert_oauth_error(response, ("invalid_client", "invalid_request", "invalid_grant"))
    for name in ("token_endpoint", "pushed_authorization_request_endpoint", "userinfo_endpoint"):
        assert_fapi_tls(endpoint(fapi, name), fapi.daemon.keys / "ca.pem")


@pytest.mark.parametrize("auth", AUTHS)
def test_fapi1_advanced_final_ensure_authorization_code_is_bound_to_client(fapi, auth):
    client1, client2 = fapi.pair(auth, "par")
    request, callback, _ = client1.run_flow(fapi.browser)
    response = client2.exchange(callback.params["code"], request)
    assert_oauth_error(response, "invalid_grant")


@pytest.mark.parametrize("auth", AUTHS)
def test_fapi1_advanced_final_attempt_reuse_authorization_code_after_one_second(fapi, auth):
    client, _ = fapi.pair(auth, "par")
    request, callback, _ = client.run_flow(fapi.browser)
    first = assert_token_response(client.exchange(callback.params["code"], request), client)
    time.sleep(1)
    assert_oauth_error(client.exchange(callback.params["code"], request), "invalid_grant")
    # The tokens of the first use should be revoked (a warning in the suite; fapid revokes them).
    assert fapi.introspect(first["access_token"]) == {"active": False}


def test_fapi1_advanced_final_par_ensure_pkce_code_verifier_required(fapi):
    client, _ = fapi.pair("mtls", "par")
    request, callback, _ = client.run_flow(fapi.browser)
    assert_oauth_error(client.exchange(callback.params["code"], request, drop=("code_verifier",)), "invalid_grant")


def test_fapi1_advanced_final_par_incorrect_pkce_code_verifier_rejected(fapi):
    client, _ = fapi.pair("mtls", "par")
    request, callback, _ = client.run_flow(fapi.browser)
    response = client.exchange(callback.params["code"], request, code_verifier=secrets.token_urlsafe(48))
    assert_oauth_error(response, "invalid_grant")


def pkjwt_code(fapi, index=0):
    client = fapi.pair("pkjwt", "par")[index]
    request, callback, _ = client.run_flow(fapi.browser)
    return client, request, callback.params["code"]


def test_fapi1_advanced_final_ensure_signed_client_assertion_with_rs256_fails(fapi):
    client, request, code = pkjwt_code(fapi, index=1)  # client 2's RSA key, signing RS256
    response = client.exchange(code, request, auth=client.auth_fields(alg="RS256"))
    assert_oauth_error(response, "invalid_client")


def test_fapi1_advanced_final_ensure_client_assertion_in_token_endpoint(fapi):
    client, request, code = pkjwt_code(fapi)
    assert_oauth_error(client.exchange(code, request, auth={"client_id": client.client_id}), ("invalid_client", "invalid_request"))


def test_fapi1_advanced_final_ensure_client_assertion_with_exp_is5_minutes_in_past_fails(fapi):
    client, request, code = pkjwt_code(fapi)
    response = client.exchange(code, request, auth=client.auth_fields(iat_offset=-360, lifetime=60))  # exp 5 minutes ago
    assert_oauth_error(response, ("invalid_client", "invalid_request"))


def test_fapi1_advanced_final_ensure_client_assertion_with_wrong_aud_fails(fapi):
    client, request, code = pkjwt_code(fapi)
    response = client.exchange(code, request, auth=client.auth_fields(aud="https://fapidev-rs.authlete.net/api/userinfo"))
    assert_oauth_error(response, ("invalid_client", "invalid_request"))


def test_fapi1_advanced_final_ensure_client_assertion_with_no_sub_fails(fapi):
    client, request, code = pkjwt_code(fapi)
    response = client.exchange(code, request, auth=client.auth_fields(drop=("sub",)))
    assert_oauth_error(response, ("invalid_client", "invalid_request"))


def test_fapi1_advanced_final_ensure_client_assertion_with_wrong_iss_fails(fapi):
    client, request, code = pkjwt_code(fapi)
    response = client.exchange(code, request, auth=client.auth_fields(iss="wrong-issuer-value"))
    assert_oauth_error(response, ("invalid_client", "invalid_request"))


def test_fapi1_advanced_final_ensure_client_assertion_with_wrong_sub_fails(fapi):
    client, request, code = pkjwt_code(fapi)
    response = client.exchange(code, request, auth=client.auth_fields(sub="wrong-sub-value"))
    assert_oauth_error(response, ("invalid_client", "invalid_request"))


def par_with_assertion(fapi, **assertion):
    client, _ = fapi.pair("pkjwt", "par")
    request = client.new_request()
    return client.post("/par", {**client.auth_fields(**assertion), "request": request.sign()})


def test_fapi1_advanced_final_par_ensure_client_assertion_with_wrong_aud_fails(fapi):
    response = par_with_assertion(fapi, aud="https://fapidev-rs.authlete.net/api/userinfo")
    assert_oauth_error(response, ("invalid_client", "invalid_request"))


def test_fapi1_advanced_final_par_ensure_client_assertion_with_wrong_iss_fails(fapi):
    assert_oauth_error(par_with_assertion(fapi, iss="wrong-issuer-value"), ("invalid_client", "invalid_request"))


def test_fapi1_advanced_final_par_ensure_client_assertion_with_wrong_sub_fails(fapi):
    assert_oauth_error(par_with_assertion(fapi, sub="wrong-sub-value"), ("invalid_client", "invalid_request"))


# === §5: easy-to-miss requirements (where no module test above covers them) =================================

TLS_ENDPOINTS = ["token_endpoint", "pushed_authorization_request_endpoint", "backchannel_authentication_endpoint",
                 "registration_endpoint", "userinfo_endpoint", "introspection_endpoint", "revocation_endpoint"]


def tls_endpoint(fapi, name):
    metadata = discovery(fapi.daemon)
    if name == "registration_endpoint":
        # Dynamic registration (RFC 7591) is served at /register whether or not discovery names it.
        return metadata.get(name, fapi.daemon.issuer + "/register")
    return metadata[name]


def test_requirement_tls_1_0_and_1_1_refused(fapi):
    """§5.1: every endpoint refuses TLS 1.0 and 1.1 (the browser-facing authorization endpoint too)."""
    for name in TLS_ENDPOINTS + ["authorization_endpoint"]:
        parts = urllib.parse.urlsplit(tls_endpoint(fapi, name))
        report = tls_report(parts.hostname, parts.port or 443, str(fapi.daemon.keys / "ca.pem"))
        assert report["old_versions_accepted"] == {"-tls1": False, "-tls1_1": False}, (name, report["old_versions_accepted"])


@pytest.mark.parametrize("name", TLS_ENDPOINTS)
def test_requirement_tls12_only_fapi_cipher_suites(fapi, name):
    """§5.1 [FAPI1-ADV-8.5]: on TLS 1.2 the token, PAR, backchannel, registration, userinfo (resource),
    introspection and revocation endpoints offer only the four FAPI suites (every suite of the local
    OpenSSL is tried); DHE suites, a warning in the suite, are not offered either."""
    url = tls_endpoint(fapi, name)
    assert_fapi_tls(url, fapi.daemon.keys / "ca.pem")
    parts = urllib.parse.urlsplit(url)
    report = tls_report(parts.hostname, parts.port, str(fapi.daemon.keys / "ca.pem"))
    assert not any(suite.startswith("DHE-") for suite in report["tls12_accepted"])


@pytest.mark.parametrize("mode", MODES)
def test_requirement_s_hash_and_c_hash(fapi, mode):
    """§5.3: the hybrid front-channel id_token carries c_hash and, when state was sent, s_hash; without state
    neither state nor s_hash. JARM's code flow has no front-channel id_token."""
    client, _ = fapi.pair()
    for drop_state in (False, True):
        request = client.new_request(mode=mode)
        if drop_state:
            request.drop("state")
        callback = client.send(request, fapi.browser).finish(fapi.browser)
        claims = assert_success_callback(callback, request)
        if mode == "plain":
            assert claims["c_hash"] == half_hash(callback.params["code"])
            assert ("s_hash" in claims) is (not drop_state)
        else:
            assert "id_token" not in callback.params


def test_requirement_authorization_response_iss(fapi):
    """§5.4: iss in the authorization response (RFC 9207) is the issuer; advertised in discovery."""
    assert discovery(fapi.daemon)["authorization_response_iss_parameter_supported"] is True
    client, _ = fapi.pair()
    request, callback, _ = client.run_flow(fapi.browser)
    assert callback.params["iss"] == fapi.daemon.issuer


@pytest.mark.parametrize("method", METHODS)
def test_requirement_request_object_clock_skew(fapi, method):
    """§5.5: nbf 8 s in the future is accepted (clock skew)."""
    client, _ = fapi.pair("mtls", method)
    request = client.new_request()
    request.ro["nbf"] = int(time.time()) + 8
    callback = client.send(request, fapi.browser).finish(fapi.browser)
    assert_success_callback(callback, request)


def test_requirement_client_assertion_clock_skew(fapi):
    """§5.5: a client assertion with iat/nbf 8 s in the future is accepted; 60 s in the future is refused."""
    client, _ = fapi.pair("pkjwt", "par")
    request = client.new_request()
    now = int(time.time())
    accepted = client.post("/par", {**client.auth_fields(iat=now + 8, nbf=now + 8, exp=now + 68), "request": request.sign()})
    assert_par_response(accepted)
    request = client.new_request()
    refused = client.post("/par", {**client.auth_fields(iat=now + 60, nbf=now + 60, exp=now + 120), "request": request.sign()})
    assert_oauth_error(refused, ("invalid_client", "invalid_request"))


@pytest.mark.parametrize("aud", ["issuer", "token", "par", "array"])
def test_requirement_client_assertion_audiences(fapi, aud):
    """§5.6: FAPI 1 accepts the issuer, the token endpoint URL, the PAR URL and arrays as assertion aud, at the
    PAR and the token endpoint; iss and sub must equal the client_id (checked in the module tests)."""
    client, _ = fapi.pair("pkjwt", "par")
    audience = {"issuer": fapi.daemon.issuer, "token": endpoint(fapi, "token_endpoint"),
                "par": endpoint(fapi, "pushed_authorization_request_endpoint"),
                "array": ["https://other.example.com", fapi.daemon.issuer]}[aud]
    request, callback, _ = client.run_flow(fapi.browser, par_form={"client_assertion": client.assertion(audience)})
    if aud == "par":
        # The PAR URL names the PAR endpoint only: at the token endpoint it is another endpoint's URL (issue 16, item 9).
        refused = client.exchange(callback.params["code"], request, auth=client.auth_fields(aud=audience))
        assert_oauth_error(refused, "invalid_client")
        audience = fapi.daemon.issuer
    assert_token_response(client.exchange(callback.params["code"], request, auth=client.auth_fields(aud=audience)), client)


def test_requirement_client_assertion_lifetime_up_to_an_hour(fapi):
    """A client assertion whose exp is 3600 s after iat is accepted (client_assertion_max_lifetime_seconds, default 3600)."""
    client, _ = fapi.pair("pkjwt", "par")
    request = client.new_request()
    assert_par_response(client.post("/par", {**client.auth_fields(lifetime=3600), "request": request.sign()}))


def test_requirement_par_rules(fapi):
    """§5.7: 201 with a request_uri of ≥96 bits and a short expires_in (≥5 s); one use, at completion; only POST;
    bound to its client; no request_uri in the body (the module tests check the rest)."""
    client, _ = fapi.pair()
    request = client.new_request()
    pushed = client.post("/par", {**client.auth_fields(), "request": request.sign()})
    body = assert_par_response(pushed)
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert body["expires_in"] <= 600
    assert "no-store" in pushed.headers.get("Cache-Control", "")


@pytest.mark.parametrize("mode", MODES)
def test_requirement_code_and_token_entropy(fapi, mode):
    """§5.8: code, access token and refresh token each ≥128 bits long with ≥96 bits of entropy (the suite's estimate)."""
    client, _ = fapi.pair()
    request, callback, _ = client.run_flow(fapi.browser, mode=mode)
    assert_entropy(callback.params["code"], "code")
    body = assert_token_response(client.exchange(callback.params["code"], request), client)
    assert_entropy(body["access_token"], "access_token")
    assert_entropy(body["refresh_token"], "refresh_token")


def test_requirement_refresh_token_rules(fapi):
    """§5.9: VSCHAR refresh tokens, bound to the client and (mtls) to its certificate; a refreshed id_token
    consistent with the first; a rotated token, if any, replaces the old one."""
    client1, client2 = fapi.pair()
    body = client1.tokens(fapi.browser)
    refreshed = assert_token_response(client1.refresh(body["refresh_token"]), client1)
    assert refreshed["id_token_claims"]["sub"] == body["id_token_claims"]["sub"]
    # Another certificate than the one the refresh token is bound to (client 2's, naming client 1).
    assert_oauth_error(client1.refresh(body["refresh_token"], session=client2.http), ("invalid_client", "invalid_grant"))
    assert_oauth_error(client2.refresh(body["refresh_token"]), "invalid_grant")


def test_requirement_token_endpoint_responses(fapi):
    """§5.10: Cache-Control no-store on token responses; JSON errors; 400, or 401 only for invalid_client."""
    client1, _ = fapi.pair()
    assert_oauth_error(client1.post("/token", {"client_id": client1.client_id}), "invalid_request")
    assert_oauth_error(client1.post("/token", {"grant_type": "password", "client_id": client1.client_id}), "unsupported_grant_type")
    assert_oauth_error(client1.post("/token", {"grant_type": "authorization_code", "client_id": client1.client_id, "code": "nope",
                                               "redirect_uri": REDIRECT_URIS[0], "code_verifier": secrets.token_urlsafe(48)}), "invalid_grant")
    unknown = client1.post("/token", {"grant_type": "authorization_code", "client_id": "no-such-client", "code": "nope"})
    assert_oauth_error(unknown, "invalid_client", status=401)
    for response in (unknown,):
        assert "no-store" in response.headers.get("Cache-Control", "")


def test_requirement_error_description_characters(fapi):
    """§5.10 / RFC 6749 §5.2: error_description stays within %x20-21 / %x23-5B / %x5D-7E even when the error
    quotes what the client sent (non-ASCII, quotes, backslashes, control characters)."""
    client, _ = fapi.pair()
    hostile = 'accounts§ "quoted" back\\slash tab\there'
    request = client.new_request().set(scope="openid " + hostile)
    response = client.post("/par", {**client.auth_fields(), "request": request.sign()})
    body = assert_oauth_error(response, ("invalid_scope", "invalid_request"))
    assert DESCRIPTION_CHARSET.match(body.get("error_description", ""))
    token = client.post("/token", {"grant_type": "caf\u00e9\"\\\r\n", "client_id": client.client_id})
    assert_oauth_error(token, "unsupported_grant_type")
    by_value, _ = fapi.pair("mtls", "by_value")
    page = fapi.browser.authorize([("client_id", by_value.client_id), ("request", "not§a\"jwt")])
    assert_error_page(page)


def test_requirement_resource_endpoint(fapi):
    """§5.11 / the base class's resource checks: Date, x-fapi-interaction-id echoed, JSON, x-fapi-auth-date and an
    IPv6 x-fapi-customer-ip-address accepted, the token refused in the query, the scheme case-insensitive,
    another client's certificate refused."""
    client1, client2 = fapi.pair()
    token = client1.tokens(fapi.browser)["access_token"]
    assert_resource_works(client1, token)
    assert_resource_works(client1, token, method="POST")
    assert client1.userinfo(token, scheme="bEaReR").status_code == 200
    query = client1.http.session.get(fapi.daemon.base + "/userinfo", params={"access_token": token}, timeout=10)
    assert 400 <= query.status_code < 500
    assert 400 <= client2.userinfo(token).status_code < 500


def test_requirement_server_jwks(fapi):
    """§5.12 and the base class's JWKS checks: every key has a kid, kids are distinct, RSA ≥2048 bits, EC ≥224 bits,
    no private members; id_tokens and JARM responses are PS256/ES256 (checked on every flow)."""
    response = fapi.daemon.get("/jwks")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    keys = response.json()["keys"]
    kids = [key.get("kid") for key in keys]
    assert all(kids) and len(set(kids)) == len(kids)
    for key in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()
        if key["kty"] == "RSA":
            modulus = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
            assert len(modulus) * 8 >= 2048
        elif key["kty"] == "EC":
            assert key["crv"] in ("P-256", "P-384", "P-521")


@pytest.mark.parametrize("method", METHODS)
def test_requirement_parameters_outside_the_request_object_are_ignored(fapi, method):
    """§5.15: scope, state and nonce outside the signed request object are ignored (treated as absent); here
    a different scope outside must not widen or change what is granted."""
    client, _ = fapi.pair("mtls", method)
    request = client.new_request()
    request.params["scope"] = "openid accounts payments"
    callback = client.send(request, fapi.browser).finish(fapi.browser)
    assert_success_callback(callback, request)
    body = assert_token_response(client.exchange(callback.params["code"], request), client)
    assert set(body.get("scope", "openid accounts").split()) == {"openid", "accounts"}
