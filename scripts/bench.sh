#!/usr/bin/env bash
# Saga throughput benchmark (issue 8): the same three-step order-fulfilment workload on ours (distributed mode)
# and on the peers (MassTransit state machine with the in-memory repository, MassTransit Courier, Wolverine
# with PostgreSQL durability), plus the limits (pgbench, raw RabbitMQ), one after the other on this machine.
# Systems: ours (participants doing one INSERT per step, as the peers' do), inmemory, courier, wolverine, pgbench,
# rabbitmq, ours-samples (ours with the sample participants, which also update a stock or balance row).
# Results and method: docs/benchmarks.md, "Saga throughput against peers and limits".
#
#   scripts/bench.sh                       full run (closed loop at 8, 32, 128; open loop at half of ours' peak;
#                                          10,000 sagas in flight for the coordinator's memory); about 15 minutes
#   scripts/bench.sh --quick               the same in under 3 minutes (shorter phases, 32 and 128, 2,000 in flight;
#                                          ours-samples only when named in --systems)
#   scripts/bench.sh --systems ours,inmemory --concurrency 16,64 --duration 30
#   scripts/bench.sh --help                this text
#   other options: --warmup S --phase-warmup S --open-duration S --rate N --in-flight N --keep --prefix NAME
#   --coordinator-env KEY=VALUE   extra environment for ours' coordinator (repeatable)
#   --participants-env KEY=VALUE  extra environment for ours' participants host (repeatable)
#   --log-coordinator-sql         PostgreSQL logs every statement on ours' coordinator database (see its server log)
#   --no-lock      do not take /tmp/sagas-services.lock (a lock held only by PostgreSQL/RabbitMQ processes, which
#                  inherited it from a command run under flock, is detected as stuck and skipped anyway)
#
# Needs RabbitMQ and PostgreSQL from scripts/services.sh (started here if not running); uses its own vhost
# and databases (bench<pid>, bench<pid>_*; --prefix NAME to choose), dropped at the end unless --keep, so two runs
# never share them. Each system's turn holds
# /tmp/sagas-services.lock (flock, as `flock /tmp/sagas-services.lock ...` does), so no other heavy user of the
# shared services runs meanwhile and no single hold lasts more than a few minutes. Not part of scripts/test.sh.
# Output is also written to .data/bench/sagas-<time>.log; the last line is RESULT {json}.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
value=0
for arg in "$@"; do
    # An option's value (--prefix -h) is not a request for help. The options that take a value are BenchOptions.Parse's
    # (bench/throughput/BenchOptions.cs): keep the list below in step with it.
    if (( value )); then
        value=0
        continue
    fi
    case "$arg" in
        -h|--help)
            # The usage is this file's opening comment.
            sed -n '2,/^set -euo/p' scripts/bench.sh | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        --systems|--concurrency|--warmup|--phase-warmup|--duration|--open-duration|--in-flight|--postgres|--prefix|\
        --coordinator|--participants|--pgbench|--logs|--rate|--coordinator-env|--participants-env)
            value=1
            ;;
    esac
done
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# A failing status may be another run (chaos) stopping a service on purpose: look again, and start, only under
# the lock. flock -o: the broker and database started here must not inherit (and hold forever) the lock.
if ! scripts/services.sh status >/dev/null 2>&1; then
    flock -o /tmp/sagas-services.lock bash -c 'scripts/services.sh status >/dev/null 2>&1 || scripts/services.sh start'
fi
eval "$(scripts/services.sh env)"

echo "[bench] building (Release)" >&2
dotnet build src/Coordinator/Sagas.Coordinator.csproj -c Release -nologo -v q >/dev/null
dotnet build src/Participants/Sagas.Samples.Host/Sagas.Samples.Host.csproj -c Release -nologo -v q >/dev/null
dotnet build bench/throughput/Sagas.Bench.Throughput.csproj -c Release -nologo -v q >/dev/null

mkdir -p .data/bench
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
log=".data/bench/sagas-$stamp.log"
echo "[bench] log: $log (system logs: .data/bench/logs-$stamp)" >&2
dotnet bench/throughput/bin/Release/net10.0/Sagas.Bench.Throughput.dll \
    --coordinator src/Coordinator/bin/Release/net10.0/Sagas.Coordinator.dll \
    --participants src/Participants/Sagas.Samples.Host/bin/Release/net10.0/Sagas.Samples.Host.dll \
    --logs ".data/bench/logs-$stamp" "$@" 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
