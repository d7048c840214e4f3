#!/usr/bin/env bash
# `make bench`: fapid's scenarios side by side with this machine's ceilings, measured in the same run by the
# same load generator (Tests/Benchmarks/fapiload, one event-loop thread on the same two cores):
#   - nginx (Debian package) answering a fixed 280-byte JSON over TLS with `ssl_verify_client optional`,
#     over kept-alive connections and with a new connection per request;
#   - `openssl speed` for the RSA-2048 and ECDSA P-256 signing rates of one core.
# Each scenario runs BENCH_SECONDS (default 10) after a 2 s warm-up, on a fresh database and PKI.
#
#   Tests/Benchmarks/bench.sh [seconds] [connections]
set -euo pipefail

seconds=${1:-10}
connections=${2:-64}
handshake_connections=8
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/.build/release
python=${PYTHON:-$root/.venv/bin/python3}
work=$(mktemp -d)
pid=""
nginx_pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# Waits until the instance on port $1 (process $2, log $3) answers /healthz; stops the run if it exits first.
wait_healthy() {
    until curl -sf --cacert "$work/keys/ca.pem" "https://localhost:$1/healthz" >/dev/null 2>&1; do
        if ! kill -0 "$2" 2>/dev/null; then echo "fapid exited before it was healthy:" >&2; tail -5 "$3" >&2; exit 1; fi
        sleep 0.005
    done
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

"$root/keys/make-dev-pki.sh" "$work/keys" >/dev/null
port=$(free_port)
export FAPID_KEYS_DIR=$work/keys FAPID_DATABASE=$work/fapid.sqlite FAPID_LISTEN=127.0.0.1:$port \
    FAPID_ISSUER=https://localhost:$port FAPID_LOG_LEVEL=warning FAPID_MIGRATIONS_DIR=$root/migrations \
    FAPID_ADMIN_SOCKET=$work/fapid.sock \
    FAPID_RATE_LIMIT_CLIENT_PER_SECOND=0 FAPID_RATE_LIMIT_ADDRESS_PER_SECOND=0
"$bin/fapictl" migrate >/dev/null

# --- fapid: start, time to healthy, idle RSS ---------------------------------------------------------
start=$(date +%s%N)
"$bin/fapid" 2>"$work/fapid.log" &
pid=$!
wait_healthy "$port" "$pid" "$work/fapid.log"
ready_ms=$(( ($(date +%s%N) - start) / 1000000 ))
sleep 1
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")

"$python" "$root/Tests/Benchmarks/prepare.py" "$work" "https://localhost:$port" "$bin/fapictl" "$seconds"
# The tracing pair below starts from the state token-mtls starts from (as prepare.py left it), one copy each.
for copy in tracing-off tracing-on; do
    python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' "$work/fapid.sqlite" "$work/$copy.sqlite"
done

load() { # name url connections [extra fapiload options]
    local name=$1 url=$2 count=$3
    shift 3
    "$bin/fapiload" --name "$name" --url "$url" --ca "$work/keys/ca.pem" --cert "$work/keys/tpp.pem" --key "$work/keys/tpp.key" \
        --seconds "$seconds" --warmup 2 --connections "$count" "$@"
}
results=$work/results.tsv
: > "$results"
fapid=https://localhost:$port
load token-mtls "$fapid/token" "$connections" --body-file "$work/token-mtls.body" >> "$results"
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
load token-jwt-ps256 "$fapid/token" "$connections" --body-file "$work/token-jwt-ps256.body" >> "$results"
load token-jwt-es256 "$fapid/token" "$connections" --body-file "$work/token-jwt-es256.body" >> "$results"
load token-private-key-jwt "$fapid/token" "$connections" --bodies-file "$work/token-private-key-jwt.bodies" >> "$results"
load introspect "$fapid/introspect" "$connections" --bodies-file "$work/introspect.bodies" >> "$results"
# RFC 9701: the same introspections answered as a JWT signed for the resource server (PS256, its default).
load introspect-jwt "$fapid/introspect" "$connections" --bodies-file "$work/introspect.bodies" \
    --header "Accept: application/token-introspection+jwt" >> "$results"
# RFC 9449: client_credentials with mTLS and a fresh ES256 DPoP proof per request, made just before (their iat must be
# recent) and each sent once; fapiload stops and exits 3 if they run out.
"$python" "$root/Tests/Benchmarks/dpop_proofs.py" "$work" "$fapid" "$seconds" 2
dpop_note=""
load token-dpop "$fapid/token" "$connections" --body-file "$work/token-dpop.body" \
    --header-name DPoP --header-values-file "$work/token-dpop.proofs" >> "$results" || dpop_note="RAN OUT of proofs: raise BENCH_DPOP_RATE"
rm -f "$work/token-dpop.proofs"
load handshake "$fapid/token" "$handshake_connections" --new-connection --body-file "$work/handshake.body" >> "$results"
load par "$fapid/par" "$connections" --bodies-file "$work/par.bodies" --expect-status 201 >> "$results"
# Every poll is early (slow_down, 400): the cost of a client polling too fast, one write each.
load ciba-poll "$fapid/token" "$connections" --bodies-file "$work/ciba-poll.bodies" --expect-status 400 >> "$results"
rss_end=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

# --- tracing: the token path with tracing off, then on, each a fresh start on a copy of the database as token-mtls had it

# On, every request, store operation and outgoing call is a span, exported over OTLP/HTTP (protobuf, batches)
# to a local sink (Tests/Benchmarks/otlp_sink.py) on the same cores: the ratio is what tracing costs here.
tracing_run() { # name [environment]
    local name=$1
    shift
    env FAPID_DATABASE="$work/${name#token-mtls-}.sqlite" "$@" "$bin/fapid" 2>"$work/$name.log" &
    pid=$!
    wait_healthy "$port" "$pid" "$work/$name.log"
    load "$name" "$fapid/token" "$connections" --body-file "$work/token-mtls.body" >> "$results"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}
tracing_run token-mtls-tracing-off
python3 "$root/Tests/Benchmarks/otlp_sink.py" "$work/sink.port" "$work/sink.stats" &
sink_pid=$!
until [ -s "$work/sink.port" ]; do sleep 0.05; done
tracing_run token-mtls-tracing-on "FAPID_TRACING_OTLP_ENDPOINT=http://127.0.0.1:$(cat "$work/sink.port")/v1/traces"
kill "$sink_pid"; wait "$sink_pid" 2>/dev/null || true
read -r sink_exports sink_bytes < "$work/sink.stats"

# --- keys in a PKCS#11 token: SoftHSM2 through OpenSSL's pkcs11 engine ------------------------------------
# The same JWT access tokens, signed by keys made inside a SoftHSM2 token (fapictl keys generate --pkcs11); each
# signature runs on fapid's signing pool. Compared with the file keys of the same run.
hsm_module=""
for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
    [ -f "$candidate" ] && hsm_module=$candidate && break
done
if [ -n "$hsm_module" ] && command -v softhsm2-util >/dev/null; then
    mkdir -p "$work/hsm/tokens"
    ln -s "$work/keys" "$work/hsm/keys"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$work/hsm/tokens" > "$work/hsm/softhsm2.conf"
    printf '123456\n' > "$work/hsm/pin" && chmod 600 "$work/hsm/pin"
    hsm_env=(SOFTHSM2_CONF=$work/hsm/softhsm2.conf FAPID_PKCS11_MODULE=$hsm_module FAPID_PKCS11_PIN_FILE=$work/hsm/pin
        FAPID_DATABASE=$work/hsm/fapid.sqlite FAPID_ADMIN_SOCKET=$work/hsm/fapid.sock)
    env "${hsm_env[@]}" softhsm2-util --init-token --free --label bench --so-pin 12345678 --pin 123456 >/dev/null
    env "${hsm_env[@]}" "$bin/fapictl" migrate >/dev/null
    env "${hsm_env[@]}" "$bin/fapictl" keys generate --pkcs11 "pkcs11:token=bench" >/dev/null
    env "${hsm_env[@]}" "$bin/fapid" 2>"$work/hsm/fapid.log" &
    pid=$!
    wait_healthy "$port" "$pid" "$work/hsm/fapid.log"
    env "${hsm_env[@]}" "$python" "$root/Tests/Benchmarks/prepare.py" "$work/hsm" "https://localhost:$port" "$bin/fapictl" "$seconds"
    load token-jwt-ps256-pkcs11 "$fapid/token" "$connections" --body-file "$work/hsm/token-jwt-ps256.body" >> "$results"
    load token-jwt-es256-pkcs11 "$fapid/token" "$connections" --body-file "$work/hsm/token-jwt-es256.body" >> "$results"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
else
    echo "softhsm2 is not installed: the -pkcs11 scenarios are skipped (apt-get install softhsm2)" >&2
fi

# --- PostgreSQL: one instance, then two instances on the same database ------------------------------------
# A throwaway cluster (Tests/postgres/cluster.sh: fsync and synchronous_commit on) on this machine's two cores,
# shared with the instances and the load generators: the two-instance figure shows what sharing costs and
# what it scales on one machine, not what two machines would give.
pg_results=$work/pg-results.tsv
: > "$pg_results"
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    pg_port=$(free_port)
    # The cluster runs as the postgres user when we are root: its directory must not be under the 0700 work dir.
    pg_dir=$(mktemp -d /tmp/fapid-bench-pg.XXXXXX)
    chmod 755 "$pg_dir"
    pg_admin=$("$root/Tests/postgres/cluster.sh" start "$pg_dir/data" "$pg_port")
    psql "$pg_admin" -qc "CREATE DATABASE bench" >/dev/null
    mkdir -p "$work/pg"
    ln -s "$work/keys" "$work/pg/keys"
    port_b=$(free_port)
    pg_env=(FAPID_STORAGE=postgres "FAPID_DATABASE_URL=${pg_admin%/postgres}/bench" FAPID_ADMIN_SOCKET=$work/pg/a.sock)
    env "${pg_env[@]}" "$bin/fapictl" migrate >/dev/null
    env "${pg_env[@]}" "$bin/fapid" 2>"$work/pg/a.log" &
    pid=$!
    wait_healthy "$port" "$pid" "$work/pg/a.log"
    env "${pg_env[@]}" "$python" "$root/Tests/Benchmarks/prepare.py" "$work/pg" "https://localhost:$port" "$bin/fapictl" "$seconds"
    load token-mtls-postgres "$fapid/token" "$connections" --body-file "$work/pg/token-mtls.body" >> "$pg_results"
    load introspect-postgres "$fapid/introspect" "$connections" --bodies-file "$work/pg/introspect.bodies" >> "$pg_results"
    # The second instance: same database, same keys, same issuer, its own port and admin socket.
    env "${pg_env[@]}" FAPID_ADMIN_SOCKET=$work/pg/b.sock FAPID_LISTEN=127.0.0.1:$port_b "$bin/fapid" 2>"$work/pg/b.log" &
    pid_b=$!
    wait_healthy "$port_b" "$pid_b" "$work/pg/b.log"
    two() { # name path body-option body-file: half the connections on each instance at once, rates added
        local name=$1 path=$2 option=$3 file=$4 half=$((connections / 2))
        load "$name" "$fapid$path" "$half" "$option" "$file" > "$work/pg/two-a.tsv" &
        local first=$!
        load "$name" "https://localhost:$port_b$path" "$half" "$option" "$file" > "$work/pg/two-b.tsv"
        wait "$first"
        cat "$work/pg/two-a.tsv" "$work/pg/two-b.tsv" | awk -F'\t' -v n="$name" '
            {rate += $2; if ($3 > p50) p50 = $3; if ($4 > p99) p99 = $4; errors += $5}
            END {printf "%s\t%d\t%s\t%s\t%d\n", n, rate, p50, p99, errors}'
    }
    two token-mtls-postgres-x2 /token --body-file "$work/pg/token-mtls.body" >> "$pg_results"
    two introspect-postgres-x2 /introspect --bodies-file "$work/pg/introspect.bodies" >> "$pg_results"
    kill "$pid" "$pid_b"; wait "$pid" "$pid_b" 2>/dev/null || true; pid=""
    "$root/Tests/postgres/cluster.sh" stop "$pg_dir/data"
    rm -rf "$pg_dir" "$pg_dir/data.initdb.log"
else
    echo "PostgreSQL is not installed: the -postgres scenarios are skipped (apt-get install postgresql)" >&2
fi
cat "$pg_results" >> "$results"

# --- ceilings ----------------------------------------------------------------------------------------
nginx_port=$(free_port)
body='{"access_token":"0123456789abcdefghijklmnopqrstuvwxyzABCDEFG","token_type":"Bearer","expires_in":300,"scope":"accounts","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","note":"a fixed answer of 280 bytes, the size of a token response, for the ceiling measure....."}'
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/nginx;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$nginx_port ssl;
        ssl_certificate $work/keys/server.pem;
        ssl_certificate_key $work/keys/server.key;
        ssl_client_certificate $work/keys/ca.pem;
        ssl_verify_client optional;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        location / { default_type application/json; return 200 '$body'; }
    }
}
CONF
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>"$work/nginx/stderr" &
nginx_pid=$!
until curl -sf --cacert "$work/keys/ca.pem" "https://localhost:$nginx_port/" >/dev/null 2>&1; do sleep 0.05; done
ceiling=$(load nginx "https://localhost:$nginx_port/token" "$connections" --body-file "$work/token-mtls.body" | cut -f2)
ceiling_handshake=$(load nginx-handshake "https://localhost:$nginx_port/token" "$handshake_connections" --new-connection \
    --body-file "$work/token-mtls.body" | cut -f2)
