//! The gaps of issues 18 and 19: counter top-ups record their store and staff member; a
//! store-restricted manager (or a store's POS key) reads only its store's books, and an explicit
//! other store is 403; per-store statements add up to the merchant's; who manages whom (the
//! staff table, store by store); an admin reactivates a suspended staff member.

use rust_decimal::Decimal;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, new_key};
use crate::programme_support::{backdate, tx_no};
use crate::staff::{
    amount, charge_at, hire, key_client, new_pos_key, shop, shop_with_stores, staff_client, staff_login,
};

#[tokio::test]
async fn counter_top_ups_record_the_acting_store_and_staff_member_like_charges() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop_with_stores(&app, &admin, &["A", "B"]).await;
    hire(&s.owner, "ann", "cashier", Some("A")).await;
    hire(&s.owner, "max", "manager", None).await;
    let ann = staff_client(&app, &s.merchant, "ann").await;
    let max = staff_client(&app, &s.merchant, "max").await;
    let topup = |store: Option<&str>| json!({ "card_no": s.card.card_no, "amount": "3.00", "store": store });

    let by_ann = ann.post_idempotent("/merchant/recharge", &new_key(), topup(None)).await;
    assert_eq!(by_ann.status, 201, "{}", by_ann.text);
    let me = ann.get("/auth/me").await;
    assert_eq!(by_ann.json["transaction"]["store_code"], "A", "a restricted cashier tops up at their store");
    assert_eq!(by_ann.json["transaction"]["staff_id"], me.json["user"]["staff_id"], "and is recorded");
    assert_eq!(by_ann.json["transaction"]["operator"], "ann name");
    ann.post_idempotent("/merchant/recharge", &new_key(), topup(Some("B")))
        .await
        .assert_error(403, "STORE_NOT_ALLOWED");
    let by_max = max.post_idempotent("/merchant/recharge", &new_key(), topup(Some("b"))).await;
    assert_eq!(by_max.json["transaction"]["store_code"], "B", "{}", by_max.text);
    assert!(by_max.json["transaction"]["staff_id"].is_string());
    let by_owner = s.owner.post_idempotent("/merchant/recharge", &new_key(), topup(None)).await;
    assert_eq!(by_owner.json["transaction"]["store_code"], "MAIN", "no store named: the default store");
    assert!(by_owner.json["transaction"]["staff_id"].is_null(), "the merchant's own credentials");
    s.owner
        .post_idempotent("/merchant/recharge", &new_key(), topup(Some("NOPE")))
        .await
        .assert_error(404, "STORE_NOT_FOUND");

    let rows: Vec<(String, Option<uuid::Uuid>)> = sqlx::query_as(
        "SELECT s.code, t.staff_id FROM transactions t JOIN stores s ON s.id = t.store_id \
         WHERE t.tx_type = 'recharge' AND t.payment_method = 'cash' ORDER BY t.created_at",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let stores: Vec<&str> = rows.iter().map(|(code, _)| code.as_str()).collect();
    assert_eq!(stores, ["A", "B", "MAIN"], "the books record where each top-up was made");
    let event: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM event_log WHERE type = 'recharge.succeeded' AND merchant_id IS NOT NULL ORDER BY created_at LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(event["transaction"]["store_code"], "A", "the event names the store: {event}");
}

