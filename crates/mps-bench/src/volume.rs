//! The volume scenario (issue 15, `--volume`): seeds a large history by SQL set operations (one
//! busy merchant, one busy card among many), then measures every list's first page and a page
//! deep into the history (reached by cursor), the daily summary, the statistics, a monthly
//! settlement of the busy merchant and the payment pair, so that the same measurements on the
//! small data set (taken first, in the same run) stand beside them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::http::{HeaderValue, Method, StatusCode};
use chrono::{Datelike as _, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::task::JoinSet;

use crate::http::{Conn, bearer};
use crate::report::Target;
use crate::seed::{Dataset, PASSWORD};
use crate::stats::{OpSummary, Recorder};

/// How big the volume data set is (`--volume-*` options; the figures by default).
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub members: u64,
    pub merchants: u64,
    pub transactions: u64,
    /// The busy merchant's share of the transactions, in parts per 100.
    pub big_merchant_percent: u64,
    /// The busy card's share, in parts per 1000.
    pub big_card_permille: u64,
    /// Days of history the transactions spread over (the latest ends now).
    pub days: u64,
}

/// How long each part of the seeding took, in seconds, and the rows it wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedFigures {
    pub steps: Vec<(String, f64)>,
    pub total_seconds: f64,
    pub transactions: i64,
    pub big_merchant_transactions: i64,
    pub big_card_transactions: i64,
    pub point_ledger_rows: i64,
    pub audit_rows: i64,
}

/// One member in this many is bound to a corporate card.
const CORPORATE_EVERY: u64 = 100;

/// Corporate cards of the volume history: one per thousand members (1,000 for 1M), at least one.
fn corporate_cards(members: u64) -> u64 {
    (members / 1000).max(1)
}

/// The tables the seeding loads, biggest first: their secondary indexes are built after the load
/// (in this order, so the longest builds start first).
const LOADED_TABLES: [&str; 7] =
    ["transactions", "audit_events", "point_ledger", "merchant_activity", "card_bindings", "cards", "members"];

/// Every seeding connection: no wait for the WAL flush, no triggers (foreign-key checks and the
/// aggregates' trigger: the rows are consistent by construction and the buckets are filled by one
/// `GROUP BY`; needs a superuser, as the harness' database URL is), room to hash the staging
/// tables in memory (a 1M-row `vol_cards` join spilled in batches with the default 4 MB) and to
/// sort an index build in memory (10M entries of `(uuid, timestamptz, uuid)` are ~0.5 GB).
const SESSION_SETTINGS: &str = "SET synchronous_commit = off; SET session_replication_role = replica; \
     SET work_mem = '256MB'; SET maintenance_work_mem = '1GB'";

/// How many connections the seeding uses at most in one step (the harness' pool holds 8).
const SEED_CONNECTIONS: usize = 4;

/// Runs `statements` as one timed step on at most `SEED_CONNECTIONS` connections at once, each
/// connection taking the next statement in order as it finishes one (so list the longest first).
async fn parallel_step(
    pool: &PgPool,
    steps: &mut Vec<(String, f64)>,
    name: &str,
    statements: Vec<String>,
) -> anyhow::Result<()> {
    let step = Instant::now();
    eprintln!("mps-bench: volume seeding: {name}");
    let workers = statements.len().min(SEED_CONNECTIONS);
    let queue = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(statements)));
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        let (pool, queue) = (pool.clone(), queue.clone());
        tasks.spawn(async move {
            let mut conn = pool.acquire().await?;
            sqlx::raw_sql(SESSION_SETTINGS).execute(&mut *conn).await?;
            loop {
                let next = queue.lock().map_err(|_| anyhow::anyhow!("the seeding queue is poisoned"))?.pop_front();
                let Some(sql) = next else { break };
                let started = Instant::now();
                let done = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&mut *conn).await;
                if let Err(e) = done {
                    let _ = sqlx::raw_sql("RESET ALL").execute(&mut *conn).await;
                    return Err(anyhow::Error::from(e).context(statement_head(&sql)));
                }
                eprintln!("mps-bench:   {:.1} s: {}", started.elapsed().as_secs_f64(), statement_head(&sql));
            }
            sqlx::raw_sql("RESET ALL").execute(&mut *conn).await?;
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a seeding task panicked")?.with_context(|| format!("seeding {name}"))?;
    }
    steps.push((name.to_owned(), crate::stats::round1(step.elapsed().as_secs_f64())));
    Ok(())
}

/// The first words of a statement, to name it in the seeding's log.
fn statement_head(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().take(8).collect();
    words.join(" ")
}

