//! Typed configuration from the environment (and `.env`), per SPEC §4.
//!
//! Every variable is parsed up front; a bad value stops start-up with an error naming it.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

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

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
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
    pub variable: &'static str,
    pub message: String,
}

fn bad(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { variable, message: message.into() }
}

/// Reads variables through a lookup function, so tests need not touch the process environment.
struct Vars<F: Fn(&str) -> Option<String>>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// The trimmed value, or `None` when unset or blank.
    fn get(&self, name: &str) -> Option<String> {
        self.0(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn parse<T: FromStr>(&self, name: &'static str, default: T, what: &str) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|_| bad(name, format!("`{raw}` is not {what}"))),
        }
    }

    fn number<T: FromStr + PartialOrd + fmt::Display + Copy>(
        &self,
        name: &'static str,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError> {
        let value = self.parse(name, default, "a whole number")?;
        if value < min || value > max {
            return Err(bad(name, format!("{value} is outside {min}..={max}")));
        }
        Ok(value)
    }

    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["true", "1", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["false", "0", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(bad(name, format!("`{v}` is not true or false"))),
        }
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default()
    }
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

    /// Builds the configuration from any source of variables.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let vars = Vars(lookup);
        let app_env = match vars.get("APP_ENV").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("development") => AppEnv::Development,
            Some("testing") => AppEnv::Testing,
            Some("production") => AppEnv::Production,
            Some(other) => {
                return Err(bad("APP_ENV", format!("`{other}` is not development, testing or production")));
            }
        };

        let database_url = vars.get("DATABASE_URL").unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/mps".into());
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(bad("DATABASE_URL", "must be a postgres:// URL"));
        }
        // Unset means the local default; set but empty means "run without Redis".
        let redis_url = match vars.0("REDIS_URL").map(|v| v.trim().to_owned()) {
            None => Some("redis://127.0.0.1:6379".to_owned()),
            Some(v) if v.is_empty() => None,
            Some(v) => {
                RedisTarget::parse(&v).map_err(|e| bad("REDIS_URL", e))?;
                Some(v)
            }
        };
        let redis_key_prefix = vars.get("REDIS_KEY_PREFIX").unwrap_or_else(|| "mps:".into());
        // A brace in the prefix would become the key's Redis Cluster hash tag and put every key in one slot.
        if redis_key_prefix.contains(['{', '}']) {
            return Err(bad("REDIS_KEY_PREFIX", "must not contain `{` or `}` (they are Redis Cluster hash tags)"));
        }
        let database_read_url = vars.get("DATABASE_READ_URL");
        if let Some(url) = &database_read_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(bad("DATABASE_READ_URL", "must be a postgres:// URL"));
        }

        let (jwt_secret, jwt_secret_generated) = match vars.get("JWT_SECRET") {
            Some(secret) => (secret, false),
            None if app_env == AppEnv::Production => {
                return Err(bad("JWT_SECRET", "is required in production (at least 32 characters)"));
            }
            None => (random_secret(), true),
        };
        check_secret("JWT_SECRET", &jwt_secret, app_env)?;
        let jwt_secret_previous = vars.get("JWT_SECRET_PREVIOUS");
        if let Some(previous) = &jwt_secret_previous {
            check_secret("JWT_SECRET_PREVIOUS", previous, app_env)?;
        }

        let payment_webhook_secret = vars.get("PAYMENT_WEBHOOK_SECRET");
        if let Some(secret) = &payment_webhook_secret
            && secret.len() < MIN_SECRET_LEN
        {
            return Err(bad("PAYMENT_WEBHOOK_SECRET", format!("must be at least {MIN_SECRET_LEN} characters")));
        }

        let qr_ttl_min = vars.number("QR_TTL_MIN", 60, 1, 86_400)?;
        let qr_ttl_max = vars.number("QR_TTL_MAX", 3600, 1, 86_400)?;
        if qr_ttl_max < qr_ttl_min {
            return Err(bad("QR_TTL_MAX", "must not be below QR_TTL_MIN"));
        }
        let qr_ttl_default = vars.number("QR_TTL_DEFAULT", 900, 1, 86_400)?;
        if !(qr_ttl_min..=qr_ttl_max).contains(&qr_ttl_default) {
            return Err(bad("QR_TTL_DEFAULT", "must lie between QR_TTL_MIN and QR_TTL_MAX"));
        }

        let max_amount = match vars.get("MAX_AMOUNT") {
            None => Decimal::new(5_000_000, 2),
            Some(raw) => crate::money::Money::parse_text(raw.trim())
                .map(|m| m.amount())
                .ok()
                .filter(|m| *m <= Decimal::new(99_999_999_999, 2))
                .ok_or_else(|| {
                    bad("MAX_AMOUNT", format!("`{raw}` is not a positive amount with at most 2 decimals"))
                })?,
        };

        let business_timezone =
            vars.parse("BUSINESS_TIMEZONE", chrono_tz::UTC, "an IANA time zone name such as Asia/Shanghai")?;

        let log_format = match vars.get("LOG_FORMAT").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => return Err(bad("LOG_FORMAT", format!("`{other}` is not json or pretty"))),
        };
        let log_level = vars.get("LOG_LEVEL").unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(bad("LOG_LEVEL", format!("`{log_level}` is not a level or filter such as info or mps=debug")));
        }

        let trusted_proxies = vars
            .list("TRUSTED_PROXIES")
            .iter()
            .map(|p| p.parse::<TrustedProxy>().map_err(|e| bad("TRUSTED_PROXIES", e)))
            .collect::<Result<_, _>>()?;
        let cors_origins = vars.list("CORS_ORIGINS");
        for origin in &cors_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || axum::http::HeaderValue::from_str(origin).is_err()
            {
                return Err(bad("CORS_ORIGINS", format!("`{origin}` is not an origin such as https://shop.example")));
            }
        }

        let otp = otp_config(&vars, app_env)?;
        let wechat = wechat_config(&vars)?;
        let webhooks = webhook_config(&vars, app_env)?;

        Ok(Config {
            app_env,
            database_url: Secret::new(database_url),
            db_max_connections: vars.number("DB_MAX_CONNECTIONS", 20, 1, 1000)?,
            redis_url: redis_url.map(Secret::new),
            database_read_url: database_read_url.map(Secret::new),
            redis_key_prefix,
            jwt_secret: Secret::new(jwt_secret),
            jwt_secret_generated,
            jwt_secret_previous: jwt_secret_previous.map(Secret::new),
            jwt_expire_hours: vars.number("JWT_EXPIRE_HOURS", 24, 1, 24 * 30)?,
            api_host: vars.parse("API_HOST", IpAddr::from([0, 0, 0, 0]), "an IP address")?,
            api_port: vars.parse("API_PORT", 8000, "a port number")?,
            cors_origins,
            rate_limit_requests: vars.number("RATE_LIMIT_REQUESTS", 600, 1, 10_000_000)?,
            rate_limit_window: Duration::from_secs(vars.number("RATE_LIMIT_WINDOW", 60, 1, 86_400)?),
            login_rate_limit: vars.number("LOGIN_RATE_LIMIT", 5, 1, 1_000_000)?,
            login_ip_rate_limit: vars.number("LOGIN_IP_RATE_LIMIT", 30, 1, 10_000_000)?,
            trusted_proxies,
            qr_ttl_default,
            qr_ttl_min,
            qr_ttl_max,
            max_amount,
            business_timezone,
            settlement_margin_seconds: vars.number("SETTLEMENT_MARGIN_SECONDS", 60, 0, 86_400)?,
            payment_webhook_secret: payment_webhook_secret.map(Secret::new),
            migrate_on_start: vars.flag("MIGRATE_ON_START", true)?,
            log_level,
            log_format,
            metrics_enabled: vars.flag("METRICS_ENABLED", true)?,
            body_limit_bytes: vars.number("BODY_LIMIT_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024)?,
            request_timeout: Duration::from_secs(vars.number("REQUEST_TIMEOUT_SECONDS", 30, 1, 600)?),
            otp,
            registration_open: vars.flag("REGISTRATION_OPEN", true)?,
            wechat,
            webhooks,
        })
    }

    /// The address the server listens on.
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        (self.api_host, self.api_port).into()
    }
}

