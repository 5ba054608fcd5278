//! One Rust function per SQL function of the money core (`sql/functions/`), same name. Each
//! call is one statement, run again on a deadlock or serialization failure ([`call_with_retry`]).
//!
//! Idempotent operations return an [`Idempotent`] outcome: the stored result of the first
//! execution, success or business error alike, and whether this call replayed it.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::call_with_retry;
use crate::error::{ApiError, ErrorCode};
use crate::money::Money;

/// The outcome of an idempotent operation.
#[derive(Debug)]
pub struct Idempotent<T> {
    pub result: Result<T, ApiError>,
    /// True when an earlier execution's outcome was replayed.
    pub replayed: bool,
}

#[derive(Debug, Deserialize)]
struct StoredOutcome {
    ok: bool,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    error: Option<StoredError>,
    request_id: String,
    #[serde(default)]
    replayed: bool,
}

#[derive(Debug, Deserialize)]
struct StoredError {
    code: String,
    message: String,
    #[serde(default)]
    details: Option<Value>,
}

/// Decodes a SQL function's jsonb result into its Rust shape.
pub(crate) fn decode<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::internal(format!("unexpected function result: {e}")))
}

impl<T: DeserializeOwned> Idempotent<T> {
    fn from_stored(raw: Value) -> Result<Idempotent<T>, ApiError> {
        let stored: StoredOutcome = decode(raw)?;
        let result = if stored.ok {
            decode(stored.body.unwrap_or(Value::Null))
        } else {
            let error = stored.error.ok_or_else(|| ApiError::internal("stored outcome without error"))?;
            let code = ErrorCode::parse(&error.code).unwrap_or(ErrorCode::Internal);
            let mut api_error = ApiError::new(code, error.message);
            api_error.details = error.details;
            if stored.replayed {
                api_error.replayed_from = Some(stored.request_id.into());
            }
            Err(api_error)
        };
        Ok(Idempotent { result, replayed: stored.replayed })
    }
}

/// Who an idempotent call runs for: the actor, the client's key and the request's fingerprint.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyScope<'a> {
    pub actor_id: Uuid,
    pub key: &'a str,
    pub fingerprint: &'a [u8],
    pub request_id: &'a str,
}

/// Arguments of a charge.
#[derive(Debug)]
pub struct ChargeArgs<'a> {
    pub operator: Option<&'a str>,
    pub token_hash: &'a [u8],
    pub amount: Money,
    pub external_order_id: Option<&'a str>,
    pub tag: Option<&'a Value>,
    /// The store the payment is made at.
    pub store_id: Uuid,
    /// The staff member charging (none: the merchant's own credentials or a POS key).
    pub staff_id: Option<Uuid>,
}

pub async fn charge_by_qr<T: DeserializeOwned>(
    db: &PgPool,
    scope: IdempotencyScope<'_>,
    args: ChargeArgs<'_>,
) -> Result<Idempotent<T>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT charge_by_qr($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
            .bind(scope.actor_id)
            .bind(args.operator)
            .bind(scope.key)
            .bind(scope.fingerprint)
            .bind(args.token_hash)
            .bind(args.amount.amount())
            .bind(args.external_order_id)
            .bind(args.tag)
            .bind(scope.request_id)
            .bind(args.store_id)
            .bind(args.staff_id)
            .fetch_one(db)
    })
    .await?;
    Idempotent::from_stored(raw)
}

/// Arguments of a refund.
#[derive(Debug)]
pub struct RefundArgs<'a> {
    pub operator: Option<&'a str>,
    pub original_tx_no: &'a str,
    pub amount: Money,
    pub reason: Option<&'a str>,
    pub tag: Option<&'a Value>,
    /// The staff member refunding (none: the merchant's own credentials or a POS key).
    pub staff_id: Option<Uuid>,
}

pub async fn refund_payment<T: DeserializeOwned>(
    db: &PgPool,
    scope: IdempotencyScope<'_>,
    args: RefundArgs<'_>,
) -> Result<Idempotent<T>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT refund_payment($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(scope.actor_id)
            .bind(args.operator)
            .bind(scope.key)
            .bind(scope.fingerprint)
            .bind(args.original_tx_no)
            .bind(args.amount.amount())
            .bind(args.reason)
            .bind(args.tag)
            .bind(scope.request_id)
            .bind(args.staff_id)
            .fetch_one(db)
    })
    .await?;
    Idempotent::from_stored(raw)
}

