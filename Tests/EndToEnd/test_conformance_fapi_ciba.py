"""Traceability to the OpenID Foundation conformance suite, FAPI-CIBA ID1 (fapi-ciba-id1-test-plan, plain_fapi):
one test per module of docs/conformance.md §2, named after the module, sending what the module sends and
accepting what it accepts, plus the CIBA items of the easy-to-miss requirements (§5).

Variants: client authentication mtls | private_key_jwt, token delivery poll | ping (push is excluded by the
suite). Each pair is two clients (ES256 and PS256 keys, their own certificates with distinct subject DNs).
The PSU's approval, done by bank staff in fapid, is `fapictl ciba approve|deny`. Ping clients' notification
endpoint is an HTTPS server on loopback."""
import json
import time

import pytest
import requests

from conformance_support import (CIBA_GRANT, DESCRIPTION_CHARSET, PSU, CIBAClient, NotificationServer, add_psu_and_resource_server,
                                 assert_fapi_tls, assert_oauth_error, assert_resource_works, assert_token_response, broken_signature,
                                 decide, discovery, sign, start_daemon, stop_daemon, unsigned)
from tpp import TokenClient

RS_DN = "CN=conformance-resource-server,O=Conformance Bank,C=GB"
AUTHS = ["mtls", "pkjwt"]
MODES = ["poll", "ping"]
GOOD_TLS12 = {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
              "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384"}


class Setup:
    def __init__(self, daemon, pki, notifications):
        self.daemon = daemon
        self.pki = pki
        self.notifications = notifications
        add_psu_and_resource_server(daemon, RS_DN)
        self.pairs = {}

    def pair(self, auth="mtls", mode="poll"):
        if (auth, mode) not in self.pairs:
            self.pairs[(auth, mode)] = tuple(
                CIBAClient(self.daemon, self.pki, self.daemon.workdir, f"ciba-{auth}-{mode}-client{n}", auth=auth, alg=alg, mode=mode,
                           endpoint=self.notifications.url)
                for n, alg in ((1, "ES256"), (2, "PS256")))
        return self.pairs[(auth, mode)]


@pytest.fixture(scope="module")
def ciba(tmp_path_factory, pki):
    notifications = NotificationServer(pki)
    daemon = start_daemon(tmp_path_factory, pki, "ciba-conformance")
    try:
        yield Setup(daemon, pki, notifications)
    finally:
        stop_daemon(daemon)
        notifications.close()


def assert_ping(ciba, client, claims, ack):
    """CIBA Core §10.2 as the suite's notification endpoint checks it: one POST, JSON, `Authorization: Bearer
    <client_notification_token>`, a body holding only the auth_req_id, over TLS 1.2 with a good suite or TLS 1.3."""
    received = ciba.notifications.wait(claims["client_notification_token"])
    assert received, "no ping arrived"
    ping = received[0]
    assert ping["path"] == "/cb"
    assert ping["headers"].get("Content-Type", "").startswith("application/json")
    assert json.loads(ping["body"]) == {"auth_req_id": ack["auth_req_id"]}
    version, cipher = ping["tls"]
    assert version == "TLSv1.3" or (version == "TLSv1.2" and cipher in GOOD_TLS12), ping["tls"]
    return received


def assert_ciba_tokens(response, client, ack) -> dict:
    """200, no-store, a bound access token, an id_token naming the request and carrying neither c_hash nor s_hash."""
    body = assert_token_response(response, client)
    claims = body["id_token_claims"]
    assert claims["urn:openid:params:jwt:claim:auth_req_id"] == ack["auth_req_id"]
    assert "c_hash" not in claims and "s_hash" not in claims
    assert claims["sub"] == PSU
    return body


def approved(ciba, client, **claims):
    """A backchannel request approved by the staff and redeemed: returns (claims, ack, token body)."""
    ciba.notifications.reset()
    claims, ack = client.start(**claims)
    decide(ciba.daemon, client, approve=True)
    if client.mode == "ping":
        assert_ping(ciba, client, claims, ack)
    return claims, ack, assert_ciba_tokens(client.poll(ack["auth_req_id"]), client, ack)


