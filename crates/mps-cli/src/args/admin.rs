//! `admin …`: the back office's commands.

use clap::{Args, Subcommand, ValueEnum};

use super::{KeyArg, PageArg, parse_amount};
use mps_api::money::Money;

/// `admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Members: create, search, show, suspend, activate, reset a password.
    #[command(subcommand)]
    Member(AccountCommand),
    /// Merchants: create, search, show, suspend, activate, reset a password.
    #[command(subcommand)]
    Merchant(AccountCommand),
    /// Cards: issue, search, show, freeze, unfreeze, credit, list bindings.
    #[command(subcommand)]
    Card(CardCommand),
    /// Add (positive) or remove (negative) points on a card.
    Points {
        /// Card number or id.
        card: String,
        #[arg(allow_negative_numbers = true)]
        delta: i64,
        #[arg(long)]
        reason: String,
    },
    /// Members, cards, merchants and today's figures.
    Stats,
    /// The audit log, newest first.
    Audit {
        #[arg(long)]
        action: Option<String>,
        /// Actor id (UUID).
        #[arg(long, value_name = "ID")]
        actor: Option<String>,
        #[arg(long, value_name = "TYPE")]
        object_type: Option<String>,
        #[arg(long, value_name = "ID")]
        object_id: Option<String>,
        /// From (inclusive): YYYY-MM-DD or RFC 3339.
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Until (exclusive): YYYY-MM-DD or RFC 3339.
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        #[command(flatten)]
        page: PageArg,
    },
}

/// `admin member …` and `admin merchant …`: the same verbs on both kinds of account.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create the account (password from MPS_NEW_PASSWORD or a prompt).
    Create(CreateAccount),
    /// Search accounts.
    List {
        /// Free text: name, phone, email, number or code.
        #[arg(long, short)]
        q: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        page: PageArg,
    },
    /// One account, by id, member_no or merchant code.
    Show { account: String },
    /// Suspend: its sessions end and it can no longer pay or be paid.
    Suspend {
        account: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Activate a suspended account.
    Activate {
        account: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reset the password (from MPS_NEW_PASSWORD or a prompt); its sessions end.
    Password { account: String },
}

/// What `create` asks for; merchants need `--code`, members may give phone and email.
#[derive(Debug, Args)]
pub struct CreateAccount {
    #[arg(long)]
    pub name: String,
    /// Merchants: 3 to 20 letters and digits.
    #[arg(long)]
    pub code: Option<String>,
    /// Merchants: how to reach them.
    #[arg(long)]
    pub contact: Option<String>,
    /// Members.
    #[arg(long)]
    pub phone: Option<String>,
    /// Members.
    #[arg(long)]
    pub email: Option<String>,
    /// Members: create without a password (the member cannot log in until one is set).
    #[arg(long)]
    pub no_password: bool,
}

/// `admin card …`
#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Issue a corporate card or a voucher.
    Create {
        #[arg(long = "type", value_enum)]
        card_type: IssuedCardType,
        /// The owner: member id or member_no.
        #[arg(long)]
        owner: String,
        #[arg(long)]
        name: Option<String>,
        /// Corporate: the fixed discount multiplier, e.g. 0.90.
        #[arg(long, value_name = "MULTIPLIER")]
        discount: Option<String>,
        /// Corporate: set a binding password (from MPS_BINDING_PASSWORD or a prompt).
        #[arg(long)]
        binding_password: bool,
        /// Voucher: the initial balance.
        #[arg(long, value_parser = parse_amount)]
        balance: Option<Money>,
        /// Expiry, RFC 3339.
        #[arg(long, value_name = "TIME")]
        expires: Option<String>,
    },
    /// Search cards.
    List {
        /// Part of the card number, or of the owner's name or phone.
        #[arg(long, short)]
        q: Option<String>,
        #[arg(long = "type", value_enum)]
        card_type: Option<CardTypeArg>,
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        page: PageArg,
    },
    /// One card, by id or card_no.
    Show { card: String },
    /// Freeze a card: it cannot pay until unfrozen.
    Freeze {
        card: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Unfreeze a frozen card.
    Unfreeze {
        card: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Credit a standard card directly (payment method `manual`).
    Credit {
        card: String,
        #[arg(value_parser = parse_amount)]
        amount: Money,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Who is bound to a card, and how.
    Bindings { card: String },
}

/// Cards an admin issues.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IssuedCardType {
    Corporate,
    Voucher,
}

/// Card types, for filters.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CardTypeArg {
    Standard,
    Voucher,
    Corporate,
}
