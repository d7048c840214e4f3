"""Issue 19 in a real headless browser (the fixtures of test_browser.py): the consent page shows the pushed
payment's details in plain words (amount, payee, masked account, reference), escaped, never as JSON; and the
customer's /account/consents lists their consent and withdraws it, which revokes its tokens."""
import json
import urllib.parse

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from test_browser import browser, callback, screenshot, sign_in  # noqa: F401 (fixtures)
from test_hybrid_flow import PASSWORD, TPP_DN, Flow
from tpp import register

PAYMENT = [{"type": "payment_initiation", "instructedAmount": {"currency": "GBP", "amount": "250.00"}, "creditorName": "ACME Ltd",
            "creditorAccount": {"iban": "GB29NWBK60161331926819"}, "remittanceInformation": "INV-42"}]
BOB_PASSWORD = "bob's own long passphrase"
BALANCES = [{"type": "account_information", "actions": ["balances", "transactions"]}]


@pytest.fixture
def rar_flow(daemon, pki, callback):  # noqa: F811
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    daemon.fapictl("users", "add", "bob", input_text="bob's own long passphrase\n")
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    flow = Flow(daemon, pki)
    flow.client_id = register(daemon, {
        "client_name": "Example Budgeting App", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
        "redirect_uris": [callback], "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code id_token"],
        "scope": "openid accounts payments", "authorization_details_types": ["payment_initiation", "account_information"],
        "jwks": {"keys": [flow.key.as_dict(private=False)]},
    })
    flow.callback = callback
    return flow


def open_with(driver, flow, details, scope):
    request_uri = flow.par(redirect_uri=flow.callback, scope=scope, authorization_details=details)
    driver.get(flow.daemon.base + "/authorize?" + urllib.parse.urlencode({"client_id": flow.client_id, "request_uri": request_uri}))


def consent_page(driver, flow, details, scope="openid payments"):
    open_with(driver, flow, details, scope)
    sign_in(driver, PASSWORD)
    WebDriverWait(driver, 10).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "button[value=approve]")))
    return [item.text for item in driver.find_elements(By.CSS_SELECTOR, "ul.details li")]


def approve_and_exchange(driver, flow):
    driver.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
    WebDriverWait(driver, 10).until(lambda d: d.current_url.startswith(flow.callback))
    fragment = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(driver.current_url).fragment))
    assert "code" in fragment, fragment
    tokens = flow.tpp.post("/token", {"grant_type": "authorization_code", "client_id": flow.client_id, "code": fragment["code"],
                                      "redirect_uri": flow.callback, "code_verifier": flow.verifier})
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def forget(driver, daemon):
    """Signs the browser out of both flows: WebDriver deletes only the cookies the current page's URL would send."""
    for path in ("/authorize", "/account/consents"):
        driver.get(daemon.base + path)
        driver.delete_all_cookies()


def sign_in_as(driver, username, password):
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def account_sign_in(driver, daemon, username="alice", password=PASSWORD):
    driver.get(daemon.base + "/account/consents")
    WebDriverWait(driver, 10).until(expected_conditions.presence_of_element_located((By.ID, "username")))
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: "Signed in as" in d.page_source)


def test_the_consent_page_shows_the_payment_in_plain_words(browser, rar_flow):  # noqa: F811
    lines = consent_page(browser, rar_flow, PAYMENT)
    screenshot(browser, "consent-payment.png")
    assert lines[0].startswith("Pay 250.00 GBP") and "£250.00" in lines[0] and lines[0].endswith("to ACME Ltd")
    assert "To account GB29 NWBK **** 6819" in lines
    assert any("INV-42" in line for line in lines)
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "GB29NWBK60161331926819" not in browser.page_source
    # Never raw JSON.
    for raw in ('"instructedAmount"', "instructedAmount", "creditorName", '{"', "payment_initiation"):
        assert raw not in browser.page_source, raw
    assert "alice" in text
    tokens = approve_and_exchange(browser, rar_flow)
    assert tokens["grant_id"] and tokens["authorization_details"] == PAYMENT


def test_a_payee_name_with_markup_is_shown_escaped(browser, rar_flow):  # noqa: F811
    hostile = [{**PAYMENT[0], "creditorName": "ACME <script>alert(1)</script> Ltd", "remittanceInformation": "<b>INV-42</b>"}]
    lines = consent_page(browser, rar_flow, hostile)
    assert lines[0].endswith("to ACME <script>alert(1)</script> Ltd")
    assert "<b>INV-42</b>" in " ".join(lines)
    assert not browser.find_elements(By.TAG_NAME, "script") and not browser.find_elements(By.TAG_NAME, "b")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in browser.page_source


