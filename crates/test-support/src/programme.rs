//! Helpers for the programme around the money: issuing cards, binding, settling, and placing
//! transactions in time.

use axum::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{Client, TestApp, TestMember, TestResponse};

/// A card issued by an admin.
pub struct IssuedCard {
    pub id: String,
    pub card_no: String,
}

impl IssuedCard {
    fn from(response: &TestResponse) -> IssuedCard {
        assert_eq!(response.status, 201, "issue card: {}", response.text);
        IssuedCard {
            id: response.json["card"]["id"].as_str().unwrap().to_owned(),
            card_no: response.json["card"]["card_no"].as_str().unwrap().to_owned(),
        }
    }
}

/// A corporate card ready to be joined: an admin, its owner ("Boss"), the card (discount 0.85,
/// with the binding password given), and another member ("Ana") signed in.
pub struct Corporate<'a> {
    pub admin: Client<'a>,
    pub boss: TestMember,
    pub card: IssuedCard,
    /// The member who may join the card, signed in.
    pub member: Client<'a>,
}

impl TestApp {
    /// A new [`Corporate`] scene whose card is joined with `binding_password`.
    pub async fn corporate(&self, binding_password: &str) -> Corporate<'_> {
        let admin = self.admin().await;
        let boss = admin.create_member("Boss").await;
        let card = admin.issue_corporate(&boss.id, "0.85", Some(binding_password)).await;
        let member = self.member_client(&admin.create_member("Ana").await).await;
        Corporate { admin, boss, card, member }
    }
}

impl Client<'_> {
    /// Admin: issues a corporate card to `owner_id` with a fixed discount and binding password.
    pub async fn issue_corporate(&self, owner_id: &str, discount: &str, password: Option<&str>) -> IssuedCard {
        let body = json!({ "card_type": "corporate", "owner_member_id": owner_id, "fixed_discount": discount,
                           "binding_password": password });
        IssuedCard::from(&self.post("/admin/cards", body).await)
    }

    /// Admin: issues a voucher to `owner_id` with an initial balance.
    pub async fn issue_voucher(&self, owner_id: &str, balance: &str) -> IssuedCard {
        let body = json!({ "card_type": "voucher", "owner_member_id": owner_id, "initial_balance": balance });
        IssuedCard::from(&self.post("/admin/cards", body).await)
    }

    /// Admin: moves a card's status.
    pub async fn card_status(&self, card: &str, status: &str) -> TestResponse {
        self.post(&format!("/admin/cards/{card}/status"), json!({ "status": status })).await
    }

    /// Member: tries to join a card by number.
    pub async fn bind(&self, card_no: &str, role: &str, password: &str) -> TestResponse {
        self.post("/member/bindings", json!({ "card_no": card_no, "role": role, "binding_password": password })).await
    }

    /// Member: leaves a card.
    pub async fn leave(&self, card_id: &str) -> TestResponse {
        self.call(Method::DELETE, &format!("/member/bindings/{card_id}"), None, &[]).await
    }

    /// Merchant: asks for a settlement.
    pub async fn settle(&self, body: Value) -> TestResponse {
        self.post("/merchant/settlements", body).await
    }

    /// Sends a PUT with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> TestResponse {
        self.call(Method::PUT, path, Some(body), &[]).await
    }

    /// Sends a PATCH with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> TestResponse {
        self.call(Method::PATCH, path, Some(body), &[]).await
    }
}

/// Moves a transaction to another instant, to place it in a period.
pub async fn backdate(pool: &PgPool, tx_no: &str, at: &str) {
    let moved = sqlx::query("UPDATE transactions SET created_at = $2::timestamptz WHERE tx_no = $1")
        .bind(tx_no)
        .bind(at)
        .execute(pool)
        .await
        .expect("backdate");
    assert_eq!(moved.rows_affected(), 1, "{tx_no} exists");
}

/// The actions audited for one request, in order.
pub async fn audited_actions(pool: &PgPool, response: &TestResponse) -> Vec<String> {
    let request_id = response.header("x-request-id").expect("request id");
    sqlx::query_scalar("SELECT action FROM audit_events WHERE request_id = $1 ORDER BY id")
        .bind(request_id)
        .fetch_all(pool)
        .await
        .expect("audit events")
}

/// The `tx_no` of a charge or refund response.
pub fn tx_no(response: &TestResponse) -> String {
    assert_eq!(response.status, 201, "{}", response.text);
    let tx = if response.json["refund"].is_object() { &response.json["refund"] } else { &response.json["transaction"] };
    tx["tx_no"].as_str().unwrap().to_owned()
}
