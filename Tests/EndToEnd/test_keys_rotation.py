"""Staged key rotation end to end (OIDC Core §10.1.1, issue 20): `fapictl keys rotate` publishes the next key in
/jwks before it signs, so a relying party that caches /jwks for the Cache-Control max-age it is given never meets
a token whose kid it does not know. Verifiers here are independent clients (requests, joserfc) that honour
max-age; each token is verified against the /jwks fetched before it was requested."""
import contextlib
import json
import re
import threading
import time

from joserfc import jws, jwt
from joserfc.jwk import KeySet

from test_hybrid_flow import PASSWORD, Flow
from tpp import TokenClient, register

TPP_DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
MAX_AGE = 2
PUBLISH_AHEAD = 6  # ≥ MAX_AGE + key_refresh_seconds, with a second to spare for the database's whole seconds
LIFETIME = 6
SETTINGS = {"jwks_max_age_seconds": MAX_AGE, "key_refresh_seconds": 1, "key_publish_ahead_seconds": PUBLISH_AHEAD,
            "retired_key_publish_seconds": LIFETIME, "access_token_lifetime": LIFETIME, "id_token_lifetime_seconds": LIFETIME,
            "jarm_response_lifetime_seconds": LIFETIME}
ALGS = ("PS256", "ES256")
# As environment variables, so fapictl (which computes the schedule) reads the same settings as fapid.
ENV = {"FAPID_" + key.upper(): str(value) for key, value in SETTINGS.items()}


def jwt_client(daemon, alg):
    client_id = register(daemon, {"client_name": f"JWT {alg}", "token_endpoint_auth_method": "tls_client_auth",
                                  "tls_client_auth_subject_dn": TPP_DN, "scope": "accounts", "access_token_format": "jwt",
                                  "access_token_signing_alg": alg})
    return TokenClient(daemon, (daemon.keys / "tpp.pem", daemon.keys / "tpp.key")), client_id


def keys_list(daemon):
    return {entry["kid"]: entry for entry in json.loads(daemon.fapictl("keys", "list", "--json").stdout)}


def audit_rows(daemon, kind):
    rows = [json.loads(line) for line in daemon.fapictl("audit", "export").stdout.splitlines() if line]
    return [row for row in rows if row["type"] == kind]


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class CachingVerifier(threading.Thread):
    """A relying party: caches /jwks as long as Cache-Control max-age says, obtains tokens and verifies each
    against the set it held before asking. Records every problem instead of raising, and when each kid was first
    published (seen in /jwks) and first used."""

    def __init__(self, daemon, fetch_tokens):
        super().__init__(daemon=True)
        self.daemon_ = daemon
        self.fetch_tokens = fetch_tokens
        self.stop = threading.Event()
        self.expires = 0.0
        self.keys = None
        self.published_at = {}
        self.used_at = {}
        self.tokens = []  # (alg, kid, iat, daemon port)
        self.problems = []
        self.cache_controls = set()

    def jwks(self):
        if time.monotonic() >= self.expires:
            response = self.daemon_.get("/jwks")
            control = response.headers.get("Cache-Control", "")
            self.cache_controls.add(control)
            max_age = int(re.search(r"max-age=(\d+)", control).group(1))
            self.expires = time.monotonic() + max_age
            self.keys = response.json()
            for key in self.keys["keys"]:
                self.published_at.setdefault(key["kid"], time.time())
        return self.keys

    def run(self):
        while not self.stop.is_set():
            try:
                document = self.jwks()
                known = {key["kid"] for key in document["keys"]}
                for alg, source, token in self.fetch_tokens():
                    kid = kid_of(token)
                    self.used_at.setdefault(kid, time.time())
                    if kid not in known:
                        self.problems.append(f"{alg} token with kid {kid} absent from the /jwks fetched before it")
                        continue
                    decoded = jwt.decode(token, KeySet.import_key_set(document), algorithms=[alg])
                    self.tokens.append((alg, kid, decoded.claims["iat"], source))
            except Exception as error:  # noqa: BLE001 - reported by the test
                self.problems.append(repr(error))
            time.sleep(0.05)


def kid_of(token):
    return jws.extract_compact(token.encode()).headers()["kid"]


@contextlib.contextmanager
def running(verifiers):
    """The verifiers running, and once they have seen tokens; stopped and joined on the way out, whatever happened."""
    for verifier in verifiers:
        verifier.start()
    try:
        wait_for(lambda: all(verifier.tokens for verifier in verifiers), 30, "tokens before the rotation")
        yield verifiers
    finally:
        for verifier in verifiers:
            verifier.stop.set()
        for verifier in verifiers:
            verifier.join(timeout=60)
    for verifier in verifiers:
        assert not verifier.problems, verifier.problems
        assert verifier.cache_controls == {f"public, max-age={MAX_AGE}"}
        for kid, used in verifier.used_at.items():
            assert verifier.published_at[kid] < used, f"{kid} was used before it was seen in /jwks"


def access_tokens(clients):
    def fetch():
        for alg, (client, client_id, source) in clients.items():
            response = client.token(client_id, scope="accounts")
            assert response.status_code == 200, response.text
            yield alg, source, response.json()["access_token"]
    return fetch


def id_tokens(flow):
    def fetch():
        flow.browser.cookies.clear()  # a fresh sign-in each time, as Flow expects
        yield "PS256", flow.daemon.port, flow.run_to_fragment()["id_token"]
    return fetch


