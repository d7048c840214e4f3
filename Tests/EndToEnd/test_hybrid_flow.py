"""The FAPI 1 Advanced hybrid flow end to end: PAR with a signed request object, the PSU's login and
consent forms, the fragment with a detached-signature id_token, the code exchanged with PKCE over mTLS,
refresh; and the negative cases. The client side is requests + joserfc."""
import base64
import hashlib
import re
import secrets
import time
import urllib.parse
import uuid

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from tpp import TokenClient, register, thumbprint

REDIRECT = "https://tpp.example.com/callback"
TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
PASSWORD = "correct horse battery staple"


def half_hash(value):
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()[:16]).rstrip(b"=").decode()


class Flow:
    def __init__(self, daemon, pki):
        self.daemon = daemon
        self.pki = pki
        self.key = ECKey.generate_key("P-256")
        self.client_id = register(daemon, {
            "client_name": "Example TPP", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
            "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code id_token"],
            "scope": "openid accounts", "jwks": {"keys": [self.key.as_dict(private=False)]},
            "authorization_details_types": ["account_information"],
        })
        self.tpp = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
        self.verifier = secrets.token_urlsafe(48)
        self.state = "state-" + uuid.uuid4().hex
        self.nonce = "nonce-" + uuid.uuid4().hex
        self.browser = requests.Session()
        self.browser.trust_env = False
        self.browser.verify = str(daemon.keys / "ca.pem")

    def par(self, **overrides):
        now = int(time.time())
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        claims = {"iss": self.client_id, "aud": self.daemon.issuer, "exp": now + 300, "nbf": now, "jti": str(uuid.uuid4()),
                  "client_id": self.client_id, "response_type": "code id_token", "redirect_uri": REDIRECT, "scope": "openid accounts",
                  "state": self.state, "nonce": self.nonce, "code_challenge": challenge, "code_challenge_method": "S256"}
        claims.update(overrides)
        response = self.tpp.post("/par", {"client_id": self.client_id, "request": jwt.encode({"alg": "ES256"}, claims, self.key, algorithms=["ES256"])})
        assert response.status_code == 201, response.text
        return response.json()["request_uri"]

    def authorize(self, request_uri):
        return self.browser.get(self.daemon.base + "/authorize", params={"client_id": self.client_id, "request_uri": request_uri}, timeout=10)

    @staticmethod
    def hidden(page, name):
        match = re.search(rf'name="{name}" value="([^"]+)"', page)
        assert match, page
        return match.group(1)

    def login(self, page, password=PASSWORD):
        return self.browser.post(self.daemon.base + "/authorize/login", data={
            "interaction": self.hidden(page, "interaction"), "csrf": self.hidden(page, "csrf"), "username": "alice", "password": password}, timeout=30)

    def consent(self, page, decision="approve"):
        data = {"interaction": self.hidden(page, "interaction"), "csrf": self.hidden(page, "csrf"), "decision": decision}
        if 'name="details_hash"' in page:
            # A consent with authorization_details: the page posts back the hash of the details it showed.
            data["details_hash"] = self.hidden(page, "details_hash")
        response = self.browser.post(self.daemon.base + "/authorize/consent", data=data, allow_redirects=False, timeout=10)
        assert response.status_code == 303, response.text
        location = response.headers["Location"]
        assert location.startswith(REDIRECT + "#")
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).fragment))

    def run_to_fragment(self):
        page = self.authorize(self.par())
        assert page.status_code == 200 and "Sign in" in page.text, page.text
        consent = self.login(page.text)
        assert consent.status_code == 200 and "Approve" in consent.text, consent.text
        return self.consent(consent.text)

    def exchange(self, code, verifier=None, client=None):
        return (client or self.tpp).post("/token", {"grant_type": "authorization_code", "client_id": self.client_id, "code": code,
                                                   "redirect_uri": REDIRECT, "code_verifier": verifier or self.verifier})


@pytest.fixture
def flow(daemon, pki):
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    return Flow(daemon, pki)


