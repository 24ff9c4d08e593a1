#!/usr/bin/env bash
# The short chaos run for CI (scripts/test.sh runs it after the tests pass): every fault kind once,
# 60 sagas over 20 s, fixed seed. Under two minutes on the 2-core machine. Same output and exit code as chaos.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# test.sh has just built Release; skip the second build unless asked for.
export SAGAS_CHAOS_NO_BUILD="${SAGAS_CHAOS_NO_BUILD:-1}"
exec scripts/chaos.sh --sagas 60 --duration 20 --seed 7 --drain 60 "$@"
