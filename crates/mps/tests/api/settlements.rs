//! Settlements: totals to the cent, each transaction settled at most once (also under races),
//! closed periods only, and the state machine.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::json;

use crate::helpers::{Client, TestApp, TestMember, TestResponse, new_key};
use crate::programme_support::{audited_actions, backdate, tx_no};

fn realtime(start: &str, end: &str) -> serde_json::Value {
    json!({ "mode": "realtime", "period_start": start, "period_end": end })
}

fn amount(value: &serde_json::Value) -> Decimal {
    value.as_str().unwrap_or_else(|| panic!("an amount string: {value}")).parse().unwrap()
}

/// Charges `amount` on the member's card and moves the payment to `at`; returns its final amount.
async fn pay_at(
    app: &TestApp,
    member: &Client<'_>,
    shop: &Client<'_>,
    card: &TestMember,
    amount_: &str,
    at: &str,
) -> (String, Decimal) {
    let response = shop.charge(&member.qr(&card.card_id).await, amount_).await;
    let tx = tx_no(&response);
    backdate(&app.pool, &tx, at).await;
    (tx, amount(&response.json["transaction"]["final_amount"]))
}

#[tokio::test]
async fn a_settlement_equals_its_periods_transactions_to_the_cent_and_later_refunds_make_a_net_negative() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    admin.credit(&ana.card_id, "1000.00").await;
    admin.adjust_points(&ana.card_id, 1000).await;
    let member = app.member_client(&ana).await;
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    let rival = app.merchant_client(&admin.create_merchant("Rival").await).await;

    let (first, first_final) = pay_at(&app, &member, &shop, &ana, "33.33", "2024-03-01T00:00:00Z").await;
    let (_, second_final) = pay_at(&app, &member, &shop, &ana, "10.01", "2024-03-01T12:00:00Z").await;
    let (third, third_final) = pay_at(&app, &member, &shop, &ana, "99.99", "2024-03-01T23:59:59.999999Z").await;
    pay_at(&app, &member, &rival, &ana, "77.77", "2024-03-01T13:00:00Z").await;
    let (_, boundary_final) = pay_at(&app, &member, &shop, &ana, "5.00", "2024-03-02T00:00:00Z").await;
    let whole = shop.refund(&first, &first_final.to_string()).await;
    backdate(&app.pool, &tx_no(&whole), "2024-03-02T08:00:00Z").await;
    backdate(&app.pool, &tx_no(&shop.refund(&third, "40.00").await), "2024-03-02T09:00:00Z").await;
    let topup = shop
        .post_idempotent("/merchant/recharge", &new_key(), json!({ "card_no": ana.card_no, "amount": "50.00" }))
        .await;
    backdate(&app.pool, topup.json["transaction"]["tx_no"].as_str().unwrap(), "2024-03-02T10:00:00Z").await;

    let day1 = shop.settle(realtime("2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z")).await;
    assert_eq!(day1.status, 201, "{}", day1.text);
    let payments = first_final + second_final + third_final;
    assert_eq!(payments.to_string(), "136.16", "31.66 + 9.51 + 94.99 at Silver");
    assert_eq!(day1.json["payment_count"], 3, "the refunded payment still counts in its own period");
    assert_eq!(amount(&day1.json["payment_amount"]), payments);
    assert_eq!((&day1.json["refund_count"], &day1.json["refund_amount"]), (&json!(0), &json!("0.00")));
    assert_eq!((&day1.json["topup_count"], &day1.json["topup_amount"]), (&json!(0), &json!("0.00")));
    assert_eq!(amount(&day1.json["net_amount"]), payments);
    assert!(day1.json["settlement_no"].as_str().unwrap().starts_with("STL"));
    assert_eq!(day1.json["status"], "pending");
    assert_eq!(audited_actions(&app.pool, &day1).await, ["SETTLEMENT_GENERATE"]);

    let day2 = shop.settle(realtime("2024-03-02T00:00:00Z", "2024-03-03T00:00:00Z")).await;
    assert_eq!(day2.status, 201, "{}", day2.text);
    let refunds = first_final + Decimal::new(4000, 2);
    assert_eq!((&day2.json["payment_count"], amount(&day2.json["payment_amount"])), (&json!(1), boundary_final));
    assert_eq!((&day2.json["refund_count"], amount(&day2.json["refund_amount"])), (&json!(2), refunds));
    assert_eq!((&day2.json["topup_count"], &day2.json["topup_amount"]), (&json!(1), &json!("50.00")));
    let net = boundary_final - refunds - Decimal::new(5000, 2);
    assert_eq!(amount(&day2.json["net_amount"]), net);
    assert_eq!(day2.json["net_amount"], "-116.91", "4.75 − 71.66 − 50.00");
}

