"""The PSU pages in a real headless browser (Debian's chromium and chromedriver, driven by selenium):
sign in, see the consent page, approve, land on the client's redirect with a code; a wrong password
shows an error; deny returns access_denied. FAPID_SCREENSHOTS=DIR saves the pages as PNG files."""
import http.server
import os
import shutil
import urllib.parse
from pathlib import Path

import pytest

from test_hybrid_flow import PASSWORD, TPP_DN, Flow
from tpp import register

selenium = pytest.importorskip("selenium") if not os.environ.get("CI") else __import__("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from conftest import https_server


class Callback(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><title>TPP</title><p>Back at the TPP.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def callback(pki):
    """The TPP's redirect target: a small HTTPS server on loopback, so the browser never leaves the machine."""
    server = https_server(Callback, pki / "server.pem", pki / "server.key")
    yield f"https://127.0.0.1:{server.server_address[1]}/callback"
    server.shutdown()


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=900,760",
                 # Nothing but loopback: no updates, sync, safe-browsing or metrics traffic.
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-default-apps", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
                 "--metrics-recording-only", "--no-pings", "--disable-features=OptimizationHints,MediaRouter,Translate"):
        options.add_argument(flag)
    # The development CA is not in the browser's store; the test is about the pages, TLS is tested elsewhere.
    options.accept_insecure_certs = True
    os.environ.setdefault("SE_OFFLINE", "true")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def screenshot(driver, name):
    directory = os.environ.get("FAPID_SCREENSHOTS")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(directory) / name))


@pytest.fixture
def browser_flow(daemon, pki, callback):
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    flow = Flow(daemon, pki)
    flow.client_id = register(daemon, {
        "client_name": "Example Budgeting App", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
        "redirect_uris": [callback], "grant_types": ["authorization_code"], "response_types": ["code id_token"],
        "scope": "openid accounts payments", "jwks": {"keys": [flow.key.as_dict(private=False)]},
    })
    flow.callback = callback
    return flow


def open_authorize(driver, flow):
    request_uri = flow.par(redirect_uri=flow.callback, scope="openid accounts payments")
    query = urllib.parse.urlencode({"client_id": flow.client_id, "request_uri": request_uri})
    driver.get(flow.daemon.base + "/authorize?" + query)


def sign_in(driver, password):
    field = driver.find_element(By.ID, "username")
    field.clear()  # the page keeps the name after a failed attempt
    field.send_keys("alice")
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_sign_in_approve_and_land_on_the_redirect(browser, browser_flow):
    open_authorize(browser, browser_flow)
    assert "Example Budgeting App" in browser.page_source
    screenshot(browser, "login.png")
    sign_in(browser, "not the password")
    alert = WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]")))
    assert "not right" in alert.text
    sign_in(browser, PASSWORD)
    WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "button[value=approve]")))
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "see your account details" in text and "make payments" in text and "alice" in text
    screenshot(browser, "consent.png")
    browser.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.startswith(browser_flow.callback))
    fragment = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(browser.current_url).fragment))
    assert fragment["state"] == browser_flow.state and "code" in fragment and "id_token" in fragment


def test_deny_returns_access_denied(browser, browser_flow):
    open_authorize(browser, browser_flow)
    sign_in(browser, PASSWORD)
    WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "button[value=deny]")))
    browser.find_element(By.CSS_SELECTOR, "button[value=deny]").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.startswith(browser_flow.callback))
    fragment = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(browser.current_url).fragment))
    assert fragment["error"] == "access_denied" and "code" not in fragment
