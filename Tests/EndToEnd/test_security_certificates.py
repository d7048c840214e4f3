"""Issue 16, certificates and status (items 3, 4, 10, 11, 20), end to end through the real daemon over mTLS:
certificate purpose and key size for tls_client_auth, introspection and DCR; revocation of an intermediate CA;
CRL scope; OCSP replay (nonce required, answers without nextUpdate aged out); distinguished names with an
undecodable attribute. Certificates come from the openssl CLI, clients are requests and Python's ssl."""
import http.client
import json
import ssl
import time
import urllib.parse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from revocation_pki import RevocationPKI, closed_port_url
from tpp import TokenClient, openssl, register


def issue(directory, name, subject, pki, extensions, bits=2048):
    """A certificate from the development CA with exactly `extensions` (an openssl extfile body)."""
    directory.mkdir(parents=True, exist_ok=True)
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}", "-out", f"{name}.key", cwd=directory)
    openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=directory)
    (directory / f"{name}.ext").write_text(extensions + "\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(pki / "ca.pem"), "-CAkey", str(pki / "ca.key"), "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "30", "-sha256", "-extfile", f"{name}.ext", cwd=directory)
    return directory / f"{name}.pem", directory / f"{name}.key"


CLIENT = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth"
SERVER_ONLY = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth"
SIGNING_ONLY = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\nextendedKeyUsage=emailProtection"  # a QSealC-like certificate


def tls_client(daemon, cert):
    return register(daemon, {"token_endpoint_auth_method": "tls_client_auth",
                             "tls_client_auth_subject_dn": subject_dn(cert[0])})


def subject_dn(certificate_pem):
    return x509.load_pem_x509_certificate(certificate_pem.read_bytes()).subject.rfc4514_string()


def assert_invalid_client(response):
    assert response.status_code == 401 and response.json()["error"] == "invalid_client", response.text


