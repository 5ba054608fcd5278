//! The shared test harness: a fresh database and Redis prefix per test, and a client that drives the real
//! router (with its whole middleware stack) in-process.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::as_conversions,
    reason = "test code: a failed step panics with its message; which of these a suite uses changes with its tests"
)]

/// Fixtures of the programme around the money: issuing cards, binding, settling, backdating.
pub mod programme;

/// Processes a suite owns: scratch directories, free ports, PostgreSQL, Redis, `mps serve`.
pub mod process;

/// Processes past one machine: a PostgreSQL standby pair, a repointable proxy, a Redis Cluster.
pub mod topology;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use mps::config::Config;
use mps::state::{AppState, PauseHook, PausePoint};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Notify;
use tower::ServiceExt as _;

/// The server test databases are created on; override with `MPS_TEST_DATABASE_URL`.
pub fn server_url() -> String {
    std::env::var("MPS_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Redis for tests; override with `MPS_TEST_REDIS_URL`.
pub fn redis_url() -> String {
    std::env::var("MPS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Connects without statement logging: the harness' own slow DDL (DROP DATABASE) is not news.
pub async fn quiet_pool(url: &str, max: u32) -> PgPool {
    use sqlx::ConnectOptions as _;
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("valid test database URL");
    PgPoolOptions::new()
        .max_connections(max)
        .connect_with(options.disable_statement_logging())
        .await
        .expect("test PostgreSQL reachable")
}

/// The URL of database `name` on the test server.
pub fn database_url(name: &str) -> String {
    let server = server_url();
    let base = server.rsplit_once('/').map_or(server.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}

/// A database that exists for one test and is dropped when the test ends, pass or fail.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A new, empty database (not migrated).
    pub async fn empty() -> TestDb {
        let name = format!("mps_test_{}", uuid::Uuid::new_v4().simple());
        let admin =
            PgPoolOptions::new().max_connections(1).connect(&server_url()).await.expect("test PostgreSQL reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create test db");
        admin.close().await;
        TestDb { url: database_url(&name), name }
    }

    /// A new database with every migration applied.
    pub async fn migrated() -> (TestDb, PgPool) {
        let db = TestDb::empty().await;
        let pool = db.pool(10).await;
        mps::db::migrate(&pool).await.expect("migrations apply on an empty database");
        (db, pool)
    }

    pub async fn pool(&self, max: u32) -> PgPool {
        quiet_pool(&self.url, max).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime we may block; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let admin = quiet_pool(&server_url(), 1).await;
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&admin)
                    .await;
                admin.close().await;
            });
        })
        .join();
    }
}

