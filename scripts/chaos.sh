#!/usr/bin/env bash
# Chaos run of the distributed mode on loopback: RabbitMQ + PostgreSQL (scripts/services.sh), two
# coordinator instances and the three sample participants as real processes, a seeded stream of
# order-fulfilment sagas, faults at random instants (SIGKILL, broker and database outages, duplicates,
# replays, poison messages), a drain, then the ledger oracle. Stops by itself.
#
#   scripts/chaos.sh [--sagas N] [--duration SECONDS] [--seed S] [--faults all|none|k1,k2] [--no-fault k]
#                    [--coordinators N] [--drain SECONDS] [--timeout SECONDS] [--keep] [--max-failed N]
#   e.g. scripts/chaos.sh --sagas 300 --duration 60 --seed 1
#
# Env: SAGAS_CHAOS_NO_BUILD=1 skips the build (CI builds once before).
# The last line is `chaos: sagas=N completed=A compensated=B failed=C lost=L inconsistent=I double_effects=D poison_crashes=P`;
# the exit code is 0 only if L, I, D and P are 0, C is at most --max-failed (default 0) and every saga is terminal.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [ "${SAGAS_CHAOS_NO_BUILD:-0}" != 1 ]; then
    echo "==> dotnet build Sagas.sln -c Release" >&2
    dotnet build Sagas.sln -c Release -v quiet -nologo >&2
fi

scripts/services.sh install >&2
scripts/services.sh start >&2

exec dotnet tests/Sagas.Chaos/bin/Release/net10.0/Sagas.Chaos.dll "$@"
