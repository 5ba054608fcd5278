//! The quarter-hour aggregates behind daily summaries, settlements and statistics (issue 15):
//! kept in the transaction that moves the money, equal to the raw sums after a parallel load, and
//! moved along when a transaction's time is corrected.

use std::sync::Arc;

use serde_json::json;

use crate::helpers::{Shopping, TestApp, assert_books_balance, new_key};
use crate::programme_support::{backdate, tx_no};

/// The six period totals (payments, refunds, cash top-ups: count and amount) a query gives for
/// a merchant over [start, end), as text.
async fn totals(app: &TestApp, sql: &'static str, merchant: &str, start: &str, end: &str) -> Vec<String> {
    let row: (i64, String, i64, String, i64, String) =
        sqlx::query_as(sql).bind(merchant).bind(start).bind(end).fetch_one(&app.pool).await.unwrap();
    vec![row.0.to_string(), row.1, row.2.to_string(), row.3, row.4.to_string(), row.5]
}

/// What the raw transactions of a merchant say over [start, end).
async fn raw_totals(app: &TestApp, merchant: &str, start: &str, end: &str) -> Vec<String> {
    let sql = "SELECT count(*) FILTER (WHERE tx_type = 'payment' AND status IN ('completed', 'refunded')), \
                coalesce(sum(final_amount) FILTER (WHERE tx_type = 'payment' AND status IN ('completed', 'refunded')), 0)::text, \
                count(*) FILTER (WHERE tx_type = 'refund' AND status = 'completed'), \
                coalesce(sum(final_amount) FILTER (WHERE tx_type = 'refund' AND status = 'completed'), 0)::text, \
                count(*) FILTER (WHERE tx_type = 'recharge' AND payment_method = 'cash' AND status = 'completed'), \
                coalesce(sum(final_amount) FILTER (WHERE tx_type = 'recharge' AND payment_method = 'cash' AND status = 'completed'), 0)::text \
         FROM transactions WHERE merchant_id = $1::uuid AND created_at >= $2::timestamptz AND created_at < $3::timestamptz";
    totals(app, sql, merchant, start, end).await
}

