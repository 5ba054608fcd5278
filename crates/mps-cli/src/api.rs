//! The HTTP client: bearer token, JSON, the error envelope, and retries that are safe.
//!
//! A request is retried only when repeating it cannot do anything twice: a connection that was
//! never made, or a GET, or a POST that carries an `Idempotency-Key` (the server replays the
//! first outcome). Retries happen on connection errors, timeouts, 503 and
//! `IDEMPOTENCY_IN_PROGRESS`, at most [`MAX_ATTEMPTS`] times with a short backoff.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ApiFailure, CliError, CliResult};
use super::ui::Spinner;

/// Attempts of one request, the first included.
pub const MAX_ATTEMPTS: u32 = 4;

/// A client of one MPS API.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    spinner: bool,
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The server answered a stored outcome (`Idempotent-Replayed: true`).
    pub replayed: bool,
    pub body: Value,
}

impl Reply {
    /// The body as one of the API's types.
    pub fn parse<T: DeserializeOwned>(&self) -> CliResult<T> {
        T::deserialize(&self.body).map_err(|e| {
            CliError::local(format!("the server's answer has an unexpected shape ({e}); try --json to see it"))
        })
    }
}

/// One request to send.
struct Call<'a> {
    method: Method,
    path: &'a str,
    query: &'a [(&'a str, String)],
    body: Option<Value>,
    key: Option<&'a str>,
}

/// What one attempt gave.
enum Attempt {
    Answered { status: StatusCode, replayed: bool, retry_after: Option<String>, body: Value },
    Failed { connect: bool, cause: String },
}

impl Api {
    /// A client for `base` (e.g. `http://127.0.0.1:8000`) with a per-request timeout.
    pub fn new(base: &str, timeout: Duration, token: Option<String>, spinner: bool) -> CliResult<Api> {
        let base = base.trim_end_matches('/').to_owned();
        if reqwest::Url::parse(&base).is_err() {
            return Err(CliError::local(format!("`{base}` is not a URL such as http://127.0.0.1:8000")));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("mps-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::local(format!("cannot start the HTTP client: {e}")))?;
        Ok(Api { http, base, token, spinner })
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A GET, retried when it fails on the way.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> CliResult<Reply> {
        self.send(Call { method: Method::GET, path, query, body: None, key: None }).await
    }

    /// A POST that is not repeated (it carries no idempotency key).
    pub async fn post(&self, path: &str, body: &impl Serialize) -> CliResult<Reply> {
        self.send(Call { method: Method::POST, path, query: &[], body: Some(to_json(body)?), key: None }).await
    }

    /// A POST that moves money: sent with `key`, and safely repeated with it.
    pub async fn post_keyed(&self, path: &str, key: &str, body: &impl Serialize) -> CliResult<Reply> {
        self.send(Call { method: Method::POST, path, query: &[], body: Some(to_json(body)?), key: Some(key) }).await
    }

    /// A DELETE, not repeated once sent.
    pub async fn delete(&self, path: &str) -> CliResult<Reply> {
        self.send(Call { method: Method::DELETE, path, query: &[], body: None, key: None }).await
    }

    /// GET whatever the status, for endpoints whose error statuses carry a normal body (`/health`).
    pub async fn get_any_status(&self, path: &str) -> CliResult<Reply> {
        match self.attempt(&Call { method: Method::GET, path, query: &[], body: None, key: None }).await {
            Attempt::Answered { status, replayed, body, .. } => Ok(Reply { status: status.as_u16(), replayed, body }),
            Attempt::Failed { cause, .. } => Err(self.unreachable(cause, None)),
        }
    }

    async fn send(&self, call: Call<'_>) -> CliResult<Reply> {
        let repeatable = call.method == Method::GET || call.key.is_some();
        let mut attempt = 1;
        loop {
            let outcome = self.attempt(&call).await;
            let retry = match &outcome {
                Attempt::Failed { connect, .. } => *connect || repeatable,
                Attempt::Answered { status, body, .. } => {
                    repeatable
                        && (*status == StatusCode::SERVICE_UNAVAILABLE
                            || body["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS")
                }
            };
            if !retry || attempt >= MAX_ATTEMPTS {
                return self.finish(outcome, call.key);
            }
            tokio::time::sleep(backoff(attempt)).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, call: &Call<'_>) -> Attempt {
        let mut request = self
            .http
            .request(call.method.clone(), format!("{}{}", self.base, call.path))
            .header(reqwest::header::ACCEPT, "application/json");
        if !call.query.is_empty() {
            request = request.query(call.query);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = call.key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let _spinner = Spinner::start(self.spinner, "waiting for the server…");
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Attempt::Failed { connect: e.is_connect(), cause: describe(&e) },
        };
        let status = response.status();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let replayed = header("idempotent-replayed").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let retry_after = header("retry-after");
        match response.bytes().await {
            Ok(bytes) if bytes.is_empty() => Attempt::Answered { status, replayed, retry_after, body: Value::Null },
            Ok(bytes) => {
                let body = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
                Attempt::Answered { status, replayed, retry_after, body }
            }
            Err(e) => Attempt::Failed { connect: false, cause: describe(&e) },
        }
    }

    fn finish(&self, outcome: Attempt, key: Option<&str>) -> CliResult<Reply> {
        match outcome {
            Attempt::Failed { cause, .. } => Err(self.unreachable(cause, key)),
            Attempt::Answered { status, replayed, body, .. } if status.is_success() => {
                Ok(Reply { status: status.as_u16(), replayed, body })
            }
            Attempt::Answered { status, retry_after, body, .. } => {
                Err(CliError::Api(Box::new(failure(status, retry_after, body))))
            }
        }
    }

    fn unreachable(&self, cause: String, key: Option<&str>) -> CliError {
        CliError::Unreachable { url: self.base.clone(), cause, idempotency_key: key.map(str::to_owned) }
    }
}

fn to_json(body: &impl Serialize) -> CliResult<Value> {
    serde_json::to_value(body).map_err(|e| CliError::local(format!("cannot encode the request: {e}")))
}

/// 200 ms, 500 ms, 1 s: enough for a restart or a failover, short enough at a till.
fn backoff(attempt: u32) -> Duration {
    const DELAYS_MS: [u64; 3] = [200, 500, 1000];
    let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX).min(DELAYS_MS.len() - 1);
    Duration::from_millis(DELAYS_MS[index])
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection refused or failed".to_owned()
    } else {
        let mut cause = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            cause = format!("{cause}: {inner}");
            source = inner.source();
        }
        cause
    }
}

/// The API's error envelope, or a stand-in when the body is not one (a proxy's HTML page).
fn failure(status: StatusCode, retry_after: Option<String>, body: Value) -> ApiFailure {
    let error = &body["error"];
    let text = |v: &Value| v.as_str().map(str::to_owned);
    ApiFailure {
        status: status.as_u16(),
        code: text(&error["code"]).unwrap_or_else(|| format!("HTTP_{}", status.as_u16())),
        message: text(&error["message"])
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("unexpected answer").to_owned()),
        details: error.get("details").cloned().filter(|d| !d.is_null()),
        request_id: text(&error["request_id"]),
        retry_after,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_short_and_grows() {
        let delays: Vec<u128> = (1..MAX_ATTEMPTS).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(delays, vec![200, 500, 1000]);
    }

    #[test]
    fn a_body_that_is_not_an_envelope_still_reports_the_status() {
        let failed = failure(StatusCode::BAD_GATEWAY, None, Value::String("<html>".into()));
        assert_eq!(failed.code, "HTTP_502");
        assert_eq!(failed.message, "Bad Gateway");
    }
}
