"""Helpers for test_conformance_fapi2.py: the OpenID Foundation suite's FAPI 2.0 Security Profile Final and
Message Signing Final plans (fapi2spfinal/*), played against the real daemon with requests and joserfc.

What the suite's base class (AbstractFAPI2SPFinalServerTestModule) does, and these helpers do the same:
* two clients per variant, each with its own signing key and (where mTLS is used) its own certificate with a
  distinct subject DN, two redirect URIs each (one with a query);
* PAR always: unsigned form parameters for `fapi2-security-profile`, a signed request object (`request`, with
  `aud` = the issuer, `nbf`, `exp`) for `fapi2-message-signing`; the browser is then sent with `client_id`,
  `request_uri` and the duplicates RFC 6749 / OIDC require (response_type, client_id, scope, redirect_uri);
* `response_type=code`, PKCE S256, `iss` in the authorization response; JARM (`response_mode=jwt`, a JWT with
  iss/aud/exp) for message signing;
* client authentication `mtls` (tls_client_auth) or `private_key_jwt` whose assertion `aud` is the issuer as a
  single string (FAPI 2 SP §5.3.2.1-8); a TLS client certificate is presented only where the variant needs
  one (the suite sends none to PAR with private_key_jwt, none anywhere with private_key_jwt + DPoP, and none
  to the resource with DPoP);
* sender constraint `mtls` (RFC 8705) or `dpop` (RFC 9449): proofs made here with joserfc, the server's
  `DPoP-Nonce` honoured (one retry on `use_dpop_nonce`, as the suite does), `ath` at the resource.

Every error goes through conformance_support.assert_oauth_error."""
import base64
import hashlib
import http.client
import json
import secrets
import ssl
import time
import urllib.parse
import uuid

from joserfc import jws, jwt
from joserfc.jwk import ECKey, RSAKey

from conformance_support import (PSU, REDIRECT_URIS, VSCHAR, Attempt, Client, assert_entropy, describe, half_hash, server_keys,
                                 shannon_bits, tls_report)
from tpp import JWT_BEARER, TokenClient

SECURITY_PROFILE = "fapi2-security-profile"
MESSAGE_SIGNING = "fapi2-message-signing"
OPENID_SCOPE = "openid accounts"
OAUTH_SCOPE = "accounts"
# FAPI 2 SP §5.4.1: PS256, ES256 or EdDSA (Ed25519) for every signature the server makes or accepts.
FAPI2_ALGS = ["PS256", "ES256", "EdDSA", "Ed25519"]
# FAPI 2 SP §5.2.2 / RFC 9325 §4.2: on TLS 1.2 only the recommended ECDHE AES-GCM suites (no DHE).
FAPI2_TLS12_SUITES = {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                      "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"}
DPOP_ERRORS = ("invalid_request", "invalid_grant", "invalid_dpop_proof")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_token_hash(token: str) -> str:
    """RFC 9449 §4.2 `ath`: base64url(SHA-256(access token))."""
    return b64url(hashlib.sha256(token.encode()).digest())


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


# --- DPoP ------------------------------------------------------------------------------------------------

