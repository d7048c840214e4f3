"""Certificate status end to end through the token endpoint: real `openssl ocsp` responders (issuer-signed,
delegated, unauthorised), CRLs made with `openssl ca -gencrl`, fail-closed policy, revocation-aware
introspection, and `fapictl cert check`."""
import json
import time

import pytest

from revocation_pki import RevocationPKI, closed_port_url
from tpp import TokenClient, register, thumbprint


@pytest.fixture
def rpki(tmp_path):
    pki = RevocationPKI(tmp_path / "rca")
    yield pki
    pki.close()


@pytest.fixture
def status_daemon(make_daemon, pki, rpki, tmp_path):
    """A daemon trusting both the dev CA and the revocation CA, with short status caches."""
    anchors = tmp_path / "anchors.pem"
    anchors.write_text((pki / "ca.pem").read_text() + (rpki.dir / "ca.pem").read_text())
    daemon = make_daemon(config={
        "client_ca": str(anchors),
        "certificate_status_skew_seconds": 1,
        "certificate_status_cache_seconds": 2,
        "certificate_status_refresh_seconds": 1,
        "ocsp_timeout_seconds": 2,
    }).start()
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB")
    return daemon


def client_for(daemon, name):
    return register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": f"O=Revocation TPP,CN={name}"})  # openssl ca puts CN first in the certificate


def token(daemon, cert, client_id):
    return TokenClient(daemon, cert).token(client_id)


def assert_rejected(response):
    assert response.status_code == 401 and response.json()["error"] == "invalid_client", response.text


def test_ocsp_good_and_revoked(status_daemon, rpki):
    responder = rpki.responder_url()
    good = rpki.issue("good-client", ocsp_url=responder)
    bad = rpki.issue("revoked-client", ocsp_url=responder)
    rpki.revoke(bad[0])
    rpki.start_responder(responder)
    assert token(status_daemon, good, client_for(status_daemon, "good-client")).status_code == 200
    assert_rejected(token(status_daemon, bad, client_for(status_daemon, "revoked-client")))
    assert_rejected(token(status_daemon, bad, client_for(status_daemon, "revoked-client")))
    # Found revoked: one audit event for the certificate, however often it is presented.
    rows = [json.loads(line) for line in status_daemon.fapictl("audit", "export").stdout.splitlines()]
    revoked = [row for row in rows if row["type"] == "certificate.revoked"]
    assert len(revoked) == 1 and "revoked-client" in revoked[0]["reason"] and revoked[0]["outcome"] == "failure"


def test_delegated_responder_is_accepted_and_an_unauthorised_one_is_not(status_daemon, rpki, tmp_path):
    rpki.issue("delegate", extensions="responder")
    delegated = rpki.responder_url()
    ok = rpki.issue("delegated-ok", ocsp_url=delegated)
    rpki.start_responder(delegated, signer="delegate")
    assert token(status_daemon, ok, client_for(status_daemon, "delegated-ok")).status_code == 200

    # A responder key the CA never authorised: its answers are not trusted, the CRL decides.
    rogue = RevocationPKI(tmp_path / "rogue")
    try:
        import shutil
        for suffix in ("pem", "key"):
            shutil.copy(rogue.dir / f"ca.{suffix}", rpki.dir / f"rogue.{suffix}")
        unauthorised = rpki.responder_url()
        no_crl = rpki.issue("rogue-signed", ocsp_url=unauthorised)
        crl_url = rpki.publish_crl()
        with_crl = rpki.issue("rogue-signed-crl", ocsp_url=unauthorised, crl_url=crl_url)
        rpki.start_responder(unauthorised, signer="rogue")
        assert_rejected(token(status_daemon, no_crl, client_for(status_daemon, "rogue-signed")))
        assert token(status_daemon, with_crl, client_for(status_daemon, "rogue-signed-crl")).status_code == 200
    finally:
        rogue.close()


def test_crl_fallback_when_the_responder_is_down(status_daemon, rpki):
    down = closed_port_url()
    listed = rpki.issue("listed", ocsp_url=down, crl_url=rpki.files.url("ca.crl"))
    clean = rpki.issue("clean", ocsp_url=down, crl_url=rpki.files.url("ca.crl"))
    rpki.revoke(listed[0], reason="superseded")
    rpki.publish_crl()
    assert_rejected(token(status_daemon, listed, client_for(status_daemon, "listed")))
    assert token(status_daemon, clean, client_for(status_daemon, "clean")).status_code == 200


