#!/usr/bin/env bash
# Local test infrastructure without Docker or systemd: RabbitMQ (Debian package), a private
# PostgreSQL 15 cluster and an S3-compatible server for the claim-check tests (s3rver from npm), all bound
# to 127.0.0.1. Every subcommand is idempotent.
#
#   scripts/services.sh install   install missing packages (needs root, apt; s3rver from the npm registry)
#   scripts/services.sh start     start RabbitMQ (5672), PostgreSQL (55432) and s3rver (4569), installing first what
#                                 is missing (as install does); no-op if running
#   scripts/services.sh stop      stop them
#   scripts/services.sh status    print state; exit 0 only if all are up
#   scripts/services.sh env       print the export lines the tests read
#
# Overridable: SAGAS_PG_DIR (default /var/lib/sagas/pg), SAGAS_PG_PORT (default 55432),
# SAGAS_PG_SHARED_BUFFERS (default 1GB), SAGAS_S3_DIR (default /var/lib/sagas/s3), SAGAS_S3_PORT (default 4569).
set -euo pipefail

PG_BIN="${SAGAS_PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_DIR="${SAGAS_PG_DIR:-/var/lib/sagas/pg}"
PG_PORT="${SAGAS_PG_PORT:-55432}"
# The default 128MB is smaller than a benchmark's working set: backends then write out dirty pages themselves
# (pg_stat_bgwriter.buffers_backend), which doubled latencies late in a run (docs/benchmarks.md, ninth session).
PG_SHARED_BUFFERS="${SAGAS_PG_SHARED_BUFFERS:-1GB}"
PG_LOG="$(dirname "$PG_DIR")/pg.log"
RABBIT_PORT=5672
S3_DIR="${SAGAS_S3_DIR:-/var/lib/sagas/s3}"
S3_PORT="${SAGAS_S3_PORT:-4569}"
# s3rver keeps objects as files under data/; the tests use one bucket and a prefix of their own per run.
S3_BIN="$S3_DIR/tool/node_modules/.bin/s3rver"
S3_BUCKET=sagas-test
S3RVER_VERSION=3.7.1
RABBIT_PID_FILE="/var/lib/rabbitmq/mnesia/rabbit@$(hostname -s).pid"

# Any rabbitmqctl call may spawn epmd (port 4369); keep it on loopback too.
export ERL_EPMD_ADDRESS=127.0.0.1

log() { echo "[services] $*" >&2; }

as_postgres() {
    if [ "$(id -un)" = postgres ]; then
        bash -c "$1"
    else
        su postgres -s /bin/bash -c "$1"
    fi
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    # Fresh machines have empty package lists; refresh only when the package is unknown.
    if ! apt-cache show "$@" >/dev/null 2>&1; then
        log "apt-get update"
        apt-get update -qq
    fi
    log "apt-get install $*"
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install() {
    if ! command -v rabbitmq-server >/dev/null 2>&1 && [ ! -x /usr/sbin/rabbitmq-server ]; then
        apt_install rabbitmq-server
    else
        log "rabbitmq-server already installed"
    fi
    if [ ! -x "$PG_BIN/initdb" ]; then
        apt_install postgresql-15 postgresql-client-15
    else
        log "postgresql 15 already installed"
    fi
    if ! command -v psql >/dev/null 2>&1; then
        apt_install postgresql-client-15
    fi
    if ! command -v npm >/dev/null 2>&1; then
        apt_install nodejs npm
    fi
    if [ ! -x "$S3_BIN" ]; then
        log "npm install s3rver@$S3RVER_VERSION into $S3_DIR/tool"
        mkdir -p "$S3_DIR/tool"
        npm install --prefix "$S3_DIR/tool" --no-audit --no-fund --loglevel=error "s3rver@$S3RVER_VERSION" >/dev/null
    else
        log "s3rver already installed"
    fi
}

# Whether every service `start` needs is installed (what `install` checks for, package by package).
installed() {
    { command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ]; } \
        && [ -x "$PG_BIN/initdb" ] && command -v psql >/dev/null 2>&1 && [ -x "$S3_BIN" ]
}

rabbit_running() {
    rabbitmqctl -q status >/dev/null 2>&1
}

