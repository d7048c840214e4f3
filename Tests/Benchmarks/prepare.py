"""Prepares a `make bench` run against a fresh fapid: registers its clients with fapictl, and writes the
request bodies the load generator sends (one per line where each must be single-use).

    prepare.py WORK ISSUER FAPICTL SECONDS

Writes WORK/<scenario>.body or .bodies and WORK/clients.json. The DPoP proofs of `token-dpop` are made by
dpop_proofs.py right before that scenario, so that they are fresh when sent."""
import json
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import requests
from joserfc import jwt
from joserfc.jwk import ECKey

work, issuer, fapictl, seconds = Path(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
keys = work / "keys"
DN = "CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
REDIRECT = "https://tpp.example.com/callback"
# Single-use bodies: enough for the run at a generous rate; the load generator reuses none.
SINGLE_USE = int((seconds + 3) * 8_000)


def add_client(metadata):
    out = subprocess.run([fapictl, "clients", "add"], input=json.dumps(metadata), capture_output=True, text=True, check=True).stdout
    return json.loads(out)["client_id"]


def form(**values):
    return urllib.parse.urlencode(values)


base = {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": DN, "scope": "accounts",
        "grant_types": ["client_credentials"]}
mtls = add_client(base)
ps256 = add_client({**base, "access_token_format": "jwt", "access_token_signing_alg": "PS256"})
es256 = add_client({**base, "access_token_format": "jwt", "access_token_signing_alg": "ES256"})
# token-dpop: a FAPI 2 client authenticated by mTLS as token-mtls is, whose tokens must be DPoP-bound (RFC 9449 §5.2).
dpop = add_client({**base, "fapi_profile": "fapi2-security-profile", "dpop_bound_access_tokens": True})
assertion_key = ECKey.generate_key("P-256")
pkjwt = add_client({"token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256", "scope": "accounts",
                    "grant_types": ["client_credentials"], "tls_client_certificate_bound_access_tokens": True,
                    "jwks": {"keys": [assertion_key.as_dict(private=False)]}})
request_key = ECKey.generate_key("P-256")
par_client = add_client({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": DN, "redirect_uris": [REDIRECT],
                         "grant_types": ["authorization_code"], "response_types": ["code id_token"], "scope": "openid accounts",
                         "jwks": {"keys": [request_key.as_dict(private=False)]}})
ciba_client = add_client({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": DN, "grant_types": [CIBA_GRANT],
                          "scope": "openid accounts", "backchannel_token_delivery_mode": "poll",
                          "jwks": {"keys": [request_key.as_dict(private=False)]}})
subprocess.run([fapictl, "resource-servers", "add", "--name", "bench-rs", "--subject-dn", DN], capture_output=True, check=True)
subprocess.run([fapictl, "users", "add", "alice"], input="correct horse battery staple\n", capture_output=True, text=True, check=True)

(work / "token-mtls.body").write_text(form(grant_type="client_credentials", client_id=mtls))
(work / "token-jwt-ps256.body").write_text(form(grant_type="client_credentials", client_id=ps256))
(work / "token-jwt-es256.body").write_text(form(grant_type="client_credentials", client_id=es256))
(work / "handshake.body").write_text(form(grant_type="client_credentials", client_id=mtls))
(work / "token-dpop.body").write_text(form(grant_type="client_credentials", client_id=dpop))

now = int(time.time())
with open(work / "token-private-key-jwt.bodies", "w") as out:
    for _ in range(SINGLE_USE):
        claims = {"iss": pkjwt, "sub": pkjwt, "aud": issuer, "jti": uuid.uuid4().hex, "iat": now, "exp": now + 300}
        token = jwt.encode({"alg": "ES256"}, claims, assertion_key, algorithms=["ES256"])
        out.write(form(grant_type="client_credentials", client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                       client_assertion=token) + "\n")

with open(work / "par.bodies", "w") as out:
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    for _ in range(SINGLE_USE):
        claims = {"iss": par_client, "aud": issuer, "exp": now + 300, "nbf": now, "jti": uuid.uuid4().hex, "client_id": par_client,
                  "response_type": "code id_token", "redirect_uri": REDIRECT, "scope": "openid accounts", "state": "s", "nonce": "n",
                  "code_challenge": challenge, "code_challenge_method": "S256"}
        out.write(form(client_id=par_client, request=jwt.encode({"alg": "ES256"}, claims, request_key, algorithms=["ES256"])) + "\n")

session = requests.Session()
session.trust_env = False
session.verify = str(keys / "ca.pem")
session.cert = (str(keys / "tpp.pem"), str(keys / "tpp.key"))
tokens = [session.post(issuer + "/token", data={"grant_type": "client_credentials", "client_id": mtls}).json()["access_token"]
          for _ in range(500)]
(work / "introspect.bodies").write_text("".join(form(token=token) + "\n" for token in tokens))

auth_req_ids = []
for index in range(200):
    claims = {"iss": ciba_client, "aud": issuer, "exp": now + 300, "iat": now, "nbf": now, "jti": uuid.uuid4().hex,
              "scope": "openid accounts", "login_hint": "alice", "binding_message": f"Bench {index}"}
    ack = session.post(issuer + "/bc-authorize", data={"client_id": ciba_client,
                                                      "request": jwt.encode({"alg": "ES256"}, claims, request_key, algorithms=["ES256"])})
    auth_req_ids.append(ack.json()["auth_req_id"])
(work / "ciba-poll.bodies").write_text("".join(form(grant_type=CIBA_GRANT, client_id=ciba_client, auth_req_id=value) + "\n"
                                               for value in auth_req_ids))
