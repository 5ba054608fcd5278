//! Merchants as they are (issue 18): stores, staff with roles, POS keys — who may do what, the
//! cashier's refund rules, revocation at once on every instance, and books per store.

use rust_decimal::Decimal;
use serde_json::json;

use crate::helpers::{Client, PASSWORD, TestApp, TestMember, TestMerchant, TestResponse, new_key};
use crate::programme_support::{backdate, tx_no};

/// A client of `app` holding `client`'s token (the same session seen by another instance).
pub(crate) fn on<'a>(app: &'a TestApp, client: &Client<'_>) -> Client<'a> {
    Client { app, token: client.token.clone(), id: client.id }
}

/// Logs a staff member in.
pub(crate) async fn staff_login(
    app: &TestApp,
    merchant: &TestMerchant,
    username: &str,
    password: &str,
) -> TestResponse {
    let body = json!({ "role": "merchant", "identifier": merchant.code, "username": username, "password": password });
    app.call(axum::http::Method::POST, "/auth/login", Some(body), &[]).await
}

pub(crate) async fn staff_client<'a>(app: &'a TestApp, merchant: &TestMerchant, username: &str) -> Client<'a> {
    let response = staff_login(app, merchant, username, PASSWORD).await;
    assert_eq!(response.status, 200, "staff login {username}: {}", response.text);
    Client { app, token: response.json["token"].as_str().unwrap().to_owned(), id: uuid::Uuid::nil() }
}

/// Owner: adds a staff member and returns its id.
pub(crate) async fn hire(owner: &Client<'_>, username: &str, role: &str, store: Option<&str>) -> String {
    let body = json!({ "username": username, "name": format!("{username} name"), "role": role, "store": store,
                       "password": PASSWORD });
    let response = owner.post("/merchant/staff", body).await;
    assert_eq!(response.status, 201, "hire {username}: {}", response.text);
    response.json["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn open_store(owner: &Client<'_>, code: &str) -> String {
    let response = owner.post("/merchant/stores", json!({ "code": code, "name": format!("Store {code}") })).await;
    assert_eq!(response.status, 201, "open store {code}: {}", response.text);
    response.json["id"].as_str().unwrap().to_owned()
}

/// Owner: a POS key for a store; returns (id, secret).
pub(crate) async fn new_pos_key(owner: &Client<'_>, store: &str, permissions: &[&str]) -> (String, String) {
    let body = json!({ "name": format!("Till {store}"), "store": store, "permissions": permissions,
                       "terminal_id": "T-1" });
    let response = owner.post("/merchant/keys", body).await;
    assert_eq!(response.status, 201, "create key: {}", response.text);
    (response.json["key"]["id"].as_str().unwrap().to_owned(), response.json["secret"].as_str().unwrap().to_owned())
}

pub(crate) fn key_client<'a>(app: &'a TestApp, secret: &str) -> Client<'a> {
    Client { app, token: secret.to_owned(), id: uuid::Uuid::nil() }
}

pub(crate) async fn charge_at(
    shop: &Client<'_>,
    member: &Client<'_>,
    card: &TestMember,
    amount: &str,
    store: Option<&str>,
) -> TestResponse {
    let qr = member.qr(&card.card_id).await;
    shop.post_idempotent("/merchant/charge", &new_key(), json!({ "qr_plain": qr, "amount": amount, "store": store }))
        .await
}

pub(crate) fn amount(value: &serde_json::Value) -> Decimal {
    value.as_str().unwrap_or_else(|| panic!("an amount string: {value}")).parse().unwrap()
}

pub(crate) struct Shop<'a> {
    pub(crate) merchant: TestMerchant,
    pub(crate) owner: Client<'a>,
    pub(crate) member: Client<'a>,
    pub(crate) card: TestMember,
}

pub(crate) async fn shop<'a>(app: &'a TestApp, admin: &Client<'a>) -> Shop<'a> {
    let card = admin.create_member("Ana").await;
    admin.credit(&card.card_id, "5000.00").await;
    let member = app.member_client(&card).await;
    let merchant = admin.create_merchant("Shop").await;
    let owner = app.merchant_client(&merchant).await;
    Shop { merchant, owner, member, card }
}

/// [`shop`], with the stores `codes` opened by its owner (beside the default `MAIN`).
pub(crate) async fn shop_with_stores<'a>(app: &'a TestApp, admin: &Client<'a>, codes: &[&str]) -> Shop<'a> {
    let s = shop(app, admin).await;
    for code in codes {
        open_store(&s.owner, code).await;
    }
    s
}