def pending(response):
    """Before the decision: authorization_pending or slow_down (invalid_request, or 503 with Retry-After, also pass)."""
    if response.status_code == 503:
        assert response.headers.get("Retry-After")
        return
    assert_oauth_error(response, ("authorization_pending", "slow_down", "invalid_request"))


def refused_request(ciba, change=None, *, token=None, client_index=0, errors=("invalid_request",)):
    """A backchannel request the module expects refused with 400 invalid_request [CIBA-13]."""
    client = ciba.pair()[client_index]
    claims = client.request_claims()
    if change:
        change(claims)
    response = client.backchannel(claims, token=token(claims, client) if token else None)
    return assert_oauth_error(response, errors, access_denied_status=403)


# === Happy path / must succeed ======================================================================

def test_fapi_ciba_id1_discovery_endpoint_verification(ciba):
    metadata = discovery(ciba.daemon)
    assert metadata["issuer"] == ciba.daemon.issuer
    assert metadata["backchannel_authentication_endpoint"].startswith("https://")
    assert {"poll", "ping"} & set(metadata["backchannel_token_delivery_modes_supported"])
    assert metadata["backchannel_authentication_request_signing_alg_values_supported"]
    assert set(metadata["backchannel_authentication_request_signing_alg_values_supported"]) <= {"PS256", "ES256"}
    assert isinstance(metadata["backchannel_user_code_parameter_supported"], bool)
    assert CIBA_GRANT in metadata["grant_types_supported"]
    assert metadata["tls_client_certificate_bound_access_tokens"] is True
    assert {"tls_client_auth", "private_key_jwt"} <= set(metadata["token_endpoint_auth_methods_supported"])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("auth", AUTHS)
def test_fapi_ciba_id1(ciba, auth, mode):
    client1, client2 = ciba.pair(auth, mode)
    results = {}
    for client in (client1, client2):
        claims, ack, body = approved(ciba, client)
        assert_resource_works(client, body["access_token"])
        results[client.name] = (ack, body)
    # Client 1's certificate with client 2's token.
    stolen = client1.userinfo(results[client2.name][1]["access_token"])
    assert 400 <= stolen.status_code < 500, stolen.text
    # Client 2's auth_req_id again, after its success.
    assert_oauth_error(client2.poll(results[client2.name][0]["auth_req_id"]), "invalid_grant")
    for name in ("backchannel_authentication_endpoint", "token_endpoint", "userinfo_endpoint"):
        assert_fapi_tls(discovery(ciba.daemon)[name], ciba.daemon.keys / "ca.pem")


@pytest.mark.parametrize("mode", MODES)
def test_fapi_ciba_id1_user_rejects_authentication(ciba, mode):
    client, _ = ciba.pair("mtls", mode)
    ciba.notifications.reset()
    claims, ack = client.start()
    pending(client.poll(ack["auth_req_id"]))
    decide(ciba.daemon, client, approve=False)
    if mode == "ping":
        assert_ping(ciba, client, claims, ack)
    assert_oauth_error(client.poll(ack["auth_req_id"]), "access_denied")


@pytest.mark.parametrize("mode", MODES)
def test_fapi_ciba_id1_multiple_call_to_token_endpoint(ciba, mode):
    client, _ = ciba.pair("mtls", mode)
    ciba.notifications.reset()
    claims, ack = client.start()
    pending(client.poll(ack["auth_req_id"]))
    pending(client.poll(ack["auth_req_id"]))
    if mode == "ping":
        time.sleep(0.5)
        assert ciba.notifications.for_token(claims["client_notification_token"]) == [], "the notification endpoint was called before any decision"
    decide(ciba.daemon, client, approve=True)
    if mode == "ping":
        assert_ping(ciba, client, claims, ack)
    assert_ciba_tokens(client.poll(ack["auth_req_id"]), client, ack)


