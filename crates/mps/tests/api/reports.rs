//! The merchant's daily summary (one bucket per local hour) and the admin statistics.

use serde_json::json;

use crate::helpers::{TestApp, new_key};
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
