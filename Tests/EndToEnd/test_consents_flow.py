"""Consents end to end (issue 19): a TPP pushes RFC 9396 `authorization_details` (a £250.00 payment to ACME Ltd)
at PAR, the customer signs in and approves through the real login and consent forms, and the tokens carry the
consent (`grant_id`, `authorization_details`) in the token response, the JWT access token and introspection. The
payment consent is used once; Grant Management (`GET`/`DELETE /grants/{id}`) reads and revokes; a resource server
creates an intent with `POST /consents` that the TPP names as `openbanking_intent_id`. FAPI 1 Advanced (signed
request object, hybrid flow) and FAPI 2 Security Profile (unsigned PAR form, code flow) clients; SQLite and
PostgreSQL. The client side is requests + joserfc over real mTLS."""
import base64
import hashlib
import json
import re
import secrets
import time
import urllib.parse
import uuid

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from test_scale_out import postgres_admin_url, shared  # noqa: F401 (fixtures)
from tpp import TokenClient, register

REDIRECT = "https://tpp.example.com/callback"
TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
PASSWORD = "correct horse battery staple"

PAYMENT = [{
    "type": "payment_initiation",
    "instructedAmount": {"currency": "GBP", "amount": "250.00"},
    "creditorName": "ACME Ltd",
    "creditorAccount": {"iban": "GB29NWBK60161331926819"},
    "remittanceInformation": {"reference": "INV-42"},
}]
BALANCES = [{"type": "account_information", "actions": ["balances"]}]
SCOPES = "openid accounts payments grant_management_query grant_management_revoke"


def with_amount(amount):
    detail = json.loads(json.dumps(PAYMENT[0]))
    detail["instructedAmount"]["amount"] = amount
    return [detail]


class TPP:
    """One TPP client of `profile` (`fapi1-advanced`: signed request objects and the hybrid flow; `fapi2-security-profile`:
    unsigned PAR forms and the code flow), with its own browser for the customer."""

    def __init__(self, daemon, pki, profile, *, jwt_access_tokens=False, types=("payment_initiation", "account_information"), extra=None):
        self.daemon = daemon
        self.profile = profile
        self.fapi2 = profile != "fapi1-advanced"
        self.key = ECKey.generate_key("P-256")
        metadata = {
            "client_name": "Example TPP", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
            "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types": ["code"] if self.fapi2 else ["code id_token"], "scope": SCOPES,
            "jwks": {"keys": [self.key.as_dict(private=False)]}, "fapi_profile": profile,
            "authorization_details_types": list(types),
        }
        if jwt_access_tokens:
            metadata["access_token_format"] = "jwt"
        metadata.update(extra or {})
        self.client_id = register(daemon, metadata)
        self.http = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
        self.verifier = secrets.token_urlsafe(48)
        self.state = "state-" + uuid.uuid4().hex
        self.browser = requests.Session()
        self.browser.trust_env = False
        self.browser.verify = str(daemon.keys / "ca.pem")

    def push(self, details=None, scope="openid payments", **extra):
        """POST /par: the details as a request-object member (FAPI 1) or as JSON text in the form (FAPI 2)."""
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        members = {"client_id": self.client_id, "response_type": "code" if self.fapi2 else "code id_token", "redirect_uri": REDIRECT,
                   "scope": scope, "state": self.state, "nonce": "n-" + uuid.uuid4().hex, "code_challenge": challenge,
                   "code_challenge_method": "S256"}
        if details is not None:
            members["authorization_details"] = details
        members.update(extra)
        if self.fapi2:
            form = {name: (value if isinstance(value, str) else json.dumps(value)) for name, value in members.items()}
            return self.http.post("/par", form)
        now = int(time.time())
        claims = {"iss": self.client_id, "aud": self.daemon.issuer, "exp": now + 300, "nbf": now, "jti": str(uuid.uuid4()), **members}
        request = jwt.encode({"alg": "ES256"}, claims, self.key, algorithms=["ES256"])
        return self.http.post("/par", {"client_id": self.client_id, "request": request})

    def request_object(self, members):
        now = int(time.time())
        claims = {"iss": self.client_id, "aud": self.daemon.issuer, "exp": now + 300, "nbf": now, "jti": str(uuid.uuid4()), **members}
        return jwt.encode({"alg": "ES256"}, claims, self.key, algorithms=["ES256"])

    def pushed(self, details=None, **extra):
        response = self.push(details, **extra)
        assert response.status_code == 201, response.text
        return response.json()["request_uri"]

    @staticmethod
    def hidden(page, name):
        match = re.search(rf'name="{name}" value="([^"]+)"', page)
        return match.group(1) if match else None

    def approve(self, request_uri, decision="approve", by_value=None):
        """The customer opens the request (pushed, or `by_value` a request object), signs in (once per browser) and decides on
        the real forms; the redirect's members."""
        params = {"client_id": self.client_id, **({"request": by_value} if by_value else {"request_uri": request_uri})}
        page = self.browser.get(self.daemon.base + "/authorize", params=params, timeout=10)
        assert page.status_code == 200, page.text
        if "Sign in" in page.text:
            page = self.browser.post(self.daemon.base + "/authorize/login", data={
                "interaction": self.hidden(page.text, "interaction"), "csrf": self.hidden(page.text, "csrf"), "username": "alice",
                "password": PASSWORD}, timeout=30)
        assert page.status_code == 200 and "Approve" in page.text, page.text
        form = {"interaction": self.hidden(page.text, "interaction"), "csrf": self.hidden(page.text, "csrf"), "decision": decision}
        shown = self.hidden(page.text, "details_hash")
        if shown:
            form["details_hash"] = shown
        self.last_page = page.text
        response = self.browser.post(self.daemon.base + "/authorize/consent", data=form, allow_redirects=False, timeout=10)
        assert response.status_code == 303, response.text
        location = urllib.parse.urlsplit(response.headers["Location"])
        return dict(urllib.parse.parse_qsl(location.query if self.fapi2 else location.fragment))

    def exchange(self, code, **extra):
        return self.http.post("/token", {"grant_type": "authorization_code", "client_id": self.client_id, "code": code,
                                         "redirect_uri": REDIRECT, "code_verifier": self.verifier, **extra})

    def tokens(self, details=None, **extra):
        members = self.approve(self.pushed(details, **extra))
        assert "code" in members, members
        response = self.exchange(members["code"])
        assert response.status_code == 200, response.text
        return response.json()

    def introspect(self, token, **kwargs):
        # The TPP's certificate is also registered as the resource server (`fapictl resource-servers add`).
        return self.http.post("/introspect", {"token": token}, **kwargs)

    def management_token(self, scope):
        response = self.http.token(self.client_id, scope=scope)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def grant(self, method, grant_id, scope):
        token = self.management_token(scope)
        return self.http.session.request(method, self.daemon.base + "/grants/" + grant_id, headers={"Authorization": "Bearer " + token}, timeout=10)


