"""The bank's view of consents (issue 19) end to end, on the real daemon: `fapictl consents list|show|revoke`
through the admin socket, revocation reaching the consent's tokens (introspection by a resource server over
mTLS), and `fapictl audit export --consent` (the evidence of one consent, its chain verified).

The consents (and one access token per consent, with a known value) are written into the daemon's SQLite
database with Python's sqlite3 module while the daemon is stopped: the requests that create consents (PAR,
/bc-authorize, POST /consents) are tested in their own files. The rows follow migration 0021 exactly."""
import hashlib
import json
import sqlite3
import time

import pytest

from tpp import TokenClient, register

TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"

PAYMENT = [{
    "type": "payment_initiation",
    "instructedAmount": {"currency": "GBP", "amount": "250.00"},
    "creditorName": "ACME Ltd \u001b[2J\u202e",
    "creditorAccount": {"iban": "GB29NWBK60161331926819"},
    "remittanceInformation": "INV-42",
}]
ACCOUNTS = [{"type": "account_information", "actions": ["balances"]}]


def jcs_sha256(value) -> str:
    """SHA-256 over the RFC 8785 form; for these values (strings, ASCII member names, no numbers) that is
    sorted members, no whitespace, UTF-8."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def insert_consent(db, consent_id, client_id, user, status, details, *, created, expires, authorised=None, approvals=()):
    db.execute(
        """INSERT INTO consents (id, client_id, subject, type, authorization_details, scope, status, origin, created_at, updated_at,
               authorised_at, expires_at, decided_by, acr, amr, approvals, approvals_required, certificate_x5t, certificate_status,
               request_sha256)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'par', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (consent_id, client_id, user, details[0]["type"], json.dumps(details), "openid payments", status, created, created, authorised,
         expires, user if authorised else None, "urn:openbanking:psd2:sca" if authorised else None, json.dumps(["pwd"] if authorised else []),
         json.dumps([{"by": by, "at": created + 1, "details_sha256": jcs_sha256(details)} for by in approvals]), max(1, len(approvals)),
         "x5t-of-the-tpp", "good ocsp 2026-12-01T10:00:00Z", "ab" * 32))


def insert_token(db, token, client_id, grant_id):
    now = int(time.time())
    db.execute(
        """INSERT INTO access_tokens (token_hash, client_id, subject, scope, issued_at, expires_at, cnf_x5t, format, grant_id)
           VALUES (?, ?, 'alice', 'payments', ?, ?, NULL, 'opaque', ?)""",
        (hashlib.sha256(token.encode()).digest(), client_id, now, now + 3600, grant_id))


@pytest.fixture
def bank(make_daemon):
    """A daemon whose database holds consents of two clients and a token of each consent."""
    daemon = make_daemon().start()
    client_a = register(daemon, {"tls_client_auth_subject_dn": TPP_DN, "token_endpoint_auth_method": "tls_client_auth"})
    client_b = register(daemon, {"tls_client_auth_subject_dn": TPP_DN, "token_endpoint_auth_method": "tls_client_auth"})
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    assert daemon.stop() == 0
    now = int(time.time())
    with sqlite3.connect(daemon.workdir / "fapid.sqlite") as db:
        insert_consent(db, "pay-1", client_a, "alice", "authorised", PAYMENT, created=now - 300, expires=now + 3600, authorised=now - 290,
                       approvals=["alice"])
        insert_consent(db, "acc-2", client_a, "bob", "awaiting_authorisation", ACCOUNTS, created=now - 200, expires=now + 3600)
        insert_consent(db, "old-3", client_b, "alice", "authorised", ACCOUNTS, created=now - 100, expires=now - 10, authorised=now - 90,
                       approvals=["alice"])
        insert_consent(db, "used-4", client_b, "alice", "consumed", PAYMENT, created=now - 50, expires=now + 3600, authorised=now - 40,
                       approvals=["alice"])
        insert_token(db, "token-of-pay-1", client_a, "pay-1")
        insert_token(db, "token-of-acc-2", client_a, "acc-2")
        insert_token(db, "token-without-consent", client_a, None)
    daemon.start()
    daemon.clients = (client_a, client_b)
    return daemon


def listing(daemon, *args):
    result = daemon.fapictl("consents", "list", "--json", *args, check=False)
    assert result.returncode == 0, result.stderr
    return [row["consent_id"] for row in json.loads(result.stdout)]


def introspect(daemon, pki, token):
    return TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key")).post("/introspect", {"token": token}).json()


