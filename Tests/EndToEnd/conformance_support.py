"""Shared helpers for the conformance traceability tests (test_conformance_fapi1_advanced.py and
test_conformance_fapi_ciba.py): the OpenID Foundation suite's set-up (two clients, each with its own
signing key, its own mTLS certificate with a distinct subject DN and two redirect URIs, one with a query),
its request shapes, and the checks it runs on every response, written against the real daemon with
requests and joserfc.

One rule for every error: `assert_oauth_error` (JSON, `error` from the allowed set, a 400 status or 401 for
`invalid_client` only, `error_description` in RFC 6749 §5.2's character set, a well-formed `error_uri`)."""
import base64
import functools
import hashlib
import http.server
import json
import math
import os
import re
import secrets
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path

import requests
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from conftest import Daemon
from tpp import JWT_BEARER, TokenClient, issue_certificate, register

PASSWORD = "correct horse battery staple"
PSU = "alice"
REDIRECT_URIS = ["https://tpp.example.com/cb", "https://tpp.example.com/cb?x=1"]
SCOPE = "openid accounts"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
FAPI_ALGS = ["PS256", "ES256"]

# RFC 6749 §5.2 (and A.7): error_description is %x20-21 / %x23-5B / %x5D-7E.
DESCRIPTION_CHARSET = re.compile(r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$")
# RFC 6749 A.8: error_uri is %x21 / %x23-5B / %x5D-7E, and a URI.
ERROR_URI_CHARSET = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")
# RFC 6749 A.17: a refresh token is 1*VSCHAR (%x20-7E).
VSCHAR = re.compile(r"^[\x20-\x7E]+$")
# FAPI 1 Advanced §8.5: the only TLS 1.2 suites the token, PAR, backchannel, registration, userinfo and
# resource endpoints may offer.
FAPI1_TLS12_SUITES = {"DHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"}


# --- the daemon ---------------------------------------------------------------------------------------

def start_daemon(tmp_path_factory, pki, name, env=None) -> Daemon:
    """A daemon of its own for one test module (conftest's Daemon, started on a free loopback port)."""
    workdir = tmp_path_factory.mktemp(name)
    return Daemon(workdir, pki, env=env).start()


def stop_daemon(daemon):
    if daemon.process and daemon.process.poll() is None:
        daemon.process.kill()
        daemon.process.wait()


def add_psu_and_resource_server(daemon, rs_cert_dn):
    daemon.fapictl("users", "add", PSU, input_text=PASSWORD + "\n")
    daemon.fapictl("resource-servers", "add", "--name", "rs", "--subject-dn", rs_cert_dn)


def server_keys(daemon) -> KeySet:
    return KeySet.import_key_set(daemon.get("/jwks").json())


def discovery(daemon) -> dict:
    return daemon.get("/.well-known/openid-configuration").json()


# --- checks the suite runs on every response ---------------------------------------------------------

def assert_oauth_error(response, errors, status=None, access_denied_status=400) -> dict:
    """The one check for every error response: JSON, `error` in `errors`, HTTP 400 (401 allowed only for
    invalid_client; exactly `status` when given; `access_denied_status` for access_denied, 403 at the CIBA
    backchannel endpoint per CIBA Core §13), a description in RFC 6749 §5.2's character set."""
    allowed = {errors} if isinstance(errors, str) else set(errors)
    assert response.headers.get("Content-Type", "").startswith("application/json"), (response.status_code, response.headers, response.text)
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), response.text
    assert body["error"] in allowed, f"expected one of {sorted(allowed)}: HTTP {response.status_code} {response.text}"
    if status is not None:
        assert response.status_code == status, f"HTTP {response.status_code} {response.text}"
    elif body["error"] == "access_denied":
        assert response.status_code == access_denied_status, f"HTTP {response.status_code} {response.text}"
    elif body["error"] == "invalid_client":
        assert response.status_code in (400, 401), f"HTTP {response.status_code} {response.text}"
    else:
        assert response.status_code == 400, f"HTTP {response.status_code} {response.text}"
    assert_error_members(body)
    return body


