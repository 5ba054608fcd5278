//! Typed configuration from the environment (and `.env`), per SPEC §4.
//!
//! Every variable is declared once, with its type, default and meaning, on a clap `Parser`
//! (`Environment`, one `#[arg(env = …)]` per variable); every one is parsed up front, and a bad
//! value stops start-up with an error naming it.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue};
use clap::{ArgAction, CommandFactory as _, FromArgMatches as _};
use ipnet::IpNet;
use rust_decimal::Decimal;
use secrecy::{ExposeSecret as _, SecretString};

/// Where the server runs; production tightens the rules on secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Testing,
    Production,
}

impl FromStr for AppEnv {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "development" => Ok(AppEnv::Development),
            "testing" => Ok(AppEnv::Testing),
            "production" => Ok(AppEnv::Production),
            other => Err(format!("`{other}` is not development, testing or production")),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            other => Err(format!("`{other}` is not json or pretty")),
        }
    }
}

/// A string that never shows itself in `Debug` or logs (`secrecy`: its `Debug` is redacted and
/// the value is wiped from memory when dropped). Read it only where it is used, with [`Secret::expose`].
#[derive(Clone, Debug)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Configurations compare equal when their secrets do (tests compare parsed configurations).
impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

/// An address or CIDR block whose `X-Forwarded-For` header is believed (`ipnet` does the
/// matching; a bare address is a block of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(IpNet);

impl TrustedProxy {
    /// Whether `ip` is inside the block; an IPv4-mapped IPv6 peer counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let network = match s.parse::<IpNet>() {
            Ok(network) => network,
            Err(_) if s.contains('/') => return Err(format!("`{s}` is not a CIDR block (address/prefix length)")),
            Err(_) => {
                let address: IpAddr = s.parse().map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?;
                IpNet::from(address.to_canonical())
            }
        };
        Ok(TrustedProxy(network))
    }
}

/// Where Redis is, as `REDIS_URL` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// `redis://host:port[/db]` or `rediss://…`: one server.
    Single(String),
    /// `redis+cluster://[user:pass@]host:port,host:port,…`: seed nodes of a Redis Cluster
    /// (any reachable one is enough to learn the rest).
    Cluster(Vec<String>),
    /// `redis+sentinel://[user:pass@]host:port,host:port,…[/master-name]`: Sentinels watching
    /// the master named in the path (default `mymaster`).
    Sentinel { sentinels: Vec<String>, master: String },
}

impl RedisTarget {
    /// Parses a `REDIS_URL`; the error says what is wrong without echoing the URL (it may hold a password).
    pub fn parse(url: &str) -> Result<RedisTarget, String> {
        let multi = |rest: &str| -> Result<(Vec<String>, Option<String>), String> {
            let (credentials, rest) = match rest.rsplit_once('@') {
                Some((credentials, rest)) => (format!("{credentials}@"), rest),
                None => (String::new(), rest),
            };
            let (hosts, path) = match rest.split_once('/') {
                Some((hosts, path)) => (hosts, Some(path.to_owned()).filter(|p| !p.is_empty())),
                None => (rest, None),
            };
            let nodes: Vec<String> = hosts
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(|h| format!("redis://{credentials}{h}"))
                .collect();
            if nodes.is_empty() {
                return Err("names no host:port".into());
            }
            if nodes.iter().any(|n| reqwest::Url::parse(n).map(|u| u.port().is_none()).unwrap_or(true)) {
                return Err("needs host:port for every node".into());
            }
            Ok((nodes, path))
        };
        if let Some(rest) = url.strip_prefix("redis+cluster://") {
            let (nodes, path) = multi(rest).map_err(|e| format!("cluster URL {e}"))?;
            if path.is_some() {
                return Err("a Redis Cluster has only database 0: drop the path".into());
            }
            Ok(RedisTarget::Cluster(nodes))
        } else if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            let (sentinels, master) = multi(rest).map_err(|e| format!("sentinel URL {e}"))?;
            Ok(RedisTarget::Sentinel { sentinels, master: master.unwrap_or_else(|| "mymaster".into()) })
        } else if url.starts_with("redis://") || url.starts_with("rediss://") {
            Ok(RedisTarget::Single(url.to_owned()))
        } else {
            Err("must be a redis://, rediss://, redis+cluster:// or redis+sentinel:// URL, or empty to run without \
                 Redis"
                .into())
        }
    }
}

