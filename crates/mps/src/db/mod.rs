//! PostgreSQL: the pool, migrations, and the mapping of database errors onto API errors.
//!
//! The rules that move money are SQL functions (see `sql/functions/`); the Rust wrappers in this
//! module's children keep their SQL function's name so `grep` finds both.

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, PgPool};

use mps_api::error::ErrorCode;

use crate::config::Config;
use crate::error::ApiError;

pub use schema::MIGRATOR;

/// SQLSTATE our SQL functions raise business errors with; the message is the error code.
const BUSINESS_ERROR_SQLSTATE: &str = "P0001";

/// SQLSTATEs after which a whole call may simply run again: PostgreSQL rolled it back for a
/// deadlock (`40P01`) or a serialization failure (`40001`), so nothing of it took effect.
const RETRYABLE_SQLSTATES: [&str; 2] = ["40P01", "40001"];

/// How many times [`call_with_retry`] runs a call before answering 503.
pub const CALL_ATTEMPTS: u32 = 3;

/// How long a pooled connection may sit unused before it is pinged when handed out.
const STALE_AFTER_IDLE: Duration = Duration::from_secs(5);

/// SQLSTATE `read_only_sql_transaction`: the connection leads to a standby, or to a primary
/// that was demoted in a failover.
const READ_ONLY_SQLSTATE: &str = "25006";

/// The longest a pooled connection lives: after a failover behind a stable address (a Kubernetes
/// service, a proxy), connections that still lead to the old host are gone within this.
const MAX_LIFETIME: Duration = Duration::from_secs(300);

/// For how long after a read-only answer every connection handed out is checked first.
const READ_ONLY_SUSPICION: Duration = Duration::from_secs(30);

/// Unix millis of the last read-only answer (`25006`) any pool of this process saw.
static READ_ONLY_SEEN_MS: AtomicI64 = AtomicI64::new(i64::MIN);

/// Which server a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolRole {
    /// `DATABASE_URL`: everything that writes or decides a money movement. A connection that
    /// leads to a server in recovery (a standby, a demoted primary) is refused or dropped.
    Primary,
    /// `DATABASE_READ_URL`: lists, reports and statistics, possibly a little behind.
    ReadReplica,
}

/// Opens the primary pool lazily, so the server starts and answers `/health` while the database is down.
pub fn connect_lazy(config: &Config) -> anyhow::Result<PgPool> {
    pool_for(config.database_url.expose(), config.db_max_connections, PoolRole::Primary)
}

/// The pool heavy reads use: the `DATABASE_READ_URL` standby when configured, else `primary`.
pub fn connect_read_lazy(config: &Config, primary: &PgPool) -> anyhow::Result<PgPool> {
    match &config.database_read_url {
        Some(url) => pool_for(url.expose(), config.db_max_connections, PoolRole::ReadReplica)
            .context("DATABASE_READ_URL is not a valid PostgreSQL URL"),
        None => Ok(primary.clone()),
    }
}

fn pool_for(url: &str, max_connections: u32, role: PoolRole) -> anyhow::Result<PgPool> {
    let options = connect_options(url)?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        // Fail fast while the database is down, so money endpoints answer 503 instead of hanging.
        .acquire_timeout(Duration::from_secs(3))
        .idle_timeout(Duration::from_secs(300))
        .max_lifetime(MAX_LIFETIME)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if role == PoolRole::Primary && is_read_only(conn).await? {
                    // An I/O error, as a refused connection would be: the request answers 503.
                    return Err(sqlx::Error::Io(std::io::Error::other(
                        "DATABASE_URL leads to a server in recovery (a standby), not a primary",
                    )));
                }
                Ok(())
            })
        })
        // sqlx pings every connection it hands out by default: a second round trip per query.
        // Only a connection that has sat idle long enough to have gone stale gets one; a busy
        // one that broke fails its query with 503 `UNAVAILABLE`, which clients retry (money
        // calls with the same Idempotency-Key). After a read-only answer (a failover), every
        // connection is asked whether it still leads to a primary, and dropped when not.
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            Box::pin(async move {
                if role == PoolRole::Primary && read_only_seen_recently() {
                    return Ok(!is_read_only(conn).await?);
                }
                if meta.idle_for > STALE_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options))
}

