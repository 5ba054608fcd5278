//! A merchant's payments, refunds, stores, staff, POS keys, summaries, settlements and statements:
//! requests and responses.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{CardStatus, CardType, TransactionView, TxStatus};
use crate::money::{AmountInput, Money, SignedMoney};
use crate::present;
use crate::roles::{KeyScope, StaffRole};

/// Charges a member's card through its QR code.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChargeRequest {
    /// The token shown by the member's QR code.
    pub qr_plain: String,
    /// Amount before discount.
    pub amount: AmountInput,
    /// Your order id: an order is charged at most once.
    pub external_order_id: Option<String>,
    /// Free-form JSON object (at most 4 KiB) kept on the transaction; null or absent: none.
    #[schema(value_type = Option<Object>)]
    pub tag: Option<Value>,
    /// The store charging, by code: by default your own store when you are restricted to one
    /// (staff with a store, POS keys), else the merchant's default store.
    pub store: Option<String>,
}

/// The card a payment was charged to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChargedCard {
    /// The card's number.
    pub card_no: String,
    /// The card's type.
    pub card_type: CardType,
    /// The card's level after this payment.
    pub level: i32,
}

/// A completed payment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChargeResponse {
    /// The payment's transaction.
    pub transaction: TransactionView,
    /// The card charged.
    pub card: ChargedCard,
}

/// Refunds all or part of a payment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundRequest {
    /// The number of the payment to refund.
    pub original_tx_no: String,
    /// The amount to refund: a decimal string in the card's currency.
    pub amount: AmountInput,
    /// Why, if given.
    pub reason: Option<String>,
    /// Free-form JSON object (at most 4 KiB) kept on the refund; null or absent: none.
    #[schema(value_type = Option<Object>)]
    pub tag: Option<Value>,
}

/// The refunded payment after the refund.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundedPayment {
    /// The payment's number.
    pub tx_no: String,
    /// The payment's status now.
    pub status: TxStatus,
    /// All refunded of it so far, this refund included.
    pub refunded_total: Money,
    /// What may still be refunded of it.
    pub remaining_refundable: Money,
}

/// A completed refund.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundResponse {
    /// The refund's transaction.
    pub refund: TransactionView,
    /// The payment refunded.
    pub original: RefundedPayment,
}

/// Tops up a member's card at the counter.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TopupRequest {
    /// The card's number.
    pub card_no: String,
    /// The amount to add: a decimal string in the card's currency.
    pub amount: AmountInput,
    /// The store topping up, by code, chosen as for a charge: by default your own store when you
    /// are restricted to one, else the merchant's default store.
    pub store: Option<String>,
}

/// Checks a QR code before charging it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ValidateQrRequest {
    /// The token shown by the member's QR code.
    pub qr_plain: String,
}

/// What a merchant may see of a QR's card before charging; never the balance.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ValidatedQr {
    /// The card's number.
    pub card_no: String,
    /// The card's type.
    pub card_type: CardType,
    /// The card's level.
    pub level: i32,
    /// The card's status.
    pub status: CardStatus,
    /// When the token expires.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Opens a store.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateStoreRequest {
    /// 1 to 20 letters, digits, `_` or `-`; unique within the merchant regardless of case.
    pub code: String,
    /// The store's name.
    pub name: String,
    /// The store's address, if any.
    pub address: Option<String>,
    /// IANA time zone of the store's days (default: `BUSINESS_TIMEZONE`).
    pub time_zone: Option<String>,
}

/// Changes a store; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateStoreRequest {
    /// The new name.
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    /// `null` clears it (back to `BUSINESS_TIMEZONE`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub time_zone: Option<Option<String>>,
    /// `closed`: no new transactions; the books keep it.
    pub status: Option<StoreStatus>,
}

/// Changes the merchant's settings.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateSettingsRequest {
    /// The most a cashier or POS key may refund at once; `0` stops them refunding.
    pub cashier_refund_limit: AmountInput,
}

/// `json` (default) or `csv`.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StatementFormat {
    #[default]
    /// `json`.
    Json,
    /// `csv`.
    Csv,
}

