//! The merchant's daily summary (one bucket per local hour) and the admin statistics.

use serde_json::json;

use crate::helpers::{Shopping, TestApp, assert_books_balance, new_key};
use crate::programme_support::{backdate, tx_no};

fn hours(response: &crate::helpers::TestResponse) -> Vec<u64> {
    assert_eq!(response.status, 200, "{}", response.text);
    response.json["hourly"].as_array().unwrap().iter().map(|b| b["hour"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn todays_summary_counts_payments_and_refunds_and_buckets_payments_by_hour() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    admin.credit(&ana.card_id, "500.00").await;
    let member = app.member_client(&ana).await;
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    let rival = app.merchant_client(&admin.create_merchant("Rival").await).await;
    let first = tx_no(&shop.charge(&member.qr(&ana.card_id).await, "20.00").await);
    shop.charge(&member.qr(&ana.card_id).await, "7.55").await;
    rival.charge(&member.qr(&ana.card_id).await, "99.00").await;
    shop.refund(&first, "5.00").await;
    shop.post_idempotent("/merchant/recharge", &new_key(), json!({ "card_no": ana.card_no, "amount": "30.00" })).await;

    let response = shop.get("/merchant/daily-summary").await;

    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.json["date"], chrono::Utc::now().format("%Y-%m-%d").to_string());
    let summary = &response.json["summary"];
    assert_eq!((&summary["payment_count"], &summary["payment_amount"]), (&json!(2), &json!("27.55")));
    assert_eq!((&summary["refund_count"], &summary["refund_amount"]), (&json!(1), &json!("5.00")));
    assert_eq!(summary["net_amount"], "22.55");
    assert_eq!(hours(&response), (0..24).collect::<Vec<_>>());
    let buckets = response.json["hourly"].as_array().unwrap();
    let counted: i64 = buckets.iter().map(|b| b["count"].as_i64().unwrap()).sum();
    let cents: i64 =
        buckets.iter().map(|b| b["amount"].as_str().unwrap().replace('.', "").parse::<i64>().unwrap()).sum();
    assert_eq!((counted, cents), (2, 2755), "the buckets hold exactly the day's payments");
    let quiet = shop.get("/merchant/daily-summary?date=2020-01-01").await;
    assert_eq!(
        (&quiet.json["summary"]["payment_count"], &quiet.json["summary"]["net_amount"]),
        (&json!(0), &json!("0.00"))
    );
    shop.get("/merchant/daily-summary?date=yesterday").await.assert_error(422, "VALIDATION_FAILED");
}

#[tokio::test]
async fn clock_change_days_have_23_and_25_local_hours() {
    let app = TestApp::with_vars(&[("BUSINESS_TIMEZONE", "Europe/Berlin")]).await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    admin.credit(&ana.card_id, "500.00").await;
    let member = app.member_client(&ana).await;
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    // 01:30 UTC on 29 March 2026 is 03:30 CEST, just after the clocks sprang forward.
    let spring = tx_no(&shop.charge(&member.qr(&ana.card_id).await, "12.00").await);
    backdate(&app.pool, &spring, "2026-03-29T01:30:00Z").await;
    // 00:30 and 01:30 UTC on 25 October 2026 are both 02:30 local, before and after the fall-back.
    for at in ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"] {
        let tx = tx_no(&shop.charge(&member.qr(&ana.card_id).await, "1.00").await);
        backdate(&app.pool, &tx, at).await;
    }

    let spring_day = shop.get("/merchant/daily-summary?date=2026-03-29").await;
    let expected: Vec<u64> = [0, 1].into_iter().chain(3..24).collect();
    assert_eq!(hours(&spring_day), expected, "23 buckets, no 02:00");
    let three = &spring_day.json["hourly"][2];
    assert_eq!((&three["hour"], &three["count"], &three["amount"]), (&json!(3), &json!(1), &json!("12.00")));
    assert_eq!(spring_day.json["hourly"][0]["start"], "2026-03-28T23:00:00Z");

    let autumn_day = shop.get("/merchant/daily-summary?date=2026-10-25").await;
    let expected: Vec<u64> = [0, 1, 2, 2].into_iter().chain(3..24).collect();
    assert_eq!(hours(&autumn_day), expected, "25 buckets, 02:00 twice");
    let twice: Vec<_> =
        autumn_day.json["hourly"].as_array().unwrap()[2..4].iter().map(|b| b["count"].clone()).collect();
    assert_eq!(twice, [json!(1), json!(1)], "each 02:30 in its own bucket");
    assert_eq!(autumn_day.json["summary"]["payment_count"], 2);
}

