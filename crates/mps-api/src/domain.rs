//! The shapes of SPEC §3 that several areas share: statuses, and the views of members,
//! merchants, cards and transactions as clients see them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strum::IntoStaticStr;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::{Discount, Money};

/// A member's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoStaticStr)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "member_status", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum MemberStatus {
    /// `active`.
    Active,
    /// `inactive`.
    Inactive,
    /// `suspended`.
    Suspended,
    /// `deleted`.
    Deleted,
}

impl MemberStatus {
    /// The status as stored and sent: `active`, `inactive`, `suspended`, `deleted`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A merchant's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoStaticStr)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "merchant_status", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum MerchantStatus {
    /// `active`.
    Active,
    /// `suspended`.
    Suspended,
}

impl MerchantStatus {
    /// The status as stored and sent: `active` or `suspended`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The kind of card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "card_type", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum CardType {
    /// `standard`.
    Standard,
    /// `voucher`.
    Voucher,
    /// `corporate`.
    Corporate,
}

/// A card's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "card_status", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum CardStatus {
    /// `active`.
    Active,
    /// Frozen.
    Inactive,
    /// `lost`.
    Lost,
    /// `expired`.
    Expired,
    /// `closed`.
    Closed,
}

/// A member's role on a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "binding_role", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum BindingRole {
    /// `owner`.
    Owner,
    /// `admin`.
    Admin,
    /// `member`.
    Member,
    /// `viewer`.
    Viewer,
}

/// A binding of a card, shown to its owner.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct BindingView {
    /// The bound member's id (UUID).
    pub member_id: Uuid,
    /// The bound member's number.
    pub member_no: String,
    /// The bound member's name.
    pub name: String,
    /// The member's role on the card.
    pub role: BindingRole,
    /// When the binding was made (RFC 3339, UTC).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A member as admins see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct MemberView {
    /// The member's id (UUID).
    pub id: Uuid,
    /// The member's number.
    pub member_no: String,
    /// The member's name.
    pub name: String,
    /// The member's phone, if any.
    pub phone: Option<String>,
    /// The member's email, if any.
    pub email: Option<String>,
    /// The member's status.
    pub status: MemberStatus,
    /// When the member was created (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
}

/// A merchant as admins see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct MerchantView {
    /// The merchant's id (UUID).
    pub id: Uuid,
    /// The merchant's code.
    pub code: String,
    /// The merchant's name.
    pub name: String,
    /// How to reach the merchant, if given.
    pub contact: Option<String>,
    /// The merchant's status.
    pub status: MerchantStatus,
    /// When the merchant was created (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
}

/// A card as its members (or admins) see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct CardView {
    /// The card's id (UUID).
    pub id: Uuid,
    /// The card's number.
    pub card_no: String,
    /// The card's type.
    pub card_type: CardType,
    /// The card's name.
    pub name: String,
    /// The card's balance: a decimal string in the card's currency.
    pub balance: Money,
    /// The card's points.
    pub points: i64,
    /// The card's level.
    pub level: i32,
    /// The card's level discount.
    pub discount: Discount,
    /// What a payment by this caller would be priced at now (level and corporate discounts).
    pub effective_discount: Discount,
    /// The corporate card's fixed discount, if any.
    pub fixed_discount: Option<Discount>,
    /// The card's status.
    pub status: CardStatus,
    /// When the card expires (RFC 3339, UTC); null: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// The caller's binding role (`null` for admins who are not bound).
    pub role: Option<BindingRole>,
    /// When the card was created (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
}

/// The kind of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoStaticStr)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "tx_type", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum TxType {
    /// `payment`.
    Payment,
    /// `refund`.
    Refund,
    /// `recharge`.
    Recharge,
}

impl TxType {
    /// The type as stored and sent: `payment`, `refund`, `recharge`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A transaction's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "tx_status", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum TxStatus {
    /// `processing`.
    Processing,
    /// `completed`.
    Completed,
    /// `failed`.
    Failed,
    /// `cancelled`.
    Cancelled,
    /// `refunded`.
    Refunded,
}

/// How a transaction was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "payment_method", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum PaymentMethod {
    /// `balance`.
    Balance,
    /// `cash`.
    Cash,
    /// `wechat`.
    Wechat,
    /// `alipay`.
    Alipay,
    /// `bank`.
    Bank,
    /// `manual`.
    Manual,
}

/// A transaction as clients see it (decoded from `transaction_views` JSON, or from the plain
/// columns of `db::transactions::push_tx_columns` in lists).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct TransactionView {
    /// The transaction's id (UUID).
    pub id: Uuid,
    /// The transaction's number.
    pub tx_no: String,
    /// The transaction's type.
    pub tx_type: TxType,
    /// The card's id (UUID).
    pub card_id: Uuid,
    /// The card's number.
    pub card_no: String,
    /// The merchant's code, when a merchant took part.
    pub merchant_code: Option<String>,
    /// The amount before discount: a decimal string.
    pub raw_amount: Money,
    /// The multiplier used, e.g. `0.950`.
    pub discount_applied: Discount,
    /// The amount after discount: a decimal string.
    pub final_amount: Money,
    /// Points it earned.
    pub points_earned: i64,
    /// The transaction's status.
    pub status: TxStatus,
    /// How it was paid.
    pub payment_method: PaymentMethod,
    /// For refunds: the payment refunded.
    pub original_tx_no: Option<String>,
    /// The external order id given with it, if any.
    pub external_order_id: Option<String>,
    /// Free-form JSON; a merchant's operator (cashier) is recorded under `operator`.
    #[schema(value_type = Option<Object>)]
    pub tag: Option<serde_json::Value>,
    /// The merchant's cashier, when one logged in with an operator name.
    pub operator: Option<String>,
    /// For payments: how much has been refunded so far.
    pub refunded_total: Option<Money>,
    /// When it was made (RFC 3339, UTC).
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
    /// credentials, a POS key, or a transaction recorded before staff existed). Shown to the
    /// merchant and admins; always null to members.
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
    /// As a member sees it: which staff member or POS key (terminal) a merchant used is the
    /// merchant's business.
    pub fn for_member(mut self) -> TransactionView {
        self.staff_id = None;
        self.pos_key_id = None;
        self.terminal_id = None;
        self
    }

    /// Its position in a transaction list (`db::transactions::TX_ORDER`).
    pub fn page_key(&self) -> (DateTime<Utc>, String) {
        (self.created_at, self.id.to_string())
    }
}
