"""Independent client helpers for the token-path tests: certificates made with the openssl CLI from the
dev CA (or a rogue one), client registration through fapictl, and RFC 7523 client assertions built with
joserfc, an implementation fapid does not share code with."""
import base64
import hashlib
import json
import subprocess
import time
import uuid
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def issue_certificate(directory: Path, name: str, subject: str, ca: Path, ca_key: Path) -> tuple[Path, Path]:
    """A client certificate `name.pem`/`name.key` issued by the CA at `ca`/`ca_key`."""
    directory.mkdir(parents=True, exist_ok=True)
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", f"{name}.key", cwd=directory)
    openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=directory)
    (directory / f"{name}.ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "30", "-sha256", "-extfile", f"{name}.ext", cwd=directory)
    return directory / f"{name}.pem", directory / f"{name}.key"


def self_signed_certificate(directory: Path, name: str, subject: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.pem", "-days", "30", "-subj", subject, cwd=directory)
    return directory / f"{name}.pem", directory / f"{name}.key"


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "30",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE", cwd=directory)
    return directory / f"{name}.pem", directory / f"{name}.key"


def thumbprint(certificate_pem: Path) -> str:
    """RFC 8705 §3.1 x5t#S256, computed here independently of fapid."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.read_bytes())
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_jwk_of_certificate(certificate_pem: Path) -> dict:
    from joserfc.jwk import import_key
    certificate = x509.load_pem_x509_certificate(certificate_pem.read_bytes())
    pem = certificate.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return import_key(pem).as_dict(private=False)


def register(daemon, metadata: dict) -> str:
    """Registers through fapictl. Without `grant_types` the client gets client_credentials, which most token-path
    tests use; the RFC 7591 default (authorization_code) is tested by calling fapictl directly."""
    metadata = {"grant_types": ["client_credentials"], **metadata}
    result = daemon.fapictl("clients", "add", check=False, input_text=json.dumps(metadata))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["client_id"]


def assertion(key, alg: str, client_id: str, audience, *, lifetime=60, jti=None, iat_offset=0, extra=None, kid=None) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": jti or str(uuid.uuid4()),
              "iat": now + iat_offset, "exp": now + iat_offset + lifetime}
    claims.update(extra or {})
    header = {"alg": alg, "typ": "JWT"}
    if kid:
        header["kid"] = kid
    return jwt.encode(header, claims, key, algorithms=[alg])


def fresh_key(alg: str):
    return RSAKey.generate_key(2048) if alg == "PS256" else ECKey.generate_key("P-256")


class TokenClient:
    """A TPP talking to fapid with requests over mTLS."""

    def __init__(self, daemon, cert: tuple[Path, Path] | None):
        self.daemon = daemon
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE or proxies from the environment must not apply
        self.session.verify = str(daemon.keys / "ca.pem")
        if cert:
            self.session.cert = (str(cert[0]), str(cert[1]))

    def post(self, path, data, **kwargs):
        return self.session.post(self.daemon.base + path, data=data, timeout=10, **kwargs)

    def token(self, client_id=None, **extra):
        data = {"grant_type": "client_credentials"}
        if client_id:
            data["client_id"] = client_id
        data.update(extra)
        return self.post("/token", data)
