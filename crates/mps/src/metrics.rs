//! Prometheus metrics of SPEC §4, on a registry of our own.

use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Every metric the server exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests_total: IntCounterVec,
    pub request_duration: HistogramVec,
    pub rpc_calls_total: IntCounterVec,
    pub auth_attempts_total: IntCounterVec,
    pub member_logins_total: IntCounterVec,
    pub payment_amount: Histogram,
    pub active_sessions: IntGaugeVec,
    pub db_pool_connections: IntGaugeVec,
    pub db_pool_max: IntGauge,
    /// Webhook delivery attempts by outcome: `delivered`, `retry`, `failed` (gave up).
    pub webhook_deliveries_total: IntCounterVec,
}

/// Name, help and type of each family, so families without samples yet are still described.
const FAMILIES: &[(&str, &str, &str)] = &[
    ("mps_api_requests_total", "HTTP requests by method, route template and status", "counter"),
    ("mps_api_request_duration_seconds", "HTTP request latency by method and route template", "histogram"),
    ("mps_api_rpc_calls_total", "Calls of database functions by name and outcome", "counter"),
    ("mps_api_auth_attempts_total", "Login attempts by role and outcome", "counter"),
    ("mps_member_logins_total", "Member logins by outcome", "counter"),
    ("mps_payment_amount", "Final amounts of completed payments", "histogram"),
    ("mps_active_sessions", "Live (unrevoked, unexpired) sessions by role", "gauge"),
    ("mps_db_pool_connections", "Database pool connections by state", "gauge"),
    ("mps_db_pool_max_connections", "Configured size of the database pool", "gauge"),
    ("mps_webhook_deliveries_total", "Webhook delivery attempts by outcome (delivered, retry, failed)", "counter"),
];

fn help(name: &str) -> &'static str {
    FAMILIES.iter().find(|f| f.0 == name).map(|f| f.1).unwrap_or("")
}

impl Metrics {
    /// Registers every family; fails only on a programming error in the definitions.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help(name)), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let requests_total = counter("mps_api_requests_total", &["method", "endpoint", "status"])?;
        let rpc_calls_total = counter("mps_api_rpc_calls_total", &["function_name", "status"])?;
        let auth_attempts_total = counter("mps_api_auth_attempts_total", &["role", "status"])?;
        let member_logins_total = counter("mps_member_logins_total", &["status"])?;
        let webhook_deliveries_total = counter("mps_webhook_deliveries_total", &["outcome"])?;

        let request_duration = HistogramVec::new(
            HistogramOpts::new("mps_api_request_duration_seconds", help("mps_api_request_duration_seconds"))
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method", "endpoint"],
        )?;
        registry.register(Box::new(request_duration.clone()))?;

        let payment_amount = Histogram::with_opts(
            HistogramOpts::new("mps_payment_amount", help("mps_payment_amount"))
                .buckets(vec![10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0]),
        )?;
        registry.register(Box::new(payment_amount.clone()))?;

        let gauge = |name: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
            let g = IntGaugeVec::new(Opts::new(name, help(name)), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let active_sessions = gauge("mps_active_sessions", &["role"])?;
        let db_pool_connections = gauge("mps_db_pool_connections", &["state"])?;
        let db_pool_max = IntGauge::new("mps_db_pool_max_connections", help("mps_db_pool_max_connections"))?;
        registry.register(Box::new(db_pool_max.clone()))?;

        // Finite label sets start at zero so dashboards see them before the first event.
        for role in ["member", "merchant", "admin"] {
            active_sessions.with_label_values(&[role]).set(0);
            for status in ["success", "failure"] {
                auth_attempts_total.with_label_values(&[role, status]);
            }
        }
        for status in ["success", "failure"] {
            member_logins_total.with_label_values(&[status]);
        }
        for outcome in ["delivered", "retry", "failed"] {
            webhook_deliveries_total.with_label_values(&[outcome]);
        }

        Ok(Metrics {
            registry,
            requests_total,
            request_duration,
            rpc_calls_total,
            auth_attempts_total,
            member_logins_total,
            payment_amount,
            active_sessions,
            db_pool_connections,
            db_pool_max,
            webhook_deliveries_total,
        })
    }

    /// Counts one call of a database function with its outcome (`ok` or an error code).
    pub fn record_rpc(&self, function_name: &str, status: &str) {
        self.rpc_calls_total.with_label_values(&[function_name, status]).inc();
    }

    /// Observes a completed payment. Histograms take floats, so this is the one place an amount
    /// becomes one — for the metric only, never for arithmetic.
    pub fn observe_payment(&self, final_amount: mps_api::money::Money) {
        use rust_decimal::prelude::ToPrimitive as _;
        self.payment_amount.observe(final_amount.amount().to_f64().unwrap_or_default());
    }

    /// The Prometheus text exposition, describing families that have no samples yet too.
    pub fn render(&self) -> String {
        let families = self.registry.gather();
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&families, &mut buffer) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        let mut text = String::from_utf8(buffer).unwrap_or_default();
        for (name, help, kind) in FAMILIES {
            if !families.iter().any(|f| f.name() == *name) {
                text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            }
        }
        text
    }
}
