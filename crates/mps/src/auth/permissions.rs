//! The permissions a route can require; which role holds which is `mps_api::roles`.
//!
//! A route declares the one permission it needs by taking `Authorized<P>` (see `auth::extract`);
//! the permission's role is implied by which role holds it.

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