pub async fn create_recharge_order<T: DeserializeOwned>(
    db: &PgPool,
    scope: IdempotencyScope<'_>,
    card_id: Uuid,
    amount: Money,
    payment_method: &str,
    external_order_id: Option<&str>,
) -> Result<Idempotent<T>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT create_recharge_order($1, $2, $3, $4, $5, $6::payment_method, $7, $8)")
            .bind(scope.actor_id)
            .bind(scope.key)
            .bind(scope.fingerprint)
            .bind(card_id)
            .bind(amount.amount())
            .bind(payment_method)
            .bind(external_order_id)
            .bind(scope.request_id)
            .fetch_one(db)
    })
    .await?;
    Idempotent::from_stored(raw)
}

/// What a counter top-up names besides its idempotency scope.
pub struct TopupArgs<'a> {
    pub operator: Option<&'a str>,
    pub card_no: &'a str,
    pub amount: Money,
    /// The store topping up (chosen as for a charge).
    pub store_id: Uuid,
    /// The staff member topping up (none: the merchant's own credentials).
    pub staff_id: Option<Uuid>,
}

pub async fn merchant_topup<T: DeserializeOwned>(
    db: &PgPool,
    scope: IdempotencyScope<'_>,
    args: TopupArgs<'_>,
) -> Result<Idempotent<T>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT merchant_topup($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(scope.actor_id)
            .bind(args.operator)
            .bind(scope.key)
            .bind(scope.fingerprint)
            .bind(args.card_no)
            .bind(args.amount.amount())
            .bind(scope.request_id)
            .bind(args.store_id)
            .bind(args.staff_id)
            .fetch_one(db)
    })
    .await?;
    Idempotent::from_stored(raw)
}

pub async fn admin_credit_card<T: DeserializeOwned>(
    db: &PgPool,
    scope: IdempotencyScope<'_>,
    card_id: Uuid,
    amount: Money,
    reason: Option<&str>,
) -> Result<Idempotent<T>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT admin_credit_card($1, $2, $3, $4, $5, $6, $7)")
            .bind(scope.actor_id)
            .bind(scope.key)
            .bind(scope.fingerprint)
            .bind(card_id)
            .bind(amount.amount())
            .bind(reason)
            .bind(scope.request_id)
            .fetch_one(db)
    })
    .await?;
    Idempotent::from_stored(raw)
}

pub async fn confirm_recharge<T: DeserializeOwned>(
    db: &PgPool,
    tx_no: &str,
    succeeded: bool,
    amount: Option<Money>,
    channel_ref: Option<&str>,
    request_id: &str,
) -> Result<T, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT confirm_recharge($1, $2, $3, $4, $5)")
            .bind(tx_no)
            .bind(succeeded)
            .bind(amount.map(Money::amount))
            .bind(channel_ref)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode(raw)
}

pub async fn adjust_points<T: DeserializeOwned>(
    db: &PgPool,
    admin_id: Uuid,
    card_id: Uuid,
    delta: i64,
    reason: &str,
    request_id: &str,
) -> Result<T, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT adjust_points($1, $2, $3, $4, $5)")
            .bind(admin_id)
            .bind(card_id)
            .bind(delta)
            .bind(reason)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode(raw)
}

pub async fn issue_qr_token<T: DeserializeOwned>(
    db: &PgPool,
    member_id: Uuid,
    card_id: Uuid,
    token_hash: &[u8],
    ttl_seconds: i32,
    request_id: &str,
) -> Result<T, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT issue_qr_token($1, $2, $3, $4, $5)")
            .bind(member_id)
            .bind(card_id)
            .bind(token_hash)
            .bind(ttl_seconds)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode(raw)
}

pub async fn revoke_qr_token<T: DeserializeOwned>(
    db: &PgPool,
    member_id: Uuid,
    card_id: Uuid,
    request_id: &str,
) -> Result<T, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT revoke_qr_token($1, $2, $3)")
            .bind(member_id)
            .bind(card_id)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode(raw)
}

pub async fn revoke_all_qr_tokens<T: DeserializeOwned>(
    db: &PgPool,
    admin_id: Uuid,
    request_id: &str,
) -> Result<T, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT revoke_all_qr_tokens($1, $2)").bind(admin_id).bind(request_id).fetch_one(db)
    })
    .await?;
    decode(raw)
}

pub async fn validate_qr_token<T: DeserializeOwned>(
    db: &PgPool,
    merchant_id: Uuid,
    token_hash: &[u8],
) -> Result<T, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT validate_qr_token($1, $2)").bind(merchant_id).bind(token_hash).fetch_one(db)
    })
    .await?;
    decode(raw)
}

/// Deletes idempotency records older than `hours`; returns how many went.
pub async fn prune_idempotency_keys(pool: &PgPool, hours: i32) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)")
        .bind(hours)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