def check_switch_by_iat(tokens, old, new, activates_at):
    """Every token signed before the activation second carries the old kid, every one from it the new one."""
    for alg, kid, iat, source in tokens:
        if kid in (old[alg], new[alg]):
            assert (kid == new[alg]) == (iat >= activates_at[alg]), (alg, kid, iat, activates_at[alg], source)


def test_staged_rotation_never_signs_with_a_key_verifiers_could_not_have(make_daemon, private_pki):
    daemon = make_daemon(env=ENV, keys=private_pki).start()
    daemon.fapictl("users", "add", "alice", input_text=PASSWORD + "\n")
    for path in ("/jwks", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        assert daemon.get(path).headers["Cache-Control"] == f"public, max-age={MAX_AGE}", path
    before = keys_list(daemon)
    old = {entry["alg"]: kid for kid, entry in before.items() if entry["state"] == "active"}
    assert set(old) == set(ALGS) and all(before[kid]["location"] == "file" for kid in old.values())
    assert all("activates_at" not in entry for entry in before.values())

    clients = {alg: (*jwt_client(daemon, alg), daemon.port) for alg in ALGS}
    verifiers = [CachingVerifier(daemon, access_tokens(clients)), CachingVerifier(daemon, id_tokens(Flow(daemon, private_pki)))]
    with running(verifiers):
        asked = time.time()
        lines = daemon.fapictl("keys", "rotate").stdout.splitlines()
        assert len(lines) == 2, lines
        new = {}
        for line in lines:
            alg, kid, key_file, state = line.split()[:4]
            assert state == "next," and "active from" in line and key_file == f"signing/{kid}.key"
            new[alg] = kid
        assert set(new) == set(ALGS)

        staged = keys_list(daemon)
        activates_at = {}
        for alg, kid in new.items():
            entry = staged[kid]
            assert entry["state"] == "next" and entry["location"] == "file" and entry["alg"] == alg
            assert abs(entry["activates_at"] - (asked + PUBLISH_AHEAD)) <= 2, (entry, asked)
            assert staged[old[alg]]["state"] == "active"
            activates_at[alg] = entry["activates_at"]

        # next → active (and the old key active → retiring) at the scheduled second.
        wait_for(lambda: all(keys_list(daemon)[kid]["state"] == "active" for kid in new.values()), PUBLISH_AHEAD + 5, "activation")
        listed = keys_list(daemon)
        assert all(listed[kid]["state"] == "retiring" and "publish_until" in listed[kid] for kid in old.values())
        assert all("activates_at" not in listed[kid] for kid in new.values())
        wait_for(lambda: all(kid in verifiers[0].used_at for kid in new.values()) and new["PS256"] in verifiers[1].used_at, 15,
                 "tokens signed by the new keys")
        # retiring → removed once every token the old key signed has expired.
        wait_for(lambda: all(keys_list(daemon)[kid]["state"] == "removed" for kid in old.values()), LIFETIME + 5, "removal")
        wait_for(lambda: not ({key["kid"] for key in daemon.get("/jwks").json()["keys"]} & set(old.values())), 5, "old keys leaving /jwks")
    for verifier in verifiers:
        check_switch_by_iat(verifier.tokens, old, new, activates_at)
    # Both algorithms' access tokens and the ID tokens went through the switch.
    access = verifiers[0].tokens
    for alg in ALGS:
        assert {kid for token_alg, kid, _, _ in access if token_alg == alg} == {old[alg], new[alg]}, alg
    assert {kid for _, kid, _, _ in verifiers[1].tokens} == {old["PS256"], new["PS256"]}

    # Each transition is one audit event, naming the key.
    time.sleep(1.5)  # one more refresh: nothing is recorded twice
    for kind, kids in (("key.staged", new), ("key.activated", new), ("key.retiring", old), ("key.removed", old)):
        rows = audit_rows(daemon, kind)
        for kid in kids.values():
            assert len([row for row in rows if kid in row["reason"]]) == 1, (kind, kid, rows)
        assert len(rows) == 2, (kind, rows)
    assert all(row["user"] for row in audit_rows(daemon, "key.staged"))


def test_rotate_now_switches_at_once(make_daemon, private_pki):
    daemon = make_daemon(env=ENV, keys=private_pki).start()
    client, client_id = jwt_client(daemon, "ES256")
    old = next(kid for kid, entry in keys_list(daemon).items() if entry["alg"] == "ES256" and entry["state"] == "active")
    line = daemon.fapictl("keys", "rotate", "--now", "--alg", "ES256").stdout.strip()
    alg, kid, _, state = line.split()[:4]
    assert alg == "ES256" and state == "active,"
    listed = keys_list(daemon)
    assert listed[kid]["state"] == "active" and "activates_at" not in listed[kid]
    assert listed[old]["state"] == "retiring"

    def signed_by_new():
        token = client.token(client_id, scope="accounts").json()["access_token"]
        return kid_of(token) == kid
    # Within one key refresh, not after key_publish_ahead_seconds.
    started = time.time()
    wait_for(signed_by_new, 3, "the --now key signing")
    assert time.time() - started < PUBLISH_AHEAD - 1
    activated = [row for row in audit_rows(daemon, "key.activated") if kid in row["reason"]]
    assert len(activated) == 1 and "emergency" in activated[0]["reason"]
    wait_for(lambda: [row for row in audit_rows(daemon, "key.retiring") if old in row["reason"]], 5, "key.retiring of the old key")
