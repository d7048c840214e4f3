"""Issue 16 item 1 (CWE-400): a private_key_jwt client whose jwks_uri serves keys that are expensive to
check (huge RSA moduli) or a set that never parses cannot stall the daemon. Anyone may send assertions
naming the client; the daemon fetches its jwks_uri at most once a minute whatever the set holds, refuses
oversized sets and moduli before any math, and keeps answering everyone else."""
import base64
import http.server
import json
import math
import secrets
import threading
import time

import pytest
import requests

from tpp import JWT_BEARER, TokenClient, assertion, fresh_key, register
from conftest import https_server


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


SMALL_PRIMES_PRODUCT = math.prod(p for p in range(3, 752, 2) if all(p % q for q in range(3, int(p ** 0.5) + 1, 2)))


def random_rsa_jwk(bits: int, kid: str) -> dict:
    """An RSA JWK with a random odd modulus of `bits` bits and no factor under 752, so that OpenSSL's public-key
    check gets as far as its Miller-Rabin test (most of a second at 16384 bits); refusing it by size costs nothing."""
    while True:
        modulus = int.from_bytes(secrets.token_bytes(bits // 8), "big") | (1 << (bits - 1)) | 1
        if math.gcd(modulus, SMALL_PRIMES_PRODUCT) == 1:
            break
    return {"kty": "RSA", "kid": kid, "use": "sig", "n": b64url(modulus.to_bytes(bits // 8, "big")), "e": "AQAB"}


class CountingJWKSHandler(http.server.BaseHTTPRequestHandler):
    body = b"{}"
    hits = 0
    lock = threading.Lock()

    def do_GET(self):
        with CountingJWKSHandler.lock:
            CountingJWKSHandler.hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def jwks_server(pki):
    server = https_server(CountingJWKSHandler, pki / "server.pem", pki / "server.key")
    CountingJWKSHandler.hits = 0
    yield f"https://localhost:{server.server_address[1]}/jwks.json"
    server.shutdown()


def hostile_sets(signing_jwk):
    return {
        # ~84 KiB: over the 64 KiB limit, refused by the fetch before anything is parsed.
        "oversized": {"keys": [random_rsa_jwk(16384, f"h{i}") for i in range(30)]},
        # Under the size limit but every modulus 16384 bits: refused per key before OpenSSL sees it.
        "huge-moduli": {"keys": [random_rsa_jwk(16384, f"h{i}") for i in range(20)]},
        # The signing key first, then a malformed entry: the whole set fails to parse, every time.
        "malformed-last": {"keys": [signing_jwk, {"kty": "RSA", "kid": "bad", "n": "AQAB", "e": "AQAB"}]},
        # More than 32 keys.
        "too-many": {"keys": [{**signing_jwk, "kid": f"k{i}"} for i in range(40)]},
    }


@pytest.mark.parametrize("kind", ["oversized", "huge-moduli", "malformed-last", "too-many"])
def test_hostile_jwks_uri_does_not_stall_the_daemon(make_daemon, pki, jwks_server, kind):
    daemon = make_daemon().start()
    key = fresh_key("PS256")
    signing_jwk = {**key.as_dict(private=False), "kid": "k1"}
    document = hostile_sets(signing_jwk)[kind]
    CountingJWKSHandler.body = json.dumps(document).encode()
    if kind == "oversized":
        assert len(CountingJWKSHandler.body) > 64 * 1024
    else:
        assert len(CountingJWKSHandler.body) <= 64 * 1024
    client_id = register(daemon, {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_server})

    stop = threading.Event()
    statuses = []
    errors = []

    def hammer():
        client = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
        while not stop.is_set():
            try:
                response = client.token(client_assertion_type=JWT_BEARER,
                                        client_assertion=assertion(key, "PS256", client_id, daemon.issuer + "/token", kid="k1"))
                statuses.append((response.status_code, response.json().get("error")))
            except requests.RequestException as error:  # a stalled daemon shows up as timeouts
                errors.append(repr(error))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    health = requests.Session()
    health.trust_env = False
    health.verify = str(pki / "ca.pem")
    latencies = []
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                assert health.get(daemon.base + "/healthz", timeout=5).status_code == 200
            except requests.Timeout:
                pass  # recorded as a latency of 5 s or more
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)

    assert not errors, errors[:3]
    assert len(statuses) >= 20, f"only {len(statuses)} token requests were answered in 4 s"
    assert set(statuses) == {(401, "invalid_client")}, set(statuses)
    assert max(latencies) < 0.5, f"/healthz took up to {max(latencies):.2f} s while {kind} keys were attacked"
    assert 1 <= CountingJWKSHandler.hits <= 3, f"the jwks_uri was fetched {CountingJWKSHandler.hits} times"


def test_a_repaired_jwks_uri_is_used_after_the_refetch_interval_only(make_daemon, pki, jwks_server):
    """The failure is remembered like an unknown kid: the client's fixed set is not fetched at once, so a
    flood of requests cannot turn into a flood of fetches; a well-formed set from the start works at once."""
    daemon = make_daemon().start()
    key = fresh_key("PS256")
    signing_jwk = {**key.as_dict(private=False), "kid": "k1"}
    CountingJWKSHandler.body = json.dumps(hostile_sets(signing_jwk)["malformed-last"]).encode()
    client_id = register(daemon, {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_server})
    client = TokenClient(daemon, (pki / "tpp.pem", pki / "tpp.key"))
    send = lambda: client.token(client_assertion_type=JWT_BEARER,
                                client_assertion=assertion(key, "PS256", client_id, daemon.issuer + "/token", kid="k1"))
    assert send().status_code == 401
    CountingJWKSHandler.body = json.dumps({"keys": [signing_jwk]}).encode()
    for _ in range(5):
        assert send().status_code == 401
    assert CountingJWKSHandler.hits == 1

    good = register(daemon, {"token_endpoint_auth_method": "private_key_jwt",
                             "jwks_uri": jwks_server.replace("/jwks.json", "/other.json")})
    response = client.token(client_assertion_type=JWT_BEARER,
                            client_assertion=assertion(key, "PS256", good, daemon.issuer + "/token", kid="k1"))
    assert response.status_code == 200, response.text
    assert CountingJWKSHandler.hits == 2
