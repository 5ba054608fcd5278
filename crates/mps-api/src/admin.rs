//! The programme's administration (members, merchants, cards, credits, levels, reports, audit):
//! requests and responses.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::{BindingRole, CardStatus, CardType, CardView, MemberView, TransactionView};
use crate::member::CardHistory;
use crate::merchant::SettlementStatus;
use crate::money::{AmountInput, DecimalInput, Discount, Money, SignedMoney};
use crate::present;

/// One level of a new level table.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LevelInput {
    /// The level's number.
    pub level: i32,
    /// The level's name.
    pub name: String,
    /// The fewest points of the level (inclusive).
    pub min_points: i64,
    /// Leave out (or `null`) on the last level to make it open-ended.
    pub max_points: Option<i64>,
    /// Multiplier in (0, 1] with at most 3 decimals, e.g. `"0.950"`.
    pub discount: DecimalInput,
}

/// Replaces the whole level table.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReplaceLevelsRequest {
    /// The whole new table: ranges from 0 upwards without gaps or overlaps.
    pub levels: Vec<LevelInput>,
}

/// The level table.
#[derive(Debug, Serialize, ToSchema)]
pub struct LevelTableResponse {
    /// Its levels.
    pub levels: Vec<Level>,
}

/// Credits a card.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditRequest {
    /// The amount to add: a decimal string in the card's currency.
    pub amount: AmountInput,
    /// Why, if given.
    pub reason: Option<String>,
}

/// Adds or removes a card's points.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdjustPointsRequest {
    /// The card (UUID).
    pub card_id: Uuid,
    /// Points to add (positive) or remove (negative); never zero.
    pub delta_points: i64,
    /// Why.
    pub reason: String,
}

/// A points adjustment done.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdjustPointsResponse {
    /// The card's id (UUID).
    pub card_id: Uuid,
    /// The card's number.
    pub card_no: String,
    /// The card's points before.
    pub points_before: i64,
    /// The card's points after.
    pub points_after: i64,
    /// The card's level before.
    pub level_before: i32,
    /// The card's level after.
    pub level_after: i32,
}

/// The outcome of revoking tokens in bulk.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokeAllResponse {
    /// How many live tokens were revoked.
    pub revoked: i64,
}

// No `Debug`: it holds a secret that must never reach a log.
/// Creates a merchant.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreateMerchantRequest {
    /// 3 to 20 letters and digits, unique regardless of case.
    pub code: String,
    /// The merchant's name.
    pub name: String,
    /// How to reach the merchant, if given.
    pub contact: Option<String>,
    /// At least 8 characters.
    pub password: String,
}

/// A partial edit of a merchant: only the fields sent change. The code never changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMerchantRequest {
    /// Cannot be `null`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = false)]
    pub name: Option<Option<String>>,
    /// `null` (or blank) removes the contact.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub contact: Option<Option<String>>,
}

/// The figures (not flattened from `Statistics`: the cached copy is read back, and serde's
/// flatten cannot read numbers under `arbitrary_precision`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatisticsResponse {
    /// Members that are not deleted.
    pub members: AccountCounts,
    /// Cards by status and type.
    pub cards: CardCounts,
    /// Merchants by status.
    pub merchants: AccountCounts,
    /// Today's figures.
    pub today: TodayFigures,
    /// "Today" in the business time zone.
    pub date: NaiveDate,
    /// When these figures were counted (they may be up to 30 s old).
    pub generated_at: DateTime<Utc>,
}

/// An external identity to link to a member.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExternalIdentity {
    /// e.g. `wechat`: lower-case letters, digits and `_`.
    pub provider: String,
    /// The provider's id of the user.
    pub external_id: String,
}

// No `Debug`: it holds a secret that must never reach a log.
/// Creates a member.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreateMemberRequest {
    /// The member's name.
    pub name: String,
    /// The member's phone, if any.
    pub phone: Option<String>,
    /// The member's email, if any.
    pub email: Option<String>,
    /// At least 8 characters; without one the member cannot log in until an admin sets it.
    pub password: Option<String>,
    /// An external identity to link to the member, if any.
    pub external_identity: Option<ExternalIdentity>,
}

/// A member created, with its card.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateMemberResponse {
    /// The new member.
    pub member: MemberView,
    /// The member's new standard card.
    pub card: CardView,
}