def test_hybrid_flow_with_par_pkce_and_refresh(flow, daemon, pki):
    fragment = flow.run_to_fragment()
    assert fragment["state"] == flow.state and fragment["iss"] == daemon.issuer
    keys = KeySet.import_key_set(daemon.get("/jwks").json())
    front = jwt.decode(fragment["id_token"], keys, algorithms=["PS256", "ES256"])
    assert front.header["alg"] == "PS256" and "kid" in front.header
    claims = front.claims
    assert claims["iss"] == daemon.issuer and claims["aud"] == flow.client_id and claims["nonce"] == flow.nonce
    assert claims["c_hash"] == half_hash(fragment["code"]) and claims["s_hash"] == half_hash(flow.state)
    assert claims["sub"] == "alice" and claims["exp"] > time.time()

    response = flow.exchange(fragment["code"])
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert response.headers["Cache-Control"] == "no-store"
    back = jwt.decode(tokens["id_token"], keys, algorithms=["PS256"]).claims
    assert back["sub"] == claims["sub"] and back["at_hash"] == half_hash(tokens["access_token"])
    info = flow.tpp.post("/introspect", {"token": tokens["access_token"]}).json()
    assert info["active"] and info["sub"] == "alice" and info["cnf"]["x5t#S256"] == thumbprint(pki / "tpp.pem")

    refreshed = flow.tpp.post("/token", {"grant_type": "refresh_token", "client_id": flow.client_id, "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["access_token"] != tokens["access_token"]
    assert jwt.decode(refreshed.json()["id_token"], keys, algorithms=["PS256"]).claims["sub"] == "alice"
    no_cert = TokenClient(daemon, None).post("/token", {"grant_type": "refresh_token", "client_id": flow.client_id,
                                                        "refresh_token": tokens["refresh_token"]})
    assert no_cert.status_code == 401 and no_cert.json()["error"] == "invalid_client"

    # Reusing the code fails and revokes what it produced.
    reuse = flow.exchange(fragment["code"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert flow.tpp.post("/introspect", {"token": tokens["access_token"]}).json() == {"active": False}
    again = flow.tpp.post("/token", {"grant_type": "refresh_token", "client_id": flow.client_id, "refresh_token": tokens["refresh_token"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_wrong_verifier_and_request_uri_reuse(flow):
    request_uri = flow.par()
    page = flow.authorize(request_uri)
    fragment = flow.consent(flow.login(page.text).text)
    wrong = flow.exchange(fragment["code"], verifier=secrets.token_urlsafe(48))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    reused = flow.authorize(request_uri)
    assert reused.status_code == 400 and "cannot go on" in reused.text


def test_login_errors_deny_and_page_headers(flow):
    page = flow.authorize(flow.par())
    assert page.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store" and "<script" not in page.text
    wrong = flow.login(page.text, password="not the password")
    assert wrong.status_code == 401 and "not right" in wrong.text
    consent = flow.login(wrong.text)
    fragment = flow.consent(consent.text, decision="deny")
    assert fragment["error"] == "access_denied" and fragment["state"] == flow.state and "code" not in fragment


def test_authorize_refuses_unpushed_or_unknown_requests(flow, daemon):
    response = flow.browser.get(daemon.base + "/authorize", params={"client_id": flow.client_id, "response_type": "code id_token",
                                                                    "redirect_uri": REDIRECT, "scope": "openid"}, timeout=10)
    assert response.status_code == 400 and "pushed authorization" in response.text
    response = flow.browser.get(daemon.base + "/authorize", params={"client_id": flow.client_id,
                                                                    "request_uri": "urn:ietf:params:oauth:request_uri:nope"}, timeout=10)
    assert response.status_code == 400
    response = flow.browser.get(daemon.base + "/authorize", params={"client_id": "unknown", "request_uri": "x"}, timeout=10)
    assert response.status_code == 400


def test_code_of_another_client_is_refused(flow, daemon, pki, tmp_path):
    fragment = flow.run_to_fragment()
    other_key = ECKey.generate_key("P-256")
    other = register(daemon, {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [other_key.as_dict(private=False)]},
                              "redirect_uris": [REDIRECT], "grant_types": ["authorization_code"], "scope": "openid accounts"})
    from tpp import JWT_BEARER, assertion
    response = flow.tpp.post("/token", {"grant_type": "authorization_code", "code": fragment["code"], "redirect_uri": REDIRECT,
                                        "code_verifier": flow.verifier, "client_assertion_type": JWT_BEARER,
                                        "client_assertion": assertion(other_key, "ES256", other, daemon.issuer)})
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_userinfo_is_bound_to_the_certificate(flow, daemon, pki, tmp_path):
    tokens = flow.exchange(flow.run_to_fragment()["code"]).json()
    bearer = {"Authorization": "Bearer " + tokens["access_token"]}
    response = flow.tpp.session.get(daemon.base + "/userinfo", headers=bearer, timeout=10)
    assert response.status_code == 200 and response.json() == {"sub": "alice"}
    assert "Date" in response.headers and "x-fapi-interaction-id" in response.headers
    assert flow.tpp.session.post(daemon.base + "/userinfo", headers={"authorization": "bearer " + tokens["access_token"]}, timeout=10).status_code == 200
    query = flow.tpp.session.get(daemon.base + "/userinfo", params={"access_token": tokens["access_token"]}, timeout=10)
    assert query.status_code == 400
    from tpp import issue_certificate
    other = TokenClient(daemon, issue_certificate(tmp_path, "other", "/CN=other", pki / "ca.pem", pki / "ca.key"))
    stolen = other.session.get(daemon.base + "/userinfo", headers=bearer, timeout=10)
    assert stolen.status_code == 401 and stolen.json()["error"] == "invalid_token" and "WWW-Authenticate" in stolen.headers
    assert flow.tpp.session.get(daemon.base + "/userinfo", timeout=10).status_code == 401


def test_jarm_response(flow, daemon):
    page = flow.authorize(flow.par(response_mode="jwt"))
    consent = flow.login(page.text)
    response = flow.browser.post(daemon.base + "/authorize/consent", data={
        "interaction": Flow.hidden(consent.text, "interaction"), "csrf": Flow.hidden(consent.text, "csrf"), "decision": "approve"},
        allow_redirects=False, timeout=10)
    fragment = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(response.headers["Location"]).fragment))
    assert set(fragment) == {"response"}
    keys = KeySet.import_key_set(daemon.get("/jwks").json())
    claims = jwt.decode(fragment["response"], keys, algorithms=["PS256"]).claims
    assert claims["iss"] == daemon.issuer and claims["aud"] == flow.client_id and claims["state"] == flow.state
    assert claims["exp"] > time.time() and "code" in claims and "id_token" in claims
    assert flow.exchange(claims["code"]).status_code == 200


def test_prompt_none_without_a_session(flow, daemon):
    response = flow.browser.get(daemon.base + "/authorize", params={"client_id": flow.client_id, "request_uri": flow.par(prompt="none")},
                                allow_redirects=False, timeout=10)
    assert response.status_code == 303
    fragment = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(response.headers["Location"]).fragment))
    assert fragment["error"] == "login_required" and fragment["state"] == flow.state


def test_a_signed_in_psu_skips_the_login(flow, daemon):
    flow.run_to_fragment()
    flow.state = "second-" + uuid.uuid4().hex
    page = flow.authorize(flow.par())
    assert page.status_code == 200 and "Approve" in page.text and "Sign in" not in page.text
    assert flow.consent(page.text)["state"] == flow.state


def test_acr_and_openbanking_intent_reach_the_id_token(flow, daemon):
    # Issue 19: an openbanking_intent_id names a consent the bank created (here by the resource server's
    # POST /consents), no longer any string the TPP sends.
    created = flow.tpp.session.post(daemon.base + "/consents", json={
        "client_id": flow.client_id, "authorization_details": [{"type": "account_information", "actions": ["balances"]}]}, timeout=10)
    assert created.status_code == 201, created.text
    intent = created.json()["consent_id"]
    claims_request = {"id_token": {"acr": {"essential": True, "values": ["urn:openbanking:psd2:ca"]},
                                   "openbanking_intent_id": {"value": intent, "essential": True}}}
    page = flow.authorize(flow.par(claims=claims_request))
    fragment = flow.consent(flow.login(page.text).text)
    keys = KeySet.import_key_set(daemon.get("/jwks").json())
    front = jwt.decode(fragment["id_token"], keys, algorithms=["PS256"]).claims
    assert front["acr"] == "urn:openbanking:psd2:ca" and front["openbanking_intent_id"] == intent
    back = jwt.decode(flow.exchange(fragment["code"]).json()["id_token"], keys, algorithms=["PS256"]).claims
    assert back["openbanking_intent_id"] == intent and back["sub"] == front["sub"]


def test_an_openbanking_intent_id_that_names_no_consent_is_refused(flow, daemon):
    claims_request = {"id_token": {"openbanking_intent_id": {"value": "urn:bank:intent:42", "essential": True}}}
    now = int(time.time())
    claims = {"iss": flow.client_id, "aud": daemon.issuer, "exp": now + 300, "nbf": now, "jti": str(uuid.uuid4()),
              "client_id": flow.client_id, "response_type": "code id_token", "redirect_uri": REDIRECT, "scope": "openid accounts",
              "state": flow.state, "nonce": flow.nonce, "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
              "code_challenge_method": "S256", "claims": claims_request}
    response = flow.tpp.post("/par", {"client_id": flow.client_id, "request": jwt.encode({"alg": "ES256"}, claims, flow.key, algorithms=["ES256"])})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request", response.text


def test_form_post_response_mode(flow, daemon):
    import html
    page = flow.authorize(flow.par(response_mode="form_post"))
    consent = flow.login(page.text)
    response = flow.browser.post(daemon.base + "/authorize/consent", data={
        "interaction": Flow.hidden(consent.text, "interaction"), "csrf": Flow.hidden(consent.text, "csrf"), "decision": "approve"},
        allow_redirects=False, timeout=10)
    assert response.status_code == 200 and "<script" not in response.text
    assert f'action="{REDIRECT}"' in response.text and 'method="post"' in response.text
    fields = {name: html.unescape(value) for name, value in re.findall(r'name="([a-z_]+)" value="([^"]*)"', response.text)}
    assert fields["state"] == flow.state and fields["iss"] == daemon.issuer and "id_token" in fields
    assert flow.exchange(fields["code"]).status_code == 200


def test_revoking_a_refresh_token_revokes_what_came_from_it(flow, daemon):
    tokens = flow.exchange(flow.run_to_fragment()["code"]).json()
    refreshed = flow.tpp.post("/token", {"grant_type": "refresh_token", "client_id": flow.client_id,
                                         "refresh_token": tokens["refresh_token"]}).json()
    assert flow.tpp.post("/revoke", {"client_id": flow.client_id, "token": tokens["refresh_token"],
                                     "token_type_hint": "refresh_token"}).status_code == 200
    again = flow.tpp.post("/token", {"grant_type": "refresh_token", "client_id": flow.client_id, "refresh_token": tokens["refresh_token"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert flow.tpp.post("/introspect", {"token": refreshed["access_token"]}).json() == {"active": False}


def test_cross_site_form_posts_are_refused(flow, daemon):
    page = flow.authorize(flow.par())
    data = {"interaction": Flow.hidden(page.text, "interaction"), "csrf": Flow.hidden(page.text, "csrf"), "username": "alice", "password": PASSWORD}
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        response = flow.browser.post(daemon.base + "/authorize/login", data=data, headers=headers, timeout=10)
        assert response.status_code == 403, headers
    same = flow.browser.post(daemon.base + "/authorize/login", data=data, headers={"Origin": daemon.issuer, "Sec-Fetch-Site": "same-origin"}, timeout=30)
    assert same.status_code == 200 and "Approve" in same.text


def test_forms_need_their_own_csrf_token_and_a_consent_form_works_once(flow, daemon):
    """The interaction is stored by hash with its CSRF token's hash: a wrong token or interaction is refused
    without using the interaction up, and a consent form, once sent, is gone."""
    page = flow.authorize(flow.par())
    interaction, csrf = Flow.hidden(page.text, "interaction"), Flow.hidden(page.text, "csrf")
    for fields in ({"interaction": interaction, "csrf": csrf[:-2] + "AA"}, {"interaction": interaction},
                   {"interaction": interaction[:-2] + "AA", "csrf": csrf}):
        login = flow.browser.post(daemon.base + "/authorize/login", data={**fields, "username": "alice", "password": PASSWORD}, timeout=30)
        assert login.status_code == 400 and "expired" in login.text, fields
    consent_page = flow.login(page.text)
    assert consent_page.status_code == 200 and "Approve" in consent_page.text
    forged = flow.browser.post(daemon.base + "/authorize/consent", data={"interaction": interaction, "csrf": csrf[:-2] + "AA",
                                                                       "decision": "approve"}, allow_redirects=False, timeout=10)
    assert forged.status_code == 400
    fragment = flow.consent(consent_page.text)
    assert "code" in fragment and fragment["state"] == flow.state
    replay = flow.browser.post(daemon.base + "/authorize/consent", data={"interaction": interaction, "csrf": csrf, "decision": "approve"},
                               allow_redirects=False, timeout=10)
    assert replay.status_code == 400 and "expired" in replay.text