#[tokio::test]
async fn every_merchant_has_a_default_store_and_transactions_record_their_store_and_staff() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop(&app, &admin).await;
    let stores = s.owner.get("/merchant/stores").await;
    assert_eq!(stores.status, 200, "{}", stores.text);
    assert_eq!(stores.json["items"][0]["code"], "MAIN", "the default store comes first: {}", stores.text);
    assert_eq!(stores.json["items"][0]["is_default"], true);
    open_store(&s.owner, "EAST").await;
    hire(&s.owner, "ann", "cashier", None).await;
    let ann = staff_client(&app, &s.merchant, "ann").await;

    let by_owner = charge_at(&s.owner, &s.member, &s.card, "10.00", None).await;
    assert_eq!(by_owner.status, 201, "{}", by_owner.text);
    assert_eq!(by_owner.json["transaction"]["store_code"], "MAIN", "no store named: the default store");
    assert!(by_owner.json["transaction"]["staff_id"].is_null(), "the merchant's own credentials are no staff member");
    let by_ann = charge_at(&ann, &s.member, &s.card, "12.00", Some("east")).await;
    assert_eq!(by_ann.status, 201, "{}", by_ann.text);
    assert_eq!(by_ann.json["transaction"]["store_code"], "EAST", "store codes are matched regardless of case");
    assert_eq!(by_ann.json["transaction"]["operator"], "ann name", "operator is the staff member's name");
    let me = ann.get("/auth/me").await;
    assert_eq!(by_ann.json["transaction"]["staff_id"], me.json["user"]["staff_id"], "{}", me.text);
    assert_eq!(me.json["user"]["staff_role"], "cashier");

    let read = s.owner.get(&format!("/transactions/{}", tx_no(&by_ann))).await;
    assert_eq!(read.json["transaction"]["store_code"], "EAST", "reads show the store too: {}", read.text);
    let unknown = charge_at(&s.owner, &s.member, &s.card, "1.00", Some("NOPE")).await;
    unknown.assert_error(404, "STORE_NOT_FOUND");
    let recorded: (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE store_id IS NULL), count(*) FROM transactions WHERE merchant_id IS NOT NULL",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(recorded, (0, 2), "every merchant transaction records a store");
}

#[tokio::test]
async fn per_store_settlement_and_summary_totals_add_up_to_the_merchants() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop_with_stores(&app, &admin, &["A", "B"]).await;
    let mut payments = Vec::new();
    for (amount_, store) in [("10.00", Some("A")), ("20.50", Some("B")), ("7.25", None), ("3.10", Some("B"))] {
        let charged = charge_at(&s.owner, &s.member, &s.card, amount_, store).await;
        assert_eq!(charged.status, 201, "{}", charged.text);
        payments.push(tx_no(&charged));
    }
    let refund = s.owner.refund(&payments[1], "5.00").await;
    assert_eq!(refund.status, 201, "{}", refund.text);
    assert_eq!(refund.json["refund"]["store_code"], "B", "a refund records its payment's store");
    let topup_body = json!({ "card_no": s.card.card_no, "amount": "4.00" });
    let topup = s.owner.post_idempotent("/merchant/recharge", &new_key(), topup_body).await;
    assert_eq!(topup.status, 201, "{}", topup.text);
    let mut moved = payments.clone();
    moved.push(tx_no(&refund));
    moved.push(topup.json["transaction"]["tx_no"].as_str().unwrap().to_owned());
    for tx in &moved {
        backdate(&app.pool, tx, "2024-05-01T10:00:00Z").await;
    }

    let period = json!({ "mode": "realtime", "period_start": "2024-05-01T00:00:00Z",
                         "period_end": "2024-05-02T00:00:00Z" });
    let settled = s.owner.post("/merchant/settlements", period).await;
    assert_eq!(settled.status, 201, "{}", settled.text);
    let id = settled.json["id"].as_str().unwrap();
    let fields = ["payment_amount", "refund_amount", "topup_amount", "net_amount"];
    let mut sums = [Decimal::ZERO; 4];
    let mut counts = [0_i64; 3];
    for store in ["MAIN", "A", "B"] {
        let share = s.owner.get(&format!("/merchant/settlements/{id}?store={store}")).await;
        assert_eq!(share.status, 200, "{}", share.text);
        assert_eq!(share.json["store_code"], store);
        for (sum, field) in sums.iter_mut().zip(fields) {
            *sum += amount(&share.json[field]);
        }
        for (count, field) in counts.iter_mut().zip(["payment_count", "refund_count", "topup_count"]) {
            *count += share.json[field].as_i64().unwrap();
        }
    }
    for (sum, field) in sums.iter().zip(fields) {
        assert_eq!(*sum, amount(&settled.json[field]), "the stores' {field} add up to the merchant's");
    }
    assert_eq!(counts, [4, 1, 1], "the stores' counts add up to the merchant's");
    assert_eq!(amount(&settled.json["payment_amount"]), "40.85".parse::<Decimal>().unwrap());
    let b = s.owner.get(&format!("/merchant/settlements/{id}?store=B")).await;
    assert_eq!(amount(&b.json["net_amount"]), "18.60".parse::<Decimal>().unwrap(), "{}", b.text);

    let whole = s.owner.get("/merchant/daily-summary?date=2024-05-01").await;
    let mut day_payments = Decimal::ZERO;
    for store in ["MAIN", "A", "B"] {
        let day = s.owner.get(&format!("/merchant/daily-summary?date=2024-05-01&store={store}")).await;
        assert_eq!(day.status, 200, "{}", day.text);
        day_payments += amount(&day.json["summary"]["payment_amount"]);
    }
    assert_eq!(day_payments, amount(&whole.json["summary"]["payment_amount"]), "{}", whole.text);
}

#[tokio::test]
async fn a_cashier_refunds_within_the_limit_and_the_day_and_gets_403_beyond_them() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop(&app, &admin).await;
    hire(&s.owner, "cash1", "cashier", None).await;
    hire(&s.owner, "boss", "manager", None).await;
    let cashier = staff_client(&app, &s.merchant, "cash1").await;
    let manager = staff_client(&app, &s.merchant, "boss").await;
    let today = tx_no(&charge_at(&cashier, &s.member, &s.card, "80.00", None).await);
    let yesterday = tx_no(&charge_at(&cashier, &s.member, &s.card, "30.00", None).await);
    backdate(&app.pool, &yesterday, &(chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339()).await;

    cashier.refund(&today, "1.00").await.assert_error(403, "REFUND_LIMIT_EXCEEDED");
    let settings = s.owner.put("/merchant/settings", json!({ "cashier_refund_limit": "20.00" })).await;
    assert_eq!(settings.status, 200, "{}", settings.text);
    manager.put("/merchant/settings", json!({ "cashier_refund_limit": "999.00" })).await.assert_error(403, "FORBIDDEN");

    let within = cashier.refund(&today, "20.00").await;
    assert_eq!(within.status, 201, "{}", within.text);
    let over = cashier.refund(&today, "20.01").await;
    over.assert_error(403, "REFUND_LIMIT_EXCEEDED");
    assert_eq!(over.json["error"]["details"]["refund_limit"], "20.00");
    cashier.refund(&yesterday, "5.00").await.assert_error(403, "REFUND_NOT_SAME_DAY");
    let by_manager = manager.refund(&yesterday, "30.00").await;
    assert_eq!(by_manager.status, 201, "managers refund anything allowed: {}", by_manager.text);
    assert_eq!(manager.refund(&today, "60.00").await.status, 201);
}

