#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the demo's tests and print its DATABASE_URL.
#
#   eval "$(bash .ci/postgres.sh)"      # exports DATABASE_URL (and DEMO_POSTGRES_DIR)
#   bash .ci/postgres.sh stop "$DEMO_POSTGRES_DIR"   # stop it and delete its files
#
# Installs PostgreSQL from Debian packages when no server binaries are found (needs root).
# The cluster lives in a temp dir, listens on 127.0.0.1 only, on a free port. initdb refuses
# to run as root, so as root the server runs as the `postgres` user (created by the package).
# Only the export lines go to stdout; progress and errors go to stderr.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

as_server_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

find_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

if [ "${1:-}" = "stop" ]; then
    cluster="${2:?usage: postgres.sh stop CLUSTER_DIR}"
    bindir="$(find_bindir)"
    as_server_user "$bindir/pg_ctl" -D "$cluster/data" -m fast -w stop >&2 || true
    rm -rf "$cluster"
    exit 0
fi

if ! bindir="$(find_bindir)"; then
    if [ "$(id -u)" -ne 0 ]; then
        log "PostgreSQL server binaries not found and not root: install the 'postgresql' package"
        exit 1
    fi
    log "installing PostgreSQL from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bindir="$(find_bindir)" || { log "postgresql installed but no initdb found"; exit 1; }
fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
cluster="$(mktemp -d /tmp/demo-postgres.XXXXXX)"
chmod 755 "$cluster"
password="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$password" > "$cluster/pwfile"
if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres:postgres "$cluster"
fi

log "initdb in $cluster (PostgreSQL $("$bindir/postgres" --version | awk '{print $3}'))"
# --no-sync: a throwaway cluster, run with fsync off, need not wait for its 46 MB to reach the disk (initdb's sync
# was 2.6-5.5 s of its 7.5-13 s on a busy machine; the tests start three clusters: CI's and two a test stops).
as_server_user "$bindir/initdb" -D "$cluster/data" --no-sync --username=demo --pwfile="$cluster/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$cluster/initdb.log" 2>&1 \
    || { cat "$cluster/initdb.log" >&2; exit 1; }
rm -f "$cluster/pwfile"

# fsync off: a throwaway test cluster; max_connections leaves room for many pooled workers.
as_server_user "$bindir/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$cluster -c max_connections=200 -c fsync=off" \
    start >&2 || { cat "$cluster/server.log" >&2; exit 1; }

as_server_user "$bindir/createdb" -h "$cluster" -p "$port" -U demo demo >&2

log "PostgreSQL ready on 127.0.0.1:$port (stop with: bash .ci/postgres.sh stop $cluster)"
echo "export DATABASE_URL=postgres://demo:${password}@127.0.0.1:${port}/demo"
echo "export DEMO_POSTGRES_DIR=${cluster}"
