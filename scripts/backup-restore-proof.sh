#!/usr/bin/env bash
# Proves that a backup of MPS restores exactly (docs/operations.md, "Backup and restore"), on a real
# database of its own ($BACKUP_PROOF_DATABASE_URL, default .../mps_backup_proof):
#
#   1. create and migrate it (`mps migrate`), make an admin (`mps create-admin`), start `mps serve`
#      on 127.0.0.1:$BACKUP_PROOF_API_PORT (18100) and generate activity through the API: members,
#      merchants, recharges, QR charges, partial and full refunds
#   2. snapshot: every card's balance, points, level and status; transactions counted and summed by
#      type and status; every table's row count and content digest; every sequence's last value
#   3. pg_dump -Fc, pg_restore --list; stop the server; dropdb; createdb; pg_restore
#   4. snapshot again and require it to be identical; then `mps migrate` on the restored database,
#      `mps serve` on it, and through the API: a session from before the dump still works, the
#      member sees the balances of the snapshot, and a new charge goes through
#   5. prove the comparison can fail: one point more on one card must show as a difference
#
# Always drops its database and stops its server at the end.  Last line "N passed, M failed"; exits
# non-zero on any difference.  The server runs without Redis (REDIS_URL empty): nothing that matters
# lives there, and no cache can hide what the restored database holds.
# Binary: $MPS_BIN, else the newer of target/release/mps and target/debug/mps, else a debug build.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

DATABASE_URL=${BACKUP_PROOF_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mps_backup_proof}
API_PORT=${BACKUP_PROOF_API_PORT:-18100}
API=http://127.0.0.1:$API_PORT
DB=$(pg_db_name "$DATABASE_URL")
ADMIN_URL=$(pg_admin_url "$DATABASE_URL")

die() { echo "backup-proof: $*" >&2; exit 1; }
say() { echo "backup-proof: $*"; }

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "  ok    $*"; }
fail() { FAILED=$((FAILED + 1)); echo "  FAIL  $*"; } # stdout: in order with the summary

case "${1:-}" in
    "") ;;
    *) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

[[ $DB =~ ^[a-z_][a-z0-9_]*$ ]] || die "database name '$DB' must be letters, digits and _"
ensure_commands psql:postgresql-client pg_dump:postgresql-client pg_restore:postgresql-client \
    createdb:postgresql-client dropdb:postgresql-client curl:curl jq:jq openssl:openssl
