#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster on a free loopback port, then removes the cluster
# whatever the command's outcome. The command sees FAPID_TEST_POSTGRES_URL (superuser `fapid`, trust auth
# on 127.0.0.1 only). Usage: with-cluster.sh COMMAND [ARGS…]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d /tmp/fapid-pg.XXXXXX)
cleanup() {
    "$here/cluster.sh" stop "$dir/data" || true
    rm -rf "$dir" "$dir/data.initdb.log"
}
trap cleanup EXIT
chmod 755 "$dir"
FAPID_TEST_POSTGRES_URL=$(FAPID_PG_RELAXED_DURABILITY=1 "$here/cluster.sh" start "$dir/data" "$port")
export FAPID_TEST_POSTGRES_URL
echo "PostgreSQL test cluster on 127.0.0.1:$port"
"$@"