def assert_error_members(members: dict):
    """`error_description` and `error_uri`, wherever an error travels (JSON body, redirect, JARM)."""
    description = members.get("error_description")
    if description is not None:
        assert isinstance(description, str) and DESCRIPTION_CHARSET.match(description), f"error_description outside RFC 6749 §5.2: {description!r}"
    uri = members.get("error_uri")
    if uri is not None:
        assert isinstance(uri, str) and ERROR_URI_CHARSET.match(uri) and urllib.parse.urlsplit(uri).scheme, f"bad error_uri {uri!r}"


def shannon_bits(value: str) -> float:
    """The suite's entropy estimate (AbstractEnsureMinimumEntropy): Shannon entropy per character × length."""
    counts = Counter(value)
    per_char = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return per_char * len(value)


def assert_entropy(value: str, what: str):
    """Codes, access and refresh tokens, request_uris and auth_req_ids: ≥128 bits long, ≥96 bits of entropy."""
    assert len(value.encode()) * 8 >= 128, f"{what} is shorter than 128 bits: {value!r}"
    assert shannon_bits(value) > 96, f"{what} has less than 96 bits of entropy: {value!r}"


def half_hash(value: str) -> str:
    """OIDC Core §3.3.2.11 c_hash / s_hash / at_hash for PS256 and ES256 (SHA-256)."""
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()[:16]).rstrip(b"=").decode()


def decode_signed(token: str, keys: KeySet):
    """A JWT signed by the server: PS256/ES256 with a kid published in its JWKS."""
    decoded = jwt.decode(token, keys, algorithms=FAPI_ALGS)
    assert decoded.header["alg"] in FAPI_ALGS, decoded.header
    kid = decoded.header.get("kid")
    assert kid and kid in {key.kid for key in keys.keys}, decoded.header
    return decoded


def assert_token_response(response, client, *, id_token_expected=True) -> dict:
    """The token endpoint's success: 200 JSON, no-store, an access token with enough entropy, a sane
    expires_in, a Bearer type, and the id_token (signed PS256/ES256 with a kid, for this client)."""
    assert response.status_code == 200, response.text
    assert response.headers.get("Content-Type", "").startswith("application/json")
    assert "no-store" in response.headers.get("Cache-Control", ""), response.headers
    body = response.json()
    assert_entropy(body["access_token"], "access_token")
    assert body["token_type"].lower() == "bearer"
    assert isinstance(body.get("expires_in"), int) and 0 < body["expires_in"] < 365 * 86400, body
    if "refresh_token" in body:
        assert_entropy(body["refresh_token"], "refresh_token")
        assert VSCHAR.match(body["refresh_token"])
    if id_token_expected:
        claims = decode_signed(body["id_token"], server_keys(client.daemon)).claims
        assert claims["iss"] == client.daemon.issuer and claims["aud"] in (client.client_id, [client.client_id])
        assert claims["at_hash"] == half_hash(body["access_token"])
        assert claims["exp"] > time.time() and claims["sub"]
        body["id_token_claims"] = claims
    return body