/// Variables every test configuration starts from.
pub fn base_vars(db_url: &str, redis_prefix: &str) -> HashMap<String, String> {
    HashMap::from(
        [
            ("APP_ENV", "testing"),
            ("DATABASE_URL", db_url),
            ("REDIS_URL", &redis_url()),
            ("REDIS_KEY_PREFIX", redis_prefix),
            ("JWT_SECRET", "test-jwt-secret-that-is-long-enough-0123456789"),
            ("LOG_LEVEL", "warn"),
            ("DB_MAX_CONNECTIONS", "20"),
            ("WEBHOOK_SECRET_KEY", "4d50532d746573742d776562686f6f6b2d7365616c696e672d6b65792d303031"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
}

/// Builds a configuration from variables, as the server would from its environment.
pub fn config_from(vars: &HashMap<String, String>) -> Config {
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration is valid")
}

/// One application under test with its own database and Redis prefix.
pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub pool: PgPool,
    redis_prefix: String,
    db_url: String,
    /// The database this app owns; `None` for a [`TestApp::sibling`], which borrows its owner's.
    _db: Option<TestDb>,
    /// Whether dropping this app deletes its Redis keys (not a sibling's: its owner does).
    owns_prefix: bool,
}

impl TestApp {
    pub async fn new() -> TestApp {
        TestApp::with_vars(&[]).await
    }

    /// An app whose configuration overrides some variables.
    pub async fn with_vars(overrides: &[(&str, &str)]) -> TestApp {
        TestApp::build(overrides, None).await
    }

    /// An app whose requests stop at `point` once `gate` is armed, until the test releases them.
    pub async fn with_pause_gate(point: PausePoint) -> (TestApp, Arc<PauseGate>) {
        TestApp::with_vars_and_pause_gate(&[], point).await
    }

    /// [`TestApp::with_pause_gate`] with some variables overridden.
    pub async fn with_vars_and_pause_gate(overrides: &[(&str, &str)], point: PausePoint) -> (TestApp, Arc<PauseGate>) {
        let gate = Arc::new(PauseGate {
            point,
            armed: AtomicBool::new(false),
            reached: Notify::new(),
            release: Notify::new(),
        });
        let held = gate.clone();
        let hook: PauseHook = Arc::new(move |point| {
            let gate = held.clone();
            Box::pin(async move { gate.hold(point).await })
        });
        (TestApp::build(overrides, Some(hook)).await, gate)
    }

    async fn build(overrides: &[(&str, &str)], hook: Option<PauseHook>) -> TestApp {
        let (db, pool) = TestDb::migrated().await;
        let redis_prefix = format!("mps:test:{}:", uuid::Uuid::new_v4().simple());
        let mut app = TestApp::instance(pool, &db.url, &redis_prefix, overrides, hook);
        app._db = Some(db);
        app.owns_prefix = true;
        app
    }

    /// An app on a PostgreSQL server of the test's own (`DATABASE_URL` among `overrides`, created
    /// and migrated here) through the server's own pool (`mps::db::connect_lazy`, with its
    /// checks for standbys) and its primary watch: for tests that fail the database over. The
    /// test owns and stops that server; the app deletes its Redis keys when dropped.
    pub async fn on_own_database(overrides: &[(&str, &str)]) -> TestApp {
        let redis_prefix = format!("mps:test:{}:", uuid::Uuid::new_v4().simple());
        let mut vars = base_vars("", &redis_prefix);
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let config = config_from(&vars);
        mps::db::migrate_database(&config).await.expect("the test's own database migrates");
        let pool = mps::db::connect_lazy(&config).expect("pool");
        let db_url = config.database_url.expose().to_owned();
        let mut app = TestApp::instance(pool, &db_url, &redis_prefix, overrides, None);
        mps::db::watch_primary(app.state.db.clone(), app.state.primary_writable.clone());
        app.owns_prefix = true;
        app
    }

    /// Another server instance on this app's database and Redis prefix, as a second replica
    /// would be, with its own pool, limiters and some variables overridden. It must not outlive
    /// this app, which owns the database.
    pub async fn sibling(&self, overrides: &[(&str, &str)]) -> TestApp {
        let pool = PgPoolOptions::new().max_connections(10).connect(&self.db_url).await.expect("connect to test db");
        TestApp::instance(pool, &self.db_url, &self.redis_prefix, overrides, None)
    }

    fn instance(
        pool: PgPool,
        db_url: &str,
        redis_prefix: &str,
        overrides: &[(&str, &str)],
        hook: Option<PauseHook>,
    ) -> TestApp {
        let mut vars = base_vars(db_url, redis_prefix);
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let config = config_from(&vars);
        if let Some(log_writer) = mps::telemetry::init(&config) {
            // The test process ends without dropping statics: the writer just runs until then.
            std::mem::forget(log_writer);
        }
        let state = match hook {
            Some(hook) => AppState::with_pause_hook(config, pool.clone(), hook),
            None => AppState::new(config, pool.clone()),
        }
        .expect("state builds");
        let client_ip: SocketAddr = "127.0.0.1:40000".parse().expect("address");
        let router = mps::build_app(state.clone()).layer(MockConnectInfo(client_ip));
        TestApp {
            state,
            router,
            pool,
            redis_prefix: redis_prefix.to_owned(),
            db_url: db_url.to_owned(),
            _db: None,
            owns_prefix: false,
        }
    }

    /// Sends a request through the whole stack.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.expect("router is infallible");
        TestResponse::read(response).await
    }

    /// Sends a request with an optional JSON body and extra headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&body).expect("json")))
                .expect("request"),
            None => builder.body(Body::empty()).expect("request"),
        };
        self.send(request).await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.call(Method::GET, path, None, &[]).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.owns_prefix {
            return;
        }
        let prefix = self.redis_prefix.clone();
        let redis = self.state.config.redis_url.as_ref().map_or(String::new(), |url| url.expose().to_owned());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let mut vars = base_vars("postgres://unused/none", &prefix);
                vars.insert("REDIS_URL".into(), redis);
                if let Ok(cache) = mps::cache::Cache::new(&config_from(&vars)) {
                    let _ = cache.delete_all_with_prefix().await;
                }
            });
        })
        .join();
    }
}

