//! The shared state every handler sees.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sqlx::PgPool;

use crate::auth::token::JwtKeys;
use crate::cache::Cache;
use crate::config::Config;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::sms::{self, SmsSender};
use crate::wechat::WechatClient;

/// One pointer to the shared parts: axum clones the state for every request and every
/// middleware layer, and cloning a struct of handles cost a few dozen atomic increments and
/// decrements per request, all on cache lines both cores contend for.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] points to.
pub struct Shared {
    pub config: Arc<Config>,
    pub db: PgPool,
    /// Lists, reports and statistics: the `DATABASE_READ_URL` standby when configured, else `db`.
    /// Never a member's own card list, nor anything that decides a money movement.
    pub read_db: PgPool,
    /// False while `DATABASE_URL` leads to a server in recovery (a standby mid-failover), as the
    /// primary watch last saw it (`db::watch_primary`); `/ready` answers 503 meanwhile.
    pub primary_writable: Arc<AtomicBool>,
    pub cache: Cache,
    /// The card-list epoch as this process last read it (see `card_cache`).
    pub card_list_epoch: crate::cache::Memo,
    pub metrics: Metrics,
    pub jwt: Arc<JwtKeys>,
    pub limits: Arc<Limits>,
    /// Where phone verification codes go.
    pub sms: Arc<dyn SmsSender>,
    /// The WeChat code-to-session client.
    pub wechat: Arc<WechatClient>,
    /// Where a test harness holds requests to make a race deterministic; always `None` in the
    /// server (only [`AppState::with_pause_hook`] sets it, and only tests call that).
    pause_hook: Option<PauseHook>,
}

/// A point in a request where a test may hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PausePoint {
    /// A login whose password has been verified, before its session is created.
    LoginVerified,
    /// A sign-up whose phone code has been accepted (its row locked), before the member is created.
    RegistrationVerified,
    /// A WeChat sign-in that found no member for its identity, before it creates one.
    WechatIdentityUnknown,
}

/// What a test runs at a [`PausePoint`]: the request waits until the returned future ends.
pub type PauseHook = Arc<dyn Fn(PausePoint) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Wires the state from a configuration and an open (possibly lazy) pool.
    pub fn new(config: Config, db: PgPool) -> anyhow::Result<AppState> {
        AppState::build(config, db, None)
    }

    /// The state of a test harness that holds requests at [`PausePoint`]s with `hook`, so a race
    /// can be replayed in a chosen order. The server never calls this.
    pub fn with_pause_hook(config: Config, db: PgPool, hook: PauseHook) -> anyhow::Result<AppState> {
        AppState::build(config, db, Some(hook))
    }

    fn build(config: Config, db: PgPool, pause_hook: Option<PauseHook>) -> anyhow::Result<AppState> {
        let cache = Cache::new(&config)?;
        let read_db = crate::db::connect_read_lazy(&config, &db)?;
        let metrics = Metrics::new()?;
        metrics.db_pool_max.set(i64::from(config.db_max_connections));
        let jwt = Arc::new(JwtKeys::new(&config));
        let limits = Arc::new(Limits::new(&config));
        let sms = sms::sender(&config.otp.provider, config.otp.send_timeout)?;
        let wechat = Arc::new(WechatClient::new(&config.wechat)?);
        let shared = Shared {
            config: Arc::new(config),
            db,
            read_db,
            primary_writable: Arc::new(AtomicBool::new(true)),
            cache,
            card_list_epoch: crate::cache::Memo::default(),
            metrics,
            jwt,
            limits,
            sms,
            wechat,
            pause_hook,
        };
        Ok(AppState(Arc::new(shared)))
    }

    /// Lets a test harness hold the request at `point`; does nothing in the server.
    pub async fn pause_at(&self, point: PausePoint) {
        if let Some(hook) = &self.pause_hook {
            hook(point).await;
        }
    }
}
