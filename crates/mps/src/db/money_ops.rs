//! One Rust function per SQL function of the money core (`sql/functions/`), same name. Each
//! call is one statement, run again on a deadlock or serialization failure ([`call_with_retry`]).
//!
//! Idempotent operations return an [`Idempotent`] outcome: the stored result of the first
//! execution, success or business error alike, and whether this call replayed it. A success is a
//! [`Moved`]: the operation's result and, beside it, the members whose cached card lists it made
//! stale — decoded here once, so no wire type carries them. Each wrapper names the type its SQL
//! result decodes into (a response type of `mps_api`, or its own, such as [`IssuedToken`]); the
//! caller does not choose it. Each idempotent operation is described once by an [`Operation`]
//! (its one name — idempotency scope, request fingerprint, SQL function, Rust wrapper and metric
//! label — and whether it changes card lists), which its handler runs through
//! `http::respond::money`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use mps_api::admin::{AdjustPointsResponse, RevokeAllResponse};
use mps_api::error::ErrorCode;
use mps_api::member::{QrCard, RechargeResponse, RevokeQrResponse};
use mps_api::merchant::{ChargeResponse, RefundResponse, ValidatedQr};
use mps_api::money::Money;
use mps_api::webhooks::WebhookResponse;

use crate::db::call_with_retry;
use crate::error::ApiError;

/// One idempotent money operation, as its handler, its wrapper and the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The operation's one name (issue 14 §3): the scope the SQL function stores the key under
    /// and the request fingerprint's operation name (a key reused for another operation never
    /// matches), the SQL function and its wrapper here, and the `mps_api_rpc_calls_total` label.
    /// The names are the idempotency scopes of the records already stored (migration 0015 renamed
    /// the functions to them, not the other way round).
    pub name: &'static str,
    /// Whether a first execution changes balances or points shown in members' card lists.
    pub invalidates_cards: bool,
}

/// A merchant charges a member's card by its QR token.
pub const CHARGE: Operation = Operation { name: "charge", invalidates_cards: true };
/// A merchant refunds all or part of one of its payments.
pub const REFUND: Operation = Operation { name: "refund", invalidates_cards: true };
/// A member opens an online recharge order (nothing moves until the channel confirms it).
pub const MEMBER_RECHARGE: Operation = Operation { name: "member_recharge", invalidates_cards: false };
/// A merchant tops a card up at the counter.
pub const MERCHANT_RECHARGE: Operation = Operation { name: "merchant_recharge", invalidates_cards: true };
/// An admin credits a card (manual recharge).
pub const ADMIN_RECHARGE: Operation = Operation { name: "admin_recharge", invalidates_cards: true };

/// Every idempotent money operation (the tests check each name is its SQL function's, and the
/// scope that function stores its records under).
pub const OPERATIONS: [Operation; 5] = [CHARGE, REFUND, MEMBER_RECHARGE, MERCHANT_RECHARGE, ADMIN_RECHARGE];

/// What a money operation did, and the members whose cached card lists it made stale (the SQL
/// result's `affected_members`, taken out before the result is decoded).
#[derive(Debug)]
pub struct Moved<T> {
    pub result: T,
    pub affected_members: Vec<Uuid>,
}

/// Decodes a money function's jsonb result, taking `affected_members` out beside it.
pub(crate) fn decode_moved<T: DeserializeOwned>(mut value: Value) -> Result<Moved<T>, ApiError> {
    let affected = value.as_object_mut().and_then(|fields| fields.remove("affected_members"));
    let affected_members = match affected {
        Some(list) => decode(list)?,
        None => Vec::new(),
    };
    Ok(Moved { result: decode(value)?, affected_members })
}

/// The outcome of an idempotent operation.
#[derive(Debug)]
pub struct Idempotent<T> {
    pub result: Result<Moved<T>, ApiError>,
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
            decode_moved(stored.body.unwrap_or(Value::Null))
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
    /// The POS key charging (none: a session).
    pub pos_key_id: Option<Uuid>,
}

pub async fn charge(
    db: &PgPool,
    scope: IdempotencyScope<'_>,
    args: ChargeArgs<'_>,
) -> Result<Idempotent<ChargeResponse>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT charge($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
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
            .bind(args.pos_key_id)
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
    /// The POS key refunding (none: a session).
    pub pos_key_id: Option<Uuid>,
}

pub async fn refund(
    db: &PgPool,
    scope: IdempotencyScope<'_>,
    args: RefundArgs<'_>,
) -> Result<Idempotent<RefundResponse>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT refund($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
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
            .bind(args.pos_key_id)
            .fetch_one(db)
    })
    .await?;
    Idempotent::from_stored(raw)
}

/// Arguments of an online recharge order.
#[derive(Debug)]
pub struct RechargeOrderArgs<'a> {
    pub card_id: Uuid,
    pub amount: Money,
    /// The channel (`wechat`, `alipay`, `bank`).
    pub payment_method: &'a str,
    pub external_order_id: Option<&'a str>,
}

pub async fn member_recharge(
    db: &PgPool,
    scope: IdempotencyScope<'_>,
    args: RechargeOrderArgs<'_>,
) -> Result<Idempotent<RechargeResponse>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT member_recharge($1, $2, $3, $4, $5, $6::payment_method, $7, $8)")
            .bind(scope.actor_id)
            .bind(scope.key)
            .bind(scope.fingerprint)
            .bind(args.card_id)
            .bind(args.amount.amount())
            .bind(args.payment_method)
            .bind(args.external_order_id)
            .bind(scope.request_id)
            .fetch_one(db)
    })
    .await?;
    Idempotent::from_stored(raw)
}

