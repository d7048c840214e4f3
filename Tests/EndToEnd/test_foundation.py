"""The foundation over real HTTPS: discovery, JWKS, TLS policy, client certificates, interaction ids,
configuration and key handling, start-up refusals and graceful shutdown."""
import json
import socket
import sqlite3
import ssl
import subprocess
import time
import uuid

import pytest
from joserfc.jwk import import_key

FAPI_TLS12_SUITES = {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"}


def test_discovery_documents(daemon):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        response = daemon.get(path)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/json")
        metadata = response.json()
        assert metadata["issuer"] == daemon.issuer
        assert metadata["jwks_uri"] == daemon.issuer + "/jwks"


def test_jwks_lists_ps256_and_es256_public_keys(daemon):
    keys = daemon.get("/jwks").json()["keys"]
    by_alg = {key["alg"]: key for key in keys}
    assert set(by_alg) == {"PS256", "ES256"}
    assert by_alg["PS256"]["kty"] == "RSA" and by_alg["ES256"]["crv"] == "P-256"
    for key in keys:
        assert key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys(), "private members published"
        # kid is the RFC 7638 thumbprint, computed here by joserfc.
        assert key["kid"] == import_key(key).thumbprint()
    rsa = import_key(by_alg["PS256"])
    assert rsa.raw_value.key_size >= 2048


def test_client_with_and_without_certificate_is_served(daemon, pki):
    for extra in ([], ["--cert", str(pki / "tpp.pem"), "--key", str(pki / "tpp.key")]):
        result = subprocess.run(
            ["curl", "-sS", "--fail", "--cacert", str(pki / "ca.pem"), *extra, daemon.base + "/.well-known/openid-configuration"],
            capture_output=True, text=True, check=True, timeout=30,
        )
        assert json.loads(result.stdout)["issuer"] == daemon.issuer


def test_interaction_id_is_echoed_or_generated(daemon):
    sent = str(uuid.uuid4())
    assert daemon.get("/jwks", headers={"x-fapi-interaction-id": sent}).headers["x-fapi-interaction-id"] == sent
    generated = daemon.get("/jwks", headers={"x-fapi-interaction-id": "<script>"}).headers["x-fapi-interaction-id"]
    assert str(uuid.UUID(generated)) == generated
    missing = daemon.get("/nope")
    assert missing.status_code == 404
    uuid.UUID(missing.headers["x-fapi-interaction-id"])


def handshake(daemon, pki, minimum, maximum, ciphers=None, cert=False):
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.minimum_version = minimum
    context.maximum_version = maximum
    if ciphers:
        context.set_ciphers(ciphers)
    if cert:
        context.load_cert_chain(str(pki / "tpp.pem"), str(pki / "tpp.key"))
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.version(), tls.cipher()[0]


def test_tls_versions_and_cipher_suites(daemon, pki):
    version, cipher = handshake(daemon, pki, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
    assert version == "TLSv1.2" and cipher in FAPI_TLS12_SUITES
    for suite in FAPI_TLS12_SUITES:
        assert handshake(daemon, pki, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, ciphers=suite)[1] == suite
    assert handshake(daemon, pki, ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"
    assert handshake(daemon, pki, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3, cert=True)[0] == "TLSv1.3"
    for ciphers in ("ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"):
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            handshake(daemon, pki, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, ciphers=ciphers)


def test_tls_1_0_and_1_1_are_refused(daemon):
    for flag in ("-tls1", "-tls1_1"):
        result = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{daemon.port}", flag, "-cipher", "DEFAULT@SECLEVEL=0"],
            input="", capture_output=True, text=True, timeout=30,
        )
        assert "Cipher is (NONE)" in result.stdout or result.returncode != 0


def test_sigterm_shuts_down_gracefully(daemon):
    assert daemon.stop() == 0
    assert "fapid stopped" in daemon.log.read_text()


def test_group_readable_private_keys_are_refused(make_daemon, private_pki):
    (private_pki / "signing-es256.key").chmod(0o640)
    code, log = make_daemon(keys=private_pki).run_to_exit()
    assert code != 0 and "chmod 600" in log and "signing-es256.key" in log

    (private_pki / "signing-es256.key").chmod(0o600)
    (private_pki / "server.key").chmod(0o644)
    code, log = make_daemon(keys=private_pki).run_to_exit()
    assert code != 0 and "server.key" in log


def test_non_loopback_listen_address_is_refused(make_daemon):
    code, log = make_daemon(env={"FAPID_LISTEN": "0.0.0.0:18443"}).run_to_exit()
    assert code != 0
    assert "listen" in log and "allow_non_loopback" in log


def test_bad_configuration_names_the_key(make_daemon):
    code, log = make_daemon(config={"key_refresh_seconds": -1}).run_to_exit()
    assert code != 0 and "key_refresh_seconds" in log
    code, log = make_daemon(env={"FAPID_ISSUER": "http://localhost"}).run_to_exit()
    assert code != 0 and "issuer" in log


def test_failed_migration_leaves_database_unchanged(make_daemon, tmp_path):
    from conftest import ROOT
    migrations = tmp_path / "migrations"
    (migrations / "sqlite").mkdir(parents=True)
    for source in (ROOT / "migrations" / "sqlite").glob("*.sql"):
        (migrations / "sqlite" / source.name).write_text(source.read_text())
    (migrations / "sqlite" / "9999_broken.sql").write_text("CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n")
    daemon = make_daemon(env={"FAPID_MIGRATIONS_DIR": str(migrations)})
    code, log = daemon.run_to_exit()
    assert code != 0 and "9999_broken" in log
    with sqlite3.connect(daemon.workdir / "fapid.sqlite") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        versions = [row[0] for row in db.execute("SELECT version FROM schema_migrations")]
    assert "half_done" not in tables
    assert "9999_broken" not in versions and "0001_init" in versions


def test_rotated_key_stays_published_and_new_key_appears(make_daemon):
    daemon = make_daemon(config={"key_refresh_seconds": 1}).start()
    before = {key["kid"]: key["alg"] for key in daemon.get("/jwks").json()["keys"]}
    # --now: the new key signs at once, so the old one is retiring at once (staged rotation: test_keys_rotation.py).
    rotated = daemon.fapictl("keys", "rotate", "--now", "--alg", "ES256").stdout.split()
    assert rotated[0] == "ES256"
    new_kid = rotated[1]
    deadline = time.time() + 15
    while time.time() < deadline:
        after = {key["kid"]: key["alg"] for key in daemon.get("/jwks").json()["keys"]}
        if new_kid in after:
            break
        time.sleep(0.2)
    assert new_kid in after and set(before) <= set(after), "old keys must stay published after rotation"
    states = {entry["kid"]: entry["state"] for entry in json.loads(daemon.fapictl("keys", "list", "--json").stdout)}
    old_es = next(kid for kid, alg in before.items() if alg == "ES256")
    assert states[new_kid] == "active" and states[old_es] == "retiring"
    new_file = daemon.keys / "signing" / f"{new_kid}.key"
    assert new_file.stat().st_mode & 0o777 == 0o600


def test_fapictl_reports_errors_on_one_line(make_daemon):
    daemon = make_daemon()
    result = daemon.fapictl("keys", "rotate", "--alg", "HS256", check=False)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "HS256" in result.stderr