def test_fapi_ciba_id1_auth_req_id_expired(ciba):
    """requested_expiry=10 honoured, then expired_token; poll and ping clients wait out the same 11 s."""
    started = []
    for mode in MODES:
        client, _ = ciba.pair("mtls", mode)
        claims, ack = client.start(requested_expiry=10)
        assert ack["expires_in"] <= 10, ack
        pending(client.poll(ack["auth_req_id"]))
        started.append((client, ack))
    time.sleep(11)
    for client, ack in started:
        assert_oauth_error(client.poll(ack["auth_req_id"]), "expired_token")


def test_fapi_ciba_id1_ensure_authorization_request_with_binding_message_succeeds(ciba):
    client, _ = ciba.pair()
    approved(ciba, client, binding_message="1234")


@pytest.mark.parametrize("mode", MODES)
def test_fapi_ciba_id1_ensure_other_scope_order_succeeds(ciba, mode):
    client, _ = ciba.pair("mtls", mode)
    _, _, body = approved(ciba, client, scope="accounts openid")
    assert set(body.get("scope", "openid accounts").split()) == {"openid", "accounts"}


@pytest.mark.parametrize("requested_expiry", ["30", 30], ids=["string", "number"])
def test_fapi_ciba_id1_ensure_requested_expiry_as_string_succeeds(ciba, requested_expiry):
    client, _ = ciba.pair()
    ciba.notifications.reset()
    claims, ack = client.start(requested_expiry=requested_expiry)
    assert 0 < ack["expires_in"] <= 30, ack
    decide(ciba.daemon, client)
    assert_ciba_tokens(client.poll(ack["auth_req_id"]), client, ack)


def test_fapi_ciba_id1_ensure_client_assertion_with_iss_aud_to_token_endpoint_succeeds(ciba):
    client, _ = ciba.pair("pkjwt", "poll")
    claims, ack = client.start()
    decide(ciba.daemon, client)
    response = client.poll(ack["auth_req_id"], auth=client.auth_fields(aud=ciba.daemon.issuer))
    assert_ciba_tokens(response, client, ack)


@pytest.mark.parametrize("auth", AUTHS)
def test_fapi_ciba_id1_refresh_token(ciba, auth):
    client1, client2 = ciba.pair(auth, "poll")
    first = {client.name: approved(ciba, client)[2] for client in (client1, client2)}
    time.sleep(1)
    original = first[client1.name]
    refreshed = assert_token_response(client1.refresh(original["refresh_token"]), client1)
    before, after = original["id_token_claims"], refreshed["id_token_claims"]
    assert (after["sub"], after["iss"], after["aud"]) == (before["sub"], before["iss"], before["aud"])
    refresh_token = refreshed.get("refresh_token", original["refresh_token"])
    if auth == "mtls":
        try:
            response = client1.refresh(refresh_token, session=TokenClient(ciba.daemon, None))
        except (requests.exceptions.SSLError, requests.exceptions.ConnectionError):
            response = None
        if response is not None:
            assert_oauth_error(response, "invalid_client")
    assert_oauth_error(client1.refresh(first[client2.name]["refresh_token"]), "invalid_grant")


def ping_flow_with_answer(ciba, answer):
    """Whatever the notification endpoint answers, the flow completes through the token endpoint."""
    client, _ = ciba.pair("mtls", "ping")
    ciba.notifications.reset(answer)
    claims, ack = client.start()
    decide(ciba.daemon, client)
    received = assert_ping(ciba, client, claims, ack)
    assert_ciba_tokens(client.poll(ack["auth_req_id"]), client, ack)
    return received


def test_fapi_ciba_id1_ping_notification_endpoint_returns_a_body(ciba):
    ping_flow_with_answer(ciba, "200-body")