/// What `merchant_period_totals` (aggregates plus the period's uneven ends) says.
async fn kept_totals(app: &TestApp, merchant: &str, start: &str, end: &str) -> Vec<String> {
    let sql = "SELECT payment_count, payment_amount::text, refund_count, refund_amount::text, topup_count, topup_amount::text \
         FROM merchant_period_totals($1::uuid, $2::timestamptz, $3::timestamptz)";
    totals(app, sql, merchant, start, end).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aggregates_equal_the_raw_sums_after_parallel_charges_refunds_and_top_ups() {
    let app = Arc::new(TestApp::with_vars(&[("RATE_LIMIT_REQUESTS", "1000000")]).await);
    let admin = app.admin().await;
    let shops = [admin.create_merchant("Shop A").await, admin.create_merchant("Shop B").await];
    let mut members = Vec::new();
    for i in 0..8 {
        let member = admin.create_member(&format!("Member {i}")).await;
        admin.credit(&member.card_id, "500.00").await;
        members.push(member);
    }
    let shop_tokens: Vec<String> =
        [app.merchant_client(&shops[0]).await.token, app.merchant_client(&shops[1]).await.token].into();
    let member_tokens: Vec<String> = {
        let mut tokens = Vec::new();
        for member in &members {
            tokens.push(app.member_client(member).await.token);
        }
        tokens
    };

    // Eight workers, one card each, alternating shops: a charge, a partial refund of it, a top-up.
    let workers: Vec<_> = (0..8usize)
        .map(|i| {
            let app = app.clone();
            let (card_id, card_no) = (members[i].card_id.clone(), members[i].card_no.clone());
            let (member_token, shop_token) = (member_tokens[i].clone(), shop_tokens[i % 2].clone());
            tokio::spawn(async move {
                for round in 0..6 {
                    let member =
                        crate::helpers::Client { app: &app, token: member_token.clone(), id: uuid::Uuid::nil() };
                    let shop = crate::helpers::Client { app: &app, token: shop_token.clone(), id: uuid::Uuid::nil() };
                    let charged = shop.charge(&member.qr(&card_id).await, &format!("{}.{:02}", 3 + round, 7 * i)).await;
                    let paid = tx_no(&charged);
                    assert_eq!(shop.refund(&paid, "1.10").await.status, 201);
                    let topup = json!({ "card_no": card_no, "amount": "2.35" });
                    assert_eq!(shop.post_idempotent("/merchant/recharge", &new_key(), topup).await.status, 201);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a worker failed");
    }

    assert_books_balance(&app.pool).await;
    for shop in &shops {
        let whole_day = ("2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z");
        let kept = kept_totals(&app, &shop.id, whole_day.0, whole_day.1).await;
        assert_eq!(kept, raw_totals(&app, &shop.id, whole_day.0, whole_day.1).await, "{}: whole buckets", shop.code);
        assert_eq!(kept[0], "24", "{}: four workers × six payments", shop.code);
        // A period whose ends fall inside quarter hours: the ends are counted from the rows.
        let (start, end): (String, String) = sqlx::query_as(
            "SELECT (min(created_at) + interval '1 microsecond')::text, (max(created_at) - interval '1 microsecond')::text \
             FROM transactions WHERE merchant_id = $1::uuid",
        )
        .bind(&shop.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(
            kept_totals(&app, &shop.id, &start, &end).await,
            raw_totals(&app, &shop.id, &start, &end).await,
            "{}: a realtime period from {start} to {end}",
            shop.code
        );
    }
}

#[tokio::test]
async fn correcting_a_transactions_time_moves_its_count_to_the_new_quarter_hour() {
    let app = TestApp::new().await;
    let Shopping { member, merchant, shop, ana, .. } = app.shopping("100.00").await;
    let paid = tx_no(&shop.charge(&ana.qr(&member.card_id).await, "12.50").await);
    backdate(&app.pool, &paid, "2024-03-01T10:20:00Z").await;

    let day = kept_totals(&app, &merchant.id, "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z").await;
    assert_eq!((day[0].as_str(), day[1].as_str()), ("1", "12.50"), "the payment counts on its new day");
    let quarter: (i64, String) = sqlx::query_as(
        "SELECT sum(count)::bigint, sum(amount)::text FROM merchant_activity \
         WHERE merchant_id = $1::uuid AND bucket = '2024-03-01T10:15:00Z'",
    )
    .bind(&merchant.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(quarter, (1, "12.50".to_owned()), "in the quarter hour starting 10:15");
    let summary = shop.get("/merchant/daily-summary?date=2024-03-01").await;
    assert_eq!(summary.json["summary"]["payment_count"], 1, "{}", summary.text);
    assert_eq!(summary.json["hourly"][10]["count"], 1, "bucketed in its local hour: {}", summary.text);
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn each_stores_summary_and_settlement_share_are_read_from_its_own_aggregates() {
    let app = TestApp::new().await;
    let Shopping { member, merchant, shop, ana, .. } = app.shopping("100.00").await;
    let opened = shop.post("/merchant/stores", json!({ "code": "EAST", "name": "East" })).await;
    assert_eq!(opened.status, 201, "{}", opened.text);
    let at_main = tx_no(&shop.charge(&ana.qr(&member.card_id).await, "10.00").await);
    let body = json!({ "qr_plain": ana.qr(&member.card_id).await, "amount": "2.50", "store": "EAST" });
    let at_east = shop.post_idempotent("/merchant/charge", &new_key(), body).await;
    assert_eq!(at_east.status, 201, "{}", at_east.text);
    for paid in [at_main, tx_no(&at_east)] {
        backdate(&app.pool, &paid, "2024-03-01T10:20:00Z").await;
    }
    let kept: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT s.code, sum(a.count)::bigint, sum(a.amount)::text FROM merchant_activity a \
         JOIN stores s ON s.id = a.store_id WHERE a.merchant_id = $1::uuid AND a.kind = 'payment' \
         GROUP BY s.code ORDER BY s.code",
    )
    .bind(&merchant.id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(kept, [("EAST".to_owned(), 1, "2.50".to_owned()), ("MAIN".to_owned(), 1, "10.00".to_owned())]);
    assert_books_balance(&app.pool).await;

    // The reports read the aggregates, not the rows: a (test-only) change to one store's buckets
    // shows in that store's figures and the merchant's, and in no other store's.
    sqlx::query(
        "UPDATE merchant_activity a SET amount = a.amount + 100 FROM stores s \
         WHERE s.id = a.store_id AND s.code = 'EAST' AND a.kind = 'payment'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    for (store, expected) in [("EAST", "102.50"), ("MAIN", "10.00")] {
        let day = shop.get(&format!("/merchant/daily-summary?date=2024-03-01&store={store}")).await;
        assert_eq!(day.json["summary"]["payment_amount"], expected, "{store}: {}", day.text);
    }
    let whole = shop.get("/merchant/daily-summary?date=2024-03-01").await;
    assert_eq!(whole.json["summary"]["payment_amount"], "112.50", "{}", whole.text);
    let period =
        json!({ "mode": "realtime", "period_start": "2024-03-01T00:00:00Z", "period_end": "2024-03-02T00:00:00Z" });
    let settled = shop.post("/merchant/settlements", period).await;
    assert_eq!(settled.status, 201, "{}", settled.text);
    assert_eq!(settled.json["payment_amount"], "112.50", "{}", settled.text);
    let id = settled.json["id"].as_str().unwrap();
    let east = shop.get(&format!("/merchant/settlements/{id}?store=EAST")).await;
    assert_eq!(east.json["payment_amount"], "102.50", "{}", east.text);
}

#[tokio::test]
async fn a_days_summary_read_in_one_grouped_query_equals_the_period_totals_of_each_hour() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    admin.credit(&member.card_id, "100.00").await;
    let merchant = admin.create_merchant("Shop").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    // Two payments in one hour (different quarter hours), one in the day's last instant, one on
    // the next day's first instant (not in the day).
    for (amount, at) in [
        ("12.50", "2024-03-01T10:05:00Z"),
        ("1.25", "2024-03-01T10:59:59Z"),
        ("3.00", "2024-03-01T23:59:59.999Z"),
        ("7.00", "2024-03-02T00:00:00Z"),
    ] {
        let paid = tx_no(&shop.charge(&ana.qr(&member.card_id).await, amount).await);
        backdate(&app.pool, &paid, at).await;
    }
    let (start, end) = ("2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z");
    let grouped: serde_json::Value =
        sqlx::query_scalar("SELECT store_daily_summary($1::uuid, NULL, $2::timestamptz, $3::timestamptz)")
            .bind(&merchant.id)
            .bind(start)
            .bind(end)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let per_hour: Vec<(i64, String)> = sqlx::query_as(
        "SELECT h.payment_count, h.payment_amount::text \
         FROM generate_series($2::timestamptz, $3::timestamptz - interval '1 hour', interval '1 hour') s(start) \
         CROSS JOIN LATERAL store_period_totals($1::uuid, NULL, s.start, s.start + interval '1 hour') h \
         ORDER BY s.start",
    )
    .bind(&merchant.id)
    .bind(start)
    .bind(end)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let hourly: Vec<(i64, String)> = grouped["hourly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["count"].as_i64().unwrap(), h["amount"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(hourly, per_hour, "{grouped}");
    assert_eq!(hourly[10], (2, "13.75".to_owned()));
    assert_eq!(hourly[23], (1, "3.00".to_owned()));
    assert_eq!(grouped["payment_count"], 3, "{grouped}");
    assert_eq!(grouped["payment_amount"], "16.75", "{grouped}");
    let day = kept_totals(&app, &merchant.id, start, end).await;
    assert_eq!((day[0].as_str(), day[1].as_str()), ("3", "16.75"), "the period totals agree");
}
