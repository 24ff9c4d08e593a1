#!/usr/bin/env bash
# Distributed mode on one machine: RabbitMQ + PostgreSQL (scripts/services.sh), the coordinator and the
# sample participants host as separate background processes. Logs go to .data/logs, pid files to .data/run.
#
#   scripts/run-distributed.sh [start]          build, start services, coordinator and participants
#   scripts/run-distributed.sh stop             stop the coordinator and participants started here
#   scripts/run-distributed.sh stop --services  ...and stop RabbitMQ and PostgreSQL as well
#   scripts/run-distributed.sh status           print what is running
#
# Overridable: SAGAS_URLS (default http://127.0.0.1:5080), SAGAS_PG_PORT (default 55432),
# SAGAS_DB_PREFIX (default sagas: databases sagas, sagas_inventory, sagas_payments, sagas_shipping),
# SAGAS_RABBITMQ_URI (default amqp://guest:guest@127.0.0.1:5672/), SAGAS_API_KEY (the Admin API key the
# coordinator is configured with; default: generated once into .data/run/api-key and reused).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

URLS="${SAGAS_URLS:-http://127.0.0.1:5080}"
PG_PORT="${SAGAS_PG_PORT:-55432}"
DB_PREFIX="${SAGAS_DB_PREFIX:-sagas}"
RABBITMQ_URI="${SAGAS_RABBITMQ_URI:-amqp://guest:guest@127.0.0.1:5672/}"
PG_BASE="Host=127.0.0.1;Port=$PG_PORT;Username=postgres"

LOG_DIR="$ROOT/.data/logs"
RUN_DIR="$ROOT/.data/run"
COORDINATOR_PID="$RUN_DIR/coordinator.pid"
PARTICIPANTS_PID="$RUN_DIR/participants.pid"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { echo "[run-distributed] $*" >&2; }

# A pid file holds the id of a process group this script started with setsid; "alive" means any member lives.
alive() {
    local file="$1"
    [ -f "$file" ] && kill -0 -- "-$(cat "$file")" 2>/dev/null
}

# Starts "$@" in its own session (so stop can end dotnet run and the app it launched together).
launch() {
    local name="$1" pid_file="$2"
    shift 2
    if alive "$pid_file"; then
        log "$name already running (process group $(cat "$pid_file"))"
        return
    fi
    log "starting $name (log: ${LOG_DIR#"$ROOT"/}/$name.log)"
    setsid "$@" >"$LOG_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$pid_file"
}

wait_ready() {
    local i
    for i in $(seq 1 90); do
        if curl -sf "$URLS/health/ready" >/dev/null 2>&1; then
            log "coordinator ready on $URLS"
            return 0
        fi
        if ! alive "$COORDINATOR_PID"; then
            log "coordinator exited; last lines of its log:"
            tail -n 30 "$LOG_DIR/coordinator.log" >&2
            return 1
        fi
        sleep 1
    done
    log "coordinator not ready after 90 s; see $LOG_DIR/coordinator.log"
    return 1
}

start() {
    mkdir -p "$LOG_DIR" "$RUN_DIR"
    "$ROOT/scripts/services.sh" install
    "$ROOT/scripts/services.sh" start

    log "dotnet build (coordinator, participants host)"
    dotnet build src/Coordinator -v quiet -nologo >/dev/null
    dotnet build src/Participants/Sagas.Samples.Host -v quiet -nologo >/dev/null

    # An Admin API key for this set-up, kept in .data/run (gitignored) so it survives restarts.
    local key_file="$RUN_DIR/api-key"
    if [ -z "${SAGAS_API_KEY:-}" ]; then
        [ -s "$key_file" ] || (umask 077; echo "sagas_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')" >"$key_file")
        SAGAS_API_KEY="$(cat "$key_file")"
    fi

    # The coordinator applies its migrations on start (Sagas:Database:MigrateOnStart, on by default),
    # creating the database if needed; the participants create theirs with EnsureCreated.
    launch coordinator "$COORDINATOR_PID" env \
        Sagas__Mode=Distributed \
        Sagas__Database__Provider=Postgres \
        "ConnectionStrings__Sagas=$PG_BASE;Database=$DB_PREFIX" \
        Sagas__Transport__Kind=RabbitMq \
        "Sagas__Transport__RabbitMqUri=$RABBITMQ_URI" \
        Sagas__Auth__ApiKeys__0__Name=run-distributed \
        "Sagas__Auth__ApiKeys__0__Key=$SAGAS_API_KEY" \
        Sagas__Auth__ApiKeys__0__Role=Admin \
        dotnet run --project src/Coordinator --no-build -- --urls "$URLS"

    launch participants "$PARTICIPANTS_PID" env \
        Samples__Provider=Postgres \
        "ConnectionStrings__Inventory=$PG_BASE;Database=${DB_PREFIX}_inventory" \
        "ConnectionStrings__Payments=$PG_BASE;Database=${DB_PREFIX}_payments" \
        "ConnectionStrings__Shipping=$PG_BASE;Database=${DB_PREFIX}_shipping" \
        Sagas__Transport__Kind=RabbitMq \
        "Sagas__Transport__RabbitMqUri=$RABBITMQ_URI" \
        dotnet run --project src/Participants/Sagas.Samples.Host --no-build -- --service all

    wait_ready
    cat <<EOF

Running. The Admin API key is in $key_file (or SAGAS_API_KEY). Start a saga:
  export SAGAS_API_KEY=\$(cat $key_file)
  curl -s -X POST $URLS/api/sagas -H "X-Api-Key: \$SAGAS_API_KEY" -H 'Content-Type: application/json' \\
    -d '{"definition":"order-fulfilment","data":{"orderId":"o-1","customerId":"c-1","sku":"sku-1","quantity":1,"amount":25.00,"country":"NL"}}'
Logs:  .data/logs/coordinator.log  .data/logs/participants.log
Stop:  scripts/run-distributed.sh stop            (add --services to stop RabbitMQ and PostgreSQL too)
EOF
}

stop_one() {
    local name="$1" pid_file="$2" pgid i
    if ! alive "$pid_file"; then
        log "$name not running"
        rm -f "$pid_file"
        return
    fi
    pgid="$(cat "$pid_file")"
    log "stopping $name (process group $pgid)"
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for i in $(seq 1 30); do
        kill -0 -- "-$pgid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 -- "-$pgid" 2>/dev/null; then
        log "$name still running after 30 s; killing"
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
}

stop() {
    stop_one participants "$PARTICIPANTS_PID"
    stop_one coordinator "$COORDINATOR_PID"
    if [ "${1:-}" = "--services" ]; then
        "$ROOT/scripts/services.sh" stop
    else
        log "RabbitMQ and PostgreSQL left running (scripts/services.sh stop, or: $0 stop --services)"
    fi
}

status() {
    local rc=0
    if alive "$COORDINATOR_PID"; then echo "coordinator: running (process group $(cat "$COORDINATOR_PID"), $URLS)"; else echo "coordinator: stopped"; rc=1; fi
    if alive "$PARTICIPANTS_PID"; then echo "participants: running (process group $(cat "$PARTICIPANTS_PID"))"; else echo "participants: stopped"; rc=1; fi
    "$ROOT/scripts/services.sh" status || rc=1
    return $rc
}

case "${1:-start}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    status) status ;;
    *) echo "usage: $0 [start] | stop [--services] | status" >&2; exit 2 ;;
esac