class DPoPKey:
    """A client's DPoP key pair (ES256 P-256, or PS256 RSA-2048) and the proofs it signs (RFC 9449 §4.2)."""

    def __init__(self, alg="ES256"):
        self.alg = alg
        self.key = RSAKey.generate_key(2048) if alg in ("PS256", "RS256") else ECKey.generate_key("P-256")

    @property
    def jkt(self) -> str:
        """RFC 7638 thumbprint (SHA-256), the value of `dpop_jkt` and `cnf.jkt`."""
        return self.key.thumbprint()

    def proof(self, htm, htu, *, access_token=None, nonce=None, iat_offset=0, alg=None, header=None, claims=None,
              drop_header=(), drop_claims=(), private_jwk=False, sign_with=None) -> str:
        """A DPoP proof JWT. `header`/`claims` add or replace members, `drop_*` remove them before signing;
        `sign_with` signs with another key (the `jwk` header still names this one)."""
        head = {"typ": "dpop+jwt", "alg": alg or self.alg, "jwk": self.key.as_dict(private=private_jwk)}
        body = {"jti": str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": int(time.time()) + iat_offset}
        if access_token is not None:
            body["ath"] = access_token_hash(access_token)
        if nonce:
            body["nonce"] = nonce
        head.update(header or {})
        body.update(claims or {})
        for name in drop_header:
            head.pop(name, None)
        for name in drop_claims:
            body.pop(name, None)
        signer = sign_with.key if isinstance(sign_with, DPoPKey) else (sign_with or self.key)
        # Unknown header members are allowed here (the suite's extra-members case), so no strict header check.
        registry = jws.JWSRegistry(algorithms=[head["alg"]], strict_check_header=False)
        return jws.serialize_compact(head, json.dumps(body).encode(), signer, algorithms=[head["alg"]], registry=registry)


def unsigned_jwt(header: dict, claims: dict) -> str:
    part = lambda value: b64url(json.dumps(value).encode())
    return part(header) + "." + part(claims) + "."


def rename_header_member(token: str, old: str, new: str) -> str:
    """What the suite's SignDpopAndRemoveAlg does: renames a member of a signed JWT's header (breaking the signature)."""
    head, payload, signature = token.split(".")
    decoded = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode().replace(f'"{old}"', f'"{new}"')
    return ".".join((b64url(decoded.encode()), payload, signature))


def break_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{payload}.{b64url(bytes(raw))}"


def is_nonce_challenge(response, at_resource) -> bool:
    """RFC 9449 §8 (AS: 400 JSON `use_dpop_nonce`) and §9 (RS: 401, `WWW-Authenticate: DPoP error="use_dpop_nonce"`)."""
    if not response.headers.get("DPoP-Nonce"):
        return False
    if at_resource:
        return response.status_code == 401 and "use_dpop_nonce" in response.headers.get("WWW-Authenticate", "")
    try:
        return response.status_code == 400 and response.json().get("error") == "use_dpop_nonce"
    except ValueError:
        return False


# --- the authorization request ---------------------------------------------------------------------------

class FAPI2Request:
    """One FAPI 2 authorization request: `params` is what the client asks for (the suite's
    authorization_endpoint_request, also what goes on the URL), `ro` what travels through PAR (the form
    parameters, or the request object's authorization claims), `jwt_claims` the request object's own claims
    (iss, aud, iat, nbf, exp) when it is signed. `dpop` is the flow's DPoP key (dpop variants)."""

    REQUIRED_DUPLICATES = ("response_type", "client_id", "scope", "redirect_uri")

    def __init__(self, client, *, openid=True, redirect_uri=None, jarm=None, dpop_alg=None, pkce=True):
        self.client = client
        self.signed = client.signed
        self.openid = openid
        self.jarm = client.signed if jarm is None else jarm
        self.params = {"client_id": client.client_id, "response_type": "code", "redirect_uri": redirect_uri or REDIRECT_URIS[0],
                       "scope": OPENID_SCOPE if openid else OAUTH_SCOPE, "state": "state-" + secrets.token_urlsafe(12)}
        if openid:
            self.params["nonce"] = "nonce-" + secrets.token_urlsafe(12)
        if self.jarm:
            self.params["response_mode"] = "jwt"
        self.verifier = None
        if pkce:
            self.verifier, challenge = pkce_pair()
            self.params.update(code_challenge=challenge, code_challenge_method="S256")
        self.ro = dict(self.params)
        now = int(time.time())
        self.jwt_claims = {"iss": client.client_id, "aud": client.daemon.issuer, "nbf": now, "exp": now + 300}
        # As the suite: the second client's request object also carries iat and the media type (JAR §4).
        self.second = client.name.endswith("client2")
        if self.second:
            self.jwt_claims["iat"] = now
        self.dpop = DPoPKey(dpop_alg or client.dpop_alg) if client.sender == "dpop" else None

    def set(self, **values):
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

    def request_object(self, key=None, alg=None) -> str:
        claims = {**self.ro, **self.jwt_claims}
        signer = key or self.client.key
        alg = alg or self.client.alg
        header = {"alg": alg, "kid": signer.kid}
        if self.second:
            header["typ"] = "oauth-authz-req+jwt"
        return jwt.encode(header, claims, signer, algorithms=[alg])

    def par_form(self, token=None, unsigned=None) -> dict:
        """What PAR receives besides client authentication: the form parameters (SP) or `request` (MS)."""
        if unsigned if unsigned is not None else not self.signed:
            return {name: value for name, value in self.ro.items() if isinstance(value, str)}
        return {"request": token or self.request_object()}

    def query(self, request_uri, *, duplicates=True, reverse=False):
        """The authorization URL (AbstractBuildRequestObjectRedirectToAuthorizationEndpoint)."""
        query = {"request_uri": request_uri}
        for key, given in self.params.items():
            if not isinstance(given, str):
                continue
            if duplicates:
                if key in self.REQUIRED_DUPLICATES or key not in self.ro or self.ro[key] != given:
                    query[key] = given
            elif key == "client_id":
                query[key] = given
        return sorted(query.items(), reverse=reverse)


# --- the client --------------------------------------------------------------------------------------------

class FAPI2Client(Client):
    """A FAPI 2 client registered with fapictl: `fapi_profile`, `response_types: ["code"]`, PAR required,
    authorization_code + refresh_token; `dpop_bound_access_tokens` in the dpop variants."""

    def __init__(self, daemon, pki, workdir, name, *, auth, alg, sender, profile, dpop_alg="ES256", client_credentials=False):
        if client_credentials:
            # The suite's fapi_client_credentials_grant profile: no authorization endpoint, no redirect URIs.
            metadata = {"grant_types": ["client_credentials"], "response_types": [], "fapi_profile": profile}
        else:
            metadata = {"redirect_uris": REDIRECT_URIS, "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                        "fapi_profile": profile, "require_pushed_authorization_requests": True}
        if sender == "dpop":
            metadata["dpop_bound_access_tokens"] = True
        super().__init__(daemon, pki, workdir, name, auth=auth, alg=alg, metadata=metadata)
        self.sender = sender
        self.profile = profile
        self.signed = profile == MESSAGE_SIGNING
        self.dpop_alg = dpop_alg
        self.nocert = TokenClient(daemon, None)
        # The server's latest DPoP nonces (RFC 9449 §8, §9), kept per server as the suite keeps them.
        self.as_nonce = None
        self.rs_nonce = None
        # How many use_dpop_nonce challenges this client answered (at the AS, at the resource).
        self.nonce_challenges = {"as": 0, "rs": 0}

    # Which TLS identity each endpoint sees (configureClient / performParAuthorizationRequestFlow / requestProtectedResource).
    @property
    def par_session(self):
        return self.http if self.auth == "mtls" else self.nocert

    @property
    def token_session(self):
        return self.http if "mtls" in (self.auth, self.sender) else self.nocert

    @property
    def resource_session(self):
        return self.http if self.sender == "mtls" else self.nocert

    def auth_fields(self, aud=None, **assertion) -> dict:
        """client_id (mtls), or client_id plus an assertion whose aud is the issuer unless told otherwise."""
        if self.auth == "mtls":
            return {"client_id": self.client_id}
        return {"client_id": self.client_id, "client_assertion_type": JWT_BEARER,
                "client_assertion": self.assertion(aud if aud is not None else self.daemon.issuer, **assertion)}

    def url(self, path):
        return self.daemon.base + path

    def with_dpop(self, send, make_proof, *, at_resource=False, retry=True):
        """Sends with a proof made for the server's current nonce; on `use_dpop_nonce` once more with the
        fresh one (the suite's CallTokenEndpointAllowingDpopNonceError / CallProtectedResourceAllowingDpopNonceError).
        The response carries `.used_nonce` (whether a nonce was demanded)."""
        used_nonce = False
        for attempt in range(2):
            nonce = self.rs_nonce if at_resource else self.as_nonce
            response = send(make_proof(nonce))
            fresh = response.headers.get("DPoP-Nonce")
            if fresh:
                if at_resource:
                    self.rs_nonce = fresh
                else:
                    self.as_nonce = fresh
            if attempt == 0 and retry and is_nonce_challenge(response, at_resource):
                used_nonce = True
                self.nonce_challenges["rs" if at_resource else "as"] += 1
                continue
            break
        response.used_nonce = used_nonce
        return response

    def new_request(self, **kwargs) -> FAPI2Request:
        return FAPI2Request(self, **kwargs)

    def push(self, request, *, token=None, unsigned=None, form=None, dpop=False, dpop_key=None, auth=None, session=None, drop=(), proof=None):
        """The PAR request; with `dpop` a proof of the flow's key (or `dpop_key`) is sent, `proof` overrides
        its making (a callable nonce -> proof)."""
        def make_form():
            data = dict(auth() if callable(auth) else (auth if auth is not None else self.auth_fields()))
            data.update(request.par_form(token, unsigned))
            data.update(form or {})
            for name in drop:
                data.pop(name, None)
            return data

        http = session or self.par_session
        if not dpop:
            return http.post("/par", make_form())
        key = dpop_key or request.dpop
        make_proof = proof or (lambda nonce: key.proof("POST", self.url("/par"), nonce=nonce))
        return self.with_dpop(lambda value: http.post("/par", make_form(), headers={"DPoP": value}), make_proof)

    def send(self, request, browser, *, duplicates=True, reverse=False, extra_query=None, **push):
        """PAR (201 expected, else the attempt stops there), then the browser to /authorize with request_uri."""
        pushed = self.push(request, **push)
        if pushed.status_code != 201:
            return Attempt(request, par=pushed)
        assert_fapi2_par_response(pushed)
        query = request.query(pushed.json()["request_uri"], duplicates=duplicates, reverse=reverse)
        query += list((extra_query or {}).items())
        return Attempt(request, par=pushed, page=browser.authorize(query), query=query)

    def token_request(self, form_fields, *, dpop_key=None, auth=None, session=None, proof=True, make_proof=None, drop=()):
        """A token endpoint request; in dpop variants with a proof of `dpop_key` unless `proof` is False."""
        def make_form():
            data = dict(form_fields)
            data.update(auth() if callable(auth) else (auth if auth is not None else self.auth_fields()))
            for name in drop:
                data.pop(name, None)
            return data

        http = session or self.token_session
        if self.sender != "dpop" or not proof:
            return http.post("/token", make_form())
        make_proof = make_proof or (lambda nonce: dpop_key.proof("POST", self.url("/token"), nonce=nonce))
        return self.with_dpop(lambda value: http.post("/token", make_form(), headers={"DPoP": value}), make_proof)

    def exchange(self, code, request, *, dpop_key=None, drop=(), overrides=None, **kwargs):
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": request.redirect_uri}
        if request.verifier:
            form["code_verifier"] = request.verifier
        form.update(overrides or {})
        for name in drop:
            form.pop(name, None)
        return self.token_request(form, dpop_key=dpop_key or request.dpop, **kwargs)

    def client_credentials(self, *, dpop_key=None, scope=OAUTH_SCOPE, **kwargs):
        return self.token_request({"grant_type": "client_credentials", "scope": scope}, dpop_key=dpop_key, **kwargs)

    def refresh(self, refresh_token, *, dpop_key=None, **kwargs):
        return self.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token}, dpop_key=dpop_key, **kwargs)

    def userinfo(self, access_token, *, dpop_key=None, session=None, scheme=None, headers=None, params=None, method="GET",
                 proof=True, make_proof=None, retry=True):
        """The resource call (userinfo): `Authorization: DPoP` with a proof carrying `ath` (dpop variants), or
        `Bearer` over the client's certificate (mtls)."""
        http = (session or self.resource_session).session
        url = self.url("/userinfo")
        scheme = scheme or ("DPoP" if self.sender == "dpop" else "Bearer")

        def send(value):
            all_headers = {"Authorization": f"{scheme} {access_token}"}
            if value is not None:
                all_headers["DPoP"] = value
            all_headers.update(headers or {})
            return http.request(method, url, headers=all_headers, params=params, timeout=10)

        if self.sender != "dpop" or not proof or dpop_key is None:
            return send(None)
        make_proof = make_proof or (lambda nonce: dpop_key.proof(method, url, access_token=access_token, nonce=nonce))
        return self.with_dpop(send, make_proof, at_resource=True, retry=retry)

    def run_flow(self, browser, *, openid=True, redirect_uri=None, reverse=False, dpop_at_par=False, decision="approve", **request_kwargs):
        """A complete, successful authorization: returns (request, callback, params)."""
        request = self.new_request(openid=openid, redirect_uri=redirect_uri, **request_kwargs)
        attempt = self.send(request, browser, reverse=reverse, dpop=dpop_at_par)
        callback = attempt.finish(browser, decision)
        return request, callback, assert_fapi2_callback(callback, request)

    def tokens(self, browser, **flow) -> tuple:
        """A complete flow up to the token response: returns (request, token response body)."""
        request, callback, _ = self.run_flow(browser, **flow)
        body = assert_fapi2_token_response(self.exchange(callback.params["code"], request), self, request=request, dpop_key=request.dpop)
        return request, body


