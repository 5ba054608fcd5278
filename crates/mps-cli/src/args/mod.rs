//! The command line: global options and every command, as clap derives.
//!
//! Member and merchant commands sit at the top level (they are what people type all day);
//! back-office commands live under `admin`.

use clap::{Args, Parser, Subcommand, ValueEnum};

use mps_api::money::Money;

mod admin;

pub use admin::{AccountCommand, AdminCommand, CardCommand, CardTypeArg, CreateAccount, IssuedCardType};

/// Terminal client of MPS: cards and QR codes for members, the till for merchants, the back
/// office for admins.
#[derive(Debug, Parser)]
#[command(name = "mps-cli", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Base URL of the MPS API.
    #[arg(long, global = true, env = "API_BASE_URL", default_value = "http://127.0.0.1:8000", value_name = "URL")]
    pub api: String,
    /// Print the API's data as JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for each request before giving up on it.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
}

/// What a one-time code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OtpPurpose {
    Register,
    Login,
    Reset,
}

/// Every command; the role it needs is said in its help.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the server: its health and the state of each service.
    Test,
    /// Log in and keep the session (password from MPS_PASSWORD or a prompt).
    Login {
        role: LoginRole,
        /// Member: phone or member_no; merchant: code; admin: email.
        identifier: String,
        /// Merchants: the cashier's name, recorded on every transaction (older shared logins;
        /// staff log in with --username instead).
        #[arg(long, value_name = "NAME", conflicts_with = "username")]
        operator: Option<String>,
        /// Merchants: log in as this staff member of the merchant (owner, manager or cashier).
        #[arg(long, value_name = "USER")]
        username: Option<String>,
        /// Members: log in with a code texted to the phone instead of a password (the code from
        /// MPS_OTP, which also skips sending one, or a prompt).
        #[arg(long)]
        otp: bool,
    },
    /// Sign yourself up as a member with a code texted to your phone, and log in (the code from
    /// MPS_OTP, which also skips sending one, or a prompt).
    Register {
        phone: String,
        /// Your name.
        #[arg(long)]
        name: String,
        /// Also choose a password (from MPS_PASSWORD or a prompt); without one you log in by code.
        #[arg(long)]
        password: bool,
    },
    /// Text a one-time code to a phone (for `register`, `login --otp` or `reset-password`).
    Otp {
        phone: String,
        #[arg(long, value_enum, default_value = "login")]
        purpose: OtpPurpose,
    },
    /// End the session on the server and forget it here.
    Logout,
    /// Who the saved session speaks for.
    Whoami,
    /// Member: your cards, balances and points.
    Cards,
    /// Member: show a payment QR code for a card.
    Qr {
        card_no: String,
        /// Lifetime in seconds (the server clamps it, by default to 60..3600).
        #[arg(long, value_name = "S")]
        ttl: Option<i64>,
        /// Draw dark modules light, for terminals with a light background.
        #[arg(long)]
        invert: bool,
    },
    /// Member: top a card up through a payment channel.
    Recharge {
        card_no: String,
        #[arg(value_parser = parse_amount)]
        amount: Money,
        #[arg(long, value_enum)]
        method: Channel,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Member or merchant: your transactions, newest first.
    Tx {
        /// Members: only this card.
        #[arg(long, value_name = "CARD_NO")]
        card: Option<String>,
        #[command(flatten)]
        page: PageArg,
    },
    /// Member: the points ledger of a card.
    Points {
        card_no: String,
        #[command(flatten)]
        page: PageArg,
    },
    /// Member: join a shared (corporate) card (binding password from MPS_BINDING_PASSWORD or a prompt).
    Bind {
        card_no: String,
        /// `member` gets the card's discount; `viewer` only sees the card.
        #[arg(long, value_enum, default_value = "member")]
        role: BindRole,
    },
    /// Member: leave a shared card.
    Unbind { card_no: String },
    /// Merchant: check a QR code without charging it.
    Validate {
        /// The QR plain (base64url: it may begin with `-`, which is a value here, not an option).
        #[arg(allow_hyphen_values = true)]
        qr: String,
    },
    /// Merchant: charge a member's QR code.
    Charge {
        /// The QR plain (base64url: it may begin with `-`, which is a value here, not an option).
        #[arg(allow_hyphen_values = true)]
        qr: String,
        /// Amount before discount.
        #[arg(value_parser = parse_amount)]
        amount: Money,
        /// Your order id: an order is charged at most once.
        #[arg(long, value_name = "ID")]
        order_id: Option<String>,
        /// A tag recorded on the transaction, e.g. `--tag table=12` (repeatable).
        #[arg(long = "tag", value_name = "K=V", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
        /// The store charging, by code (default: your own store, else the merchant's default).
        #[arg(long, value_name = "CODE")]
        store: Option<String>,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Merchant: refund all or part of a payment.
    Refund {
        tx_no: String,
        #[arg(value_parser = parse_amount)]
        amount: Money,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Merchant: top a card up at the counter (cash).
    Topup {
        card_no: String,
        #[arg(value_parser = parse_amount)]
        amount: Money,
        /// The store topping up, by code (default: your own store, else the merchant's default).
        #[arg(long, value_name = "CODE")]
        store: Option<String>,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Merchant: a day's sales, hour by hour.
    Sales {
        /// The business day (default: today in the server's business time zone).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<chrono::NaiveDate>,
    },
    /// Merchant: settle a closed period.
    Settle {
        mode: SettleMode,
        /// t_plus_1: the day settled.
        #[arg(long, value_name = "YYYY-MM-DD", required_if_eq("mode", "t_plus_1"))]
        date: Option<chrono::NaiveDate>,
        /// monthly: the month settled.
        #[arg(long, value_name = "YYYY-MM", required_if_eq("mode", "monthly"))]
        month: Option<String>,
        /// realtime: start of the period (RFC 3339), inclusive.
        #[arg(long, value_name = "TIME", required_if_eq("mode", "realtime"))]
        start: Option<String>,
        /// realtime: end of the period (RFC 3339), exclusive.
        #[arg(long, value_name = "TIME", required_if_eq("mode", "realtime"))]
        end: Option<String>,
    },
    /// Merchant: your settlements.
    Settlements {
        #[command(flatten)]
        page: PageArg,
    },
    /// Merchant owner: POS API keys for your tills.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Admin: the back office.
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// `keys …`: POS API keys (merchant owners).
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for one store; its secret is printed this once.
    Create {
        /// A name for the till, shown as the operator of its transactions.
        #[arg(long)]
        name: String,
        /// The store the key acts as, by code.
        #[arg(long, value_name = "CODE")]
        store: String,
        /// What the key may do (repeatable, or comma-separated).
        #[arg(long = "permission", value_enum, value_delimiter = ',', required = true)]
        permissions: Vec<KeyPermission>,
        /// The terminal the key is installed on.
        #[arg(long, value_name = "ID")]
        terminal: Option<String>,
        /// When the key stops working (RFC 3339).
        #[arg(long, value_name = "TIME")]
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Your keys, newest first (never their secrets).
    List {
        #[command(flatten)]
        page: PageArg,
    },
    /// Revoke a key: it stops working at once.
    Revoke {
        /// The key's id.
        id: uuid::Uuid,
    },
}

/// What a POS key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyPermission {
    Charge,
    Refund,
    Read,
}

/// The `Idempotency-Key` of a command that moves money.
#[derive(Debug, Args)]
pub struct KeyArg {
    /// Idempotency-Key to send (default: a new one per command, reused on its retries). Give the
    /// key printed by an attempt whose outcome is unknown: the server then answers with that
    /// attempt's result instead of moving the money again.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

/// `--cursor`, `--limit` and `--count` of a list.
#[derive(Debug, Args, Clone)]
pub struct PageArg {
    /// Where to continue: the `--cursor` printed under the page before (first page without).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Items per page (the server allows at most 100).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,
    /// Also count every match (the server gives up on counts that take too long).
    #[arg(long)]
    pub count: bool,
}

/// Who logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoginRole {
    Member,
    Merchant,
    Admin,
}

/// A member's recharge channel.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Channel {
    Wechat,
    Alipay,
    Bank,
}

/// How a member joins a shared card.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BindRole {
    Member,
    Viewer,
}

/// Settlement modes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SettleMode {
    Realtime,
    #[value(name = "t_plus_1")]
    TPlus1,
    Monthly,
}