/// The whole configuration of one server process.
#[derive(Debug, Clone)]
pub struct Config {
    pub app_env: AppEnv,
    pub database_url: Secret,
    pub db_max_connections: u32,
    /// `DATABASE_READ_URL`: a standby for lists, reports and statistics (never for a decision
    /// that moves money, nor a member's own card list); `None` reads everything from the primary.
    pub database_read_url: Option<Secret>,
    /// `None` when `REDIS_URL` is set empty: caches and limits are then per process.
    pub redis_url: Option<Secret>,
    /// Prefix of every Redis key (`mps:`); tests give each run its own.
    pub redis_key_prefix: String,
    pub jwt_secret: Secret,
    /// True when no secret was configured and one was generated for this process.
    pub jwt_secret_generated: bool,
    pub jwt_secret_previous: Option<Secret>,
    pub jwt_expire_hours: i64,
    pub api_host: IpAddr,
    pub api_port: u16,
    pub cors_origins: Vec<String>,
    pub rate_limit_requests: u32,
    pub rate_limit_window: Duration,
    pub login_rate_limit: u32,
    pub login_ip_rate_limit: u32,
    pub trusted_proxies: Vec<TrustedProxy>,
    pub qr_ttl_default: u32,
    pub qr_ttl_min: u32,
    pub qr_ttl_max: u32,
    pub max_amount: Decimal,
    pub business_timezone: chrono_tz::Tz,
    pub settlement_margin_seconds: i64,
    pub payment_webhook_secret: Option<Secret>,
    pub migrate_on_start: bool,
    pub log_level: String,
    pub log_format: LogFormat,
    pub metrics_enabled: bool,
    /// Largest accepted request body (`BODY_LIMIT_BYTES`, default 64 KiB).
    pub body_limit_bytes: usize,
    /// Longest a request may take before it is answered 503 (`REQUEST_TIMEOUT_SECONDS`, default 30).
    pub request_timeout: Duration,
    /// How phone verification codes are sent and limited.
    pub otp: OtpConfig,
    /// Whether anyone may sign up (`REGISTRATION_OPEN`, default true).
    pub registration_open: bool,
    /// WeChat mini-program sign-in.
    pub wechat: WechatConfig,
    /// Merchant webhooks: the secret key, the URL rules and the delivery worker (issue 19).
    pub webhooks: WebhookConfig,
}

/// Merchant webhooks (issue 19; docs/operations.md "Webhooks").
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `WEBHOOK_SECRET_KEY`: 32 bytes as 64 hex digits, the key the endpoints' signing secrets are
    /// sealed with. Without it webhook management answers 503 and no worker runs.
    pub secret_key: Option<WebhookKey>,
    /// `WEBHOOK_REQUIRE_HTTPS`: only https:// endpoints (default: true in production).
    pub require_https: bool,
    /// `WEBHOOK_ALLOW_HOSTS`: host names, addresses and CIDR blocks exempt from the private-address
    /// refusal (tests: `127.0.0.1`). Empty by default.
    pub allow_hosts: Vec<String>,
    /// The address part of `allow_hosts`.
    pub allow_networks: Vec<TrustedProxy>,
    /// `WEBHOOK_TIMEOUT_SECONDS`: one attempt's limit, default 10.
    pub timeout: Duration,
    /// `WEBHOOK_RETRY_BASE_MS`: the first retry's delay, doubled per attempt, default 30 000.
    pub retry_base: Duration,
    /// `WEBHOOK_RETRY_MAX_DELAY_SECONDS`: the longest delay between two attempts, default 21 600 (6 h).
    pub retry_max_delay: Duration,
    /// `WEBHOOK_GIVE_UP_SECONDS`: a delivery still failing this long after its event is marked
    /// failed, default 86 400 (24 h).
    pub give_up_after: Duration,
    /// `WEBHOOK_POLL_MS`: how often an idle worker looks for due deliveries, default 1000.
    pub poll_interval: Duration,
    /// `WEBHOOK_ROTATION_OVERLAP_SECONDS`: how long a rotated-out secret still signs, default 86 400.
    pub secret_overlap: Duration,
    /// `WEBHOOK_WORKER`: whether this process runs the delivery worker (default true).
    pub worker_enabled: bool,
}

/// The 32-byte key webhook signing secrets are sealed with; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookKey(pub [u8; 32]);

impl fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookKey([redacted])")
    }
}

/// Where phone verification codes go (`SMS_PROVIDER`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsProviderConfig {
    /// No provider (production without `SMS_PROVIDER`): `/auth/otp` answers 503.
    Disabled,
    /// The code is written to the log (development and testing only).
    Log,
    /// The code is POSTed as JSON to `SMS_HTTP_URL` with the bearer `SMS_HTTP_TOKEN`.
    Http { url: String, token: Secret },
}

