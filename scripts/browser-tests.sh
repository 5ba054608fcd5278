#!/usr/bin/env bash
# The web console in a real browser: Debian's headless Chromium driven by Playwright for Python
# (tests/browser/), against the built `mps` serving on a free loopback port with its own database
# (mps_browser_<pid> on the local PostgreSQL, dropped afterwards) and Redis key prefix.
#
# Installs what it needs when missing (idempotent): chromium and chromium-driver (apt, as root),
# and the pinned Python packages of tests/browser/requirements.txt in target/browser-tests/venv.
# Playwright never downloads a browser: the tests launch /usr/bin/chromium.
#
# Usage: scripts/browser-tests.sh [--update-screenshots] [tests/browser/FILE.py...] [PYTEST-ARGS...]
#   --update-screenshots   copy the README's screenshots from this run into docs/screenshots/
#   e.g. scripts/browser-tests.sh tests/browser/test_till.py -k refund
# Screenshots (phone 390×844 and desktop 1280×800) go to target/console-screenshots/, the server's
# log and the JUnit report to target/browser-tests/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

update_screenshots=false
pytest_args=()
tests=()
for arg in "$@"; do
    case "$arg" in
        --update-screenshots) update_screenshots=true ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        tests/*) tests+=("$arg") ;;
        *) pytest_args+=("$arg") ;;
    esac
done
((${#tests[@]})) || tests=(tests/browser)
say() { echo "browser-tests: $*"; }
started=$SECONDS

# ---- tools ----------------------------------------------------------------------------------------
[ -x /usr/bin/chromium ] || apt_install chromium chromium-driver
ensure_commands chromedriver:chromium-driver curl:curl psql:postgresql-client redis-cli:redis-tools
OUT=$ROOT/target/browser-tests
VENV=$OUT/venv
mkdir -p "$OUT"
# A venv copied or moved with target/ points at an interpreter path that may be gone: rebuild it.
if ! venv_made_here "$VENV"; then
    rm -rf "$VENV"
    python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$VENV"; }
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/browser/requirements.txt

# ---- server ---------------------------------------------------------------------------------------
cargo build --locked -q --bin mps
BIN=$ROOT/target/debug/mps
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DB=mps_browser_$$
PG_SERVER=${BROWSER_PG_SERVER:-postgres://postgres@127.0.0.1:5432}
REDIS=${BROWSER_REDIS_URL:-redis://127.0.0.1:6379}
PREFIX="mps:browser:$$:"
PASSWORD=browser-password-1
# QR codes live the API's minimum (60 s), so the renewal test sees a real short-lived code.
export APP_ENV=testing DATABASE_URL=$PG_SERVER/$DB REDIS_URL=$REDIS REDIS_KEY_PREFIX=$PREFIX \
    JWT_SECRET=browser-tests-jwt-signing-key-0123456789abc API_HOST=127.0.0.1 API_PORT=$PORT \
    RATE_LIMIT_REQUESTS=100000 LOGIN_RATE_LIMIT=1000 LOGIN_IP_RATE_LIMIT=100000 QR_TTL_DEFAULT=60 \
    SETTLEMENT_MARGIN_SECONDS=60 LOG_LEVEL=warn LOG_FORMAT=json

server_pid=
# shellcheck disable=SC2317  # called by the EXIT trap below
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    pg_drop_db "$DATABASE_URL" >/dev/null 2>&1 || true
    redis_del_prefix "$REDIS" "$PREFIX" 2>/dev/null || true
}
trap cleanup EXIT

MPS_ADMIN_PASSWORD=$PASSWORD "$BIN" create-admin --email admin@example.com --name "Back Office" >/dev/null
"$BIN" serve >"$OUT/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { tail -n 20 "$OUT/server.log" >&2; exit 1; }
    sleep 0.25
done
say "serving http://127.0.0.1:$PORT/console/ (database $DB)"

# ---- tests ----------------------------------------------------------------------------------------
SHOTS=$ROOT/target/console-screenshots
rm -rf "$SHOTS"
status=0
MPS_BROWSER_BASE_URL=http://127.0.0.1:$PORT MPS_BROWSER_ADMIN_EMAIL=admin@example.com MPS_BROWSER_PASSWORD=$PASSWORD \
    MPS_CHROMIUM=/usr/bin/chromium MPS_SCREENSHOTS=$SHOTS \
    "$VENV/bin/python" -m pytest "${tests[@]}" -p no:cacheprovider -v --junitxml="$OUT/junit.xml" "${pytest_args[@]}" \
    || status=$?
if grep -q '"level":"ERROR"' "$OUT/server.log"; then
    say "the server logged errors:"
    grep '"level":"ERROR"' "$OUT/server.log" | head -n 20
    status=1
fi
if $update_screenshots && [ "$status" = 0 ]; then
    # The README shows these; the rest (index, audit log) stay artifacts of the run.
    mkdir -p docs/screenshots
    for page in pos member admin-statistics admin-card; do
        cp "$SHOTS/$page-phone.png" "$SHOTS/$page-desktop.png" docs/screenshots/
    done
    say "copied the README's screenshots to docs/screenshots/"
fi
say "$(find "$SHOTS" -maxdepth 1 -name '*.png' | wc -l) screenshots in $SHOTS; $((SECONDS - started)) s in all"
exit "$status"
