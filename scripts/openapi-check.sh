#!/usr/bin/env bash
# Proves /openapi.json the way its users do (issue 13 §6): a debug `mps` serves on a free loopback
# port with its own database (mps_openapi_<pid>, dropped afterwards) and Redis key prefix; its
# document is saved to target/openapi/openapi.json, then
#   1. openapi-spec-validator          validates it (OpenAPI 3.1)
#   2. redocly lint, recommended rules  0 errors (warnings are printed, not fatal)
#   3. openapi-python-client           generates a Python client
#   4. openapi-typescript              generates TypeScript types, compiled with openapi-fetch by tsc
#   5. the README's walk-through        runs through that TypeScript client against the live server
#                                       (admin creates member and merchant, credit, QR, charge,
#                                       refund, card list: balance 80.00 and 20 points)
# Every tool is pinned: Python ones in scripts/openapi-check.requirements.txt (a venv under
# target/), npm ones in clients/typescript/package-lock.json (npm ci). The server, its database
# and its Redis keys are removed whatever happens.
#
# Usage: scripts/openapi-check.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

case "${1:-}" in
    "") ;;
    *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
say() { echo "openapi-check: $*"; }
OUT=$ROOT/target/openapi
mkdir -p "$OUT"

# ---- tools (pinned) -------------------------------------------------------------------------------
ensure_commands curl:curl psql:postgresql-client redis-cli:redis-tools node:nodejs npm:npm
VENV=$ROOT/target/openapi-venv
REQUIREMENTS=$ROOT/scripts/openapi-check.requirements.txt
# A venv copied or moved with target/ points at an interpreter path that may be gone: rebuild it.
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt" 2>/dev/null || ! venv_made_here "$VENV"; then
    say "installing $(tr '\n' ' ' <"$REQUIREMENTS")into $VENV"
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi
CLIENT=$ROOT/clients/typescript
(cd "$CLIENT" && npm ci --no-audit --no-fund --loglevel=error)

# ---- server ---------------------------------------------------------------------------------------
cargo build --locked -q --bin mps
BIN=$ROOT/target/debug/mps
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
API=http://127.0.0.1:$PORT
PG_SERVER=${OPENAPI_PG_SERVER:-postgres://postgres@127.0.0.1:5432}
DB=mps_openapi_$$
REDIS=${OPENAPI_REDIS_URL:-redis://127.0.0.1:6379}
PREFIX="mps:openapi:$$:"
ADMIN_EMAIL=admin@example.com
ADMIN_PASSWORD=admin-password-1
export APP_ENV=testing DATABASE_URL=$PG_SERVER/$DB REDIS_URL=$REDIS REDIS_KEY_PREFIX=$PREFIX \
    JWT_SECRET=openapi-check-jwt-signing-key-0123456789ab API_HOST=127.0.0.1 API_PORT=$PORT \
    LOG_LEVEL=warn LOG_FORMAT=json

server_pid=
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    pg_drop_db "$DATABASE_URL" >/dev/null 2>&1 || true
    redis_del_prefix "$REDIS" "$PREFIX" 2>/dev/null || true
}
trap cleanup EXIT

MPS_ADMIN_PASSWORD=$ADMIN_PASSWORD "$BIN" create-admin --email "$ADMIN_EMAIL" --name Admin >/dev/null
"$BIN" serve >"$OUT/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
    curl -fs "$API/ready" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { tail -n 20 "$OUT/server.log" >&2; exit 1; }
    sleep 0.25
done
curl -fsS "$API/openapi.json" -o "$OUT/openapi.json"
say "saved $OUT/openapi.json from $API (database $DB)"

# ---- the document ---------------------------------------------------------------------------------
say "1. openapi-spec-validator"
"$VENV/bin/openapi-spec-validator" "$OUT/openapi.json"

say "2. redocly lint (recommended rules)"
# Node 20 gets a deprecation banner from this Redocly release; the lint itself runs.
(cd "$CLIENT" && npx --no-install redocly lint --config redocly.yaml "$OUT/openapi.json" --format=summary)

say "3. openapi-python-client generate"
rm -rf "$OUT/python-client"
printf 'post_hooks: []\n' >"$OUT/python-client.yaml"
"$VENV/bin/openapi-python-client" generate --path "$OUT/openapi.json" --output-path "$OUT/python-client" \
    --config "$OUT/python-client.yaml" --meta none --fail-on-warning

say "4. openapi-typescript + openapi-fetch, compiled with tsc"
(cd "$CLIENT" && npx --no-install openapi-typescript "$OUT/openapi.json" -o src/schema.ts \
    && rm -rf dist && npx --no-install tsc -p tsconfig.json)

say "5. the README's walk-through through the TypeScript client"
(cd "$CLIENT" && MPS_API=$API MPS_ADMIN_EMAIL=$ADMIN_EMAIL MPS_ADMIN_PASSWORD=$ADMIN_PASSWORD node dist/walkthrough.js)

if grep -q '"level":"ERROR"' "$OUT/server.log"; then
    echo "---- server errors logged during the check:"
    grep '"level":"ERROR"' "$OUT/server.log" | head -n 20
    exit 1
fi
say "all checks passed"