/// Phone verification codes: provider, life and limits.
#[derive(Debug, Clone)]
pub struct OtpConfig {
    pub provider: SmsProviderConfig,
    /// `OTP_TTL_SECONDS`, default 300.
    pub ttl_seconds: u32,
    /// `OTP_MAX_ATTEMPTS`: wrong tries a code survives, default 5.
    pub max_attempts: u32,
    /// `OTP_RESEND_SECONDS`: least time between two codes to one phone, default 60.
    pub resend_seconds: u32,
    /// `OTP_DAILY_LIMIT`: codes per phone per 24 hours, default 10.
    pub daily_limit: u32,
    /// `OTP_IP_RATE_LIMIT`: codes asked for per client IP per hour, default 20.
    pub ip_rate_limit: u32,
    /// `SMS_TIMEOUT_SECONDS`: how long the provider may take, default 5.
    pub send_timeout: Duration,
}

/// WeChat mini-program code-to-session settings.
#[derive(Debug, Clone)]
pub struct WechatConfig {
    /// `WECHAT_API_BASE`, default `https://api.weixin.qq.com`.
    pub api_base: String,
    /// `WECHAT_APPID` and `WECHAT_SECRET`; without both, `/auth/wechat` answers 503.
    pub credentials: Option<(String, Secret)>,
    /// `WECHAT_AUTO_REGISTER`: an unknown identity becomes a new member (default false).
    pub auto_register: bool,
    /// `WECHAT_TIMEOUT_SECONDS`, default 5.
    pub timeout: Duration,
    /// `IDENTITY_LINK_TTL_SECONDS`: life of a link token, default 600.
    pub link_ttl_seconds: u32,
}

/// A configuration value that stops start-up; the message names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error in {variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

fn bad(variable: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { variable: variable.to_owned(), message: message.into() }
}

/// The one variable whose blank value is not "unset": `REDIS_URL=` runs without Redis.
const BLANK_MEANS_OFF: &str = "REDIS_URL";