async fn is_read_only(conn: &mut sqlx::PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::bool")
        .fetch_one(conn)
        .await
}

fn read_only_seen_recently() -> bool {
    let seen = READ_ONLY_SEEN_MS.load(Ordering::Relaxed);
    let window = i64::try_from(READ_ONLY_SUSPICION.as_millis()).unwrap_or(i64::MAX);
    chrono::Utc::now().timestamp_millis().saturating_sub(seen) < window
}

fn connect_options(url: &str) -> anyhow::Result<PgConnectOptions> {
    Ok(PgConnectOptions::from_str(url)
        .context("DATABASE_URL is not a valid PostgreSQL URL")?
        .application_name("mps")
        .log_statements(tracing::log::LevelFilter::Trace)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1)))
}

/// Creates the database named in `url` when it does not exist yet.
pub async fn create_database_if_missing(url: &str) -> anyhow::Result<()> {
    let options = connect_options(url)?;
    let database = options.get_database().unwrap_or("postgres").to_owned();
    // Connect to the maintenance database of the same server to create ours.
    let mut admin = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .context("cannot connect to the PostgreSQL server of DATABASE_URL")?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&database)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        let quoted = format!("\"{}\"", database.replace('"', "\"\""));
        match sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}"))).execute(&mut admin).await {
            Ok(_) => tracing::info!(database, "created database"),
            // Another replica created it between our check and our CREATE.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e).context("cannot create the database"),
        }
    }
    admin.close().await.ok();
    Ok(())
}

/// Applies pending migrations and changed SQL function files ([`schema::migrate_on`]) under one
/// advisory lock, so replicas that start together do each once.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await.context("cannot connect to migrate")?;
    schema::migrate_on(&mut conn).await
}

fn is_retryable(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().is_some_and(|c| RETRYABLE_SQLSTATES.contains(&c.as_ref())))
}

/// Runs one call of a SQL function (one statement, so one transaction of its own) and runs it
/// again when PostgreSQL aborted it for a deadlock or a serialization failure: nothing of the
/// aborted attempt took effect, and an idempotent operation's key was rolled back with it. After
/// [`CALL_ATTEMPTS`] attempts the answer is 503 `UNAVAILABLE` (see [`map_sqlx_error`]), which a
/// client retries with the same `Idempotency-Key`; never 500.
pub async fn call_with_retry<T, F, Fut>(mut call: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if is_retryable(&error) && attempt < CALL_ATTEMPTS => {
                let cause = "database call aborted by a deadlock or serialization failure; retrying";
                tracing::warn!(attempt, error = %error, "{cause}");
                // The other party of a deadlock was not aborted: a short pause lets it finish.
                tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
                attempt += 1;
            }
            result => return result.map_err(ApiError::from),
        }
    }
}

/// `?` on a database call in a handler: the API error [`map_sqlx_error`] chooses.
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        map_sqlx_error(error)
    }
}

/// Turns a database error into the API error a client should see.
pub fn map_sqlx_error(error: sqlx::Error) -> ApiError {
    if is_retryable(&error) {
        let mut unavailable = ApiError::unavailable(error);
        unavailable.message =
            "The database was busy with a conflicting change; retry with the same Idempotency-Key.".into();
        return unavailable;
    }
    match &error {
        sqlx::Error::Database(db) => {
            if db.code().as_deref() == Some(BUSINESS_ERROR_SQLSTATE)
                && let Some(code) = ErrorCode::parse(db.message())
            {
                return business_error(code, db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>());
            }
            if let Some(code) = db.constraint().and_then(constraint_error) {
                return ApiError::from_code(code);
            }
            // Class 08 (connection), 53 (resources), 57P (shutdown) mean the database is unavailable;
            // so does a read-only answer: the primary's address leads to a standby mid-failover.
            match db.code().as_deref() {
                Some(READ_ONLY_SQLSTATE) => {
                    READ_ONLY_SEEN_MS.store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
                    let mut unavailable = ApiError::unavailable(error);
                    unavailable.message =
                        "The database is failing over; retry shortly (money calls with the same Idempotency-Key)."
                            .into();
                    unavailable
                }
                Some(c) if c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") => {
                    ApiError::unavailable(error)
                }
                _ => ApiError::internal(error),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            ApiError::unavailable(error)
        }
        sqlx::Error::RowNotFound => ApiError::from_code(ErrorCode::NotFound),
        _ => ApiError::internal(error),
    }
}