def assert_resource_works(client, access_token, **kwargs):
    """The suite's resource call (userinfo here): 200 JSON, a Date header, the x-fapi-interaction-id echoed;
    x-fapi-auth-date and x-fapi-customer-ip-address (IPv6 too) accepted."""
    interaction = str(uuid.uuid4())
    headers = {"x-fapi-interaction-id": interaction, "x-fapi-auth-date": "Tue, 11 Sep 2012 19:43:31 GMT",
               "x-fapi-customer-ip-address": "2001:db8::1", "Accept": "application/json"}
    response = client.userinfo(access_token, headers=headers, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers.get("Content-Type", "").startswith("application/json")
    assert response.headers.get("x-fapi-interaction-id") == interaction
    assert response.headers.get("Date")
    assert response.json()["sub"] == PSU
    return response


# --- TLS ---------------------------------------------------------------------------------------------

def tls_handshake(host, port, cafile, *, minimum, maximum, ciphers=None):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile)
    context.check_hostname = False
    context.minimum_version = minimum
    context.maximum_version = maximum
    context.set_ciphers(ciphers or "ALL:@SECLEVEL=0")
    with socket.create_connection((host, port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.version(), tls.cipher()[0]


@functools.lru_cache(maxsize=None)
def tls_report(host: str, port: int, cafile: str) -> dict:
    """What a TLS endpoint accepts: old versions tried with `openssl s_client`, every TLS 1.2 suite this
    machine's OpenSSL knows tried one at a time (the suite's FAPITLSClient does the same)."""
    old = {}
    for flag in ("-tls1", "-tls1_1"):
        result = subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", flag, "-cipher", "DEFAULT@SECLEVEL=0"],
                                input="", capture_output=True, text=True, timeout=30)
        output = result.stdout + result.stderr
        # A refusal by this machine's OpenSSL would prove nothing about the server.
        assert "no protocols available" not in output, f"the local openssl cannot offer {flag}; the check is not possible here"
        old[flag] = "Cipher is (NONE)" not in output and result.returncode == 0
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.set_ciphers("ALL:@SECLEVEL=0")
    candidates = sorted({c["name"] for c in probe.get_ciphers() if c["protocol"] != "TLSv1.3"})
    accepted = set()
    for name in candidates:
        try:
            version, cipher = tls_handshake(host, port, cafile, minimum=ssl.TLSVersion.TLSv1_2, maximum=ssl.TLSVersion.TLSv1_2, ciphers=name + ":@SECLEVEL=0")
        except (ssl.SSLError, ConnectionError, OSError):
            continue
        assert version == "TLSv1.2"
        accepted.add(cipher)
    return {"old_versions_accepted": old, "tls12_accepted": accepted, "tls12_tried": candidates}


def assert_fapi_tls(url: str, cafile):
    """FAPI 1 Advanced §8.5 / §5 of the checklist: TLS 1.0 and 1.1 refused; on TLS 1.2, only the four FAPI suites."""
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "https", url
    report = tls_report(parts.hostname, parts.port or 443, str(cafile))
    assert not any(report["old_versions_accepted"].values()), report["old_versions_accepted"]
    assert report["tls12_accepted"], "no TLS 1.2 suite accepted at all"
    assert report["tls12_accepted"] <= FAPI1_TLS12_SUITES, f"{url} accepts {sorted(report['tls12_accepted'] - FAPI1_TLS12_SUITES)} on TLS 1.2"


# --- the PSU's browser -----------------------------------------------------------------------------------

class Browser:
    """The PSU's browser: requests, following nothing by itself, keeping the bank's session cookie."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(daemon.keys / "ca.pem")

    def authorize(self, query, method="GET"):
        return self.session.request(method, self.daemon.base + "/authorize", params=query, allow_redirects=False, timeout=30)

    @staticmethod
    def hidden(page, name):
        match = re.search(rf'name="{name}" value="([^"]+)"', page)
        assert match, page
        return match.group(1)

    def login(self, page, password=PASSWORD):
        return self.session.post(self.daemon.base + "/authorize/login", data={
            "interaction": self.hidden(page, "interaction"), "csrf": self.hidden(page, "csrf"), "username": PSU, "password": password},
            allow_redirects=False, timeout=60)

    def consent(self, page, decision="approve"):
        return self.session.post(self.daemon.base + "/authorize/consent", data={
            "interaction": self.hidden(page, "interaction"), "csrf": self.hidden(page, "csrf"), "decision": decision},
            allow_redirects=False, timeout=30)

    def play(self, response, decision="approve"):
        """From an authorization endpoint answer, does what the PSU does (sign in, then approve or deny)
        until the answer leaves for the client: a redirect, a form_post page, or an error page."""
        if response.status_code == 200 and 'action="/authorize/login"' in response.text:
            response = self.login(response.text)
            assert response.status_code == 200, describe(response)
        if response.status_code == 200 and 'action="/authorize/consent"' in response.text:
            response = self.consent(response.text, decision)
        return response


def describe(response):
    """A short account of an answer for assertion messages (the message of an error page, not its HTML)."""
    if is_redirect(response):
        return f"HTTP {response.status_code} -> {response.headers['Location']}"
    match = re.search(r'<p class="error"[^>]*>(.*?)</p>', response.text or "", re.S)
    return f"HTTP {response.status_code}: {match.group(1) if match else (response.text or '')[:300]}"


def is_redirect(response):
    return response.status_code in (301, 302, 303, 307, 308) and "Location" in response.headers


def save_page(response):
    """The suite asks for a screenshot of each error page; with FAPID_CONFORMANCE_PAGES=DIR the HTML is kept there."""
    directory = os.environ.get("FAPID_CONFORMANCE_PAGES")
    if not directory:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "page").split(" ")[0]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test.split("::")[-1].replace("[", "-").replace("]", "")) + ".html"
    Path(directory).mkdir(parents=True, exist_ok=True)
    (Path(directory) / name).write_text(response.text)


def assert_error_page(response, errors=None):
    """A negative outcome shown to the PSU instead of a redirect: a 4xx HTML page with no code on it, naming
    one of `errors` (the OAuth error codes the row allows) when given."""
    assert not is_redirect(response), response.headers
    assert 400 <= response.status_code < 500, describe(response)
    assert response.headers.get("Content-Type", "").startswith("text/html"), response.headers
    assert 'name="code"' not in response.text
    if errors:
        shown = re.search(r'<code class="oauth-error">([a-z_]+)</code>', response.text)
        assert shown and shown.group(1) in set(errors), describe(response)
    save_page(response)


# --- clients ---------------------------------------------------------------------------------------

def new_key(alg):
    """A client signing key with a kid (the suite requires one on every client JWK)."""
    kid = {"kid": "k-" + secrets.token_urlsafe(8)}
    return RSAKey.generate_key(2048, parameters=kid) if alg in ("PS256", "RS256") else ECKey.generate_key("P-256", parameters=kid)


def sign(claims: dict, key, alg: str, kid=True) -> str:
    header = {"alg": alg}
    if kid and key.kid:
        header["kid"] = key.kid
    return jwt.encode(header, claims, key, algorithms=[alg])


def unsigned(claims: dict) -> str:
    part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return part({"alg": "none"}) + "." + part(claims) + "."


def broken_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{payload}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


class Client:
    """A TPP registered with fapictl as the suite's static client: its own key and algorithm, its own mTLS
    certificate (distinct subject DN), tls_client_auth or private_key_jwt."""

    def __init__(self, daemon, pki, workdir: Path, name, *, auth, alg, metadata):
        self.daemon = daemon
        self.name = name
        self.auth = auth
        self.alg = alg
        self.key = new_key(alg)
        self.dn = f"CN={name},OU=conformance,O=Conformance TPP {name},C=GB"
        self.cert = issue_certificate(workdir / "certs", name, f"/C=GB/O=Conformance TPP {name}/OU=conformance/CN={name}",
                                      pki / "ca.pem", pki / "ca.key")
        base = {"client_name": name, "jwks": {"keys": [self.key.as_dict(private=False)]}, "scope": SCOPE}
        if auth == "mtls":
            base.update(token_endpoint_auth_method="tls_client_auth", tls_client_auth_subject_dn=self.dn)
        else:
            base.update(token_endpoint_auth_method="private_key_jwt")
        base.update(metadata)
        self.metadata = base
        self.client_id = register(daemon, base)
        self.http = TokenClient(daemon, self.cert)

    def assertion(self, aud=None, *, alg=None, key=None, drop=(), lifetime=60, iat_offset=0, **claims) -> str:
        """An RFC 7523 client assertion (aud: the token endpoint unless given)."""
        now = int(time.time())
        body = {"iss": self.client_id, "sub": self.client_id, "aud": aud or self.daemon.issuer + "/token", "jti": str(uuid.uuid4()),
                "iat": now + iat_offset, "exp": now + iat_offset + lifetime}
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        alg = alg or self.alg
        return jwt.encode({"alg": alg, "kid": (key or self.key).kid}, body, key or self.key, algorithms=[alg])

    def auth_fields(self, aud=None, **assertion) -> dict:
        """How this client authenticates in a form: client_id (mtls), or client_id plus an assertion."""
        if self.auth == "mtls":
            return {"client_id": self.client_id}
        return {"client_id": self.client_id, "client_assertion_type": JWT_BEARER, "client_assertion": self.assertion(aud, **assertion)}

    def post(self, path, data, session=None):
        return (session or self.http).post(path, data)

    def userinfo(self, access_token, *, session=None, scheme="Bearer", headers=None, params=None, method="GET"):
        all_headers = {"Authorization": f"{scheme} {access_token}"}
        all_headers.update(headers or {})
        return (session or self.http).session.request(method, self.daemon.base + "/userinfo", headers=all_headers, params=params, timeout=10)

    def refresh(self, refresh_token, *, session=None, auth=None):
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        form.update(self.auth_fields() if auth is None else auth)
        return self.post("/token", form, session)


class FAPIClient(Client):
    """A FAPI 1 Advanced client: two redirect URIs (one with a query), hybrid and code, authorization_code and
    refresh_token; `method` "par" (PAR required, the default) or "by_value" (require_pushed_authorization_requests false)."""

    def __init__(self, daemon, pki, workdir, name, *, auth, alg, method):
        metadata = {"redirect_uris": REDIRECT_URIS, "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code id_token", "code"]}
        if method == "by_value":
            metadata["require_pushed_authorization_requests"] = False
        super().__init__(daemon, pki, workdir, name, auth=auth, alg=alg, metadata=metadata)
        self.method = method

    def new_request(self, mode="plain", redirect_uri=None, pkce=None):
        return AuthRequest(self, mode=mode, redirect_uri=redirect_uri, pkce=pkce)

    def send(self, request, browser, *, token=None, par_form=None, duplicates=True, reverse=False, extra_query=None):
        """The authorization request, as the suite sends it: with PAR, the signed request object pushed (201
        expected, else the attempt stops there) and the browser sent with request_uri; by value, the browser
        sent with request. The suite also repeats response_type, client_id, scope and redirect_uri (and any
        parameter the request object lacks or holds differently) in the URL."""
        token = token or request.sign()
        if self.method == "par":
            form = {**self.auth_fields(), "request": token}
            form.update(par_form or {})
            pushed = self.post("/par", form)
            if pushed.status_code != 201:
                return Attempt(request, par=pushed)
            assert_par_response(pushed)
            query = request.query("request_uri", pushed.json()["request_uri"], duplicates=duplicates, reverse=reverse)
        else:
            pushed = None
            query = request.query("request", token, duplicates=duplicates, reverse=reverse)
        query += list((extra_query or {}).items())
        return Attempt(request, par=pushed, page=browser.authorize(query), query=query)

    def exchange(self, code, request, *, session=None, auth=None, drop=(), **overrides):
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": request.redirect_uri}
        if request.verifier:
            form["code_verifier"] = request.verifier
        form.update(self.auth_fields() if auth is None else auth)
        form.update(overrides)
        for name in drop:
            form.pop(name, None)
        return self.post("/token", form, session)

    def run_flow(self, browser, mode="plain", redirect_uri=None, **send):
        """A complete, successful authorization: returns (request, callback, front-channel claims)."""
        request = self.new_request(mode=mode, redirect_uri=redirect_uri)
        attempt = self.send(request, browser, **send)
        callback = attempt.finish(browser)
        return request, callback, assert_success_callback(callback, request)

    def tokens(self, browser, mode="plain", redirect_uri=None) -> dict:
        request, callback, front = self.run_flow(browser, mode=mode, redirect_uri=redirect_uri)
        body = assert_token_response(self.exchange(callback.params["code"], request), self)
        assert body["id_token_claims"]["sub"] == front["sub"]
        return body


def assert_par_response(response):
    """RFC 9126 §2.2 as the suite checks it: 201, a request_uri with ≥96 bits of entropy, expires_in ≥5 s and under a year."""
    assert response.status_code == 201, response.text
    body = response.json()
    value = body["request_uri"].removeprefix("urn:ietf:params:oauth:request_uri:")
    assert shannon_bits(value) > 96, body
    assert isinstance(body.get("expires_in"), int) and 5 <= body["expires_in"] < 365 * 86400, body
    return body


class AuthRequest:
    """One authorization request: `params` is what the client asks for (the suite's
    authorization_endpoint_request), `ro` the claims of its signed request object, built from it."""

    REQUIRED_DUPLICATES = ("response_type", "client_id", "scope", "redirect_uri")

    def __init__(self, client, *, mode="plain", redirect_uri=None, pkce=None):
        self.client = client
        self.mode = mode
        self.params = {"client_id": client.client_id, "response_type": "code id_token" if mode == "plain" else "code",
                       "redirect_uri": redirect_uri or REDIRECT_URIS[0], "scope": SCOPE,
                       "state": "state-" + secrets.token_urlsafe(12), "nonce": "nonce-" + secrets.token_urlsafe(12)}
        if mode == "jarm":
            self.params["response_mode"] = "jwt"
        # The suite uses PKCE with PAR always, by value only in EnsureValidPKCESucceeds.
        self.verifier = None
        if pkce if pkce is not None else client.method == "par":
            self.verifier = secrets.token_urlsafe(48)
            self.params["code_challenge"] = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
            self.params["code_challenge_method"] = "S256"
        now = int(time.time())
        self.ro = dict(self.params, iss=client.client_id, aud=client.daemon.issuer, iat=now, nbf=now, exp=now + 300, jti=str(uuid.uuid4()))

    def set(self, **values):
        """Changes a parameter both in the URL parameters and in the request object."""
        self.params.update(values)
        self.ro.update(values)
        return self

    def drop(self, *names):
        for name in names:
            self.params.pop(name, None)
            self.ro.pop(name, None)
        return self

    @property
    def state(self):
        return self.ro.get("state")

    @property
    def nonce(self):
        return self.ro.get("nonce")

    @property
    def redirect_uri(self):
        return self.ro.get("redirect_uri") or self.params.get("redirect_uri") or REDIRECT_URIS[0]

    def sign(self, key=None, alg=None):
        return sign(self.ro, key or self.client.key, alg or self.client.alg)

    def query(self, name, value, *, duplicates=True, reverse=False):
        """The URL the suite builds (AbstractBuildRequestObjectRedirectToAuthorizationEndpoint)."""
        query = {name: value}
        for key, given in self.params.items():
            if not isinstance(given, str):
                continue
            if duplicates:
                if key in self.REQUIRED_DUPLICATES or key not in self.ro or self.ro[key] != given:
                    query[key] = given
            elif key == "client_id":
                query[key] = given
        return sorted(query.items(), reverse=reverse)


class Attempt:
    """What the authorization request got: the PAR answer (None by value) and the authorization endpoint's."""

    def __init__(self, request, par=None, page=None, query=None):
        self.request = request
        self.par = par
        self.page = page
        self.query = query

    @property
    def refused_at_par(self):
        return self.par is not None and self.par.status_code != 201

    def finish(self, browser, decision="approve"):
        assert not self.refused_at_par, f"PAR refused: HTTP {self.par.status_code} {self.par.text}"
        return Callback(browser.play(self.page, decision), self.request)


class Callback:
    """The answer that reaches the client's redirect URI: fragment (hybrid), query, or a JARM `response`."""

    def __init__(self, response, request):
        self.response = response
        self.request = request
        self.redirected = is_redirect(response)
        self.params, self.query, self.fragment, self.jarm = {}, {}, {}, None
        if not self.redirected:
            return
        location = urllib.parse.urlsplit(response.headers["Location"])
        registered = urllib.parse.urlsplit(request.redirect_uri)
        assert (location.scheme, location.netloc, location.path) == (registered.scheme, registered.netloc, registered.path), response.headers["Location"]
        base = dict(urllib.parse.parse_qsl(registered.query))
        query = dict(urllib.parse.parse_qsl(location.query))
        for key, value in base.items():
            assert query.pop(key, None) == value, "the registered query was not kept"
        self.query = query
        self.fragment = dict(urllib.parse.parse_qsl(location.fragment))
        found = self.fragment or self.query
        if "response" in found:
            self.jarm = decode_signed(found["response"], server_keys(request.client.daemon))
            self.params = {key: value for key, value in self.jarm.claims.items() if key not in ("iss", "aud", "exp", "iat")}
        else:
            self.params = dict(found)


def assert_success_callback(callback, request) -> dict:
    """The suite's checks on every successful authorization response; returns the front-channel id_token's
    claims (hybrid) or the JARM claims."""
    assert callback.redirected, describe(callback.response)
    daemon = request.client.daemon
    params = callback.params
    assert "error" not in params, params
    code = params.get("code")
    assert code, params
    assert_entropy(code, "authorization code")
    if request.state is None:
        assert "state" not in params, params
    else:
        assert params.get("state") == request.state, params
    if callback.jarm is not None:
        claims = callback.jarm.claims
        assert claims["iss"] == daemon.issuer and claims["aud"] in (request.client.client_id, [request.client.client_id])
        assert time.time() < claims["exp"] <= time.time() + 3600, claims
        # With response_type=code the JARM response carries no id_token; the id_token comes from the token endpoint.
        return claims
    # Hybrid: the code, id_token and state travel in the fragment, never in the query.
    assert not {"code", "id_token", "error", "state"} & callback.query.keys(), callback.query
    if "iss" in params:
        assert params["iss"] == daemon.issuer
    front = decode_signed(params["id_token"], server_keys(daemon))
    claims = front.claims
    assert claims["iss"] == daemon.issuer and claims["aud"] in (request.client.client_id, [request.client.client_id])
    assert claims["nonce"] == request.nonce and claims["exp"] > time.time()
    assert claims["c_hash"] == half_hash(code)
    if request.state is None:
        assert "s_hash" not in claims, claims
    else:
        assert claims["s_hash"] == half_hash(request.state), claims
    return claims


def assert_rejected(attempt, browser, *, par_errors=(), redirect_errors=()):
    """A negative outcome the suite accepts: a JSON error from PAR (`par_errors`), or at the authorization
    endpoint an error page, or an error redirect (`redirect_errors`) with the request's state and no code.
    A login page is played through first (a server may refuse only after the PSU signs in)."""
    if attempt.refused_at_par:
        assert par_errors, f"PAR refused with {attempt.par.text}, which this row does not allow"
        return assert_oauth_error(attempt.par, par_errors)
    final = browser.play(attempt.page, "approve")
    if not is_redirect(final):
        assert_error_page(final, redirect_errors)
        return None
    callback = Callback(final, attempt.request)
    everything = {**callback.query, **callback.fragment, **callback.params}
    assert "code" not in everything and "id_token" not in everything, f"a code was issued: {final.headers['Location']}"
    assert callback.params.get("error") in set(redirect_errors), final.headers["Location"]
    assert_error_members(callback.params)
    if attempt.request.state is not None:
        assert callback.params.get("state") == attempt.request.state
    return callback.params


# --- CIBA --------------------------------------------------------------------------------------------

class CIBAClient(Client):
    """A FAPI-CIBA client: poll or ping, signed backchannel requests, no user code."""

    def __init__(self, daemon, pki, workdir, name, *, auth, alg, mode, endpoint=None):
        metadata = {"grant_types": [CIBA_GRANT, "refresh_token"], "response_types": [], "backchannel_token_delivery_mode": mode,
                    "backchannel_user_code_parameter": False, "backchannel_authentication_request_signing_alg": alg}
        if mode == "ping":
            metadata["backchannel_client_notification_endpoint"] = endpoint
        super().__init__(daemon, pki, workdir, name, auth=auth, alg=alg, metadata=metadata)
        self.mode = mode

    def request_claims(self, **claims):
        """The suite's backchannel request object: scope, one hint, binding_message 1234, iat/exp/nbf/jti/aud/iss."""
        now = int(time.time())
        body = {"scope": SCOPE, "login_hint": PSU, "binding_message": "1234", "iat": now, "exp": now + 300, "nbf": now,
                "jti": str(uuid.uuid4()), "aud": self.daemon.issuer, "iss": self.client_id}
        if self.mode == "ping":
            body["client_notification_token"] = "notify-" + secrets.token_urlsafe(24)
        body.update(claims)
        return body

    def backchannel(self, claims=None, *, token=None, auth=None, session=None, form=None, drop=()):
        claims = claims if claims is not None else self.request_claims()
        for name in drop:
            claims.pop(name, None)
        data = dict(self.auth_fields() if auth is None else auth)
        data["request"] = token or sign(claims, self.key, self.alg)
        data.update(form or {})
        return self.post("/bc-authorize", data, session)

    def start(self, **claims):
        """A backchannel request that must be accepted: returns (claims, acknowledgement)."""
        claims = self.request_claims(**claims)
        response = self.backchannel(claims)
        assert response.status_code == 200, response.text
        assert response.headers.get("Content-Type", "").startswith("application/json")
        ack = response.json()
        assert_entropy(ack["auth_req_id"], "auth_req_id")
        assert isinstance(ack["expires_in"], int) and ack["expires_in"] > 0
        assert isinstance(ack.get("interval", 0), int) and ack.get("interval", 0) >= 0
        return claims, ack

    def poll(self, auth_req_id, *, session=None, auth=None):
        form = {"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id}
        form.update(self.auth_fields() if auth is None else auth)
        return self.post("/token", form, session)


def pending_request_id(daemon, client) -> str:
    """The staff's id of the newest pending request of this client (`fapictl ciba list --json`)."""
    rows = json.loads(daemon.fapictl("ciba", "list", "--json").stdout)
    mine = [row for row in rows if row.get("client_name") == client.name or row.get("client_id") == client.client_id]
    assert mine, rows
    return mine[-1]["id"]


def decide(daemon, client, approve=True):
    daemon.fapictl("ciba", "approve" if approve else "deny", pending_request_id(daemon, client))


class NotificationServer:
    """The ping client's notification endpoint on loopback (HTTPS with the dev server certificate): records
    every request and answers as told (204, 200 with a body, 401, 403, or a 301 redirect)."""

    def __init__(self, pki):
        owner = self
        self.received = []
        self.answer = "204"

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                tls = self.connection.version(), self.connection.cipher()[0]
                owner.received.append({"path": self.path, "headers": dict(self.headers), "body": body, "tls": tls})
                if self.path.startswith("/redirected"):
                    self.send_response(204)
                    self.end_headers()
                    return
                if owner.answer == "200-body":
                    payload = b'{"note": "a body the server must ignore"}'
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                elif owner.answer == "301":
                    self.send_response(301)
                    self.send_header("Location", f"https://localhost:{owner.port}/redirected")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.send_response(int(owner.answer))
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"https://localhost:{self.port}/cb"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self, answer="204"):
        self.received = []
        self.answer = answer

    def for_token(self, token):
        """The notifications sent for one request (each carries its own client_notification_token)."""
        return [entry for entry in self.received if entry["headers"].get("Authorization") == "Bearer " + token]

    def wait(self, token, count=1, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.for_token(token)) < count:
            time.sleep(0.05)
        return self.for_token(token)

    def close(self):
        self.server.shutdown()