/// The JSON statement (streamed in this shape).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatementView {
    /// The merchant's code.
    pub merchant_code: String,
    /// The store this statement is of; `null`: the whole merchant.
    pub store_code: Option<String>,
    /// The window's inclusive start (RFC 3339, UTC).
    pub from: DateTime<Utc>,
    /// The window's exclusive end (RFC 3339, UTC).
    pub to: DateTime<Utc>,
    /// Payments − refunds − counter top-ups before `from`.
    pub opening_total: SignedMoney,
    /// opening_total + totals.net_amount.
    pub closing_total: SignedMoney,
    /// The window's totals.
    pub totals: StatementTotalsView,
    /// Every movement of the window, oldest first.
    pub movements: Vec<StatementMovement>,
}

/// The window's totals, counted as settlements count them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatementTotalsView {
    /// The window's counts and amounts.
    #[serde(flatten)]
    pub counts: StatementTotals,
    /// Reserved: always `0.00` today. MPS charges merchants no fees yet; the column is there so
    /// statement consumers need not change when fees exist.
    #[schema(example = "0.00")]
    pub fee_amount: SignedMoney,
    /// payments − refunds − top-ups − fees (fees: 0.00 today).
    pub net_amount: SignedMoney,
}

/// Creates a POS key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateKeyRequest {
    /// A name for the key.
    pub name: String,
    /// The store the key acts as, by code.
    pub store: String,
    /// At least one of `charge`, `refund`, `read`.
    pub permissions: Vec<KeyScope>,
    /// The terminal the key is for, if any.
    pub terminal_id: Option<String>,
    /// RFC 3339; the key stops working then.
    pub expires_at: Option<DateTime<Utc>>,
}

// No `Debug`: it holds the key's secret, shown this once.
/// A key with its secret: the only time the secret is shown.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct KeyWithSecret {
    /// The key.
    pub key: KeyView,
    /// `mps_pos_<prefix>_<random>`: send as `Authorization: Bearer <secret>`. Shown once.
    pub secret: String,
}

/// Gives a POS key a new secret.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RotateKeyRequest {
    /// How long the old secret keeps working, in seconds (default 0: it stops at once; at most
    /// 7 days).
    pub overlap_seconds: Option<i64>,
}

/// A local day's payments and refunds.
#[derive(Debug, Serialize, ToSchema)]
pub struct DaySummary {
    /// Payments made (completed, or refunded since).
    pub payment_count: i64,
    /// Completed refunds, whichever day their payment was.
    pub refund_count: i64,
    /// The sum of those payments.
    pub payment_amount: Money,
    /// The sum of those refunds.
    pub refund_amount: Money,
    /// payments − refunds (counter top-ups are not sales and are left out).
    pub net_amount: SignedMoney,
}

/// Payments in one local hour.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourSummary {
    /// The local clock hour, 0–23; on the day clocks go back one hour appears twice.
    pub hour: u32,
    /// The bucket's first instant (tells the two equal hours of that day apart).
    pub start: DateTime<Utc>,
    /// Payments in the hour.
    pub count: i64,
    /// Their sum.
    pub amount: Money,
}

/// A merchant's local day, in total and by hour.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailySummaryResponse {
    /// The local day, YYYY-MM-DD.
    pub date: NaiveDate,
    /// The day's totals.
    pub summary: DaySummary,
    /// One bucket per local hour: 24, or 23/25 on clock-change days.
    pub hourly: Vec<HourSummary>,
}

/// Settles a period.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SettlementRequest {
    /// How the period is chosen.
    pub mode: SettlementMode,
    /// `t_plus_1`: the local day to settle, YYYY-MM-DD (default: yesterday).
    pub date: Option<String>,
    /// `monthly`: the local month to settle, YYYY-MM (default: last month).
    pub month: Option<String>,
    /// `realtime`: inclusive start, RFC 3339.
    pub period_start: Option<String>,
    /// `realtime`: exclusive end, RFC 3339.
    pub period_end: Option<String>,
}

// No `Debug`: it holds a secret that must never reach a log.
/// Adds a staff member.
#[derive(Deserialize, ToSchema)]
pub struct CreateStaffRequest {
    /// Unique within the merchant regardless of case; logs in with the merchant's code.
    pub username: String,
    /// The staff member's name.
    pub name: String,
    /// The staff member's role.
    pub role: StaffRole,
    /// Restrict the staff member to this store (by code).
    pub store: Option<String>,
    /// At least 8 characters.
    pub password: String,
}