/// A business error raised by a SQL function: `MESSAGE` is the code, `DETAIL` the human
/// message and `HINT`, when present, JSON details.
fn business_error(code: ErrorCode, pg: Option<&sqlx::postgres::PgDatabaseError>) -> ApiError {
    let message = pg.and_then(|e| e.detail()).unwrap_or("The request was refused.").to_owned();
    let details = pg.and_then(|e| e.hint()).and_then(|h| serde_json::from_str(h).ok());
    let error = ApiError::new(code, message);
    match details {
        Some(details) => error.with_details(details),
        None => error,
    }
}

/// Named constraints whose violation is the client's doing, not ours.
fn constraint_error(constraint: &str) -> Option<ErrorCode> {
    Some(match constraint {
        "members_phone_key" => ErrorCode::DuplicatePhone,
        "members_email_key" | "admins_email_key" => ErrorCode::DuplicateEmail,
        "member_identities_provider_external_key" => ErrorCode::DuplicateExternalIdentity,
        "merchants_code_key" => ErrorCode::DuplicateMerchantCode,
        "staff_username_key" => ErrorCode::DuplicateUsername,
        "stores_code_key" => ErrorCode::DuplicateStoreCode,
        "settlements_no_overlap" => ErrorCode::SettlementAlreadyExists,
        "card_bindings_live_key" => ErrorCode::AlreadyBound,
        "cards_closed_empty" => ErrorCode::CardHasBalance,
        _ => return None,
    })
}

/// Every second, records in `writable` whether the primary pool leads to a server that takes
/// writes. An unreachable database leaves the last answer: `/health` reports that case.
pub fn watch_primary(pool: PgPool, writable: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // A fresh connection: pooled ones to a standby are refused by `after_connect`.
            let check = async {
                let mut conn = pool.connect_options().connect().await?;
                let read_only = is_read_only(&mut conn).await;
                conn.close().await.ok();
                read_only
            };
            if let Ok(Ok(read_only)) = tokio::time::timeout(Duration::from_secs(2), check).await
                && writable.swap(!read_only, Ordering::Relaxed) == read_only
            {
                let now = if read_only { "a standby" } else { "a primary" };
                tracing::warn!(read_only, "DATABASE_URL now leads to {now}");
            }
        }
    });
}

/// Checks the database answers, within `timeout`, and that it is a primary that takes writes
/// (not a standby that the primary's address leads to mid-failover).
pub async fn ping(pool: &PgPool, timeout: Duration) -> bool {
    let check = async {
        let mut conn = pool.acquire().await?;
        is_read_only(&mut conn).await
    };
    matches!(tokio::time::timeout(timeout, check).await, Ok(Ok(false)))
}

pub mod account_admin;
pub mod admin_cards;
pub mod admins;
pub mod audit;
pub mod bindings;
pub mod credentials;
pub mod identities;
pub mod levels;
pub mod liability;
pub mod member_cards;
pub mod members;
pub mod merchants;
pub mod money_ops;
pub mod paging;
pub mod phone_codes;
pub mod pos_keys;
pub mod reports;
pub mod retention;
pub mod schema;
pub mod sessions;
pub mod settlements;
pub mod staff;
pub mod statements;
pub mod stores;
pub mod transactions;
pub mod webhooks;

/// Migrates a database from scratch for `mps migrate`: creates it first when missing.
pub async fn migrate_database(config: &Config) -> anyhow::Result<()> {
    create_database_if_missing(config.database_url.expose()).await?;
    let mut conn = sqlx::PgConnection::connect_with(&connect_options(config.database_url.expose())?).await?;
    let result = schema::migrate_on(&mut conn).await;
    conn.close().await.ok();
    result
}