def test_fail_closed_when_no_source_answers(status_daemon, rpki):
    nothing = rpki.issue("nothing", ocsp_url=closed_port_url(), crl_url=closed_port_url("ca.crl"))
    assert_rejected(token(status_daemon, nothing, client_for(status_daemon, "nothing")))


def test_stale_crl_is_not_trusted(status_daemon, rpki):
    crl_url = rpki.publish_crl(name="stale.crl", seconds=1)
    stale = rpki.issue("stale", ocsp_url=closed_port_url(), crl_url=crl_url)
    time.sleep(3)  # nextUpdate + the daemon's 1 s skew are past
    assert_rejected(token(status_daemon, stale, client_for(status_daemon, "stale")))


def test_bad_ocsp_answers_fall_back_to_the_crl(status_daemon, rpki):
    crl_url = rpki.publish_crl()
    # wrong nonce: a correctly signed answer for this very certificate, but made for another request
    wrong_nonce = rpki.issue("wrong-nonce", ocsp_url=rpki.files.url("ocsp"), crl_url=closed_port_url("x.crl"))
    rpki.files.post_body = rpki.canned_response(wrong_nonce[0])
    assert_rejected(token(status_daemon, wrong_nonce, client_for(status_daemon, "wrong-nonce")))
    # an answer about another certificate: not trusted; with a CRL to fall back on, accepted
    other = rpki.issue("someone-else")
    rpki.files.post_body = rpki.canned_response(other[0], nonce=False)
    wrong_id = rpki.issue("wrong-id", ocsp_url=rpki.files.url("ocsp"), crl_url=crl_url)
    assert token(status_daemon, wrong_id, client_for(status_daemon, "wrong-id")).status_code == 200
    wrong_id_no_crl = rpki.issue("wrong-id-no-crl", ocsp_url=rpki.files.url("ocsp"), crl_url=closed_port_url("x.crl"))
    assert_rejected(token(status_daemon, wrong_id_no_crl, client_for(status_daemon, "wrong-id-no-crl")))
    # garbage and truncated DER from the responder never crash the daemon
    for body in (b"", b"\x30\x82\x01", b"not der at all", rpki.canned_response(other[0])[:40]):
        rpki.files.post_body = body
        name = f"garbage-{len(body)}"
        cert = rpki.issue(name, ocsp_url=rpki.files.url("ocsp"), crl_url=closed_port_url("x.crl"))
        assert_rejected(token(status_daemon, cert, client_for(status_daemon, name)))
    assert status_daemon.get("/healthz").status_code == 200


def test_token_bound_to_a_revoked_certificate_introspects_inactive(status_daemon, rpki, pki):
    responder = rpki.responder_url()
    cert = rpki.issue("soon-revoked", ocsp_url=responder)
    rpki.start_responder(responder)
    access_token = token(status_daemon, cert, client_for(status_daemon, "soon-revoked")).json()["access_token"]
    rs = TokenClient(status_daemon, (pki / "tpp.pem", pki / "tpp.key"))
    info = rs.post("/introspect", {"token": access_token}).json()
    assert info["active"] is True and info["cnf"]["x5t#S256"] == thumbprint(cert[0])
    rpki.revoke(cert[0])
    revoked_at = time.time()
    deadline = revoked_at + 20
    while time.time() < deadline:
        if rs.post("/introspect", {"token": access_token}).json() == {"active": False}:
            break
        time.sleep(0.25)
    else:
        pytest.fail("the token stayed active after its certificate was revoked")
    print(f"revocation reached introspection after {time.time() - revoked_at:.1f} s")


def test_dpop_bound_token_of_an_mtls_client_follows_its_certificate_status(status_daemon, rpki, pki):
    """A FAPI 2 client authenticated by mTLS whose token is DPoP-bound (cnf.jkt only) still loses the token when
    the certificate it authenticated with is revoked."""
    from test_dpop import DPoPKey  # the joserfc proof maker of the DPoP suite

    responder = rpki.responder_url()
    cert = rpki.issue("dpop-revoked", ocsp_url=responder)
    rpki.start_responder(responder)
    client_id = register(status_daemon, {
        "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "O=Revocation TPP,CN=dpop-revoked",
        "fapi_profile": "fapi2-security-profile", "response_types": ["code"], "grant_types": ["client_credentials"], "scope": "accounts"})
    key = DPoPKey()
    response = TokenClient(status_daemon, cert).session.post(
        status_daemon.base + "/token", data={"grant_type": "client_credentials", "client_id": client_id},
        headers={"DPoP": key.proof("POST", status_daemon.issuer + "/token")}, timeout=10)
    assert response.status_code == 200 and response.json()["token_type"] == "DPoP", response.text
    access_token = response.json()["access_token"]
    rs = TokenClient(status_daemon, (pki / "tpp.pem", pki / "tpp.key"))
    info = rs.post("/introspect", {"token": access_token}).json()
    assert info["active"] is True and info["cnf"] == {"jkt": key.thumbprint}, info
    rpki.revoke(cert[0])
    deadline = time.time() + 20
    while time.time() < deadline:
        if rs.post("/introspect", {"token": access_token}).json() == {"active": False}:
            break
        time.sleep(0.25)
    else:
        pytest.fail("the DPoP-bound token stayed active after the client's certificate was revoked")


