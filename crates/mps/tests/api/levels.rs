//! The level table: public reading, validated replacement, and new thresholds that apply from a
//! card's next points change.

use serde_json::{Value, json};

use crate::helpers::{TestApp, card_state};
use crate::programme_support::audited_actions;

fn level(level: i32, min: i64, max: Option<i64>, discount: &str) -> Value {
    json!({ "level": level, "name": format!("L{level}"), "min_points": min, "max_points": max, "discount": discount })
}

#[tokio::test]
async fn anyone_reads_the_default_level_table_without_a_token() {
    let app = TestApp::new().await;
    let response = app.get("/levels").await;
    assert_eq!(response.status, 200, "{}", response.text);
    let levels = response.json["items"].as_array().unwrap();
    let summary: Vec<(i64, &str, i64, Value, &str)> = levels
        .iter()
        .map(|l| {
            let fields = (l["level"].as_i64().unwrap(), l["name"].as_str().unwrap(), l["min_points"].as_i64().unwrap());
            (fields.0, fields.1, fields.2, l["max_points"].clone(), l["discount"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        summary,
        [
            (0, "Regular", 0, json!(999), "1.000"),
            (1, "Silver", 1000, json!(4999), "0.950"),
            (2, "Gold", 5000, json!(9999), "0.900"),
            (3, "Diamond", 10000, Value::Null, "0.850"),
        ]
    );
    assert_eq!(response.json["pagination"]["total_count"], 4);
}

#[tokio::test]
async fn a_table_that_breaks_the_rules_is_refused_and_the_old_one_stays() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let invalid = [
        ("empty", json!([])),
        ("not from 0", json!([level(0, 1, None, "1")])),
        ("gap", json!([level(0, 0, Some(99), "1"), level(1, 101, None, "0.9")])),
        ("overlap", json!([level(0, 0, Some(100), "1"), level(1, 100, None, "0.9")])),
        ("open before last", json!([level(0, 0, None, "1"), level(1, 100, None, "0.9")])),
        ("max below min", json!([level(0, 0, Some(99), "1"), level(1, 100, Some(50), "0.9")])),
        ("discount 0", json!([level(0, 0, None, "0")])),
        ("discount above 1", json!([level(0, 0, None, "1.001")])),
        ("four decimals", json!([level(0, 0, None, "0.9555")])),
        ("duplicate level", json!([level(0, 0, Some(99), "1"), level(0, 100, None, "0.9")])),
        ("levels fall", json!([level(1, 0, Some(99), "1"), level(0, 100, None, "0.9")])),
    ];
    for (case, levels) in invalid {
        let response = admin.put("/admin/levels", json!({ "levels": levels })).await;
        assert_eq!(
            (response.status.as_u16(), response.error_code()),
            (422, "INVALID_LEVEL_TABLE"),
            "{case}: {}",
            response.text
        );
    }
    let not_decimal = json!({ "levels": [level(0, 0, None, "1e-1")] });
    admin.put("/admin/levels", not_decimal).await.assert_error(422, "VALIDATION_FAILED");
    assert_eq!(app.get("/levels").await.json["pagination"]["total_count"], 4, "the default table stays");
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'LEVELS_UPDATE'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(audited, 0);
}

#[tokio::test]
async fn a_new_table_is_served_at_once_and_applies_from_each_cards_next_points_change() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    admin.credit(&ana.card_id, "100.00").await;
    admin.adjust_points(&ana.card_id, 1500).await;
    assert_eq!(card_state(&app.pool, &ana.card_id).await.2, 1, "Silver under the default table");
    assert_eq!(app.get("/levels").await.json["items"].as_array().unwrap().len(), 4, "warms the cache");

    let table = json!([
        level(0, 0, Some(1999), "1.000"),
        level(1, 2000, Some(2999), "0.97"),
        json!({ "level": 2, "name": "Top", "min_points": 3000, "discount": 0.9 }),
    ]);
    let replaced = admin.put("/admin/levels", json!({ "levels": table })).await;

    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(replaced.json["levels"][1]["discount"], "0.970");
    assert_eq!(audited_actions(&app.pool, &replaced).await, ["LEVELS_UPDATE"]);
    let served = app.get("/levels").await;
    assert_eq!(served.json["items"].as_array().unwrap().len(), 3, "the cache was invalidated: {}", served.text);
    assert_eq!(served.json["items"][2]["max_points"], Value::Null);
    assert_eq!(card_state(&app.pool, &ana.card_id).await.2, 1, "existing cards are not recomputed");

    let member = app.member_client(&ana).await;
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    let paid = shop.charge(&member.qr(&ana.card_id).await, "10.00").await;
    assert_eq!(paid.json["transaction"]["discount_applied"], "0.950", "priced at the level the card had");
    assert_eq!(paid.json["card"]["level"], 0, "its points changed, so the new table placed it: 1510 < 2000");
    admin.adjust_points(&ana.card_id, 500).await;
    assert_eq!(card_state(&app.pool, &ana.card_id).await.2, 1, "2010 points: the new level 1");
}

#[tokio::test]
async fn only_admins_replace_the_table() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = app.member_client(&admin.create_member("Ana").await).await;
    member.put("/admin/levels", json!({ "levels": [level(0, 0, None, "1")] })).await.assert_error(403, "FORBIDDEN");
    let anonymous = app.call(axum::http::Method::PUT, "/admin/levels", Some(json!({ "levels": [] })), &[]).await;
    anonymous.assert_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_table_whose_top_level_is_capped_is_refused_so_no_card_above_it_falls_to_level_0() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let capped = json!({ "levels": [level(0, 0, Some(999), "1.000"), level(1, 1000, Some(4999), "0.950")] });

    let response = admin.put("/admin/levels", capped).await;

    response.assert_error(422, "INVALID_LEVEL_TABLE");
    let problem = response.json["error"]["details"]["problem"].as_str().unwrap_or_default();
    assert!(problem.contains("last level must be open-ended"), "the problem is named: {problem}");
    assert!(problem.contains("level 1 ends at 4999"), "and says which level: {problem}");
    assert_eq!(app.get("/levels").await.json["pagination"]["total_count"], 4, "the default table stays");
}