/// Holds the next request that reaches its pause point after [`PauseGate::arm`], until
/// [`PauseGate::release`]: how a test replays a race in the order it chooses.
pub struct PauseGate {
    point: PausePoint,
    armed: AtomicBool,
    reached: Notify,
    release: Notify,
}

impl PauseGate {
    /// Holds the next request that reaches the point (one only).
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Waits until the held request has reached the point.
    pub async fn reached(&self) {
        tokio::time::timeout(std::time::Duration::from_secs(30), self.reached.notified())
            .await
            .expect("the request reached its pause point");
    }

    /// Lets the held request go on.
    pub fn release(&self) {
        self.release.notify_one();
    }

    async fn hold(&self, point: PausePoint) {
        if point == self.point && self.armed.swap(false, Ordering::SeqCst) {
            self.reached.notify_one();
            self.release.notified().await;
        }
    }
}

/// A response read to the end, with its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl TestResponse {
    pub async fn read(response: axum::response::Response) -> TestResponse {
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body readable").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        TestResponse { status: parts.status, headers: parts.headers, text, json }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(HeaderName::from_bytes(name.as_bytes()).ok()?).and_then(|v: &HeaderValue| v.to_str().ok())
    }

    /// The error code of an envelope, or `""`.
    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts the status and, for errors, that the body is a complete envelope with this code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        assert_eq!(self.error_code(), code, "unexpected error code; body: {}", self.text);
        let request_id = self.json["error"]["request_id"].as_str().unwrap_or("");
        assert!(!request_id.is_empty(), "envelope carries the request id: {}", self.text);
        assert_eq!(Some(request_id), self.header("x-request-id"), "envelope and header carry the same request id");
        assert!(self.json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "envelope has a message");
    }
}

/// A logged-in caller: sends requests with its bearer token.
pub struct Client<'a> {
    pub app: &'a TestApp,
    pub token: String,
    /// The account id (`sub`).
    pub id: uuid::Uuid,
}

impl<'a> Client<'a> {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let auth = format!("Bearer {}", self.token);
        let mut all = vec![("authorization", auth.as_str())];
        all.extend_from_slice(headers);
        self.app.call(method, path, body, &all).await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.call(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    /// A POST that moves money, with its `Idempotency-Key`.
    pub async fn post_idempotent(&self, path: &str, key: &str, body: Value) -> TestResponse {
        self.call(Method::POST, path, Some(body), &[("idempotency-key", key)]).await
    }
}

/// Password every test account gets.
pub const PASSWORD: &str = "correct-horse-battery";

impl TestApp {
    /// Logs in through the API.
    pub async fn login(&self, role: &str, identifier: &str, password: &str) -> TestResponse {
        let body = serde_json::json!({ "role": role, "identifier": identifier, "password": password });
        self.call(Method::POST, "/auth/login", Some(body), &[]).await
    }