s3_running() {
    (exec 3<>"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null
}

pg_running() {
    [ -f "$PG_DIR/PG_VERSION" ] && as_postgres "'$PG_BIN/pg_ctl' -D '$PG_DIR' status" >/dev/null 2>&1
}

start_rabbit() {
    if rabbit_running; then
        log "rabbitmq already running"
        return
    fi
    # The broker writes a stale pid file on crash; rabbitmqctl wait would then watch a dead pid.
    rm -f "$RABBIT_PID_FILE"
    log "starting rabbitmq on 127.0.0.1:$RABBIT_PORT"
    # Loopback only: AMQP listener and Erlang distribution (25672); epmd via ERL_EPMD_ADDRESS above.
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$RABBIT_PORT \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        rabbitmq-server -detached
    # A bare await_startup straight after -detached fails: the node is not registered yet.
    local i
    for i in $(seq 1 30); do
        [ -f "$RABBIT_PID_FILE" ] && break
        sleep 1
    done
    rabbitmqctl wait --timeout 60 "$RABBIT_PID_FILE" >/dev/null
    log "rabbitmq up"
}

# A server started earlier (by an older version of this script, or by hand) keeps its settings: say which of the
# ones start_pg would set differ, so that benchmark numbers are not read against the wrong configuration. It is not
# restarted here: another run may be using it.
pg_check_settings() {
    local differ
    differ=$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atq -v ON_ERROR_STOP=1 -c "
        SELECT string_agg(format('%s=%s (expected %s)', name, current_setting(name), expected), ', ')
        FROM (VALUES ('shared_buffers', '$PG_SHARED_BUFFERS'), ('synchronous_commit', 'on'), ('max_connections', '300'),
                     ('shared_preload_libraries', '')) AS s(name, expected)
        WHERE CASE name WHEN 'shared_buffers' THEN pg_size_bytes(current_setting(name)) <> pg_size_bytes(expected)
                        ELSE current_setting(name) <> expected END" 2>/dev/null) || return 0
    if [ -n "$differ" ]; then
        log "warning: the running postgresql has $differ; restart it to apply: scripts/services.sh stop && scripts/services.sh start"
    fi
}

start_pg() {
    if [ ! -f "$PG_DIR/PG_VERSION" ]; then
        log "initdb $PG_DIR"
        mkdir -p "$PG_DIR"
        chown -R postgres:postgres "$(dirname "$PG_DIR")"
        chmod 700 "$PG_DIR"
        as_postgres "'$PG_BIN/initdb' -D '$PG_DIR' -U postgres --auth=trust" >/dev/null
    fi
    if pg_running; then
        log "postgresql already running"
        pg_check_settings
        return
    fi
    log "starting postgresql on 127.0.0.1:$PG_PORT (shared_buffers $PG_SHARED_BUFFERS)"
    as_postgres "'$PG_BIN/pg_ctl' -D '$PG_DIR' -l '$PG_LOG' -w -t 60 \
        -o '-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c synchronous_commit=on -c shared_buffers=$PG_SHARED_BUFFERS' start" >/dev/null
    log "postgresql up"
}

start_s3() {
    if s3_running; then
        log "s3rver already running"
        return
    fi
    log "starting s3rver on 127.0.0.1:$S3_PORT (bucket $S3_BUCKET)"
    mkdir -p "$S3_DIR/data"
    # Without this shell's other descriptors: started under `flock`, it would otherwise hold the services lock for good.
    (
        for fd in /proc/self/fd/*; do
            n=${fd##*/}
            [ "$n" -gt 2 ] && eval "exec $n>&-" 2>/dev/null
        done
        exec nohup "$S3_BIN" --directory "$S3_DIR/data" --address 127.0.0.1 --port "$S3_PORT" --configure-bucket "$S3_BUCKET" --silent \
            >"$S3_DIR/s3rver.log" 2>&1
    ) &
    echo $! >"$S3_DIR/s3rver.pid"
    local i
    for i in $(seq 1 60); do
        s3_running && { log "s3rver up"; return; }
        sleep 0.5
    done
    log "s3rver did not start; see $S3_DIR/s3rver.log"
    return 1
}

start() {
    if ! installed; then
        log "not everything is installed yet: installing first"
        install
    fi
    start_rabbit
    start_pg
    start_s3
}

stop() {
    if rabbit_running; then
        log "stopping rabbitmq"
        rabbitmqctl -q shutdown >/dev/null
    else
        log "rabbitmq not running"
    fi
    if pg_running; then
        log "stopping postgresql"
        as_postgres "'$PG_BIN/pg_ctl' -D '$PG_DIR' -m fast -w stop" >/dev/null
    else
        log "postgresql not running"
    fi
    if s3_running && [ -f "$S3_DIR/s3rver.pid" ]; then
        log "stopping s3rver"
        kill "$(cat "$S3_DIR/s3rver.pid")" 2>/dev/null || true
        rm -f "$S3_DIR/s3rver.pid"
    else
        log "s3rver not running"
    fi
}

status() {
    local rc=0
    if rabbit_running; then echo "rabbitmq: running (amqp://127.0.0.1:$RABBIT_PORT)"; else echo "rabbitmq: stopped"; rc=1; fi
    if pg_running; then echo "postgresql: running (127.0.0.1:$PG_PORT, data $PG_DIR)"; else echo "postgresql: stopped"; rc=1; fi
    if s3_running; then echo "s3rver: running (http://127.0.0.1:$S3_PORT, bucket $S3_BUCKET)"; else echo "s3rver: stopped"; rc=1; fi
    return $rc
}

env_lines() {
    echo "export SAGAS_TEST_RABBITMQ='amqp://guest:guest@127.0.0.1:$RABBIT_PORT/'"
    echo "export SAGAS_TEST_POSTGRES='Host=127.0.0.1;Port=$PG_PORT;Username=postgres'"
    # s3rver accepts its fixed key pair (S3RVER / S3RVER) and any region.
    echo "export SAGAS_TEST_S3='http://127.0.0.1:$S3_PORT/$S3_BUCKET'"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) env_lines ;;
    *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