/// Seeds the volume history on top of the small data set: its first merchant becomes the busy
/// merchant and its first member's card the busy card, so their tokens measure the big lists.
pub async fn seed(pool: &PgPool, dataset: &Dataset, scale: Scale) -> anyhow::Result<SeedFigures> {
    let big_merchant = dataset.merchants.first().context("the small data set has no merchant")?.id;
    let big_card = dataset.members.first().context("the small data set has no member")?.card_id;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM merchants WHERE id = $1")
        .bind(big_merchant)
        .fetch_one(pool)
        .await?;
    let started = Instant::now();
    let mut steps = Vec::new();
    let payments = scale.transactions * 90 / 100;
    let refunds = scale.transactions * 5 / 100;
    let topups = scale.transactions - payments - refunds;
    // Every merchant transaction names its store (the default store trigger is off while loading).
    let big_store = format!("(SELECT id FROM stores WHERE merchant_id = '{big_merchant}' AND is_default)");
    let hash_literal = format!("'{}'", hash.replace('\'', "''"));
    let mut conn = pool.acquire().await?;
    sqlx::raw_sql(SESSION_SETTINGS).execute(&mut *conn).await?;
    let staging: Vec<(&str, String)> = vec![
        // Bulk loading: every secondary index of the loaded tables is dropped here and built once
        // at the end (a sort per index, several at once), instead of one random insert per row
        // and index. Unique indexes among them are rebuilt unique (the build checks the rows);
        // primary keys and constraint indexes stay (they guard the data during the load).
        (
            "indexes off",
            format!(
                "CREATE UNLOGGED TABLE vol_indexes AS \
                 SELECT c.relname::text AS tbl, format('%I', ic.relname) AS name, pg_get_indexdef(i.indexrelid) AS def, \
                        array_position(ARRAY[{tables}], c.relname::text) AS position \
                 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid \
                 WHERE c.relnamespace = 'public'::regnamespace AND c.relname IN ({tables}) \
                   AND NOT i.indisprimary \
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid); \
                 DO $$ DECLARE r record; BEGIN \
                     FOR r IN SELECT name FROM vol_indexes LOOP EXECUTE 'DROP INDEX ' || r.name; END LOOP; \
                 END $$",
                tables = LOADED_TABLES.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
            ),
        ),
        (
            "staging tables",
            format!(
                "CREATE UNLOGGED TABLE vol_cards AS \
                 SELECT n, {member_id} AS member_id, {card_id} AS card_id, {binding_id} AS binding_id, created_at \
                 FROM (SELECT g AS n, now() - interval '400 days' + g * interval '1 second' * (365 * 86400 / {m}) \
                              AS created_at \
                       FROM generate_series(1, {m}) g) v; \
                 ALTER TABLE vol_cards ADD PRIMARY KEY (n); \
                 CREATE UNLOGGED TABLE vol_merchants AS \
                 SELECT g AS n, gen_random_uuid() AS id, gen_random_uuid() AS store_id FROM generate_series(1, {n}) g; \
                 ALTER TABLE vol_merchants ADD PRIMARY KEY (n); \
                 CREATE UNLOGGED TABLE vol_corporate AS \
                 SELECT g AS n, gen_random_uuid() AS card_id FROM generate_series(1, {k}) g; \
                 ALTER TABLE vol_corporate ADD PRIMARY KEY (n)",
                m = scale.members,
                n = scale.merchants,
                k = corporate_cards(scale.members),
                member_id = seeded_id(4, "n", "created_at"),
                card_id = seeded_id(5, "n", "created_at"),
                binding_id = seeded_id(6, "n", "created_at"),
            ),
        ),
    ];
    for (name, sql) in staging {
        let step = Instant::now();
        eprintln!("mps-bench: volume seeding: {name}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await.with_context(|| format!("seeding {name}"))?;
        steps.push((name.to_owned(), crate::stats::round1(step.elapsed().as_secs_f64())));
    }
    sqlx::raw_sql("RESET ALL").execute(&mut *conn).await?;
    drop(conn);
    // Members, cards, owner bindings and merchants with their stores read only the staging tables:
    // one connection each (the foreign-key checks are off, so the order does not matter).
    parallel_step(pool, &mut steps, "members, cards, owner and corporate bindings, merchants (in parallel)", vec![
        format!(
            "INSERT INTO members (id, name, password_hash, created_at, updated_at) \
             SELECT member_id, 'Volume member ' || n, {hash_literal}, created_at, created_at FROM vol_cards"
        ),
        "INSERT INTO cards (id, card_no, card_type, name, balance, created_at, updated_at) \
         SELECT card_id, business_number('STD', nextval('card_no_seq'), 8), 'standard', 'Standard card', \
                100000, created_at, created_at FROM vol_cards"
            .to_owned(),
        "INSERT INTO card_bindings (id, card_id, member_id, role, created_at) \
         SELECT binding_id, card_id, member_id, 'owner', created_at FROM vol_cards"
            .to_owned(),
        // Corporate cards (sixth pass): every hundredth member is bound to one of them, the first
        // of each card's members as its owner, so that the corporate discount every charge and
        // every admin card row looks up has real rows to find.
        format!(
            "INSERT INTO cards (id, card_no, card_type, name, balance, fixed_discount, created_at, updated_at) \
             SELECT card_id, business_number('COR', nextval('card_no_seq'), 8), 'corporate', \
                    'Volume corporate card ' || n, 0, 0.90, now() - interval '401 days', now() - interval '401 days' \
             FROM vol_corporate; \
             INSERT INTO card_bindings (id, card_id, member_id, role, created_at) \
             SELECT gen_random_uuid(), c.card_id, v.member_id, \
                    CASE WHEN v.n / {CORPORATE_EVERY} <= {k} THEN 'owner' ELSE 'member' END::binding_role, v.created_at \
             FROM vol_cards v JOIN vol_corporate c ON c.n = (v.n / {CORPORATE_EVERY} - 1) % {k} + 1 \
             WHERE v.n % {CORPORATE_EVERY} = 0",
            k = corporate_cards(scale.members),
        ),
        format!(
            "INSERT INTO merchants (id, code, name, password_hash, created_at) \
             SELECT id, 'VOL' || lpad(n::text, 6, '0'), 'Volume shop ' || n, {hash_literal}, now() - interval '400 days' \
             FROM vol_merchants; \
             INSERT INTO stores (id, merchant_id, code, name, is_default) \
             SELECT store_id, id, 'MAIN', 'Volume shop ' || n, true FROM vol_merchants"
        ),
    ])
    .await?;
    // Payments (in `PAYMENT_CHUNKS` ranges of `g`) and counter top-ups, written at once on
    // connections of their own: their business numbers are reserved first, as one block.
    let base: i64 = sqlx::query_scalar("SELECT nextval('tx_no_seq')").fetch_one(pool).await?;
    let (payments_n, topups_n) = (i64::try_from(payments)?, i64::try_from(topups)?);
    sqlx::query("SELECT setval('tx_no_seq', $1)").bind(base + payments_n + topups_n).execute(pool).await?;
    let mut writers: Vec<String> = (0..PAYMENT_CHUNKS)
        .map(|chunk| {
            let from = payments * chunk / PAYMENT_CHUNKS + 1;
            let to = payments * (chunk + 1) / PAYMENT_CHUNKS;
            payment_rows(&scale, base, (from, to, payments), (big_merchant, big_card), &big_store)
        })
        .collect();
    writers.push(topup_rows(&scale, base + payments_n, topups, big_merchant, &big_store));
    parallel_step(pool, &mut steps, "payments and counter top-ups (in parallel)", writers).await?;
    // Refunds read the payments; the point ledger (payments only) and the statistics' counters
    // do not need the refunds, so they run beside them.
    parallel_step(
        pool,
        &mut steps,
        "refunds, point ledger, counters (in parallel)",
        vec![
            "INSERT INTO point_ledger (card_id, tx_id, delta, points_after, reason, actor_id, actor_role, created_at) \
         SELECT card_id, id, points_earned, points_earned, 'payment', merchant_id, 'merchant', created_at \
         FROM transactions WHERE tx_type = 'payment' AND points_earned > 0 AND tx_no > 'PAY'"
                .to_owned(),
            refund_rows(refunds),
            // The statistics' counters of members, cards and merchants (migration 0016), off too
            // while loading: rebuilt from every row, as the aggregates are. The aggregates are cleared
            // here, before the next step rebuilds them by merchant range.
            "DELETE FROM status_counts; \
         INSERT INTO status_counts (subject, status, card_type, shard, n) \
         SELECT 'member', status::text, '', 0, count(*) FROM members GROUP BY status \
         UNION ALL SELECT 'merchant', status::text, '', 0, count(*) FROM merchants GROUP BY status \
         UNION ALL SELECT 'card', status::text, card_type::text, 0, count(*) FROM cards GROUP BY status, card_type; \
         DELETE FROM merchant_activity"
                .to_owned(),
        ],
    )
    .await?;
    // The audit rows and the aggregates read every merchant transaction, refunds included. The
    // aggregates are built by merchant range, one connection per range.
    let mut readers = vec![
        "INSERT INTO audit_events (occurred_at, actor_id, actor_role, action, object_type, object_id, context) \
         SELECT created_at, actor_id, actor_role, upper(tx_type::text), 'transaction', id::text, '{}' \
         FROM transactions WHERE actor_role = 'merchant'"
            .to_owned(),
    ];
    readers.extend(merchant_ranges(AGGREGATE_RANGES).into_iter().map(|range| aggregate_rows(&range)));
    parallel_step(pool, &mut steps, "audit events, aggregates by merchant range (in parallel)", readers).await?;
    // The dropped indexes, the biggest tables' first, on `SEED_CONNECTIONS` connections at once.
    let saved: Vec<String> =
        sqlx::query_scalar("SELECT def || ';' FROM vol_indexes ORDER BY position, name").fetch_all(pool).await?;
    parallel_step(pool, &mut steps, "indexes rebuilt (in parallel)", saved).await?;
    parallel_step(
        pool,
        &mut steps,
        "vacuum analyze (in parallel)",
        vec![
            "VACUUM (ANALYZE) transactions".to_owned(),
            "VACUUM (ANALYZE) point_ledger, merchant_activity".to_owned(),
            "VACUUM (ANALYZE) audit_events, members, cards, card_bindings, merchants, stores".to_owned(),
        ],
    )
    .await?;
    sqlx::raw_sql("DROP TABLE vol_cards, vol_merchants, vol_corporate, vol_indexes").execute(pool).await?;
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql).bind(big_merchant).bind(big_card).fetch_one(pool).await
    };
    Ok(SeedFigures {
        steps,
        total_seconds: crate::stats::round1(started.elapsed().as_secs_f64()),
        transactions: count("SELECT count(*) FROM transactions WHERE $1::uuid IS NOT NULL AND $2::uuid IS NOT NULL")
            .await?,
        big_merchant_transactions: count(
            "SELECT count(*) FROM transactions WHERE merchant_id = $1 AND $2::uuid IS NOT NULL",
        )
        .await?,
        big_card_transactions: count("SELECT count(*) FROM transactions WHERE card_id = $2 AND $1::uuid IS NOT NULL")
            .await?,
        point_ledger_rows: count(
            "SELECT count(*) FROM point_ledger WHERE $1::uuid IS NOT NULL AND $2::uuid IS NOT NULL",
        )
        .await?,
        audit_rows: count("SELECT count(*) FROM audit_events WHERE $1::uuid IS NOT NULL AND $2::uuid IS NOT NULL")
            .await?,
    })
}