/// A partial edit of a member: only the fields sent change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    /// Cannot be `null`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = false)]
    pub name: Option<Option<String>>,
    /// `null` removes the phone number.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// `null` removes the email address.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
}

/// No `Debug`: it may hold a binding password, which must never reach a log.
#[derive(Deserialize, ToSchema)]
pub struct CreateCardRequest {
    /// `corporate` or `voucher` (standard cards come with their member).
    pub card_type: CardType,
    /// The member (UUID) who will own the card.
    pub owner_member_id: Uuid,
    /// The card's name, if given.
    pub name: Option<String>,
    /// Corporate only: the multiplier its members pay at, in [0.01, 1.00].
    pub fixed_discount: Option<DecimalInput>,
    /// Corporate only: what members must give to join the card (at least 8 characters).
    pub binding_password: Option<String>,
    /// Voucher only, required: the balance it is issued with.
    pub initial_balance: Option<AmountInput>,
    /// Optional expiry, in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A card issued.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateCardResponse {
    /// The new card.
    pub card: AdminCardView,
    /// A voucher's initial `manual` recharge.
    pub initial_transaction: Option<TransactionView>,
}

/// A card as admins see it, with its latest movements and points ledger rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminCardDetail {
    /// The card.
    #[serde(flatten)]
    pub card: AdminCardView,
    /// The latest movements (with `balance_after`) and points ledger rows (with `points_after`).
    pub history: CardHistory,
}

/// Binds a member to a card.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddBindingRequest {
    /// The member (UUID) to bind.
    pub member_id: Uuid,
    /// `owner`, `admin`, `member` or `viewer`.
    pub role: BindingRole,
}

/// Which binding to remove: `?member_id=` or a body `{"member_id": …}`.
#[derive(Debug, Default, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveBindingRequest {
    /// The bound member (UUID).
    pub member_id: Option<Uuid>,
}

/// Changes a binding's role.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangeRoleRequest {
    /// The new role.
    pub role: BindingRole,
}

/// Moves a card to a new status.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CardStatusRequest {
    /// `active`, `inactive` (frozen), `lost` or `closed`.
    pub status: CardStatus,
    /// Why, if given.
    pub reason: Option<String>,
}

/// A card after a status change.
#[derive(Debug, Serialize, ToSchema)]
pub struct CardStatusResponse {
    /// The card now.
    pub card: AdminCardView,
    /// The stored status before the move.
    pub previous_status: Option<CardStatus>,
}

/// No `Debug`: it holds a secret that must never reach a log.
#[derive(Deserialize, ToSchema)]
pub struct BindingPasswordRequest {
    /// At least 8 characters; `null` removes it, so members can no longer join the card.
    pub binding_password: Option<String>,
}

/// The optional body of an action such as suspend or activate: none, `{}` or `{"reason": "…"}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ActionRequest {
    /// Why, for the audit log (at most 500 characters).
    pub reason: Option<String>,
}

/// A new password set by an admin.
// No `Debug`: it holds a secret that must never reach a log.
#[derive(Deserialize, ToSchema)]
pub struct PasswordResetRequest {
    /// At least 8 characters.
    pub password: String,
}

/// `json` (default) or `csv`.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    #[default]
    /// `json`.
    Json,
    /// `csv`.
    Csv,
}

/// Moves a settlement to a new status.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SettlementStatusRequest {
    /// pending → settled → paid, pending → failed → pending.
    pub status: SettlementStatus,
}

/// Accounts by status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountCounts {
    /// All of them.
    pub total: i64,
    /// Those `active`.
    pub active: i64,
    /// Those `suspended`.
    pub suspended: i64,
}

/// Cards by type.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardTypeCounts {
    /// Standard cards.
    pub standard: i64,
    /// Voucher cards.
    pub voucher: i64,
    /// Corporate cards.
    pub corporate: i64,
}

/// Cards by effective status, and by type.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardCounts {
    /// All cards.
    pub total: i64,
    /// Cards `active`.
    pub active: i64,
    /// Frozen.
    pub inactive: i64,
    /// Cards `lost`.
    pub lost: i64,
    /// Cards `expired`.
    pub expired: i64,
    /// Cards `closed`.
    pub closed: i64,
    /// Cards by type.
    pub by_type: CardTypeCounts,
}

