"""An independent JOSE implementation (joserfc) for the cross-checks in JOSEInteroperabilityTests.

  joserfc_peer.py verify ALG JWK_FILE TOKEN   -> prints the payload when joserfc verifies TOKEN with the public JWK
  joserfc_peer.py sign ALG PAYLOAD            -> prints {"jwk": public JWK, "token": compact JWS} signed by a fresh key
"""
import json
import sys

from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key


def fresh_key(alg):
    if alg == "PS256":
        return RSAKey.generate_key(2048)
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519")
    raise SystemExit(f"unsupported alg {alg}")


def main():
    command, alg = sys.argv[1], sys.argv[2]
    if command == "verify":
        with open(sys.argv[3]) as handle:
            key = import_key(json.load(handle))
        token = jws.deserialize_compact(sys.argv[4], key, algorithms=[alg])
        sys.stdout.write(token.payload.decode())
    elif command == "sign":
        key = fresh_key(alg)
        token = jws.serialize_compact({"alg": alg, "kid": "peer"}, sys.argv[3].encode(), key, algorithms=[alg])
        print(json.dumps({"jwk": key.as_dict(private=False), "token": token}))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
