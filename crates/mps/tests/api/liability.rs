//! The programme's liability (issue 19): opening + recharges + refunds − payments = closing to the
//! cent, the closing figure equals the cards' balances, its breakdowns add up, and breakage is the
//! balance left on expired vouchers.

use rust_decimal::Decimal;
use serde_json::Value;

use crate::helpers::TestApp;
use crate::programme_support::{backdate, tx_no};

fn amount(value: &Value) -> Decimal {
    value.as_str().unwrap_or_else(|| panic!("an amount string: {value}")).parse().unwrap()
}

/// The latest transaction of a card.
async fn latest_tx(app: &TestApp, card_id: &str) -> String {
    sqlx::query_scalar(
        "SELECT tx_no FROM transactions WHERE card_id = $1::uuid ORDER BY substring(tx_no from 4)::bigint DESC LIMIT 1",
    )
    .bind(card_id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn opening_plus_recharges_and_refunds_minus_payments_is_the_closing_liability() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    let bo = admin.create_member("Bo").await;
    let merchant = admin.create_merchant("Corner Shop").await;
    let shop = app.merchant_client(&merchant).await;
    let ana_client = app.member_client(&ana).await;

    admin.credit(&ana.card_id, "100.00").await;
    backdate(&app.pool, &latest_tx(&app, &ana.card_id).await, "2024-01-10T00:00:00Z").await;
    let voucher = admin.issue_voucher(&bo.id, "50.00").await;
    backdate(&app.pool, &latest_tx(&app, &voucher.id).await, "2024-01-15T00:00:00Z").await;
    sqlx::query("UPDATE cards SET expires_at = '2024-03-01T00:00:00Z' WHERE id = $1::uuid")
        .bind(&voucher.id)
        .execute(&app.pool)
        .await
        .unwrap();
    let paid = tx_no(&shop.charge(&ana_client.qr(&ana.card_id).await, "30.00").await);
    backdate(&app.pool, &paid, "2024-02-10T00:00:00Z").await;
    backdate(&app.pool, &tx_no(&shop.refund(&paid, "5.00").await), "2024-02-11T00:00:00Z").await;
    admin.credit(&ana.card_id, "20.00").await;
    backdate(&app.pool, &latest_tx(&app, &ana.card_id).await, "2024-02-20T00:00:00Z").await;
    tx_no(&shop.charge(&ana_client.qr(&ana.card_id).await, "10.00").await);

    let report = admin.get("/admin/reports/liability?from=2024-02-01&to=2024-03-01").await;
    assert_eq!(report.status, 200, "{}", report.text);
    let r = &report.json;
    let (opening, recharges, refunds, payments, closing) = (
        amount(&r["opening_liability"]),
        amount(&r["recharges_in"]),
        amount(&r["refunds_in"]),
        amount(&r["payments_out"]),
        amount(&r["closing_liability"]),
    );
    assert_eq!(
        (opening, recharges, refunds, payments),
        ("150.00".parse().unwrap(), "20.00".parse().unwrap(), "5.00".parse().unwrap(), "30.00".parse().unwrap()),
        "{r}"
    );
    assert_eq!(opening + recharges + refunds - payments, closing, "opening + in − out = closing: {r}");
    let by_type: Decimal = r["by_card_type"].as_array().unwrap().iter().map(|g| amount(&g["amount"])).sum();
    let by_age: Decimal = r["by_last_activity"].as_array().unwrap().iter().map(|g| amount(&g["amount"])).sum();
    assert_eq!((by_type, by_age), (closing, closing), "the breakdowns add up to the closing figure");
    let groups = |key: &str| -> Vec<(String, String)> {
        r[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["group"].as_str().unwrap().into(), g["amount"].as_str().unwrap().into()))
            .collect()
    };
    assert_eq!(groups("by_card_type"), [("standard".into(), "95.00".into()), ("voucher".into(), "50.00".into())]);
    assert_eq!(groups("by_last_activity"), [("0-30d".into(), "95.00".into()), ("31-90d".into(), "50.00".into())]);
    assert_eq!(
        (&r["breakage"]["cards"], amount(&r["breakage"]["amount"])),
        (&serde_json::json!(1), "50.00".parse().unwrap())
    );

    // Up to now, the closing liability is what the cards hold.
    let now = admin.get("/admin/reports/liability?from=2024-01-01").await;
    let held: Decimal = sqlx::query_scalar("SELECT sum(balance) FROM cards").fetch_one(&app.pool).await.unwrap();
    assert_eq!(amount(&now.json["closing_liability"]), held, "{}", now.text);
    assert_eq!(held, "135.00".parse::<Decimal>().unwrap());
    let n = &now.json;
    assert_eq!(
        amount(&n["opening_liability"]) + amount(&n["recharges_in"]) + amount(&n["refunds_in"])
            - amount(&n["payments_out"]),
        held
    );

    let csv_report = admin.get("/admin/reports/liability?from=2024-02-01&to=2024-03-01&format=csv").await;
    assert_eq!(csv_report.status, 200);
    let mut reader = csv::Reader::from_reader(csv_report.text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let find = |section: &str, item: &str| {
        rows.iter().find(|row| &row[0] == section && &row[1] == item).map(|row| row[3].to_owned()).unwrap()
    };
    assert_eq!(find("summary", "closing_liability"), r["closing_liability"].as_str().unwrap());
    assert_eq!(find("breakage", "voucher_expired_or_closed"), "50.00");
    assert_eq!(find("card_type", "standard"), "95.00");
}
