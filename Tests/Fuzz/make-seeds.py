#!/usr/bin/env python3
"""Writes the text seeds of Tests/Fuzz/Corpus (JOSE, JSON, DN, forms, registration, request objects, DPoP) from the
RFC vectors in Tests/JOSETests/Fixtures and requests shaped as the end-to-end tests send them. Standard library only.
The certificate, OCSP and CRL seeds come from make-fixtures.sh. Rerun: python3 Tests/Fuzz/make-seeds.py"""
import base64, json, pathlib

here = pathlib.Path(__file__).resolve().parent
vectors = here.parent / "JOSETests" / "Fixtures"
NOW = 1_900_000_000  # FuzzFixtures.now


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write(target: str, name: str, data) -> None:
    folder = here / "Corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, (dict, list)):
        data = json.dumps(data, separators=(",", ":"))
    if isinstance(data, str):
        data = data.encode()
    (folder / name).write_bytes(data)


rfc = {p.stem: json.loads(p.read_text()) for p in vectors.glob("rfc*.json")}
# jws: the RFC 7515 vectors, and a JWT with every registered claim.
for name in ("rfc7515-a2-rs256", "rfc7515-a3-es256"):
    write("jws", name + ".txt", rfc[name]["jws"])
header = b64(json.dumps({"alg": "PS256", "kid": "server-ps256", "typ": "JWT"}).encode())
claims = {"iss": "https://as.fuzz.example", "sub": "alice", "aud": ["a", "b"], "exp": NOW + 300, "nbf": NOW, "iat": NOW, "jti": "j1",
          "client_id": "fuzz-client", "scope": "openid accounts", "cnf": {"x5t#S256": "abc"}}
write("jws", "jwt-claims.txt", header + "." + b64(json.dumps(claims).encode()) + "." + b64(b"\x01" * 256))
write("jws", "x5c-header.txt", b64(json.dumps({"alg": "ES256", "x5c": ["MIIB"]}).encode()) + ".e30." + b64(b"\x02" * 64))
# jwk: each RFC key alone, private and public, and as a set.
PRIVATE = ("d", "p", "q", "dp", "dq", "qi")
keys = [rfc[n]["jwk"] for n in ("rfc7515-a2-rs256", "rfc7515-a3-es256", "rfc7638-thumbprint", "rfc8037-ed25519")]
for index, key in enumerate(keys):
    write("jwk", f"key-{index}.json", key)
    write("jwk", f"key-{index}-public.json", {k: v for k, v in key.items() if k not in ("d", "p", "q", "dp", "dq", "qi")})
write("jwk", "set.json", {"keys": [dict(k, kid=f"k{i}", use="sig") for i, k in enumerate(keys)]})
# json: shapes every body uses, numbers and escapes at their edges.
write("json", "object.json", claims)
write("json", "numbers.json", [0, -0, 1.5, 1e21, 1e-7, 9007199254740993, -1.0e+308, 5e-324])
write("json", "strings.json", ["\u0000", "\ud83d\ude00", "\\\"", "\u2028", "caf\u00e9"])
write("json", "details.json", {"authorization_details": [{"type": "payment_initiation", "instructedAmount": {"currency": "GBP", "amount": "10.00"}}]})
# dn: RFC 4514 §4 examples and the shapes registrations use.
for index, text in enumerate(["CN=James \\\"Jim\\\" Smith\\, III,DC=example,DC=net", "OU=Sales+CN=J.  Smith,DC=example,DC=net",
                              "CN=Before\\0dAfter,DC=example,DC=net", "1.3.6.1.4.1.1466.0=#04024869", "UID=jsmith,DC=example,DC=net",
                              "CN=fuzz-tpp,OU=0015800001041RbAAI,O=Fuzz TPP,C=GB", "CN=Lu\\C4\\8Di\\C4\\87"]):
    write("dn", f"dn-{index}.txt", text)
