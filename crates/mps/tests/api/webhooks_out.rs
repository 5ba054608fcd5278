//! Merchant webhooks (issue 19): signed deliveries to a receiver on loopback, retries until
//! acknowledged, secret rotation, the SSRF refusals, and two replicas delivering each event once.
//! The signature is checked here with the `hmac` crate directly, not with the server's code.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{KeyInit as _, Mac as _};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::helpers::{Client, TestApp, TestMember};
use crate::programme_support::tx_no;

/// The next port a receiver tries: from `MPS_TEST_PORT_BASE` (a helper's private range of 1000
/// ports; default 19000), set on first use.
static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// The first port of the range receivers bind in.
fn port_base() -> u16 {
    std::env::var("MPS_TEST_PORT_BASE").ok().and_then(|v| v.parse().ok()).unwrap_or(19_000)
}

/// What the receiver saw of one request.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    answered: StatusCode,
}

#[derive(Default)]
struct ReceiverState {
    fail_first: usize,
    requests: Vec<Received>,
}

/// A webhook receiver on 127.0.0.1 that answers 500 to its first `fail_first` requests.
struct Receiver {
    url: String,
    port: u16,
    state: Arc<Mutex<ReceiverState>>,
    task: JoinHandle<()>,
}

async fn receive(State(state): State<Arc<Mutex<ReceiverState>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut state = state.lock().unwrap();
    let answered =
        if state.requests.len() < state.fail_first { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
    state.requests.push(Received { headers, body, answered });
    answered
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState { fail_first, requests: Vec::new() }));
        let router = Router::new().route("/hook", post(receive)).with_state(state.clone());
        let base = port_base();
        let _ = NEXT_PORT.compare_exchange(0, base, Ordering::SeqCst, Ordering::SeqCst);
        let listener = loop {
            let port = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
            assert!(port < base.saturating_add(1000), "a free port in {base}-{}", base.saturating_add(999));
            if let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                break listener;
            }
        };
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver { url: format!("http://127.0.0.1:{port}/hook"), port, state, task }
    }

    fn requests(&self) -> Vec<Received> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Test settings: loopback allowed, retries after milliseconds.
const FAST: &[(&str, &str)] =
    &[("WEBHOOK_ALLOW_HOSTS", "127.0.0.1"), ("WEBHOOK_RETRY_BASE_MS", "20"), ("WEBHOOK_TIMEOUT_SECONDS", "5")];

struct Shop<'a> {
    member: TestMember,
    ana: Client<'a>,
    shop: Client<'a>,
}

async fn shop(app: &TestApp) -> Shop<'_> {
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    admin.credit(&member.card_id, "1000.00").await;
    let merchant = admin.create_merchant("Corner Shop").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    Shop { member, ana, shop }
}

impl Shop<'_> {
    async fn pay(&self, amount: &str) -> String {
        tx_no(&self.shop.charge(&self.ana.qr(&self.member.card_id).await, amount).await)
    }

    /// Registers an endpoint for payments; returns (id, secret).
    async fn register(&self, url: &str) -> (String, String) {
        let created =
            self.shop.post("/merchant/webhooks", json!({ "url": url, "events": ["payment.succeeded"] })).await;
        assert_eq!(created.status, 201, "{}", created.text);
        (
            created.json["endpoint"]["id"].as_str().unwrap().to_owned(),
            created.json["secret"].as_str().unwrap().to_owned(),
        )
    }
}

/// Runs the worker of `app` until no delivery is pending (or fails the test after 30 s).
async fn deliver_all(apps: &[&TestApp]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        for app in apps {
            mps::webhooks::deliver_due(&app.state).await.unwrap();
        }
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
            .fetch_one(&apps[0].pool)
            .await
            .unwrap();
        if pending == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{pending} deliveries still pending after 30 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The `v1=` signatures of a request that verify under `secret`, checked independently.
fn verifying_signatures(request: &Received, secret: &str) -> usize {
    let header = request.headers.get("mps-signature").unwrap().to_str().unwrap();
    let mut parts = header.split(',');
    let timestamp = parts.next().unwrap().strip_prefix("t=").expect("t= first");
    let t: i64 = timestamp.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - t).abs() < 300, "a fresh timestamp: {t}");
    let mut signed = timestamp.as_bytes().to_vec();
    signed.push(b'.');
    signed.extend_from_slice(&request.body);
    parts
        .map(|part| part.strip_prefix("v1=").expect("v1= signatures"))
        .filter(|hex_sig| {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(&signed);
            mac.verify_slice(&hex::decode(hex_sig).unwrap()).is_ok()
        })
        .count()
}