/// How many connections write the payments at once, each a range of them.
const PAYMENT_CHUNKS: u64 = 2;

/// How many merchant ranges (one connection each) the aggregates are built in.
const AGGREGATE_RANGES: u32 = 2;

/// `parts` ranges of `merchant_id` covering every uuid, as SQL conditions (split on the first
/// 32 bits: the seeded merchants' ids are random).
fn merchant_ranges(parts: u32) -> Vec<String> {
    let bound =
        |i: u32| format!("'{:08x}-0000-0000-0000-000000000000'::uuid", u64::from(i) * (1u64 << 32) / u64::from(parts));
    (0..parts)
        .map(|i| match (i, i + 1 == parts) {
            (0, true) => "true".to_owned(),
            (0, false) => format!("merchant_id < {}", bound(1)),
            (_, true) => format!("merchant_id >= {}", bound(i)),
            _ => format!("merchant_id >= {} AND merchant_id < {}", bound(i), bound(i + 1)),
        })
        .collect()
}

/// The aggregates of the merchants in `range`, by one `GROUP BY` (the trigger is off:
/// session_replication_role). The kind is `merchant_activity_kind` and the bucket
/// `activity_bucket` (aggregates.sql) written inline: a plpgsql call per row would cost more than
/// the grouping. Rebuilt from every transaction, the small set's included, after the previous
/// step cleared what the small-set scenarios' charges counted: adding onto those rows counted each
/// earlier movement twice. Nearly one group per transaction at volume (10,000 merchants × 8,640
/// quarter hours): with the default 4 MB of `work_mem` the grouping spilled to disk in 32
/// partitions; with 1 GB it sorts in memory. The rows go in primary-key order (the sort's), and
/// the table's other indexes are built after the load.
fn aggregate_rows(range: &str) -> String {
    format!(
        "SET work_mem = '1GB'; \
         INSERT INTO merchant_activity (merchant_id, store_id, bucket, kind, shard, count, amount) \
         SELECT merchant_id, store_id, date_bin('15 minutes', created_at, '2000-01-01T00:00:00Z'::timestamptz), kind, 7, \
                count(*), sum(final_amount) \
         FROM (SELECT merchant_id, store_id, created_at, final_amount, \
                      CASE WHEN tx_type = 'payment' AND status IN ('completed', 'refunded') THEN 'payment' \
                           WHEN tx_type = 'refund' AND status = 'completed' THEN 'refund' \
                           WHEN tx_type = 'recharge' AND payment_method = 'cash' AND status = 'completed' THEN 'topup' \
                      END AS kind \
               FROM transactions WHERE merchant_id IS NOT NULL AND {range}) t \
         WHERE kind IS NOT NULL \
         GROUP BY 1, 2, 3, 4 \
         ORDER BY 1, 2, 3, 4"
    )
}