# --- the suite's checks ------------------------------------------------------------------------------------

def assert_fapi2_par_response(response):
    """RFC 9126 §2.2 as the suite checks it, with FAPI 2's bound: 201 JSON, a request_uri with ≥96 bits of
    entropy, expires_in ≥5 s and under 600 s (FAPI 2 SP §5.3.2.2)."""
    assert response.status_code == 201, response.text
    assert response.headers.get("Content-Type", "").startswith("application/json")
    body = response.json()
    value = body["request_uri"].removeprefix("urn:ietf:params:oauth:request_uri:")
    assert shannon_bits(value) > 96, body
    assert isinstance(body.get("expires_in"), int) and 5 <= body["expires_in"] < 600, body
    return body


def assert_fapi2_callback(callback, request) -> dict:
    """The base class's checks on every successful authorization response (onAuthorizationCallbackResponse):
    a redirect to the registered URI, nothing in the fragment, no error, the state sent (or none), `iss`
    required (in the JARM JWT with message signing, in the query otherwise), a code of ≥128 bits with
    ≥96 bits of entropy. Returns the response parameters."""
    assert callback.redirected, describe(callback.response)
    daemon = request.client.daemon
    assert not {"code", "state", "error", "response"} & callback.fragment.keys(), callback.response.headers["Location"]
    params = callback.params
    assert "error" not in params, params
    code = params.get("code")
    assert code, params
    assert_entropy(code, "authorization code")
    if request.state is None:
        assert "state" not in params, params
    else:
        assert params.get("state") == request.state, params
    if request.jarm:
        assert callback.jarm is not None, f"no JARM response: {callback.response.headers['Location']}"
        assert set(callback.query) == {"response"}, callback.query
        claims = callback.jarm.claims
        assert callback.jarm.header["alg"] in FAPI2_ALGS
        assert claims["iss"] == daemon.issuer, claims
        assert claims["aud"] in (request.client.client_id, [request.client.client_id]), claims
        assert time.time() < claims["exp"] <= time.time() + 3600, claims
        return dict(params, iss=claims["iss"])
    assert callback.jarm is None
    # RFC 9207 §2 / FAPI 2 SP §5.3.2.2-7: iss is required.
    assert params.get("iss") == daemon.issuer, params
    return params


