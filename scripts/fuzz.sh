#!/usr/bin/env bash
# Contract fuzzing (docs/reliability.md): schemathesis generates requests from /openapi.json and
# checks every response against the document — no 5xx, only documented statuses, bodies that
# validate against their schemas, documented content types.
#
# A debug `mps` serves on a free loopback port with its own database (mps_fuzz_<pid> on the local
# PostgreSQL, dropped afterwards) and Redis key prefix, seeded through the API: an admin, a
# member with a credited card, a merchant. Then one run per caller:
#   public    /health /ready /metrics /levels /auth/login /webhooks   no token
#   member    /member/* /auth/me /transactions/*                      a member's token
#   merchant  /merchant/* /auth/me /transactions/*                    a merchant's token
#   admin     /admin/* /auth/me /transactions/*                       an admin's token
#   known-*   the GET operations of each role again, with the seeded ids in their paths
#   session   /auth/logout /auth/password, once per role              throwaway tokens (these
#             endpoints end or change the caller's session, so they never get a shared token)
# The admin runs come last: the stateful phase follows ids found in list answers, so they may
# suspend the seeded accounts or reset their passwords.
#
# Usage: scripts/fuzz.sh [--ci]
#   --ci   fixed seed, 20 examples per operation (a few minutes)
#   default: fixed seed, 200 examples per operation (FUZZ_EXAMPLES, FUZZ_SEED override)
# Logs and JUnit reports go to target/fuzz/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ci=false
for arg in "$@"; do
    case "$arg" in
        --ci) ci=true ;;
        -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "fuzz: unknown argument $arg" >&2; exit 2 ;;
    esac
done
if $ci; then examples=${FUZZ_EXAMPLES:-20}; else examples=${FUZZ_EXAMPLES:-200}; fi
seed=${FUZZ_SEED:-20240917}
say() { echo "fuzz: $*"; }

# ---- tools ----------------------------------------------------------------------------------------
if ! command -v schemathesis >/dev/null 2>&1 && ! python3 -m schemathesis.cli --version >/dev/null 2>&1; then
    say "installing schemathesis"
    python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    python3 -m pip install -q 'schemathesis>=4,<5' 2>/dev/null \
        || python3 -m pip install -q --break-system-packages 'schemathesis>=4,<5'
    hash -r
fi
# The command, or the module when pip put the command where PATH does not look.
if command -v schemathesis >/dev/null 2>&1; then ST=(schemathesis); else ST=(python3 -m schemathesis.cli); fi
"${ST[@]}" --version >/dev/null || { echo "fuzz: schemathesis does not run after installing it" >&2; exit 1; }
ensure_commands curl:curl psql:postgresql-client

