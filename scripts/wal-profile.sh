#!/usr/bin/env bash
# The one-client WAL profile of a payment (QR issue + charge) and of a counter top-up, this tree's
# functions against another revision's (issue 16: "before vs after, same database"). The other
# revision's `events.sql`, `payments.sql` and `recharges.sql` are installed in the schema
# `bench_main` of the same database (their `search_path` pointed there first), so both variants
# write the same tables; the QR issue and every helper are this tree's (`qr.sql` is the same).
#
#   scripts/wal-profile.sh DATABASE_URL [REVISION] [PAIRS]
#
# DATABASE_URL: a database this tree migrated and `mps-bench` seeded (e.g. mps_bench_<branch> after
# a run; its schema `bench_before`, when there, adds the payments before issue 16 as a third
# variant); REVISION: default `main`; PAIRS: default 600. One connection, each call its own
# transaction: a warm-up pass of both variants, then two measured passes, the variants in turn.
# Per call, `EXPLAIN (ANALYZE, WAL)` gives the backend's own WAL; per relation, pg_walinspect over
# each measured window, records of this database only (others on the cluster do not count), each
# record charged to its first block's relation. Commit records carry no block and are left out,
# as by EXPLAIN. Drops `bench_main` and `wal_profile` when done.
set -euo pipefail
url=${1:?DATABASE_URL}
rev=${2:-main}
pairs=${3:-600}
cd "$(dirname "$0")/.."
psql_() { psql "$url" -v ON_ERROR_STOP=1 -q "$@"; }

# A replication slot holds the measured windows' WAL until they are read: on a busy cluster (a
# test suite dropping databases forces checkpoints) the segments are otherwise recycled within
# seconds. Dropped on exit, whatever happens.
slot="wal_profile_$$"
psql_ -c "SELECT pg_create_physical_replication_slot('$slot', true)" >/dev/null
trap 'psql_ -c "SELECT pg_drop_replication_slot('"'"'$slot'"'"')" >/dev/null' EXIT

psql_ -c "DROP SCHEMA IF EXISTS bench_main CASCADE; CREATE SCHEMA bench_main;
          DROP SCHEMA IF EXISTS wal_profile CASCADE; CREATE SCHEMA wal_profile;
          CREATE EXTENSION IF NOT EXISTS pg_walinspect;"
for f in events payments recharges; do
    git show "$rev:crates/mps/sql/functions/$f.sql" \
        | sed 's/SET search_path = public, pg_temp/SET search_path = bench_main, public, pg_temp/' \
        | { echo "SET search_path = bench_main, public;"; cat; } | psql_ >/dev/null
done

psql_ <<'SQL'
CREATE TABLE wal_profile.calls (variant text, pass int, call text, records bigint, fpi bigint, bytes bigint);
CREATE TABLE wal_profile.windows (variant text, kind text, start_lsn pg_lsn, end_lsn pg_lsn, n int);
CREATE TABLE wal_profile.recs (variant text, kind text, n int, record_length bigint, fpi_length bigint, relation text);

CREATE FUNCTION wal_profile.explain(p_variant text, p_pass int, p_call text, p_sql text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_plan json;
    v_result jsonb;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, WAL, VERBOSE, FORMAT JSON) ' || p_sql INTO v_plan;
    INSERT INTO wal_profile.calls VALUES (p_variant, p_pass, p_call,
        coalesce((v_plan -> 0 -> 'Plan' ->> 'WAL Records')::bigint, 0),
        coalesce((v_plan -> 0 -> 'Plan' ->> 'WAL FPI')::bigint, 0),
        coalesce((v_plan -> 0 -> 'Plan' ->> 'WAL Bytes')::bigint, 0));
    RETURN v_plan::jsonb;
END $$;

-- p_pairs payments (QR issue + charge) on the first p_pairs owned standard cards, one call per
-- transaction; p_schema '' (this tree), 'bench_main.' or 'bench_before.' (mps-bench's frozen
-- functions before issue 16, their own QR tables: its QR issue too).
CREATE PROCEDURE wal_profile.payments(p_variant text, p_schema text, p_pairs int, p_pass int)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_plain bytea;
    v_merchants uuid[];
    v_n int := 0;
BEGIN
    SELECT array_agg(id ORDER BY id) INTO v_merchants FROM merchants WHERE status = 'active';
    FOR r IN SELECT b.member_id, b.card_id FROM card_bindings b JOIN cards c ON c.id = b.card_id
             WHERE b.active AND b.role = 'owner' AND c.status = 'active' AND c.card_type = 'standard'
             ORDER BY b.card_id LIMIT p_pairs LOOP
        v_plain := convert_to(format('prof-%s-%s-%s-%s', p_variant, p_pass, v_n, gen_random_uuid()), 'UTF8');
        PERFORM wal_profile.explain(p_variant, p_pass, 'issue_qr_token',
            format('SELECT %sissue_qr_token(%L, %L, sha256(%L::bytea), 900, %L)',
                   CASE p_schema WHEN 'bench_before.' THEN p_schema ELSE '' END, r.member_id, r.card_id, v_plain, 'prof'));
        COMMIT;
        PERFORM wal_profile.explain(p_variant, p_pass, 'charge',
            format('SELECT %scharge(%L, NULL, %L, sha256(%L::bytea), sha256(%L::bytea), 1.50, NULL, NULL, %L)',
                   p_schema, v_merchants[1 + v_n % cardinality(v_merchants)], gen_random_uuid()::text, v_plain,
                   v_plain, 'prof'));
        COMMIT;
        v_n := v_n + 1;
    END LOOP;