#[tokio::test]
async fn a_staff_member_suspended_mid_shift_cannot_act_on_any_instance() {
    let app = TestApp::new().await;
    let other = app.sibling(&[]).await;
    let admin = app.admin().await;
    let s = shop(&app, &admin).await;
    let ann_id = hire(&s.owner, "ann", "cashier", None).await;
    let bob_id = hire(&s.owner, "bob", "cashier", None).await;
    let ann = staff_client(&app, &s.merchant, "ann").await;
    let ann_there = on(&other, &ann);
    let bob = staff_client(&app, &s.merchant, "bob").await;
    assert_eq!(charge_at(&ann_there, &s.member, &s.card, "5.00", None).await.status, 201);

    let suspended = s.owner.post(&format!("/merchant/staff/{ann_id}/suspend"), json!({"reason": "fired"})).await;
    assert_eq!(suspended.status, 200, "{}", suspended.text);
    assert_eq!(suspended.json["status"], "suspended");
    ann.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    charge_at(&ann_there, &s.member, &s.card, "5.00", None).await.assert_error(401, "UNAUTHENTICATED");
    staff_login(&app, &s.merchant, "ann", PASSWORD).await.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(bob.get("/auth/me").await.status, 200, "the other staff work on");
    assert_eq!(s.owner.get("/auth/me").await.status, 200, "and the owner too");

    let reactivated = s.owner.post(&format!("/merchant/staff/{ann_id}/activate"), json!({})).await;
    assert_eq!(reactivated.status, 200, "{}", reactivated.text);
    ann.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    assert_eq!(staff_login(&app, &s.merchant, "ann", PASSWORD).await.status, 200, "activated: ann logs in again");

    let by_admin = admin.post(&format!("/admin/merchants/{}/staff/{bob_id}/suspend", s.merchant.code), json!({})).await;
    assert_eq!(by_admin.status, 200, "{}", by_admin.text);
    bob.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    let listed = admin.get(&format!("/admin/merchants/{}/staff?count=exact", s.merchant.id)).await;
    assert_eq!(listed.json["pagination"]["total_count"], 2, "{}", listed.text);
    assert!(!listed.text.contains("argon2"), "no password hash is shown: {}", listed.text);
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events WHERE object_type = 'staff' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(actions, ["CREATE_STAFF", "CREATE_STAFF", "STAFF_SUSPEND", "STAFF_ACTIVATE", "STAFF_SUSPEND"]);
}