/// Arguments of a counter top-up.
#[derive(Debug)]
pub struct TopupArgs<'a> {
    pub operator: Option<&'a str>,
    pub card_no: &'a str,
    pub amount: Money,
    /// The store topping up (chosen as for a charge).
    pub store_id: Uuid,
    /// The staff member topping up (none: the merchant's own credentials).
    pub staff_id: Option<Uuid>,
    /// The POS key topping up (none: a session; no key scope grants top-ups today).
    pub pos_key_id: Option<Uuid>,
}

pub async fn merchant_recharge(
    db: &PgPool,
    scope: IdempotencyScope<'_>,
    args: TopupArgs<'_>,
) -> Result<Idempotent<RechargeResponse>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT merchant_recharge($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(scope.actor_id)
            .bind(args.operator)
            .bind(scope.key)
            .bind(scope.fingerprint)
            .bind(args.card_no)
            .bind(args.amount.amount())
            .bind(scope.request_id)
            .bind(args.store_id)
            .bind(args.staff_id)
            .bind(args.pos_key_id)
            .fetch_one(db)
    })
    .await?;
    Idempotent::from_stored(raw)
}

/// Arguments of an admin's manual credit.
#[derive(Debug)]
pub struct CreditArgs<'a> {
    pub card_id: Uuid,
    pub amount: Money,
    pub reason: Option<&'a str>,
}

pub async fn admin_recharge(
    db: &PgPool,
    scope: IdempotencyScope<'_>,
    args: CreditArgs<'_>,
) -> Result<Idempotent<RechargeResponse>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT admin_recharge($1, $2, $3, $4, $5, $6, $7)")
            .bind(scope.actor_id)
            .bind(scope.key)
            .bind(scope.fingerprint)
            .bind(args.card_id)
            .bind(args.amount.amount())
            .bind(args.reason)
            .bind(scope.request_id)
            .fetch_one(db)
    })
    .await?;
    Idempotent::from_stored(raw)
}

/// A payment channel's verdict on a recharge order.
#[derive(Debug)]
pub struct ChannelVerdict<'a> {
    pub tx_no: &'a str,
    pub succeeded: bool,
    /// The amount the channel says it took (`None`: unreadable, which cannot match the order).
    pub amount: Option<Money>,
    pub channel_ref: Option<&'a str>,
}

pub async fn confirm_recharge(
    db: &PgPool,
    verdict: ChannelVerdict<'_>,
    request_id: &str,
) -> Result<Moved<WebhookResponse>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT confirm_recharge($1, $2, $3, $4, $5)")
            .bind(verdict.tx_no)
            .bind(verdict.succeeded)
            .bind(verdict.amount.map(Money::amount))
            .bind(verdict.channel_ref)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode_moved(raw)
}

/// An admin's points adjustment.
#[derive(Debug)]
pub struct PointsAdjustment<'a> {
    pub admin_id: Uuid,
    pub card_id: Uuid,
    /// Points added (positive) or removed (negative).
    pub delta: i64,
    pub reason: &'a str,
}

pub async fn adjust_points(
    db: &PgPool,
    adjustment: PointsAdjustment<'_>,
    request_id: &str,
) -> Result<Moved<AdjustPointsResponse>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT adjust_points($1, $2, $3, $4, $5)")
            .bind(adjustment.admin_id)
            .bind(adjustment.card_id)
            .bind(adjustment.delta)
            .bind(adjustment.reason)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode_moved(raw)
}

/// A member's card (a member may act on the cards bound to them).
#[derive(Debug, Clone, Copy)]
pub struct MemberCard {
    pub member_id: Uuid,
    pub card_id: Uuid,
}

/// A QR token to issue for a member's card: its hash (the plain text never reaches the database)
/// and life.
#[derive(Debug)]
pub struct NewQrToken<'a> {
    pub token_hash: &'a [u8],
    pub ttl_seconds: i32,
}

/// A new QR token: when it dies, its lifetime, and the card it pays with (the plain token is the
/// caller's; only its hash was stored).
#[derive(Debug, Deserialize)]
pub struct IssuedToken {
    pub expires_at: DateTime<Utc>,
    pub ttl_seconds: i64,
    pub card: QrCard,
}

pub async fn issue_qr_token(
    db: &PgPool,
    card: MemberCard,
    token: NewQrToken<'_>,
    request_id: &str,
) -> Result<IssuedToken, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT issue_qr_token($1, $2, $3, $4, $5)")
            .bind(card.member_id)
            .bind(card.card_id)
            .bind(token.token_hash)
            .bind(token.ttl_seconds)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode(raw)
}

pub async fn revoke_qr_token(db: &PgPool, card: MemberCard, request_id: &str) -> Result<RevokeQrResponse, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT revoke_qr_token($1, $2, $3)")
            .bind(card.member_id)
            .bind(card.card_id)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode(raw)
}

pub async fn revoke_all_qr_tokens(
    db: &PgPool,
    admin_id: Uuid,
    request_id: &str,
) -> Result<RevokeAllResponse, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT revoke_all_qr_tokens($1, $2)").bind(admin_id).bind(request_id).fetch_one(db)
    })
    .await?;
    decode(raw)
}

pub async fn validate_qr_token(db: &PgPool, merchant_id: Uuid, token_hash: &[u8]) -> Result<ValidatedQr, ApiError> {
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