def intent_claims(intent):
    return {"id_token": {"openbanking_intent_id": {"value": intent, "essential": True}},
            "userinfo": {"openbanking_intent_id": {"value": intent, "essential": True}}}


def setup_bank(daemon):
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)


@pytest.fixture
def bank(daemon):
    setup_bank(daemon)
    return daemon


def payment_once(tpp, daemon):
    """The done-when: a £250.00 payment pushed, shown, approved, carried by the tokens, used once."""
    tokens = tpp.tokens(PAYMENT)
    grant_id = tokens["grant_id"]
    assert tokens["authorization_details"] == PAYMENT
    # A single payment: no refresh token goes with it.
    assert "refresh_token" not in tokens
    # What the customer was shown is what was approved: the page carried the hash of exactly these details.
    canonical = json.dumps(PAYMENT, sort_keys=True, separators=(",", ":")).encode()
    assert tpp.hidden(tpp.last_page, "details_hash") == hashlib.sha256(canonical).hexdigest()
    info = tpp.introspect(tokens["access_token"]).json()
    assert info["active"] is True and info["grant_id"] == grant_id and info["authorization_details"] == PAYMENT
    signed = tpp.introspect(tokens["access_token"], headers={"Accept": "application/token-introspection+jwt"})
    assert signed.status_code == 200, signed.text
    keys = KeySet.import_key_set(daemon.get("/jwks").json())
    inner = jwt.decode(signed.text, keys, algorithms=["PS256", "ES256"]).claims["token_introspection"]
    assert inner["grant_id"] == grant_id and inner["authorization_details"] == PAYMENT
    # The payment consent cannot be used twice: naming it as intent again is refused at PAR.
    replay = tpp.push(None, claims=intent_claims(grant_id))
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_request", replay.text
    # The same details pushed again are a new consent (a new payment), not the old one.
    again = tpp.tokens(PAYMENT)
    assert again["grant_id"] != grant_id
    shown = tpp.grant("GET", grant_id, "grant_management_query")
    assert shown.status_code == 200, shown.text
    assert shown.json()["status"] == "consumed" and shown.json()["authorization_details"] == PAYMENT
    assert {"scope": "payments"} in shown.json()["scopes"]
    # After its one use the access token still introspects active, with its grant.
    assert tpp.introspect(tokens["access_token"]).json()["grant_id"] == grant_id
    # DELETE ends the grant and its tokens.
    deleted = tpp.grant("DELETE", grant_id, "grant_management_revoke")
    assert deleted.status_code == 204, deleted.text
    assert tpp.introspect(tokens["access_token"]).json() == {"active": False}
    assert tpp.grant("GET", grant_id, "grant_management_query").json()["status"] == "revoked"
    assert tpp.grant("DELETE", grant_id, "grant_management_revoke").status_code == 404
    return tokens


