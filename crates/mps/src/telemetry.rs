//! Logging: JSON lines (or pretty text) with the request's span fields on every line.
//!
//! Lines are written by a thread of their own, in batches: a write system call per request log
//! line cost the API a quarter of its cached-read throughput (see docs/benchmarks.md). The queue
//! is not lossy: when the writer falls behind, logging callers wait rather than drop lines.

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::{Config, LogFormat};

/// Keeps the log writer running; dropping it writes out what is still queued. Hold it until
/// the process ends.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: WorkerGuard,
}

/// Installs the global subscriber once; later calls (e.g. from tests) are ignored and get `None`.
pub fn init(config: &Config) -> Option<LogGuard> {
    // PostgreSQL's notices ("relation already exists, skipping") are not worth a log line.
    let directives = format!("{},sqlx::postgres::notice=warn", config.log_level);
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("mps-log")
        .finish(std::io::BufWriter::new(std::io::stdout()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_span_events(FmtSpan::NONE).with_writer(writer);
    let installed = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Pretty => builder.pretty().try_init(),
    };
    installed.ok().map(|()| LogGuard { _writer: guard })
}
