//! Cursor pagination (issue 15): every list walks by `next_cursor` to exactly the rows of one big
//! page, keeps its place while rows are added, refuses cursors it did not make, caps `offset`,
//! and counts only when asked to.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, TestResponse};

/// The `id` (or another identifying field) of each item of a page.
fn keys(response: &TestResponse, field: &str) -> Vec<String> {
    assert_eq!(response.status, 200, "{}", response.text);
    response.json["items"].as_array().unwrap().iter().map(|item| item[field].to_string()).collect()
}

fn with_param(path: &str, param: &str) -> String {
    format!("{path}{}{param}", if path.contains('?') { '&' } else { '?' })
}

/// Walks a list by cursor, `limit` at a time, calling `between` after every page.
async fn walk<F, Fut>(client: &Client<'_>, path: &str, field: &str, limit: u32, mut between: F) -> Vec<String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        let mut url = with_param(path, &format!("limit={limit}"));
        if let Some(cursor) = &cursor {
            url = with_param(&url, &format!("cursor={cursor}"));
        }
        let page = client.get(&url).await;
        let items = keys(&page, field);
        assert!(items.len() <= limit as usize, "a page holds at most `limit` items: {}", page.text);
        seen.extend(items);
        let pagination = &page.json["pagination"];
        if pagination["has_next"] == json!(false) {
            assert_eq!(pagination["next_cursor"], Value::Null, "the last page has no cursor: {pagination}");
            return seen;
        }
        cursor = Some(pagination["next_cursor"].as_str().expect("has_next comes with a cursor").to_owned());
        between().await;
    }
    panic!("{path} did not end within 200 pages");
}

/// Asserts that walking `path` one item at a time gives the items of one page of 100, in order.
async fn assert_walk_matches_one_page(client: &Client<'_>, path: &str, field: &str) {
    let whole = keys(&client.get(&with_param(path, "limit=100")).await, field);
    assert!(whole.len() >= 2, "{path}: the fixture gives at least two rows to page through");
    let walked = walk(client, path, field, 1, || async {}).await;
    assert_eq!(walked, whole, "{path}: walking by cursor gives the rows of one big page, in order");
}

#[tokio::test]
async fn every_list_walks_by_cursor_to_the_same_rows_as_one_page() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    let bo = admin.create_member("Bo").await;
    let shop = admin.create_merchant("Shop").await;
    admin.create_merchant("Other").await;
    let corporate = admin.issue_corporate(&ana.id, "0.90", None).await;
    let bindings = format!("/admin/cards/{}/bindings", corporate.id);
    assert_eq!(admin.post(&bindings, json!({ "member_id": bo.id, "role": "member" })).await.status, 201);
    admin.credit(&ana.card_id, "100.00").await;
    let member = app.member_client(&ana).await;
    let till = app.merchant_client(&shop).await;
    for amount in ["1.00", "2.00", "3.00"] {
        assert_eq!(till.charge(&member.qr(&ana.card_id).await, amount).await.status, 201);
    }
    // Rows sharing one instant: the tiebreaker orders them.
    sqlx::query("UPDATE transactions SET created_at = '2026-01-01T00:00:00Z'").execute(&app.pool).await.unwrap();
    sqlx::query("UPDATE point_ledger SET created_at = '2026-01-01T00:00:00Z'").execute(&app.pool).await.unwrap();
    for date in ["2024-01-01", "2024-01-02"] {
        assert_eq!(till.settle(json!({ "mode": "t_plus_1", "date": date })).await.status, 201);
    }

    assert_walk_matches_one_page(&member, "/member/transactions", "id").await;
    assert_walk_matches_one_page(&member, &format!("/member/transactions?card_id={}", ana.card_id), "id").await;
    assert_walk_matches_one_page(&member, &format!("/member/points/{}", ana.card_id), "id").await;
    assert_walk_matches_one_page(&till, "/merchant/transactions", "id").await;
    assert_walk_matches_one_page(&till, "/merchant/transactions?tx_type=payment", "id").await;
    assert_walk_matches_one_page(&till, "/merchant/settlements", "id").await;
    assert_walk_matches_one_page(&admin, "/admin/settlements", "id").await;
    assert_walk_matches_one_page(&admin, "/admin/members", "id").await;
    assert_walk_matches_one_page(&admin, "/admin/merchants", "id").await;
    assert_walk_matches_one_page(&admin, "/admin/cards", "id").await;
    assert_walk_matches_one_page(&admin, "/admin/audit", "id").await;
    assert_walk_matches_one_page(&admin, &bindings, "member_id").await;
    assert_walk_matches_one_page(&admin, "/levels", "level").await;
}

