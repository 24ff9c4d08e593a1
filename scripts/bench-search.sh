#!/usr/bin/env bash
# Search benchmark: loads N sagas (default 1,000,000) into a dedicated PostgreSQL database
# (sagas_bench_search), runs the real coordinator (Release build) against it on loopback and measures
# GET /api/sagas and GET /api/compensations latency per query shape, with EXPLAIN (ANALYZE, BUFFERS).
# Results: docs/benchmarks.md, "Search with a million sagas".
#
#   scripts/bench-search.sh                     1,000,000 sagas, 200 timed requests per shape
#   scripts/bench-search.sh --sagas 50000       quick check
#   scripts/bench-search.sh --keep              keep the database afterwards (default: dropped)
#   scripts/bench-search.sh --keep --reuse      re-run against the kept database without loading again
#   other options: --requests N --warmup N --seed N --database NAME
#
# Needs PostgreSQL from scripts/services.sh (started here if it is not running). Output is also written to
# .data/bench/search-<time>.log; the last line is RESULT {json}.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if ! scripts/services.sh status >/dev/null 2>&1; then
    scripts/services.sh start
fi
eval "$(scripts/services.sh env)"

echo "[bench-search] building (Release)" >&2
dotnet build src/Coordinator/Sagas.Coordinator.csproj -c Release -nologo -v q
dotnet build bench/search/Sagas.Bench.Search.csproj -c Release -nologo -v q

mkdir -p .data/bench
log=".data/bench/search-$(date -u +%Y%m%dT%H%M%SZ).log"
echo "[bench-search] log: $log" >&2
dotnet bench/search/bin/Release/net10.0/Sagas.Bench.Search.dll \
    --coordinator src/Coordinator/bin/Release/net10.0/Sagas.Coordinator.dll "$@" 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