def test_fapictl_cert_check(status_daemon, rpki):
    responder = rpki.responder_url()
    good = rpki.issue("check-good", ocsp_url=responder)
    bad = rpki.issue("check-bad", ocsp_url=responder)
    rpki.revoke(bad[0], reason="keyCompromise")
    rpki.start_responder(responder)
    issuer = str(rpki.dir / "ca.pem")
    result = status_daemon.fapictl("cert", "check", str(good[0]), "--issuer", issuer, check=False)
    assert result.returncode == 0 and result.stdout.startswith("good") and responder in result.stdout, result.stdout + result.stderr
    result = status_daemon.fapictl("cert", "check", str(bad[0]), "--issuer", issuer, check=False)
    assert result.returncode == 1 and "revoked (keyCompromise" in result.stdout
    crl_only = rpki.issue("check-crl", ocsp_url=closed_port_url(), crl_url=rpki.publish_crl())
    result = status_daemon.fapictl("cert", "check", str(crl_only[0]), "--issuer", issuer, check=False)
    assert result.returncode == 0 and "crl http" in result.stdout
    nowhere = rpki.issue("check-nowhere", ocsp_url=closed_port_url())
    result = status_daemon.fapictl("cert", "check", str(nowhere[0]), "--issuer", issuer, check=False)
    assert result.returncode == 2 and result.stdout.startswith("unknown")


def test_status_answers_survive_a_restart(make_daemon, pki, rpki, tmp_path):
    anchors = tmp_path / "anchors-restart.pem"
    anchors.write_text((pki / "ca.pem").read_text() + (rpki.dir / "ca.pem").read_text())
    responder = rpki.responder_url()
    cert = rpki.issue("restarted", ocsp_url=responder)
    rpki.start_responder(responder)
    daemon = make_daemon(config={"client_ca": str(anchors), "certificate_status_refresh_seconds": 3600}).start()
    client_id = client_for(daemon, "restarted")
    assert token(daemon, cert, client_id).status_code == 200
    assert daemon.stop() == 0
    rpki.stop_responders()
    daemon.start()
    # The responder is gone; the answer persisted in SQLite (valid for its nextUpdate) still decides.
    assert token(daemon, cert, client_id).status_code == 200
    assert "certificate status answers restored" in daemon.log.read_text()


def test_a_consent_records_the_ocsp_answer_its_certificate_was_accepted_on(status_daemon, rpki):
    """Issue 19: the evidence of a consent names the OCSP/CRL answer the TPP's certificate was accepted on."""
    responder = rpki.responder_url()
    cert = rpki.issue("consent-client", ocsp_url=responder)
    rpki.start_responder(responder)
    client_id = register(status_daemon, {
        "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "O=Revocation TPP,CN=consent-client",
        "redirect_uris": ["https://tpp.example/cb"], "response_types": ["code"], "grant_types": ["authorization_code"],
        "scope": "openid accounts", "fapi_profile": "fapi2-security-profile", "authorization_details_types": ["account_information"]})
    details = [{"type": "account_information", "actions": ["balances"]}]
    pushed = TokenClient(status_daemon, cert).post("/par", {
        "client_id": client_id, "response_type": "code", "redirect_uri": "https://tpp.example/cb", "scope": "openid accounts",
        "state": "s-" + "x" * 20, "nonce": "n-" + "y" * 20, "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256", "authorization_details": json.dumps(details)})
    assert pushed.status_code == 201, pushed.text
    listed = json.loads(status_daemon.fapictl("consents", "list", "--client", client_id, "--json").stdout)
    assert len(listed) == 1 and listed[0]["x5t#S256"] == thumbprint(cert[0]), listed
    assert listed[0]["certificate_status"].startswith(f"good ocsp {responder}") or listed[0]["certificate_status"].startswith("good cache"), listed
