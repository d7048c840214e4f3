"""Writes the single-use DPoP proofs (RFC 9449 §4.2) of the `token-dpop` scenario, right before it runs: one
ES256 proof per line, each with its own `jti`, `htm` POST, `htu` ISSUER/token and `iat` the time it was made, all
signed by one P-256 key (one client instance's DPoP key).

    dpop_proofs.py WORK ISSUER SECONDS [WARMUP]

Enough for WARMUP + SECONDS at BENCH_DPOP_RATE requests/s (default 12000, well above what a proof check, one
ES256 verification and one replay-cache insert per request, allows on two cores): fapiload sends each once and
stops, flagging the row, if they run out. The server accepts a proof's `iat` up to 60 s in the past, so the
proofs are made on both cores and the scenario must start and finish within that: the script says so on
stderr when making them took too long for the run ahead."""
import base64
import json
import multiprocessing
import os
import sys
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

# The server's acceptance window for a proof's iat in the past (docs/dpop.md), less a margin.
WINDOW = 60 - 5


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def private_key(number: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(number, ec.SECP256R1())


def header(key: ec.EllipticCurvePrivateKey) -> str:
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}
    return b64(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, separators=(",", ":")).encode())


def make(job) -> list[str]:
    """`count` proofs for `htu`, signed with the key of private value `number`."""
    number, htu, count = job
    key = private_key(number)
    encoded_header = header(key)
    proofs = []
    for _ in range(count):
        claims = {"jti": uuid.uuid4().hex, "htm": "POST", "htu": htu, "iat": int(time.time())}
        signing_input = encoded_header + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        proofs.append(signing_input + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
    return proofs


def main():
    work, issuer, seconds = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    warmup = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
    rate = int(os.environ.get("BENCH_DPOP_RATE", "12000"))
    total = int((warmup + seconds) * rate) + 1000
    number = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    workers = max(1, os.cpu_count() or 1)
    chunk = -(-total // workers)
    started = time.time()
    with multiprocessing.Pool(workers) as pool:
        parts = pool.map(make, [(number, issuer + "/token", chunk)] * workers)
    # Oldest first, as fapiload sends them in order.
    proofs = sorted((proof for part in parts for proof in part), key=lambda proof: json.loads(
        base64.urlsafe_b64decode(proof.split(".")[1] + "==")).get("iat"))
    (work / "token-dpop.proofs").write_text("\n".join(proofs) + "\n")
    took = time.time() - started
    if took + warmup + seconds > WINDOW:
        print(f"dpop_proofs.py: {len(proofs)} proofs took {took:.1f} s to make; with {warmup + seconds:.0f} s of load the oldest "
              f"would be older than the server's {WINDOW + 5} s iat window: shorten BENCH_SECONDS or lower BENCH_DPOP_RATE",
              file=sys.stderr)


if __name__ == "__main__":
    main()
