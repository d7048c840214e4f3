"""The PSU-facing endpoints under attack (issue 16, items 6, 7 and 15), end to end against the real daemon:
sign-in throttling per forwarded address and lockout counters kept in the database (429 pages with
Retry-After), password hashing off the request threads, GET /authorize throttled, a bounded number of
interactions per request_uri, a bounded `claims` member, and the pages escaping per Unicode scalar."""
import base64
import hashlib
import html.parser
import json
import secrets
import sqlite3
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from requests.adapters import HTTPAdapter
from joserfc import jwt
from joserfc.jwk import ECKey

from test_hybrid_flow import PASSWORD, REDIRECT, TPP_DN, Flow
from test_scale_out import pair, postgres_admin_url, shared  # noqa: F401 (fixtures)
from tpp import TokenClient, register

HOSTILE = 'Bank "\u0301 autofocus onfocus=alert(1) x="\u0301'
# The reverse proxy's address: the browser's requests come from it (Linux routes all of 127/8 to loopback),
# while the TPP's mTLS requests keep coming from 127.0.0.1 directly.
PROXY = "127.0.0.2"


class FromAddress(HTTPAdapter):
    """Connections from a chosen local source address."""

    def __init__(self, source, **kwargs):
        self.source = source
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


class PSUFlow(Flow):
    """The hybrid flow's client, registered with a name of the test's choice."""

    def __init__(self, daemon, pki, client_name="Example TPP", through_proxy=False):
        self.through_proxy = through_proxy
        self.daemon = daemon
        self.pki = pki
        self.key = ECKey.generate_key("P-256")
        self.client_id = register(daemon, {
            "client_name": client_name, "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
            "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code id_token"],
            "scope": "openid accounts", "jwks": {"keys": [self.key.as_dict(private=False)]},
        })
        self.tpp = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
        self.verifier = secrets.token_urlsafe(48)
        self.state = "state-" + uuid.uuid4().hex
        self.nonce = "nonce-" + uuid.uuid4().hex
        self.browser = self.new_browser()

    def new_browser(self):
        browser = requests.Session()
        browser.trust_env = False
        browser.verify = str(self.daemon.keys / "ca.pem")
        if self.through_proxy:
            browser.mount("https://", FromAddress(PROXY))
        return browser

    def open_at(self, daemon, request_uri):
        return self.browser.get(daemon.base + "/authorize", params={"client_id": self.client_id, "request_uri": request_uri}, timeout=10)

    def sign_in(self, page, username="alice", password=PASSWORD, headers=None, browser=None, daemon=None):
        return (browser or self.browser).post((daemon or self.daemon).base + "/authorize/login", data={
            "interaction": self.hidden(page, "interaction"), "csrf": self.hidden(page, "csrf"), "username": username, "password": password},
            headers=headers or {}, timeout=30)


def psu_daemon(make_daemon, **env):
    daemon = make_daemon(env={key.upper(): value for key, value in env.items()}).start()
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    return daemon


def assert_throttled_page(response):
    assert response.status_code == 429, (response.status_code, response.text[:300])
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["Content-Type"].startswith("text/html") and response.headers["Cache-Control"] == "no-store"
    assert "<html" in response.text and "<script" not in response.text


# --- item 6: sign-in ---------------------------------------------------------------------------------

def test_sign_in_lockout_is_kept_in_the_database_and_answers_a_429_page(make_daemon, pki):
    daemon = psu_daemon(make_daemon)
    flow = PSUFlow(daemon, pki)
    for attempt in range(5):
        page = flow.authorize(flow.par())
        assert flow.sign_in(page.text, password=f"guess {attempt}").status_code == 401
    locked = flow.sign_in(flow.authorize(flow.par()).text)
    assert_throttled_page(locked)
    assert "Too many attempts" in locked.text and 240 <= int(locked.headers["Retry-After"]) <= 300
    # Counted in the database, not in the process: a restarted (or another) instance still refuses.
    db = sqlite3.connect(daemon.workdir / "fapid.sqlite")
    assert db.execute("SELECT max(failures) FROM sign_in_attempts").fetchone()[0] >= 6
    # No username is kept in clear.
    assert all(len(key) == 32 for (key,) in db.execute("SELECT key_hash FROM sign_in_attempts"))
    db.close()
    daemon.stop()
    daemon.start()
    again = flow.sign_in(flow.authorize(flow.par()).text)
    assert_throttled_page(again)


