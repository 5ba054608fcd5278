//! Sending phone verification codes: a small trait with one adapter per provider.
//!
//! `SMS_PROVIDER=log` writes the code to the log (development and testing only; the
//! configuration refuses it in production); `http` POSTs JSON to `SMS_HTTP_URL` with the bearer
//! `SMS_HTTP_TOKEN`. A vendor's own API gets an adapter of its own behind the same trait.
//!
//! The body the `http` provider sends (the gateway answers any 2xx once it has taken the message):
//!
//! ```json
//! {"to": "+8613800000000", "purpose": "register", "code": "123456", "ttl_seconds": 300,
//!  "text": "Your MPS verification code is 123456. It expires in 5 minutes."}
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Secret, SmsProviderConfig};

/// One verification code to deliver. No `Debug`: it holds the code.
#[derive(Serialize)]
pub struct SmsMessage<'a> {
    pub to: &'a str,
    pub purpose: &'a str,
    pub code: &'a str,
    pub ttl_seconds: u32,
    pub text: String,
}

impl<'a> SmsMessage<'a> {
    /// The message for a code, with its human text.
    pub fn verification_code(to: &'a str, purpose: &'a str, code: &'a str, ttl_seconds: u32) -> Self {
        let minutes = ttl_seconds.div_ceil(60);
        let text = format!("Your MPS verification code is {code}. It expires in {minutes} minutes.");
        SmsMessage { to, purpose, code, ttl_seconds, text }
    }
}

/// Why a message was not sent; the cause is for the log, never for the client.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("no SMS provider is configured")]
    Disabled,
    #[error("the SMS provider failed: {0}")]
    Provider(String),
}

/// A boxed future, so the trait can be used as `dyn SmsSender`.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

/// Something that delivers verification codes.
pub trait SmsSender: Send + Sync {
    /// Delivers one message; resolves once the provider has accepted it.
    fn send<'a>(&'a self, message: &'a SmsMessage<'a>) -> SendFuture<'a>;
}

/// Builds the sender the configuration names.
pub fn sender(config: &SmsProviderConfig, timeout: Duration) -> anyhow::Result<Arc<dyn SmsSender>> {
    Ok(match config {
        SmsProviderConfig::Disabled => Arc::new(DisabledSms),
        SmsProviderConfig::Log => Arc::new(LogSms),
        SmsProviderConfig::Http { url, token } => Arc::new(HttpSms {
            client: reqwest::Client::builder().timeout(timeout).build()?,
            url: url.clone(),
            token: token.clone(),
        }),
    })
}

/// Refuses every message: production without a provider.
struct DisabledSms;

impl SmsSender for DisabledSms {
    fn send<'a>(&'a self, _message: &'a SmsMessage<'a>) -> SendFuture<'a> {
        Box::pin(async { Err(SmsError::Disabled) })
    }
}

/// Writes the code to the log: for development, where no gateway exists.
struct LogSms;

impl SmsSender for LogSms {
    fn send<'a>(&'a self, message: &'a SmsMessage<'a>) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(
                sms.to = message.to,
                sms.purpose = message.purpose,
                sms.code = message.code,
                "verification code (SMS_PROVIDER=log: development only)"
            );
            Ok(())
        })
    }
}

/// POSTs the message as JSON to a gateway with a bearer token.
struct HttpSms {
    client: reqwest::Client,
    url: String,
    token: Secret,
}

impl SmsSender for HttpSms {
    fn send<'a>(&'a self, message: &'a SmsMessage<'a>) -> SendFuture<'a> {
        Box::pin(async move {
            let response = self
                .client
                .post(&self.url)
                .bearer_auth(self.token.expose())
                .json(message)
                .send()
                .await
                // Without the URL: reqwest's errors name it, and some gateways carry keys in it.
                .map_err(|e| SmsError::Provider(e.without_url().to_string()))?;
            if !response.status().is_success() {
                return Err(SmsError::Provider(format!("the gateway answered {}", response.status())));
            }
            Ok(())
        })
    }
}