#[tokio::test]
async fn concurrent_top_ups_from_two_stores_credit_once_per_key_and_keep_their_stores() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop_with_stores(&app, &admin, &["A", "B"]).await;
    hire(&s.owner, "ann", "cashier", Some("A")).await;
    hire(&s.owner, "bob", "cashier", Some("B")).await;
    let ann = staff_client(&app, &s.merchant, "ann").await;
    let bob = staff_client(&app, &s.merchant, "bob").await;
    let body = json!({ "card_no": s.card.card_no, "amount": "10.00" });
    let (shared_key, a_key, b_key) = (new_key(), new_key(), new_key());
    let results = tokio::join!(
        ann.post_idempotent("/merchant/recharge", &shared_key, body.clone()),
        ann.post_idempotent("/merchant/recharge", &shared_key, body.clone()),
        ann.post_idempotent("/merchant/recharge", &a_key, body.clone()),
        bob.post_idempotent("/merchant/recharge", &b_key, body.clone()),
    );
    for r in [&results.0, &results.1, &results.2, &results.3] {
        assert_eq!(r.status, 201, "{}", r.text);
    }
    assert_eq!(tx_no(&results.0), tx_no(&results.1), "one key, one credit");
    assert_eq!(results.3.json["transaction"]["store_code"], "B");
    let per_store: Vec<(String, i64, Decimal)> = sqlx::query_as(
        "SELECT s.code, count(*), sum(t.final_amount) FROM transactions t JOIN stores s ON s.id = t.store_id \
         WHERE t.tx_type = 'recharge' AND t.payment_method = 'cash' GROUP BY s.code ORDER BY s.code",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(per_store, [("A".to_owned(), 2, Decimal::new(2000, 2)), ("B".to_owned(), 1, Decimal::new(1000, 2))]);
    crate::helpers::assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn per_store_statements_add_up_to_the_merchants_and_a_store_manager_reads_only_their_store() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop_with_stores(&app, &admin, &["A", "B"]).await;
    hire(&s.owner, "amy", "manager", Some("A")).await;
    let amy = staff_client(&app, &s.merchant, "amy").await;
    let (_, secret) = new_pos_key(&s.owner, "B", &["read"]).await;
    let till_b = key_client(&app, &secret);
    // Before the window: one payment at A; in it: payments at A, B and MAIN, a refund at B, a
    // top-up at A; after it: one more at B.
    let mut moves: Vec<(String, &str)> = Vec::new();
    let before = charge_at(&s.owner, &s.member, &s.card, "50.00", Some("A")).await;
    moves.push((tx_no(&before), "2024-06-30T12:00:00Z"));
    for (value, store, at) in [
        ("10.00", Some("A"), "2024-07-01T09:00:00Z"),
        ("20.50", Some("B"), "2024-07-01T10:00:00Z"),
        ("7.25", None, "2024-07-01T11:00:00Z"),
        ("99.00", Some("B"), "2024-07-02T01:00:00Z"),
    ] {
        let charged = charge_at(&s.owner, &s.member, &s.card, value, store).await;
        assert_eq!(charged.status, 201, "{}", charged.text);
        moves.push((tx_no(&charged), at));
    }
    let refund = s.owner.refund(&moves[2].0, "5.00").await;
    assert_eq!(refund.status, 201, "{}", refund.text);
    moves.push((tx_no(&refund), "2024-07-01T12:00:00Z"));
    let topup = s
        .owner
        .post_idempotent(
            "/merchant/recharge",
            &new_key(),
            json!({ "card_no": s.card.card_no, "amount": "4.00",
                                                                     "store": "A" }),
        )
        .await;
    moves.push((tx_no(&topup), "2024-07-01T13:00:00Z"));
    for (tx, at) in &moves {
        backdate(&app.pool, tx, at).await;
    }

    let window = "from=2024-07-01T00:00:00Z&to=2024-07-02T00:00:00Z";
    let whole = s.owner.get(&format!("/merchant/statements?{window}")).await;
    assert_eq!(whole.status, 200, "{}", whole.text);
    assert!(whole.json["store_code"].is_null());
    let fields = ["opening_total", "closing_total"];
    let totals = ["payment_amount", "refund_amount", "topup_amount", "fee_amount", "net_amount"];
    let mut sums = [Decimal::ZERO; 7];
    let mut movements = 0;
    for store in ["MAIN", "A", "B"] {
        let part = s.owner.get(&format!("/merchant/statements?{window}&store={store}")).await;
        assert_eq!(part.status, 200, "{}", part.text);
        assert_eq!(part.json["store_code"], store);
        for (i, field) in fields.iter().enumerate() {
            sums[i] += amount(&part.json[field]);
        }
        for (i, field) in totals.iter().enumerate() {
            sums[2 + i] += amount(&part.json["totals"][field]);
        }
        let rows = part.json["movements"].as_array().unwrap();
        assert!(rows.iter().all(|m| m["store_code"] == store), "only the store's movements: {}", part.text);
        movements += rows.len();
    }
    for (i, field) in fields.iter().enumerate() {
        assert_eq!(sums[i], amount(&whole.json[field]), "the stores' {field} add up to the merchant's");
    }
    for (i, field) in totals.iter().enumerate() {
        assert_eq!(sums[2 + i], amount(&whole.json["totals"][field]), "the stores' {field} add up");
    }
    assert_eq!(movements, whole.json["movements"].as_array().unwrap().len());
    assert_eq!(whole.json["opening_total"], "50.00");
    assert_eq!(amount(&whole.json["totals"]["net_amount"]), "28.75".parse::<Decimal>().unwrap(), "{}", whole.text);

    // The store manager: their store by default, the same with ?store=A, 403 for another.
    let own = amy.get(&format!("/merchant/statements?{window}")).await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!(own.json["store_code"], "A", "a store manager's statement is their store's");
    let named = amy.get(&format!("/merchant/statements?{window}&store=a")).await;
    assert_eq!(named.json["totals"], own.json["totals"]);
    amy.get(&format!("/merchant/statements?{window}&store=B")).await.assert_error(403, "STORE_NOT_ALLOWED");
    let csv = amy.get(&format!("/merchant/statements?{window}&format=csv")).await;
    assert_eq!(csv.status, 200);
    let mut reader = csv::Reader::from_reader(csv.text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.iter().filter(|r| &r[0] == "movement").all(|r| &r[9] == "A"), "{}", csv.text);
    for path in ["/merchant/daily-summary?date=2024-07-01&store=B", "/merchant/settlements?store=B"] {
        amy.get(path).await.assert_error(403, "STORE_NOT_ALLOWED");
    }
    let day = amy.get("/merchant/daily-summary?date=2024-07-01").await;
    assert_eq!(amount(&day.json["summary"]["payment_amount"]), Decimal::new(1000, 2), "{}", day.text);
    amy.get(&format!("/transactions/{}", moves[2].0)).await.assert_error(404, "TX_NOT_FOUND");
    assert_eq!(amy.get(&format!("/transactions/{}", moves[1].0)).await.status, 200, "their store's payment");
    // A key of store B reads store B only.
    let b_day = till_b.get("/merchant/daily-summary?date=2024-07-01").await;
    assert_eq!(amount(&b_day.json["summary"]["payment_amount"]), Decimal::new(2050, 2), "{}", b_day.text);
    till_b.get("/merchant/daily-summary?date=2024-07-01&store=A").await.assert_error(403, "STORE_NOT_ALLOWED");
}