#[tokio::test]
async fn managers_manage_cashiers_only_and_cashiers_manage_no_one() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop(&app, &admin).await;
    let mgr_id = hire(&s.owner, "mgr", "manager", None).await;
    hire(&s.owner, "cash", "cashier", None).await;
    let manager = staff_client(&app, &s.merchant, "mgr").await;
    let cashier = staff_client(&app, &s.merchant, "cash").await;

    let body =
        |username: &str, role: &str| json!({ "username": username, "name": "N", "role": role, "password": PASSWORD });
    assert_eq!(manager.post("/merchant/staff", body("c2", "cashier")).await.status, 201);
    manager.post("/merchant/staff", body("m2", "manager")).await.assert_error(403, "FORBIDDEN");
    manager.post(&format!("/merchant/staff/{mgr_id}/suspend"), json!({})).await.assert_error(403, "FORBIDDEN");
    cashier.post("/merchant/staff", body("c3", "cashier")).await.assert_error(403, "FORBIDDEN");
    s.owner.post("/merchant/staff", body("C2", "cashier")).await.assert_error(409, "DUPLICATE_USERNAME");
    cashier.get("/merchant/transactions").await.assert_error(403, "FORBIDDEN");
    assert_eq!(manager.get("/merchant/transactions").await.status, 200, "managers see all reports");
    manager.post("/merchant/keys", json!({})).await.assert_error(403, "FORBIDDEN");
    manager.post("/merchant/settlements", json!({ "mode": "t_plus_1" })).await.assert_error(403, "FORBIDDEN");

    let promoted = s.owner.patch(&format!("/merchant/staff/{mgr_id}"), json!({ "role": "cashier" })).await;
    assert_eq!(promoted.status, 200, "{}", promoted.text);
    manager.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_key_scoped_to_store_a_cannot_charge_as_store_b_nor_manage_anything() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop_with_stores(&app, &admin, &["A", "B"]).await;
    let (_, secret) = new_pos_key(&s.owner, "A", &["charge"]).await;
    let till = key_client(&app, &secret);

    let at_a = charge_at(&till, &s.member, &s.card, "9.99", None).await;
    assert_eq!(at_a.status, 201, "{}", at_a.text);
    assert_eq!(at_a.json["transaction"]["store_code"], "A", "a key charges as its store by default");
    assert_eq!(at_a.json["transaction"]["operator"], "Till A");
    charge_at(&till, &s.member, &s.card, "9.99", Some("B")).await.assert_error(403, "STORE_NOT_ALLOWED");
    till.refund(&tx_no(&at_a), "1.00").await.assert_error(403, "FORBIDDEN");
    till.get("/merchant/transactions").await.assert_error(403, "FORBIDDEN");
    for (path, body) in [
        ("/merchant/staff", json!({})),
        ("/merchant/keys", json!({})),
        ("/merchant/stores", json!({})),
        ("/auth/logout", json!({})),
    ] {
        till.post(path, body).await.assert_error(403, "FORBIDDEN");
    }
    key_client(&app, &format!("{secret}x")).get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    key_client(&app, "mps_pos_nonsense").get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_revoked_key_stops_at_once_on_every_instance_and_a_rotated_one_overlaps() {
    let app = TestApp::new().await;
    let other = app.sibling(&[]).await;
    let admin = app.admin().await;
    let s = shop(&app, &admin).await;
    let (key_id, secret) = new_pos_key(&s.owner, "MAIN", &["read"]).await;
    let here = key_client(&app, &secret);
    let there = key_client(&other, &secret);
    assert_eq!(here.get("/merchant/transactions").await.status, 200);
    assert_eq!(there.get("/merchant/transactions").await.status, 200);

    let rotated = s.owner.post(&format!("/merchant/keys/{key_id}/rotate"), json!({ "overlap_seconds": 300 })).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new_secret = rotated.json["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(there.get("/merchant/transactions").await.status, 200, "the old secret works during the overlap");
    assert_eq!(key_client(&other, new_secret).get("/merchant/transactions").await.status, 200);

    let revoked = s.owner.post(&format!("/merchant/keys/{key_id}/revoke"), json!({})).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    for client in [&here, &there, &key_client(&other, new_secret)] {
        client.get("/merchant/transactions").await.assert_error(401, "UNAUTHENTICATED");
    }

    let (second_id, second) = new_pos_key(&s.owner, "MAIN", &["read"]).await;
    let by_admin =
        admin.post(&format!("/admin/merchants/{}/keys/{second_id}/revoke", s.merchant.code), json!({})).await;
    assert_eq!(by_admin.status, 200, "{}", by_admin.text);
    key_client(&other, &second).get("/merchant/transactions").await.assert_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn key_secrets_never_appear_in_reads_the_audit_log_or_the_database() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop(&app, &admin).await;
    let (key_id, secret) = new_pos_key(&s.owner, "MAIN", &["charge", "read"]).await;
    let random_of = |secret: &str| secret.splitn(4, '_').nth(3).unwrap().to_owned();
    let random_part = random_of(&secret);
    assert!(secret.starts_with("mps_pos_") && random_part.len() >= 43, "{secret}");
    let till = key_client(&app, &secret);
    assert_eq!(charge_at(&till, &s.member, &s.card, "3.00", None).await.status, 201);
    let rotated = s.owner.post(&format!("/merchant/keys/{key_id}/rotate"), json!({})).await;
    let rotated_random = random_of(rotated.json["secret"].as_str().unwrap());

    let reads = [
        s.owner.get("/merchant/keys").await,
        s.owner.get(&format!("/merchant/keys/{key_id}")).await,
        admin.get(&format!("/admin/merchants/{}/keys", s.merchant.code)).await,
        admin.get("/admin/audit?limit=100").await,
    ];
    for read in &reads {
        assert_eq!(read.status, 200, "{}", read.text);
        assert!(
            !read.text.contains(&random_part) && !read.text.contains(&rotated_random),
            "a secret leaked: {}",
            read.text
        );
    }
    let dumped: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(t::text, ' '), '') FROM \
           (SELECT to_jsonb(a)::text AS t FROM audit_events a UNION ALL SELECT to_jsonb(k)::text FROM pos_keys k \
            UNION ALL SELECT to_jsonb(x)::text FROM transactions x) t",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!dumped.contains(&random_part) && !dumped.contains(&rotated_random), "the database holds no secret");
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events WHERE object_type = 'pos_key' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(actions, ["CREATE_POS_KEY", "POS_KEY_ROTATE"]);
}