def decode_id_token(token, daemon):
    keys = server_keys(daemon)
    decoded = jwt.decode(token, keys, algorithms=FAPI2_ALGS)
    assert decoded.header["alg"] in FAPI2_ALGS, decoded.header
    assert decoded.header.get("kid") in {key.kid for key in keys.keys}, decoded.header
    return decoded.claims


def assert_fapi2_token_response(response, client, *, request=None, dpop_key=None, openid=None) -> dict:
    """processTokenEndpointResponse: 200 JSON, no-store, an access token of enough entropy, a sane expires_in,
    `token_type` DPoP (dpop) or Bearer (mtls), a VSCHAR refresh token of enough entropy if any; with openid an
    id_token (FAPI 2 algorithm, a kid, this client, the request's nonce; c_hash/s_hash/at_hash right if
    present), without openid no id_token."""
    assert response.status_code == 200, f"HTTP {response.status_code} {response.text}"
    assert response.headers.get("Content-Type", "").startswith("application/json")
    assert "no-store" in response.headers.get("Cache-Control", ""), response.headers
    body = response.json()
    assert_entropy(body["access_token"], "access_token")
    # RFC 9449 §5: DPoP; RFC 6750 §4: Bearer (compared without case, RFC 6749 §7.1).
    expected = "dpop" if client.sender == "dpop" else "bearer"
    assert body["token_type"].lower() == expected, body["token_type"]
    assert isinstance(body.get("expires_in"), int) and 0 < body["expires_in"] < 365 * 86400, body
    if "refresh_token" in body:
        assert_entropy(body["refresh_token"], "refresh_token")
        assert VSCHAR.match(body["refresh_token"])
    openid = openid if openid is not None else (request.openid if request is not None else True)
    if openid:
        claims = decode_id_token(body["id_token"], client.daemon)
        assert claims["iss"] == client.daemon.issuer and claims["aud"] in (client.client_id, [client.client_id]), claims
        assert claims["exp"] > time.time() and claims["sub"] == PSU, claims
        if request is not None:
            if request.nonce is None:
                assert "nonce" not in claims, claims
            else:
                assert claims.get("nonce") == request.nonce, claims
        if "at_hash" in claims:
            assert claims["at_hash"] == half_hash(body["access_token"])
        body["id_token_claims"] = claims
    else:
        assert "id_token" not in body, body
    return body