#[tokio::test]
async fn statistics_count_accounts_cards_and_todays_money_apart_and_are_cached_briefly() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    let bo = admin.create_member("Bo").await;
    admin.credit(&ana.card_id, "200.00").await;
    admin.issue_voucher(&bo.id, "25.00").await;
    let corporate = admin.issue_corporate(&bo.id, "0.90", None).await;
    admin.card_status(&corporate.id, "inactive").await;
    let merchant = admin.create_merchant("Shop").await;
    admin.create_merchant("Idle").await;
    let member = app.member_client(&ana).await;
    let shop = app.merchant_client(&merchant).await;
    let paid = tx_no(&shop.charge(&member.qr(&ana.card_id).await, "40.00").await);
    shop.refund(&paid, "15.00").await;
    member.qr(&ana.card_id).await;

    let response = admin.get("/admin/statistics").await;

    assert_eq!(response.status, 200, "{}", response.text);
    let stats = &response.json;
    assert_eq!(stats["members"], json!({ "total": 2, "active": 2, "suspended": 0 }));
    assert_eq!(stats["merchants"], json!({ "total": 2, "active": 2, "suspended": 0 }));
    assert_eq!(
        (&stats["cards"]["total"], &stats["cards"]["active"], &stats["cards"]["inactive"]),
        (&json!(4), &json!(3), &json!(1))
    );
    assert_eq!(stats["cards"]["by_type"], json!({ "standard": 2, "voucher": 1, "corporate": 1 }));
    let today = &stats["today"];
    assert_eq!(today["payments"], json!({ "count": 1, "amount": "40.00" }));
    assert_eq!(today["refunds"], json!({ "count": 1, "amount": "15.00" }));
    assert_eq!(today["recharges"], json!({ "count": 2, "amount": "225.00" }), "the credit and the voucher issue");
    assert_eq!((&today["qr_issued"], &today["new_members"]), (&json!(2), &json!(2)));

    admin.create_member("Cy").await;
    let cached = admin.get("/admin/statistics").await;
    assert_eq!(cached.json, response.json, "served from the cache for up to 30 s");
    app.merchant_client(&merchant).await.get("/admin/statistics").await.assert_error(403, "FORBIDDEN");
}

/// The members, cards and merchants figures as `admin_statistics` computed them before the
/// counters (migration 0016): every row counted by its effective status.
const RECOUNT: &str = "SELECT jsonb_build_object( \
    'members', (SELECT jsonb_build_object('total', count(*), 'active', count(*) FILTER (WHERE status = 'active'), \
                                          'suspended', count(*) FILTER (WHERE status = 'suspended')) \
                FROM members WHERE status <> 'deleted'), \
    'cards', (SELECT jsonb_build_object('total', count(*), 'active', count(*) FILTER (WHERE s = 'active'), \
                  'inactive', count(*) FILTER (WHERE s = 'inactive'), 'lost', count(*) FILTER (WHERE s = 'lost'), \
                  'expired', count(*) FILTER (WHERE s = 'expired'), 'closed', count(*) FILTER (WHERE s = 'closed'), \
                  'by_type', jsonb_build_object('standard', count(*) FILTER (WHERE card_type = 'standard'), \
                                                'voucher', count(*) FILTER (WHERE card_type = 'voucher'), \
                                                'corporate', count(*) FILTER (WHERE card_type = 'corporate'))) \
              FROM (SELECT card_type, effective_card_status(status, expires_at) AS s FROM cards) c), \
    'merchants', (SELECT jsonb_build_object('total', count(*), 'active', count(*) FILTER (WHERE status = 'active'), \
                                            'suspended', count(*) FILTER (WHERE status = 'suspended')) \
                  FROM merchants))";

