//! Roles (who a token speaks for, a staff member's role, a POS key's scopes) and the
//! permissions each grants, named as in the upstream design (`/auth/me` lists them).

use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr};

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema, IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    /// A member (card holder).
    Member,
    /// A merchant: its own credentials, a staff member or a POS key.
    Merchant,
    /// A programme administrator.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema, IntoStaticStr)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "staff_role", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum StaffRole {
    /// Holds every merchant permission.
    Owner,
    /// Every refund, the reports, manages cashiers.
    Manager,
    /// Charges, counter top-ups and limited same-day refunds.
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
