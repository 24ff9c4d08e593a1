#!/usr/bin/env bash
# Full test run as CI does it: local RabbitMQ + PostgreSQL, restore, build, test, summary.
#
#   scripts/test.sh [--format] [--no-services] [-- extra dotnet test args]
#   scripts/test.sh --filter "FullyQualifiedName~Coordinator"     (args not known here go to dotnet test)
#
#   --format        also run `dotnet format --verify-no-changes` and fail on differences
#                   (without it, format is checked anyway but only warns)
#   --no-services   do not install/start RabbitMQ and PostgreSQL (use already exported SAGAS_TEST_*)
#
# Env: SAGAS_SOLUTION (default Sagas.sln), SAGAS_RESULTS (default artifacts/test-results).
# The last line printed is always `tests: N passed, N failed, N skipped` once tests ran.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

SOLUTION="${SAGAS_SOLUTION:-Sagas.sln}"
RESULTS="${SAGAS_RESULTS:-artifacts/test-results}"
FORMAT_STRICT=0
SERVICES=1
TEST_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --format) FORMAT_STRICT=1 ;;
        --no-services) SERVICES=0 ;;
        --) shift; TEST_ARGS+=("$@"); break ;;
        *) TEST_ARGS+=("$1") ;;
    esac
    shift
done

step() { echo "==> $*"; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
command -v dotnet >/dev/null || { echo "dotnet SDK not found on PATH" >&2; exit 1; }

if [ "$SERVICES" = 1 ]; then
    step "services: install + start"
    "$ROOT/scripts/services.sh" install
    "$ROOT/scripts/services.sh" start
    eval "$("$ROOT/scripts/services.sh" env)"
fi
echo "SAGAS_TEST_RABBITMQ=${SAGAS_TEST_RABBITMQ:-<unset>}"
echo "SAGAS_TEST_POSTGRES=${SAGAS_TEST_POSTGRES:-<unset>}"
echo "SAGAS_TEST_S3=${SAGAS_TEST_S3:-<unset>}"

# The browser tests (tests/Sagas.Tests.Browser) drive Debian's chromium through Playwright; no browser is downloaded.
if [ ! -x /usr/bin/chromium ]; then
    step "install chromium (browser tests)"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq chromium >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }
    else
        echo "WARNING: /usr/bin/chromium is missing and cannot be installed here (needs root and apt); the browser tests will fail" >&2
    fi
fi

step "dotnet restore $SOLUTION"
dotnet restore "$SOLUTION" -v minimal

step "dotnet build $SOLUTION -c Release"
dotnet build "$SOLUTION" -c Release --no-restore -v minimal

# Format differences never stop the tests; with --format they fail the run at the end.
step "dotnet format --verify-no-changes"
format_failed=0
if ! dotnet format "$SOLUTION" --verify-no-changes --no-restore -v quiet; then
    if [ "$FORMAT_STRICT" = 1 ]; then
        format_failed=1
        echo "dotnet format found differences (run: dotnet format $SOLUTION)" >&2
    else
        echo "WARNING: dotnet format found differences (run: dotnet format $SOLUTION); use --format to make this fatal" >&2
    fi
fi

step "dotnet test $SOLUTION -c Release ${TEST_ARGS[*]:-}"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
test_rc=0
dotnet test "$SOLUTION" -c Release --no-build \
    --logger "trx;LogFilePrefix=r" --results-directory "$RESULTS" \
    ${TEST_ARGS[@]+"${TEST_ARGS[@]}"} || test_rc=$?

# The integration tests each create databases of their own; drop them (and any an interrupted run left), or they pile up
# run after run and PostgreSQL's autovacuum keeps visiting every one of them. Only on this script's own PostgreSQL
# (started here, or the one `scripts/services.sh env` points at with --no-services), never on another server.
if [ "$SERVICES" = 1 ] || [ "${SAGAS_TEST_POSTGRES:-}" = "Host=127.0.0.1;Port=${SAGAS_PG_PORT:-55432};Username=postgres" ]; then
    for database in $(psql -h 127.0.0.1 -p "${SAGAS_PG_PORT:-55432}" -U postgres -Atc \
            "SELECT datname FROM pg_database WHERE datname ~ '^sagas_(it|crash|cc|otel|test)_'" 2>/dev/null || true); do
        psql -h 127.0.0.1 -p "${SAGAS_PG_PORT:-55432}" -U postgres -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
fi

if [ -x "$ROOT/scripts/chaos-short.sh" ] && [ "$test_rc" = 0 ]; then
    step "short chaos run"
    # Vhosts left by an interrupted test run make every RabbitMQ restart in the chaos run recover their queues.
    for vhost in $(rabbitmqctl -q list_vhosts 2>/dev/null | grep -E '^sagas-(it|crash|otel)_' || true); do
        rabbitmqctl -q delete_vhost "$vhost" </dev/null >/dev/null 2>&1 || true
    done
    "$ROOT/scripts/chaos-short.sh" || test_rc=$?
fi

echo "services left running; stop them with: scripts/services.sh stop"

# Sum the <Counters .../> of every TRX file. VSTest leaves notExecuted at 0 for xunit's [Fact(Skip=..)]
# and only lowers `executed`, so skipped = total - executed.
summary="$(python3 - "$RESULTS" <<'EOF'
import glob, os, sys
import xml.etree.ElementTree as ET
ns = "{http://microsoft.com/schemas/VisualStudio/TeamTest/2010}"
tot = {"total": 0, "executed": 0, "passed": 0, "failed": 0, "notExecuted": 0,
       "error": 0, "timeout": 0, "aborted": 0}
files = glob.glob(os.path.join(sys.argv[1], "**", "*.trx"), recursive=True)
for f in files:
    c = ET.parse(f).getroot().find(f"{ns}ResultSummary/{ns}Counters")
    if c is None:
        continue
    for k in tot:
        tot[k] += int(c.get(k, "0"))
failed = tot["failed"] + tot["error"] + tot["timeout"] + tot["aborted"]
skipped = max(tot["total"] - tot["executed"], tot["notExecuted"])
print(f"{len(files)} {tot['executed']} {tot['passed']} {failed} {skipped}")
EOF
)"
read -r trx_files executed passed failed skipped <<<"$summary"

rc=0
if [ "$test_rc" != 0 ]; then echo "dotnet test (or chaos run) exited with $test_rc" >&2; rc=1; fi
if [ "$trx_files" = 0 ]; then echo "no TRX files in $RESULTS" >&2; rc=1; fi
if [ "$failed" != 0 ]; then echo "$failed test(s) failed" >&2; rc=1; fi
if [ "$executed" = 0 ]; then echo "zero tests executed" >&2; rc=1; fi
if [ "$format_failed" = 1 ]; then echo "dotnet format check failed (--format)" >&2; rc=1; fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $rc