def test_fapi2_payment_consent_end_to_end(bank, pki):
    tpp = TPP(bank, pki, "fapi2-security-profile", jwt_access_tokens=True)
    tokens = payment_once(tpp, bank)
    keys = KeySet.import_key_set(bank.get("/jwks").json())
    claims = jwt.decode(tokens["access_token"], keys, algorithms=["PS256", "ES256"]).claims
    assert claims["client_id"] == tpp.client_id
    assert claims["grant_id"] == tokens["grant_id"] and claims["authorization_details"] == PAYMENT


def test_fapi1_payment_consent_end_to_end(bank, pki):
    tpp = TPP(bank, pki, "fapi1-advanced")
    tokens = payment_once(tpp, bank)
    assert tokens["token_type"] == "Bearer" and "id_token" in tokens


def test_grant_management_query_and_delete_revokes_the_tokens(bank, pki):
    tpp = TPP(bank, pki, "fapi2-security-profile")
    other = TPP(bank, pki, "fapi2-security-profile")
    tokens = tpp.tokens(BALANCES, scope="openid accounts", grant_management_action="create")
    grant_id = tokens["grant_id"]
    assert tokens["authorization_details"] == BALANCES and "refresh_token" in tokens
    metadata = bank.get("/.well-known/openid-configuration").json()
    assert metadata["grant_management_endpoint"] == bank.issuer + "/grants"
    assert metadata["grant_management_actions_supported"] == ["create", "merge", "replace"]
    assert metadata["grant_management_action_required"] is False
    shown = tpp.grant("GET", grant_id, "grant_management_query")
    assert shown.status_code == 200 and shown.json()["status"] == "authorised", shown.text
    assert shown.json()["scopes"] == [{"scope": "openid"}, {"scope": "accounts"}]
    # Another client's grant id answers as an unknown one; the query scope does not delete.
    assert other.grant("GET", grant_id, "grant_management_query").status_code == 404
    assert other.grant("DELETE", grant_id, "grant_management_revoke").status_code == 404
    assert tpp.grant("DELETE", grant_id, "grant_management_query").status_code == 403
    # Without the bound certificate the management token is refused.
    token = tpp.management_token("grant_management_query")
    bare = requests.get(bank.base + "/grants/" + grant_id, headers={"Authorization": "Bearer " + token}, verify=str(bank.keys / "ca.pem"),
                        timeout=10)
    assert bare.status_code == 401
    # merge with another client's grant id is invalid_grant_id.
    merge = other.push(BALANCES, scope="openid accounts", grant_management_action="merge", grant_id=grant_id)
    assert merge.status_code == 400 and merge.json()["error"] == "invalid_grant_id", merge.text
    deleted = tpp.grant("DELETE", grant_id, "grant_management_revoke")
    assert deleted.status_code == 204, deleted.text
    assert tpp.introspect(tokens["access_token"]).json() == {"active": False}
    refresh = tpp.http.post("/token", {"grant_type": "refresh_token", "client_id": tpp.client_id, "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    assert tpp.grant("GET", grant_id, "grant_management_query").json()["status"] == "revoked"


def test_grant_management_merge(bank, pki):
    tpp = TPP(bank, pki, "fapi2-security-profile")
    first = tpp.tokens(BALANCES, scope="openid accounts")
    transactions = [{"type": "account_information", "actions": ["transactions"]}]
    merged = tpp.tokens(transactions, scope="openid accounts", grant_management_action="merge", grant_id=first["grant_id"])
    assert merged["grant_id"] == first["grant_id"] and merged["authorization_details"] == BALANCES + transactions


def test_rfc7009_revocation_leaves_the_consent(bank, pki):
    tpp = TPP(bank, pki, "fapi1-advanced")
    tokens = tpp.tokens(BALANCES, scope="openid accounts")
    assert tpp.http.post("/revoke", {"client_id": tpp.client_id, "token": tokens["access_token"]}).status_code == 200
    assert tpp.grant("GET", tokens["grant_id"], "grant_management_query").json()["status"] == "authorised"


def test_intent_created_by_a_resource_server(bank, pki):
    tpp = TPP(bank, pki, "fapi1-advanced")
    other = TPP(bank, pki, "fapi1-advanced")
    created = tpp.http.session.post(bank.base + "/consents", json={"client_id": tpp.client_id, "authorization_details": PAYMENT}, timeout=10)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "awaiting_authorisation"
    intent = created.json()["consent_id"]
    # Another client cannot name it.
    stolen = other.push(None, claims=intent_claims(intent))
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_request", stolen.text
    unknown = tpp.push(None, claims=intent_claims("urn:bank:intent:42"))
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_request"
    members = tpp.approve(tpp.pushed(None, claims=intent_claims(intent)))
    keys = KeySet.import_key_set(bank.get("/jwks").json())
    assert jwt.decode(members["id_token"], keys, algorithms=["PS256"]).claims["openbanking_intent_id"] == intent
    tokens = tpp.exchange(members["code"]).json()
    assert tokens["grant_id"] == intent and tokens["authorization_details"] == PAYMENT
    assert jwt.decode(tokens["id_token"], keys, algorithms=["PS256"]).claims["openbanking_intent_id"] == intent
    # Used once: the intent cannot be authorised again.
    again = tpp.push(None, claims=intent_claims(intent))
    assert again.status_code == 400 and again.json()["error"] == "invalid_request"


def test_post_consents_refusals(bank, pki):
    tpp = TPP(bank, pki, "fapi1-advanced")
    url = bank.base + "/consents"
    anonymous = requests.post(url, json={"client_id": tpp.client_id, "authorization_details": PAYMENT}, verify=str(bank.keys / "ca.pem"), timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    post = tpp.http.session.post
    cases = [
        ({"client_id": "no-such-client", "authorization_details": PAYMENT}, "invalid_request"),
        ({"authorization_details": PAYMENT}, "invalid_request"),
        ({"client_id": tpp.client_id}, "invalid_request"),
        ({"client_id": tpp.client_id, "authorization_details": {"type": "payment_initiation"}}, "invalid_authorization_details"),
        ({"client_id": tpp.client_id, "authorization_details": with_amount(250)}, "invalid_authorization_details"),
    ]
    for body, error in cases:
        response = post(url, json=body, timeout=10)
        assert response.status_code == 400 and response.json()["error"] == error, (body, response.text)
    not_json = post(url, data="{", headers={"Content-Type": "application/json"}, timeout=10)
    assert not_json.status_code == 400 and not_json.json()["error"] == "invalid_request"


@pytest.mark.parametrize("profile", ["fapi1-advanced", "fapi2-security-profile"])
def test_bad_details_are_refused(bank, pki, profile):
    tpp = TPP(bank, pki, profile, types=("payment_initiation",))
    cases = [
        {"type": "payment_initiation"},                      # not an array
        [{"type": "no_such_type"}],                          # unknown type
        BALANCES,                                            # a type this client did not register
        with_amount(250),                                    # amount as a number
        with_amount("two hundred and fifty"),                # amount not a decimal string
    ]
    for details in cases:
        response = tpp.push(details)
        assert response.status_code == 400 and response.json()["error"] == "invalid_authorization_details", (details, response.text)
    if tpp.fapi2:
        malformed = tpp.http.post("/par", {"client_id": tpp.client_id, "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid",
                                           "code_challenge": "x" * 43, "code_challenge_method": "S256", "authorization_details": "[{"})
        assert malformed.status_code == 400 and malformed.json()["error"] == "invalid_authorization_details", malformed.text


def test_denied_consent_is_rejected(bank, pki):
    tpp = TPP(bank, pki, "fapi2-security-profile")
    members = tpp.approve(tpp.pushed(PAYMENT), decision="deny")
    assert members["error"] == "access_denied"


def test_payment_consent_on_postgresql(shared, pki):
    daemon, = shared.instances(count=1)
    setup_bank(daemon)
    payment_once(TPP(daemon, pki, "fapi2-security-profile"), daemon)


def test_fapi1_details_in_a_request_object_at_authorize(bank, pki):
    """FAPI 1 without PAR: the details travel in the signed request object to /authorize, and the consent is created there."""
    tpp = TPP(bank, pki, "fapi1-advanced", extra={"require_pushed_authorization_requests": False})
    challenge = base64.urlsafe_b64encode(hashlib.sha256(tpp.verifier.encode()).digest()).rstrip(b"=").decode()
    request = tpp.request_object({
        "client_id": tpp.client_id, "response_type": "code id_token", "redirect_uri": REDIRECT, "scope": "openid accounts",
        "state": tpp.state, "nonce": "n-1", "code_challenge": challenge, "code_challenge_method": "S256", "authorization_details": BALANCES})
    members = tpp.approve(None, by_value=request)
    tokens = tpp.exchange(members["code"]).json()
    assert tokens["authorization_details"] == BALANCES and "grant_id" in tokens
    refreshed = tpp.http.post("/token", {"grant_type": "refresh_token", "client_id": tpp.client_id, "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200 and refreshed.json()["grant_id"] == tokens["grant_id"], refreshed.text
    assert refreshed.json()["authorization_details"] == BALANCES
    bad = tpp.request_object({
        "client_id": tpp.client_id, "response_type": "code id_token", "redirect_uri": REDIRECT, "scope": "openid accounts",
        "state": tpp.state, "nonce": "n-2", "code_challenge": challenge, "code_challenge_method": "S256",
        "authorization_details": with_amount(250)})
    page = tpp.browser.get(bank.base + "/authorize", params={"client_id": tpp.client_id, "request": bad}, timeout=10)
    assert page.status_code == 400 and "invalid_authorization_details" in page.text


def test_review_fixes_scope_one_payment_and_intent_value(bank, pki):
    """Issue 19 review: a payment needs the payments scope (account data the accounts scope); at most one payment per
    request; openbanking_intent_id must be a string; a client without payments in its scope cannot create a payment intent."""
    tpp = TPP(bank, pki, "fapi2-security-profile")
    for details, scope in ((PAYMENT, "openid accounts"), (BALANCES, "openid payments"), (PAYMENT + with_amount("90.00"), "openid payments")):
        response = tpp.push(details, scope=scope)
        assert response.status_code == 400 and response.json()["error"] == "invalid_authorization_details", (details, response.text)
    for value in (7, {"a": 1}):
        response = tpp.push(None, claims={"id_token": {"openbanking_intent_id": {"value": value}}})
        assert response.status_code == 400 and response.json()["error"] == "invalid_request", response.text
    ais = TPP(bank, pki, "fapi2-security-profile", extra={"scope": "openid accounts"}, types=("account_information",))
    created = ais.http.session.post(bank.base + "/consents", json={"client_id": ais.client_id, "authorization_details": PAYMENT}, timeout=10)
    assert created.status_code == 400 and created.json()["error"] == "invalid_authorization_details", created.text


def test_review_fixes_dual_control_fails_closed_in_the_browser_flow(make_daemon, pki):
    """Issue 19 review: details needing two approvers (dual_control) are refused at PAR, and an intent needing staff
    approval is refused when named, before the customer is asked."""
    rule = {"payment_initiation": {"above_amount": {"currency": "GBP", "amount": "100.00"}, "approvals_required": 2}}
    daemon = make_daemon(env={"FAPID_DUAL_CONTROL": json.dumps(rule)}).start()
    setup_bank(daemon)
    tpp = TPP(daemon, pki, "fapi2-security-profile")
    refused = tpp.push(PAYMENT)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_authorization_details", refused.text
    assert tpp.push(with_amount("20.00")).status_code == 201
    created = tpp.http.session.post(daemon.base + "/consents", json={"client_id": tpp.client_id, "authorization_details": PAYMENT}, timeout=10)
    assert created.status_code == 201, created.text
    named = tpp.push(None, claims=intent_claims(created.json()["consent_id"]))
    assert named.status_code == 400 and named.json()["error"] == "invalid_request", named.text