def post_low_security(daemon, cert, path, form):
    """POST over mTLS with Python's ssl at security level 0, which lets the client use an RSA-1024 key."""
    context = ssl.create_default_context(cafile=str(daemon.keys / "ca.pem"))
    context.set_ciphers("DEFAULT@SECLEVEL=0")
    context.load_cert_chain(str(cert[0]), str(cert[1]))
    connection = http.client.HTTPSConnection("localhost", daemon.port, context=context, timeout=10)
    connection.request("POST", path, body=urllib.parse.urlencode(form), headers={"Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, json.loads(body)


# Item 4: purpose and key size (RFC 5280 §4.2.1.3, §4.2.1.12; FAPI 1 Baseline §5.2.2-5).

def test_only_tls_client_certificates_authenticate_a_tpp(daemon, pki, tmp_path):
    good = issue(tmp_path, "purpose-client", "/O=Purpose TPP/CN=purpose-client", pki, CLIENT)
    assert TokenClient(daemon, good).token(tls_client(daemon, good)).status_code == 200
    for name, extensions in (("purpose-server", SERVER_ONLY), ("purpose-seal", SIGNING_ONLY)):
        cert = issue(tmp_path, name, f"/O=Purpose TPP/CN={name}", pki, extensions)
        assert_invalid_client(TokenClient(daemon, cert).token(tls_client(daemon, cert)))


def test_an_rsa_1024_client_certificate_is_refused(daemon, pki, tmp_path):
    weak = issue(tmp_path, "weak-client", "/O=Purpose TPP/CN=weak-client", pki, CLIENT, bits=1024)
    status, body = post_low_security(daemon, weak, "/token", {"grant_type": "client_credentials", "client_id": tls_client(daemon, weak)})
    assert status == 401 and body["error"] == "invalid_client", body
    # The same route with a 2048-bit key works, so the refusal is the key size.
    strong = issue(tmp_path, "strong-client", "/O=Purpose TPP/CN=strong-client", pki, CLIENT)
    status, body = post_low_security(daemon, strong, "/token", {"grant_type": "client_credentials", "client_id": tls_client(daemon, strong)})
    assert status == 200, body


def test_a_server_certificate_does_not_authenticate_a_resource_server(daemon, pki, tmp_path):
    rs_good = issue(tmp_path, "rs-good", "/O=Bank/CN=rs-good", pki, CLIENT)
    rs_server = issue(tmp_path, "rs-server", "/O=Bank/CN=rs-server", pki, SERVER_ONLY)
    for cert in (rs_good, rs_server):
        daemon.fapictl("resource-servers", "add", "--name", cert[0].stem, "--subject-dn", subject_dn(cert[0]))
    assert TokenClient(daemon, rs_good).post("/introspect", {"token": "x"}).json() == {"active": False}
    assert_invalid_client(TokenClient(daemon, rs_server).post("/introspect", {"token": "x"}))


def test_a_server_certificate_is_not_a_dcr_transport_certificate(daemon, pki, tmp_path):
    from test_registration import ORG_ID, post, refused, ssa
    from joserfc.jwk import ECKey, import_key
    key = import_key((pki / "directory.key").read_bytes())
    kid = json.loads((pki / "directory.jwks.json").read_text())["keys"][0]["kid"]
    software_key = ECKey.generate_key("P-256")
    server_only = issue(tmp_path, "dcr-server", f"/C=GB/O=Example TPP Ltd/OU={ORG_ID}/CN=dcr-server", pki, SERVER_ONLY)
    statement, _ = ssa((key, kid), software_key)
    refused(post(daemon, server_only, {"software_statement": statement}), "unapproved_software_statement")
    client = issue(tmp_path, "dcr-client", f"/C=GB/O=Example TPP Ltd/OU={ORG_ID}/CN=dcr-client", pki, CLIENT)
    statement, _ = ssa((key, kid), software_key)
    assert post(daemon, client, {"software_statement": statement}).status_code == 201


# Items 3, 10, 11: certificate status.

@pytest.fixture
def rpki(tmp_path):
    pki = RevocationPKI(tmp_path / "rca")
    yield pki
    pki.close()


def status_daemon(make_daemon, pki, rpki, tmp_path, **extra):
    anchors = tmp_path / f"anchors-{len(extra)}.pem"
    anchors.write_text((pki / "ca.pem").read_text() + (rpki.dir / "ca.pem").read_text())
    return make_daemon(config={"client_ca": str(anchors), "certificate_status_skew_seconds": 1, "certificate_status_cache_seconds": 2,
                               "ocsp_timeout_seconds": 2, **extra}).start()


def revocation_client(daemon, name):
    return register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": f"O=Revocation TPP,CN={name}"})


def chain_client(tmp_path, rpki, name, revoke_intermediate):
    """root (rpki) → intermediate (its CRL at the root's distribution point) → leaf; the leaf's PEM holds the chain."""
    root_crl = rpki.files.url("root.crl")
    intermediate = rpki.issue(f"{name}-ca", crl_url=root_crl, extensions="subordinate")
    if revoke_intermediate:
        rpki.revoke(intermediate[0], reason="cACompromise")
    rpki.publish_crl("root.crl")
    sub = RevocationPKI(tmp_path / f"{name}-sub", ca=intermediate)
    leaf_pem, leaf_key = sub.issue(name, crl_url=sub.files.url("ca.crl"))
    sub.publish_crl()
    bundle = tmp_path / f"{name}-chain.pem"
    bundle.write_text(leaf_pem.read_text() + intermediate[0].read_text())
    return sub, (bundle, leaf_key)


def test_a_revoked_intermediate_ca_refuses_its_leaves(make_daemon, pki, rpki, tmp_path):
    daemon = status_daemon(make_daemon, pki, rpki, tmp_path)
    good_sub, good = chain_client(tmp_path, rpki, "chain-good", revoke_intermediate=False)
    bad_sub, bad = chain_client(tmp_path, rpki, "chain-bad", revoke_intermediate=True)
    try:
        assert TokenClient(daemon, good).token(revocation_client(daemon, "chain-good")).status_code == 200
        # The leaf itself is good on its own CRL; its issuing CA is revoked on the root's.
        assert_invalid_client(TokenClient(daemon, bad).token(revocation_client(daemon, "chain-bad")))
    finally:
        good_sub.close()
        bad_sub.close()


@pytest.mark.parametrize("idp", [
    "issuingDistributionPoint = critical, @idp\n[ idp ]\nonlyCA = TRUE",
    "issuingDistributionPoint = critical, @idp\n[ idp ]\nfullname = URI:http://127.0.0.1:9/some-other.crl",
    "2.5.29.27 = critical, DER:02:02:03:E8",
    "1.3.6.1.4.1.55555.1 = critical, DER:05:00",
], ids=["only-ca-certs", "other-distribution-point", "delta-crl", "unknown-critical-extension"])
def test_a_crl_that_does_not_cover_the_certificate_does_not_decide(make_daemon, pki, rpki, tmp_path, idp):
    daemon = status_daemon(make_daemon, pki, rpki, tmp_path)
    crl_url = rpki.files.url("scoped.crl")
    cert = rpki.issue("scoped", ocsp_url=closed_port_url(), crl_url=crl_url)
    rpki.publish_crl("scoped.crl", extensions=idp)
    assert_invalid_client(TokenClient(daemon, cert).token(revocation_client(daemon, "scoped")))
    # The same CA's plain CRL decides (good) for a certificate pointing at it.
    plain = rpki.issue("unscoped", ocsp_url=closed_port_url(), crl_url=rpki.publish_crl("plain.crl"))
    assert TokenClient(daemon, plain).token(revocation_client(daemon, "unscoped")).status_code == 200


def test_ocsp_nonce_required_refuses_an_answer_without_it(make_daemon, pki, rpki, tmp_path):
    lenient = status_daemon(make_daemon, pki, rpki, tmp_path)
    strict = status_daemon(make_daemon, pki, rpki, tmp_path, ocsp_require_nonce=True)
    cert = rpki.issue("nonce-less", ocsp_url=rpki.files.url("ocsp"), crl_url=closed_port_url("x.crl"))
    rpki.files.post_body = rpki.canned_response(cert[0], nonce=False)
    assert TokenClient(lenient, cert).token(revocation_client(lenient, "nonce-less")).status_code == 200
    assert_invalid_client(TokenClient(strict, cert).token(revocation_client(strict, "nonce-less")))
    # A real responder echoes the nonce: accepted under the same setting.
    responder = rpki.responder_url()
    echoed = rpki.issue("nonce-echoed", ocsp_url=responder)
    rpki.start_responder(responder)
    assert TokenClient(strict, echoed).token(revocation_client(strict, "nonce-echoed")).status_code == 200


def test_ocsp_nonce_required_per_trust_anchor(make_daemon, pki, rpki, tmp_path):
    daemon = status_daemon(make_daemon, pki, rpki, tmp_path, ocsp_require_nonce_anchors=[str(rpki.dir / "ca.pem")])
    cert = rpki.issue("anchor-nonce-less", ocsp_url=rpki.files.url("ocsp"), crl_url=closed_port_url("x.crl"))
    rpki.files.post_body = rpki.canned_response(cert[0], nonce=False)
    assert_invalid_client(TokenClient(daemon, cert).token(revocation_client(daemon, "anchor-nonce-less")))


def test_an_ocsp_answer_without_next_update_ages_out(make_daemon, pki, rpki, tmp_path):
    daemon = status_daemon(make_daemon, pki, rpki, tmp_path, ocsp_max_age_seconds=2)
    fresh = rpki.issue("no-next-fresh", ocsp_url=rpki.files.url("ocsp"), crl_url=closed_port_url("x.crl"))
    rpki.files.post_body = rpki.canned_response(fresh[0], nonce=False, next_update_minutes=None)
    assert TokenClient(daemon, fresh).token(revocation_client(daemon, "no-next-fresh")).status_code == 200
    old = rpki.issue("no-next-old", ocsp_url=rpki.files.url("ocsp"), crl_url=closed_port_url("x.crl"))
    rpki.files.post_body = rpki.canned_response(old[0], nonce=False, next_update_minutes=None)
    time.sleep(5)  # thisUpdate is now older than the 2 s maximum age plus the 1 s skew: a replay
    assert_invalid_client(TokenClient(daemon, old).token(revocation_client(daemon, "no-next-old")))


# Item 20: a DN attribute that cannot be decoded fails the comparison (RFC 8705 §2.1.2).

def resign_with_undecodable_ou(cert_pem, pki, marker=b"ZZZZZZZZ"):
    """Retags the subject's OU (a UTF8String holding `marker`) as an ObjectDescriptor, which OpenSSL parses but
    cannot turn into UTF-8 (an OCTET STRING it refuses to parse at all), and signs the changed certificate again with the development CA's key (same lengths throughout)."""
    der = bytearray(x509.load_pem_x509_certificate(cert_pem.read_bytes()).public_bytes(serialization.Encoding.DER))
    needle = b"\x0c" + bytes([len(marker)]) + marker
    at = bytes(der).index(needle)
    der[at] = 0x07
    certificate = x509.load_der_x509_certificate(bytes(der))
    tbs = certificate.tbs_certificate_bytes
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    signature = ca_key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    assert len(signature) == len(certificate.signature)
    der[len(der) - len(signature):] = signature
    out = cert_pem.with_name(cert_pem.stem + "-odd.pem")
    out.write_bytes(x509.load_der_x509_certificate(bytes(der)).public_bytes(serialization.Encoding.PEM))
    return out


def test_an_undecodable_subject_attribute_never_matches(daemon, pki, tmp_path):
    plain = issue(tmp_path, "odd", "/O=Example TPP Ltd/OU=ZZZZZZZZ/CN=odd-client", pki, CLIENT)
    odd = (resign_with_undecodable_ou(plain[0], pki), plain[1])
    # Dropping the undecodable OU would make the subject read "CN=odd-client,O=Example TPP Ltd".
    without_ou = register(daemon, {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=odd-client,O=Example TPP Ltd"})
    with_ou = register(daemon, {"token_endpoint_auth_method": "tls_client_auth",
                                "tls_client_auth_subject_dn": "CN=odd-client,OU=ZZZZZZZZ,O=Example TPP Ltd"})
    assert_invalid_client(TokenClient(daemon, odd).token(without_ou))
    assert_invalid_client(TokenClient(daemon, odd).token(with_ou))
    # The certificate as issued (OU a proper string) matches its DN: the refusal above is the attribute.
    assert TokenClient(daemon, plain).token(with_ou).status_code == 200
