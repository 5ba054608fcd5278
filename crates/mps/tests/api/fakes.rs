#![allow(dead_code, reason = "shared harness: each test uses only some fakes")]

//! Fakes of third-party HTTP services, served on loopback by the tests themselves: an SMS
//! gateway that records what it is asked to send, and WeChat's code-to-session endpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The bearer token the fake SMS gateway expects.
pub const SMS_TOKEN: &str = "sms-gateway-test-token";
pub const WECHAT_APPID: &str = "wx-test-app";
pub const WECHAT_SECRET: &str = "wechat-test-app-secret";

async fn serve(router: Router) -> (String, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let address = listener.local_addr().expect("local address");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{address}"), task)
}

#[derive(Default)]
struct SmsState {
    messages: Vec<Value>,
    failing: bool,
}

/// A fake SMS gateway: records every message it accepts.
pub struct FakeSms {
    pub url: String,
    state: Arc<Mutex<SmsState>>,
    task: JoinHandle<()>,
}

async fn accept_sms(
    State(state): State<Arc<Mutex<SmsState>>>,
    headers: HeaderMap,
    Json(message): Json<Value>,
) -> StatusCode {
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {SMS_TOKEN}"));
    if !authorized {
        return StatusCode::UNAUTHORIZED;
    }
    let mut state = state.lock().expect("fake state");
    if state.failing {
        return StatusCode::BAD_GATEWAY;
    }
    state.messages.push(message);
    StatusCode::ACCEPTED
}

impl FakeSms {
    pub async fn start() -> FakeSms {
        let state = Arc::new(Mutex::new(SmsState::default()));
        let router = Router::new().route("/send", post(accept_sms)).with_state(state.clone());
        let (base, task) = serve(router).await;
        FakeSms { url: format!("{base}/send"), state, task }
    }

    /// Every message accepted so far.
    pub fn messages(&self) -> Vec<Value> {
        self.state.lock().expect("fake state").messages.clone()
    }

    /// The code of the last message to `phone`.
    #[track_caller]
    pub fn last_code(&self, phone: &str) -> String {
        self.messages()
            .iter()
            .rev()
            .find(|m| m["to"] == phone)
            .and_then(|m| m["code"].as_str())
            .unwrap_or_else(|| panic!("no code was sent to {phone}"))
            .to_owned()
    }

    /// Makes the gateway refuse (502) or accept again.
    pub fn set_failing(&self, failing: bool) {
        self.state.lock().expect("fake state").failing = failing;
    }
}

impl Drop for FakeSms {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the fake WeChat answers for one code.
#[derive(Clone)]
pub enum WechatAnswer {
    Json(Value),
    /// Answers only after this long (to test the timeout).
    Slow(Duration),
}

#[derive(Default)]
struct WechatState {
    answers: HashMap<String, WechatAnswer>,
    calls: usize,
}

/// A fake of WeChat's code-to-session endpoint.
pub struct FakeWechat {
    pub base: String,
    state: Arc<Mutex<WechatState>>,
    task: JoinHandle<()>,
}

async fn code_to_session(
    State(state): State<Arc<Mutex<WechatState>>>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let answer = {
        let mut state = state.lock().expect("fake state");
        state.calls += 1;
        let credentials_ok = query.get("appid").map(String::as_str) == Some(WECHAT_APPID)
            && query.get("secret").map(String::as_str) == Some(WECHAT_SECRET)
            && query.get("grant_type").map(String::as_str) == Some("authorization_code");
        if credentials_ok {
            let code = query.get("js_code").cloned().unwrap_or_default();
            state.answers.get(&code).cloned()
        } else {
            Some(WechatAnswer::Json(json!({"errcode": 40013, "errmsg": "invalid appid"})))
        }
    };
    let answer = answer.unwrap_or(WechatAnswer::Json(json!({"errcode": 40029, "errmsg": "invalid code"})));
    let body = match answer {
        WechatAnswer::Json(body) => body,
        WechatAnswer::Slow(delay) => {
            tokio::time::sleep(delay).await;
            json!({"errcode": -1, "errmsg": "too late"})
        }
    };
    // WeChat labels its JSON text/plain.
    (StatusCode::OK, [("content-type", "text/plain")], body.to_string())
}

impl FakeWechat {
    pub async fn start() -> FakeWechat {
        let state = Arc::new(Mutex::new(WechatState::default()));
        let router = Router::new().route("/sns/jscode2session", get(code_to_session)).with_state(state.clone());
        let (base, task) = serve(router).await;
        FakeWechat { base, state, task }
    }

    /// Makes `code` prove the user `openid` (a session key comes along, as from WeChat).
    pub fn user(&self, code: &str, openid: &str) {
        let body = json!({"openid": openid, "session_key": format!("SESSIONKEY-{openid}"), "unionid": format!("union-{openid}")});
        self.answer(code, WechatAnswer::Json(body));
    }

    pub fn answer(&self, code: &str, answer: WechatAnswer) {
        self.state.lock().expect("fake state").answers.insert(code.to_owned(), answer);
    }

    pub fn calls(&self) -> usize {
        self.state.lock().expect("fake state").calls
    }
}

impl Drop for FakeWechat {
    fn drop(&mut self) {
        self.task.abort();
    }
}