def assert_fapi2_resource_works(client, access_token, dpop_key=None, **kwargs):
    """requestProtectedResource: 200 JSON with a Date header; x-fapi-interaction-id echoed."""
    interaction = str(uuid.uuid4())
    headers = {"x-fapi-interaction-id": interaction, "Accept": "application/json"}
    response = client.userinfo(access_token, dpop_key=dpop_key, headers=headers, **kwargs)
    assert response.status_code == 200, f"HTTP {response.status_code} {response.headers.get('WWW-Authenticate')} {response.text}"
    assert response.headers.get("Content-Type", "").startswith("application/json")
    assert response.headers.get("Date")
    assert response.headers.get("x-fapi-interaction-id") == interaction
    assert response.json()["sub"] == PSU
    return response


def assert_fapi2_tls(url: str, cafile):
    """FAPI 2 SP §5.2.1 / §5.2.2: TLS 1.0 and 1.1 refused; on TLS 1.2, only the RFC 9325 ECDHE AES-GCM suites."""
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "https", url
    report = tls_report(parts.hostname, parts.port or 443, str(cafile))
    assert not any(report["old_versions_accepted"].values()), report["old_versions_accepted"]
    assert report["tls12_accepted"], "no TLS 1.2 suite accepted at all"
    assert report["tls12_accepted"] <= FAPI2_TLS12_SUITES, f"{url} accepts {sorted(report['tls12_accepted'] - FAPI2_TLS12_SUITES)} on TLS 1.2"


def raw_request(daemon, method, path, headers, cert=None):
    """An HTTPS request with repeated header lines (requests merges them): returns (status, headers, body)."""
    context = ssl.create_default_context(cafile=str(daemon.keys / "ca.pem"))
    context.check_hostname = False
    if cert:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    connection = http.client.HTTPSConnection("127.0.0.1", daemon.port, context=context, timeout=10)
    try:
        connection.putrequest(method, path)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()
