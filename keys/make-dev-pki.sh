#!/usr/bin/env bash
# Creates fapid's development PKI with the openssl CLI.
#
#   keys/make-dev-pki.sh [DIR]     (default keys/dev; FORCE=1 to overwrite an existing one)
#
# DIR/ca.pem, ca.key                 test CA: signs the server certificate and TPP client certificates
# DIR/server.pem, server.key         RSA-2048, CN=localhost, SAN localhost, 127.0.0.1, ::1
# DIR/tpp.pem, tpp.key               a sample TPP client certificate (for tls_client_auth)
# DIR/directory.key, directory.jwks.json   the trusted directory's software-statement signing key (PS256)
# DIR/signing-ps256.key, signing-es256.key the daemon's signing keys (PS256 RSA-2048, ES256 P-256)
#
# Every private key is written with mode 0600; fapid refuses group- or world-readable keys.
# These keys are for development and tests only.
set -euo pipefail

out=${1:-keys/dev}
if [ -e "$out/ca.pem" ] && [ "${FORCE:-0}" != 1 ]; then
    echo "$out already holds a PKI; FORCE=1 $0 $out replaces it (and invalidates its signing keys)"
    exit 0
fi
command -v openssl >/dev/null || { echo "openssl is required (apt-get install openssl)" >&2; exit 1; }

mkdir -p "$out"
chmod 700 "$out"
umask 077
cd "$out"
rm -f ./*.pem ./*.key ./*.srl ./*.csr ./*.ext directory.jwks.json

openssl req -x509 -newkey rsa:3072 -nodes -keyout ca.key -out ca.pem -days 3650 -sha256 \
    -subj "/O=fapid development/CN=fapid development CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() { # name subject extensions
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" 2>/dev/null
    openssl req -new -key "$1.key" -out "$1.csr" -subj "$2"
    printf '%b\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 825 -sha256 \
        -extfile "$1.ext" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

issue server "/O=fapid development/CN=localhost" \
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
issue tpp "/C=GB/O=Example TPP Ltd/OU=0015800001041RbAAI/CN=example-tpp-client" \
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth"
rm -f ca.srl

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out signing-ps256.key 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out signing-es256.key 2>/dev/null

# The directory's JWKS: n from the modulus (hex -> bytes -> base64url), e = 65537, kid = RFC 7638 thumbprint.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out directory.key 2>/dev/null
b64url() { basenc --base64url -w0 | tr -d '='; }
n=$(openssl rsa -in directory.key -noout -modulus | cut -d= -f2 | perl -ne 'chomp; print pack("H*", $_)' | b64url)
kid=$(printf '{"e":"AQAB","kty":"RSA","n":"%s"}' "$n" | openssl dgst -sha256 -binary | b64url)
printf '{"keys":[{"kty":"RSA","use":"sig","alg":"PS256","kid":"%s","e":"AQAB","n":"%s"}]}\n' "$kid" "$n" > directory.jwks.json

chmod 600 ./*.key
chmod 644 ./*.pem directory.jwks.json
echo "development PKI written to $out"
