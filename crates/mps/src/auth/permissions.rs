//! Roles and the permissions each grants, named as in the upstream design.
//!
//! A route declares the one permission it needs by taking `Authorized<P>` (see `auth::extract`);
//! the permission's role is implied by which role holds it.

use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr};

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema, IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    Member,
    Merchant,
    Admin,
}

impl Role {
    /// The role as sent and stored: `member`, `merchant`, `admin`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Every permission the role holds.
    pub fn permissions(self) -> &'static [&'static str] {
        match self {
            Role::Member => MEMBER,
            Role::Merchant => MERCHANT,
            Role::Admin => ADMIN,
        }
    }
}

const MEMBER: &[&str] = &[
    "member:read_cards",
    "member:generate_qr",
    "member:recharge",
    "member:read_transactions",
    "member:bind_card",
    "member:unbind_card",
    "member:manage_identities",
];

/// A merchant's owner: the merchant's own credentials, or a staff member with role `owner`.
const MERCHANT: &[&str] = &[
    "merchant:charge",
    "merchant:refund",
    "merchant:recharge",
    "merchant:validate_qr",
    "merchant:read_transactions",
    "merchant:read_summary",
    "merchant:generate_settlement",
    "merchant:read_settlements",
    "merchant:refund_any",
    "merchant:manage_staff",
    "merchant:manage_managers",
    "merchant:manage_stores",
    "merchant:manage_keys",
    "merchant:manage_webhooks",
    "merchant:manage_settings",
    "merchant:read_statements",
];

/// A manager: every refund allowed, all reports, manages cashiers.
const MANAGER: &[&str] = &[
    "merchant:charge",
    "merchant:refund",
    "merchant:recharge",
    "merchant:validate_qr",
    "merchant:read_transactions",
    "merchant:read_summary",
    "merchant:read_settlements",
    "merchant:refund_any",
    "merchant:manage_staff",
    "merchant:read_statements",
];

/// A cashier: charges, counter top-ups, and refunds within the merchant's limit on the same day.
const CASHIER: &[&str] = &["merchant:charge", "merchant:refund", "merchant:recharge", "merchant:validate_qr"];

/// A staff member's role within a merchant.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema, sqlx::Type, IntoStaticStr,
)]
#[sqlx(type_name = "staff_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum StaffRole {
    Owner,
    Manager,
    Cashier,
}

impl StaffRole {
    /// The role as sent and stored: `owner`, `manager`, `cashier`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Every permission the role holds (an owner holds the merchant's).
    pub fn permissions(self) -> &'static [&'static str] {
        match self {
            StaffRole::Owner => MERCHANT,
            StaffRole::Manager => MANAGER,
            StaffRole::Cashier => CASHIER,
        }
    }
}

/// What a POS key may be given; a key never manages staff, keys, stores, webhooks or settings.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema, IntoStaticStr, EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum KeyScope {
    /// Charge by QR and validate QR codes.
    Charge,
    /// Refund, within the cashier limits (amount and same day).
    Refund,
    /// Read the merchant's transactions, daily summary and settlements.
    Read,
}

impl KeyScope {
    /// The scope as sent and stored: `charge`, `refund`, `read`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The scope named `text` exactly (lowercase), if any.
    pub fn parse(text: &str) -> Option<KeyScope> {
        text.parse().ok()
    }

    /// The permissions the scope grants.
    pub fn permissions(self) -> &'static [&'static str] {
        match self {
            KeyScope::Charge => &["merchant:charge", "merchant:validate_qr"],
            KeyScope::Refund => &["merchant:refund"],
            KeyScope::Read => &["merchant:read_transactions", "merchant:read_summary", "merchant:read_settlements"],
        }
    }
}

const ADMIN: &[&str] = &[
    "admin:create_member",
    "admin:read_members",
    "admin:update_member",
    "admin:suspend_member",
    "admin:manage_merchants",
    "admin:manage_cards",
    "admin:credit_cards",
    "admin:adjust_points",
    "admin:system_maintenance",
    "admin:read_statistics",
    "admin:read_audit",
    "admin:manage_levels",
    "admin:manage_settlements",
    "admin:read_transactions",
    "admin:batch_operations",
    "admin:manage_webhooks",
];

/// A permission a route can require: a zero-sized type naming it.
pub trait Permission: Send + Sync + 'static {
    const NAME: &'static str;
}

macro_rules! permissions {
    ($($ty:ident => $name:literal),* $(,)?) => {
        $(
            #[doc = concat!("The `", $name, "` permission.")]
            #[derive(Debug)]
            pub struct $ty;
            impl Permission for $ty {
                const NAME: &'static str = $name;
            }
        )*
    };
}

permissions! {
    ReadCards => "member:read_cards",
    GenerateQr => "member:generate_qr",
    MemberRecharge => "member:recharge",
    MemberReadTransactions => "member:read_transactions",
    BindCard => "member:bind_card",
    UnbindCard => "member:unbind_card",
    ManageIdentities => "member:manage_identities",
    Charge => "merchant:charge",
    Refund => "merchant:refund",
    MerchantRecharge => "merchant:recharge",
    ValidateQr => "merchant:validate_qr",
    MerchantReadTransactions => "merchant:read_transactions",
    ReadSummary => "merchant:read_summary",
    GenerateSettlement => "merchant:generate_settlement",
    ReadSettlements => "merchant:read_settlements",
    RefundAny => "merchant:refund_any",
    ManageStaff => "merchant:manage_staff",
    ManageManagers => "merchant:manage_managers",
    ManageStores => "merchant:manage_stores",
    ManageKeys => "merchant:manage_keys",
    ManageWebhooks => "merchant:manage_webhooks",
    ManageMerchantSettings => "merchant:manage_settings",
    ReadStatements => "merchant:read_statements",
    CreateMember => "admin:create_member",
    ReadMembers => "admin:read_members",
    UpdateMember => "admin:update_member",
    SuspendMember => "admin:suspend_member",
    ManageMerchants => "admin:manage_merchants",
    ManageCards => "admin:manage_cards",
    CreditCards => "admin:credit_cards",
    AdjustPoints => "admin:adjust_points",
    SystemMaintenance => "admin:system_maintenance",
    ReadStatistics => "admin:read_statistics",
    ReadAudit => "admin:read_audit",
    ManageLevels => "admin:manage_levels",
    ManageSettlements => "admin:manage_settlements",
    AdminReadTransactions => "admin:read_transactions",
    ManageProgrammeWebhooks => "admin:manage_webhooks",
}