#[tokio::test]
async fn an_empty_period_settles_with_zero_totals() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    let settled = shop.settle(json!({ "mode": "t_plus_1", "date": "2024-01-15" })).await;
    assert_eq!(settled.status, 201, "{}", settled.text);
    assert_eq!(
        (&settled.json["period_start"], &settled.json["period_end"]),
        (&json!("2024-01-15T00:00:00Z"), &json!("2024-01-16T00:00:00Z"))
    );
    for field in ["payment_amount", "refund_amount", "topup_amount", "net_amount"] {
        assert_eq!(settled.json[field], "0.00", "{field}");
    }
    assert_eq!(settled.json["mode"], "t_plus_1");
}

#[tokio::test]
async fn a_period_overlapping_a_settlement_of_the_same_merchant_is_refused() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    let rival = app.merchant_client(&admin.create_merchant("Rival").await).await;
    let first = shop.settle(realtime("2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z")).await;
    assert_eq!(first.status, 201);

    let again = shop.settle(realtime("2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z")).await;
    again.assert_error(409, "SETTLEMENT_ALREADY_EXISTS");
    assert_eq!(again.json["error"]["details"]["settlement_no"], first.json["settlement_no"]);
    shop.settle(realtime("2024-03-01T12:00:00Z", "2024-03-02T12:00:00Z"))
        .await
        .assert_error(409, "SETTLEMENT_ALREADY_EXISTS");
    shop.settle(json!({ "mode": "t_plus_1", "date": "2024-03-01" }))
        .await
        .assert_error(409, "SETTLEMENT_ALREADY_EXISTS");
    shop.settle(json!({ "mode": "monthly", "month": "2024-03" })).await.assert_error(409, "SETTLEMENT_ALREADY_EXISTS");
    assert_eq!(shop.settle(realtime("2024-03-02T00:00:00Z", "2024-03-03T00:00:00Z")).await.status, 201, "adjacent");
    assert_eq!(
        rival.settle(realtime("2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z")).await.status,
        201,
        "another merchant"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM settlements").fetch_one(&app.pool).await.unwrap();
    assert_eq!(stored, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_racing_requests_for_one_period_create_exactly_one_settlement() {
    let app = Arc::new(TestApp::new().await);
    let token = {
        let admin = app.admin().await;
        app.merchant_client(&admin.create_merchant("Shop").await).await.token
    };
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (app, auth) = (app.clone(), format!("Bearer {token}"));
            tokio::spawn(async move {
                let body = realtime("2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z");
                app.call(axum::http::Method::POST, "/merchant/settlements", Some(body), &[("authorization", &auth)])
                    .await
            })
        })
        .collect();
    let mut responses: Vec<TestResponse> = Vec::new();
    for handle in handles {
        responses.push(handle.await.expect("request task"));
    }
    let statuses: Vec<u16> = responses.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "exactly one wins: {statuses:?}");
    assert!(responses.iter().filter(|r| r.status != 201).all(|r| r.error_code() == "SETTLEMENT_ALREADY_EXISTS"));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM settlements").fetch_one(&app.pool).await.unwrap();
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn a_period_that_has_not_ended_a_margin_ago_cannot_be_settled() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    // One merchant per accepted period, so the defaults (yesterday, last month) never overlap.
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    let daily = app.merchant_client(&admin.create_merchant("Daily").await).await;
    let monthly = app.merchant_client(&admin.create_merchant("Monthly").await).await;
    let now = chrono::Utc::now();
    let at = |seconds_ago: i64| (now - chrono::Duration::seconds(seconds_ago)).to_rfc3339();
    let open = shop.settle(realtime(&at(3600), &at(30))).await;
    open.assert_error(422, "PERIOD_NOT_CLOSED");
    assert!(open.json["error"]["details"]["settleable_from"].is_string(), "{}", open.text);
    let today = now.format("%Y-%m-%d").to_string();
    shop.settle(json!({ "mode": "t_plus_1", "date": today })).await.assert_error(422, "PERIOD_NOT_CLOSED");
    let this_month = now.format("%Y-%m").to_string();
    shop.settle(json!({ "mode": "monthly", "month": this_month })).await.assert_error(422, "PERIOD_NOT_CLOSED");
    assert_eq!(shop.settle(realtime(&at(3600), &at(120))).await.status, 201, "ended two minutes ago");
    assert_eq!(daily.settle(json!({ "mode": "t_plus_1" })).await.status, 201, "yesterday by default");
    assert_eq!(monthly.settle(json!({ "mode": "monthly" })).await.status, 201, "last month by default");
}