#[tokio::test]
async fn statement_csv_quotes_commas_quotes_and_line_breaks_per_rfc_4180() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop(&app, &admin).await;
    let awkward = "Order, \"special\"\r\nline two";
    let qr = s.member.qr(&s.card.card_id).await;
    let body = json!({ "qr_plain": qr, "amount": "12.00", "external_order_id": "ORDER-1" });
    let paid = s.owner.post_idempotent("/merchant/charge", &new_key(), body).await;
    assert_eq!(paid.status, 201, "{}", paid.text);
    backdate(&app.pool, &tx_no(&paid), "2024-08-01T10:00:00Z").await;
    // The API refuses control characters in order ids; a row written otherwise (an import, an
    // older client) still must not break the file, so it is put there directly.
    sqlx::query("UPDATE transactions SET external_order_id = $1 WHERE tx_no = $2")
        .bind(awkward)
        .bind(tx_no(&paid))
        .execute(&app.pool)
        .await
        .unwrap();
    let csv = s.owner.get("/merchant/statements?from=2024-08-01&to=2024-08-02&format=csv").await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(
        csv.text.contains("\"Order, \"\"special\"\"\r\nline two\""),
        "the field is quoted and its quotes doubled: {}",
        csv.text
    );
    assert!(csv.text.ends_with("\r\n") && csv.text.starts_with("kind,created_at,"), "a header, CRLF records");
    let mut reader = csv::ReaderBuilder::new().from_reader(csv.text.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(header.len(), 14);
    let fee = header.iter().position(|h| h == "fee_amount").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3, "opening, the payment, closing: {}", csv.text);
    assert_eq!(&rows[1][7], awkward, "read back exactly");
    assert!(rows.iter().skip(1).all(|r| &r[fee] == "0.00"), "fees are a 0.00 placeholder");
}