/// A transaction list's page by cursor reads its rows from the page index and its names (card,
/// merchant, store, original) once per page or per row; a page by offset skips along the index
/// and fetches its rows by id (issue 15, fifth pass). Both answer the same rows, every field.
#[tokio::test]
async fn transaction_pages_by_offset_and_by_cursor_hold_the_same_rows() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    let shop = admin.create_merchant("Shop").await;
    admin.credit(&ana.card_id, "100.00").await;
    let member = app.member_client(&ana).await;
    let till = app.merchant_client(&shop).await;
    let mut tx_no = String::new();
    for amount in ["1.00", "2.00", "3.00"] {
        let paid = till.charge(&member.qr(&ana.card_id).await, amount).await;
        assert_eq!(paid.status, 201, "{}", paid.text);
        tx_no = paid.json["transaction"]["tx_no"].as_str().expect("a payment has a number").to_owned();
    }
    assert_eq!(till.refund(&tx_no, "1.00").await.status, 201, "a refund names its original");
    for (client, path) in [(&member, "/member/transactions"), (&till, "/merchant/transactions")] {
        let whole = client.get(&format!("{path}?limit=100")).await.json["items"].clone();
        let rows = whole.as_array().expect("items");
        assert!(rows.len() >= 4, "{path}: payments and the refund: {whole}");
        assert!(rows.iter().any(|r| r["original_tx_no"] == json!(tx_no)), "{path}: the refund names its original");
        assert!(rows.iter().all(|r| r["card_no"].is_string()), "{path}: {whole}");
        let at_the_till = |r: &&Value| r["merchant_code"].is_string() && r["store_code"].is_string();
        assert_eq!(rows.iter().filter(at_the_till).count(), 4, "{path}: payments and refund name shop and store");
        let walked: Vec<Value> = walk_items(client, path).await;
        assert_eq!(&walked, rows, "{path}: by cursor, one at a time");
        for (i, row) in rows.iter().enumerate() {
            let page = client.get(&format!("{path}?limit=1&offset={i}")).await;
            assert_eq!(page.json["items"][0], *row, "{path}: offset {i}");
        }
    }
}

/// Every item of a list, walked by cursor one at a time.
async fn walk_items(client: &Client<'_>, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut url = format!("{path}?limit=1");
    for _ in 0..100 {
        let page = client.get(&url).await;
        items.extend(page.json["items"].as_array().expect("items").iter().cloned());
        match page.json["pagination"]["next_cursor"].as_str() {
            Some(cursor) => url = format!("{path}?limit=1&cursor={cursor}"),
            None => return items,
        }
    }
    panic!("{path} did not end within 100 pages");
}

#[tokio::test]
async fn paging_while_rows_are_added_skips_and_repeats_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    for i in 1..=9 {
        admin.credit(&ana.card_id, &format!("{i}.00")).await;
    }
    // Two pairs share an instant, so pages break inside a run of equal timestamps.
    sqlx::query(
        "UPDATE transactions SET created_at = '2026-01-01T00:00:00Z' \
         WHERE id IN (SELECT id FROM transactions ORDER BY created_at LIMIT 4)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let member = app.member_client(&ana).await;
    let before: HashSet<String> = keys(&member.get("/member/transactions?limit=100").await, "id").into_iter().collect();
    assert_eq!(before.len(), 9, "nine credits: {before:?}");

    // Between pages another request adds two movements to the same card: newer rows, which a
    // newest-first walk has already passed. Offsets would shift under them; cursors do not.
    let walked = walk(&member, "/member/transactions", "id", 3, || async {
        let (first, second) = tokio::join!(admin.credit(&ana.card_id, "0.50"), admin.credit(&ana.card_id, "0.25"));
        let ((), ()) = (first, second);
    })
    .await;
    let unique: HashSet<String> = walked.iter().cloned().collect();
    assert_eq!(unique.len(), walked.len(), "no row is repeated: {walked:?}");
    assert_eq!(unique, before, "every row there when the walk began is seen once, and only those");

    let now = keys(&member.get("/member/transactions?limit=100").await, "id").len();
    assert_eq!(now, 9 + 2 * (walked.len().div_ceil(3) - 1), "the rows added meanwhile are there for the next walk");
}

