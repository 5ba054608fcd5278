//! The audit log as admins read it: filters, newest first, paginated.

use serde_json::{Value, json};

use crate::helpers::{Client, TestApp};

fn actions(response: &crate::helpers::TestResponse) -> Vec<String> {
    assert_eq!(response.status, 200, "{}", response.text);
    response.json["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
}

async fn total(admin: &Client<'_>, query: &str) -> Value {
    admin.get(&format!("/admin/audit?count=exact&{query}")).await.json["pagination"]["total_count"].clone()
}

#[tokio::test]
async fn the_audit_log_is_filtered_by_actor_action_object_and_time_newest_first() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let other_admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    let card = admin.issue_corporate(&ana.id, "0.90", None).await;
    admin.card_status(&card.id, "inactive").await;
    other_admin.card_status(&card.id, "active").await;

    let card_events = admin.get(&format!("/admin/audit?object_type=card&object_id={}", card.id)).await;
    assert_eq!(actions(&card_events), ["CARD_STATUS_CHANGE", "CARD_STATUS_CHANGE", "CREATE_CARD"], "newest first");
    let newest = &card_events.json["items"][0];
    assert_eq!((&newest["actor_id"], &newest["actor_role"]), (&json!(other_admin.id), &json!("admin")));
    assert_eq!(newest["context"]["to"], "active");
    assert!(newest["request_id"].as_str().is_some_and(|r| !r.is_empty()));

    assert_eq!(total(&admin, &format!("actor_id={}&action=card_status_change", other_admin.id)).await, 1);
    assert_eq!(total(&admin, "action=CREATE_MEMBER").await, 1);
    assert_eq!(total(&admin, "action=LOGIN_SUCCESS").await, 2, "both admins logged in");
    assert_eq!(total(&admin, "start_date=2999-01-01").await, 0);
    assert_eq!(total(&admin, "end_date=2000-01-01T00:00:00Z").await, 0);
    let everything = total(&admin, "start_date=2000-01-01&end_date=2999-01-01").await;
    assert_eq!(everything, total(&admin, "").await);

    let page = admin.get("/admin/audit?limit=2&offset=1").await;
    assert_eq!(page.json["items"].as_array().unwrap().len(), 2);
    assert_eq!((&page.json["pagination"]["limit"], &page.json["pagination"]["offset"]), (&json!(2), &json!(1)));
    admin.get("/admin/audit?start_date=yesterday").await.assert_error(422, "VALIDATION_FAILED");
    admin.get("/admin/audit?actor_id=nobody").await.assert_error(422, "VALIDATION_FAILED");
    let member = app.member_client(&ana).await;
    member.get("/admin/audit").await.assert_error(403, "FORBIDDEN");
}