/// An amount as the API accepts it, checked before anything is sent.
pub fn parse_amount(text: &str) -> Result<Money, String> {
    Money::parse_text(text).map_err(|problem| format!("the amount {problem}"))
}

/// `key=value` of a `--tag`.
pub fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err("a tag is written key=value, e.g. table=12".to_owned()),
    }
}

/// The wire name of a clap value (its first possible value).
pub fn wire_name(value: &impl ValueEnum) -> String {
    value.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn settlement_modes_use_the_api_names() {
        assert_eq!(wire_name(&SettleMode::TPlus1), "t_plus_1");
        assert_eq!(wire_name(&Channel::Wechat), "wechat");
    }

    #[test]
    fn amounts_and_tags_are_checked_locally() {
        assert_eq!(parse_amount("12.5").map(|m| m.to_string()), Ok("12.50".to_owned()));
        assert!(parse_amount("12.505").is_err());
        assert!(parse_amount("-3").is_err());
        assert_eq!(parse_tag("table=12"), Ok(("table".to_owned(), "12".to_owned())));
        assert!(parse_tag("=12").is_err());
        assert!(parse_tag("table").is_err());
    }

    #[test]
    fn settle_needs_the_option_of_its_mode() {
        assert!(Cli::try_parse_from(["mps-cli", "settle", "t_plus_1"]).is_err());
        assert!(Cli::try_parse_from(["mps-cli", "settle", "t_plus_1", "--date", "2026-01-31"]).is_ok());
        assert!(Cli::try_parse_from(["mps-cli", "settle", "monthly", "--month", "2026-01"]).is_ok());
    }

    #[test]
    fn a_qr_plain_that_begins_with_a_hyphen_is_the_qr_not_an_option() {
        // One QR plain in 64 begins with `-` (base64url); the CLI suite once drew one.
        let qr = "-TlRfwChJfjJl3tZwsqlaWohFR9vMtBOkAYWI4BmVn0";
        let charge = Cli::try_parse_from(["mps-cli", "charge", qr, "20.00"]).map(|c| c.command);
        assert!(matches!(&charge, Ok(Command::Charge { qr: parsed, .. }) if parsed == qr), "{charge:?}");
        let validate = Cli::try_parse_from(["mps-cli", "validate", qr]).map(|c| c.command);
        assert!(matches!(&validate, Ok(Command::Validate { qr: parsed }) if parsed == qr), "{validate:?}");
    }

    #[test]
    fn negative_point_adjustments_parse() {
        let cli = Cli::try_parse_from(["mps-cli", "admin", "points", "STD00000001", "-50", "--reason", "x"]);
        assert!(matches!(cli.map(|c| c.command), Ok(Command::Admin(AdminCommand::Points { delta: -50, .. }))));
    }
}