#[tokio::test]
async fn concurrent_charges_and_refunds_from_three_stores_keep_the_books_and_the_store_shares_whole() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop_with_stores(&app, &admin, &["A", "B"]).await;
    hire(&s.owner, "ann", "cashier", Some("A")).await;
    let ann = staff_client(&app, &s.merchant, "ann").await;
    let (key_id, secret) = new_pos_key(&s.owner, "B", &["charge", "refund"]).await;
    let till = key_client(&app, &secret);
    assert_eq!(s.owner.put("/merchant/settings", json!({ "cashier_refund_limit": "100.00" })).await.status, 200);
    let mut cards = Vec::new();
    for n in 0..6 {
        let card = admin.create_member(&format!("Member {n}")).await;
        admin.credit(&card.card_id, "500.00").await;
        let member = app.member_client(&card).await;
        let qr = member.qr(&card.card_id).await;
        cards.push(qr);
    }
    let body = |qr: &str| json!({ "qr_plain": qr, "amount": "40.00" });
    let keys: Vec<String> = (0..6).map(|_| new_key()).collect();
    let charges = tokio::join!(
        ann.post_idempotent("/merchant/charge", &keys[0], body(&cards[0])),
        ann.post_idempotent("/merchant/charge", &keys[1], body(&cards[1])),
        till.post_idempotent("/merchant/charge", &keys[2], body(&cards[2])),
        till.post_idempotent("/merchant/charge", &keys[3], body(&cards[3])),
        s.owner.post_idempotent("/merchant/charge", &keys[4], body(&cards[4])),
        s.owner.post_idempotent(
            "/merchant/charge",
            &keys[5],
            json!({ "qr_plain": cards[5], "amount": "40.00", "store": "B" })
        ),
    );
    let charges = [charges.0, charges.1, charges.2, charges.3, charges.4, charges.5];
    for charged in &charges {
        assert_eq!(charged.status, 201, "{}", charged.text);
    }
    let stores: Vec<&str> = charges.iter().map(|c| c.json["transaction"]["store_code"].as_str().unwrap()).collect();
    assert_eq!(stores, ["A", "A", "B", "B", "MAIN", "B"]);
    let paid: Vec<String> = charges.iter().map(tx_no).collect();
    let refunds = tokio::join!(
        ann.refund(&paid[0], "10.00"),
        ann.refund(&paid[0], "10.00"),
        till.refund(&paid[5], "15.00"),
        ann.refund(&paid[2], "1.00"),
        s.owner.refund(&paid[4], "40.00"),
    );
    for refunded in [&refunds.0, &refunds.1, &refunds.2, &refunds.4] {
        assert_eq!(refunded.status, 201, "{}", refunded.text);
    }
    refunds.3.assert_error(404, "TX_NOT_FOUND");
    crate::helpers::assert_books_balance(&app.pool).await;
    // Each row names who moved the money: ann's session, the till's key, or neither (the owner).
    let moved = [&charges[0], &charges[1], &charges[2], &charges[3], &charges[4], &charges[5]]
        .map(|c| c.json["transaction"].clone())
        .into_iter()
        .chain([&refunds.0, &refunds.1, &refunds.2, &refunds.4].map(|r| r.json["refund"].clone()));
    let by: Vec<(bool, bool)> = moved
        .map(|tx| (!tx["staff_id"].is_null(), tx["pos_key_id"] == key_id.as_str() && tx["terminal_id"] == "T-1"))
        .collect();
    let (staff, key, owner) = ((true, false), (false, true), (false, false));
    assert_eq!(by, [staff, staff, key, key, owner, owner, staff, staff, key, owner]);

    let mut sum = Decimal::ZERO;
    for store in ["MAIN", "A", "B"] {
        let day = s.owner.get(&format!("/merchant/daily-summary?store={store}")).await;
        sum += amount(&day.json["summary"]["net_amount"]);
    }
    let whole = s.owner.get("/merchant/daily-summary").await;
    assert_eq!(amount(&whole.json["summary"]["net_amount"]), "165.00".parse::<Decimal>().unwrap(), "{}", whole.text);
    assert_eq!(sum, amount(&whole.json["summary"]["net_amount"]), "the stores' days add up to the merchant's");
}

#[tokio::test]
async fn each_pos_key_has_its_own_rate_limit() {
    let app = TestApp::with_vars(&[("RATE_LIMIT_REQUESTS", "3")]).await;
    let admin = app.admin().await;
    let merchant = admin.create_merchant("Shop").await;
    let owner = app.merchant_client(&merchant).await;
    let (_, first) = new_pos_key(&owner, "MAIN", &["read"]).await;
    let (_, second) = new_pos_key(&owner, "MAIN", &["read"]).await;
    let first = key_client(&app, &first);
    for _ in 0..3 {
        assert_eq!(first.get("/merchant/transactions").await.status, 200);
    }
    let limited = first.get("/merchant/transactions").await;
    limited.assert_error(429, "RATE_LIMITED");
    assert_eq!(
        key_client(&app, &second).get("/merchant/transactions").await.status,
        200,
        "another till is not held up"
    );
}

#[tokio::test]
async fn a_staff_member_changes_their_own_password_and_keeps_only_this_session() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop(&app, &admin).await;
    hire(&s.owner, "ann", "cashier", None).await;
    let ann = staff_client(&app, &s.merchant, "ann").await;
    let ann_elsewhere = staff_client(&app, &s.merchant, "ann").await;
    let changed =
        ann.post("/auth/password", json!({ "old_password": PASSWORD, "new_password": "ann-new-password" })).await;
    assert_eq!(changed.status, 204, "{}", changed.text);
    assert_eq!(ann.get("/auth/me").await.status, 200, "the caller's session lives on");
    ann_elsewhere.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    assert_eq!(s.owner.get("/auth/me").await.status, 200, "the merchant's own session is not the staff member's");
    assert_eq!(staff_login(&app, &s.merchant, "ann", "ann-new-password").await.status, 200);
    assert_eq!(
        app.login("merchant", &s.merchant.code, PASSWORD).await.status,
        200,
        "the owner's password is unchanged"
    );
}

#[tokio::test]
async fn made_up_keys_are_limited_by_the_client_address() {
    let app = TestApp::with_vars(&[("RATE_LIMIT_REQUESTS", "3")]).await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        let made_up = format!("mps_pos_{:012}_guess", n);
        statuses.push(key_client(&app, &made_up).get("/merchant/transactions").await.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429], "each made-up prefix is its own bucket, the address is not");
}