/// The id of a seeded row: a version-7 uuid from its time (so primary keys and the unique
/// `(card_id, member_id)` of bindings are written in order, as the server's `uuid_v7()` ids of
/// transactions are, not at random places) whose random part is `kind` and the row's number `g`
/// (unique per kind): half the cost of `uuid_v7()`, whose `gen_random_uuid()` asks the kernel for
/// randomness per row.
fn seeded_id(kind: u8, g: &str, at: &str) -> String {
    format!(
        "(lpad(to_hex((extract(epoch FROM {at}) * 1000)::bigint), 12, '0') || '700{kind}8' || \
         lpad(to_hex({g}), 15, '0'))::uuid"
    )
}

/// Payments number `from..=to` of `total` (90% of the history; spread over the days in order),
/// `g % 100 < big_merchant_percent` at the busy merchant and `g % 1000 < big_card_permille` on
/// the busy card; business numbers `base + g`.
fn payment_rows(
    scale: &Scale,
    base: i64,
    (from, to, total): (u64, u64, u64),
    (big_merchant, big_card): (uuid::Uuid, uuid::Uuid),
    big_store: &str,
) -> String {
    format!(
        "INSERT INTO transactions (id, tx_no, tx_type, card_id, merchant_id, store_id, raw_amount, discount_applied, \
             final_amount, points_earned, status, payment_method, actor_id, actor_role, balance_after, \
             created_at, updated_at) \
         SELECT {id}, 'PAY' || lpad(({base} + g)::text, 10, '0'), 'payment', \
                CASE WHEN g % 1000 < {card} THEN '{big_card}'::uuid ELSE c.card_id END, \
                CASE WHEN g % 100 < {merchant} THEN '{big_merchant}'::uuid ELSE m.id END, \
                CASE WHEN g % 100 < {merchant} THEN bs.id ELSE m.store_id END, \
                a.amount, 1, a.amount, floor(a.amount), 'completed', 'balance', \
                CASE WHEN g % 100 < {merchant} THEN '{big_merchant}'::uuid ELSE m.id END, 'merchant', 100, \
                t.at, t.at \
         FROM {big_store} bs, generate_series({from}::bigint, {to}) g \
         JOIN vol_cards c ON c.n = 1 + (g * 104729) % {members} \
         JOIN vol_merchants m ON m.n = 1 + (g * 7919) % {merchants} \
         CROSS JOIN LATERAL (SELECT ((100 + (g * 37) % 900) / 100.0)::numeric(12, 2) AS amount) a \
         CROSS JOIN LATERAL (SELECT now() - interval '1 minute' - ({days} * interval '1 day') * (1 - g::float8 / {total}) AS at) t",
        id = seeded_id(1, "g", "t.at"),
        card = scale.big_card_permille,
        merchant = scale.big_merchant_percent,
        members = scale.members,
        merchants = scale.merchants,
        days = scale.days,
    )
}

/// `total` counter top-ups (cash, 50.00 each), business numbers `base + g`.
fn topup_rows(scale: &Scale, base: i64, total: u64, big_merchant: uuid::Uuid, big_store: &str) -> String {
    format!(
        "INSERT INTO transactions (id, tx_no, tx_type, card_id, merchant_id, store_id, raw_amount, final_amount, status, \
             payment_method, actor_id, actor_role, balance_after, created_at, updated_at) \
         SELECT {id}, 'RCG' || lpad(({base} + g)::text, 10, '0'), 'recharge', c.card_id, \
                CASE WHEN g % 100 < {merchant} THEN '{big_merchant}'::uuid ELSE m.id END, \
                CASE WHEN g % 100 < {merchant} THEN bs.id ELSE m.store_id END, 50, 50, 'completed', \
                'cash', CASE WHEN g % 100 < {merchant} THEN '{big_merchant}'::uuid ELSE m.id END, 'merchant', \
                100, t.at, t.at \
         FROM {big_store} bs, generate_series(1::bigint, {total}) g \
         JOIN vol_cards c ON c.n = 1 + (g * 15485863) % {members} \
         JOIN vol_merchants m ON m.n = 1 + (g * 6007) % {merchants} \
         CROSS JOIN LATERAL (SELECT now() - interval '1 minute' - ({days} * interval '1 day') * (1 - g::float8 / {total}) AS at) t",
        id = seeded_id(2, "g", "t.at"),
        merchant = scale.big_merchant_percent,
        members = scale.members,
        merchants = scale.merchants,
        days = scale.days,
    )
}

