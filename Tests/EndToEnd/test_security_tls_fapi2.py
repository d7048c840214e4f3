"""FAPI 2 SP §5.2.2 (BCP 195 / RFC 9325) at the TLS layer, probed with the openssl CLI as any client would: on TLS 1.2
the listener negotiates only ECDHE with AES-GCM (ECDHE-RSA with an RSA server certificate, ECDHE-ECDSA with an ECDSA
one). Every other TLS 1.2 suite OpenSSL knows is refused, DHE first among them (a failure under FAPI 2, allowed but
not required by FAPI 1 Advanced §8.5), as are CBC, ChaCha20, static-RSA and anonymous suites; TLS 1.0 and 1.1 are
refused, TLS 1.3 works. One listener serves every client, so every client gets this list."""
import subprocess

import pytest

RSA_SUITES = {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"}
ECDSA_SUITES = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"}
DHE_SUITES = {"DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384"}


def s_client(daemon, *args):
    """One handshake with `openssl s_client`; True when it completed."""
    result = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{daemon.port}", "-servername", "localhost", *args],
                            input="", capture_output=True, text=True, timeout=30)
    return result.returncode == 0 and "Cipher is (NONE)" not in result.stdout


def tls12_suites():
    """Every TLS 1.2 suite this OpenSSL can offer, weak ones included."""
    names = subprocess.run(["openssl", "ciphers", "-tls1_2", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"], capture_output=True, text=True,
                           check=True).stdout.strip().split(":")
    return {name for name in names if not name.startswith("TLS_")}  # TLS_* are the TLS 1.3 suites


def accepted_tls12(daemon):
    return {suite for suite in tls12_suites() if s_client(daemon, "-tls1_2", "-cipher", f"{suite}:@SECLEVEL=0")}


@pytest.fixture
def ecdsa_daemon(make_daemon, pki, tmp_path):
    """A daemon whose server certificate has a P-256 key, issued by the development CA."""
    directory = tmp_path / "ec-server"
    directory.mkdir()
    key, csr, cert, ext = (directory / name for name in ("server.key", "server.csr", "server.pem", "server.ext"))
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key)], check=True,
                   capture_output=True)
    key.chmod(0o600)
    subprocess.run(["openssl", "req", "-new", "-key", str(key), "-subj", "/O=fapid tests/CN=localhost", "-out", str(csr)], check=True,
                   capture_output=True)
    ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                   "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.pem"), "-CAkey", str(pki / "ca.key"), "-CAcreateserial",
                    "-days", "2", "-sha256", "-extfile", str(ext), "-out", str(cert)], check=True, capture_output=True)
    return make_daemon(env={"FAPID_TLS_CERTIFICATE": str(cert), "FAPID_TLS_PRIVATE_KEY": str(key)}).start()


def test_tls12_with_an_rsa_certificate_is_ecdhe_rsa_gcm_only(daemon):
    assert DHE_SUITES <= tls12_suites(), "this OpenSSL must be able to offer DHE for the test to mean anything"
    assert accepted_tls12(daemon) == RSA_SUITES
    for suite in DHE_SUITES | {"DHE-RSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA", "AES128-GCM-SHA256",
                               "ECDHE-RSA-CHACHA20-POLY1305"}:
        assert not s_client(daemon, "-tls1_2", "-cipher", f"{suite}:@SECLEVEL=0"), suite
    # A client offering DHE first still gets ECDHE: the server's list decides.
    assert s_client(daemon, "-tls1_2", "-cipher", "DHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0")


def test_tls12_with_an_ecdsa_certificate_is_ecdhe_ecdsa_gcm_only(ecdsa_daemon):
    assert accepted_tls12(ecdsa_daemon) == ECDSA_SUITES
    assert ecdsa_daemon.get("/healthz").status_code == 200


@pytest.mark.parametrize("which", ["rsa", "ecdsa"])
def test_old_versions_are_refused_and_tls13_works(which, request):
    daemon = request.getfixturevalue("daemon" if which == "rsa" else "ecdsa_daemon")
    for flag in ("-tls1", "-tls1_1"):
        assert not s_client(daemon, flag, "-cipher", "DEFAULT@SECLEVEL=0"), flag
    assert s_client(daemon, "-tls1_3")
