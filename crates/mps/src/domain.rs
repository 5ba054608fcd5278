//! The shapes of SPEC §3 that several areas share: statuses, and the views of members,
//! merchants, cards and transactions as clients see them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strum::IntoStaticStr;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::{Discount, Money};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type, IntoStaticStr)]
#[sqlx(type_name = "member_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum MemberStatus {
    Active,
    Inactive,
    Suspended,
    Deleted,
}

impl MemberStatus {
    /// The status as stored and sent: `active`, `inactive`, `suspended`, `deleted`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type, IntoStaticStr)]
#[sqlx(type_name = "merchant_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum MerchantStatus {
    Active,
    Suspended,
}

impl MerchantStatus {
    /// The status as stored and sent: `active` or `suspended`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "card_type", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum CardType {
    Standard,
    Voucher,
    Corporate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "card_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum CardStatus {
    Active,
    /// Frozen.
    Inactive,
    Lost,
    Expired,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "binding_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum BindingRole {
    Owner,
    Admin,
    Member,
    Viewer,
}

/// A binding of a card, shown to its owner.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct BindingView {
    pub member_id: Uuid,
    pub member_no: String,
    pub name: String,
    pub role: BindingRole,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A member as admins see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct MemberView {
    pub id: Uuid,
    pub member_no: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub status: MemberStatus,
    pub created_at: DateTime<Utc>,
}

/// A merchant as admins see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct MerchantView {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub contact: Option<String>,
    pub status: MerchantStatus,
    pub created_at: DateTime<Utc>,
}

/// A card as its members (or admins) see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct CardView {
    pub id: Uuid,
    pub card_no: String,
    pub card_type: CardType,
    pub name: String,
    pub balance: Money,
    pub points: i64,
    pub level: i32,
    /// The card's level discount.
    pub discount: Discount,
    /// What a payment by this caller would be priced at now (level and corporate discounts).
    pub effective_discount: Discount,
    /// The corporate card's fixed discount, if any.
    pub fixed_discount: Option<Discount>,
    pub status: CardStatus,
    pub expires_at: Option<DateTime<Utc>>,
    /// The caller's binding role (`null` for admins who are not bound).
    pub role: Option<BindingRole>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoStaticStr, sqlx::Type)]
#[sqlx(type_name = "tx_type", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum TxType {
    Payment,
    Refund,
    Recharge,
}

impl TxType {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "tx_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum TxStatus {
    Processing,
    Completed,
    Failed,
    Cancelled,
    Refunded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "payment_method", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum PaymentMethod {
    Balance,
    Cash,
    Wechat,
    Alipay,
    Bank,
    Manual,
}

/// A transaction as clients see it (decoded from `transaction_views` JSON, or from the plain
/// columns of `db::transactions::TX_COLUMNS` in lists).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct TransactionView {
    pub id: Uuid,
    pub tx_no: String,
    pub tx_type: TxType,
    pub card_id: Uuid,
    pub card_no: String,
    pub merchant_code: Option<String>,
    pub raw_amount: Money,
    /// The multiplier used, e.g. `0.950`.
    pub discount_applied: Discount,
    pub final_amount: Money,
    pub points_earned: i64,
    pub status: TxStatus,
    pub payment_method: PaymentMethod,
    /// For refunds: the payment refunded.
    pub original_tx_no: Option<String>,
    pub external_order_id: Option<String>,
    /// Free-form JSON; a merchant's operator (cashier) is recorded under `operator`.
    #[schema(value_type = Option<Object>)]
    pub tag: Option<serde_json::Value>,
    /// The merchant's cashier, when one logged in with an operator name.
    pub operator: Option<String>,
    /// For payments: how much has been refunded so far.
    pub refunded_total: Option<Money>,
    pub created_at: DateTime<Utc>,
    /// The card's balance right after this movement, written with the transaction: on payments,
    /// refunds and completed recharges (null on a recharge order until it is confirmed, and on
    /// transactions recorded before this figure was kept).
    #[serde(default)]
    pub balance_after: Option<Money>,
    /// Merchant transactions: the store it was made at (a refund: its payment's store).
    #[serde(default)]
    pub store_code: Option<String>,
    /// Charges and refunds: the merchant's staff member who made it (null: the merchant's own
    /// credentials, a POS key, or a transaction recorded before staff existed).
    #[serde(default)]
    pub staff_id: Option<Uuid>,
    /// Merchant transactions made with a POS key: the key (null: a session, or a transaction
    /// recorded before keys were named). Shown to the merchant and admins; always null to members.
    #[serde(default)]
    pub pos_key_id: Option<Uuid>,
    /// The terminal id of that POS key, if it has one (always null to members).
    #[serde(default)]
    pub terminal_id: Option<String>,
}

impl TransactionView {
    /// As a member sees it: which POS key (terminal) a merchant used is the merchant's business.
    pub fn for_member(mut self) -> TransactionView {
        self.pos_key_id = None;
        self.terminal_id = None;
        self
    }

    /// Its position in a transaction list (`db::transactions::TX_ORDER`).
    pub fn page_key(&self) -> (DateTime<Utc>, String) {
        (self.created_at, self.id.to_string())
    }
}