/// A refund of half of about one payment in 18 (5% of the history), ten minutes after it.
fn refund_rows(refunds: u64) -> String {
    format!(
        "INSERT INTO transactions (tx_no, tx_type, card_id, merchant_id, store_id, raw_amount, final_amount, status, \
             payment_method, original_tx_id, actor_id, actor_role, balance_after, created_at, updated_at) \
         SELECT 'REF' || lpad((s.base + row_number() OVER ())::text, 10, '0'), 'refund', p.card_id, p.merchant_id, \
                p.store_id, \
                greatest(round(p.final_amount / 2, 2), 0.01), greatest(round(p.final_amount / 2, 2), 0.01), \
                'completed', 'balance', p.id, p.merchant_id, 'merchant', 100, \
                least(p.created_at + interval '10 minutes', now() - interval '1 minute'), \
                least(p.created_at + interval '10 minutes', now() - interval '1 minute') \
         FROM (SELECT nextval('tx_no_seq') AS base) s, \
              (SELECT id, card_id, merchant_id, store_id, final_amount, created_at FROM transactions \
               WHERE tx_type = 'payment' AND hashtext(id::text) % 18 = 0) p; \
         SELECT setval('tx_no_seq', nextval('tx_no_seq') + {r} * 2)",
        r = refunds.max(1),
    )
}

/// One GET measured under load: a name for the table, the path, and whose token it sends.
#[derive(Debug, Clone)]
pub struct Read {
    pub name: String,
    pub path: String,
    pub auth: HeaderValue,
}

/// The tokens the reads need: the busy merchant, the busy card's member, an admin.
pub struct Readers {
    pub merchant: HeaderValue,
    pub member: HeaderValue,
    pub admin: HeaderValue,
    pub big_card: uuid::Uuid,
}

/// Logs the bench's admin in.
pub async fn admin_token(addr: SocketAddr) -> anyhow::Result<HeaderValue> {
    let body = serde_json::json!({"role": "admin", "identifier": "bench@mps.invalid", "password": PASSWORD});
    let answer = Conn::new(addr)
        .send(Method::POST, "/auth/login", None, None, Some(serde_json::to_vec(&body)?))
        .await
        .map_err(|e| anyhow::anyhow!("admin login: {e}"))?;
    anyhow::ensure!(answer.status == StatusCode::OK, "admin login answered {}", answer.status);
    let token: serde_json::Value = serde_json::from_slice(&answer.body)?;
    Ok(bearer(token["token"].as_str().context("admin login without token")?))
}

async fn get_json(conn: &mut Conn, path: &str, auth: &HeaderValue) -> anyhow::Result<serde_json::Value> {
    let answer =
        conn.send(Method::GET, path, Some(auth), None, None).await.map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    anyhow::ensure!(answer.status == StatusCode::OK, "{path} answered {}", answer.status);
    Ok(serde_json::from_slice(&answer.body)?)
}

/// A cursor deep into a list: the `next_cursor` of a page reached by a date bound far in the past
/// (a cursor carries a position, not the filters, so it then pages the unfiltered list from there),
/// or, for lists without dates, of the page at the deepest offset.
async fn deep_cursor(conn: &mut Conn, path: &str, auth: &HeaderValue, dated: bool) -> anyhow::Result<String> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let jump = if dated {
        let old = (Utc::now() - chrono::Duration::days(60)).format("%Y-%m-%d");
        format!("{path}{separator}limit=50&end_date={old}")
    } else {
        format!("{path}{separator}limit=50&offset={}", mps_api::pagination::MAX_OFFSET)
    };
    let page = get_json(conn, &jump, auth).await?;
    page["pagination"]["next_cursor"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{jump} gave no cursor: the list is too short to page deep"))
}

/// The reads of the scenario, first pages and deep pages, with their paths resolved.
pub async fn reads(addr: SocketAddr, readers: &Readers) -> anyhow::Result<Vec<Read>> {
    let mut conn = Conn::new(addr);
    let lists: Vec<(&str, String, &HeaderValue, bool)> = vec![
        ("merchant transactions", "/merchant/transactions".into(), &readers.merchant, true),
        ("member transactions", "/member/transactions".into(), &readers.member, true),
        ("member points", format!("/member/points/{}", readers.big_card), &readers.member, false),
        ("merchant settlements", "/merchant/settlements".into(), &readers.merchant, false),
        ("admin members", "/admin/members".into(), &readers.admin, false),
        ("admin merchants", "/admin/merchants".into(), &readers.admin, false),
        ("admin cards", "/admin/cards".into(), &readers.admin, false),
        ("admin audit", "/admin/audit".into(), &readers.admin, true),
    ];
    let mut reads = Vec::new();
    for (name, path, auth, dated) in lists {
        let separator = if path.contains('?') { '&' } else { '?' };
        reads.push(Read {
            name: format!("{name}, first page"),
            path: format!("{path}{separator}limit=50"),
            auth: auth.clone(),
        });
        match deep_cursor(&mut conn, &path, auth, dated).await {
            Ok(cursor) => reads.push(Read {
                name: format!("{name}, deep page"),
                path: format!("{path}{separator}limit=50&cursor={cursor}"),
                auth: auth.clone(),
            }),
            Err(e) => eprintln!("mps-bench: no deep page of {name}: {e:#}"),
        }
    }
    let busy_day = (Utc::now() - chrono::Duration::days(2)).format("%Y-%m-%d");
    reads.push(Read {
        name: "daily summary".into(),
        path: format!("/merchant/daily-summary?date={busy_day}"),
        auth: readers.merchant.clone(),
    });
    reads.push(Read { name: "statistics".into(), path: "/admin/statistics".into(), auth: readers.admin.clone() });
    Ok(reads)
}