/// Changes a staff member; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateStaffRequest {
    /// The new name.
    pub name: Option<String>,
    /// The new role.
    pub role: Option<StaffRole>,
    /// A store code; `null` lifts the restriction.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub store: Option<Option<String>>,
}

// No `Debug`: it holds a secret that must never reach a log.
/// Sets a staff member's password.
#[derive(Deserialize, ToSchema)]
pub struct StaffPasswordRequest {
    /// At least 8 characters.
    pub password: String,
}

/// `active`: transactions may name it; `closed`: kept for the books, no new transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "store_status", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum StoreStatus {
    /// `active`.
    Active,
    /// `closed`.
    Closed,
}

/// One of a merchant's stores.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct StoreView {
    /// The store's id (UUID).
    pub id: Uuid,
    /// Unique within the merchant, regardless of case.
    pub code: String,
    /// The store's name.
    pub name: String,
    /// The store's address, if any.
    pub address: Option<String>,
    /// IANA zone of the store's days; `BUSINESS_TIMEZONE` when absent.
    pub time_zone: Option<String>,
    /// The store's status.
    pub status: StoreStatus,
    /// The store transactions record when their request names none.
    pub is_default: bool,
    /// When the store was created (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
}

/// A merchant's own settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct MerchantSettings {
    /// The most a cashier or a POS key may refund at once (0.00: they cannot refund).
    pub cashier_refund_limit: Money,
}

/// The books of a store (or the whole merchant) over `[start, end)`, as a settlement counts them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PeriodTotals {
    /// How many payments.
    pub payment_count: i64,
    /// Their sum.
    pub payment_amount: Money,
    /// How many refunds.
    pub refund_count: i64,
    /// Their sum.
    pub refund_amount: Money,
    /// How many counter top-ups.
    pub topup_count: i64,
    /// Their sum.
    pub topup_amount: Money,
    /// payments − refunds − top-ups.
    pub net_amount: SignedMoney,
}

impl StoreView {
    /// Its position in a store list (`db::stores::list_stores` in the server).
    pub fn page_key(&self) -> (DateTime<Utc>, String) {
        let key = if self.is_default { String::new() } else { self.code.to_uppercase() };
        (self.created_at, key)
    }
}

/// A merchant's books over a window, as settlements count them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct StatementTotals {
    /// How many payments.
    pub payment_count: i64,
    /// Their sum.
    pub payment_amount: Money,
    /// How many refunds.
    pub refund_count: i64,
    /// Their sum.
    pub refund_amount: Money,
    /// How many counter top-ups.
    pub topup_count: i64,
    /// Their sum.
    pub topup_amount: Money,
}

/// One movement of a statement: a payment (+), a refund (−) or a counter top-up (−).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct StatementMovement {
    /// When it was made (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// The transaction's number.
    pub tx_no: String,
    /// The transaction's type.
    pub tx_type: String,
    /// How it was paid.
    pub payment_method: String,
    /// The card's number.
    pub card_no: String,
    /// Refunds: the number of the payment refunded.
    pub original_tx_no: Option<String>,
    /// The merchant's order id, if given.
    pub external_order_id: Option<String>,
    /// The operator name recorded on it (staff member, POS key or login name), if any.
    pub operator: Option<String>,
    /// The store it was made at.
    pub store_code: String,
    /// What it adds to the merchant's total: + payments, − refunds, − counter top-ups.
    pub gross_amount: SignedMoney,
    /// Reserved: always `0.00` today (MPS charges no fees yet); kept so consumers need not change
    /// when fees exist.
    #[schema(example = "0.00")]
    pub fee_amount: SignedMoney,
    /// gross − fee (today: gross).
    pub net_amount: SignedMoney,
}

impl StatementTotals {
    /// payments − refunds − top-ups: what the platform owes the merchant for the window.
    pub fn net(&self) -> Decimal {
        self.payment_amount.amount() - self.refund_amount.amount() - self.topup_amount.amount()
    }
}