#[tokio::test]
async fn malformed_settlement_requests_are_422() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    for body in [
        json!({ "mode": "realtime", "period_start": "2024-03-01T00:00:00Z" }),
        realtime("2024-03-02T00:00:00Z", "2024-03-01T00:00:00Z"),
        realtime("2024-03-01", "2024-03-02"),
        json!({ "mode": "t_plus_1", "date": "2024-03-01", "month": "2024-03" }),
        json!({ "mode": "t_plus_1", "date": "2024-02-30" }),
        json!({ "mode": "monthly", "month": "March" }),
        json!({ "mode": "monthly", "month": "2024-03", "period_end": "2024-04-01T00:00:00Z" }),
        json!({ "mode": "weekly" }),
    ] {
        let response = shop.settle(body.clone()).await;
        assert_eq!(
            (response.status.as_u16(), response.error_code()),
            (422, "VALIDATION_FAILED"),
            "{body}: {}",
            response.text
        );
    }
}

#[tokio::test]
async fn settlement_days_and_months_follow_the_business_time_zone() {
    let app = TestApp::with_vars(&[("BUSINESS_TIMEZONE", "Asia/Shanghai"), ("SETTLEMENT_MARGIN_SECONDS", "0")]).await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    admin.credit(&ana.card_id, "1000.00").await;
    let member = app.member_client(&ana).await;
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    for at in [
        "2024-02-29T15:30:00Z", // 23:30 on 29 February in Shanghai
        "2024-02-29T16:30:00Z", // 00:30 on 1 March
        "2024-03-04T15:59:59Z", // 23:59:59 on 4 March
        "2024-03-04T16:00:00Z", // midnight starting 5 March
        "2024-03-05T15:59:59Z", // 23:59:59 on 5 March
        "2024-03-05T16:00:00Z", // midnight starting 6 March
    ] {
        pay_at(&app, &member, &shop, &ana, "1.00", at).await;
    }

    let day = shop.settle(json!({ "mode": "t_plus_1", "date": "2024-03-05" })).await;
    assert_eq!(day.status, 201, "{}", day.text);
    assert_eq!(
        (&day.json["period_start"], &day.json["period_end"]),
        (&json!("2024-03-04T16:00:00Z"), &json!("2024-03-05T16:00:00Z"))
    );
    assert_eq!(day.json["payment_count"], 2);
    let february = shop.settle(json!({ "mode": "monthly", "month": "2024-02" })).await;
    assert_eq!(february.status, 201, "{}", february.text);
    assert_eq!(
        (&february.json["period_start"], &february.json["period_end"]),
        (&json!("2024-01-31T16:00:00Z"), &json!("2024-02-29T16:00:00Z"))
    );
    assert_eq!(february.json["payment_count"], 1, "only the payment at 23:30 local on the 29th");
    shop.settle(json!({ "mode": "monthly", "month": "2024-03" })).await.assert_error(409, "SETTLEMENT_ALREADY_EXISTS");

    let yesterday = shop.settle(json!({ "mode": "t_plus_1" })).await;
    assert_eq!(yesterday.status, 201, "{}", yesterday.text);
    let local_today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let midnight = local_today.and_hms_opt(0, 0, 0).unwrap().and_local_timezone(chrono_tz::Asia::Shanghai).unwrap();
    let expected_end = midnight.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!(yesterday.json["period_end"], expected_end.as_str());
}

