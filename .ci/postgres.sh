#!/usr/bin/env bash
# A throwaway PostgreSQL server for jaxch6's multi-worker Optuna tests.
#
#   eval "$(.ci/postgres.sh start)"   # installs Debian's postgresql if missing, starts a cluster
#                                     # on 127.0.0.1, creates user+database, prints the line
#                                     #   export JAXCH6_TEST_POSTGRES_DSN=postgresql://...
#   pytest tests/test_optuna.py
#   .ci/postgres.sh stop              # stops the server and deletes its data directory
#
# Environment: JAXCH6_PG_DIR (default /tmp/jaxch6-postgres: data, socket, log),
# JAXCH6_PG_PORT (default 5432). Listens on 127.0.0.1 only; the password is random per start.
# Runs as root (the server then runs as the 'postgres' user) or as a user with sudo for apt-get.
set -euo pipefail

DIR="${JAXCH6_PG_DIR:-/tmp/jaxch6-postgres}"
PORT="${JAXCH6_PG_PORT:-5432}"
DB=jaxch6
ROLE=jaxch6

log() { echo "postgres.sh: $*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Run a command as the cluster's owner: 'postgres' when we are root (initdb refuses root).
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

install_if_missing() {
    if [ -n "$(bindir)" ]; then return; fi
    log "installing Debian's postgresql (apt-get)..."
    local t0=$SECONDS
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
    log "installed in $((SECONDS - t0)) s"
    # Debian's package creates (and may start) a default cluster; ours is separate.
}

start() {
    install_if_missing
    local bin
    bin=$(bindir)
    if [ -f "$DIR/data/postmaster.pid" ]; then
        log "a server is already running in $DIR (run: $0 stop)"
        exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        log "port $PORT on 127.0.0.1 is taken; set JAXCH6_PG_PORT to a free port"
        exit 1
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
    local password
    password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    as_owner "$bin/initdb" -D "$DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c max_connections=200 -c fsync=off" \
        >&2 || { cat "$DIR/server.log" >&2; exit 1; }
    as_owner "$bin/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -c "CREATE ROLE $ROLE LOGIN PASSWORD '$password';" \
        -c "CREATE DATABASE $DB OWNER $ROLE;" >&2
    log "server $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT, data in $DIR"
    echo "export JAXCH6_TEST_POSTGRES_DSN=postgresql://$ROLE:$password@127.0.0.1:$PORT/$DB"
}

stop() {
    local bin
    bin=$(bindir || true)
    if [ -n "$bin" ] && [ -f "$DIR/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || true
    fi
    rm -rf "$DIR"
    log "stopped; removed $DIR"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
