//! `test`, `login`, `logout`, `whoami`.

use mps_api::auth::{LoginRequest, LoginResponse, MeResponse};
use mps_api::ops::HealthResponse;
use mps_api::roles::Role;

use super::args::LoginRole;
use super::error::{CliError, CliResult};
use super::session::{self, Session};
use super::ui::{Style, local_time, status_style, wire};
use super::{Ctx, secret};

/// `test`: the server's health and each service's state.
pub async fn test(ctx: &Ctx) -> CliResult {
    let reply = ctx.api.get_any_status("/health").await?;
    if ctx.ui.json {
        ctx.ui.print_json(&reply.body);
    } else {
        let health: HealthResponse = reply.parse()?;
        let ui = &ctx.ui;
        let paint = |value: String| match status_style(&value) {
            Some(style) => ui.paint(style, &value),
            None => value,
        };
        println!("MPS {} at {}: {}", health.version, ctx.api.base(), paint(wire(&health.status)));
        ui.kv(&[("database", paint(wire(&health.services.database))), ("redis", paint(wire(&health.services.redis)))]);
    }
    if reply.status >= 500 {
        return Err(CliError::local("the server is unhealthy: it cannot serve payments now"));
    }
    Ok(())
}

/// Who works the till: a free-text cashier name (older shared logins) or a staff username.
#[derive(Debug, Default)]
pub struct Staff {
    pub operator: Option<String>,
    pub username: Option<String>,
}

/// `login`: asks the password, logs in, saves the session 0600.
pub async fn login(ctx: &Ctx, role: LoginRole, identifier: &str, staff: Staff) -> CliResult {
    let Staff { operator, username } = staff;
    let role = match role {
        LoginRole::Member => Role::Member,
        LoginRole::Merchant => Role::Merchant,
        LoginRole::Admin => Role::Admin,
    };
    if (operator.is_some() || username.is_some()) && role != Role::Merchant {
        return Err(CliError::local("--operator and --username are for merchant logins"));
    }
    let who = username.as_deref().map(|u| format!("{u} at {identifier}")).unwrap_or_else(|| identifier.to_owned());
    let password = secret("MPS_PASSWORD", &format!("Password for {who}: "), false)?;
    let request = LoginRequest {
        role,
        identifier: identifier.to_owned(),
        password: Some(password),
        otp: None,
        link_token: None,
        operator,
        username,
    };
    let reply = ctx.api.post("/auth/login", &request).await?;
    let login: LoginResponse = reply.parse()?;
    keep_session(ctx, login, identifier, reply.body)
}

/// Saves a new session 0600 and says who is logged in (`--json`: the API's body, without the token).
pub fn keep_session(ctx: &Ctx, login: LoginResponse, identifier: &str, body: serde_json::Value) -> CliResult {
    let session = Session {
        api: ctx.api.base().to_owned(),
        token: login.token,
        role: login.user.role,
        name: login.user.name,
        identifier: identifier.to_owned(),
        operator: login.user.operator,
        expires_at: login.expires_at,
    };
    let path = session::save(&session)?;
    if ctx.ui.json {
        // The token stays in the session file, out of logs and terminals.
        let mut body = body;
        body["token"] = serde_json::Value::String("(saved in the session file)".into());
        ctx.ui.print_json(&body);
        return Ok(());
    }
    let cashier = session.operator.as_deref().map(|o| format!(", cashier {o}")).unwrap_or_default();
    println!(
        "Logged in as {} ({}{cashier}) until {}.",
        ctx.ui.paint(Style::Bold, &session.name),
        session.role.as_str(),
        local_time(session.expires_at)
    );
    println!("{}", ctx.ui.paint(Style::Dim, &format!("Session saved in {}", path.display())));
    Ok(())
}

/// `logout`: ends the session on the server, then forgets it here.
pub async fn logout(ctx: &Ctx) -> CliResult {
    let Some(saved) = &ctx.session else {
        let removed = session::remove()?;
        println!("{}", if removed { "Forgot a session of another server." } else { "You were not logged in." });
        return Ok(());
    };
    let ended = ctx.api.post("/auth/logout", &serde_json::json!({})).await;
    match ended {
        // An expired or revoked session is over anyway.
        Ok(_) | Err(CliError::Api(_)) => {
            session::remove()?;
            println!("Logged out {} ({}).", saved.name, saved.role.as_str());
            Ok(())
        }
        Err(unreachable) => {
            session::remove()?;
            eprintln!(
                "mps-cli: forgot the session here, but the server could not be told: it stays valid there until {}",
                local_time(saved.expires_at)
            );
            Err(unreachable)
        }
    }
}

/// `whoami`: the session as the server sees it.
pub async fn whoami(ctx: &Ctx) -> CliResult {
    let saved = ctx.session.as_ref().ok_or_else(|| CliError::local("not logged in: run `mps-cli login …`"))?;
    let reply = ctx.api.get("/auth/me", &[]).await?;
    ctx.show(&reply, |ui, me: MeResponse| {
        println!("{} ({})", ui.paint(Style::Bold, &me.user.name), me.user.role.as_str());
        let mut pairs = vec![("id", me.user.id.to_string()), ("login", saved.identifier.clone())];
        if let Some(code) = me.user.merchant_code {
            pairs.push(("merchant", code));
        }
        if let Some(operator) = me.user.operator {
            pairs.push(("cashier", operator));
        }
        pairs.push(("session ends", local_time(me.session.expires_at)));
        pairs.push(("api", ctx.api.base().to_owned()));
        pairs.push(("permissions", me.permissions.join(", ")));
        ui.kv(&pairs);
    })
}
