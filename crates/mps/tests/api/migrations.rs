//! Migrations: on an empty database, again (a no-op), concurrently, and the database creation.

use crate::helpers::{TestDb, base_vars, config_from};

#[tokio::test]
async fn migrations_build_the_full_schema_on_an_empty_database_and_rerun_as_a_no_op() {
    let (db, pool) = TestDb::migrated().await;
    mps::db::migrate(&pool).await.expect("a second run applies nothing and succeeds");

    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for table in [
        "admins",
        "audit_events",
        "card_bindings",
        "cards",
        "idempotency_keys",
        "member_identities",
        "members",
        "membership_levels",
        "merchant_orders",
        "merchants",
        "point_ledger",
        "qr_issues",
        "sessions",
        "settlements",
        "transactions",
    ] {
        assert!(tables.iter().any(|t| t == table), "table {table} missing from {tables:?}");
    }
    let levels: Vec<(i32, String, i64, Option<i64>, String)> = sqlx::query_as(
        "SELECT level, name, min_points, max_points, discount::text FROM membership_levels ORDER BY level",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        levels,
        vec![
            (0, "Regular".into(), 0, Some(999), "1.000".into()),
            (1, "Silver".into(), 1000, Some(4999), "0.950".into()),
            (2, "Gold".into(), 5000, Some(9999), "0.900".into()),
            (3, "Diamond".into(), 10000, None, "0.850".into()),
        ]
    );
    drop(pool);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_migrating_at_once_apply_each_migration_and_function_file_once() {
    let db = TestDb::empty().await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let pool = db.pool(2).await;
        replicas.push(tokio::spawn(async move { mps::db::migrate(&pool).await.map_err(|e| format!("{e:#}")) }));
    }
    for replica in replicas {
        replica.await.unwrap().expect("every replica's migration succeeds");
    }
    let pool = db.pool(1).await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
    assert_eq!(applied as usize, mps::db::MIGRATOR.iter().count(), "each migration recorded once");
    let files: i64 = sqlx::query_scalar("SELECT count(*) FROM sql_files").fetch_one(&pool).await.unwrap();
    assert_eq!(files as usize, mps::db::schema::function_files().len(), "each function file recorded once");
}

#[tokio::test]
async fn migrate_creates_the_database_when_it_does_not_exist() {
    let name = format!("mps_test_{}", uuid::Uuid::new_v4().simple());
    let config = config_from(&base_vars(&crate::helpers::database_url(&name), "mps:test:unused:"));
    // Owning the name makes the guard drop the database at the end of the test.
    let db = TestDb { name: name.clone(), url: config.database_url.expose().to_owned() };
    mps::db::migrate_database(&config).await.expect("migrate creates and migrates the database");
    let pool = db.pool(1).await;
    let members: i64 = sqlx::query_scalar("SELECT count(*) FROM members").fetch_one(&pool).await.unwrap();
    assert_eq!(members, 0);
    mps::db::migrate_database(&config).await.expect("running it again is harmless");
}

#[tokio::test]
async fn business_numbers_have_a_minimum_width_and_never_wrap() {
    let (_db, pool) = TestDb::migrated().await;
    let formatted: Vec<String> = sqlx::query_scalar(
        "SELECT business_number('M', n, 8) FROM unnest(ARRAY[1, 99999999, 100000000, 12345678901]::bigint[]) n",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(formatted, ["M00000001", "M99999999", "M100000000", "M12345678901"]);
    sqlx::query("SELECT setval('member_no_seq', 99999999)").execute(&pool).await.unwrap();
    let member_no: String = sqlx::query_scalar("INSERT INTO members (name) VALUES ('Wide') RETURNING member_no")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(member_no, "M100000000", "the number grows past the padding instead of wrapping");
}

#[tokio::test]
async fn constraints_make_bad_states_impossible() {
    let (_db, pool) = TestDb::migrated().await;
    let card_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO cards (card_no, card_type, name) VALUES (next_card_no('standard'), 'standard', 'c') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let refused = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            let result = sqlx::query(sql).bind(card_id).execute(&pool).await;
            assert!(result.is_err(), "the database accepted a bad state: {sql}");
        }
    };
    refused("UPDATE cards SET balance = -0.01 WHERE id = $1").await;
    refused("UPDATE cards SET points = -1 WHERE id = $1").await;
    refused("UPDATE cards SET status = 'closed', balance = 5 WHERE id = $1").await;
    refused("UPDATE cards SET fixed_discount = 0.9 WHERE id = $1").await;
    refused("UPDATE cards SET card_no = 'VCH00000001' WHERE id = $1").await;
    refused(
        "INSERT INTO transactions (tx_no, tx_type, card_id, raw_amount, final_amount, status, payment_method, actor_role)          VALUES (next_tx_no('refund'), 'refund', $1, 1, 1, 'completed', 'balance', 'merchant')",
    )
    .await;
    refused("INSERT INTO audit_events (actor_role, action) SELECT 'admin', 'lower_case' WHERE $1 IS NOT NULL").await;
    sqlx::query("SELECT audit(NULL, 'system', 'TEST_EVENT', 'card', $1::text, '{}', NULL)")
        .bind(card_id)
        .execute(&pool)
        .await
        .unwrap();
    refused("DELETE FROM audit_events WHERE $1 IS NOT NULL").await;
    // The parents the payment path references without foreign keys (migration 0010) stay.
    sqlx::query("INSERT INTO merchants (code, name, password_hash) VALUES ('GUARD1', 'Guard', 'x')")
        .execute(&pool)
        .await
        .unwrap();
    refused("DELETE FROM merchants WHERE $1 IS NOT NULL").await;
    refused("DELETE FROM stores WHERE $1 IS NOT NULL").await;
    refused("DELETE FROM members WHERE $1 IS NOT NULL").await;
    refused("DELETE FROM transactions WHERE card_id = $1").await;
    refused("UPDATE stores SET merchant_id = gen_random_uuid() WHERE $1 IS NOT NULL").await;
    refused("UPDATE merchants SET id = gen_random_uuid() WHERE $1 IS NOT NULL").await;
}