kill "$nginx_pid"; nginx_pid=""

speed=$(openssl speed -seconds 2 rsa2048 ecdsap256 2>/dev/null)
rsa_sign=$(echo "$speed" | awk '/^rsa 2048 bits/ {print int($6)}')
ecdsa_sign=$(echo "$speed" | awk '/256 bits ecdsa \(nistp256\)/ {print int($7)}')

# --- the table ---------------------------------------------------------------------------------------
echo
echo "fapid $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)"
echo "load generator: fapiload on one thread, same cores; ${seconds} s per scenario after 2 s warm-up"
echo "ceilings in this run: nginx ${ceiling} req/s kept-alive mTLS (${connections} connections), ${ceiling_handshake} req/s new mTLS connection per request (${handshake_connections}); openssl speed one core: RSA-2048 sign ${rsa_sign}/s, ECDSA P-256 sign ${ecdsa_sign}/s"
echo
rate_of() { awk -F'\t' -v n="$1" '$1 == n {print $2}' "$results"; }
mtls_rate=$(rate_of token-mtls)
introspect_rate=$(rate_of introspect)
pkjwt_rate=$(rate_of token-private-key-jwt)
printf '%-22s %10s %9s %9s %7s  %-34s %s\n' scenario "req/s" "p50 ms" "p99 ms" errors "ratio to ceiling" target
while IFS=$'\t' read -r name rate p50 p99 errors; do
    case $name in
        token-mtls-postgres*|introspect-postgres*) ratio=$(awk -v a="$rate" -v b="$ceiling" 'BEGIN {printf "%.3f of nginx", a / b}'); target="(p50/p99: the slower instance)" ;;
        token-mtls) ratio=$(awk -v a="$rate" -v b="$ceiling" 'BEGIN {printf "%.3f of nginx", a / b}'); target=">= 0.15 of nginx, p99 <= 20 ms" ;;
        introspect) ratio=$(awk -v a="$rate" -v b="$ceiling" 'BEGIN {printf "%.3f of nginx", a / b}'); target=">= 0.30 of nginx" ;;
        token-jwt-ps256) ratio=$(awk -v a="$rate" -v b="$rsa_sign" 'BEGIN {printf "%.2f of RSA-2048 sign/s", a / b}'); target=">= 0.7 of RSA sign rate" ;;
        token-jwt-ps256-pkcs11) ratio=$(awk -v a="$rate" -v b="$(rate_of token-jwt-ps256)" 'BEGIN {printf "%.3f of token-jwt-ps256", a / b}')
            target=$(awk -v a="$rate" -v b="$rsa_sign" 'BEGIN {printf "(key in SoftHSM2: %.2f of RSA-2048 sign/s)", a / b}') ;;
        token-jwt-es256-pkcs11) ratio=$(awk -v a="$rate" -v b="$(rate_of token-jwt-es256)" 'BEGIN {printf "%.3f of token-jwt-es256", a / b}')
            target=$(awk -v a="$rate" -v b="$ecdsa_sign" 'BEGIN {printf "(key in SoftHSM2: %.2f of P-256 sign/s)", a / b}') ;;
        token-jwt-es256) ratio=$(awk -v a="$rate" -v b="$ceiling" 'BEGIN {printf "%.3f of nginx", a / b}'); target=">= 10000 req/s" ;;
        introspect-jwt) ratio=$(awk -v a="$rate" -v b="$introspect_rate" 'BEGIN {printf "%.3f of introspect", a / b}')
            target=$(awk -v a="$rate" -v b="$rsa_sign" 'BEGIN {printf "(one PS256 signature each: %.2f of RSA-2048 sign/s)", a / b}') ;;
        token-dpop) ratio=$(awk -v a="$rate" -v b="$mtls_rate" 'BEGIN {printf "%.3f of token-mtls", a / b}')
            target=$(awk -v a="$rate" -v b="$pkjwt_rate" 'BEGIN {printf ">= 0.9 of token-private-key-jwt (%.2f)", a / b}')
            [ -n "$dpop_note" ] && target="$target $dpop_note" ;;
        token-mtls-tracing-off) ratio=$(awk -v a="$rate" -v b="$mtls_rate" 'BEGIN {printf "%.3f of token-mtls", a / b}')
            target="(same binary and database state, fresh start)" ;;
        token-mtls-tracing-on) ratio=$(awk -v a="$rate" -v b="$(rate_of token-mtls-tracing-off)" 'BEGIN {printf "%.3f of tracing off", a / b}')
            target="(spans exported: $sink_exports OTLP requests, $((sink_bytes / 1024)) KiB)" ;;
        handshake) ratio=$(awk -v a="$rate" -v b="$ceiling_handshake" 'BEGIN {printf "%.2f of nginx handshakes", a / b}'); target=">= 0.7 of nginx handshakes" ;;
        *) ratio=$(awk -v a="$rate" -v b="$ceiling" 'BEGIN {printf "%.3f of nginx", a / b}'); target="" ;;
    esac
    printf '%-22s %10s %9s %9s %7s  %-34s %s\n' "$name" "$rate" "$p50" "$p99" "$errors" "$ratio" "$target"
done < "$results"
echo
echo "start to healthy: ${ready_ms} ms (target <= 300); RSS idle: $((rss_idle / 1024)) MB (target <= 40); RSS peak under token-mtls: $((rss_peak / 1024)) MB, after all scenarios: $((rss_end / 1024)) MB (target <= 150)"