/// A key as its merchant (and an admin) sees it: never its secret or hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct KeyView {
    /// The key's id (UUID).
    pub id: Uuid,
    /// Identifies the key: its text starts `mps_pos_<prefix>_`.
    pub prefix: String,
    /// The key's name.
    pub name: String,
    /// The one store the key acts as.
    pub store_id: Uuid,
    /// That store's code.
    pub store_code: String,
    /// A subset of `charge`, `refund`, `read`.
    pub permissions: Vec<String>,
    /// The terminal the key is for, if any.
    pub terminal_id: Option<String>,
    /// When the key stops working (RFC 3339, UTC); null: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key was revoked (RFC 3339, UTC); null: not revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the key last authenticated a request (kept to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// After a rotation: until when the previous secret still works.
    pub previous_valid_until: Option<DateTime<Utc>>,
    /// When the key was created (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
}

impl KeyView {
    /// Its position in a key list (`db::pos_keys::KEY_ORDER` in the server).
    pub fn page_key(&self) -> (DateTime<Utc>, String) {
        (self.created_at, self.id.to_string())
    }
}

/// How a settlement's period is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "settlement_mode", rename_all = "snake_case"))]
#[serde(rename_all = "snake_case")]
pub enum SettlementMode {
    /// An explicit period `[period_start, period_end)`.
    Realtime,
    /// One calendar day in the business time zone.
    #[serde(rename = "t_plus_1")]
    #[cfg_attr(feature = "sqlx", sqlx(rename = "t_plus_1"))]
    TPlus1,
    /// One calendar month in the business time zone.
    Monthly,
}

/// A settlement's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "settlement_status", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum SettlementStatus {
    /// `pending`.
    Pending,
    /// `settled`.
    Settled,
    /// `paid`.
    Paid,
    /// `failed`.
    Failed,
}

/// A settlement of a merchant's period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SettlementView {
    /// The settlement's id (UUID).
    pub id: Uuid,
    /// The settlement's number.
    pub settlement_no: String,
    /// The merchant's id (UUID).
    pub merchant_id: Uuid,
    /// The merchant's code.
    pub merchant_code: String,
    /// How the period was chosen.
    pub mode: SettlementMode,
    /// Inclusive.
    pub period_start: DateTime<Utc>,
    /// Exclusive.
    pub period_end: DateTime<Utc>,
    /// Payments made in the period (completed, or refunded since).
    pub payment_count: i64,
    /// What members paid: Σ final amounts.
    pub payment_amount: Money,
    /// Refunds made in the period.
    pub refund_count: i64,
    /// Their sum.
    pub refund_amount: Money,
    /// Counter top-ups: cash the merchant collected for the platform.
    pub topup_count: i64,
    /// Their sum.
    pub topup_amount: Money,
    /// payments − refunds − top-ups; negative when the merchant owes the platform.
    pub net_amount: SignedMoney,
    /// The settlement's status.
    pub status: SettlementStatus,
    /// When it was created (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
    /// Asked with `?store=`: the store whose share the counts and amounts are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_code: Option<String>,
}

impl SettlementView {
    /// Its position in a settlement list (`db::settlements::SETTLEMENT_ORDER` in the server).
    pub fn page_key(&self) -> (DateTime<Utc>, String) {
        (self.period_start, self.id.to_string())
    }
}

/// `active` may log in; `suspended` may not, and its sessions ended when it was suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "staff_status", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum StaffStatus {
    /// `active`.
    Active,
    /// `suspended`.
    Suspended,
}

/// A staff member as the merchant (and an admin) sees them; never the password hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct StaffView {
    /// The staff member's id (UUID).
    pub id: Uuid,
    /// Unique within the merchant, regardless of case; logs in with the merchant's code.
    pub username: String,
    /// The staff member's name.
    pub name: String,
    /// The staff member's role.
    pub role: StaffRole,
    /// The one store this staff member acts as, when restricted.
    pub store_id: Option<Uuid>,
    /// That store's code, when restricted.
    pub store_code: Option<String>,
    /// The staff member's status.
    pub status: StaffStatus,
    /// When the staff member was added (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// When the staff member last changed (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
}

impl StaffView {
    /// Its position in a staff list (`db::staff::list_staff` in the server): the username,
    /// lowercased as the order is.
    pub fn page_key(&self) -> (DateTime<Utc>, String) {
        (self.created_at, self.username.to_ascii_lowercase())
    }
}
