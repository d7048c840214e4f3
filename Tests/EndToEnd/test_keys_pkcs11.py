"""Signing keys inside a PKCS#11 token, end to end: a SoftHSM2 token initialised here in a temporary directory, the
daemon and fapictl pointed at it (SOFTHSM2_CONF, FAPID_PKCS11_MODULE, the PIN from FAPID_PKCS11_PIN_FILE or
FAPID_PKCS11_PIN), tokens checked with joserfc against /jwks over real HTTPS; the daemon fails closed without its
token, and a token removed while it runs shows in /healthz, the log and /metrics."""
import json
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from test_keys_rotation import wait_for
from test_operations import metric
from tpp import TokenClient, register

pytestmark = pytest.mark.skipif(shutil.which("softhsm2-util") is None, reason="softhsm2 is not installed (make test installs it)")

MODULES = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"]
LABEL = "fapid-e2e"
# Distinctive, so that a PIN in any output is found (digits alone could match a timestamp).
PIN = "pin-5417-fapid"
TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"


class Token:
    """A SoftHSM2 token of this test's own: its configuration and object store in a temporary directory."""

    def __init__(self, directory):
        directory.mkdir()
        (directory / "tokens").mkdir()
        self.conf = directory / "softhsm2.conf"
        self.conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
        self.module = next(path for path in MODULES if os.path.exists(path))
        self.util("--init-token", "--free", "--label", LABEL, "--so-pin", "12345678", "--pin", PIN)

    def util(self, *args):
        return subprocess.run(["softhsm2-util", *args], env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
                              check=True, capture_output=True, text=True)

    def delete(self):
        self.util("--delete-token", "--token", LABEL)


@pytest.fixture
def token(tmp_path):
    return Token(tmp_path / "hsm")


@pytest.fixture
def token_keys_dir(private_pki):
    """The dev PKI without its signing-*.key files, so every signing key the daemon has is one fapictl put in the token."""
    for path in private_pki.glob("signing-*.key"):
        path.unlink()
    return private_pki


def token_daemon(make_daemon, tmp_path, token, keys, *, pin_via="file", pin=PIN, env=None):
    settings = {"SOFTHSM2_CONF": str(token.conf), "FAPID_PKCS11_MODULE": token.module, "FAPID_KEY_REFRESH_SECONDS": "1"}
    if pin_via == "file":
        pin_file = tmp_path / f"pin-{uuid.uuid4().hex[:8]}"
        pin_file.write_text(pin + "\n")
        pin_file.chmod(0o600)
        settings["FAPID_PKCS11_PIN_FILE"] = str(pin_file)
    else:
        settings["FAPID_PKCS11_PIN"] = pin
    settings.update(env or {})
    return make_daemon(env=settings, keys=keys)


def files_under(*directories):
    return {path for directory in directories for path in directory.rglob("*") if path.is_file()}


def generate_in_token(daemon, *extra):
    result = daemon.fapictl("keys", "generate", "--pkcs11", f"pkcs11:token={LABEL}", *extra)
    made = {}
    for line in result.stdout.splitlines():
        if line == "every requested algorithm already has an active key":
            continue
        alg, kid, uri = line.split(" ")
        assert uri.startswith(f"pkcs11:token={LABEL};") and "pin" not in uri, line
        made[alg] = kid
    return made


def listed(daemon):
    return {row["kid"]: row for row in json.loads(daemon.fapictl("keys", "list", "--json").stdout)}


def assert_lives_in_token(row):
    assert row["key_file"].startswith(f"pkcs11:token={LABEL};"), row
    assert row["location"] == "pkcs11", row


def jwks(daemon) -> KeySet:
    return KeySet.import_key_set(daemon.get("/jwks").json())


def verify(token_value, keys: KeySet, alg):
    decoded = jwt.decode(token_value, keys, algorithms=[alg])
    assert decoded.header["alg"] == alg, decoded.header
    return decoded