/// Every variable the server reads, declared once: its name (`env`), its type (the field's, made
/// by the value parser, which also holds the rule), its default and its meaning. clap parses it;
/// [`Config::from_lookup`] hands each variable that is set to clap as `--long=value`, trimmed, a
/// blank value counting as unset. Rules that join two variables are in [`Environment::into_config`].
#[derive(clap::Parser)]
#[command(name = "mps-environment", no_binary_name = true, disable_help_flag = true)]
struct Environment {
    /// `development`, `testing` or `production`; production tightens the rules on secrets.
    #[arg(long, env = "APP_ENV", default_value = "development")]
    app_env: AppEnv,
    /// The PostgreSQL primary.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/mps", value_parser = postgres_url)]
    database_url: Secret,
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value = "20", value_parser = whole::<u32>(1, 1000))]
    db_max_connections: u32,
    /// A standby for lists, reports and statistics; unset reads everything from the primary.
    #[arg(long, env = "DATABASE_READ_URL", value_parser = postgres_url)]
    database_read_url: Option<Secret>,
    /// One server, a cluster's seed nodes or a Sentinel set; set empty to run without Redis.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379", value_parser = redis_url)]
    redis_url: RedisUrl,
    /// Prefix of every Redis key; never a brace (a Redis Cluster hash tag).
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "mps:", value_parser = redis_key_prefix)]
    redis_key_prefix: String,
    /// Required in production (32 characters or more, not a placeholder); generated otherwise.
    #[arg(long, env = "JWT_SECRET", value_parser = secret)]
    jwt_secret: Option<Secret>,
    /// The secret being rotated out: tokens it signed are still accepted.
    #[arg(long, env = "JWT_SECRET_PREVIOUS", value_parser = secret)]
    jwt_secret_previous: Option<Secret>,
    #[arg(long, env = "JWT_EXPIRE_HOURS", default_value = "24", value_parser = whole::<i64>(1, 24 * 30))]
    jwt_expire_hours: i64,
    #[arg(long, env = "API_HOST", default_value = "0.0.0.0", value_parser = parsed::<IpAddr>("an IP address"))]
    api_host: IpAddr,
    #[arg(long, env = "API_PORT", default_value = "8000", value_parser = parsed::<u16>("a port number"))]
    api_port: u16,
    /// Comma-separated origins such as `https://shop.example`.
    #[arg(long, env = "CORS_ORIGINS", default_value = "", value_parser = list(origin))]
    cors_origins: List<String>,
    #[arg(long, env = "RATE_LIMIT_REQUESTS", default_value = "600", value_parser = whole::<u32>(1, 10_000_000))]
    rate_limit_requests: u32,
    /// Seconds.
    #[arg(long, env = "RATE_LIMIT_WINDOW", default_value = "60", value_parser = seconds(1, 86_400))]
    rate_limit_window: Duration,
    #[arg(long, env = "LOGIN_RATE_LIMIT", default_value = "5", value_parser = whole::<u32>(1, 1_000_000))]
    login_rate_limit: u32,
    #[arg(long, env = "LOGIN_IP_RATE_LIMIT", default_value = "30", value_parser = whole::<u32>(1, 10_000_000))]
    login_ip_rate_limit: u32,
    /// Comma-separated addresses and CIDR blocks whose `X-Forwarded-For` is believed.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", value_parser = list(|p| p.parse::<TrustedProxy>()))]
    trusted_proxies: List<TrustedProxy>,
    /// Seconds; between `QR_TTL_MIN` and `QR_TTL_MAX`.
    #[arg(long, env = "QR_TTL_DEFAULT", default_value = "900", value_parser = whole::<u32>(1, 86_400))]
    qr_ttl_default: u32,
    #[arg(long, env = "QR_TTL_MIN", default_value = "60", value_parser = whole::<u32>(1, 86_400))]
    qr_ttl_min: u32,
    /// Not below `QR_TTL_MIN`.
    #[arg(long, env = "QR_TTL_MAX", default_value = "3600", value_parser = whole::<u32>(1, 86_400))]
    qr_ttl_max: u32,
    /// The largest amount of one operation: positive, at most 2 decimals.
    #[arg(long, env = "MAX_AMOUNT", default_value = "50000.00", value_parser = max_amount)]
    max_amount: Decimal,
    #[arg(long, env = "BUSINESS_TIMEZONE", default_value = "UTC",
          value_parser = parsed::<chrono_tz::Tz>("an IANA time zone name such as Asia/Shanghai"))]
    business_timezone: chrono_tz::Tz,
    #[arg(long, env = "SETTLEMENT_MARGIN_SECONDS", default_value = "60", value_parser = whole::<i64>(0, 86_400))]
    settlement_margin_seconds: i64,
    /// Signs the payment channel's callbacks; 32 characters or more.
    #[arg(long, env = "PAYMENT_WEBHOOK_SECRET", value_parser = payment_webhook_secret)]
    payment_webhook_secret: Option<Secret>,
    #[arg(long, env = "MIGRATE_ON_START", default_value = "true", action = ArgAction::Set, value_parser = flag)]
    migrate_on_start: bool,
    /// A level or filter such as `info` or `mps=debug`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = log_level)]
    log_level: String,
    /// `json` or `pretty`.
    #[arg(long, env = "LOG_FORMAT", default_value = "json")]
    log_format: LogFormat,
    #[arg(long, env = "METRICS_ENABLED", default_value = "true", action = ArgAction::Set, value_parser = flag)]
    metrics_enabled: bool,
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value = "65536", value_parser = whole::<usize>(1024, 16 * 1024 * 1024))]
    body_limit_bytes: usize,
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", default_value = "30", value_parser = seconds(1, 600))]
    request_timeout: Duration,
    #[arg(long, env = "REGISTRATION_OPEN", default_value = "true", action = ArgAction::Set, value_parser = flag)]
    registration_open: bool,
    #[command(flatten)]
    otp: OtpEnvironment,
    #[command(flatten)]
    wechat: WechatEnvironment,
    #[command(flatten)]
    webhooks: WebhookEnvironment,
}

