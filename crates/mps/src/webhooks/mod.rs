//! Merchant webhooks (issue 19): the delivery worker, signing, sealed secrets and the SSRF rules.
//!
//! Every replica may run the worker. It claims due deliveries with `FOR UPDATE SKIP LOCKED` and
//! moves each one's next attempt past the attempt's timeout in the same statement (a lease), so two
//! replicas never send the same delivery at once and a replica that dies mid-attempt leaves it to
//! be tried again: at least once, with the event's stable id for receivers to dedupe. A failed
//! attempt is retried with exponential backoff and jitter until `WEBHOOK_GIVE_UP_SECONDS` after the
//! delivery was queued, then marked `failed` and counted in `mps_webhook_deliveries_total{outcome="failed"}`
//! (alert `WebhookDeliveriesFailing`, docs/operations.md).

pub mod seal;
pub mod sign;
pub mod target;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::WebhookConfig;
use crate::db::webhooks::{self as store, ClaimedDelivery};
use crate::state::AppState;

/// Deliveries one worker claims at a time.
const BATCH: i64 = 16;

/// Runs the delivery worker until the process ends; does nothing without `WEBHOOK_SECRET_KEY`.
pub fn spawn_worker(state: AppState) -> Option<tokio::task::JoinHandle<()>> {
    if state.config.webhooks.secret_key.is_none() || !state.config.webhooks.worker_enabled {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            match deliver_due(&state).await {
                Ok(0) => tokio::time::sleep(state.config.webhooks.poll_interval).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "webhook worker cannot claim deliveries");
                    tokio::time::sleep(state.config.webhooks.poll_interval).await;
                }
            }
        }
    }))
}

/// Claims one batch of due deliveries and sends them concurrently; returns how many it claimed.
pub async fn deliver_due(state: &AppState) -> Result<usize, sqlx::Error> {
    let config = &state.config.webhooks;
    // The lease: longer than an attempt can take, so the claim outlives the attempt.
    let lease = i64::try_from(config.timeout.as_secs()).unwrap_or(60).saturating_mul(3).max(30);
    let claimed = store::claim_due_deliveries(&state.db, BATCH, lease).await?;
    let count = claimed.len();
    let attempts = claimed.into_iter().map(|delivery| attempt(state, delivery));
    futures_util::future::join_all(attempts).await;
    Ok(count)
}

/// One attempt of one delivery, and its recorded outcome.
async fn attempt(state: &AppState, delivery: ClaimedDelivery) {
    let config = &state.config.webhooks;
    let outcome = send(config, &delivery).await;
    let metrics = &state.metrics;
    let recorded = match outcome {
        Ok(status) => {
            metrics.webhook_deliveries_total.with_label_values(&["delivered"]).inc();
            store::record_delivery_success(&state.db, delivery.id, status).await
        }
        Err((status, error)) => {
            let retry_at = next_attempt(config, delivery.attempts, delivery.created_at, Utc::now());
            let outcome = if retry_at.is_some() { "retry" } else { "failed" };
            metrics.webhook_deliveries_total.with_label_values(&[outcome]).inc();
            if retry_at.is_none() {
                tracing::warn!(delivery_id = %delivery.id, endpoint_id = %delivery.endpoint_id, event_id = %delivery.event_id,
                               attempts = delivery.attempts, error = %error, "webhook delivery failed for good");
            }
            store::record_delivery_failure(&state.db, delivery.id, status, &error, retry_at).await
        }
    };
    if let Err(e) = recorded {
        // The lease runs out and the delivery is tried again: at least once.
        tracing::warn!(delivery_id = %delivery.id, error = %e, "cannot record a webhook attempt");
    }
}

/// When to try again after `attempts` failed attempts, or `None` when the next try would fall
/// past the give-up window: base × 2^(attempts−1), capped, with jitter in [½, 1] of it.
pub fn next_attempt(
    config: &WebhookConfig,
    attempts: i32,
    queued_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let exponent = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(30);
    let full = config.retry_base.saturating_mul(2u32.saturating_pow(exponent)).min(config.retry_max_delay);
    let jitter: f64 = rand::random_range(0.5..=1.0);
    let delay = chrono::Duration::from_std(full.mul_f64(jitter)).ok()?;
    let give_up_at = queued_at + chrono::Duration::from_std(config.give_up_after).ok()?;
    let at = now + delay;
    (at < give_up_at).then_some(at)
}

/// Sends one attempt: the status code of a 2xx answer, or what went wrong.
async fn send(config: &WebhookConfig, delivery: &ClaimedDelivery) -> Result<i32, (Option<i32>, String)> {
    let key = config.secret_key.as_ref().ok_or((None, "WEBHOOK_SECRET_KEY is not set".to_owned()))?;
    let target = target::check(config, &delivery.url).await.map_err(|refused| (None, format!("refused: {refused}")))?;
    let mut secrets = vec![
        seal::open(key, delivery.endpoint_id, &delivery.secret_sealed)
            .ok_or((None, "the signing secret cannot be opened with WEBHOOK_SECRET_KEY".to_owned()))?,
    ];
    if let Some(previous) =
        delivery.previous_secret_sealed.as_deref().and_then(|s| seal::open(key, delivery.endpoint_id, s))
    {
        secrets.push(previous);
    }
    let body = json!({
        "id": delivery.event_id,
        "type": delivery.event_type,
        "created_at": delivery.event_created_at,
        "data": delivery.payload,
    })
    .to_string();
    let timestamp = Utc::now().timestamp();
    let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let signature = sign::signature_header(&secret_refs, timestamp, body.as_bytes());
    let client = client_for(config.timeout, &target).map_err(|e| (None, format!("client: {e}")))?;
    let response = client
        .post(target.url.clone())
        .header("content-type", "application/json")
        .header("user-agent", concat!("mps-webhooks/", env!("CARGO_PKG_VERSION")))
        .header("mps-event-id", delivery.event_id.to_string())
        .header("mps-event-type", &delivery.event_type)
        .header("mps-delivery-id", delivery.id.to_string())
        .header("mps-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| (None, describe(&e)))?;
    let status = i32::from(response.status().as_u16());
    if response.status().is_success() { Ok(status) } else { Err((Some(status), format!("answered {status}"))) }
}

/// A client that connects only to the checked address (no second DNS lookup) and follows no
/// redirect (a redirect could point anywhere).
fn client_for(timeout: Duration, target: &target::CheckedTarget) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .resolve(&target.host, target.addr)
        .build()
}

/// A transport error without the URL (which may carry a token in its query).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        "request failed".into()
    }
}