class CIBAClient:
    """A poll-mode CIBA client whose access tokens are JWTs, both they and its ID tokens signed with `alg`."""

    def __init__(self, daemon, pki, alg):
        self.daemon = daemon
        self.key = ECKey.generate_key("P-256")
        self.binding = f"Order {alg}"
        self.client_id = register(daemon, {
            "client_name": f"Token keys {alg}", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
            "grant_types": [CIBA_GRANT], "scope": "openid accounts", "backchannel_token_delivery_mode": "poll",
            "jwks": {"keys": [self.key.as_dict(private=False)]}, "access_token_format": "jwt", "access_token_signing_alg": alg,
            "id_token_signed_response_alg": alg})
        self.tpp = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))

    def tokens(self):
        now = int(time.time())
        request = jwt.encode({"alg": "ES256"}, {
            "iss": self.client_id, "aud": self.daemon.issuer, "exp": now + 300, "iat": now, "nbf": now, "jti": str(uuid.uuid4()),
            "scope": "openid accounts", "login_hint": "alice", "binding_message": self.binding}, self.key, algorithms=["ES256"])
        response = self.tpp.post("/bc-authorize", {"client_id": self.client_id, "request": request})
        assert response.status_code == 200, response.text
        auth_req_id = response.json()["auth_req_id"]
        rows = json.loads(self.daemon.fapictl("ciba", "list", "--json").stdout)
        self.daemon.fapictl("ciba", "approve", next(row["id"] for row in rows if row["binding_message"] == self.binding))
        response = self.tpp.post("/token", {"grant_type": CIBA_GRANT, "client_id": self.client_id, "auth_req_id": auth_req_id})
        assert response.status_code == 200, response.text
        return response.json()



# --- keys made in the token sign PS256 and ES256 JWT access tokens and ID tokens ---------------------------------------

def test_keys_generated_in_the_token_sign_access_and_id_tokens(make_daemon, tmp_path, token, token_keys_dir, pki):
    daemon = token_daemon(make_daemon, tmp_path, token, token_keys_dir, pin_via="file")
    before = files_under(token_keys_dir, daemon.workdir)
    made = generate_in_token(daemon)
    assert set(made) == {"PS256", "ES256"}
    rows = listed(daemon)
    for kid in made.values():
        assert rows[kid]["state"] == "active"
        assert_lives_in_token(rows[kid])
    # Nothing but the database changed: no private key file was written for a token key.
    written = files_under(token_keys_dir, daemon.workdir) - before
    assert {path.name for path in written} <= {"fapid.sqlite", "fapid.sqlite-wal", "fapid.sqlite-shm"}, written
    assert generate_in_token(daemon) == {}

    daemon.start()
    published = jwks(daemon)
    assert {key.kid for key in published.keys} == set(made.values())
    assert all("d" not in key for key in daemon.get("/jwks").json()["keys"])
    daemon.fapictl("users", "add", "alice", input_text="correct horse battery staple\n")
    for alg in ["PS256", "ES256"]:
        body = CIBAClient(daemon, pki, alg).tokens()
        access = verify(body["access_token"], published, alg)
        assert access.header["typ"] == "at+jwt" and access.header["kid"] == made[alg]
        identity = verify(body["id_token"], published, alg)
        assert identity.header["kid"] == made[alg] and identity.claims["iss"] == daemon.issuer

    metrics = daemon.get("/metrics").text
    for kid in made.values():
        assert metric(metrics, "fapid_signing_seconds_count", kid=kid) >= 1, metrics
        # Buckets reach the hundreds of milliseconds a hardware token may take; the error counter is there at 0.
        assert re.search(rf'fapid_signing_seconds_bucket\{{[^}}]*kid="{kid}"[^}}]*le="0.5"', metrics), metrics
        assert re.search(rf'^fapid_signing_errors_total\{{kid="{kid}"\}} 0$', metrics, re.MULTILINE), metrics
    assert PIN not in daemon.log.read_text()