#[tokio::test]
async fn a_receiver_failing_its_first_tries_gets_the_signed_event_acknowledged_once_with_the_same_id() {
    let app = TestApp::with_vars(FAST).await;
    let s = shop(&app).await;
    let receiver = Receiver::start(3).await;
    let (endpoint, secret) = s.register(&receiver.url).await;
    let paid = s.pay("12.34").await;
    deliver_all(&[&app]).await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 4, "three failures, then the acknowledgement");
    let acknowledged: Vec<_> = requests.iter().filter(|r| r.answered == StatusCode::OK).collect();
    assert_eq!(acknowledged.len(), 1, "acknowledged exactly once");
    let event_id: String = sqlx::query_scalar("SELECT id::text FROM event_log WHERE type = 'payment.succeeded'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    for request in &requests {
        assert_eq!(request.headers["mps-event-id"], event_id.as_str(), "every try carries the event's id");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["id"], event_id.as_str());
        assert_eq!(body["type"], "payment.succeeded");
        assert_eq!(body["data"]["transaction"]["tx_no"], paid.as_str());
        assert_eq!(body["data"]["transaction"]["final_amount"], "12.34");
        assert_eq!(verifying_signatures(request, &secret), 1, "signed with the endpoint's secret");
        assert_eq!(verifying_signatures(request, "whsec_not-the-secret"), 0, "and with nothing else");
    }

    let deliveries = s.shop.get(&format!("/merchant/webhooks/{endpoint}/deliveries?count=exact")).await;
    assert_eq!(deliveries.status, 200, "{}", deliveries.text);
    let delivery = &deliveries.json["items"][0];
    assert_eq!((&delivery["status"], &delivery["attempts"]), (&json!("delivered"), &json!(4)), "{delivery}");
    assert_eq!(delivery["event_id"], event_id.as_str());
    assert_eq!(deliveries.json["pagination"]["total_count"], 1);
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains("mps_webhook_deliveries_total{outcome=\"retry\"} 3"), "{metrics}");
    assert!(metrics.contains("mps_webhook_deliveries_total{outcome=\"delivered\"} 1"));
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_and_the_secret_is_never_shown_again() {
    let app = TestApp::with_vars(FAST).await;
    let s = shop(&app).await;
    let receiver = Receiver::start(0).await;
    let (endpoint, old_secret) = s.register(&receiver.url).await;
    let rotated = s.shop.post(&format!("/merchant/webhooks/{endpoint}/rotate-secret"), json!({})).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new_secret = rotated.json["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);
    assert!(rotated.json["endpoint"]["previous_secret_expires_at"].is_string());
    s.pay("5.00").await;
    deliver_all(&[&app]).await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(verifying_signatures(&requests[0], &new_secret), 1, "the new secret signs");
    assert_eq!(verifying_signatures(&requests[0], &old_secret), 1, "the old one too, during the overlap");

    for read in [s.shop.get("/merchant/webhooks").await, s.shop.get(&format!("/merchant/webhooks/{endpoint}")).await] {
        assert_eq!(read.status, 200, "{}", read.text);
        assert!(!read.text.contains(&new_secret) && !read.text.contains(&old_secret), "no secret: {}", read.text);
    }
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT secret_sealed FROM webhook_endpoints").fetch_one(&app.pool).await.unwrap();
    assert!(!stored.windows(new_secret.len()).any(|w| w == new_secret.as_bytes()), "stored sealed, not in clear");
}

#[tokio::test]
async fn urls_to_loopback_private_link_local_metadata_or_a_name_resolving_to_loopback_are_refused() {
    let app = TestApp::new().await;
    let s = shop(&app).await;
    let receiver = Receiver::start(0).await;
    for url in [
        receiver.url.clone(),
        "http://10.1.2.3/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://localhost:{}/hook", receiver.port),
        "http://[::1]/hook".to_owned(),
        "http://192.168.0.10/hook".to_owned(),
    ] {
        let refused = s.shop.post("/merchant/webhooks", json!({ "url": url, "events": ["payment.succeeded"] })).await;
        refused.assert_error(422, "WEBHOOK_URL_NOT_ALLOWED");
    }
    let production_like = TestApp::with_vars(&[("WEBHOOK_REQUIRE_HTTPS", "true")]).await;
    let p = shop(&production_like).await;
    p.shop
        .post("/merchant/webhooks", json!({ "url": "http://93.184.216.34/hook", "events": ["payment.succeeded"] }))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    s.shop
        .post("/merchant/webhooks", json!({ "url": "https://93.184.216.34/hook", "events": ["card.frozen"] }))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    let no_endpoints: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints").fetch_one(&app.pool).await.unwrap();
    assert_eq!(no_endpoints, 0);
}