    /// Logs in and returns a client, failing the test when the login fails.
    pub async fn client(&self, role: &str, identifier: &str, password: &str) -> Client<'_> {
        let response = self.login(role, identifier, password).await;
        assert_eq!(response.status, 200, "login as {role} {identifier} failed: {}", response.text);
        Client {
            app: self,
            token: response.json["token"].as_str().expect("token").to_owned(),
            id: response.json["user"]["id"].as_str().and_then(|id| id.parse().ok()).expect("user id"),
        }
    }

    /// A new administrator (made as `mps create-admin` does), logged in.
    pub async fn admin(&self) -> Client<'_> {
        let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
        let hash = mps::auth::password::hash_password(PASSWORD.into()).await.expect("hash");
        mps::db::admins::create_admin(&self.pool, &email, "Test Admin", &hash, None, None).await.expect("admin");
        self.client("admin", &email, PASSWORD).await
    }
}

/// A member created through the admin API, with its standard card.
pub struct TestMember {
    pub id: String,
    pub member_no: String,
    pub phone: String,
    pub card_id: String,
    pub card_no: String,
}

/// A merchant created through the admin API.
pub struct TestMerchant {
    pub id: String,
    pub code: String,
}

/// A short unique suffix of digits, for phones and codes.
pub fn unique_digits() -> String {
    format!("{:010}", uuid::Uuid::new_v4().as_u128() % 10_000_000_000)
}

impl Client<'_> {
    /// Admin: creates a member (password [`PASSWORD`]) and returns it with its card.
    pub async fn create_member(&self, name: &str) -> TestMember {
        let phone = format!("1{}", unique_digits());
        let response = self
            .post("/admin/members", serde_json::json!({ "name": name, "phone": phone, "password": PASSWORD }))
            .await;
        assert_eq!(response.status, 201, "create member: {}", response.text);
        let json = &response.json;
        TestMember {
            id: json["member"]["id"].as_str().unwrap().to_owned(),
            member_no: json["member"]["member_no"].as_str().unwrap().to_owned(),
            phone,
            card_id: json["card"]["id"].as_str().unwrap().to_owned(),
            card_no: json["card"]["card_no"].as_str().unwrap().to_owned(),
        }
    }

    /// Admin: creates a merchant (password [`PASSWORD`]).
    pub async fn create_merchant(&self, name: &str) -> TestMerchant {
        let code = format!("M{}", unique_digits());
        let response = self
            .post("/admin/merchants", serde_json::json!({ "code": code, "name": name, "password": PASSWORD }))
            .await;
        assert_eq!(response.status, 201, "create merchant: {}", response.text);
        TestMerchant { id: response.json["id"].as_str().unwrap().to_owned(), code }
    }
}

impl TestApp {
    pub async fn member_client(&self, member: &TestMember) -> Client<'_> {
        self.client("member", &member.phone, PASSWORD).await
    }

    pub async fn merchant_client(&self, merchant: &TestMerchant) -> Client<'_> {
        self.client("merchant", &merchant.code, PASSWORD).await
    }
}

/// The cast of most payment tests: an admin, a member ("Ana") whose standard card holds a
/// balance, a merchant ("Shop"), and both signed in.
pub struct Shopping<'a> {
    pub admin: Client<'a>,
    pub member: TestMember,
    pub merchant: TestMerchant,
    /// The merchant, signed in.
    pub shop: Client<'a>,
    /// The member, signed in.
    pub ana: Client<'a>,
}

impl TestApp {
    /// A new [`Shopping`] cast whose member's card holds `balance`.
    pub async fn shopping(&self, balance: &str) -> Shopping<'_> {
        let cast = self.shopping_with_an_empty_card().await;
        cast.admin.credit(&cast.member.card_id, balance).await;
        cast
    }

    /// A new [`Shopping`] cast whose member's card holds nothing yet (for tests whose first
    /// credit is itself under test).
    pub async fn shopping_with_an_empty_card(&self) -> Shopping<'_> {
        let admin = self.admin().await;
        let member = admin.create_member("Ana").await;
        let merchant = admin.create_merchant("Shop").await;
        let shop = self.merchant_client(&merchant).await;
        let ana = self.member_client(&member).await;
        Shopping { admin, member, merchant, shop, ana }
    }
}