fn is_http_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://")) && reqwest::Url::parse(url).is_ok()
}

fn otp_config<F: Fn(&str) -> Option<String>>(vars: &Vars<F>, app_env: AppEnv) -> Result<OtpConfig, ConfigError> {
    let provider = match vars.get("SMS_PROVIDER").map(|v| v.to_ascii_lowercase()).as_deref() {
        None if app_env == AppEnv::Production => SmsProviderConfig::Disabled,
        Some("log") if app_env == AppEnv::Production => {
            return Err(bad("SMS_PROVIDER", "`log` writes codes to the log and is refused in production"));
        }
        None | Some("log") => SmsProviderConfig::Log,
        Some("http") => {
            let url =
                vars.get("SMS_HTTP_URL").ok_or_else(|| bad("SMS_HTTP_URL", "is required when SMS_PROVIDER=http"))?;
            if !is_http_url(&url) {
                return Err(bad("SMS_HTTP_URL", format!("`{url}` is not an http:// or https:// URL")));
            }
            let token = vars
                .get("SMS_HTTP_TOKEN")
                .ok_or_else(|| bad("SMS_HTTP_TOKEN", "is required when SMS_PROVIDER=http"))?;
            SmsProviderConfig::Http { url, token: Secret::new(token) }
        }
        Some(other) => return Err(bad("SMS_PROVIDER", format!("`{other}` is not log or http"))),
    };
    Ok(OtpConfig {
        provider,
        ttl_seconds: vars.number("OTP_TTL_SECONDS", 300, 1, 3600)?,
        max_attempts: vars.number("OTP_MAX_ATTEMPTS", 5, 1, 100)?,
        resend_seconds: vars.number("OTP_RESEND_SECONDS", 60, 0, 3600)?,
        daily_limit: vars.number("OTP_DAILY_LIMIT", 10, 1, 1000)?,
        ip_rate_limit: vars.number("OTP_IP_RATE_LIMIT", 20, 1, 10_000_000)?,
        send_timeout: Duration::from_secs(vars.number("SMS_TIMEOUT_SECONDS", 5, 1, 60)?),
    })
}

