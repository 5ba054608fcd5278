//! `mps-cli`, the terminal client: the same request and response types as the server, spoken
//! over HTTP.
//!
//! `run` parses nothing itself: `src/main.rs` hands it the parsed [`args::Cli`], and each
//! area module turns one command into one or two API calls and a table or a short report.

pub mod account;
pub mod admin;
pub mod api;
pub mod args;
pub mod error;
pub mod keys;
pub mod member;
pub mod merchant;
pub mod qr;
pub mod reports;
pub mod session;
pub mod signup;
pub mod table;
pub mod tx;
pub mod ui;

use std::process::ExitCode;
use std::time::Duration;

use serde::Deserialize as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

use self::api::{Api, Reply};
use self::args::{Cli, Command, KeyArg, PageArg};
use self::error::{CliError, CliResult};
use self::session::Session;
use self::ui::{Style, Ui};
use mps_api::pagination::Pagination;
use mps_api::roles::Role;

/// What every command works with.
pub struct Ctx {
    pub api: Api,
    pub ui: Ui,
    /// The saved session, when it belongs to this API.
    pub session: Option<Session>,
}

/// Runs a parsed command line and tells how it ended.
pub async fn run(cli: Cli) -> ExitCode {
    let ui = Ui::detect(cli.global.json);
    match execute(cli, ui).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let (true, CliError::Api(failure)) = (ui.json, &error) {
                ui.print_json(&failure.body);
            }
            eprintln!("{}", error.report());
            ExitCode::from(error.exit_code())
        }
    }
}

async fn execute(cli: Cli, ui: Ui) -> CliResult {
    let base = cli.global.api.trim_end_matches('/').to_owned();
    let session = match (&cli.command, session::load()) {
        (Command::Login { .. } | Command::Register { .. } | Command::Otp { .. }, _) => None,
        (_, loaded) => loaded?,
    };
    // A token is only ever sent to the API that issued it.
    let (session, foreign) = match session {
        Some(s) if s.api != base => (None, Some(s.api)),
        other => (other, None),
    };
    if let Some(other) = foreign {
        eprintln!("mps-cli: note: the saved session belongs to {other}, not {base}; it is not used");
    }
    let token = session.as_ref().map(|s| s.token.clone());
    let api = Api::new(&base, Duration::from_secs(cli.global.timeout), token, ui.spinner)?;
    let ctx = Ctx { api, ui, session };
    dispatch(&ctx, cli.command).await
}

async fn dispatch(ctx: &Ctx, command: Command) -> CliResult {
    use Command as C;
    match command {
        C::Test => account::test(ctx).await,
        C::Login { role, identifier, operator, username, otp: false } => {
            account::login(ctx, role, &identifier, account::Staff { operator, username }).await
        }
        C::Login { role, identifier, operator, username: None, otp: true } => {
            signup::login_by_code(ctx, role, &identifier, operator).await
        }
        C::Login { username: Some(_), otp: true, .. } => {
            Err(CliError::local("--otp is for member logins (no --username)"))
        }
        C::Register { phone, name, password } => signup::register(ctx, &phone, &name, password).await,
        C::Otp { phone, purpose } => signup::send_code(ctx, &phone, purpose).await.map(|_| ()),
        C::Logout => account::logout(ctx).await,
        C::Whoami => account::whoami(ctx).await,
        C::Cards => member::cards(ctx).await,
        C::Qr { card_no, ttl, invert } => qr::show(ctx, &card_no, ttl, invert).await,
        C::Recharge { card_no, amount, method, key } => member::recharge(ctx, &card_no, amount, method, &key).await,
        C::Tx { card, page } => match ctx.session.as_ref().map(|s| s.role) {
            Some(Role::Merchant) if card.is_none() => merchant::transactions(ctx, page).await,
            Some(Role::Merchant) => Err(CliError::local("--card is for members; merchants see all their own")),
            _ => member::transactions(ctx, card.as_deref(), page).await,
        },
        C::Points { card_no, page } => member::points(ctx, &card_no, page).await,
        C::Bind { card_no, role } => member::bind(ctx, &card_no, role).await,
        C::Unbind { card_no } => member::unbind(ctx, &card_no).await,
        C::Validate { qr } => merchant::validate(ctx, &qr).await,
        C::Charge { qr, amount, order_id, tags, store, key } => {
            merchant::charge(ctx, merchant::Sale { qr, amount, order_id, tags, store }, &key).await
        }
        C::Refund { tx_no, amount, reason, key } => merchant::refund(ctx, &tx_no, amount, reason, &key).await,
        C::Topup { card_no, amount, store, key } => merchant::topup(ctx, &card_no, amount, store, &key).await,
        C::Sales { date } => merchant::sales(ctx, date).await,
        C::Settle { mode, date, month, start, end } => {
            merchant::settle(ctx, merchant::Period { mode, date, month, start, end }).await
        }
        C::Settlements { page } => merchant::settlements(ctx, page).await,
        C::Keys(command) => keys::run(ctx, command).await,
        C::Admin(command) => admin::run(ctx, command).await,
    }
}