END $$;

-- p_n counter top-ups of 10.00 by the first merchant.
CREATE PROCEDURE wal_profile.top_ups(p_variant text, p_schema text, p_n int, p_pass int)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_merchant uuid;
BEGIN
    SELECT id INTO v_merchant FROM merchants WHERE status = 'active' ORDER BY id LIMIT 1;
    FOR r IN SELECT c.card_no FROM card_bindings b JOIN cards c ON c.id = b.card_id
             WHERE b.active AND b.role = 'owner' AND c.status = 'active' AND c.card_type = 'standard'
             ORDER BY b.card_id LIMIT p_n LOOP
        PERFORM wal_profile.explain(p_variant, p_pass, 'merchant_recharge',
            format('SELECT %smerchant_recharge(%L, NULL, %L, %L::bytea, %L, 10.00, %L)', p_schema, v_merchant,
                   gen_random_uuid()::text, '\x00', r.card_no, 'prof'));
        COMMIT;
    END LOOP;
END $$;
SQL

measure() { # variant schema procedure pass: the window's records are read at once (a busy cluster recycles WAL)
    psql_ -c "INSERT INTO wal_profile.windows VALUES ('$1', '$3', pg_current_wal_insert_lsn(), NULL, $pairs)"
    psql_ -c "CALL wal_profile.$3('$1', '$2', $pairs, $4)"
    psql_ -c "UPDATE wal_profile.windows SET end_lsn = pg_current_wal_flush_lsn() WHERE end_lsn IS NULL"
    psql_ <<'SQL'
INSERT INTO wal_profile.recs
SELECT w.variant, w.kind, w.n, r.record_length, r.fpi_length,
       coalesce(pg_filenode_relation(0, (regexp_match(r.block_ref, 'rel \d+/\d+/(\d+)'))[1]::oid)::text, '?')
FROM wal_profile.windows w, LATERAL pg_get_wal_records_info(w.start_lsn, w.end_lsn) r
WHERE w.start_lsn = (SELECT max(start_lsn) FROM wal_profile.windows)
  AND (regexp_match(r.block_ref, 'rel \d+/(\d+)/'))[1]::oid = (SELECT oid FROM pg_database WHERE datname = current_database());
SQL
}

echo "warm-up: $pairs payments and top-ups each way"
warm() { # variant schema
    psql_ -c "CALL wal_profile.payments('$1', '$2', $pairs, 0)" -c "CALL wal_profile.top_ups('$1', '$2', $pairs, 0)"
}
warm main bench_main.
warm tree ""
before=$(psql "$url" -Atc "SELECT count(*) FROM pg_proc WHERE pronamespace = 'bench_before'::regnamespace AND proname = 'charge'" 2>/dev/null || echo 0)
[ "$before" = 1 ] && psql_ -c "CALL wal_profile.payments('before', 'bench_before.', $pairs, 0)"
for pass in 1 2; do
    [ "$before" = 1 ] && measure before bench_before. payments $pass
    measure main bench_main. payments $pass
    measure tree "" payments $pass
    measure main bench_main. top_ups $pass
    measure tree "" top_ups $pass
done

psql "$url" -P pager=off <<'SQL'
\echo 'EXPLAIN (ANALYZE, WAL) per call, measured passes (full-page images included)'
SELECT variant, call, count(*) AS calls, round(avg(records), 1) AS records, round(avg(fpi), 2) AS fpi,
       round(avg(bytes)) AS bytes
FROM wal_profile.calls WHERE pass > 0 GROUP BY 1, 2 ORDER BY 2, 1;

\echo 'per payment (issue + charge) and per top-up, by relation (pg_walinspect, this database, measured windows; bytes without full-page images, FPI bytes apart)'
DELETE FROM wal_profile.recs WHERE relation LIKE 'wal_profile.%';
SELECT kind, coalesce(relation, '= total') AS relation,
       round(count(*) FILTER (WHERE variant = 'main')::numeric / (2 * max(n)), 2) AS main_records,
       round(sum(record_length - fpi_length) FILTER (WHERE variant = 'main')::numeric / (2 * max(n))) AS main_bytes,
       round(sum(fpi_length) FILTER (WHERE variant = 'main')::numeric / (2 * max(n))) AS main_fpi_bytes,
       round(count(*) FILTER (WHERE variant = 'before')::numeric / (2 * max(n)), 2) AS before_records,
       round(sum(record_length - fpi_length) FILTER (WHERE variant = 'before')::numeric / (2 * max(n))) AS before_bytes,
       round(count(*) FILTER (WHERE variant = 'tree')::numeric / (2 * max(n)), 2) AS tree_records,
       round(sum(record_length - fpi_length) FILTER (WHERE variant = 'tree')::numeric / (2 * max(n))) AS tree_bytes,
       round(sum(fpi_length) FILTER (WHERE variant = 'tree')::numeric / (2 * max(n))) AS tree_fpi_bytes
FROM wal_profile.recs GROUP BY kind, ROLLUP (relation) ORDER BY kind, relation NULLS LAST;
SQL

psql_ -c "DROP SCHEMA bench_main CASCADE; DROP SCHEMA wal_profile CASCADE;"