fn wechat_config<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<WechatConfig, ConfigError> {
    let api_base = vars.get("WECHAT_API_BASE").unwrap_or_else(|| "https://api.weixin.qq.com".into());
    if !is_http_url(&api_base) {
        return Err(bad("WECHAT_API_BASE", format!("`{api_base}` is not an http:// or https:// URL")));
    }
    let credentials = match (vars.get("WECHAT_APPID"), vars.get("WECHAT_SECRET")) {
        (Some(appid), Some(secret)) => Some((appid, Secret::new(secret))),
        (None, None) => None,
        (Some(_), None) => return Err(bad("WECHAT_SECRET", "is required when WECHAT_APPID is set")),
        (None, Some(_)) => return Err(bad("WECHAT_APPID", "is required when WECHAT_SECRET is set")),
    };
    Ok(WechatConfig {
        api_base: api_base.trim_end_matches('/').to_owned(),
        credentials,
        auto_register: vars.flag("WECHAT_AUTO_REGISTER", false)?,
        timeout: Duration::from_secs(vars.number("WECHAT_TIMEOUT_SECONDS", 5, 1, 60)?),
        link_ttl_seconds: vars.number("IDENTITY_LINK_TTL_SECONDS", 600, 30, 3600)?,
    })
}

fn webhook_config<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
    app_env: AppEnv,
) -> Result<WebhookConfig, ConfigError> {
    let secret_key = match vars.get("WEBHOOK_SECRET_KEY") {
        None => None,
        Some(raw) => {
            let bytes = hex::decode(&raw).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or_else(|| {
                bad("WEBHOOK_SECRET_KEY", "must be 32 bytes as 64 hex digits (`openssl rand -hex 32`)")
            })?;
            Some(WebhookKey(bytes))
        }
    };
    let allow_hosts: Vec<String> =
        vars.list("WEBHOOK_ALLOW_HOSTS").into_iter().map(|h| h.to_ascii_lowercase()).collect();
    let allow_networks = allow_hosts.iter().filter_map(|h| h.parse::<TrustedProxy>().ok()).collect();
    Ok(WebhookConfig {
        secret_key,
        require_https: vars.flag("WEBHOOK_REQUIRE_HTTPS", app_env == AppEnv::Production)?,
        allow_hosts,
        allow_networks,
        timeout: Duration::from_secs(vars.number("WEBHOOK_TIMEOUT_SECONDS", 10, 1, 60)?),
        retry_base: Duration::from_millis(vars.number("WEBHOOK_RETRY_BASE_MS", 30_000, 1, 3_600_000)?),
        retry_max_delay: Duration::from_secs(vars.number("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 21_600, 1, 86_400)?),
        give_up_after: Duration::from_secs(vars.number("WEBHOOK_GIVE_UP_SECONDS", 86_400, 1, 7 * 86_400)?),
        poll_interval: Duration::from_millis(vars.number("WEBHOOK_POLL_MS", 1000, 10, 60_000)?),
        secret_overlap: Duration::from_secs(vars.number("WEBHOOK_ROTATION_OVERLAP_SECONDS", 86_400, 0, 30 * 86_400)?),
        worker_enabled: vars.flag("WEBHOOK_WORKER", true)?,
    })
}

fn check_secret(variable: &'static str, secret: &str, app_env: AppEnv) -> Result<(), ConfigError> {
    if app_env != AppEnv::Production {
        return Ok(());
    }
    if secret.len() < MIN_SECRET_LEN {
        return Err(bad(variable, format!("must be at least {MIN_SECRET_LEN} characters in production")));
    }
    if looks_like_placeholder(secret) {
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