impl Ctx {
    /// The session, which must be of `role`, for `command`.
    pub fn session_as(&self, role: Role, command: &str) -> CliResult<&Session> {
        let session = self.session.as_ref().ok_or_else(|| {
            CliError::local(format!(
                "`{command}` needs you logged in as {} {role}: run `mps-cli login {role} …`",
                if role == Role::Admin { "an" } else { "a" },
                role = role.as_str()
            ))
        })?;
        if session.role != role {
            return Err(CliError::local(format!(
                "`{command}` is a {} command, and you are logged in as a {}: run `mps-cli login {} …`",
                role.as_str(),
                session.role.as_str(),
                role.as_str()
            )));
        }
        Ok(session)
    }

    /// With `--json`, prints the API's body as is; otherwise reads it as `T` for `human`.
    pub fn show<T: DeserializeOwned>(&self, reply: &Reply, human: impl FnOnce(&Ui, T)) -> CliResult {
        if self.ui.json {
            self.ui.print_json(&reply.body);
            return Ok(());
        }
        human(&self.ui, reply.parse()?);
        Ok(())
    }

    /// Notes a replayed answer: the server had already done this and did nothing new.
    pub fn note_replay(&self, reply: &Reply) {
        if reply.replayed && !self.ui.json {
            println!("{}", self.ui.paint(Style::Yellow, "(replayed: this was already done; nothing happened twice)"));
        }
    }
}

/// The idempotency key of a money-moving command: the one given, else a new one.
pub fn idempotency_key(arg: &KeyArg) -> String {
    arg.idempotency_key.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// `limit`, `cursor` and `count` of a page: lists are paged by cursor (issue 15).
pub fn page_query(page: PageArg) -> Vec<(&'static str, String)> {
    let mut query = vec![("limit", page.limit.to_string())];
    if let Some(cursor) = page.cursor {
        query.push(("cursor", cursor));
    }
    if page.count {
        query.push(("count", "exact".to_owned()));
    }
    query
}

/// "20 shown · 93 in all · next: --cursor …" under a list.
pub fn print_page_footer(ui: &Ui, body: &Value) {
    let Ok(pagination) = Pagination::deserialize(&body["pagination"]) else { return };
    let shown = body["items"].as_array().map_or(0, Vec::len);
    let mut footer = format!("{shown} shown");
    if let Some(total) = pagination.total_count {
        footer.push_str(&format!(" · {total} in all"));
    }
    match pagination.next_cursor.filter(|_| pagination.has_next) {
        Some(cursor) => footer.push_str(&format!(" · next: --cursor {cursor}")),
        None => footer.push_str(" · end of list"),
    }
    println!("{}", ui.paint(Style::Dim, &footer));
}

/// A secret from `env`, else from a no-echo prompt (asked twice when `confirm`).
pub fn secret(env: &str, prompt: &str, confirm: bool) -> CliResult<String> {
    if let Ok(value) = std::env::var(env)
        && !value.is_empty()
    {
        return Ok(value);
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map_err(|e| CliError::local(format!("cannot read a password ({e}); set {env} instead")))
    };
    let value = ask(prompt)?;
    if confirm && ask("Again: ")? != value {
        return Err(CliError::local("the two entries differ"));
    }
    if value.is_empty() {
        return Err(CliError::local(format!("no password given; type one or set {env}")));
    }
    Ok(value)
}
