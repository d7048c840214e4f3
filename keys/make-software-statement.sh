#!/usr/bin/env bash
# Signs a software statement (SSA) with the development directory's key, using only the openssl CLI.
#
#   keys/make-software-statement.sh [CLAIMS.json] [KEYS_DIR]   > ssa.jwt
#
# Without CLAIMS.json it signs a sample statement for the sample TPP certificate (keys/dev/tpp.pem):
# org_id 0015800001041RbAAI, roles AISP and PISP, one redirect URI. iat and jti are filled in.
set -euo pipefail

claims_file=${1:-}
keys=${2:-keys/dev}
b64url() { basenc --base64url -w0 | tr -d '='; }

if [ -n "$claims_file" ]; then
    claims=$(cat "$claims_file")
else
    claims='{"iss":"fapid development directory","software_id":"sample-software","software_client_name":"Sample TPP App","org_id":"0015800001041RbAAI","org_name":"Example TPP Ltd","software_roles":["AISP","PISP"],"software_redirect_uris":["https://tpp.example.com/callback"]}'
fi
# iat and jti are added unless present: a statement is accepted once per jti.
now=$(date +%s)
jti=$(openssl rand -hex 16)
case "$claims" in *'"iat"'*) ;; *) claims="${claims%\}},\"iat\":$now}" ;; esac
case "$claims" in *'"jti"'*) ;; *) claims="${claims%\}},\"jti\":\"$jti\"}" ;; esac

kid=$(sed -n 's/.*"kid":"\([^"]*\)".*/\1/p' "$keys/directory.jwks.json")
header=$(printf '{"alg":"PS256","typ":"JWT","kid":"%s"}' "$kid" | b64url)
payload=$(printf '%s' "$claims" | b64url)
signature=$(printf '%s.%s' "$header" "$payload" \
    | openssl dgst -sha256 -sign "$keys/directory.key" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -binary | b64url)
printf '%s.%s.%s\n' "$header" "$payload" "$signature"