/// Runs one read at `concurrency` connections for `measure` (after `warmup`).
pub async fn measure(
    addr: SocketAddr,
    read: &Read,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<OpSummary> {
    let measure_from = Instant::now() + warmup;
    let until = measure_from + measure;
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (path, auth) = (read.path.clone(), read.auth.clone());
        tasks.spawn(async move {
            let mut conn = Conn::new(addr);
            let mut recorder = Recorder::default();
            while Instant::now() < until {
                let started = Instant::now();
                let answer = conn.send(Method::GET, &path, Some(&auth), None, None).await;
                if started < measure_from {
                    continue;
                }
                match answer {
                    Ok(a) if a.status == StatusCode::OK => recorder.ok(a.latency),
                    Ok(a) => recorder.error(a.status.as_u16().to_string()),
                    Err(e) => recorder.error(format!("transport: {e}")),
                }
            }
            recorder
        });
    }
    let mut recorder = Recorder::default();
    while let Some(part) = tasks.join_next().await {
        recorder.merge(part.context("a reader panicked")?);
    }
    Ok(recorder.summary(measure))
}

/// `POST /merchant/settlements` for the busy merchant's month `months_back` before this one: how long it took
/// and how many payments it settled.
pub async fn monthly_settlement(
    addr: SocketAddr,
    merchant: &HeaderValue,
    months_back: u32,
) -> anyhow::Result<(f64, i64)> {
    let now = Utc::now().date_naive();
    let months = now.year() * 12 + i32::try_from(now.month0()).unwrap_or(0) - i32::try_from(months_back).unwrap_or(1);
    let last_month = format!("{}-{:02}", months.div_euclid(12), months.rem_euclid(12) + 1);
    let body = serde_json::to_vec(&serde_json::json!({"mode": "monthly", "month": last_month}))?;
    let key = format!("volume-settle-{}", uuid::Uuid::new_v4());
    let answer = Conn::new(addr)
        .send(Method::POST, "/merchant/settlements", Some(merchant), Some(&key), Some(body))
        .await
        .map_err(|e| anyhow::anyhow!("settlement: {e}"))?;
    anyhow::ensure!(
        answer.status == StatusCode::CREATED,
        "the monthly settlement answered {}: {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    let settlement: serde_json::Value = serde_json::from_slice(&answer.body)?;
    Ok((crate::stats::round3(answer.latency.as_secs_f64() * 1000.0), settlement["payment_count"].as_i64().unwrap_or(0)))
}

/// The name of the payment pair's `round`-th window in a set's operations.
pub fn pair_round(round: usize) -> String {
    format!("payment pair, round {round}")
}

/// Copies the database `url` names into one named like it plus `suffix` (dropped first if a run
/// left it), and returns the copy's URL. No connection may be open to the source meanwhile.
pub async fn copy_database(url: &str, suffix: &str) -> anyhow::Result<String> {
    let (server, name) = url.rsplit_once('/').context("the database URL has no database name")?;
    let copy = format!("{server}/{name}{suffix}");
    crate::seed::drop_database(&copy).await?;
    let admin = PgPoolOptions::new().max_connections(1).connect(&format!("{server}/postgres")).await?;
    let sql = format!("CREATE DATABASE \"{name}{suffix}\" TEMPLATE \"{name}\"");
    sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&admin).await.with_context(|| sql.clone())?;
    admin.close().await;
    Ok(copy)
}

/// The targets, from the `volume_small` and `volume_volume` scenarios.
pub fn targets(scenarios: &[crate::report::Scenario], seeded: &SeedFigures, settlement: (f64, i64)) -> Vec<Target> {
    let find = |name: &str| scenarios.iter().find(|s| s.name == name);
    let (Some(small), Some(large)) = (find("volume_small"), find("volume_volume")) else { return Vec::new() };
    let worst = |filter: &dyn Fn(&str) -> bool| {
        large
            .operations
            .iter()
            .filter(|(name, _)| filter(name))
            .map(|(name, o)| (o.p99_ms, name.clone()))
            .fold((0.0, String::new()), |a, b| if b.0 > a.0 { b } else { a })
    };
    let (lists, list) = worst(&|name| name.contains("page"));
    let (reports, report) = worst(&|name| name == "daily summary" || name == "statistics");
    // Round k of the small set against round k of the volume history (they ran back to back);
    // the median of those ratios.
    let pair =
        |s: &crate::report::Scenario, round: usize| s.operations.get(&pair_round(round)).map_or(0.0, |o| o.per_second);
    let rounds: Vec<(f64, f64)> =
        (1..).map(|k| (pair(small, k), pair(large, k))).take_while(|(a, b)| *a > 0.0 && *b > 0.0).collect();
    let mut ratios: Vec<f64> = rounds.iter().map(|(a, b)| b / a).collect();
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios.get(ratios.len() / 2).copied().unwrap_or(0.0);
    let each = rounds.iter().map(|(a, b)| format!("{:.2} ({b:.0}/s against {a:.0}/s)", b / a)).collect::<Vec<_>>();
    vec![
        Target {
            name: "volume: every list page p99 at 16 connections".into(),
            goal: "< 25 ms".into(),
            value: format!("{lists:.1} ms (worst: {list})"),
            met: lists < 25.0,
        },
        Target {
            name: "volume: daily summary and statistics p99".into(),
            goal: "< 50 ms".into(),
            value: format!("{reports:.1} ms (worst: {report})"),
            met: reports < 50.0,
        },
        Target {
            name: "volume: monthly settlement of the busy merchant".into(),
            goal: "< 1 s for 700k payments".into(),
            value: format!("{:.0} ms for {} payments", settlement.0, settlement.1),
            met: settlement.0 < 1000.0,
        },
        Target {
            name: "volume: payment pair throughput / small data set".into(),
            goal: "≥ 0.9".into(),
            value: format!("{ratio:.2}, the median of {} alternating rounds: {}", rounds.len(), each.join(", ")),
            met: ratio >= 0.9,
        },
        Target {
            name: "volume: seeding".into(),
            goal: "≤ 300 s".into(),
            value: format!("{:.0} s for {} transactions", seeded.total_seconds, seeded.transactions),
            met: seeded.total_seconds <= 300.0,
        },
    ]
}

