#!/usr/bin/env bash
# First version of the token-path benchmark (`make bench`): a release fapid on loopback with a fresh
# database and PKI, one tls_client_auth client and one resource server, driven by fapiload (Benchmarks/fapiload)
# over kept-alive mTLS connections. Each run is bounded by time.
#
#   Benchmarks/token-path.sh [seconds] [connections]
set -euo pipefail

seconds=${1:-10}
connections=${2:-32}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/.build/release
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT


"$root/keys/make-dev-pki.sh" "$work/keys" >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export FAPID_KEYS_DIR=$work/keys FAPID_DATABASE=$work/fapid.sqlite FAPID_LISTEN=127.0.0.1:$port \
    FAPID_ISSUER=https://localhost:$port FAPID_LOG_LEVEL=warning FAPID_MIGRATIONS_DIR=$root/migrations \
    FAPID_RATE_LIMIT_CLIENT_PER_SECOND=1000000 FAPID_RATE_LIMIT_CLIENT_BURST=1000000 \
    FAPID_RATE_LIMIT_ADDRESS_PER_SECOND=1000000 FAPID_RATE_LIMIT_ADDRESS_BURST=1000000
dn="CN=example-tpp-client,OU=0015800001041RbAAI,O=Example TPP Ltd,C=GB"
client_id=$(printf '{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"%s","scope":"accounts"}' "$dn" \
    | "$bin/fapictl" clients add | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])')
"$bin/fapictl" resource-servers add --name bench-rs --subject-dn "$dn" >/dev/null

start=$(date +%s%N)
"$bin/fapid" 2>"$work/fapid.log" &
pid=$!
until curl -sf --cacert "$work/keys/ca.pem" "https://localhost:$port/healthz" >/dev/null 2>&1; do sleep 0.01; done
ready_ms=$(( ($(date +%s%N) - start) / 1000000 ))
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")

printf 'grant_type=client_credentials&client_id=%s' "$client_id" > "$work/token.body"
token=$(curl -sf --cacert "$work/keys/ca.pem" --cert "$work/keys/tpp.pem" --key "$work/keys/tpp.key" \
    --data-binary @"$work/token.body" "https://localhost:$port/token" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
printf 'token=%s' "$token" > "$work/introspect.body"

run() { # name path body
    "$bin/fapiload" "$1" "https://localhost:$port$2" "$work/$3" "$work/keys/ca.pem" "$work/keys/tpp.pem" "$work/keys/tpp.key" \
        "$seconds" "$connections"
}

echo "fapid token path, $connections kept-alive mTLS connections, ${seconds}s per row, load generator on the same cores"
printf '%-28s %12s %12s %12s %8s\n' scenario "requests/s" p50 p99 errors
run token-mtls /token token.body
run introspect /introspect introspect.body
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo
echo "start to healthy: ${ready_ms} ms; RSS idle: $((rss_idle / 1024)) MB; RSS peak: $((rss_peak / 1024)) MB"