def test_one_interaction_is_throttled_whatever_usernames_it_tries(make_daemon, pki):
    daemon = psu_daemon(make_daemon)
    flow = PSUFlow(daemon, pki)
    page = flow.authorize(flow.par())
    for attempt in range(5):
        assert flow.sign_in(page.text, username=f"user{attempt}", password="x").status_code == 401
    assert_throttled_page(flow.sign_in(page.text))
    # Another interaction of the same PSU is not locked by it.
    assert flow.sign_in(flow.authorize(flow.par()).text).status_code == 200


def test_sign_in_is_throttled_per_forwarded_address_behind_a_trusted_proxy(make_daemon, pki):
    daemon = psu_daemon(make_daemon, fapid_trusted_proxies=f'["{PROXY}"]', fapid_rate_limit_sign_in_per_second="1",
                        fapid_rate_limit_sign_in_burst="3")
    flow = PSUFlow(daemon, pki, through_proxy=True)
    page = flow.authorize(flow.par()).text
    first = {"X-Forwarded-For": "203.0.113.7"}
    codes = [flow.sign_in(page, password="x", headers=first).status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    assert_throttled_page(flow.sign_in(page, headers=first))
    # Another PSU behind the same proxy has a bucket of its own.
    other = flow.authorize(flow.par()).text
    assert flow.sign_in(other, headers={"X-Forwarded-For": "198.51.100.9"}).status_code == 200


def test_twenty_failures_from_one_forwarded_address_lock_that_address_only(make_daemon, pki):
    daemon = psu_daemon(make_daemon, fapid_trusted_proxies=f'["{PROXY}"]', fapid_rate_limit_sign_in_per_second="1000",
                        fapid_rate_limit_sign_in_burst="1000")
    flow = PSUFlow(daemon, pki, through_proxy=True)
    sprayer = {"X-Forwarded-For": "192.0.2.66"}
    request_uri = flow.par()
    for attempt in range(20):
        if attempt % 4 == 0:
            page = flow.authorize(request_uri).text
        assert flow.sign_in(page, username=f"victim{attempt}", password="Winter2024!", headers=sprayer).status_code == 401
    assert_throttled_page(flow.sign_in(flow.authorize(flow.par()).text, headers=sprayer))
    assert flow.sign_in(flow.authorize(flow.par()).text, headers={"X-Forwarded-For": "192.0.2.67"}).status_code == 200


def test_an_oversized_username_is_refused_cheaply(make_daemon, pki):
    daemon = psu_daemon(make_daemon)
    flow = PSUFlow(daemon, pki)
    page = flow.authorize(flow.par()).text
    started = time.monotonic()
    response = flow.sign_in(page, username="a" * 60000, password="x")
    assert response.status_code == 401 and "not right" in response.text
    assert "a" * 300 not in response.text
    assert time.monotonic() - started < 5


def test_healthz_stays_fast_while_sign_ins_flood_in(make_daemon, pki):
    """scrypt runs on a bounded pool of its own: a flood of sign-ins cannot hold the threads that serve
    every other request."""
    daemon = psu_daemon(make_daemon, fapid_rate_limit_sign_in_per_second="100000", fapid_rate_limit_sign_in_burst="100000")
    flow = PSUFlow(daemon, pki)
    # One PSU per flooding browser, each signing in with the right password again and again: no lockout
    # ends the flood, and every attempt costs a hash.
    for index in range(16):
        daemon.fapictl("users", "add", f"psu{index}", input_text=PASSWORD + "\n")
    pages = [flow.authorize(flow.par()).text for _ in range(16)]
    stop = threading.Event()

    def flood(index):
        browser = flow.new_browser()
        count = 0
        while not stop.is_set():
            assert flow.sign_in(pages[index], username=f"psu{index}", browser=browser).status_code == 200
            count += 1
        return count

    health = flow.new_browser()
    health.get(daemon.base + "/healthz", timeout=10)
    with ThreadPoolExecutor(max_workers=16) as pool:
        workers = [pool.submit(flood, index) for index in range(16)]
        time.sleep(1.0)
        timings = []
        for _ in range(15):
            started = time.monotonic()
            assert health.get(daemon.base + "/healthz", timeout=30).status_code == 200
            timings.append(time.monotonic() - started)
            time.sleep(0.05)
        stop.set()
        attempts = sum(worker.result() for worker in workers)
    assert attempts > 16
    assert statistics.median(timings) < 0.15, timings


def test_instances_sharing_postgresql_share_the_lockout_and_the_interaction_bound(pair, pki):
    a, b = pair
    flow = PSUFlow(a, pki)
    for attempt in range(5):
        daemon = (a, b)[attempt % 2]
        page = flow.open_at(daemon, flow.par())
        assert flow.sign_in(page.text, password=f"guess {attempt}", daemon=daemon).status_code == 401
    for daemon in (a, b):
        assert_throttled_page(flow.sign_in(flow.open_at(daemon, flow.par()).text, daemon=daemon))
    request_uri = flow.par()
    pages = [flow.open_at((a, b)[index % 2], request_uri) for index in range(14)]
    assert sorted(page.status_code for page in pages) == [200] * 10 + [400] * 4


# --- item 7: GET /authorize ---------------------------------------------------------------------------

def test_authorize_is_throttled_per_address_with_a_429_page(make_daemon, pki):
    daemon = psu_daemon(make_daemon, fapid_rate_limit_authorize_per_second="1", fapid_rate_limit_authorize_burst="3")
    flow = PSUFlow(daemon, pki)
    request_uri = flow.par()
    codes = [flow.authorize(request_uri).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    assert_throttled_page(flow.authorize(request_uri))
    time.sleep(1.1)
    assert flow.authorize(request_uri).status_code == 200


def test_a_request_uri_opened_in_a_loop_stores_a_bounded_number_of_interactions(make_daemon, pki):
    daemon = psu_daemon(make_daemon)
    flow = PSUFlow(daemon, pki)
    request_uri = flow.par()
    pages = [flow.authorize(request_uri) for _ in range(25)]
    assert [page.status_code for page in pages[:10]] == [200] * 10
    assert all(page.status_code == 400 and "cannot go on" in page.text for page in pages[10:])
    db = sqlite3.connect(daemon.workdir / "fapid.sqlite")
    assert db.execute("SELECT count(*) FROM psu_interactions").fetchone()[0] == 10
    db.close()
    # One of the open pages still completes the flow.
    consent = flow.sign_in(pages[3].text)
    assert consent.status_code == 200 and "Approve" in consent.text
    assert "code" in flow.consent(consent.text)


def test_an_oversized_claims_member_is_refused(make_daemon, pki):
    daemon = psu_daemon(make_daemon)
    flow = PSUFlow(daemon, pki)
    small = {"id_token": {"acr": {"values": ["urn:openbanking:psd2:sca"]}, "note": {"value": "x" * 3000}}}
    assert flow.par(claims=small)
    now = int(time.time())
    claims = {"iss": flow.client_id, "aud": daemon.issuer, "exp": now + 300, "nbf": now, "jti": str(uuid.uuid4()),
              "client_id": flow.client_id, "response_type": "code id_token", "redirect_uri": REDIRECT, "scope": "openid accounts",
              "state": flow.state, "nonce": flow.nonce, "code_challenge_method": "S256",
              "code_challenge": base64.urlsafe_b64encode(hashlib.sha256(flow.verifier.encode()).digest()).rstrip(b"=").decode(),
              "claims": {"id_token": {"note": {"value": "x" * 5000}}}}
    response = flow.tpp.post("/par", {"client_id": flow.client_id, "request": jwt.encode({"alg": "ES256"}, claims, flow.key, algorithms=["ES256"])})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request", response.text
    assert "x" * 100 not in response.text


# --- item 15: HTML escaping per Unicode scalar --------------------------------------------------------

class Attributes(html.parser.HTMLParser):
    """Every attribute of every tag, as a browser's tokenizer reads them."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.found = []
        self.tags = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        self.found += [(tag, name, value) for name, value in attrs]


def assert_contained(page_text):
    names = {name for _, name, _ in Attributes(page_text).found}
    assert not names & {"autofocus", "onfocus", "x"}, names
    assert "&quot;\u0301" in page_text
    assert '"\u0301' not in page_text


def test_pages_escape_a_quote_before_a_combining_mark(make_daemon, pki):
    daemon = psu_daemon(make_daemon)
    flow = PSUFlow(daemon, pki, client_name=HOSTILE)
    login = flow.authorize(flow.par(response_mode="form_post", state=HOSTILE))
    assert login.status_code == 200, login.text
    assert_contained(login.text)
    consent = flow.sign_in(login.text)
    assert consent.status_code == 200 and "Approve" in consent.text
    assert_contained(consent.text)
    response = flow.browser.post(daemon.base + "/authorize/consent", data={
        "interaction": Flow.hidden(consent.text, "interaction"), "csrf": Flow.hidden(consent.text, "csrf"), "decision": "approve"},
        allow_redirects=False, timeout=10)
    assert response.status_code == 200 and "Returning you to the app" in response.text
    assert_contained(response.text)
    inputs = [dict(attrs) for tag, attrs in Attributes(response.text).tags if tag == "input"]
    fields = {field["name"]: field["value"] for field in inputs if field.get("type") == "hidden"}
    # The browser posts the state back exactly as the client sent it.
    assert fields["state"] == HOSTILE and "code" in fields