/// Phone verification codes ([`OtpConfig`]).
#[derive(clap::Args)]
struct OtpEnvironment {
    /// `log` (not in production) or `http`; unset: `log`, or no codes at all in production.
    #[arg(long, env = "SMS_PROVIDER")]
    sms_provider: Option<SmsProvider>,
    /// Required with `SMS_PROVIDER=http`.
    #[arg(long, env = "SMS_HTTP_URL")]
    sms_http_url: Option<String>,
    /// Required with `SMS_PROVIDER=http`.
    #[arg(long, env = "SMS_HTTP_TOKEN", value_parser = secret)]
    sms_http_token: Option<Secret>,
    #[arg(long, env = "OTP_TTL_SECONDS", default_value = "300", value_parser = whole::<u32>(1, 3600))]
    ttl_seconds: u32,
    #[arg(long, env = "OTP_MAX_ATTEMPTS", default_value = "5", value_parser = whole::<u32>(1, 100))]
    max_attempts: u32,
    #[arg(long, env = "OTP_RESEND_SECONDS", default_value = "60", value_parser = whole::<u32>(0, 3600))]
    resend_seconds: u32,
    #[arg(long, env = "OTP_DAILY_LIMIT", default_value = "10", value_parser = whole::<u32>(1, 1000))]
    daily_limit: u32,
    #[arg(long, env = "OTP_IP_RATE_LIMIT", default_value = "20", value_parser = whole::<u32>(1, 10_000_000))]
    ip_rate_limit: u32,
    #[arg(long, env = "SMS_TIMEOUT_SECONDS", default_value = "5", value_parser = seconds(1, 60))]
    send_timeout: Duration,
}

/// WeChat mini-program sign-in ([`WechatConfig`]).
#[derive(clap::Args)]
struct WechatEnvironment {
    #[arg(long, env = "WECHAT_API_BASE", default_value = "https://api.weixin.qq.com", value_parser = wechat_api_base)]
    wechat_api_base: String,
    /// With `WECHAT_SECRET`; both or neither.
    #[arg(long, env = "WECHAT_APPID")]
    wechat_appid: Option<String>,
    #[arg(long, env = "WECHAT_SECRET", value_parser = secret)]
    wechat_secret: Option<Secret>,
    #[arg(long, env = "WECHAT_AUTO_REGISTER", default_value = "false", action = ArgAction::Set, value_parser = flag)]
    wechat_auto_register: bool,
    #[arg(long, env = "WECHAT_TIMEOUT_SECONDS", default_value = "5", value_parser = seconds(1, 60))]
    wechat_timeout: Duration,
    #[arg(long, env = "IDENTITY_LINK_TTL_SECONDS", default_value = "600", value_parser = whole::<u32>(30, 3600))]
    identity_link_ttl_seconds: u32,
}

/// Merchant webhooks ([`WebhookConfig`]).
#[derive(clap::Args)]
struct WebhookEnvironment {
    #[arg(long, env = "WEBHOOK_SECRET_KEY", value_parser = webhook_key)]
    webhook_secret_key: Option<WebhookKey>,
    /// Unset: true in production only.
    #[arg(long, env = "WEBHOOK_REQUIRE_HTTPS", action = ArgAction::Set, value_parser = flag)]
    webhook_require_https: Option<bool>,
    #[arg(long, env = "WEBHOOK_ALLOW_HOSTS", default_value = "", value_parser = list(|h| Ok(h.to_ascii_lowercase())))]
    webhook_allow_hosts: List<String>,
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECONDS", default_value = "10", value_parser = seconds(1, 60))]
    webhook_timeout: Duration,
    #[arg(long, env = "WEBHOOK_RETRY_BASE_MS", default_value = "30000", value_parser = millis(1, 3_600_000))]
    webhook_retry_base: Duration,
    #[arg(long, env = "WEBHOOK_RETRY_MAX_DELAY_SECONDS", default_value = "21600", value_parser = seconds(1, 86_400))]
    webhook_retry_max_delay: Duration,
    #[arg(long, env = "WEBHOOK_GIVE_UP_SECONDS", default_value = "86400", value_parser = seconds(1, 7 * 86_400))]
    webhook_give_up: Duration,
    #[arg(long, env = "WEBHOOK_POLL_MS", default_value = "1000", value_parser = millis(10, 60_000))]
    webhook_poll: Duration,
    #[arg(long, env = "WEBHOOK_ROTATION_OVERLAP_SECONDS", default_value = "86400", value_parser = seconds(0, 30 * 86_400))]
    webhook_rotation_overlap: Duration,
    #[arg(long, env = "WEBHOOK_WORKER", default_value = "true", action = ArgAction::Set, value_parser = flag)]
    webhook_worker: bool,
}

/// `SMS_PROVIDER`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SmsProvider {
    Log,
    Http,
}

impl FromStr for SmsProvider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "log" => Ok(SmsProvider::Log),
            "http" => Ok(SmsProvider::Http),
            other => Err(format!("`{other}` is not log or http")),
        }
    }
}

/// `REDIS_URL` checked; `None` when set empty.
#[derive(Clone)]
struct RedisUrl(Option<Secret>);

/// A comma-separated list, each item trimmed, empty items skipped.
#[derive(Clone)]
struct List<T>(Vec<T>);