def test_fapi_ciba_id1_ping_notification_endpoint_returns401(ciba):
    ping_flow_with_answer(ciba, "401")


def test_fapi_ciba_id1_ping_notification_endpoint_returns403(ciba):
    ping_flow_with_answer(ciba, "403")


def test_fapi_ciba_id1_ping_notification_endpoint_returns_redirect_request(ciba):
    ping_flow_with_answer(ciba, "301")
    time.sleep(0.5)
    assert not any(entry["path"].startswith("/redirected") for entry in ciba.notifications.received), "the redirect was followed"


def test_fapi_ciba_id1_ping_notification_endpoint_returns401_and_require_server_does_not_retry(ciba):
    client, _ = ciba.pair("mtls", "ping")
    ciba.notifications.reset("401")
    claims, ack = client.start()
    decide(ciba.daemon, client)
    assert_ping(ciba, client, claims, ack)
    time.sleep(5)  # the suite waits 5 s for a second call
    assert len(ciba.notifications.for_token(claims["client_notification_token"])) == 1, ciba.notifications.received
    assert_ciba_tokens(client.poll(ack["auth_req_id"]), client, ack)


# === "Possible failure" ==================================================================================

POTENTIALLY_BAD_BINDING_MESSAGE = (
    "1234 \U0001F44D\U0001F3FF 品川 Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
    "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. "
    "Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat "
    "cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.")


def test_fapi_ciba_id1_ensure_authorization_request_with_potentially_bad_binding_message(ciba):
    """Shown to the approver exactly as sent (fapictl ciba list), or refused with invalid_binding_message."""
    client, _ = ciba.pair()
    claims = client.request_claims(binding_message=POTENTIALLY_BAD_BINDING_MESSAGE)
    response = client.backchannel(claims)
    if response.status_code != 200:
        assert_oauth_error(response, "invalid_binding_message")
        return
    rows = json.loads(ciba.daemon.fapictl("ciba", "list", "--json").stdout)
    assert POTENTIALLY_BAD_BINDING_MESSAGE in [row.get("binding_message") for row in rows]
    decide(ciba.daemon, client)
    ack = response.json()
    assert_ciba_tokens(client.poll(ack["auth_req_id"]), client, ack)


# === Negative tests: backchannel request object (400 invalid_request) ==================================

def drop(*names):
    def change(claims):
        for name in names:
            claims.pop(name, None)
    return change


def put(**values):
    def change(claims):
        claims.update(values)
    return change


def test_fapi_ciba_id1_ensure_request_object_missing_aud_fails(ciba):
    refused_request(ciba, drop("aud"))


def test_fapi_ciba_id1_ensure_request_object_bad_aud_fails(ciba):
    refused_request(ciba, put(aud="https://www.other1.example.com/"))


def test_fapi_ciba_id1_ensure_request_object_missing_iss_fails(ciba):
    refused_request(ciba, drop("iss"))


def test_fapi_ciba_id1_ensure_request_object_bad_iss_fails(ciba):
    refused_request(ciba, put(iss=ciba.pair()[1].client_id))


def test_fapi_ciba_id1_ensure_request_object_missing_exp_fails(ciba):
    refused_request(ciba, drop("exp"))


def test_fapi_ciba_id1_ensure_request_object_expired_exp_fails(ciba):
    refused_request(ciba, put(exp=int(time.time()) - 3600))


def test_fapi_ciba_id1_ensure_request_object_exp_is70_minutes_in_future_fails(ciba):
    refused_request(ciba, put(exp=int(time.time()) + 70 * 60))


def test_fapi_ciba_id1_ensure_request_object_missing_iat_fails(ciba):
    refused_request(ciba, drop("iat"))


def test_fapi_ciba_id1_ensure_request_object_missing_nbf_fails(ciba):
    refused_request(ciba, drop("nbf"))


def test_fapi_ciba_id1_ensure_request_object_nbf_is10_minutes_in_future_fails(ciba):
    refused_request(ciba, put(nbf=int(time.time()) + 10 * 60))