/// `pos_key_id` and `terminal_id` of a transaction as stored and as `transactions.staff_id`.
async fn who_moved(app: &TestApp, tx_no: &str) -> (Option<uuid::Uuid>, Option<uuid::Uuid>) {
    sqlx::query_as("SELECT pos_key_id, staff_id FROM transactions WHERE tx_no = $1")
        .bind(tx_no)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The gap of issue 18's first passes: the books name the POS key (terminal) that moved the money,
/// merchants and admins see it, members never do, and a replay is still the first answer.
#[tokio::test]
async fn charges_and_refunds_by_pos_key_record_the_key_and_its_terminal_for_merchants_and_admins_only() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop(&app, &admin).await;
    open_store(&s.owner, "A").await;
    let settings = s.owner.put("/merchant/settings", json!({ "cashier_refund_limit": "100.00" })).await;
    assert_eq!(settings.status, 200, "{}", settings.text);
    let (key_id, secret) = new_pos_key(&s.owner, "A", &["charge", "refund", "read"]).await;
    let till = key_client(&app, &secret);

    // A charge by key: the key and its terminal, no staff member; the replay is byte for byte.
    let charge = json!({ "qr_plain": s.member.qr(&s.card.card_id).await, "amount": "30.00" });
    let charged = till.post_idempotent("/merchant/charge", "pos-c-1", charge.clone()).await;
    assert_eq!(charged.status, 201, "{}", charged.text);
    let tx = &charged.json["transaction"];
    assert_eq!(tx["pos_key_id"], key_id.as_str(), "{}", charged.text);
    assert_eq!(tx["terminal_id"], "T-1");
    assert!(tx["staff_id"].is_null());
    let payment = tx_no(&charged);
    assert_eq!(who_moved(&app, &payment).await, (Some(key_id.parse().unwrap()), None));
    let replay = till.post_idempotent("/merchant/charge", "pos-c-1", charge).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.text, charged.text, "the charge as first answered");

    // A refund by key records the key too.
    let refund = json!({ "original_tx_no": payment, "amount": "5.00" });
    let refunded = till.post_idempotent("/merchant/refund", "pos-r-1", refund.clone()).await;
    assert_eq!(refunded.status, 201, "{}", refunded.text);
    assert_eq!(refunded.json["refund"]["pos_key_id"], key_id.as_str(), "{}", refunded.text);
    assert_eq!(refunded.json["refund"]["terminal_id"], "T-1");
    let refund_no = refunded.json["refund"]["tx_no"].as_str().unwrap().to_owned();
    assert_eq!(who_moved(&app, &refund_no).await, (Some(key_id.parse().unwrap()), None));
    let replay = till.post_idempotent("/merchant/refund", "pos-r-1", refund).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.text, refunded.text, "the refund as first answered");
    // The merchant's webhook events name the key and its terminal too.
    let events: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload -> 'transaction' FROM event_log WHERE type IN ('payment.succeeded', 'refund.succeeded') \
         AND payload -> 'transaction' ->> 'tx_no' IN ($1, $2) ORDER BY created_at",
    )
    .bind(&payment)
    .bind(&refund_no)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    for event in &events {
        assert_eq!(event["pos_key_id"], key_id.as_str(), "{event}");
        assert_eq!(event["terminal_id"], "T-1", "{event}");
        assert!(event["staff_id"].is_null(), "{event}");
    }

    // A key without a terminal id: the key, and a null terminal.
    let bare = s.owner.post("/merchant/keys", json!({ "name": "Bare", "store": "A", "permissions": ["charge"] })).await;
    assert_eq!(bare.status, 201, "{}", bare.text);
    let bare_id = bare.json["key"]["id"].as_str().unwrap().to_owned();
    let by_bare =
        charge_at(&key_client(&app, bare.json["secret"].as_str().unwrap()), &s.member, &s.card, "1.00", None).await;
    assert_eq!(by_bare.json["transaction"]["pos_key_id"], bare_id.as_str(), "{}", by_bare.text);
    assert!(by_bare.json["transaction"]["terminal_id"].is_null());

    // No key scope grants a counter top-up; the function still records a key it is given.
    let topup_body = json!({ "card_no": s.card.card_no, "amount": "4.00" });
    till.post_idempotent("/merchant/recharge", &new_key(), topup_body.clone()).await.assert_error(403, "FORBIDDEN");
    let topped: serde_json::Value = sqlx::query_scalar(
        "SELECT merchant_recharge($1::uuid, 'Till A', 'fn-topup', '\\x00'::bytea, $2, 2.00, 'req-fn', NULL, NULL, $3::uuid)",
    )
    .bind(&s.merchant.id)
    .bind(&s.card.card_no)
    .bind(&key_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let topup_no = topped["body"]["transaction"]["tx_no"].as_str().unwrap_or_else(|| panic!("{topped}")).to_owned();
    assert_eq!(who_moved(&app, &topup_no).await, (Some(key_id.parse().unwrap()), None));

    // A staff session's charge, refund and top-up name the staff member and no key.
    hire(&s.owner, "ann", "cashier", None).await;
    let ann = staff_client(&app, &s.merchant, "ann").await;
    let ann_id: uuid::Uuid = ann.get("/auth/me").await.json["user"]["staff_id"].as_str().unwrap().parse().unwrap();
    let by_ann = charge_at(&ann, &s.member, &s.card, "8.00", None).await;
    assert_eq!(by_ann.status, 201, "{}", by_ann.text);
    assert!(by_ann.json["transaction"]["pos_key_id"].is_null() && by_ann.json["transaction"]["terminal_id"].is_null());
    let ann_refund = ann.refund(&tx_no(&by_ann), "2.00").await;
    assert_eq!(ann_refund.status, 201, "{}", ann_refund.text);
    let ann_topup = ann.post_idempotent("/merchant/recharge", &new_key(), topup_body).await;
    assert_eq!(ann_topup.status, 201, "{}", ann_topup.text);
    assert!(ann_topup.json["transaction"]["pos_key_id"].is_null(), "{}", ann_topup.text);
    for moved in [&by_ann.json["transaction"], &ann_refund.json["refund"], &ann_topup.json["transaction"]] {
        let no = moved["tx_no"].as_str().unwrap();
        assert_eq!(who_moved(&app, no).await, (None, Some(ann_id)), "{no}");
    }

    // Merchant (owner and the key's own reads) and admin see the key; the member never does.
    for (who, reader) in [("owner", &s.owner), ("key", &till), ("admin", &admin)] {
        let read = reader.get(&format!("/transactions/{payment}")).await;
        assert_eq!(read.json["transaction"]["pos_key_id"], key_id.as_str(), "{who}: {}", read.text);
        assert_eq!(read.json["transaction"]["terminal_id"], "T-1", "{who}");
    }
    let list = s.owner.get("/merchant/transactions?store=A").await;
    let listed = list.json["items"].as_array().unwrap().iter().find(|t| t["tx_no"] == payment.as_str()).cloned();
    assert_eq!(listed.unwrap_or_default()["terminal_id"], "T-1", "{}", list.text);
    let admin_card = admin.get(&format!("/admin/cards/{}", s.card.card_id)).await;
    let history = admin_card.json["history"]["transactions"].as_array().unwrap();
    assert!(history.iter().any(|t| t["pos_key_id"] == key_id.as_str()), "{}", admin_card.text);

    let mine = s.member.get(&format!("/transactions/{payment}")).await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    let member_lists = [
        s.member.get("/member/transactions").await.json["items"].clone(),
        s.member.get(&format!("/member/cards/{}", s.card.card_id)).await.json["history"]["transactions"].clone(),
        json!([mine.json["transaction"]]),
    ];
    for list in member_lists {
        let rows = list.as_array().unwrap();
        assert!(!rows.is_empty());
        for row in rows {
            assert!(row["pos_key_id"].is_null() && row["terminal_id"].is_null(), "members see no key: {row}");
        }
    }

    crate::helpers::assert_books_balance(&app.pool).await;
    // The invariants query catches a key of another merchant.
    let other = admin.create_merchant("Other").await;
    let other_owner = app.merchant_client(&other).await;
    let (foreign_key, _) = new_pos_key(&other_owner, "MAIN", &["charge"]).await;
    sqlx::query("UPDATE transactions SET pos_key_id = $1::uuid WHERE tx_no = $2")
        .bind(&foreign_key)
        .bind(&payment)
        .execute(&app.pool)
        .await
        .unwrap();
    let violations: Vec<(String, String, String)> =
        sqlx::query_as(crate::helpers::INVARIANTS_SQL).fetch_all(&app.pool).await.unwrap();
    assert!(
        violations.iter().any(|(invariant, subject, _)| invariant.contains("POS key") && *subject == payment),
        "{violations:?}"
    );
}