def test_import_stages_a_token_key_as_next(make_daemon, tmp_path, token, token_keys_dir):
    daemon = token_daemon(make_daemon, tmp_path, token, token_keys_dir, pin_via="env")
    made = generate_in_token(daemon)
    # A key pair put into the token by its own tool, as a bank's key ceremony would.
    key = ECKey.generate_key("P-256")
    pem = tmp_path / "ceremony.pem"
    pem.write_bytes(key.as_pem(private=True))
    token.util("--import", str(pem), "--token", LABEL, "--label", "ceremony", "--id", "c0ffee01", "--pin", PIN)
    pem.unlink()

    refused = daemon.fapictl("keys", "import", "--pkcs11", f"pkcs11:token={LABEL};id=%C0%FF%EE%01?pin-value={PIN}", check=False)
    assert refused.returncode != 0 and "pin-value" in refused.stderr and PIN not in refused.stderr + refused.stdout

    daemon.start()
    imported = daemon.fapictl("keys", "import", "--pkcs11", f"pkcs11:token={LABEL};id=%C0%FF%EE%01")
    alg, kid, uri, state = imported.stdout.split(" ")[:4]
    assert (alg, kid, state) == ("ES256", key.thumbprint(), "next"), imported.stdout
    row = listed(daemon)[kid]
    assert row["state"] == "next"
    assert_lives_in_token(row)
    again = daemon.fapictl("keys", "import", "--pkcs11", uri, check=False)
    assert again.returncode != 0 and "stored already" in again.stderr

    # Published (the refresher reloads every second) but not used: tokens are still signed by the active key.
    assert wait_for(lambda: kid in {key.kid for key in jwks(daemon).keys}, 15, "the imported kid in /jwks")
    client_id = register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
                                  "scope": "accounts", "access_token_format": "jwt", "access_token_signing_alg": "ES256"})
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    client = TokenClient(daemon, (daemon.keys / "tpp.pem", daemon.keys / "tpp.key"))
    response = client.token(client_id, scope="accounts")
    assert response.status_code == 200, response.text
    assert verify(response.json()["access_token"], jwks(daemon), "ES256").header["kid"] == made["ES256"]
    assert not list(tmp_path.rglob("ceremony*"))


# --- fail closed ------------------------------------------------------------------------------------------------------

def test_wrong_pin_refuses_to_start_naming_the_key(make_daemon, tmp_path, token, token_keys_dir):
    maker = token_daemon(make_daemon, tmp_path, token, token_keys_dir, pin_via="file")
    made = generate_in_token(maker)
    wrong = "wrong-8830-pin"
    daemon = token_daemon(make_daemon, tmp_path, token, token_keys_dir, pin_via="env", pin=wrong,
                          env={"FAPID_DATABASE": str(maker.workdir / "fapid.sqlite")})
    code, log = daemon.run_to_exit()
    assert code != 0
    assert any(kid in log for kid in made.values()) and f"pkcs11:token={LABEL}" in log, log
    assert wrong not in log and PIN not in log


def test_absent_token_refuses_to_start_naming_the_key(make_daemon, tmp_path, token, token_keys_dir):
    daemon = token_daemon(make_daemon, tmp_path, token, token_keys_dir, pin_via="file")
    made = generate_in_token(daemon)
    token.delete()
    code, log = daemon.run_to_exit()
    assert code != 0
    assert any(kid in log for kid in made.values()) and "cannot" in log, log
    assert PIN not in log


def test_token_removed_while_running_fails_health_and_counts_errors(make_daemon, tmp_path, token, token_keys_dir):
    daemon = token_daemon(make_daemon, tmp_path, token, token_keys_dir, pin_via="file")
    made = generate_in_token(daemon)
    daemon.start()
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", TPP_DN)
    client_id = register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": TPP_DN,
                                  "scope": "accounts", "access_token_format": "jwt", "access_token_signing_alg": "ES256"})
    client = TokenClient(daemon, (daemon.keys / "tpp.pem", daemon.keys / "tpp.key"))
    assert client.token(client_id, scope="accounts").status_code == 200
    assert daemon.get("/healthz").status_code == 200

    token.delete()
    # Within a few probe intervals (key_refresh_seconds is 1 here).
    assert wait_for(lambda: daemon.get("/healthz").status_code == 503, 10, "/healthz answering 503")
    body = daemon.get("/healthz").json()
    assert body["status"] == "unavailable" and made["ES256"] in body["signing_keys"] and made["PS256"] in body["signing_keys"], body
    log = daemon.log.read_text()
    assert "signing key cannot sign" in log and made["ES256"] in log and PIN not in log

    errors = metric(daemon.get("/metrics").text, "fapid_signing_errors_total", kid=made["ES256"])
    response = client.token(client_id, scope="accounts")
    assert response.status_code >= 500, response.text
    assert metric(daemon.get("/metrics").text, "fapid_signing_errors_total", kid=made["ES256"]) > errors
    assert daemon.process.poll() is None