# ---- server ---------------------------------------------------------------------------------------
cargo build --locked -q --bin mps
BIN=$ROOT/target/debug/mps
OUT=$ROOT/target/fuzz
mkdir -p "$OUT"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
API=http://127.0.0.1:$PORT
DB=mps_fuzz_$$
PG_SERVER=${FUZZ_PG_SERVER:-postgres://postgres@127.0.0.1:5432}
REDIS=${FUZZ_REDIS_URL:-redis://127.0.0.1:6379}
PREFIX="mps:fuzz:$$:"
PASSWORD=fuzz-password-1

export APP_ENV=testing DATABASE_URL=$PG_SERVER/$DB REDIS_URL=$REDIS REDIS_KEY_PREFIX=$PREFIX \
    JWT_SECRET=fuzzing-jwt-signing-key-0123456789abcdefgh API_HOST=127.0.0.1 API_PORT=$PORT \
    RATE_LIMIT_REQUESTS=10000000 LOGIN_RATE_LIMIT=1000000 LOGIN_IP_RATE_LIMIT=10000000 \
    PAYMENT_WEBHOOK_SECRET=fuzzing-webhook-signing-key-0123456789 REQUEST_TIMEOUT_SECONDS=10 \
    WEBHOOK_SECRET_KEY=66757a7a696e672d776562686f6f6b2d7365616c696e672d6b65792d30303031 WEBHOOK_WORKER=false \
    LOG_LEVEL=warn LOG_FORMAT=json

server_pid=
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    if command -v redis-cli >/dev/null 2>&1; then
        redis-cli -u "$REDIS" --scan --pattern "${PREFIX}*" 2>/dev/null | xargs -r redis-cli -u "$REDIS" del >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

MPS_ADMIN_PASSWORD=$PASSWORD "$BIN" create-admin --email fuzz@example.com --name Fuzz >/dev/null
"$BIN" serve >"$OUT/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
    curl -fs "$API/ready" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { tail -n 20 "$OUT/server.log" >&2; exit 1; }
    sleep 0.25
done

# ---- seed through the API ---------------------------------------------------------------------------
json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
post() { # post PATH TOKEN BODY [IDEMPOTENCY-KEY]
    local headers=(-H 'content-type: application/json')
    [ -z "$2" ] || headers+=(-H "authorization: Bearer $2")
    [ -z "${4:-}" ] || headers+=(-H "idempotency-key: $4")
    curl -fsS "$API$1" "${headers[@]}" -d "$3"
}
login() { post /auth/login "" "{\"role\":\"$1\",\"identifier\":\"$2\",\"password\":\"$PASSWORD\"}" | json "['token']"; }

ADMIN=$(login admin fuzz@example.com)
CREATED=$(post /admin/members "$ADMIN" "{\"name\":\"Fuzz Member\",\"phone\":\"13900000001\",\"password\":\"$PASSWORD\"}")
CARD=$(json "['card']['id']" <<<"$CREATED")
MEMBER_ID=$(json "['member']['id']" <<<"$CREATED")
post /admin/merchants "$ADMIN" "{\"code\":\"FUZZ1\",\"name\":\"Fuzz Shop\",\"password\":\"$PASSWORD\"}" >/dev/null
post "/admin/cards/$CARD/recharge" "$ADMIN" '{"amount":"1000.00"}' "seed-credit" >/dev/null
MEMBER=$(login member 13900000001)
MERCHANT=$(login merchant FUZZ1)
# One payment, so transaction and refund endpoints have something real to find.
QR=$(post /member/qr "$MEMBER" "{\"card_id\":\"$CARD\"}" | json "['qr_plain']")
TX=$(post /merchant/charge "$MERCHANT" "{\"qr_plain\":\"$QR\",\"amount\":\"10.00\"}" "seed-charge" | json "['transaction']['tx_no']")
# The "known ids" runs use these for path parameters, so lookups reach real rows (and their 200
# bodies get checked against the schema) instead of mostly answering 404.
cat >"$OUT/known-ids.toml" <<EOF
[parameters]
card_id = "$CARD"
id = "$CARD"
id_or_no = "$MEMBER_ID"
id_or_code = "FUZZ1"
tx_no = "$TX"
EOF
say "serving $API (database $DB); $examples examples per operation, seed $seed"

# ---- runs -----------------------------------------------------------------------------------------
CHECKS=not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance
# One worker: with several, hypothesis (describing its filters) parses Python source from threads,
# which CPython 3.11 can fail at ("AST constructor recursion depth mismatch"), an error of the tool.
failed=()
summary=()
fuzz() { # fuzz NAME PATH-REGEX TOKEN [SCHEMATHESIS-RUN-OPTION...]
    local name=$1 regex=$2 token=$3 auth=() config=() status=0
    shift 3
    [ -z "$token" ] || auth=(-H "Authorization: Bearer $token")
    [[ "$name" != known-* ]] || config=(--config-file "$OUT/known-ids.toml")
    local started=$SECONDS
    "${ST[@]}" "${config[@]}" run "$API/openapi.json" "$@" --checks "$CHECKS" --max-examples "$examples" --seed "$seed" \
        --include-path-regex "$regex" "${auth[@]}" --workers 1 --request-timeout 20 --no-color \
        --suppress-health-check all --report junit --report-junit-path "$OUT/$name.xml" \
        >"$OUT/$name.log" 2>&1 || status=$?
    local line cases
    line=$(grep -E '^=+ .* in [0-9.]+s =+$' "$OUT/$name.log" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//' || true)
    cases=$(grep -Eo '[0-9]+ generated' "$OUT/$name.log" | tail -n 1 || true)
    summary+=("$(printf '%-16s %s; %s; %ss' "$name" "${cases:-? generated}" "${line:-see $OUT/$name.log}" $((SECONDS - started)))")
    if [ "$status" != 0 ]; then
        failed+=("$name")
        echo "---- $name: failures (full log: $OUT/$name.log)"
        sed -n '/FAILURES/,$p' "$OUT/$name.log" | head -n 150
    fi
}

fuzz public '^/(health|ready|metrics|levels|auth/login|webhooks/)' ""
fuzz member '^/(member/|auth/me$|transactions/)' "$MEMBER"
fuzz merchant '^/(merchant/|auth/me$|transactions/)' "$MERCHANT"
# Reads again with real ids in the path (writes keep random ones: with a real id the admin run
# would suspend or reset the very accounts the other runs use).
fuzz known-member '^/(member/|transactions/)' "$MEMBER" --include-method GET
fuzz known-merchant '^/(merchant/|transactions/)' "$MERCHANT" --include-method GET
SESSION_MEMBER=$(login member 13900000001)
SESSION_MERCHANT=$(login merchant FUZZ1)
SESSION_ADMIN=$(login admin fuzz@example.com)
fuzz session-member '^/auth/(logout|password)$' "$SESSION_MEMBER"
fuzz session-merchant '^/auth/(logout|password)$' "$SESSION_MERCHANT"
fuzz session-admin '^/auth/(logout|password)$' "$SESSION_ADMIN"
# Last: its stateful phase follows ids from list answers, so it may suspend the seeded accounts
# or reset their passwords.
fuzz known-admin '^/(admin/|transactions/)' "$ADMIN" --include-method GET
fuzz admin '^/(admin/|auth/me$|transactions/)' "$ADMIN"

if grep -q '"level":"ERROR"' "$OUT/server.log"; then
    echo "---- server errors logged during the runs:"
    grep '"level":"ERROR"' "$OUT/server.log" | grep -v '"code":"UNAVAILABLE"' | head -n 20 || true
fi
echo
say "results (seed $seed, $examples examples per operation):"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "all runs passed"