/// What PostgreSQL has counted so far (cumulative statistics views): the numerator of the per-charge
/// figures the payment pair reports, so that a difference between the small data set and the
/// volume history can be told apart (buffer reads, WAL, full-page images, backend writes).
#[derive(Debug, Clone, Default)]
pub struct PgCounters {
    /// Rows inserted into `transactions`: one per charge (warm-up included).
    pub charges: i64,
    pub blks_read: i64,
    pub blks_hit: i64,
    pub wal_records: i64,
    pub wal_fpi: i64,
    pub wal_bytes: i64,
    /// Dirty buffers a backend wrote itself to free a buffer (`pg_stat_bgwriter`).
    pub buffers_backend: i64,
    pub buffers_alloc: i64,
    pub checkpoints: i64,
    /// Per table and index: blocks read from outside shared buffers, and hits.
    pub relations: std::collections::BTreeMap<String, (i64, i64)>,
}

/// Backends flush their statistics when idle at most every 10 s (`PGSTAT_IDLE_INTERVAL`): wait
/// that long so a snapshot holds everything done before it.
pub const STATS_FLUSH: Duration = Duration::from_secs(11);

/// A snapshot of [`PgCounters`] for the database `pool` is connected to.
pub async fn pg_counters(pool: &PgPool) -> anyhow::Result<PgCounters> {
    let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT coalesce((SELECT n_tup_ins FROM pg_stat_user_tables WHERE relid = 'transactions'::regclass), 0), \
                d.blks_read, d.blks_hit, w.wal_records, w.wal_fpi, w.wal_bytes::bigint, \
                b.buffers_backend, b.buffers_alloc, b.checkpoints_timed + b.checkpoints_req \
           FROM pg_stat_database d, pg_stat_wal w, pg_stat_bgwriter b \
          WHERE d.datname = current_database()",
    )
    .fetch_one(pool)
    .await
    .context("cannot read the statistics views")?;
    let relations: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, coalesce(heap_blks_read, 0), coalesce(heap_blks_hit, 0) FROM pg_statio_user_tables \
         UNION ALL \
         SELECT indexrelname::text, coalesce(idx_blks_read, 0), coalesce(idx_blks_hit, 0) FROM pg_statio_user_indexes",
    )
    .fetch_all(pool)
    .await
    .context("cannot read pg_statio_user_tables/indexes")?;
    Ok(PgCounters {
        charges: row.0,
        blks_read: row.1,
        blks_hit: row.2,
        wal_records: row.3,
        wal_fpi: row.4,
        wal_bytes: row.5,
        buffers_backend: row.6,
        buffers_alloc: row.7,
        checkpoints: row.8,
        relations: relations.into_iter().map(|(name, read, hit)| (name, (read, hit))).collect(),
    })
}

