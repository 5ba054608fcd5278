//! A member's cards, QR codes, recharges, bindings and identities: requests and responses.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{BindingRole, BindingView, CardType, CardView, TransactionView};
use crate::money::{AmountInput, Money};

/// A single transaction.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionResponse {
    /// The transaction.
    pub transaction: TransactionView,
}

/// The roles a member may take on a card of someone else's.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberBindingRole {
    /// Pays with the corporate discount on their own card.
    Member,
    /// Sees the card, no discount.
    Viewer,
}

impl From<MemberBindingRole> for BindingRole {
    fn from(role: MemberBindingRole) -> Self {
        match role {
            MemberBindingRole::Member => BindingRole::Member,
            MemberBindingRole::Viewer => BindingRole::Viewer,
        }
    }
}

/// No `Debug`: it holds the binding password, which must never reach a log.
#[derive(Deserialize, ToSchema)]
pub struct BindRequest {
    /// The card's number; or give `card_id`.
    pub card_no: Option<String>,
    /// The card's id; or give `card_no`.
    pub card_id: Option<Uuid>,
    /// The role to take on the card.
    pub role: MemberBindingRole,
    /// The card's binding password, set by its owner.
    pub binding_password: String,
}

/// Totals over the cards listed in `items`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CardsSummary {
    /// How many cards are listed.
    pub total_cards: usize,
    /// How many of them are `active`.
    pub active_cards: usize,
    /// The sum of their balances, a decimal string.
    pub total_balance: Money,
    /// The sum of their points.
    pub total_points: i64,
}

/// The cards a member sees, with their totals.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberCardsResponse {
    /// The cards.
    pub items: Vec<CardView>,
    /// Totals over `items`.
    pub summary: CardsSummary,
}

/// One card as a member sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberCardResponse {
    /// The card.
    #[serde(flatten)]
    pub card: CardView,
    /// Present when you own the card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindings: Option<Vec<BindingView>>,
    /// The latest movements (with `balance_after`) and points ledger rows (with `points_after`).
    pub history: CardHistory,
}

/// Asks for a payment QR code for a card.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssueQrRequest {
    /// The card (UUID) to pay with.
    pub card_id: Uuid,
    /// Lifetime in seconds: default 900, clamped to [60, 3600] (configurable).
    pub ttl_seconds: Option<i64>,
}

/// The card a QR code pays with.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QrCard {
    /// The card's number.
    pub card_no: String,
    /// The card's type.
    pub card_type: CardType,
}

/// A new payment QR code.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QrResponse {
    /// Show this as a QR code; it is single-use and never stored in clear.
    pub qr_plain: String,
    /// When the code stops working (RFC 3339, UTC).
    pub expires_at: DateTime<Utc>,
    /// Its lifetime in seconds, as granted.
    pub ttl_seconds: i64,
    /// The card it pays with.
    pub card: QrCard,
}

/// The outcome of revoking a card's QR code.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokeQrResponse {
    /// The card's number.
    pub card_no: String,
    /// False when the card had no live token.
    pub revoked: bool,
}

/// A member's external identities.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IdentityList {
    /// The identities.
    pub items: Vec<IdentityView>,
}

/// Channels a member can pay a recharge through.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum RechargeChannel {
    /// `wechat`.
    Wechat,
    /// `alipay`.
    Alipay,
    /// `bank`.
    Bank,
}

/// Tops up a card.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RechargeRequest {
    /// The card (UUID) to top up.
    pub card_id: Uuid,
    /// The amount to add: a decimal string in the card's currency.
    pub amount: AmountInput,
    /// The channel the recharge is paid through.
    pub payment_method: RechargeChannel,
    /// The payment channel's order id, if any (at most 128 characters).
    pub external_order_id: Option<String>,
}

/// Every recharge answers with its transaction.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RechargeResponse {
    /// The recharge's transaction.
    pub transaction: TransactionView,
}

impl RechargeChannel {
    /// The channel as stored and sent: `wechat`, `alipay`, `bank`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One row of a card's points ledger.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct LedgerEntry {
    /// The row's id.
    pub id: i64,
    /// Points added (positive) or removed (negative).
    pub delta: i64,
    /// The card's points after this row.
    pub points_after: i64,
    /// `payment`, `refund_reverse` or `admin_adjust`.
    pub reason: String,
    /// The number of the transaction behind the row, if any.
    pub tx_no: Option<String>,
    /// A free-text note, if any.
    pub note: Option<String>,
    /// When the row was written (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
}

/// A card's latest movements with the balance after each, and its latest points ledger rows with
/// the points after each (issue 19).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardHistory {
    /// Newest first; each carries `balance_after`.
    pub transactions: Vec<TransactionView>,
    /// Newest first; each carries `points_after`.
    pub points: Vec<LedgerEntry>,
}

/// A binding as a mutation left it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BindingChange {
    /// The card's id (UUID).
    pub card_id: Uuid,
    /// The card's number.
    pub card_no: String,
    /// The bound member's id (UUID).
    pub member_id: Uuid,
    /// The role now (bind, role change) or the role the binding had (unbind).
    pub role: BindingRole,
}

/// An external identity as its member sees it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct IdentityView {
    /// The identity's id (UUID).
    pub id: Uuid,
    /// e.g. `wechat`.
    pub provider: String,
    /// The provider's id of the user (for WeChat, the mini-program openid).
    pub external_id: String,
    /// When the identity was linked (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// When the member last signed in with it (RFC 3339, UTC); null if not recorded.
    pub last_used_at: Option<DateTime<Utc>>,
}