impl Shopping<'_> {
    /// A fresh QR token of the member's card.
    pub async fn qr(&self) -> String {
        self.ana.qr(&self.member.card_id).await
    }

    /// The member pays `amount` at the shop with a fresh QR; the payment's `tx_no`.
    pub async fn pay(&self, amount: &str) -> String {
        programme::tx_no(&self.shop.charge(&self.qr().await, amount).await)
    }
}

/// A fresh idempotency key.
pub fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Client<'_> {
    /// Admin: credits a card (manual recharge) and asserts it worked.
    pub async fn credit(&self, card_id: &str, amount: &str) {
        let response = self
            .post_idempotent(
                &format!("/admin/cards/{card_id}/recharge"),
                &new_key(),
                serde_json::json!({ "amount": amount }),
            )
            .await;
        assert_eq!(response.status, 201, "credit {amount}: {}", response.text);
    }

    /// Admin: sets a card's points through an adjustment.
    pub async fn adjust_points(&self, card_id: &str, delta: i64) {
        let body = serde_json::json!({ "card_id": card_id, "delta_points": delta, "reason": "test" });
        let response = self.post("/admin/points/adjust", body).await;
        assert_eq!(response.status, 200, "adjust points: {}", response.text);
    }

    /// Member: issues a QR token for a card and returns its plain text.
    pub async fn qr(&self, card_id: &str) -> String {
        let response = self.post("/member/qr", serde_json::json!({ "card_id": card_id })).await;
        assert_eq!(response.status, 201, "issue qr: {}", response.text);
        response.json["qr_plain"].as_str().unwrap().to_owned()
    }

    /// Merchant: charges a QR token with a fresh key.
    pub async fn charge(&self, qr: &str, amount: &str) -> TestResponse {
        self.post_idempotent("/merchant/charge", &new_key(), serde_json::json!({ "qr_plain": qr, "amount": amount }))
            .await
    }

    /// Merchant: refunds part of a payment with a fresh key.
    pub async fn refund(&self, tx_no: &str, amount: &str) -> TestResponse {
        self.post_idempotent(
            "/merchant/refund",
            &new_key(),
            serde_json::json!({ "original_tx_no": tx_no, "amount": amount }),
        )
        .await
    }
}

/// A card's balance and points as stored.
pub async fn card_state(pool: &PgPool, card_id: &str) -> (String, i64, i32) {
    sqlx::query_as("SELECT balance::text, points, level FROM cards WHERE id = $1::uuid")
        .bind(card_id)
        .fetch_one(pool)
        .await
        .expect("card exists")
}

/// The invariants of the books as one query, one row per violation (shared with the fault suite).
pub const INVARIANTS_SQL: &str = include_str!("../invariants.sql");

/// Checks the invariants of the books (balances = credits − debits, points = ledger, refunds
/// within their payments, one audit event per mutation, keys executed once…). Panics listing
/// every violation.
pub async fn assert_books_balance(pool: &PgPool) {
    let violations: Vec<(String, String, String)> =
        sqlx::query_as(INVARIANTS_SQL).fetch_all(pool).await.expect("the invariants query runs");
    let listing: Vec<String> =
        violations.iter().map(|(invariant, subject, detail)| format!("{invariant}: {subject}: {detail}")).collect();
    assert!(violations.is_empty(), "the books do not balance:\n{}", listing.join("\n"));
}

/// Starts the real server (`mps::server::serve`, real sockets) on a free port with `extra` routes
/// merged in; returns its address, a trigger for graceful shutdown and the serving task.
pub async fn start_server(
    app: &TestApp,
    extra: Router,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = extra.merge(mps::build_app(app.state.clone()));
    let server = tokio::spawn(mps::server::serve(
        listener,
        router,
        async move {
            let _ = rx.await;
        },
        mps::server::ServeLimits::from_config(&app.state.config),
    ));
    (addr, tx, server)
}
