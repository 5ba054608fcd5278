//! WeChat mini-program sign-in: the code-to-session exchange.
//!
//! `GET {WECHAT_API_BASE}/sns/jscode2session?appid=…&secret=…&js_code=…&grant_type=authorization_code`
//! answers `{openid, session_key, unionid?}` or `{errcode, errmsg}`. The `session_key` is never
//! read into memory we keep: MPS needs only the identity, so the field is not even deserialised,
//! and nothing of it can reach a log or the database.

use serde::Deserialize;

use mps_api::error::ErrorCode;

use crate::config::WechatConfig;
use crate::error::ApiError;

/// The identity WeChat vouches for.
#[derive(Debug, Clone)]
pub struct WechatIdentity {
    pub openid: String,
    pub unionid: Option<String>,
}

/// The code-to-session answer, without its session key.
#[derive(Deserialize)]
struct CodeToSession {
    openid: Option<String>,
    unionid: Option<String>,
    errcode: Option<i64>,
    errmsg: Option<String>,
}

/// A client of the code-to-session endpoint.
pub struct WechatClient {
    client: reqwest::Client,
    config: WechatConfig,
}

impl WechatClient {
    pub fn new(config: &WechatConfig) -> anyhow::Result<WechatClient> {
        let client = reqwest::Client::builder().timeout(config.timeout).build()?;
        Ok(WechatClient { client, config: config.clone() })
    }

    /// Exchanges a `wx.login` code for the identity it proves. Upstream refusals become clear
    /// client errors; an unreachable, slow or failing platform is a 503.
    pub async fn code_to_session(&self, code: &str) -> Result<WechatIdentity, ApiError> {
        let Some((appid, secret)) = &self.config.credentials else {
            return Err(unavailable("WeChat sign-in is not configured on this server."));
        };
        let url = format!("{}/sns/jscode2session", self.config.api_base);
        let query = [
            ("appid", appid.as_str()),
            ("secret", secret.expose()),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ];
        let response = self.client.get(&url).query(&query).send().await.map_err(|e| {
            // Without the URL: it carries the app secret.
            tracing::warn!(error = %e.without_url(), "WeChat code-to-session call failed");
            unavailable("WeChat did not answer in time; try again.")
        })?;
        if !response.status().is_success() {
            tracing::warn!(status = %response.status(), "WeChat code-to-session answered an HTTP error");
            return Err(unavailable("WeChat is not available; try again."));
        }
        // WeChat answers JSON labelled text/plain: parse the bytes whatever the content type.
        let bytes = response.bytes().await.map_err(|_| unavailable("WeChat's answer was cut short; try again."))?;
        let answer: CodeToSession = serde_json::from_slice(&bytes).map_err(|_| {
            tracing::warn!("WeChat code-to-session answered something that is not its JSON");
            unavailable("WeChat answered something unexpected; try again.")
        })?;
        identity_from(answer)
    }
}

fn unavailable(message: &str) -> ApiError {
    let mut error = ApiError::from_code(ErrorCode::Unavailable);
    error.message = message.into();
    error
}

fn identity_from(answer: CodeToSession) -> Result<WechatIdentity, ApiError> {
    match answer.errcode.unwrap_or(0) {
        0 => {}
        // 40029 invalid code; 40163 code already used.
        40029 | 40163 => {
            return Err(ApiError::new(
                ErrorCode::WechatCodeInvalid,
                "WeChat refused the code: it is wrong or already used.",
            ));
        }
        45011 => {
            let mut error = ApiError::new(ErrorCode::RateLimited, "WeChat is limiting sign-ins; wait a minute.");
            error.retry_after_secs = Some(60);
            return Err(error);
        }
        40226 => {
            return Err(ApiError::new(
                ErrorCode::WechatLoginRefused,
                "WeChat refused to sign this user in (high-risk account).",
            ));
        }
        code => {
            tracing::warn!(
                errcode = code,
                errmsg = answer.errmsg.as_deref().unwrap_or(""),
                "WeChat code-to-session error"
            );
            return Err(unavailable("WeChat could not sign you in right now; try again."));
        }
    }
    let openid = answer.openid.filter(|o| !o.is_empty() && o.len() <= 128).ok_or_else(|| {
        tracing::warn!("WeChat code-to-session answered without an openid");
        unavailable("WeChat answered something unexpected; try again.")
    })?;
    let unionid = answer.unionid.filter(|u| !u.is_empty() && u.len() <= 128);
    Ok(WechatIdentity { openid, unionid })
}