#[tokio::test]
async fn who_manages_whom_store_by_store() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop_with_stores(&app, &admin, &["A", "B"]).await;
    let cash_a = hire(&s.owner, "cash-a", "cashier", Some("A")).await;
    let cash_b = hire(&s.owner, "cash-b", "cashier", Some("B")).await;
    let floater = hire(&s.owner, "floater", "cashier", None).await;
    let mgr_b = hire(&s.owner, "mgr-b", "manager", Some("B")).await;
    hire(&s.owner, "amy", "manager", Some("A")).await;
    hire(&s.owner, "max", "manager", None).await;
    let amy = staff_client(&app, &s.merchant, "amy").await;
    let max = staff_client(&app, &s.merchant, "max").await;
    let new_cashier = |username: &str, store: Option<&str>| json!({ "username": username, "name": "N", "role": "cashier", "store": store, "password": PASSWORD });

    // A store manager: cashiers of their store only — the new cashier is theirs by default.
    let made = amy.post("/merchant/staff", new_cashier("new-a", None)).await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.json["store_code"], "A", "a store manager's new cashier belongs to the store");
    assert_eq!(amy.post("/merchant/staff", new_cashier("new-a2", Some("A"))).await.status, 201);
    amy.post("/merchant/staff", new_cashier("new-b", Some("B"))).await.assert_error(403, "STORE_NOT_ALLOWED");
    let manager = json!({ "username": "m3", "name": "N", "role": "manager", "store": "A", "password": PASSWORD });
    amy.post("/merchant/staff", manager.clone()).await.assert_error(403, "FORBIDDEN");
    let cases = [
        (&cash_a, "suspend", 200, ""),
        (&cash_a, "activate", 200, ""),
        (&cash_b, "suspend", 403, "STORE_NOT_ALLOWED"),
        (&floater, "suspend", 403, "STORE_NOT_ALLOWED"),
        (&mgr_b, "suspend", 403, "FORBIDDEN"),
    ];
    for (id, action, status, code) in cases {
        let answer = amy.post(&format!("/merchant/staff/{id}/{action}"), json!({})).await;
        if status == 200 {
            assert_eq!(answer.status, 200, "{action} {id}: {}", answer.text);
        } else {
            answer.assert_error(status, code);
        }
    }
    let password = json!({ "password": "another-password-1" });
    assert_eq!(amy.post(&format!("/merchant/staff/{cash_a}/password"), password.clone()).await.status, 200);
    amy.post(&format!("/merchant/staff/{cash_b}/password"), password.clone())
        .await
        .assert_error(403, "STORE_NOT_ALLOWED");
    amy.patch(&format!("/merchant/staff/{cash_a}"), json!({ "store": "B" }))
        .await
        .assert_error(403, "STORE_NOT_ALLOWED");
    amy.patch(&format!("/merchant/staff/{cash_a}"), json!({ "store": null }))
        .await
        .assert_error(403, "STORE_NOT_ALLOWED");
    amy.get(&format!("/merchant/staff/{cash_b}")).await.assert_error(403, "STORE_NOT_ALLOWED");
    let listed = amy.get("/merchant/staff?count=exact").await;
    let mut names: Vec<&str> =
        listed.json["items"].as_array().unwrap().iter().map(|m| m["username"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["amy", "cash-a", "new-a", "new-a2"],
        "a store manager lists their store's staff: {}",
        listed.text
    );
    assert_eq!(listed.json["pagination"]["total_count"], 4);
    let all = s.owner.get("/merchant/staff?count=exact").await;
    assert_eq!(all.json["pagination"]["total_count"], 8, "the owner lists everyone: {}", all.text);
    assert_eq!(amy.get(&format!("/merchant/staff/{cash_a}")).await.status, 200);

    // An unrestricted manager: any cashier, no manager; the owner: anyone.
    for id in [&cash_b, &floater] {
        assert_eq!(max.post(&format!("/merchant/staff/{id}/suspend"), json!({})).await.status, 200);
        assert_eq!(max.post(&format!("/merchant/staff/{id}/activate"), json!({})).await.status, 200);
    }
    assert_eq!(max.patch(&format!("/merchant/staff/{cash_a}"), json!({ "store": "B" })).await.status, 200);
    max.post(&format!("/merchant/staff/{mgr_b}/suspend"), json!({})).await.assert_error(403, "FORBIDDEN");
    max.post("/merchant/staff", manager.clone()).await.assert_error(403, "FORBIDDEN");
    assert_eq!(s.owner.post(&format!("/merchant/staff/{mgr_b}/suspend"), json!({})).await.status, 200);
    assert_eq!(s.owner.post(&format!("/merchant/staff/{mgr_b}/activate"), json!({})).await.status, 200);
    assert_eq!(s.owner.post("/merchant/staff", manager).await.status, 201);
}

#[tokio::test]
async fn an_admin_reactivates_a_suspended_staff_member_and_the_audit_log_says_who() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop(&app, &admin).await;
    let ann_id = hire(&s.owner, "ann", "cashier", None).await;
    let path = |action: &str| format!("/admin/merchants/{}/staff/{ann_id}/{action}", s.merchant.code);
    let suspended = admin.post(&path("suspend"), json!({ "reason": "investigation" })).await;
    assert_eq!(suspended.json["status"], "suspended", "{}", suspended.text);
    staff_login(&app, &s.merchant, "ann", PASSWORD).await.assert_error(401, "INVALID_CREDENTIALS");
    let activated = admin.post(&path("activate"), json!({ "reason": "cleared" })).await;
    assert_eq!(activated.status, 200, "{}", activated.text);
    assert_eq!(activated.json["status"], "active");
    assert_eq!(staff_login(&app, &s.merchant, "ann", PASSWORD).await.status, 200, "ann works again");
    let unknown = format!("/admin/merchants/{}/staff/{}/activate", s.merchant.code, uuid::Uuid::new_v4());
    admin.post(&unknown, json!({})).await.assert_error(404, "STAFF_NOT_FOUND");
    let audit: (String, String, serde_json::Value) = sqlx::query_as(
        "SELECT action, actor_role::text, context FROM audit_events WHERE object_type = 'staff' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((audit.0.as_str(), audit.1.as_str()), ("STAFF_ACTIVATE", "admin"));
    assert_eq!(audit.2["reason"], "cleared");
    assert_eq!(audit.2["before"]["status"], "suspended");
}