#[tokio::test]
async fn a_replica_without_the_allow_list_refuses_to_send_to_loopback_at_delivery_time() {
    let app = TestApp::with_vars(FAST).await;
    let strict = app.sibling(&[("WEBHOOK_RETRY_BASE_MS", "20"), ("WEBHOOK_GIVE_UP_SECONDS", "1")]).await;
    let s = shop(&app).await;
    let receiver = Receiver::start(0).await;
    s.register(&receiver.url).await;
    s.pay("5.00").await;
    deliver_all(&[&strict]).await;

    assert!(receiver.requests().is_empty(), "nothing reached loopback");
    let (status, error): (String, String) =
        sqlx::query_as("SELECT status::text, last_error FROM webhook_deliveries").fetch_one(&app.pool).await.unwrap();
    assert_eq!(status, "failed", "given up after the window");
    assert!(error.contains("not a public address"), "{error}");
    assert!(strict.get("/metrics").await.text.contains("mps_webhook_deliveries_total{outcome=\"failed\"} 1"));
}

#[tokio::test]
async fn two_replicas_deliver_each_event_exactly_once() {
    let app = TestApp::with_vars(FAST).await;
    let replica = app.sibling(FAST).await;
    let s = shop(&app).await;
    let receiver = Receiver::start(0).await;
    s.register(&receiver.url).await;
    // More events than one claim takes (16), so the replicas' claims must split them.
    for _ in 0..40 {
        s.pay("1.00").await;
    }
    let (one, two) = ([&app], [&replica]);
    tokio::join!(deliver_all(&one), deliver_all(&two));

    let requests = receiver.requests();
    let mut ids: Vec<String> =
        requests.iter().map(|r| r.headers["mps-event-id"].to_str().unwrap().to_owned()).collect();
    ids.sort();
    let sent = ids.len();
    ids.dedup();
    assert_eq!((sent, ids.len()), (40, 40), "40 events, each sent once");
}

#[tokio::test]
async fn endpoints_are_the_merchants_own_and_a_disabled_one_gets_nothing_but_an_event_can_be_redelivered() {
    let app = TestApp::with_vars(FAST).await;
    let s = shop(&app).await;
    let receiver = Receiver::start(0).await;
    let (endpoint, _) = s.register(&receiver.url).await;
    let payment_no = s.pay("2.00").await;
    deliver_all(&[&app]).await;
    let event_id: String = sqlx::query_scalar("SELECT id::text FROM event_log WHERE type = 'payment.succeeded'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let payment_id: String = sqlx::query_scalar("SELECT id::text FROM transactions WHERE tx_no = $1")
        .bind(&payment_no)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(event_id, payment_id, "a movement's event is its transaction row (issue 16, fourth pass)");
    // Refunded in full before the redelivery: the event still shows the payment as it happened.
    let refund = s.shop.refund(&payment_no, "2.00").await;
    assert_eq!(refund.status, 201, "{}", refund.text);

    let admin = app.admin().await;
    let other = app.merchant_client(&admin.create_merchant("Other").await).await;
    other.get(&format!("/merchant/webhooks/{endpoint}")).await.assert_error(404, "WEBHOOK_NOT_FOUND");
    other
        .post(&format!("/merchant/webhooks/{endpoint}/redeliver"), json!({ "event_id": event_id }))
        .await
        .assert_error(404, "WEBHOOK_NOT_FOUND");
    s.ana.get("/merchant/webhooks").await.assert_error(403, "FORBIDDEN");

    let again = s.shop.post(&format!("/merchant/webhooks/{endpoint}/redeliver"), json!({ "event_id": event_id })).await;
    assert_eq!(again.status, 202, "{}", again.text);
    deliver_all(&[&app]).await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].headers["mps-event-id"], requests[1].headers["mps-event-id"], "the same event id");
    assert_eq!(requests[0].body, requests[1].body, "the same body, byte for byte, after the payment was refunded");
    let body: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(body["data"]["transaction"]["status"], "completed", "{body}");

    let disabled = s.shop.post(&format!("/merchant/webhooks/{endpoint}/disable"), json!({})).await;
    assert_eq!((disabled.status.as_u16(), &disabled.json["status"]), (200, &json!("disabled")), "{}", disabled.text);
    s.pay("3.00").await;
    deliver_all(&[&app]).await;
    assert_eq!(receiver.requests().len(), 2, "a disabled endpoint gets nothing");
    let audited: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events WHERE object_type = 'webhook_endpoint' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(audited, ["WEBHOOK_CREATE", "WEBHOOK_REDELIVER", "WEBHOOK_DISABLE"]);
}

