#!/usr/bin/env bash
# The load harness: builds the server and the harness with --release, then runs mps-bench, which
# seeds its own database (mps_bench), starts the server on a free port, measures, and writes
# target/bench/summary.json and target/bench/summary.md (the table is printed too).
#
# Usage: scripts/bench.sh [--quick] [mps-bench options…]
#   --quick   a few seconds per scenario (about 3 minutes once the release build exists)
#   (none)    the full run recorded in docs/benchmarks.md, with the volume scenario (issue 15:
#             10M transactions seeded into a copy of the small data set, the payment pair
#             alternating between the two; scale it with
#             --volume-transactions/--volume-members/--volume-merchants; not in CI), run on a
#             PostgreSQL of the harness' own with the settings docs/operations.md recommends
#             (--private-postgres: data directory under target/, removed afterwards)
#   target/release/mps-bench --help lists the rest (concurrency, scenarios, --server-env NAME=VALUE).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

"$ROOT/scripts/ensure-services.sh" >&2
ensure_commands pgbench:postgresql-client redis-server:redis-server
cargo build --release --bins --quiet
volume=(--volume --private-postgres)
for arg in "$@"; do
    case "$arg" in --quick | --volume) volume=() ;; esac
done
exec "$ROOT/target/release/mps-bench" "${volume[@]}" "$@"