#[tokio::test]
async fn a_cursor_the_list_did_not_make_is_a_422() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    admin.create_member("Bo").await;
    admin.create_member("Cy").await;
    let page = admin.get("/admin/members?limit=1").await;
    let cursor = page.json["pagination"]["next_cursor"].as_str().expect("a cursor").to_owned();
    assert_eq!(admin.get(&format!("/admin/members?limit=1&cursor={cursor}")).await.status, 200, "its own cursor works");

    let parts: Vec<&str> = cursor.split('.').collect();
    assert_eq!(parts.len(), 3, "version, payload, MAC: {cursor}");
    let mut payload = parts[1].as_bytes().to_vec();
    payload[0] = if payload[0] == b'M' { b'N' } else { b'M' };
    let edited = format!("{}.{}.{}", parts[0], String::from_utf8(payload).unwrap(), parts[2]);
    let forged_payload = base64_url(&format!("{}.{}", 1_700_000_000_000_000_i64, ana.id));
    let forged = format!("1.{forged_payload}.{}", parts[2]);
    for (case, bad) in [
        ("edited payload", edited.as_str()),
        ("forged position with an old MAC", forged.as_str()),
        ("not a cursor", "hello"),
        ("unknown version", &format!("2.{}.{}", parts[1], parts[2])),
        ("truncated MAC", &format!("1.{}.{}", parts[1], &parts[2][..8])),
    ] {
        let response = admin.get(&format!("/admin/members?cursor={bad}")).await;
        response.assert_error(422, "INVALID_CURSOR");
        assert!(response.text.contains("cursor"), "{case}: the message names the cursor: {}", response.text);
    }
    admin.get(&format!("/admin/merchants?cursor={cursor}")).await.assert_error(422, "INVALID_CURSOR");
    admin.get(&format!("/admin/members?cursor={cursor}&offset=5")).await.assert_error(422, "VALIDATION_FAILED");
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn offset_is_capped_and_the_refusal_points_to_the_cursor() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    assert_eq!(admin.get("/admin/audit?offset=10000").await.status, 200, "the cap itself is served");
    let deep = admin.get("/admin/audit?offset=10001").await;
    deep.assert_error(422, "OFFSET_TOO_LARGE");
    assert!(deep.text.contains("cursor"), "the message says how to page deeper: {}", deep.text);
    assert_eq!(deep.json["error"]["details"]["max_offset"], 10000);
}

#[tokio::test]
async fn total_count_is_computed_only_when_asked_for() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    admin.create_member("Ana").await;
    let plain = admin.get("/admin/members").await;
    assert_eq!(plain.json["pagination"]["total_count"], Value::Null, "no count unless asked: {}", plain.text);
    let counted = admin.get("/admin/members?count=exact").await;
    assert_eq!(counted.json["pagination"]["total_count"], 1, "{}", counted.text);
    admin.get("/admin/members?count=roughly").await.assert_error(422, "VALIDATION_FAILED");
}

#[tokio::test]
async fn a_count_over_its_time_budget_is_null_not_slow() {
    let (_db, pool) = crate::helpers::TestDb::migrated().await;
    let started = std::time::Instant::now();
    let slow = sqlx::query_scalar("SELECT count(*) FROM (SELECT pg_sleep(2)) s");
    let total = mps::db::paging::count_within_budget(&pool, slow).await.expect("a timed-out count is no error");
    assert_eq!(total, None);
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "it gave up at the budget: {:?}", started.elapsed());
    let quick = sqlx::query_scalar("SELECT count(*) FROM generate_series(1, 3)");
    assert_eq!(mps::db::paging::count_within_budget(&pool, quick).await.unwrap(), Some(3));
}