/// What `admin_statistics` (the counters) says of members, cards and merchants.
async fn counted(pool: &sqlx::PgPool) -> serde_json::Value {
    sqlx::query_scalar("SELECT s - 'today' FROM admin_statistics(now() - interval '1 day', now() + interval '1 day') s")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn recounted(pool: &sqlx::PgPool) -> serde_json::Value {
    sqlx::query_scalar(RECOUNT).fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn statistics_from_the_counters_equal_a_recount_in_every_status_and_past_expiry() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let mut members = Vec::new();
    for name in ["Ana", "Bo", "Cy", "Di", "Ed", "Fa"] {
        members.push(admin.create_member(name).await);
    }
    let voucher = admin.issue_voucher(&members[0].id, "25.00").await;
    let corporate = admin.issue_corporate(&members[1].id, "0.90", None).await;
    let shops = [admin.create_merchant("Shop").await, admin.create_merchant("Idle").await];
    assert_eq!(admin.post(&format!("/admin/members/{}/suspend", members[2].id), json!({})).await.status, 200);
    assert_eq!(admin.post(&format!("/admin/merchants/{}/suspend", shops[1].id), json!({})).await.status, 200);
    assert_eq!(admin.post(&format!("/admin/cards/{}/freeze", corporate.id), json!({})).await.status, 200);
    assert_eq!(admin.card_status(&members[3].card_id, "lost").await.status, 200);
    // Status moves the API does not offer, and expiry dates: written by hand (the triggers count them).
    let by_hand = [
        ("UPDATE members SET status = 'deleted' WHERE id = $1::uuid", members[4].id.clone()),
        ("UPDATE cards SET status = 'closed' WHERE id = $1::uuid", members[4].card_id.clone()),
        ("UPDATE cards SET status = 'expired' WHERE id = $1::uuid", members[5].card_id.clone()),
        ("UPDATE cards SET expires_at = now() - interval '1 day' WHERE id = $1::uuid", corporate.id.clone()),
        ("UPDATE cards SET expires_at = now() - interval '1 hour' WHERE id = $1::uuid", members[0].card_id.clone()),
        ("UPDATE cards SET expires_at = now() + interval '1 day' WHERE id = $1::uuid", voucher.id.clone()),
        ("UPDATE cards SET expires_at = now() - interval '1 day' WHERE id = $1::uuid", members[3].card_id.clone()),
    ];
    for (sql, id) in by_hand {
        sqlx::query(sql).bind(id).execute(&app.pool).await.unwrap();
    }

    let stats = counted(&app.pool).await;
    assert_eq!(stats, recounted(&app.pool).await);
    assert_eq!(stats["members"], json!({ "total": 5, "active": 4, "suspended": 1 }));
    assert_eq!(stats["merchants"], json!({ "total": 2, "active": 1, "suspended": 1 }));
    assert_eq!(
        stats["cards"],
        json!({ "total": 8, "active": 3, "inactive": 0, "lost": 1, "expired": 3, "closed": 1,
                "by_type": { "standard": 6, "voucher": 1, "corporate": 1 } }),
        "past expiry: the frozen corporate card and Ana's active card; the lost card stays lost"
    );
    assert_books_balance(&app.pool).await;
}

/// Sign-ups, card issues, freezes and suspensions fired at once from many connections: the
/// counters (shards written by whichever backend ran each) add up to the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counters_equal_the_rows_after_concurrent_sign_ups_card_issues_and_freezes() {
    let app = std::sync::Arc::new(TestApp::with_vars(&[("RATE_LIMIT_REQUESTS", "1000000")]).await);
    let token = app.admin().await.token;
    let workers: Vec<_> = (0..12usize)
        .map(|i| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move {
                let admin = crate::helpers::Client { app: &app, token, id: uuid::Uuid::nil() };
                for round in 0..3 {
                    let member = admin.create_member(&format!("Member {i}.{round}")).await;
                    let voucher = admin.issue_voucher(&member.id, "5.00").await;
                    let frozen = admin.post(&format!("/admin/cards/{}/freeze", member.card_id), json!({})).await;
                    assert_eq!(frozen.status, 200, "{}", frozen.text);
                    if (i + round) % 3 == 0 {
                        assert_eq!(admin.card_status(&voucher.id, "lost").await.status, 200);
                        let suspended = admin.post(&format!("/admin/members/{}/suspend", member.id), json!({})).await;
                        assert_eq!(suspended.status, 200, "{}", suspended.text);
                    }
                }
                let shop = admin.create_merchant(&format!("Shop {i}")).await;
                if i % 2 == 0 {
                    assert_eq!(
                        admin.post(&format!("/admin/merchants/{}/suspend", shop.id), json!({})).await.status,
                        200
                    );
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a worker failed");
    }

    assert_books_balance(&app.pool).await;
    let stats = counted(&app.pool).await;
    assert_eq!(stats, recounted(&app.pool).await);
    assert_eq!(stats["members"], json!({ "total": 36, "active": 24, "suspended": 12 }));
    assert_eq!(stats["cards"]["inactive"], 36, "{stats}");
    assert_eq!(stats["merchants"], json!({ "total": 12, "active": 6, "suspended": 6 }));
}

/// A payment's `UPDATE cards` (balance, points, level; no status) never calls the counters'
/// trigger function: `UPDATE OF status` is not fired by an UPDATE that does not name the column
/// (and the WHEN clause filters a status written unchanged). Counted by the function statistics of
/// the transaction (`track_functions`) for the statement shape of the charge and the refund; then
/// real charges and a refund through the API leave every counter row as it was (same `xmin`).
#[tokio::test]
async fn a_payment_never_calls_the_counters_trigger() {
    let app = TestApp::new().await;
    let Shopping { member, shop, ana, .. } = app.shopping("100.00").await;
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("SET LOCAL track_functions = 'all'").execute(&mut *tx).await.unwrap();
    let calls = "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_xact_user_functions WHERE funcname = 'status_counts_track'";
    // The statement shape of `charge` and `refund` (payments.sql).
    sqlx::query(
        "UPDATE cards SET balance = balance + 1, points = points + 1, level = level, level_discount = level_discount, \
         updated_at = now() WHERE id = $1::uuid",
    )
    .bind(&member.card_id)
    .execute(&mut *tx)
    .await
    .unwrap();
    let after_payment: i64 = sqlx::query_scalar(calls).fetch_one(&mut *tx).await.unwrap();
    assert_eq!(after_payment, 0, "the payment's update called the trigger");
    sqlx::query("UPDATE cards SET status = 'active' WHERE id = $1::uuid")
        .bind(&member.card_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let unchanged: i64 = sqlx::query_scalar(calls).fetch_one(&mut *tx).await.unwrap();
    assert_eq!(unchanged, 0, "a status written unchanged is filtered by the WHEN clause");
    sqlx::query("UPDATE cards SET status = 'lost' WHERE id = $1::uuid")
        .bind(&member.card_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let moved: i64 = sqlx::query_scalar(calls).fetch_one(&mut *tx).await.unwrap();
    assert_eq!(moved, 1, "a status change calls it once");
    tx.rollback().await.unwrap();

    let versions = "SELECT string_agg(format('%s/%s/%s/%s:%s@%s', subject, status, card_type, shard, n, xmin), ' ' \
                    ORDER BY subject, status, card_type, shard) FROM status_counts";
    let before: String = sqlx::query_scalar(versions).fetch_one(&app.pool).await.unwrap();
    let paid = tx_no(&shop.charge(&ana.qr(&member.card_id).await, "12.50").await);
    shop.charge(&ana.qr(&member.card_id).await, "3.00").await;
    assert_eq!(shop.refund(&paid, "2.00").await.status, 201);
    let after: String = sqlx::query_scalar(versions).fetch_one(&app.pool).await.unwrap();
    assert_eq!(after, before, "a charge or a refund wrote a counter row");
    assert_books_balance(&app.pool).await;
}
