//! `otp`, `register`, `login --otp`: signing up and in with a code texted to the phone.

use mps_api::auth::{
    CodePurpose, LoginRequest, LoginResponse, OtpRequest, OtpResponse, RegisterRequest, RegisterResponse,
};
use mps_api::roles::Role;

use super::args::{LoginRole, OtpPurpose};
use super::error::{CliError, CliResult};
use super::ui::Style;
use super::{Ctx, account, secret};

/// `otp`: asks the server to text a code to a phone.
pub async fn send_code(ctx: &Ctx, phone: &str, purpose: OtpPurpose) -> CliResult<OtpResponse> {
    let purpose = match purpose {
        OtpPurpose::Register => CodePurpose::Register,
        OtpPurpose::Login => CodePurpose::Login,
        OtpPurpose::Reset => CodePurpose::Reset,
    };
    let reply = ctx.api.post("/auth/otp", &OtpRequest { phone: phone.to_owned(), purpose }).await?;
    let sent: OtpResponse = reply.parse()?;
    if !ctx.ui.json {
        eprintln!(
            "{}",
            ctx.ui.paint(
                Style::Dim,
                &format!(
                    "A code is on its way to {phone} (valid {} minutes; another in {} s).",
                    sent.expires_in_seconds.div_ceil(60),
                    sent.resend_after_seconds
                )
            )
        );
    }
    Ok(sent)
}

/// The code: MPS_OTP when set (then none is sent), else one sent now and typed at a prompt.
async fn code_for(ctx: &Ctx, phone: &str, purpose: OtpPurpose) -> CliResult<String> {
    if let Ok(code) = std::env::var("MPS_OTP")
        && !code.trim().is_empty()
    {
        return Ok(code.trim().to_owned());
    }
    send_code(ctx, phone, purpose).await?;
    Ok(secret("MPS_OTP", &format!("Code sent to {phone}: "), false)?.trim().to_owned())
}

/// `login member PHONE --otp`.
pub async fn login_by_code(ctx: &Ctx, role: LoginRole, phone: &str, operator: Option<String>) -> CliResult {
    if role != LoginRole::Member || operator.is_some() {
        return Err(CliError::local("--otp is for member logins, with the phone number (no --operator)"));
    }
    let otp = code_for(ctx, phone, OtpPurpose::Login).await?;
    let request = LoginRequest {
        role: Role::Member,
        identifier: phone.to_owned(),
        password: None,
        otp: Some(otp),
        link_token: None,
        operator: None,
        username: None,
    };
    let reply = ctx.api.post("/auth/login", &request).await?;
    let login: LoginResponse = reply.parse()?;
    account::keep_session(ctx, login, phone, reply.body)
}

/// `register PHONE --name NAME [--password]`: signs up, saves the session, shows the new card.
pub async fn register(ctx: &Ctx, phone: &str, name: &str, with_password: bool) -> CliResult {
    let password = if with_password { Some(secret("MPS_PASSWORD", "Choose a password: ", true)?) } else { None };
    let code = code_for(ctx, phone, OtpPurpose::Register).await?;
    let request = RegisterRequest {
        phone: phone.to_owned(),
        code,
        name: name.to_owned(),
        password,
        email: None,
        link_token: None,
    };
    let reply = ctx.api.post("/auth/register", &request).await?;
    let joined: RegisterResponse = reply.parse()?;
    if !ctx.ui.json {
        println!(
            "Welcome, {}: member {}, standard card {}.",
            ctx.ui.paint(Style::Bold, &joined.member.name),
            joined.member.member_no,
            joined.card.card_no
        );
    }
    let login = LoginResponse { token: joined.token, expires_at: joined.expires_at, user: joined.user };
    account::keep_session(ctx, login, phone, reply.body)
}