/// The difference `after - before` per charge, as one line: buffer reads and hits, WAL bytes,
/// records and full-page images, backend writes and allocations, and the relations read most.
pub fn per_charge(before: &PgCounters, after: &PgCounters) -> String {
    let charges = (after.charges - before.charges).max(1);
    let per = |a: i64, b: i64| (a - b) as f64 / charges as f64;
    let mut reads: Vec<(f64, f64, &str)> = after
        .relations
        .iter()
        .map(|(name, (read, hit))| {
            let (r0, h0) = before.relations.get(name).copied().unwrap_or_default();
            (per(*read, r0), per(*hit, h0), name.as_str())
        })
        .filter(|(read, hit, _)| *read > 0.0 || *hit > 0.0)
        .collect();
    let show = |list: &[(f64, f64, &str)]| -> Vec<String> {
        list.iter().take(8).map(|(read, hit, name)| format!("{name} {read:.2} read / {hit:.1} hit")).collect()
    };
    reads.sort_by(|a, b| b.1.total_cmp(&a.1));
    let hits = show(&reads);
    reads.sort_by(|a, b| b.0.total_cmp(&a.0));
    reads.retain(|(read, _, _)| *read > 0.0);
    let most = show(&reads);
    format!(
        "per charge ({charges} charges, warm-up included): shared blocks read {:.2}, hit {:.1}; WAL {:.0} B in \
         {:.1} records, {:.2} full-page images; backend writes {:.2}, buffer allocations {:.2}; checkpoints in \
         between {}; most read: {}; most hit: {}",
        per(after.blks_read, before.blks_read),
        per(after.blks_hit, before.blks_hit),
        per(after.wal_bytes, before.wal_bytes),
        per(after.wal_records, before.wal_records),
        per(after.wal_fpi, before.wal_fpi),
        per(after.buffers_backend, before.buffers_backend),
        per(after.buffers_alloc, before.buffers_alloc),
        after.checkpoints - before.checkpoints,
        if most.is_empty() { "nothing".to_owned() } else { most.join(", ") },
        hits.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use mps_api::money::Money;

    /// A volume scenario with the given operations: (name, per second, p99 ms).
    fn scenario_with(name: &str, ops: &[(&str, f64, f64)]) -> crate::report::Scenario {
        let op = |per_second: f64, p99_ms: f64| OpSummary {
            count: 1,
            errors: 0,
            error_kinds: Default::default(),
            seconds: 1.0,
            per_second,
            mean_ms: p99_ms,
            p50_ms: p99_ms,
            p95_ms: p99_ms,
            p99_ms,
            max_ms: p99_ms,
        };
        crate::report::Scenario {
            name: name.into(),
            concurrency: 16,
            main: pair_round(1),
            operations: ops.iter().map(|(k, per_second, p99)| ((*k).to_owned(), op(*per_second, *p99))).collect(),
            server: None,
            machine_cpu_busy_percent: 0.0,
            notes: None,
        }
    }

    /// The pair's target divides round k of the 10M set by round k of the small set (they ran back
    /// to back) and takes the median, so one window the machine slowed down moves it no more than
    /// any other round; the lists' target is the worst page.
    #[test]
    fn the_pair_target_is_the_median_of_the_rounds_ratios() {
        let (r1, r2, r3) = (pair_round(1), pair_round(2), pair_round(3));
        let small = scenario_with("volume_small", &[(&r1, 600.0, 1.0), (&r2, 600.0, 1.0), (&r3, 500.0, 1.0)]);
        let large = scenario_with(
            "volume_volume",
            &[
                (&r1, 300.0, 1.0),
                (&r2, 570.0, 1.0),
                (&r3, 500.0, 1.0),
                ("merchant transactions, first page", 0.0, 26.0),
            ],
        );
        let seeded = SeedFigures {
            steps: Vec::new(),
            total_seconds: 100.0,
            transactions: 10,
            big_merchant_transactions: 2,
            big_card_transactions: 1,
            point_ledger_rows: 9,
            audit_rows: 10,
        };
        let targets = targets(&[small, large], &seeded, (10.0, 600_000));
        let pair = targets.iter().find(|t| t.name.contains("payment pair")).expect("the pair's target");
        // Ratios 0.50, 0.95 and 1.00: the median is 0.95, the first round alone would say 0.50.
        assert!(pair.value.starts_with("0.95, the median of 3 alternating rounds"), "{}", pair.value);
        assert!(pair.met);
        let lists = targets.iter().find(|t| t.name.contains("list page")).expect("the lists' target");
        assert!(!lists.met && lists.value.starts_with("26.0 ms"), "{}", lists.value);
    }

    /// The copy the pair's rounds alternate on is made and dropped by name: only the harness'
    /// own databases (`mps_bench*`), checked before any connection is made.
    #[tokio::test]
    async fn only_the_harness_databases_are_copied_or_dropped() {
        let elsewhere = "postgres://postgres@127.0.0.1:1/production";
        let copied = copy_database(elsewhere, "_volume").await.expect_err("a foreign database is not copied");
        assert!(copied.to_string().contains("refusing to drop `production_volume`"), "{copied:#}");
        let dropped = crate::seed::drop_database(elsewhere).await.expect_err("a foreign database is not dropped");
        assert!(dropped.to_string().contains("refusing to drop `production`"), "{dropped:#}");
    }

    #[test]
    fn merchant_ranges_cover_every_uuid_once() {
        assert_eq!(merchant_ranges(1), vec!["true".to_owned()]);
        assert_eq!(
            merchant_ranges(2),
            vec![
                "merchant_id < '80000000-0000-0000-0000-000000000000'::uuid".to_owned(),
                "merchant_id >= '80000000-0000-0000-0000-000000000000'::uuid".to_owned(),
            ]
        );
        assert_eq!(
            merchant_ranges(4)[1],
            "merchant_id >= '40000000-0000-0000-0000-000000000000'::uuid \
             AND merchant_id < '80000000-0000-0000-0000-000000000000'::uuid"
        );
    }

    /// The benchmark seeds its history on top of a small data set that has already been used
    /// (the small-set scenarios charge before the volume seed), so the aggregates the reports read
    /// must come out equal to the transactions they count, and the statistics' counters equal to
    /// the members, cards and merchants. (The synthetic history does not keep
    /// the rest of the books — balances, chains, ledger — and does not claim to: it is load, read
    /// by the list and report scenarios, never by a money check.)
    #[tokio::test]
    async fn a_volume_history_seeded_on_a_used_small_set_keeps_the_aggregates_and_counters_exact() {
        let app = test_support::TestApp::new().await;
        let cast = app.shopping("100.00").await;
        cast.pay("10.00").await;
        let float = Money::parse_text("500.00").unwrap();
        let dataset = crate::seed::seed(&app.pool, 3, 2, float).await.unwrap();
        let scale = Scale {
            members: 200,
            merchants: 4,
            transactions: 2_000,
            big_merchant_percent: 20,
            big_card_permille: 10,
            days: 3,
        };
        let indexes = "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexdef";
        let before: Vec<String> = sqlx::query_scalar(indexes).fetch_all(&app.pool).await.unwrap();
        seed(&app.pool, &dataset, scale).await.unwrap();
        let after: Vec<String> = sqlx::query_scalar(indexes).fetch_all(&app.pool).await.unwrap();
        assert_eq!(before, after, "the seed rebuilds every index it drops, as it was");
        let seeded: i64 = sqlx::query_scalar("SELECT count(*) FROM transactions").fetch_one(&app.pool).await.unwrap();
        assert!(seeded > 1_500, "the history was loaded: {seeded} transactions");
        let violations: Vec<(String, String, String)> =
            sqlx::query_as(test_support::INVARIANTS_SQL).fetch_all(&app.pool).await.unwrap();
        let aggregates: Vec<_> =
            violations.iter().filter(|(name, _, _)| name.starts_with("merchant aggregates")).collect();
        assert!(aggregates.is_empty(), "aggregates off after the seed: {aggregates:?}");
        let counters: Vec<_> = violations.iter().filter(|(name, _, _)| name.starts_with("status counters")).collect();
        assert!(counters.is_empty(), "status counters off after the seed: {counters:?}");
        let members: i64 = sqlx::query_scalar("SELECT sum(n)::bigint FROM status_counts WHERE subject = 'member'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert!(members > 200, "the counters include the loaded members: {members}");
        // Every hundredth member is bound to a corporate card (200 members: one card, its owner
        // and one member), and the charge's pricing finds their discount.
        let bound: Vec<(uuid::Uuid, String)> = sqlx::query_as(
            "SELECT b.member_id, b.role::text FROM card_bindings b JOIN cards c ON c.id = b.card_id \
             WHERE c.card_type = 'corporate' ORDER BY b.role",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap();
        assert_eq!(bound.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>(), ["owner", "member"]);
        for (member, _) in &bound {
            let discount: Option<String> = sqlx::query_scalar("SELECT member_corporate_discount($1)::text")
                .bind(member)
                .fetch_one(&app.pool)
                .await
                .unwrap();
            assert_eq!(discount.as_deref(), Some("0.90"));
        }
    }
}