// The value parsers: each holds one variable's rule and says what is wrong without the name,
// which `ConfigError` adds. A closure or fn is a clap value parser.

fn whole<T>(min: T, max: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + fmt::Display + Copy + Send + Sync + 'static,
{
    move |raw| {
        let value: T = raw.parse().map_err(|_| format!("`{raw}` is not a whole number"))?;
        if value < min || value > max {
            return Err(format!("{value} is outside {min}..={max}"));
        }
        Ok(value)
    }
}

fn seconds(min: u64, max: u64) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    let whole = whole(min, max);
    move |raw| whole(raw).map(Duration::from_secs)
}

fn millis(min: u64, max: u64) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    let whole = whole(min, max);
    move |raw| whole(raw).map(Duration::from_millis)
}

fn parsed<T: FromStr>(what: &'static str) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |raw| raw.parse().map_err(|_| format!("`{raw}` is not {what}"))
}

fn list<T, F>(item: F) -> impl Fn(&str) -> Result<List<T>, String> + Clone + Send + Sync + 'static
where
    F: Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static,
{
    move |raw| Ok(List(raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(&item).collect::<Result<_, _>>()?))
}

fn flag(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(format!("`{other}` is not true or false")),
    }
}

fn secret(raw: &str) -> Result<Secret, String> {
    Ok(Secret::new(raw))
}

fn postgres_url(raw: &str) -> Result<Secret, String> {
    if !(raw.starts_with("postgres://") || raw.starts_with("postgresql://")) {
        return Err("must be a postgres:// URL".into());
    }
    Ok(Secret::new(raw))
}

fn redis_url(raw: &str) -> Result<RedisUrl, String> {
    if raw.is_empty() {
        return Ok(RedisUrl(None));
    }
    RedisTarget::parse(raw)?;
    Ok(RedisUrl(Some(Secret::new(raw))))
}

fn redis_key_prefix(raw: &str) -> Result<String, String> {
    // A brace in the prefix would become the key's Redis Cluster hash tag and put every key in one slot.
    if raw.contains(['{', '}']) {
        return Err("must not contain `{` or `}` (they are Redis Cluster hash tags)".into());
    }
    Ok(raw.to_owned())
}

fn origin(raw: &str) -> Result<String, String> {
    if !(raw.starts_with("http://") || raw.starts_with("https://")) || axum::http::HeaderValue::from_str(raw).is_err() {
        return Err(format!("`{raw}` is not an origin such as https://shop.example"));
    }
    Ok(raw.to_owned())
}

fn max_amount(raw: &str) -> Result<Decimal, String> {
    mps_api::money::Money::parse_text(raw)
        .map(|m| m.amount())
        .ok()
        .filter(|m| *m <= Decimal::new(99_999_999_999, 2))
        .ok_or_else(|| format!("`{raw}` is not a positive amount with at most 2 decimals"))
}

fn payment_webhook_secret(raw: &str) -> Result<Secret, String> {
    if raw.len() < MIN_SECRET_LEN {
        return Err(format!("must be at least {MIN_SECRET_LEN} characters"));
    }
    Ok(Secret::new(raw))
}

fn log_level(raw: &str) -> Result<String, String> {
    if tracing_subscriber::EnvFilter::try_new(raw).is_err() {
        return Err(format!("`{raw}` is not a level or filter such as info or mps=debug"));
    }
    Ok(raw.to_owned())
}