def test_list_filters_by_client_user_and_status_as_of_now(bank):
    client_a, client_b = bank.clients
    assert listing(bank) == ["used-4", "old-3", "acc-2", "pay-1"]
    assert listing(bank, "--client", client_a) == ["acc-2", "pay-1"]
    assert listing(bank, "--user", "alice") == ["used-4", "old-3", "pay-1"]
    assert listing(bank, "--client", client_b, "--user", "alice") == ["used-4", "old-3"]
    # old-3 is stored authorised but past its expiry: it lists as expired, not authorised.
    assert listing(bank, "--status", "authorised") == ["pay-1"]
    assert listing(bank, "--status", "expired") == ["old-3"]
    assert listing(bank, "--status", "awaiting_authorisation") == ["acc-2"]
    assert listing(bank, "--user", "nobody") == []

    rows = json.loads(bank.fapictl("consents", "list", "--json", "--client", client_a).stdout)
    pay = next(row for row in rows if row["consent_id"] == "pay-1")
    for member in ["consent_id", "client_id", "user", "type", "status", "scope", "authorization_details", "created_at", "authorised_at",
                   "expires_at", "approvals", "approvals_required"]:
        assert member in pay, member
    assert pay["client_id"] == client_a and pay["user"] == "alice" and pay["type"] == "payment_initiation"
    assert pay["status"] == "authorised" and pay["authorization_details"] == PAYMENT
    assert pay["approvals"][0]["by"] == "alice" and pay["approvals_required"] == 1
    assert pay["details_sha256"] == jcs_sha256(PAYMENT)

    bad = bank.fapictl("consents", "list", "--status", "paused", check=False)
    assert bad.returncode == 1 and "--status paused" in bad.stderr


def test_the_table_shows_details_in_plain_words_escaped(bank):
    table = bank.fapictl("consents", "list").stdout
    assert "CONSENT" in table and "pay-1" in table and "acc-2" in table
    assert "\u001b" not in table and "\u202e" not in table, "control and bidi characters reach the terminal"
    assert "ACME Ltd" in table and "250.00" in table and "INV-42" in table
    assert '"instructedAmount"' not in table, "raw JSON in the table"
    shown = bank.fapictl("consents", "show", "pay-1").stdout
    assert "250.00" in shown and "ACME Ltd" in shown and "\u001b" not in shown and "\u202e" not in shown
    assert "Approvals:  1 of 1" in shown
    assert json.loads(bank.fapictl("consents", "show", "pay-1", "--json").stdout)["authorization_details"] == PAYMENT
    missing = bank.fapictl("consents", "show", "no-such-consent", check=False)
    assert missing.returncode == 1 and "no consent no-such-consent" in missing.stderr


def test_revoke_revokes_the_consents_tokens_as_the_staff_account(bank, pki):
    assert introspect(bank, pki, "token-of-pay-1")["active"] is True
    assert introspect(bank, pki, "token-of-acc-2")["active"] is True
    result = bank.fapictl("consents", "revoke", "pay-1", check=False)
    assert result.returncode == 0, result.stderr
    assert "revoked pay-1 by staff:" in result.stdout
    assert introspect(bank, pki, "token-of-pay-1") == {"active": False}
    # Only that consent's tokens.
    assert introspect(bank, pki, "token-of-acc-2")["active"] is True
    assert introspect(bank, pki, "token-without-consent")["active"] is True
    assert listing(bank, "--status", "revoked") == ["pay-1"]

    again = bank.fapictl("consents", "revoke", "pay-1", check=False)
    assert again.returncode == 1 and "consent pay-1 is revoked" in again.stderr
    consumed = bank.fapictl("consents", "revoke", "used-4", check=False)
    assert consumed.returncode == 1 and "is consumed" in consumed.stderr
    unknown = bank.fapictl("consents", "revoke", "no-such-consent", check=False)
    assert unknown.returncode == 1 and "no consent no-such-consent" in unknown.stderr


def test_audit_export_of_one_consent_is_its_evidence_with_the_chain_verified(bank):
    bank.fapictl("consents", "revoke", "acc-2")
    bank.fapictl("consents", "revoke", "pay-1")
    result = bank.fapictl("audit", "export", "--consent", "pay-1", check=False)
    assert result.returncode == 0, result.stderr
    evidence = json.loads(result.stdout)
    consent = evidence["consent"]
    assert consent["consent_id"] == "pay-1" and consent["status"] == "revoked" and consent["user"] == "alice"
    assert consent["authorization_details"] == PAYMENT
    assert consent["details_sha256"] == jcs_sha256(PAYMENT)
    assert consent["request_sha256"] == "ab" * 32
    assert consent["certificate"] == {"x5t#S256": "x5t-of-the-tpp", "status": "good ocsp 2026-12-01T10:00:00Z"}
    # Exactly this consent's rows: the revocation, naming the staff account; not acc-2's.
    rows = evidence["audit"]
    assert [row["type"] for row in rows] == ["consent.revoked"]
    assert rows[0]["reason_fields"]["consent"] == "pay-1" and rows[0]["reason_fields"]["by"].startswith("staff:")
    assert len(rows[0]["hash"]) == 64 and rows[0]["seq"] >= 1
    assert evidence["chain"]["verified"] is True and evidence["chain"]["verified_through_seq"] == rows[0]["seq"]
    assert evidence["chain"]["problem"] is None
    # The same row as the whole export has it.
    lines = [json.loads(line) for line in bank.fapictl("audit", "export").stdout.splitlines()]
    assert next(line for line in lines if line["seq"] == rows[0]["seq"])["hash"] == rows[0]["hash"]
    assert bank.fapictl("audit", "verify").returncode == 0

    missing = bank.fapictl("audit", "export", "--consent", "no-such-consent", check=False)
    assert missing.returncode == 1 and "no consent no-such-consent" in missing.stderr