def test_account_consents_lists_and_withdraws_with_its_tokens(browser, rar_flow, daemon):  # noqa: F811
    lines = consent_page(browser, rar_flow, BALANCES, scope="openid accounts")
    assert lines and not any("{" in line for line in lines)
    alices = approve_and_exchange(browser, rar_flow)
    grant_id = alices["grant_id"]
    introspect = lambda token: rar_flow.tpp.post("/introspect", {"token": token}).json()["active"]  # noqa: E731
    assert introspect(alices["access_token"]) is True
    forget(browser, daemon)
    open_with(browser, rar_flow, BALANCES, "openid accounts")
    sign_in_as(browser, "bob", BOB_PASSWORD)
    WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "button[value=approve]")))
    bobs = approve_and_exchange(browser, rar_flow)
    forget(browser, daemon)

    # Bob's dashboard lists his consent only; Alice's cannot be withdrawn with his session (answered as unknown).
    account_sign_in(browser, daemon, "bob", BOB_PASSWORD)
    assert browser.find_elements(By.CSS_SELECTOR, f"[data-consent='{bobs['grant_id']}']")
    assert not browser.find_elements(By.CSS_SELECTOR, f"[data-consent='{grant_id}']")
    import requests
    cookie = browser.get_cookie("fapid_account")["value"]
    csrf = browser.find_element(By.NAME, "csrf").get_attribute("value")
    other = requests.post(daemon.base + "/account/consents/withdraw", data={"csrf": csrf, "consent": grant_id},
                          cookies={"fapid_account": cookie}, verify=str(daemon.keys / "ca.pem"), timeout=10)
    assert other.status_code == 404 and "not one you can withdraw" in other.text
    assert introspect(alices["access_token"]) is True
    forget(browser, daemon)

    account_sign_in(browser, daemon)
    assert not browser.find_elements(By.CSS_SELECTOR, f"[data-consent='{bobs['grant_id']}']")
    section = browser.find_element(By.CSS_SELECTOR, f"[data-consent='{grant_id}']")
    assert "Example Budgeting App" in section.text and "Active" in section.text
    for line in lines:
        assert line in section.text
    screenshot(browser, "account-consents.png")
    section.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(
        lambda d: "Withdrawn" in d.find_element(By.CSS_SELECTOR, f"[data-consent='{grant_id}']").text)
    section = browser.find_element(By.CSS_SELECTOR, f"[data-consent='{grant_id}']")
    assert not section.find_elements(By.CSS_SELECTOR, "button")
    # Withdrawing revoked the consent's tokens, and only its own.
    assert introspect(alices["access_token"]) is False
    refreshed = rar_flow.tpp.post("/token", {"grant_type": "refresh_token", "client_id": rar_flow.client_id,
                                             "refresh_token": alices["refresh_token"]})
    assert refreshed.status_code == 400
    assert introspect(bobs["access_token"]) is True
    revoked = [json.loads(line) for line in daemon.fapictl("audit", "export").stdout.splitlines()]
    revoked = [row for row in revoked if row["type"] == "consent.revoked"]
    assert len(revoked) == 1 and "by=customer:alice" in revoked[0]["reason"] and f"consent={grant_id}" in revoked[0]["reason"]


def test_account_forms_refuse_other_sites_and_other_customers(rar_flow, daemon):
    """Without a browser: a cross-site sign-in is refused, so is one whose token is not its form's cookie; a forged
    withdrawal token or no session withdraws nothing."""
    import requests
    session = requests.Session()
    session.trust_env = False
    session.verify = str(daemon.keys / "ca.pem")
    page = session.get(daemon.base + "/account/consents", timeout=10)
    assert page.status_code == 200 and 'name="password"' in page.text
    csrf = Flow.hidden(page.text, "csrf")
    cross = session.post(daemon.base + "/account/consents/login", data={"csrf": csrf, "username": "bob", "password": BOB_PASSWORD},
                         headers={"Sec-Fetch-Site": "cross-site"}, timeout=30, allow_redirects=False)
    assert cross.status_code == 403
    # The form token must match the cookie that came with the form (login CSRF).
    other = requests.post(daemon.base + "/account/consents/login", data={"csrf": csrf, "username": "bob", "password": BOB_PASSWORD},
                          verify=str(daemon.keys / "ca.pem"), timeout=30, allow_redirects=False)
    assert other.status_code == 400
    signed = session.post(daemon.base + "/account/consents/login", data={"csrf": csrf, "username": "bob", "password": BOB_PASSWORD},
                          timeout=30, allow_redirects=False)
    assert signed.status_code == 303 and "fapid_account" in signed.headers["Set-Cookie"]
    assert "SameSite=Strict" in signed.headers["Set-Cookie"] and "HttpOnly" in signed.headers["Set-Cookie"]
    dashboard = session.get(daemon.base + "/account/consents", timeout=10)
    assert dashboard.status_code == 200 and "Signed in as bob" in dashboard.text
    forged = session.post(daemon.base + "/account/consents/withdraw", data={"csrf": "forged", "consent": "x"}, timeout=10)
    assert forged.status_code == 403
    anonymous = requests.post(daemon.base + "/account/consents/withdraw", data={"csrf": "x", "consent": "x"},
                              verify=str(daemon.keys / "ca.pem"), timeout=10)
    assert anonymous.status_code == 401