fn wechat_api_base(raw: &str) -> Result<String, String> {
    if !is_http_url(raw) {
        return Err(format!("`{raw}` is not an http:// or https:// URL"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

fn webhook_key(raw: &str) -> Result<WebhookKey, String> {
    hex::decode(raw)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(WebhookKey)
        .ok_or_else(|| "must be 32 bytes as 64 hex digits (`openssl rand -hex 32`)".into())
}

fn is_http_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://")) && reqwest::Url::parse(url).is_ok()
}

/// Secrets shorter than this are refused in production and for the webhook.
pub const MIN_SECRET_LEN: usize = 32;

/// Fragments that mark a secret as a placeholder copied from an example.
const PLACEHOLDER_MARKERS: &[&str] = &["change", "placeholder", "secret", "example", "your", "xxxx", "default", "todo"];

fn looks_like_placeholder(secret: &str) -> bool {
    let lower = secret.to_ascii_lowercase();
    let distinct = lower.chars().collect::<std::collections::HashSet<_>>().len();
    distinct < 8 || PLACEHOLDER_MARKERS.iter().any(|m| lower.contains(m))
}

impl Config {
    /// Reads `.env` when present, then the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        let _ = dotenvy::dotenv();
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any source of variables (the process environment is not read).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut variables = Vec::new();
        let mut args = Vec::new();
        for arg in Environment::command().get_arguments() {
            let (Some(name), Some(long)) = (arg.get_env().and_then(|n| n.to_str()), arg.get_long()) else {
                continue;
            };
            variables.push((long.to_owned(), name.to_owned()));
            let Some(value) = lookup(name).map(|v| v.trim().to_owned()) else { continue };
            if !value.is_empty() || name == BLANK_MEANS_OFF {
                args.push(format!("--{long}={value}"));
            }
        }
        // clap read the process environment when it built the command: only `lookup` speaks here.
        let mut command = Environment::command().mut_args(|arg| arg.env(None::<&'static str>));
        let environment = command
            .try_get_matches_from_mut(args)
            .and_then(|matches| Environment::from_arg_matches(&matches))
            .map_err(|e| config_error(&variables, &e))?;
        environment.into_config()
    }

    /// The name of every variable the server reads, as declared.
    pub fn variables() -> Vec<String> {
        Environment::command()
            .get_arguments()
            .filter_map(|arg| arg.get_env().and_then(|n| n.to_str()).map(str::to_owned))
            .collect()
    }

    /// The address the server listens on.
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        (self.api_host, self.api_port).into()
    }
}

/// clap's refusal as a [`ConfigError`]: the variable behind the flag it names, and the value
/// parser's own message (never the value, which may be a secret).
fn config_error(variables: &[(String, String)], error: &clap::Error) -> ConfigError {
    let flag = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.split_whitespace().next().unwrap_or_default().trim_start_matches('-'),
        _ => "",
    };
    let variable = variables.iter().find(|(long, _)| long == flag).map_or("the environment", |(_, name)| name);
    let message = std::error::Error::source(error).map_or_else(|| format!("{}", error.kind()), ToString::to_string);
    bad(variable, message)
}

impl Environment {
    /// The rules that join variables, then the configuration.
    fn into_config(self) -> Result<Config, ConfigError> {
        let app_env = self.app_env;
        let (jwt_secret, jwt_secret_generated) = match self.jwt_secret {
            Some(secret) => (secret, false),
            None if app_env == AppEnv::Production => {
                return Err(bad("JWT_SECRET", "is required in production (at least 32 characters)"));
            }
            None => (Secret::new(random_secret()), true),
        };
        check_secret("JWT_SECRET", &jwt_secret, app_env)?;
        if let Some(previous) = &self.jwt_secret_previous {
            check_secret("JWT_SECRET_PREVIOUS", previous, app_env)?;
        }
        if self.qr_ttl_max < self.qr_ttl_min {
            return Err(bad("QR_TTL_MAX", "must not be below QR_TTL_MIN"));
        }
        if !(self.qr_ttl_min..=self.qr_ttl_max).contains(&self.qr_ttl_default) {
            return Err(bad("QR_TTL_DEFAULT", "must lie between QR_TTL_MIN and QR_TTL_MAX"));
        }
        Ok(Config {
            app_env,
            database_url: self.database_url,
            db_max_connections: self.db_max_connections,
            database_read_url: self.database_read_url,
            redis_url: self.redis_url.0,
            redis_key_prefix: self.redis_key_prefix,
            jwt_secret,
            jwt_secret_generated,
            jwt_secret_previous: self.jwt_secret_previous,
            jwt_expire_hours: self.jwt_expire_hours,
            api_host: self.api_host,
            api_port: self.api_port,
            cors_origins: self.cors_origins.0,
            rate_limit_requests: self.rate_limit_requests,
            rate_limit_window: self.rate_limit_window,
            login_rate_limit: self.login_rate_limit,
            login_ip_rate_limit: self.login_ip_rate_limit,
            trusted_proxies: self.trusted_proxies.0,
            qr_ttl_default: self.qr_ttl_default,
            qr_ttl_min: self.qr_ttl_min,
            qr_ttl_max: self.qr_ttl_max,
            max_amount: self.max_amount,
            business_timezone: self.business_timezone,
            settlement_margin_seconds: self.settlement_margin_seconds,
            payment_webhook_secret: self.payment_webhook_secret,
            migrate_on_start: self.migrate_on_start,
            log_level: self.log_level,
            log_format: self.log_format,
            metrics_enabled: self.metrics_enabled,
            body_limit_bytes: self.body_limit_bytes,
            request_timeout: self.request_timeout,
            otp: self.otp.into_config(app_env)?,
            registration_open: self.registration_open,
            wechat: self.wechat.into_config()?,
            webhooks: self.webhooks.into_config(app_env),
        })
    }
}

impl OtpEnvironment {
    fn into_config(self, app_env: AppEnv) -> Result<OtpConfig, ConfigError> {
        let provider = match self.sms_provider {
            None if app_env == AppEnv::Production => SmsProviderConfig::Disabled,
            Some(SmsProvider::Log) if app_env == AppEnv::Production => {
                return Err(bad("SMS_PROVIDER", "`log` writes codes to the log and is refused in production"));
            }
            None | Some(SmsProvider::Log) => SmsProviderConfig::Log,
            Some(SmsProvider::Http) => {
                // Read only with the http provider: a stray value beside `log` is ignored, as before.
                let url = self.sms_http_url.ok_or_else(|| bad("SMS_HTTP_URL", "is required when SMS_PROVIDER=http"))?;
                if !is_http_url(&url) {
                    return Err(bad("SMS_HTTP_URL", format!("`{url}` is not an http:// or https:// URL")));
                }
                let token =
                    self.sms_http_token.ok_or_else(|| bad("SMS_HTTP_TOKEN", "is required when SMS_PROVIDER=http"))?;
                SmsProviderConfig::Http { url, token }
            }
        };
        Ok(OtpConfig {
            provider,
            ttl_seconds: self.ttl_seconds,
            max_attempts: self.max_attempts,
            resend_seconds: self.resend_seconds,
            daily_limit: self.daily_limit,
            ip_rate_limit: self.ip_rate_limit,
            send_timeout: self.send_timeout,
        })
    }
}

impl WechatEnvironment {
    fn into_config(self) -> Result<WechatConfig, ConfigError> {
        let credentials = match (self.wechat_appid, self.wechat_secret) {
            (Some(appid), Some(secret)) => Some((appid, secret)),
            (None, None) => None,
            (Some(_), None) => return Err(bad("WECHAT_SECRET", "is required when WECHAT_APPID is set")),
            (None, Some(_)) => return Err(bad("WECHAT_APPID", "is required when WECHAT_SECRET is set")),
        };
        Ok(WechatConfig {
            api_base: self.wechat_api_base,
            credentials,
            auto_register: self.wechat_auto_register,
            timeout: self.wechat_timeout,
            link_ttl_seconds: self.identity_link_ttl_seconds,
        })
    }
}

impl WebhookEnvironment {
    fn into_config(self, app_env: AppEnv) -> WebhookConfig {
        let allow_hosts = self.webhook_allow_hosts.0;
        let allow_networks = allow_hosts.iter().filter_map(|h| h.parse::<TrustedProxy>().ok()).collect();
        WebhookConfig {
            secret_key: self.webhook_secret_key,
            require_https: self.webhook_require_https.unwrap_or(app_env == AppEnv::Production),
            allow_hosts,
            allow_networks,
            timeout: self.webhook_timeout,
            retry_base: self.webhook_retry_base,
            retry_max_delay: self.webhook_retry_max_delay,
            give_up_after: self.webhook_give_up,
            poll_interval: self.webhook_poll,
            secret_overlap: self.webhook_rotation_overlap,
            worker_enabled: self.webhook_worker,
        }
    }
}

fn check_secret(variable: &str, secret: &Secret, app_env: AppEnv) -> Result<(), ConfigError> {
    if app_env != AppEnv::Production {
        return Ok(());
    }
    if secret.expose().len() < MIN_SECRET_LEN {
        return Err(bad(variable, format!("must be at least {MIN_SECRET_LEN} characters in production")));
    }
    if looks_like_placeholder(secret.expose()) {
        return Err(bad(variable, "looks like a placeholder; generate one with `openssl rand -base64 48`"));
    }
    Ok(())
}

fn random_secret() -> String {
    use base64::Engine as _;
    let bytes: [u8; 48] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn a_secret_never_shows_itself_in_debug_output() {
        let secret = Secret::new("hunter2-jwt-signing-key");
        let printed = format!("{secret:?} {:?} {secret:#?}", Some(secret.clone()));
        assert!(!printed.contains("hunter2"), "the secret leaked into Debug output: {printed}");
        assert!(printed.contains("REDACTED"), "Debug should say the value is redacted: {printed}");
        assert_eq!(secret.expose(), "hunter2-jwt-signing-key");
    }
}
