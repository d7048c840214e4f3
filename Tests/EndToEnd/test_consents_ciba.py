"""Issue 19: a CIBA request carrying RFC 9396 `authorization_details` creates a consent, and under `dual_control` a
payment above 100.00 GBP needs two distinct staff accounts at `fapictl ciba` (each a real OS account, identified by
the admin socket's SO_PEERCRED): both see the amount and payee, each types the amount back, the same account cannot
approve twice, the poll stays `authorization_pending` until the second approval, and one denial is `access_denied`."""
import grp
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import pexpect
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from conftest import BIN
from tpp import TokenClient, register

TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
DUAL_CONTROL = json.dumps({"payment_initiation": {"above_amount": {"currency": "GBP", "amount": "100.00"}, "approvals_required": 2}})
PAYMENT = [{"type": "payment_initiation", "instructedAmount": {"currency": "GBP", "amount": "250.00"}, "creditorName": "ACME Ltd",
            "creditorAccount": {"iban": "GB29NWBK60161331926819"}, "remittanceInformation": "INV-42"}]


@pytest.fixture
def staff():
    """Two throwaway staff accounts in a fresh group (the admin socket's group). Removed afterwards."""
    if not (shutil.which("useradd") and shutil.which("groupadd") and shutil.which("setpriv")) or os.geteuid() != 0:
        pytest.skip("needs root with useradd, groupadd and setpriv")
    tag = uuid.uuid4().hex[:6]
    group, anna, ben = f"fcg{tag}", f"fca{tag}", f"fcb{tag}"
    subprocess.run(["groupadd", group], check=True)
    for name in (anna, ben):
        subprocess.run(["useradd", "-M", "-N", "-g", group, "-s", "/usr/sbin/nologin", name], check=True)
    socket_dir = tempfile.mkdtemp(prefix="fapid-consents-")
    os.chown(socket_dir, 0, grp.getgrnam(group).gr_gid)
    os.chmod(socket_dir, 0o750)
    try:
        yield group, anna, ben, os.path.join(socket_dir, "fapid.sock")
    finally:
        for name in (anna, ben):
            subprocess.run(["userdel", name], check=False)
        subprocess.run(["groupdel", group], check=False)
        shutil.rmtree(socket_dir, ignore_errors=True)


class Bank:
    """A daemon with dual control, a CIBA client registered for payment_initiation, and the staff accounts."""

    def __init__(self, make_daemon, pki, staff, storage=None):
        self.group, self.anna, self.ben, socket_path = staff
        self.daemon = make_daemon(env={
            "FAPID_ADMIN_SOCKET": socket_path, "FAPID_ADMIN_SOCKET_GROUP": self.group, "FAPID_DUAL_CONTROL": DUAL_CONTROL,
            "FAPID_CIBA_POLL_INTERVAL_SECONDS": "1", **(storage or {})}).start()
        self.daemon.fapictl("users", "add", "alice", input_text="correct horse battery staple\n")
        self.key = ECKey.generate_key("P-256")
        self.client_id = register(self.daemon, {
            "client_name": "Pay Fast", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
            "grant_types": [CIBA_GRANT], "scope": "openid payments", "backchannel_token_delivery_mode": "poll",
            "authorization_details_types": ["payment_initiation"], "jwks": {"keys": [self.key.as_dict(private=False)]}})
        self.tpp = TokenClient(self.daemon, (pki / "tpp.pem", pki / "tpp.key"))

    def authorize(self, details=PAYMENT, binding="Pay ACME"):
        now = int(time.time())
        claims = {"iss": self.client_id, "aud": self.daemon.issuer, "exp": now + 300, "iat": now, "nbf": now, "jti": str(uuid.uuid4()),
                  "scope": "openid payments", "login_hint": "alice", "binding_message": binding, "authorization_details": details}
        request = jwt.encode({"alg": "ES256"}, claims, self.key, algorithms=["ES256"])
        return self.tpp.post("/bc-authorize", {"client_id": self.client_id, "request": request})

    def poll(self, auth_req_id):
        time.sleep(1.1)  # the poll interval is 1 s here: sooner is slow_down
        return self.tpp.post("/token", {"grant_type": CIBA_GRANT, "client_id": self.client_id, "auth_req_id": auth_req_id})

    def fapictl_as(self, account, *args):
        """fapictl run as the staff account: the daemon records whoever connects (SO_PEERCRED)."""
        forged = dict(self.daemon.env, USER="mallory", LOGNAME="mallory")
        return subprocess.run(["setpriv", f"--reuid={account}", f"--regid={self.group}", "--init-groups", str(BIN / "fapictl"), *args],
                              env=forged, capture_output=True, text=True, timeout=60)

    def pending(self, binding="Pay ACME"):
        rows = json.loads(self.fapictl_as(self.anna, "ciba", "list", "--json").stdout)
        return next(row for row in rows if row["binding_message"] == binding)

    def audit(self):
        return [json.loads(line) for line in self.daemon.fapictl("audit", "export").stdout.splitlines()]


