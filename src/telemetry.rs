//! Logging: JSON lines (or pretty text) with the request's span fields on every line.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber once; later calls (e.g. from tests) are ignored.
pub fn init(config: &Config) {
    // PostgreSQL's notices ("relation already exists, skipping") are not worth a log line.
    let directives = format!("{},sqlx::postgres::notice=warn", config.log_level);
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_span_events(FmtSpan::NONE);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Pretty => builder.pretty().try_init(),
    };
}