/// The staff member's status and whether an admin's suspension holds them, as stored.
async fn staff_state(app: &TestApp, staff_id: &str) -> (String, bool) {
    sqlx::query_as("SELECT status::text, suspended_by_admin FROM staff WHERE id = $1::uuid")
        .bind(staff_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The audit trail of one staff member's status: (action, actor role), oldest first.
async fn status_audit(app: &TestApp, staff_id: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT action, actor_role::text FROM audit_events \
         WHERE object_type = 'staff' AND object_id = $1 AND action IN ('STAFF_SUSPEND', 'STAFF_ACTIVATE') ORDER BY id",
    )
    .bind(staff_id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// Issue 18's gap: an admin's suspension of a staff member was lifted by the merchant itself.
#[tokio::test]
async fn an_admins_suspension_of_a_staff_member_is_lifted_only_by_an_admin() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop(&app, &admin).await;
    let ann_id = hire(&s.owner, "ann", "cashier", None).await;
    hire(&s.owner, "mgr", "manager", None).await;
    let manager = staff_client(&app, &s.merchant, "mgr").await;
    let admin_path = |action: &str| format!("/admin/merchants/{}/staff/{ann_id}/{action}", s.merchant.code);
    let merchant_path = |action: &str| format!("/merchant/staff/{ann_id}/{action}");

    assert_eq!(admin.post(&admin_path("suspend"), json!({ "reason": "fraud review" })).await.status, 200);
    s.owner.post(&merchant_path("activate"), json!({})).await.assert_error(403, "SUSPENDED_BY_ADMIN");
    manager.post(&merchant_path("activate"), json!({})).await.assert_error(403, "SUSPENDED_BY_ADMIN");
    // The merchant's own suspension on top, or an edit, does not wash the admin's away.
    assert_eq!(s.owner.post(&merchant_path("suspend"), json!({})).await.status, 200);
    let renamed = s.owner.patch(&format!("/merchant/staff/{ann_id}"), json!({ "name": "Ann B" })).await;
    assert_eq!(renamed.json["status"], "suspended", "{}", renamed.text);
    s.owner.post(&merchant_path("activate"), json!({})).await.assert_error(403, "SUSPENDED_BY_ADMIN");
    staff_login(&app, &s.merchant, "ann", PASSWORD).await.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(staff_state(&app, &ann_id).await, ("suspended".to_owned(), true));

    let lifted = admin.post(&admin_path("activate"), json!({})).await;
    assert_eq!(lifted.status, 200, "{}", lifted.text);
    assert_eq!(lifted.json["status"], "active");
    assert_eq!(staff_login(&app, &s.merchant, "ann", PASSWORD).await.status, 200, "ann logs in again");
    assert_eq!(staff_state(&app, &ann_id).await, ("active".to_owned(), false));

    // Lifted by an admin, the staff member is the merchant's to manage again.
    assert_eq!(s.owner.post(&merchant_path("suspend"), json!({})).await.status, 200);
    assert_eq!(s.owner.post(&merchant_path("activate"), json!({})).await.status, 200, "the merchant's own suspension");
    let audit = status_audit(&app, &ann_id).await;
    let expected = [
        ("STAFF_SUSPEND", "admin"),
        ("STAFF_SUSPEND", "merchant"),
        ("STAFF_ACTIVATE", "admin"),
        ("STAFF_SUSPEND", "merchant"),
        ("STAFF_ACTIVATE", "merchant"),
    ];
    assert_eq!(audit, expected.map(|(a, r)| (a.to_owned(), r.to_owned())), "refused activations leave no event");
}

/// An owner's activation and an admin's suspension of one staff member, fired together, in both
/// orders: the test holds the staff row's lock until both requests queue on it, in a chosen order.
/// Whichever comes first, the admin's suspension is in force at the end and the audit log tells
/// the same story as the row.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_owners_activation_racing_an_admins_suspension_leaves_the_admins_suspension_in_force() {
    for owner_first in [true, false] {
        let app = TestApp::new().await;
        let admin = app.admin().await;
        let s = shop(&app, &admin).await;
        let ann_id = hire(&s.owner, "ann", "cashier", None).await;
        assert_eq!(s.owner.post(&format!("/merchant/staff/{ann_id}/suspend"), json!({})).await.status, 200);
        let database: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&app.pool).await.unwrap();
        let observer = crate::helpers::quiet_pool(&crate::helpers::server_url(), 1).await;

        let mut holder = app.pool.begin().await.unwrap();
        sqlx::query("SELECT 1 FROM staff WHERE id = $1::uuid FOR UPDATE")
            .bind(&ann_id)
            .execute(&mut *holder)
            .await
            .unwrap();
        let (activate_path, suspend_path) = (
            format!("/merchant/staff/{ann_id}/activate"),
            format!("/admin/merchants/{}/staff/{ann_id}/suspend", s.merchant.code),
        );
        let activate = s.owner.post(&activate_path, json!({}));
        let suspend = admin.post(&suspend_path, json!({}));
        let wait = |n| crate::lock_order::wait_for_lock_waiters(&observer, &database, n);
        let release = async {
            wait(2).await;
            holder.rollback().await.unwrap();
        };
        let (activated, suspended, ()) = if owner_first {
            tokio::join!(
                activate,
                async {
                    wait(1).await;
                    suspend.await
                },
                release
            )
        } else {
            let (suspended, activated, ()) = tokio::join!(
                suspend,
                async {
                    wait(1).await;
                    activate.await
                },
                release
            );
            (activated, suspended, ())
        };
        observer.close().await;

        assert_eq!(suspended.status, 200, "the admin's suspension always goes through: {}", suspended.text);
        let audit = status_audit(&app, &ann_id).await;
        let pair = |a: &str, r: &str| (a.to_owned(), r.to_owned());
        if owner_first {
            assert_eq!(
                activated.status, 200,
                "first in line, the owner lifts their own suspension: {}",
                activated.text
            );
            let expected =
                [pair("STAFF_SUSPEND", "merchant"), pair("STAFF_ACTIVATE", "merchant"), pair("STAFF_SUSPEND", "admin")];
            assert_eq!(audit, expected);
        } else {
            activated.assert_error(403, "SUSPENDED_BY_ADMIN");
            assert_eq!(audit, [pair("STAFF_SUSPEND", "merchant"), pair("STAFF_SUSPEND", "admin")]);
        }
        assert_eq!(staff_state(&app, &ann_id).await, ("suspended".to_owned(), true), "owner first: {owner_first}");
        s.owner
            .post(&format!("/merchant/staff/{ann_id}/activate"), json!({}))
            .await
            .assert_error(403, "SUSPENDED_BY_ADMIN");
    }
}