def psql(admin_url, sql):
    result = subprocess.run(["psql", admin_url, "-qAtc", sql], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.fixture(params=["sqlite", "postgres"])
def bank(request, make_daemon, pki, staff):
    """The bank on each backend: SQLite, and a fresh PostgreSQL database when `make test` provides a cluster."""
    if request.param == "sqlite":
        yield Bank(make_daemon, pki, staff)
        return
    admin_url = os.environ.get("FAPID_TEST_POSTGRES_URL")
    if not admin_url:
        reason = "FAPID_TEST_POSTGRES_URL is not set (`make test` starts a throwaway PostgreSQL cluster and exports it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    name = "fapid_e2e_" + uuid.uuid4().hex[:16]
    psql(admin_url, f"CREATE DATABASE {name}")
    url = urllib.parse.urlsplit(admin_url)._replace(path="/" + name).geturl()
    bank = Bank(make_daemon, pki, staff, storage={"FAPID_STORAGE": "postgres", "FAPID_DATABASE_URL": url})
    try:
        yield bank
    finally:
        bank.daemon.stop()
        psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def error(response, code):
    assert response.status_code == 400, response.text
    assert response.json()["error"] == code, response.text


def test_two_staff_accounts_approve_a_payment_above_the_threshold(bank):
    ack = bank.authorize()
    assert ack.status_code == 200, ack.text
    auth_req_id = ack.json()["auth_req_id"]
    row = bank.pending()
    consent = row["consent"]
    assert consent["amounts"] == ["250.00"] and consent["approvals_required"] == 2 and consent["approved_by"] == []
    assert any("250.00" in line and "ACME Ltd" in line for line in consent["lines"])
    assert "{" not in "".join(consent["lines"])

    # Anna sees the amount, the payee and the count; a wrong amount approves nothing.
    listed = bank.fapictl_as(bank.anna, "ciba", "list")
    assert listed.returncode == 0, listed.stderr
    assert "250.00" in listed.stdout and "ACME Ltd" in listed.stdout and "INV-42" in listed.stdout
    assert "0 of 2 approvals; needs 2 more" in listed.stdout
    wrong = bank.fapictl_as(bank.anna, "ciba", "approve", row["id"], "--amount", "25.00")
    assert wrong.returncode != 0 and "not the amount shown" in wrong.stderr
    no_amount = bank.fapictl_as(bank.anna, "ciba", "approve", row["id"])
    assert no_amount.returncode != 0
    assert bank.pending()["consent"]["approved_by"] == []
    error(bank.poll(auth_req_id), "authorization_pending")

    first = bank.fapictl_as(bank.anna, "ciba", "approve", row["id"], "--amount", "250.00")
    assert first.returncode == 0, first.stderr
    assert "ACME Ltd" in first.stdout and "250.00" in first.stdout
    assert f"recorded by {bank.anna}: 1 of 2 approvals; needs 1 more" in first.stdout
    error(bank.poll(auth_req_id), "authorization_pending")

    # The same account cannot give the second approval.
    twice = bank.fapictl_as(bank.anna, "ciba", "approve", row["id"], "--amount", "250.00")
    assert twice.returncode != 0 and "already" in twice.stderr and "another staff account" in twice.stderr
    error(bank.poll(auth_req_id), "authorization_pending")

    # Ben at the interactive prompt: sees the same lines and the count, mistypes once, then approves.
    env = dict(bank.daemon.env, USER="mallory")
    child = pexpect.spawn("setpriv", [f"--reuid={bank.ben}", f"--regid={bank.group}", "--init-groups", str(BIN / "fapictl"), "ciba",
                                      "--seconds", "30"], env=env, encoding="utf-8", timeout=15)
    try:
        child.expect("ACME Ltd")
        child.expect(f"1 of 2 approvals; needs 1 more \\(approved by {bank.anna}\\)")
        child.expect(r"Approve\? \[y/N\]")
        child.sendline("y")
        child.expect("Type the payment amount exactly as shown")
        child.sendline("250")
        child.expect("does not match the amount shown: not approved")
        child.expect(r"Approve\? \[y/N\]")
        child.sendline("y")
        child.expect("Type the payment amount exactly as shown")
        child.sendline("250.00")
        child.expect(f"Approved. Recorded as {bank.ben} \\(2 of 2 approvals\\)")
    finally:
        child.terminate(force=True)

    tokens = bank.poll(auth_req_id)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "openid payments"

    # Who decided, audited: each approval under its OS account, with the hash of the details shown.
    rows = bank.audit()
    decisions = [row for row in rows if row["type"] in ("consent.approved", "consent.authorised", "ciba.decided")]
    assert [(row["type"], row["user"]) for row in decisions] == [
        ("consent.approved", bank.anna), ("consent.authorised", bank.ben), ("ciba.decided", bank.ben)]
    for row in decisions[:2]:
        assert f"consent={consent['id']}" in row["reason"] and f"details_sha256={consent['details_sha256']}" in row["reason"]
    assert "mallory" not in json.dumps(rows)


def test_one_denial_rejects_the_consent(bank):
    auth_req_id = bank.authorize(binding="Deny ACME").json()["auth_req_id"]
    row = bank.pending("Deny ACME")
    first = bank.fapictl_as(bank.anna, "ciba", "approve", row["id"], "--amount", "250.00")
    assert first.returncode == 0, first.stderr
    denied = bank.fapictl_as(bank.ben, "ciba", "deny", row["id"])
    assert denied.returncode == 0, denied.stderr
    assert denied.stdout.strip() == f"denied {row['id']} by {bank.ben}"
    error(bank.poll(auth_req_id), "access_denied")
    rejected = [r for r in bank.audit() if r["type"] == "consent.rejected"]
    assert [r["user"] for r in rejected] == [bank.ben]
    # Nothing is left to approve.
    late = bank.fapictl_as(bank.anna, "ciba", "approve", row["id"], "--amount", "250.00")
    assert late.returncode != 0


def test_a_small_payment_needs_one_approval_and_bad_details_are_refused(bank):
    small = [{**PAYMENT[0], "instructedAmount": {"currency": "GBP", "amount": "20.00"}}]
    auth_req_id = bank.authorize(small, binding="Small one").json()["auth_req_id"]
    row = bank.pending("Small one")
    assert row["consent"]["approvals_required"] == 1
    approved = bank.fapictl_as(bank.ben, "ciba", "approve", row["id"], "--amount", "20.00")
    assert approved.returncode == 0, approved.stderr
    assert f"approved {row['id']} by {bank.ben} (1 of 1 approval)" in approved.stdout
    assert bank.poll(auth_req_id).status_code == 200

    error(bank.authorize([{**PAYMENT[0], "instructedAmount": {"currency": "GBP", "amount": 250}}], binding="Bad"), "invalid_authorization_details")
    error(bank.authorize([{"type": "account_information", "actions": ["balances"]}], binding="Bad"), "invalid_authorization_details")
    error(bank.authorize({"type": "payment_initiation"}, binding="Bad"), "invalid_authorization_details")
    assert not [r for r in json.loads(bank.fapictl_as(bank.anna, "ciba", "list", "--json").stdout) if r["binding_message"] == "Bad"]


def test_review_fixes_ciba_consent_lifetime_and_scope(bank):
    """Issue 19 review: the /bc-authorize consent is made by the one creation rule: it records the certificate status,
    awaits no longer than its CIBA request, takes the details' lifetime (90 days) when the second approval authorises it,
    and a payment needs the payments scope."""
    ack = bank.authorize(binding="Pay ACME lifetime")
    assert ack.status_code == 200, ack.text
    expires_in = ack.json()["expires_in"]
    row = bank.pending("Pay ACME lifetime")
    consent_id = row["consent"]["id"]

    def shown():
        return json.loads(bank.daemon.fapictl("consents", "show", consent_id, "--json").stdout)

    awaiting = shown()
    assert awaiting["certificate_status"], awaiting
    assert awaiting["expires_at"] - awaiting["created_at"] <= expires_in + 1, awaiting
    for account in (bank.anna, bank.ben):
        approved = bank.fapictl_as(account, "ciba", "approve", row["id"], "--amount", "250.00")
        assert approved.returncode == 0, approved.stderr
    authorised = shown()
    assert authorised["status"] == "authorised", authorised
    assert authorised["expires_at"] - authorised["created_at"] == 90 * 86400, authorised

    now = int(time.time())
    claims = {"iss": bank.client_id, "aud": bank.daemon.issuer, "exp": now + 300, "iat": now, "nbf": now, "jti": str(uuid.uuid4()),
              "scope": "openid", "login_hint": "alice", "binding_message": "Pay ACME no scope", "authorization_details": PAYMENT}
    request = jwt.encode({"alg": "ES256"}, claims, bank.key, algorithms=["ES256"])
    error(bank.tpp.post("/bc-authorize", {"client_id": bank.client_id, "request": request}), "invalid_authorization_details")