/// A count and the sum of final amounts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CountAmount {
    /// How many.
    pub count: i64,
    /// The sum of their final amounts.
    pub amount: Money,
}

/// Today in the business time zone.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TodayFigures {
    /// Completed payments (and those refunded since).
    pub payments: CountAmount,
    /// Completed refunds.
    pub refunds: CountAmount,
    /// Completed recharges of every channel: member orders, counter top-ups, admin credits.
    pub recharges: CountAmount,
    /// Payment QR codes issued today.
    pub qr_issued: i64,
    /// Members created today.
    pub new_members: i64,
}

/// One level of the table.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Level {
    /// The level's number.
    pub level: i32,
    /// The level's name.
    pub name: String,
    /// The fewest points of the level (inclusive).
    pub min_points: i64,
    /// `null`: open-ended.
    pub max_points: Option<i64>,
    /// The multiplier the level pays at, e.g. `"0.950"`.
    pub discount: Discount,
}

/// One audit event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct AuditEventView {
    /// The event's id.
    pub id: i64,
    /// When it happened (RFC 3339, UTC).
    pub occurred_at: DateTime<Utc>,
    /// The actor's id (UUID), when known.
    pub actor_id: Option<Uuid>,
    /// `member`, `merchant`, `admin`, `system` or `anonymous`.
    pub actor_role: String,
    /// Upper-case verb such as `CARD_FREEZE`.
    pub action: String,
    /// The kind of object acted on, if any.
    pub object_type: Option<String>,
    /// The id of the object acted on, if any.
    pub object_id: Option<String>,
    /// Free-form details of the event.
    #[schema(value_type = Object)]
    pub context: Value,
    /// The id of the HTTP request behind it, if any.
    pub request_id: Option<String>,
}

/// A card as admins see it: the card view priced for its first owner, plus its bookkeeping.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct AdminCardView {
    /// The card.
    #[serde(flatten)]
    #[cfg_attr(feature = "sqlx", sqlx(flatten))]
    pub card: CardView,
    /// The status the state machine moves; `status` shows `expired` once past `expires_at`.
    pub stored_status: CardStatus,
    /// When the card last changed (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
    /// Whether members can join the card (corporate cards with a binding password).
    pub has_binding_password: bool,
    /// Live bindings, the owner's included.
    pub binding_count: i64,
    /// The owner's id (UUID), if the card has an owner.
    pub owner_member_id: Option<Uuid>,
    /// The owner's member number, if the card has an owner.
    pub owner_member_no: Option<String>,
    /// The owner's name, if the card has an owner.
    pub owner_name: Option<String>,
    /// The owner's phone, if the card has an owner with a phone.
    pub owner_phone: Option<String>,
}

/// Outstanding value of one group of cards.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct LiabilityGroup {
    /// The card type, or the age bucket of the last movement (`0-30d`, `31-90d`, `91-180d`,
    /// `181-365d`, `over-365d`).
    pub group: String,
    /// Cards holding a balance.
    pub cards: i64,
    /// The value the group's cards hold.
    pub amount: SignedMoney,
}

/// The liability report of a window `[from, to)`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LiabilityReport {
    /// The window's inclusive start (RFC 3339, UTC).
    pub from: DateTime<Utc>,
    /// The window's exclusive end (RFC 3339, UTC).
    pub to: DateTime<Utc>,
    /// Stored value owed at `from`.
    pub opening_liability: SignedMoney,
    /// Completed recharges in the window (online, counter, admin credits, voucher issues).
    pub recharges_in: SignedMoney,
    /// Completed refunds in the window (money back onto cards).
    pub refunds_in: SignedMoney,
    /// Payments in the window.
    pub payments_out: SignedMoney,
    /// Stored value owed at `to` = opening + recharges + refunds − payments, to the cent.
    pub closing_liability: SignedMoney,
    /// The closing liability by card type.
    pub by_card_type: Vec<LiabilityGroup>,
    /// The closing liability by how long before `to` each card last moved.
    pub by_last_activity: Vec<LiabilityGroup>,
    /// Balances at `to` on voucher cards expired by then or closed: value unlikely to be spent.
    pub breakage: LiabilityGroup,
}
