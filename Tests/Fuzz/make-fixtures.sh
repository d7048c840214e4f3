#!/usr/bin/env bash
# Makes the fixed PKI the fuzz harness judges against (Tests/Fuzz/Fixtures) and the certificate, OCSP and CRL seeds.
# Run once; the output is committed so every fuzz run and regression test sees the same bytes.
# Certificates are valid for 100 years and the harness judges at a fixed time inside that window.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/Fixtures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p newcerts && : > index.txt && echo 1000 > serial && echo 1000 > crlnumber
cat > ca.cnf <<CNF
[ca]
default_ca = fuzz
[fuzz]
dir = .
database = index.txt
new_certs_dir = newcerts
serial = serial
crlnumber = crlnumber
default_md = sha256
default_crl_days = 36500
policy = any
[any]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
[leaf]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
authorityInfoAccess = OCSP;URI:http://ocsp.fuzz.example/
crlDistributionPoints = URI:http://crl.fuzz.example/ca.crl
1.3.6.1.5.5.7.1.3 = DER:30:63:30:08:06:06:04:00:8e:46:01:01:30:57:06:06:04:00:81:98:27:02:30:4d:30:26:30:11:06:07:04:00:81:98:27:01:03:0c:06:50:53:50:5f:41:49:30:11:06:07:04:00:81:98:27:01:02:0c:06:50:53:50:5f:50:49:0c:1b:46:69:6e:61:6e:63:69:61:6c:20:43:6f:6e:64:75:63:74:20:41:75:74:68:6f:72:69:74:79:0c:06:47:42:2d:46:43:41
CNF
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 36500 \
    -subj "/C=GB/O=Fuzz Directory/CN=Fuzz CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj "/C=GB/O=Fuzz TPP/OU=0015800001041RbAAI/CN=fuzz-tpp" 2>/dev/null
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in leaf.csr -out leaf.pem -days 36500 -extensions leaf -notext 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout revoked.key -out revoked.csr -subj "/C=GB/O=Fuzz TPP/CN=revoked" 2>/dev/null
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in revoked.csr -out revoked.pem -days 36500 -extensions leaf -notext 2>/dev/null
openssl ca -config ca.cnf -cert ca.pem -keyfile ca.key -revoke revoked.pem -crl_reason keyCompromise 2>/dev/null
openssl ca -config ca.cnf -cert ca.pem -keyfile ca.key -gencrl -out ca.crl.pem 2>/dev/null
openssl crl -in ca.crl.pem -outform DER -out ca.crl
for status in leaf revoked; do
    openssl ocsp -issuer ca.pem -cert $status.pem -no_nonce -reqout $status.req 2>/dev/null
    openssl ocsp -index index.txt -CA ca.pem -rsigner ca.pem -rkey ca.key -reqin $status.req -respout $status.ocsp -ndays 36500 2>/dev/null
done
mkdir -p "$out" "$here/Corpus/x509" "$here/Corpus/client-cert" "$here/Corpus/ocsp" "$here/Corpus/crl"
cp ca.pem leaf.pem revoked.pem "$out/"
openssl x509 -in leaf.pem -outform DER -out "$here/Corpus/x509/leaf.der"
openssl x509 -in ca.pem -outform DER -out "$here/Corpus/x509/ca.der"
openssl x509 -in revoked.pem -outform DER -out "$here/Corpus/x509/revoked-ec.der"
cp leaf.ocsp "$here/Corpus/ocsp/good.der"
cp revoked.ocsp "$here/Corpus/ocsp/revoked.der"
cp ca.crl "$here/Corpus/crl/ca.der"
# RFC 9440 §2.2 byte sequences: the leaf alone, then with the CA in Client-Cert-Chain (a newline separates the two headers).
leaf64=$(openssl x509 -in leaf.pem -outform DER | base64 -w0)
ca64=$(openssl x509 -in ca.pem -outform DER | base64 -w0)
printf ':%s:' "$leaf64" > "$here/Corpus/client-cert/leaf.txt"
printf ':%s:\n:%s:' "$leaf64" "$ca64" > "$here/Corpus/client-cert/leaf-and-chain.txt"
echo "fixtures written to $out"
