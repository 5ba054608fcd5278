//! Merchant statements (issue 19): totals equal a settlement of the same window, the opening and
//! closing totals reconcile, and the CSV is RFC 4180 with plain decimal amounts, streamed in pages.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{Shopping, TestApp, new_key};
use crate::programme_support::{backdate, tx_no};

fn amount(value: &Value) -> Decimal {
    value.as_str().unwrap_or_else(|| panic!("an amount string: {value}")).parse().unwrap()
}

#[tokio::test]
async fn a_statement_of_a_window_equals_its_settlement_and_reconciles_opening_to_closing() {
    let app = TestApp::new().await;
    let Shopping { member, shop, ana, .. } = app.shopping("1000.00").await;
    let pay = |amount: &'static str, order: Option<&'static str>| {
        let (ana, shop, card) = (&ana, &shop, &member.card_id);
        async move {
            let qr = ana.qr(card).await;
            let body = json!({ "qr_plain": qr, "amount": amount, "external_order_id": order });
            tx_no(&shop.post_idempotent("/merchant/charge", &new_key(), body).await)
        }
    };
    let before = pay("100.00", None).await;
    backdate(&app.pool, &before, "2024-03-04T10:00:00Z").await;
    let first = pay("40.00", Some("=HYPERLINK(\"x\"), \"quoted\"")).await;
    backdate(&app.pool, &first, "2024-03-05T09:00:00Z").await;
    let second = pay("25.50", None).await;
    backdate(&app.pool, &second, "2024-03-05T12:00:00Z").await;
    let refund = tx_no(&shop.refund(&first, "10.25").await);
    backdate(&app.pool, &refund, "2024-03-05T13:00:00Z").await;
    let topup = shop
        .post_idempotent("/merchant/recharge", &new_key(), json!({ "card_no": member.card_no, "amount": "5.00" }))
        .await;
    backdate(&app.pool, &tx_no(&topup), "2024-03-05T14:00:00Z").await;
    let after = pay("7.00", None).await;
    backdate(&app.pool, &after, "2024-03-06T00:00:00Z").await;

    let settlement = shop
        .settle(
            json!({ "mode": "realtime", "period_start": "2024-03-05T00:00:00Z", "period_end": "2024-03-06T00:00:00Z" }),
        )
        .await;
    assert_eq!(settlement.status, 201, "{}", settlement.text);
    let statement = shop.get("/merchant/statements?from=2024-03-05T00:00:00Z&to=2024-03-06T00:00:00Z").await;
    assert_eq!(statement.status, 200, "{}", statement.text);
    let (s, t) = (&settlement.json, &statement.json["totals"]);
    for field in ["payment_count", "payment_amount", "refund_count", "refund_amount", "topup_count", "topup_amount"] {
        assert_eq!(t[field], s[field], "{field}: statement {t} vs settlement {s}");
    }
    assert_eq!(t["net_amount"], s["net_amount"], "the statement's net is the settlement's");
    assert_eq!(t["fee_amount"], "0.00");
    assert_eq!(statement.json["opening_total"], "100.00", "the payment before the window");
    let closing = amount(&statement.json["opening_total"]) + amount(&t["net_amount"]);
    assert_eq!(amount(&statement.json["closing_total"]), closing);
    let movements = statement.json["movements"].as_array().unwrap();
    let tx_nos: Vec<&str> = movements.iter().map(|m| m["tx_no"].as_str().unwrap()).collect();
    assert_eq!(tx_nos, [first.as_str(), second.as_str(), refund.as_str(), tx_no(&topup).as_str()], "in time order");
    let sum: Decimal = movements.iter().map(|m| amount(&m["net_amount"])).sum();
    assert_eq!(sum, amount(&t["net_amount"]), "the movements add up to the totals");

    let csv_response = shop.get("/merchant/statements?from=2024-03-05&to=2024-03-06&format=csv").await;
    assert_eq!(csv_response.status, 200, "{}", csv_response.text);
    assert!(csv_response.header("content-type").unwrap().starts_with("text/csv"));
    let mut reader = csv::Reader::from_reader(csv_response.text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[0], "kind");
    assert_eq!(header.last().unwrap(), "running_total");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(kinds, ["opening", "movement", "movement", "movement", "movement", "closing"]);
    assert_eq!(&rows[0][13], "100.00");
    assert_eq!(&rows[1][7], "'=HYPERLINK(\"x\"), \"quoted\"", "quoted per RFC 4180 and defused as a formula");
    assert_eq!(&rows[1][9], "MAIN", "the store of each movement");
    assert_eq!((&rows[1][10], &rows[1][11], &rows[1][13]), ("40.00", "0.00", "140.00"));
    assert_eq!((&rows[3][10], &rows[3][13]), ("-10.25", "155.25"), "a refund is negative");
    assert_eq!((&rows[4][10], &rows[4][13]), ("-5.00", "150.25"), "so is a counter top-up");
    assert_eq!(&rows[5][10], s["net_amount"].as_str().unwrap());
    assert_eq!(rows[5][13].parse::<Decimal>().unwrap(), closing, "CSV and JSON close alike");
}

#[tokio::test]
async fn a_statement_longer_than_a_page_streams_every_movement_once_in_order() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let merchant = admin.create_merchant("Corner Shop").await;
    let shop = app.merchant_client(&merchant).await;
    // 1203 counter top-ups written directly, several sharing an instant (the page key is
    // (created_at, tx_no)), far more than one page of the stream.
    sqlx::query(
        "INSERT INTO transactions (tx_no, tx_type, card_id, merchant_id, raw_amount, final_amount, status, \
                                   payment_method, actor_id, actor_role) \
         SELECT next_tx_no('recharge'), 'recharge', $1::uuid, $2::uuid, 0.01, 0.01, 'completed', 'cash', $2::uuid, \
                'merchant' FROM generate_series(1, 1203)",
    )
    .bind(&member.card_id)
    .bind(&merchant.id)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE transactions SET created_at = '2024-05-01T00:00:00Z'::timestamptz + (right(tx_no, 3)::int % 7) * interval '1 minute' WHERE merchant_id = $1::uuid")
        .bind(&merchant.id)
        .execute(&app.pool)
        .await
        .unwrap();

    let statement = shop.get("/merchant/statements?from=2024-05-01&to=2024-05-02").await;
    assert_eq!(statement.status, 200);
    let movements = statement.json["movements"].as_array().unwrap();
    let keys: Vec<(String, String)> = movements
        .iter()
        .map(|m| (m["created_at"].as_str().unwrap().to_owned(), m["tx_no"].as_str().unwrap().to_owned()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys.len(), 1203, "every movement");
    assert_eq!(keys, sorted, "each once, in (created_at, tx_no) order");
    assert_eq!(statement.json["totals"]["topup_count"], 1203);
    assert_eq!(statement.json["closing_total"], "-12.03");
}