def test_fapi_ciba_id1_ensure_request_object_nbf_is70_minutes_in_past_fails(ciba):
    refused_request(ciba, put(nbf=int(time.time()) - 70 * 60))


def test_fapi_ciba_id1_ensure_request_object_missing_jti_fails(ciba):
    refused_request(ciba, drop("jti"))


def test_fapi_ciba_id1_ensure_request_object_signature_algorithm_is_none_fails(ciba):
    refused_request(ciba, token=lambda claims, _: unsigned(claims))


def test_fapi_ciba_id1_ensure_request_object_signature_algorithm_is_bad_fails(ciba):
    refused_request(ciba, token=lambda claims, client: broken_signature(sign(claims, client.key, client.alg)))


def test_fapi_ciba_id1_ensure_request_object_signature_algorithm_is_rs256_fails(ciba):
    # Client 2's own RSA key with RS256.
    refused_request(ciba, token=lambda claims, client: sign(claims, client.key, "RS256"), client_index=1)


def test_fapi_ciba_id1_ensure_request_object_signed_by_other_client_fails(ciba):
    other = ciba.pair()[1]
    refused_request(ciba, token=lambda claims, _: sign(claims, other.key, other.alg))


def test_fapi_ciba_id1_ensure_authorization_request_with_multiple_hints_fails(ciba):
    refused_request(ciba, put(login_hint="join@example.com", login_hint_token="xxxxxxxxxxxxxxxxxxxx"))


def test_fapi_ciba_id1_ensure_backchannel_authorization_request_without_request_fails(ciba):
    client, _ = ciba.pair()
    claims = client.request_claims()
    form = {name: str(value) for name, value in claims.items() if name in ("scope", "login_hint", "binding_message")}
    response = client.post("/bc-authorize", {**client.auth_fields(), **form})
    assert_oauth_error(response, "invalid_request")


# === Negative tests: token endpoint / client authentication ====================================

def test_fapi_ciba_id1_ensure_wrong_authentication_request_id_in_token_endpoint_request(ciba):
    client1, client2 = ciba.pair()
    claims, ack = client1.start()
    decide(ciba.daemon, client1)
    assert_oauth_error(client2.poll(ack["auth_req_id"]), "invalid_grant")


@pytest.mark.parametrize("auth", AUTHS)
def test_fapi_ciba_id1_ensure_mtls_holder_of_key_required(ciba, auth):
    client, _ = ciba.pair(auth, "poll")
    claims, ack = client.start()
    decide(ciba.daemon, client)
    try:
        response = client.poll(ack["auth_req_id"], session=TokenClient(ciba.daemon, None))
    except (requests.exceptions.SSLError, requests.exceptions.ConnectionError):
        response = None
    if response is not None:
        assert_oauth_error(response, ("invalid_client", "invalid_request", "invalid_grant"))
    for name in ("backchannel_authentication_endpoint", "token_endpoint"):
        assert_fapi_tls(discovery(ciba.daemon)[name], ciba.daemon.keys / "ca.pem")


def test_fapi_ciba_id1_ensure_different_client_id_and_issuer_in_backchannel_authorization_request(ciba):
    """Client 1's request object and certificate, client 2's client_id in the form: 401 invalid_client."""
    client1, client2 = ciba.pair("mtls", "poll")
    response = client1.backchannel(auth={"client_id": client2.client_id})
    assert_oauth_error(response, "invalid_client", status=401)


def test_fapi_ciba_id1_ensure_wrong_client_id_in_token_endpoint_request(ciba):
    client1, client2 = ciba.pair("mtls", "poll")
    claims, ack = client1.start()
    decide(ciba.daemon, client1)
    assert_oauth_error(client1.poll(ack["auth_req_id"], auth={"client_id": client2.client_id}), "invalid_client")