/// Members see which store served them, never which staff member or terminal.
#[tokio::test]
async fn members_never_see_the_staff_member_who_charged_them() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let s = shop(&app, &admin).await;
    hire(&s.owner, "ann", "manager", None).await;
    let ann = staff_client(&app, &s.merchant, "ann").await;
    let charged = charge_at(&ann, &s.member, &s.card, "8.00", None).await;
    assert_eq!(charged.status, 201, "{}", charged.text);
    let payment = tx_no(&charged);
    let refunded = ann.refund(&payment, "2.00").await;
    assert_eq!(refunded.status, 201, "{}", refunded.text);
    let ann_id =
        charged.json["transaction"]["staff_id"].as_str().expect("the merchant sees its staff member").to_owned();

    for (who, reader) in [("owner", &s.owner), ("admin", &admin)] {
        let read = reader.get(&format!("/transactions/{payment}")).await;
        assert_eq!(read.json["transaction"]["staff_id"], ann_id.as_str(), "{who}: {}", read.text);
    }
    let one = s.member.get(&format!("/transactions/{payment}")).await;
    assert_eq!(one.status, 200, "{}", one.text);
    let rows = [
        s.member.get("/member/transactions").await.json["items"].clone(),
        s.member.get(&format!("/member/cards/{}", s.card.card_id)).await.json["history"]["transactions"].clone(),
        json!([one.json["transaction"]]),
    ];
    for list in rows {
        let rows = list.as_array().unwrap();
        assert!(rows.iter().any(|row| row["tx_no"] == payment.as_str()), "the payment is listed: {list}");
        for row in rows {
            assert!(row["staff_id"].is_null(), "members see no staff id: {row}");
            assert!(!row.to_string().contains(&ann_id), "nor anywhere else in the row: {row}");
        }
    }
}