#[tokio::test]
async fn merchants_read_their_own_settlements_and_admins_read_everyones() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let merchant = admin.create_merchant("Shop").await;
    let shop = app.merchant_client(&merchant).await;
    let rival = app.merchant_client(&admin.create_merchant("Rival").await).await;
    let mine = shop.settle(json!({ "mode": "t_plus_1", "date": "2024-01-01" })).await;
    shop.settle(json!({ "mode": "t_plus_1", "date": "2024-01-02" })).await;
    rival.settle(json!({ "mode": "t_plus_1", "date": "2024-01-01" })).await;
    let id = mine.json["id"].as_str().unwrap();

    let listed = shop.get("/merchant/settlements?count=exact").await;
    assert_eq!(listed.json["pagination"]["total_count"], 2, "{}", listed.text);
    assert_eq!(listed.json["items"][0]["period_start"], "2024-01-02T00:00:00Z", "latest period first");
    assert_eq!(shop.get(&format!("/merchant/settlements/{id}")).await.json, mine.json);
    let by_number = shop.get(&format!("/merchant/settlements/{}", mine.json["settlement_no"].as_str().unwrap())).await;
    assert_eq!(by_number.json["id"], id);
    rival.get(&format!("/merchant/settlements/{id}")).await.assert_error(404, "SETTLEMENT_NOT_FOUND");
    shop.get(&format!("/merchant/settlements/{}", uuid::Uuid::new_v4()))
        .await
        .assert_error(404, "SETTLEMENT_NOT_FOUND");
    let all = admin.get("/admin/settlements?count=exact").await;
    assert_eq!(all.json["pagination"]["total_count"], 3);
    let filtered =
        admin.get(&format!("/admin/settlements?count=exact&merchant_id={}&status=pending", merchant.id)).await;
    assert_eq!(filtered.json["pagination"]["total_count"], 2);
}

#[tokio::test]
async fn settlement_status_moves_along_pending_settled_paid_and_pending_failed_pending_only() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    let mut ids = Vec::new();
    for date in ["2024-01-01", "2024-01-02"] {
        ids.push(
            shop.settle(json!({ "mode": "t_plus_1", "date": date })).await.json["id"].as_str().unwrap().to_owned(),
        );
    }
    let moves = [
        (0, "paid", false),
        (0, "pending", false),
        (0, "settled", true),
        (0, "failed", false),
        (0, "pending", false),
        (0, "paid", true),
        (0, "pending", false),
        (0, "failed", false),
        (1, "failed", true),
        (1, "settled", false),
        (1, "paid", false),
        (1, "pending", true),
        (1, "settled", true),
    ];
    for (which, status, allowed) in moves {
        let response = admin.patch(&format!("/admin/settlements/{}", ids[which]), json!({ "status": status })).await;
        if allowed {
            assert_eq!(
                (response.status.as_u16(), &response.json["status"]),
                (200, &json!(status)),
                "{}",
                response.text
            );
            assert_eq!(audited_actions(&app.pool, &response).await, ["SETTLEMENT_STATUS_UPDATE"]);
        } else {
            response.assert_error(409, "INVALID_STATUS_TRANSITION");
        }
    }
    let unknown = format!("/admin/settlements/{}", uuid::Uuid::new_v4());
    admin.patch(&unknown, json!({ "status": "settled" })).await.assert_error(404, "SETTLEMENT_NOT_FOUND");
    admin
        .patch(&format!("/admin/settlements/{}", ids[0]), json!({ "status": "done" }))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    shop.patch(&format!("/admin/settlements/{}", ids[0]), json!({ "status": "paid" }))
        .await
        .assert_error(403, "FORBIDDEN");
}