# form: token, PAR and CIBA bodies.
write("form", "client-credentials.txt", "grant_type=client_credentials&scope=accounts+payments&client_id=fuzz-client")
write("form", "code.txt", "grant_type=authorization_code&code=abc%2Fdef&redirect_uri=https%3A%2F%2Ftpp.fuzz.example%2Fcb&code_verifier=" + "v" * 43)
write("form", "par.txt", "client_id=c&request=eyJ.eyJ.sig&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer")
write("form", "empty-values.txt", "a=&b&c=%E2%82%AC")
# software statements (claims signed by the harness), and registration bodies (a statement is added when absent).
statement = {"iss": "https://directory.fuzz.example", "iat": NOW, "jti": "fuzz-statement", "software_id": "fuzz-software",
             "org_id": "0015800001041RbAAI", "software_roles": ["AISP", "PISP"], "software_client_name": "Fuzz TPP",
             "software_redirect_uris": ["https://tpp.fuzz.example/cb"],
             "software_jwks": {"keys": [dict({k: v for k, v in keys[1].items() if k not in PRIVATE}, kid="client-key")]}}
write("software-statement", "statement.json", statement)
write("software-statement", "statement-expiring.json", dict(statement, exp=NOW + 600, software_roles=["CBPII"], token_endpoint_auth_method="private_key_jwt"))
write("software-statement", "raw.txt", b"\x00" + rfc["rfc7515-a3-es256"]["jws"].encode())
write("registration", "hybrid.json", {"grant_types": ["authorization_code", "implicit", "refresh_token"], "response_types": ["code id_token"],
                                      "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=fuzz-tpp,OU=0015800001041RbAAI,O=Fuzz TPP,C=GB",
                                      "redirect_uris": ["https://tpp.fuzz.example/cb"], "scope": "openid accounts", "id_token_signed_response_alg": "PS256",
                                      "request_object_signing_alg": "PS256", "authorization_signed_response_alg": "PS256"})
write("registration", "fapi2-dpop.json", {"fapi_profile": "fapi2-security-profile", "dpop_bound_access_tokens": True, "grant_types": ["authorization_code"],
                                          "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [dict({k: v for k, v in keys[1].items() if k not in PRIVATE}, kid="k")]},
                                          "authorization_details_types": ["payment_initiation"], "backchannel_token_delivery_mode": "ping",
                                          "backchannel_client_notification_endpoint": "https://tpp.fuzz.example/notify"})
# request objects (claims signed by the harness with the client's key; the first byte also picks the endpoint).
request = {"iss": "fuzz-client", "aud": "https://as.fuzz.example", "exp": NOW + 300, "nbf": NOW, "iat": NOW, "jti": "ro-1", "client_id": "fuzz-client",
           "response_type": "code id_token", "redirect_uri": "https://tpp.fuzz.example/cb", "scope": "openid accounts", "nonce": "n",
           "state": "s", "code_challenge": b64(b"\x03" * 32), "code_challenge_method": "S256"}
write("request-object", "hybrid.json", request)
write("request-object", "code-jarm.json", dict(request, response_type="code", response_mode="jwt",
                                              claims={"id_token": {"acr": {"essential": True, "values": ["urn:openbanking:psd2:sca"]}}}))
write("request-object", "details.json", dict(request, authorization_details=[{"type": "payment_initiation", "instructedAmount": {"currency": "GBP", "amount": "1.00"}}]))
write("request-object", "raw.txt", b"\x00" + rfc["rfc7515-a2-rs256"]["jws"].encode())
# dpop: mode byte, then the proof's claims (1: signed; 2 odd/even picks whether an access token is bound) or a raw proof (0).
proof = {"jti": "p-1", "htm": "POST", "htu": "https://as.fuzz.example/token", "iat": NOW}
write("dpop", "proof.bin", b"\x02" + json.dumps(proof).encode())
write("dpop", "proof-ath.bin", b"\x01" + json.dumps(dict(proof, ath=b64(b"\x04" * 32), nonce="n")).encode())
write("dpop", "raw.bin", b"\x00" + rfc["rfc7515-a3-es256"]["jws"].encode())
print("seeds written to", here / "Corpus")