def test_fapi_ciba_id1_ensure_wrong_client_id_in_backchannel_authorization_request(ciba):
    """Client 2's client_id (form and request object), with client 1's keys and certificate."""
    client1, client2 = ciba.pair("mtls", "poll")
    claims = client1.request_claims(iss=client2.client_id)
    response = client1.backchannel(claims, auth={"client_id": client2.client_id})
    assert_oauth_error(response, ("access_denied", "invalid_request", "invalid_client"), access_denied_status=403)


def test_fapi_ciba_id1_ensure_without_client_assertion_in_token_endpoint_fails(ciba):
    client, _ = ciba.pair("pkjwt", "poll")
    claims, ack = client.start()
    decide(ciba.daemon, client)
    assert_oauth_error(client.poll(ack["auth_req_id"], auth={"client_id": client.client_id}), ("invalid_client", "invalid_request"))


def test_fapi_ciba_id1_ensure_without_client_assertion_in_backchannel_authorization_request_fails(ciba):
    client, _ = ciba.pair("pkjwt", "poll")
    response = client.backchannel(auth={"client_id": client.client_id})
    assert_oauth_error(response, ("invalid_client", "invalid_request", "access_denied"), access_denied_status=403)


def test_fapi_ciba_id1_ensure_client_assertion_signature_algorithm_in_backchannel_authorization_request_is_rs256_fails(ciba):
    client = ciba.pair("pkjwt", "poll")[1]  # RSA key
    response = client.backchannel(auth=client.auth_fields(alg="RS256"))
    assert_oauth_error(response, ("invalid_client", "invalid_request", "access_denied"), access_denied_status=403)


def test_fapi_ciba_id1_ensure_client_assertion_signature_algorithm_in_token_endpoint_request_is_rs256_fails(ciba):
    client = ciba.pair("pkjwt", "poll")[1]
    claims, ack = client.start()
    decide(ciba.daemon, client)
    assert_oauth_error(client.poll(ack["auth_req_id"], auth=client.auth_fields(alg="RS256")), "invalid_client")


# === §5: CIBA requirements not covered above ==========================================================

def test_requirement_ciba_slow_down_and_interval(ciba):
    """§5.14: while waiting, authorization_pending, and slow_down for polling faster than the interval."""
    client, _ = ciba.pair()
    claims, ack = client.start()
    assert ack.get("interval", 5) >= 0
    assert_oauth_error(client.poll(ack["auth_req_id"]), ("authorization_pending", "slow_down"))
    assert_oauth_error(client.poll(ack["auth_req_id"]), "slow_down")
    decide(ciba.daemon, client, approve=False)


def test_requirement_ciba_error_description_characters(ciba):
    """§5.10 / RFC 6749 §5.2 at the backchannel endpoint: an error quoting what the client sent keeps its
    error_description within %x20-21 / %x23-5B / %x5D-7E."""
    client, _ = ciba.pair()
    claims = client.request_claims(scope='openid accounts§ "quoted" back\\slash')
    body = assert_oauth_error(client.backchannel(claims), ("invalid_scope", "invalid_request"))
    assert DESCRIPTION_CHARSET.match(body.get("error_description", ""))
    claims = client.request_claims(login_hint="nobody§\"\\")
    assert_oauth_error(client.backchannel(claims), ("unknown_user_id", "invalid_request"))


def test_requirement_ciba_auth_req_id_single_use_and_bound(ciba):
    """§5.8/§5.14: auth_req_id has ≥96 bits of entropy (checked on every start), is redeemed once, and only by its client."""
    client1, client2 = ciba.pair("pkjwt", "poll")
    claims, ack = client1.start()
    decide(ciba.daemon, client1)
    assert_oauth_error(client2.poll(ack["auth_req_id"]), "invalid_grant")
    assert_ciba_tokens(client1.poll(ack["auth_req_id"]), client1, ack)
    assert_oauth_error(client1.poll(ack["auth_req_id"]), "invalid_grant")