#[tokio::test]
async fn card_events_go_signed_to_the_programmes_endpoints_and_never_to_a_merchant() {
    let app = TestApp::with_vars(FAST).await;
    let s = shop(&app).await;
    let admin = app.admin().await;
    let programme = Receiver::start(1).await;
    let merchant = Receiver::start(0).await;
    let events = ["card.frozen", "card.unfrozen", "recharge.succeeded"];
    let created = admin.post("/admin/webhooks", json!({ "url": programme.url, "events": events })).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let endpoint = created.json["endpoint"]["id"].as_str().unwrap().to_owned();
    let secret = created.json["secret"].as_str().unwrap().to_owned();
    let all = ["payment.succeeded", "refund.succeeded", "recharge.succeeded", "settlement.created"];
    let mine = s.shop.post("/merchant/webhooks", json!({ "url": merchant.url, "events": all })).await;
    assert_eq!(mine.status, 201, "{}", mine.text);
    let mine = mine.json["endpoint"]["id"].as_str().unwrap().to_owned();
    s.shop
        .post("/merchant/webhooks", json!({ "url": merchant.url, "events": ["card.frozen"] }))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    admin
        .post("/admin/webhooks", json!({ "url": programme.url, "events": ["payment.succeeded"] }))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    admin.get(&format!("/admin/webhooks/{mine}")).await.assert_error(404, "WEBHOOK_NOT_FOUND");
    s.shop.get(&format!("/merchant/webhooks/{endpoint}")).await.assert_error(404, "WEBHOOK_NOT_FOUND");

    // The merchant has charged the card; then the programme freezes and unfreezes it.
    s.pay("3.00").await;
    let card = &s.member.card_id;
    for action in ["freeze", "unfreeze"] {
        let moved = admin.call(axum::http::Method::POST, &format!("/admin/cards/{card}/{action}"), None, &[]).await;
        assert_eq!(moved.status, 200, "{action}: {}", moved.text);
    }
    admin.credit(card, "1.00").await;
    deliver_all(&[&app]).await;

    let delivered: Vec<Value> = programme
        .requests()
        .iter()
        .filter(|r| r.answered == StatusCode::OK)
        .map(|r| {
            assert_eq!(verifying_signatures(r, &secret), 1, "signed with the programme endpoint's secret");
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect();
    let types: Vec<&str> = delivered.iter().map(|b| b["type"].as_str().unwrap()).collect();
    let mut sorted = types.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["card.frozen", "card.unfrozen", "recharge.succeeded"], "each programme event once: {types:?}");
    let frozen = delivered.iter().find(|b| b["type"] == "card.frozen").unwrap();
    assert_eq!(frozen["data"]["card"]["card_no"], s.member.card_no.as_str());
    assert_eq!((&frozen["data"]["from"], &frozen["data"]["to"]), (&json!("active"), &json!("inactive")));
    assert!(frozen["data"]["card"].get("balance").is_none() && !frozen.to_string().contains("Ana"), "no personal data");
    let credit = delivered.iter().find(|b| b["type"] == "recharge.succeeded").unwrap();
    assert!(credit["data"]["transaction"]["merchant_code"].is_null(), "an admin credit, no merchant's: {credit}");

    let to_merchant: Vec<String> = merchant
        .requests()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(to_merchant, ["payment.succeeded"], "the merchant hears of its payment, of no card move");

    // Deliveries, redelivery and the audit log of the programme's endpoint.
    let deliveries = admin.get(&format!("/admin/webhooks/{endpoint}/deliveries?count=exact")).await;
    assert_eq!(deliveries.json["pagination"]["total_count"], 3, "{}", deliveries.text);
    let frozen_id = frozen["id"].as_str().unwrap();
    let again = admin.post(&format!("/admin/webhooks/{endpoint}/redeliver"), json!({ "event_id": frozen_id })).await;
    assert_eq!(again.status, 202, "{}", again.text);
    let payment_event: String = sqlx::query_scalar("SELECT id::text FROM event_log WHERE type = 'payment.succeeded'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    admin
        .post(&format!("/admin/webhooks/{endpoint}/redeliver"), json!({ "event_id": payment_event }))
        .await
        .assert_error(404, "EVENT_NOT_FOUND");
    s.shop
        .post(&format!("/merchant/webhooks/{mine}/redeliver"), json!({ "event_id": frozen_id }))
        .await
        .assert_error(404, "EVENT_NOT_FOUND");
    deliver_all(&[&app]).await;
    let ids: Vec<String> = programme
        .requests()
        .iter()
        .map(|r| r.headers["mps-event-id"].to_str().unwrap().to_owned())
        .filter(|id| id == frozen_id)
        .collect();
    assert!(ids.len() >= 2, "redelivered with the same event id: {ids:?}");
    let listed = admin.get("/admin/webhooks?count=exact").await;
    assert_eq!(listed.json["pagination"]["total_count"], 1, "{}", listed.text);
    assert!(!listed.text.contains(&secret));
    let rotated = admin.post(&format!("/admin/webhooks/{endpoint}/rotate-secret"), json!({})).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let disabled = admin.post(&format!("/admin/webhooks/{endpoint}/disable"), json!({})).await;
    assert_eq!(disabled.json["status"], "disabled", "{}", disabled.text);
    let audit: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, actor_role::text FROM audit_events WHERE object_type = 'webhook_endpoint' \
         AND object_id = $1 ORDER BY id",
    )
    .bind(&endpoint)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let actions: Vec<(&str, &str)> = audit.iter().map(|(a, r)| (a.as_str(), r.as_str())).collect();
    assert_eq!(
        actions,
        [
            ("WEBHOOK_CREATE", "admin"),
            ("WEBHOOK_REDELIVER", "admin"),
            ("WEBHOOK_SECRET_ROTATE", "admin"),
            ("WEBHOOK_DISABLE", "admin")
        ]
    );
}

/// Issue 16, fourth pass: a movement's event is its transaction row, so parallel refunds racing
/// for one payment get exactly one event each when they commit and none when refused, each
/// delivered once by two replicas, and the books balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_refunds_get_one_event_each_exactly_when_they_commit_delivered_once_by_two_replicas() {
    let app = std::sync::Arc::new(TestApp::with_vars(FAST).await);
    let replica = app.sibling(FAST).await;
    let s = shop(&app).await;
    let receiver = Receiver::start(0).await;
    let created = s
        .shop
        .post("/merchant/webhooks", json!({ "url": receiver.url, "events": ["payment.succeeded", "refund.succeeded"] }))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let paid = s.pay("20.00").await;

    // 24 refunds of 1.00 against 20.00, all at once: twenty commit, four are refused.
    let handles: Vec<_> = (0..24)
        .map(|_| {
            let (app, token, paid) = (app.clone(), s.shop.token.clone(), paid.clone());
            tokio::spawn(async move {
                let request = axum::http::Request::post("/merchant/refund")
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/json")
                    .header("idempotency-key", crate::helpers::new_key())
                    .body(axum::body::Body::from(json!({"original_tx_no": paid, "amount": "1.00"}).to_string()))
                    .unwrap();
                app.send(request).await
            })
        })
        .collect();
    let mut refunded = 0;
    for handle in handles {
        let response = handle.await.unwrap();
        match response.status.as_u16() {
            201 => refunded += 1,
            // Refused once the payment is refunded in full.
            _ => assert_eq!(response.error_code(), "NOT_REFUNDABLE", "{}", response.text),
        }
    }
    assert_eq!(refunded, 20);
    let (one, two) = ([&*app], [&replica]);
    tokio::join!(deliver_all(&one), deliver_all(&two));

    let mut movements: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM transactions WHERE tx_type IN ('payment', 'refund') ORDER BY id::text",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut events: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM event_log WHERE type IN ('payment.succeeded', 'refund.succeeded') ORDER BY id::text",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(movements.len(), 21, "the payment and twenty refunds");
    assert_eq!(events, movements, "one event per committed movement, with its id");
    let mut sent: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["data"]["transaction"]["status"], "completed", "{body}");
            r.headers["mps-event-id"].to_str().unwrap().to_owned()
        })
        .collect();
    sent.sort();
    events.dedup();
    movements.dedup();
    assert_eq!(sent, movements, "each event sent exactly once across the two replicas");
    crate::helpers::assert_books_balance(&app.pool).await;
}
