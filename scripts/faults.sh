#!/usr/bin/env bash
# The fault suite (docs/reliability.md): the built `mps` binary against its own PostgreSQL and
# Redis (started in a scratch directory on free loopback ports, stopped afterwards; the shared
# services on 5432/6379 are never touched), under concurrent charge/refund/recharge load, with
# kill -9 of the server, PostgreSQL stopped, Redis stopped and SIGTERM injected one at a time; and,
# past one machine (issue 21), a PostgreSQL primary failed over to its synchronous standby behind a
# repointable proxy, and a Redis Cluster (3 masters + 3 replicas) losing a master.
# After each scenario the books are checked (crates/test-support/invariants.sql and the clients' ledger).
#
# Usage: scripts/faults.sh [--ci] [TEST-NAME-FILTER]
#   --ci   the bounded set for CI (4 clients, 2 faults per scenario, about 2 minutes)
#   default: the longer run (8 clients, 5 faults per scenario)
# FAULTS_CLIENTS, FAULTS_ROUNDS, FAULTS_PAUSE_MS and FAULTS_MAX_REQUESTS override either.
# FAULTS_PORTS (default 21000): first of the loopback ports the multi-process topologies use
# (base + 200 … base + 320, Redis Cluster bus ports included).
# The report of the run is written to target/faults/report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ci=false
filter=()
for arg in "$@"; do
    case "$arg" in
        --ci) ci=true ;;
        -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
        *) filter+=("$arg") ;;
    esac
done

if $ci; then
    : "${FAULTS_CLIENTS:=4}" "${FAULTS_ROUNDS:=2}" "${FAULTS_PAUSE_MS:=1500}" "${FAULTS_MAX_REQUESTS:=8000}"
else
    : "${FAULTS_CLIENTS:=8}" "${FAULTS_ROUNDS:=5}" "${FAULTS_PAUSE_MS:=2500}" "${FAULTS_MAX_REQUESTS:=60000}"
fi
export FAULTS_CLIENTS FAULTS_ROUNDS FAULTS_PAUSE_MS FAULTS_MAX_REQUESTS
export MPS_TEST_PORT_BASE="${FAULTS_PORTS:-21000}"

# Our own PostgreSQL and Redis need their server binaries (not their running services).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${MPS_PG_BIN:-}" ] || apt_install postgresql
ensure_commands redis-server:redis-server redis-cli:redis-tools runuser:util-linux nginx:nginx

mkdir -p target/faults
report=$PWD/target/faults/report.md
{
    echo "# Fault suite run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "clients $FAULTS_CLIENTS, faults per scenario $FAULTS_ROUNDS, pause ${FAULTS_PAUSE_MS} ms, request budget $FAULTS_MAX_REQUESTS per scenario"
    echo
} >"$report"
export FAULTS_REPORT=$report

started=$(date +%s)
status=0
cargo test --locked --test faults -- --ignored --test-threads=1 --nocapture "${filter[@]}" || status=$?
echo
echo "fault suite: $(($(date +%s) - started)) s; report: $report"
cat "$report"
exit "$status"
