#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests and the benchmark.
#   cluster.sh start DIR PORT   initdb (when DIR is new) and start; prints the connection URL
#   cluster.sh stop DIR         fast shutdown
#   cluster.sh url PORT         the URL alone
# PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` user Debian's package creates.
set -euo pipefail

bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$dir" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
    echo "$dir"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

command=${1:?usage: cluster.sh start DIR PORT | stop DIR | url PORT}
case "$command" in
start)
    dir=${2:?DIR}; port=${3:?PORT}
    bin=$(bindir)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    chmod 700 "$dir"
    if [ ! -s "$dir/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$dir" -U fapid --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 \
            || { cat "$dir.initdb.log" >&2; exit 1; }
        cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
# A throwaway cluster: durability settings are the production ones, so figures measured here stay honest.
fsync = on
synchronous_commit = on
CONF
        # make test's own cluster (with-cluster.sh) measures nothing: there, every contract test creating its database
        # at once (CREATE DATABASE copies and syncs a template) must not stall the others past their 5 s timeout.
        if [ "${FAPID_PG_RELAXED_DURABILITY:-0}" = 1 ]; then
            printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >>"$dir/postgresql.conf"
        fi
    fi
    as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
    as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U fapid -d postgres -qAt -c "SELECT 1" >/dev/null
    echo "postgres://fapid@127.0.0.1:$port/postgres"
    ;;
stop)
    dir=${2:?DIR}
    [ -s "$dir/postmaster.pid" ] || exit 0
    as_owner "$(bindir)/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
    ;;
url)
    echo "postgres://fapid@127.0.0.1:${2:?PORT}/postgres"
    ;;
*)
    echo "usage: cluster.sh start DIR PORT | stop DIR | url PORT" >&2; exit 2
    ;;
esac
