//! Start-up, serving with graceful shutdown, and the small operational subcommands.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::config::Config;
use crate::state::AppState;

/// `mps serve`: migrate (unless disabled), then serve until SIGTERM or SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    if config.jwt_secret_generated {
        tracing::warn!("JWT_SECRET is not set: using a random secret for this process; tokens end with it");
    }
    if config.migrate_on_start {
        migrate_with_retries(&config).await?;
    }
    let pool = crate::db::connect_lazy(&config)?;
    let state = AppState::new(config, pool)?;
    crate::recovery::spawn_invalidation_flusher(state.clone());
    crate::db::watch_primary(state.db.clone(), state.primary_writable.clone());
    spawn_pruner(state.clone());
    if crate::webhooks::spawn_worker(state.clone()).is_none() {
        tracing::info!("webhook delivery worker not started (WEBHOOK_SECRET_KEY unset or WEBHOOK_WORKER=false)");
    }
    let addr = state.config.listen_addr();
    let listener =
        TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (API_HOST, API_PORT)"))?;
    tracing::info!(%addr, version = env!("CARGO_PKG_VERSION"), "mps listening");
    let limits = ServeLimits::from_config(&state.config);
    serve(listener, crate::build_app(state), shutdown_signal(), limits).await?;
    tracing::info!("mps stopped");
    Ok(())
}

/// How long idempotency records are kept: SPEC §2 asks for at least 24 h.
const IDEMPOTENCY_RETENTION_HOURS: i32 = 48;

/// How long expired sessions are kept (for support questions about a recent login) before the
/// hourly sweep deletes them (issue 15).
const EXPIRED_SESSION_RETENTION_DAYS: i32 = 30;

/// Sessions deleted per sweep at most, so one sweep stays a short transaction.
const SESSION_SWEEP_BATCH: i64 = 10_000;

/// Deletes idempotency records and expired sessions past their retention, hourly.
fn spawn_pruner(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let pruned = crate::db::money_ops::prune_idempotency_keys(&state.db, IDEMPOTENCY_RETENTION_HOURS).await;
            match pruned {
                Ok(count) if count > 0 => tracing::info!(pruned = count, "idempotency records pruned"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot prune idempotency records"),
            }
            let swept = crate::db::retention::prune_expired_sessions(
                &state.db,
                EXPIRED_SESSION_RETENTION_DAYS,
                SESSION_SWEEP_BATCH,
            )
            .await;
            match swept {
                Ok(count) if count > 0 => tracing::info!(pruned = count, "expired sessions pruned"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot prune expired sessions"),
            }
        }
    });
}

/// The database may still be starting (compose, k8s): retry for about half a minute.
async fn migrate_with_retries(config: &Config) -> anyhow::Result<()> {
    let mut attempt = 1;
    loop {
        match crate::db::migrate_database(config).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 15 => {
                tracing::warn!(error = %format!("{e:#}"), attempt, "database not ready for migrations; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// How long the server waits on clients.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// A connection must deliver a complete request head within this time of opening (or of
    /// its previous response), else it is closed: slow or silent clients cannot hold it.
    pub header_read: Duration,
    /// After shutdown is requested, in-flight requests get at most this long to finish.
    pub drain: Duration,
}

impl ServeLimits {
    /// Heads within `REQUEST_TIMEOUT_SECONDS`; the drain a little longer than one request.
    pub fn from_config(config: &Config) -> ServeLimits {
        ServeLimits { header_read: config.request_timeout, drain: config.request_timeout + Duration::from_secs(5) }
    }
}

/// Serves `app` until `shutdown` resolves, then closes the listener (new connections are
/// refused), lets in-flight requests finish and closes idle connections, for at most
/// `limits.drain`.
///
/// This is axum's own serve loop with one addition axum does not offer: hyper's header-read
/// timeout, which needs a timer. The body and the handler are bounded by the `TimeoutLayer`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServeLimits,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            request
        });
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutdown requested: draining in-flight requests");
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("in-flight requests did not finish in time; exiting anyway");
    }
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}

/// `mps healthcheck`: true when the local server's `/health` answers 200.
pub async fn healthcheck(config: &Config) -> bool {
    let host = match config.api_host {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1]),
        ip => ip,
    };
    let check = async {
        let mut stream = tokio::net::TcpStream::connect((host, config.api_port)).await.ok()?;
        let request = format!("GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 32];
        let read = stream.read(&mut head).await.ok()?;
        let status_line = std::str::from_utf8(&head[..read]).ok()?;
        Some(status_line.starts_with("HTTP/1.1 200") || status_line.starts_with("HTTP/1.0 200"))
    };
    matches!(tokio::time::timeout(Duration::from_secs(5), check).await, Ok(Some(true)))
}

/// `mps create-admin`: adds an administrator (audited as `CREATE_ADMIN`).
pub async fn create_admin(config: &Config, email: &str, name: &str, password: String) -> anyhow::Result<uuid::Uuid> {
    crate::auth::password::check_new_password("password", &password).map_err(|e| anyhow::anyhow!(e.message))?;
    crate::db::migrate_database(config).await?;
    let pool = crate::db::connect_lazy(config)?;
    let hash = crate::auth::password::hash_password(password).await.map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let id = crate::db::admins::create_admin(&pool, email, name, &hash, None, None)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    pool.close().await;
    Ok(id)
}