#[tokio::test]
async fn the_lists_of_staff_keys_and_webhooks_walk_by_cursor_and_refuse_other_cursors() {
    let app = TestApp::with_vars(&[("WEBHOOK_ALLOW_HOSTS", "127.0.0.1")]).await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    admin.credit(&ana.card_id, "100.00").await;
    let shop = admin.create_merchant("Shop").await;
    let owner = app.merchant_client(&shop).await;
    let member = app.member_client(&ana).await;
    for username in ["cy", "Ann", "bo"] {
        let body =
            json!({ "username": username, "name": username, "role": "cashier", "password": crate::helpers::PASSWORD });
        assert_eq!(owner.post("/merchant/staff", body).await.status, 201);
    }
    let new_key = || async {
        let body = json!({ "name": "Till", "store": "MAIN", "permissions": ["charge"] });
        let created = owner.post("/merchant/keys", body).await;
        assert_eq!(created.status, 201, "{}", created.text);
    };
    for _ in 0..3 {
        new_key().await;
    }
    let mut endpoint = String::new();
    for n in 0..3 {
        let body = json!({ "url": format!("http://127.0.0.1:9/hook{n}"), "events": ["payment.succeeded"] });
        let created = owner.post("/merchant/webhooks", body).await;
        assert_eq!(created.status, 201, "{}", created.text);
        endpoint = created.json["endpoint"]["id"].as_str().unwrap().to_owned();
    }
    assert_eq!(owner.charge(&member.qr(&ana.card_id).await, "1.00").await.status, 201);
    for _ in 0..3 {
        sqlx::query(
            "INSERT INTO webhook_deliveries (event_id, endpoint_id) \
             SELECT e.id, $1::uuid FROM event_log e WHERE e.merchant_id = $2::uuid LIMIT 1",
        )
        .bind(&endpoint)
        .bind(&shop.id)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    // Rows sharing one instant: the tiebreaker orders them.
    for table in ["staff", "pos_keys", "webhook_endpoints", "webhook_deliveries"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE {table} SET created_at = '2026-01-01T00:00:00Z'")))
            .execute(&app.pool)
            .await
            .unwrap();
    }

    let deliveries = format!("/merchant/webhooks/{endpoint}/deliveries");
    for (client, path) in [
        (&owner, "/merchant/staff".to_owned()),
        (&owner, "/merchant/keys".to_owned()),
        (&owner, "/merchant/webhooks".to_owned()),
        (&owner, deliveries.clone()),
        (&admin, format!("/admin/merchants/{}/staff", shop.code)),
        (&admin, format!("/admin/merchants/{}/keys", shop.code)),
    ] {
        assert_walk_matches_one_page(client, &path, "id").await;
    }
    let staff = keys(&owner.get("/merchant/staff?limit=100").await, "username");
    assert_eq!(staff, ["\"Ann\"", "\"bo\"", "\"cy\""], "staff by username, regardless of case");

    // Keys added between pages are newer than the walk's position: nothing skipped or repeated.
    let before: HashSet<String> = keys(&owner.get("/merchant/keys?limit=100").await, "id").into_iter().collect();
    let walked = walk(&owner, "/merchant/keys", "id", 1, new_key).await;
    let unique: HashSet<String> = walked.iter().cloned().collect();
    assert_eq!(unique.len(), walked.len(), "no key is repeated: {walked:?}");
    assert_eq!(unique, before, "every key there when the walk began is seen once");

    let page = owner.get("/merchant/staff?limit=1").await;
    let cursor = page.json["pagination"]["next_cursor"].as_str().expect("a cursor").to_owned();
    owner.get(&format!("/merchant/keys?cursor={cursor}")).await.assert_error(422, "INVALID_CURSOR");
    owner.get(&format!("/merchant/webhooks?cursor={cursor}")).await.assert_error(422, "INVALID_CURSOR");
    owner.get(&format!("{deliveries}?cursor={cursor}")).await.assert_error(422, "INVALID_CURSOR");
    let parts: Vec<&str> = cursor.split('.').collect();
    let edited = format!("1.{}.{}", base64_url("0.zz"), parts[2]);
    owner.get(&format!("/merchant/staff?cursor={edited}")).await.assert_error(422, "INVALID_CURSOR");
    owner.get("/merchant/staff?offset=10001").await.assert_error(422, "OFFSET_TOO_LARGE");
}