if ! psql "$ADMIN_URL" -XAtqc 'SELECT 1' >/dev/null 2>&1; then
    [[ $DATABASE_URL == postgres://postgres@127.0.0.1:5432/* ]] \
        || die "PostgreSQL does not answer at $ADMIN_URL"
    bash "$ROOT/scripts/ensure-services.sh"
fi
(exec 3<>"/dev/tcp/127.0.0.1/$API_PORT") 2>/dev/null && die "port $API_PORT is in use (set BACKUP_PROOF_API_PORT)"
BIN=$(mps_binary "$ROOT") || die "no mps binary"

WORK=$(mktemp -d)
SERVER_PID=""
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
cleanup() {
    stop_server
    pg_drop_db "$DATABASE_URL" >/dev/null 2>&1 || echo "backup-proof: could not drop $DB" >&2
    rm -rf "$WORK"
}
trap cleanup EXIT

# The server's environment; its working directory is $WORK so that no developer .env is read.
MPS_ENV=(APP_ENV=testing DATABASE_URL="$DATABASE_URL" REDIS_URL= JWT_SECRET="$(openssl rand -hex 32)"
    API_HOST=127.0.0.1 API_PORT="$API_PORT" LOG_FORMAT=json LOG_LEVEL=warn)
mps() { (cd "$WORK" && env "${MPS_ENV[@]}" "$BIN" "$@") >>"$WORK/mps.log" 2>&1; }

start_server() {
    (cd "$WORK" && exec env "${MPS_ENV[@]}" "$BIN" serve) >>"$WORK/mps.log" 2>&1 </dev/null &
    SERVER_PID=$!
    local i
    for ((i = 0; i < 240; i++)); do
        curl -fsS "$API/ready" >/dev/null 2>&1 && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.25
    done
    tail -n 20 "$WORK/mps.log" >&2
    die "mps serve did not become ready"
}

# api METHOD PATH TOKEN BODY [IDEMPOTENCY_KEY] — sets CODE and BODY.
api() {
    local args=(-sS -X "$1" -o "$WORK/body" -w '%{http_code}' -H 'Content-Type: application/json')
    [ -z "$3" ] || args+=(-H "Authorization: Bearer $3")
    [ -z "$4" ] || args+=(--data "$4")
    [ -z "${5:-}" ] || args+=(-H "Idempotency-Key: $5")
    CODE=$(curl "${args[@]}" "$API$2") || CODE=000
    BODY=$(cat "$WORK/body")
}
# must STATUS WHAT — the last call answered STATUS, or the proof stops (activity is a precondition).
must() { [ "$CODE" = "$1" ] || die "$2: expected $1, got $CODE $(head -c 300 <<<"$BODY")"; }

login() { # login ROLE IDENTIFIER PASSWORD — prints a token
    api POST /auth/login "" "{\"role\":\"$1\",\"identifier\":\"$2\",\"password\":\"$3\"}"
    must 200 "login $1 $2"
    jq -r .token <<<"$BODY"
}

# snapshot FILE — what must survive a backup, as sorted text lines.  Same session settings both
# times (UTC), so timestamps print alike.
snapshot() {
    PGTZ=UTC psql "$DATABASE_URL" -XAtq -F'|' -v ON_ERROR_STOP=1 >"$1" <<'SQL'
SELECT 'card', id, card_no, card_type, balance, points, level, status FROM cards ORDER BY id;
SELECT 'transactions', tx_type, status, count(*), sum(final_amount), sum(refunded_total),
       sum(points_earned), sum(points_reversed)
  FROM transactions GROUP BY tx_type, status ORDER BY tx_type, status;
SELECT 'sequence', sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 2;
SELECT format('SELECT %L, %L, count(*), md5(coalesce(string_agg(t::text, %L ORDER BY t::text), %L)) FROM %I.%I t',
              'table', tablename, E'\n', '', schemaname, tablename)
  FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename
\gexec
SQL
}

START=$(date +%s)
say "database $DB on $(pg_admin_url "$DATABASE_URL" | sed 's#/postgres\(?.*\)\{0,1\}$##')"
if pg_db_exists "$DATABASE_URL"; then
    say "dropping $DB left by an earlier run"
    pg_drop_db "$DATABASE_URL"
fi

# ---- 1. a migrated database with activity -------------------------------------------------------
mps migrate || { tail -n 20 "$WORK/mps.log" >&2; die "mps migrate failed"; }
ADMIN_PASSWORD=$(openssl rand -hex 16)
MPS_ADMIN_PASSWORD=$ADMIN_PASSWORD mps create-admin --email proof-admin@example.com --name "Proof admin" \
    || { tail -n 20 "$WORK/mps.log" >&2; die "mps create-admin failed"; }
start_server
ADMIN=$(login admin proof-admin@example.com "$ADMIN_PASSWORD")

CARDS=()
MEMBERS=()
for i in 1 2 3; do
    api POST /admin/members "$ADMIN" "{\"name\":\"Proof member $i\",\"phone\":\"1370000000$i\",\"password\":\"proof-member-$i\"}"
    must 201 "create member $i"
    CARDS+=("$(jq -r .card.id <<<"$BODY")")
    MEMBERS+=("$(login member "1370000000$i" "proof-member-$i")")
done
SHOPS=()
for code in PROOF1 PROOF2; do
    api POST /admin/merchants "$ADMIN" "{\"code\":\"$code\",\"name\":\"Proof shop $code\",\"password\":\"proof-merchant-$code\"}"
    must 201 "create merchant $code"
    SHOPS+=("$(login merchant "$code" "proof-merchant-$code")")
done

recharge() { # recharge CARD_INDEX AMOUNT
    api POST "/admin/cards/${CARDS[$1]}/recharge" "$ADMIN" "{\"amount\":\"$2\",\"reason\":\"proof\"}" "proof-rcg-$1-$2"
    must 201 "recharge card $1 with $2"
}
charge() { # charge CARD_INDEX SHOP_INDEX AMOUNT — sets TX to the payment's tx_no
    api POST /member/qr "${MEMBERS[$1]}" "{\"card_id\":\"${CARDS[$1]}\"}"
    must 201 "QR for card $1"
    local qr
    qr=$(jq -r .qr_plain <<<"$BODY")
    api POST /merchant/charge "${SHOPS[$2]}" "{\"qr_plain\":\"$qr\",\"amount\":\"$3\"}" "proof-pay-$1-$2-$3"
    must 201 "charge card $1 $3"
    TX=$(jq -r .transaction.tx_no <<<"$BODY")
}
refund() { # refund SHOP_INDEX TX_NO AMOUNT
    api POST /merchant/refund "${SHOPS[$1]}" "{\"original_tx_no\":\"$2\",\"amount\":\"$3\",\"reason\":\"proof\"}" "proof-ref-$2-$3"
    must 201 "refund $3 of $2"
}

recharge 0 200.00
recharge 1 150.50
recharge 2 80.00
recharge 0 20.25
charge 0 0 12.34
refund 0 "$TX" 5.00
charge 0 1 45.60
charge 1 1 7.89
charge 1 0 20.00
refund 0 "$TX" 20.00
charge 2 0 33.33
refund 0 "$TX" 0.33
charge 2 1 1.01
say "activity: 3 members, 2 merchants, 4 recharges, 6 charges, 3 refunds (one full) through the API"

# ---- 2. before -----------------------------------------------------------------------------------
snapshot "$WORK/before.txt"
COUNTS=$(psql "$DATABASE_URL" -XAtqc "SELECT count(*) FILTER (WHERE tx_type = 'recharge') || ' ' ||
    count(*) FILTER (WHERE tx_type = 'payment') || ' ' || count(*) FILTER (WHERE tx_type = 'refund') FROM transactions")
if [ "$COUNTS" = "4 6 3" ]; then ok "the database holds the activity: 4 recharges, 6 payments, 3 refunds"
else fail "transactions by type (recharge payment refund): $COUNTS, want 4 6 3"; fi
NCARDS=$(grep -c '^card|' "$WORK/before.txt" || true)
NTX=$(psql "$DATABASE_URL" -XAtqc 'SELECT count(*) FROM transactions')
POINTS=$(psql "$DATABASE_URL" -XAtqc 'SELECT sum(points) FROM cards')
# A balance to check through the API after the restore: member 1's card.
BAL0=$(psql "$DATABASE_URL" -XAtqc "SELECT balance FROM cards WHERE id = '${CARDS[0]}'")
say "recorded $NCARDS cards (balances, points: $POINTS in all), $NTX transactions, $(grep -c '^table|' "$WORK/before.txt") tables"

# ---- 3. dump, drop, create, restore --------------------------------------------------------------
DUMP=$WORK/$DB.dump
pg_dump -Fc -d "$DATABASE_URL" -f "$DUMP"
if pg_restore --list "$DUMP" >/dev/null; then ok "pg_dump -Fc wrote a readable dump ($(stat -c %s "$DUMP") bytes)"
else fail "pg_restore --list cannot read the dump"; fi
stop_server
dropdb --maintenance-db="$ADMIN_URL" "$DB"
if pg_db_exists "$DATABASE_URL"; then fail "dropdb left $DB in place"; else ok "dropdb $DB"; fi
createdb --maintenance-db="$ADMIN_URL" "$DB"
if pg_restore --no-owner --exit-on-error --single-transaction -d "$DATABASE_URL" "$DUMP"; then
    ok "createdb $DB; pg_restore --no-owner --exit-on-error --single-transaction"
else
    fail "pg_restore failed"
fi

# ---- 4. after ------------------------------------------------------------------------------------
snapshot "$WORK/after.txt"
if diff -u "$WORK/before.txt" "$WORK/after.txt" >"$WORK/diff.txt"; then
    ok "identical after restore: $NCARDS cards' balances and points, $NTX transactions, every table and sequence"
else
    fail "the restored database differs from the original:"
    head -n 40 "$WORK/diff.txt" >&2
fi

if mps migrate; then ok "mps migrate on the restored database (nothing to apply)"
else fail "mps migrate on the restored database failed: $(tail -n 3 "$WORK/mps.log")"; fi
start_server
# Sessions are restored with the data: member 1's token from before the dump still works.
api GET /member/cards "${MEMBERS[0]}" ""
GOT=$(jq -r ".items[]? | select(.id == \"${CARDS[0]}\") | .balance" <<<"$BODY" 2>/dev/null || true)
if [ "$CODE" = 200 ] && [ "$GOT" = "$BAL0" ]; then
    ok "the restored server answers a pre-dump session: card balance $GOT as recorded"
else
    fail "GET /member/cards after restore: $CODE, balance '${GOT}', want $BAL0"
fi
if (charge 0 0 1.00) >/dev/null 2>&1; then ok "a new charge goes through on the restored database"
else fail "a charge on the restored database failed"; fi
stop_server

# ---- 5. the comparison can fail ------------------------------------------------------------------
snapshot "$WORK/untampered.txt"
psql "$DATABASE_URL" -Xq -v ON_ERROR_STOP=1 \
    -c "UPDATE cards SET points = points + 1 WHERE id = (SELECT id FROM cards ORDER BY id LIMIT 1)"
snapshot "$WORK/tampered.txt"
diff "$WORK/untampered.txt" "$WORK/tampered.txt" >"$WORK/tampered.diff" || true
if grep -q '^> card|' "$WORK/tampered.diff"; then
    ok "self-test: the comparison notices one point more on one card"
else
    fail "self-test: one point more on one card went unnoticed by the comparison"
fi

say "done in $(($(date +%s) - START)) s; dropping $DB"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
