//! Configuration: defaults, and every way a bad value stops start-up naming its variable.

use std::collections::HashMap;

use mps::config::{AppEnv, Config, LogFormat};

fn load(vars: &[(&str, &str)]) -> Result<Config, mps::config::ConfigError> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Config::from_lookup(|k| vars.get(k).cloned())
}

#[track_caller]
fn assert_refused(vars: &[(&str, &str)], variable: &str) {
    match load(vars) {
        Ok(_) => panic!("configuration {vars:?} should be refused"),
        Err(e) => {
            assert_eq!(e.variable, variable, "the error names the variable: {e}");
            assert!(e.to_string().contains(variable), "the message names the variable: {e}");
        }
    }
}

const STRONG: &str = "k3J9s8Qw2Lm4Zx7Vb6Nc1Rt5Yu0Pa9Sd8Fg7Hj6";

#[test]
fn an_empty_environment_gives_the_documented_defaults() {
    let config = load(&[]).expect("defaults are valid");
    assert_eq!(config.app_env, AppEnv::Development);
    assert_eq!(config.database_url.expose(), "postgres://postgres@127.0.0.1:5432/mps");
    assert_eq!(config.db_max_connections, 20);
    assert_eq!(config.redis_url.as_ref().map(|s| s.expose()), Some("redis://127.0.0.1:6379"));
    assert!(config.jwt_secret_generated, "development generates a secret when none is set");
    assert!(config.jwt_secret.expose().len() >= 32);
    assert_eq!(config.jwt_expire_hours, 24);
    assert_eq!(config.listen_addr().to_string(), "0.0.0.0:8000");
    assert_eq!((config.rate_limit_requests, config.rate_limit_window.as_secs()), (600, 60));
    assert_eq!((config.login_rate_limit, config.login_ip_rate_limit), (5, 30));
    assert_eq!((config.qr_ttl_default, config.qr_ttl_min, config.qr_ttl_max), (900, 60, 3600));
    assert_eq!(config.max_amount.to_string(), "50000.00");
    assert_eq!(config.business_timezone, chrono_tz::UTC);
    assert_eq!(config.settlement_margin_seconds, 60);
    assert!(config.payment_webhook_secret.is_none());
    assert!(config.migrate_on_start && config.metrics_enabled);
    assert_eq!((config.log_level.as_str(), config.log_format), ("info", LogFormat::Json));
}

#[test]
fn secrets_never_print_in_debug_output() {
    let config = load(&[("JWT_SECRET", STRONG), ("PAYMENT_WEBHOOK_SECRET", STRONG)]).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains(STRONG), "Debug output leaks a secret: {debug}");
}

#[test]
fn an_empty_redis_url_runs_without_redis() {
    assert!(load(&[("REDIS_URL", "")]).unwrap().redis_url.is_none());
}

#[test]
fn redis_url_names_a_server_a_cluster_or_a_sentinel_set() {
    use mps::config::RedisTarget;
    let parse = |url: &str| RedisTarget::parse(url);
    assert_eq!(
        parse("redis+cluster://10.0.0.1:7000, 10.0.0.2:7001"),
        Ok(RedisTarget::Cluster(vec!["redis://10.0.0.1:7000".into(), "redis://10.0.0.2:7001".into()]))
    );
    assert_eq!(
        parse("redis+cluster://:pw@a:7000,b:7000"),
        Ok(RedisTarget::Cluster(vec!["redis://:pw@a:7000".into(), "redis://:pw@b:7000".into()])),
        "credentials apply to every seed node"
    );
    assert_eq!(
        parse("redis+sentinel://s1:26379,s2:26379/payments"),
        Ok(RedisTarget::Sentinel {
            sentinels: vec!["redis://s1:26379".into(), "redis://s2:26379".into()],
            master: "payments".into()
        })
    );
    assert!(
        matches!(parse("redis+sentinel://s1:26379"), Ok(RedisTarget::Sentinel { master, .. }) if master == "mymaster")
    );
    assert_eq!(parse("redis://127.0.0.1:6379/2"), Ok(RedisTarget::Single("redis://127.0.0.1:6379/2".into())));
    for bad in ["redis+cluster://", "redis+cluster://a", "redis+cluster://a:1/3", "memcached://a:1"] {
        assert_refused(&[("REDIS_URL", bad)], "REDIS_URL");
        let message = parse(bad).expect_err("refused");
        assert!(!message.contains("a:1"), "the message does not echo the URL (it may hold a password): {message}");
    }
}

#[test]
fn a_brace_in_the_redis_key_prefix_is_refused_as_it_would_be_a_cluster_hash_tag() {
    assert_refused(&[("REDIS_KEY_PREFIX", "mps:{eu}:")], "REDIS_KEY_PREFIX");
    assert_refused(&[("REDIS_KEY_PREFIX", "mps}:")], "REDIS_KEY_PREFIX");
    assert_eq!(load(&[("REDIS_KEY_PREFIX", "mps:eu:")]).unwrap().redis_key_prefix, "mps:eu:");
}

#[test]
fn database_read_url_is_optional_and_must_be_postgres() {
    assert!(load(&[]).unwrap().database_read_url.is_none(), "unset, every read goes to the primary");
    assert_refused(&[("DATABASE_READ_URL", "mysql://replica/mps")], "DATABASE_READ_URL");
    let config = load(&[("DATABASE_READ_URL", "postgres://replica:5432/mps")]).unwrap();
    assert_eq!(config.database_read_url.as_ref().map(|s| s.expose()), Some("postgres://replica:5432/mps"));
}

#[test]
fn production_refuses_missing_short_and_placeholder_jwt_secrets() {
    assert_refused(&[("APP_ENV", "production")], "JWT_SECRET");
    assert_refused(&[("APP_ENV", "production"), ("JWT_SECRET", "short-secret")], "JWT_SECRET");
    assert_refused(
        &[("APP_ENV", "production"), ("JWT_SECRET", "change-me-change-me-change-me-change-me")],
        "JWT_SECRET",
    );
    assert_refused(&[("APP_ENV", "production"), ("JWT_SECRET", &"a".repeat(40))], "JWT_SECRET");
    assert_refused(
        &[("APP_ENV", "production"), ("JWT_SECRET", STRONG), ("JWT_SECRET_PREVIOUS", "old")],
        "JWT_SECRET_PREVIOUS",
    );
    let config = load(&[("APP_ENV", "production"), ("JWT_SECRET", STRONG)]).expect("a strong secret is accepted");
    assert!(!config.jwt_secret_generated);
}

#[test]
fn every_malformed_value_is_refused_by_name() {
    let cases: &[(&str, &str)] = &[
        ("APP_ENV", "staging"),
        ("DATABASE_URL", "mysql://localhost/mps"),
        ("DB_MAX_CONNECTIONS", "many"),
        ("DB_MAX_CONNECTIONS", "0"),
        ("REDIS_URL", "http://localhost"),
        ("JWT_EXPIRE_HOURS", "-1"),
        ("API_HOST", "localhost:80"),
        ("API_PORT", "70000"),
        ("CORS_ORIGINS", "shop.example"),
        ("RATE_LIMIT_REQUESTS", "0"),
        ("RATE_LIMIT_WINDOW", "1m"),
        ("LOGIN_RATE_LIMIT", "five"),
        ("LOGIN_IP_RATE_LIMIT", "-3"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("TRUSTED_PROXIES", "proxy.local"),
        ("QR_TTL_DEFAULT", "30"),
        ("QR_TTL_MIN", "x"),
        ("MAX_AMOUNT", "1e5"),
        ("MAX_AMOUNT", "100.001"),
        ("MAX_AMOUNT", "0"),
        ("BUSINESS_TIMEZONE", "Mars/Olympus"),
        ("SETTLEMENT_MARGIN_SECONDS", "soon"),
        ("PAYMENT_WEBHOOK_SECRET", "too-short"),
        ("MIGRATE_ON_START", "maybe"),
        ("LOG_LEVEL", "loud=="),
        ("LOG_FORMAT", "xml"),
        ("METRICS_ENABLED", "2"),
    ];
    for (variable, value) in cases {
        assert_refused(&[(variable, value)], variable);
    }
    assert_refused(&[("QR_TTL_MIN", "600"), ("QR_TTL_MAX", "300")], "QR_TTL_MAX");
}

#[test]
fn lists_and_zones_are_parsed() {
    let config = load(&[
        ("CORS_ORIGINS", "https://a.example, https://b.example"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,::1"),
        ("BUSINESS_TIMEZONE", "Asia/Shanghai"),
        ("MAX_AMOUNT", "100.5"),
    ])
    .unwrap();
    assert_eq!(config.cors_origins, ["https://a.example", "https://b.example"]);
    assert!(config.trusted_proxies[0].contains("10.1.2.3".parse().unwrap()));
    assert!(!config.trusted_proxies[0].contains("11.1.2.3".parse().unwrap()));
    assert!(config.trusted_proxies[1].contains("::1".parse().unwrap()));
    assert_eq!(config.business_timezone, chrono_tz::Asia::Shanghai);
    assert_eq!(config.max_amount.to_string(), "100.50");
}

#[test]
fn prometheus_yml_sits_at_the_top_level_where_compose_and_the_guides_point() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config =
        std::fs::read_to_string(root.join("prometheus.yml")).expect("prometheus.yml at the repository's top level");
    assert!(config.contains("- config/alerts.yml"), "its rules stay under config/, relative to it");
    assert!(!root.join("config/prometheus.yml").exists(), "no second copy under config/");
    let compose = std::fs::read_to_string(root.join("docker-compose.yml")).expect("docker-compose.yml");
    assert!(
        compose.contains("./prometheus.yml:/etc/prometheus/prometheus.yml:ro"),
        "compose mounts the top-level file"
    );
    assert!(compose.contains("./config/alerts.yml:/etc/prometheus/config/alerts.yml:ro"), "and the rules beside it");
}

#[test]
fn sign_up_settings_default_safely_and_refuse_leaky_or_incomplete_values() {
    let development = load(&[]).unwrap();
    assert_eq!(development.otp.provider, mps::config::SmsProviderConfig::Log, "development texts codes to the log");
    assert!(development.registration_open);
    assert!(!development.wechat.auto_register);
    assert!(development.wechat.credentials.is_none(), "WeChat is off until configured");
    assert_eq!(development.otp.ttl_seconds, 300);
    assert_eq!(development.otp.max_attempts, 5);
    let production = load(&[("APP_ENV", "production"), ("JWT_SECRET", STRONG)]).unwrap();
    assert_eq!(production.otp.provider, mps::config::SmsProviderConfig::Disabled, "no provider, no codes in logs");
    assert_refused(&[("APP_ENV", "production"), ("JWT_SECRET", STRONG), ("SMS_PROVIDER", "log")], "SMS_PROVIDER");
    assert_refused(&[("SMS_PROVIDER", "carrier-pigeon")], "SMS_PROVIDER");
    assert_refused(&[("SMS_PROVIDER", "http")], "SMS_HTTP_URL");
    assert_refused(&[("SMS_PROVIDER", "http"), ("SMS_HTTP_URL", "https://sms.example/send")], "SMS_HTTP_TOKEN");
    assert_refused(&[("WECHAT_APPID", "wx1")], "WECHAT_SECRET");
    assert_refused(&[("WECHAT_API_BASE", "ftp://wechat")], "WECHAT_API_BASE");
    assert_refused(&[("REGISTRATION_OPEN", "maybe")], "REGISTRATION_OPEN");
    let configured = load(&[("WECHAT_APPID", "wx1"), ("WECHAT_SECRET", STRONG), ("SMS_HTTP_TOKEN", STRONG)]).unwrap();
    assert!(!format!("{configured:?}").contains(STRONG), "the WeChat secret never prints");
}

#[test]
fn every_numeric_setting_is_refused_by_name_outside_its_range() {
    let cases: &[(&str, &str)] = &[
        ("BODY_LIMIT_BYTES", "1023"),
        ("REQUEST_TIMEOUT_SECONDS", "601"),
        ("QR_TTL_MAX", "86401"),
        ("OTP_TTL_SECONDS", "0"),
        ("OTP_MAX_ATTEMPTS", "101"),
        ("OTP_RESEND_SECONDS", "3601"),
        ("OTP_DAILY_LIMIT", "0"),
        ("OTP_IP_RATE_LIMIT", "lots"),
        ("SMS_TIMEOUT_SECONDS", "61"),
        ("WECHAT_TIMEOUT_SECONDS", "0"),
        ("IDENTITY_LINK_TTL_SECONDS", "29"),
        ("WEBHOOK_TIMEOUT_SECONDS", "61"),
        ("WEBHOOK_RETRY_BASE_MS", "0"),
        ("WEBHOOK_RETRY_MAX_DELAY_SECONDS", "86401"),
        ("WEBHOOK_GIVE_UP_SECONDS", "604801"),
        ("WEBHOOK_POLL_MS", "9"),
        ("WEBHOOK_ROTATION_OVERLAP_SECONDS", "2592001"),
    ];
    for (variable, value) in cases {
        assert_refused(&[(variable, value)], variable);
    }
    let message = load(&[("OTP_MAX_ATTEMPTS", "101")]).expect_err("refused").message;
    assert_eq!(message, "101 is outside 1..=100", "the message gives the range");
    let message = load(&[("OTP_IP_RATE_LIMIT", "lots")]).expect_err("refused").message;
    assert_eq!(message, "`lots` is not a whole number");
}

#[test]
fn every_remaining_flag_and_key_is_refused_by_name_when_malformed() {
    let cases: &[(&str, &str)] = &[
        ("WECHAT_AUTO_REGISTER", "sometimes"),
        ("WEBHOOK_REQUIRE_HTTPS", "y"),
        ("WEBHOOK_WORKER", "enabled"),
        ("WEBHOOK_SECRET_KEY", "00ff"),
        ("WEBHOOK_SECRET_KEY", &"zz".repeat(32)),
    ];
    for (variable, value) in cases {
        assert_refused(&[(variable, value)], variable);
    }
    assert_refused(&[("WECHAT_SECRET", STRONG)], "WECHAT_APPID");
    assert_refused(
        &[("SMS_PROVIDER", "http"), ("SMS_HTTP_URL", "sms.example/send"), ("SMS_HTTP_TOKEN", STRONG)],
        "SMS_HTTP_URL",
    );
}

#[test]
fn a_refused_secret_is_never_echoed_in_the_error() {
    let short = "hunter2-short";
    for variable in ["PAYMENT_WEBHOOK_SECRET", "JWT_SECRET"] {
        let error = load(&[("APP_ENV", "production"), ("JWT_SECRET", STRONG), (variable, short)]).expect_err("refused");
        assert_eq!(error.variable, variable);
        assert!(!error.to_string().contains(short), "the error echoes the secret: {error}");
    }
    let error = load(&[("DATABASE_URL", "mysql://root:hunter2@db/mps")]).expect_err("refused");
    assert!(!error.to_string().contains("hunter2"), "the error echoes the database password: {error}");
}

#[test]
fn values_are_trimmed_a_blank_one_is_unset_and_words_ignore_case() {
    let config = load(&[
        ("API_PORT", " 9000 "),
        ("DB_MAX_CONNECTIONS", "   "),
        ("APP_ENV", "Testing"),
        ("LOG_FORMAT", "PRETTY"),
        ("METRICS_ENABLED", "Off"),
        ("MIGRATE_ON_START", "no"),
        ("REGISTRATION_OPEN", "0"),
        ("WECHAT_AUTO_REGISTER", "YES"),
        ("SMS_PROVIDER", "LOG"),
        ("CORS_ORIGINS", " https://a.example ,, "),
        ("JWT_SECRET", "  "),
    ])
    .expect("valid");
    assert_eq!(config.api_port, 9000);
    assert_eq!(config.db_max_connections, 20, "a blank value takes the default");
    assert_eq!((config.app_env, config.log_format), (AppEnv::Testing, LogFormat::Pretty));
    assert!(!config.metrics_enabled && !config.migrate_on_start && !config.registration_open);
    assert!(config.wechat.auto_register);
    assert_eq!(config.otp.provider, mps::config::SmsProviderConfig::Log);
    assert_eq!(config.cors_origins, ["https://a.example"], "items are trimmed and empty ones skipped");
    assert!(config.jwt_secret_generated, "a blank secret is no secret");
    assert!(load(&[("REDIS_URL", "  ")]).unwrap().redis_url.is_none(), "a blank REDIS_URL still means no Redis");
}

#[test]
fn phone_wechat_and_webhook_settings_have_their_documented_defaults() {
    let config = load(&[]).unwrap();
    let otp = &config.otp;
    assert_eq!((otp.resend_seconds, otp.daily_limit, otp.ip_rate_limit, otp.send_timeout.as_secs()), (60, 10, 20, 5));
    let wechat = &config.wechat;
    assert_eq!(wechat.api_base, "https://api.weixin.qq.com");
    assert_eq!((wechat.timeout.as_secs(), wechat.link_ttl_seconds), (5, 600));
    let webhooks = &config.webhooks;
    assert!(webhooks.secret_key.is_none() && webhooks.allow_hosts.is_empty() && webhooks.worker_enabled);
    assert!(!webhooks.require_https, "outside production plain http endpoints are allowed");
    assert_eq!(webhooks.timeout.as_secs(), 10);
    assert_eq!(webhooks.retry_base.as_millis(), 30_000);
    assert_eq!((webhooks.retry_max_delay.as_secs(), webhooks.give_up_after.as_secs()), (21_600, 86_400));
    assert_eq!((webhooks.poll_interval.as_millis(), webhooks.secret_overlap.as_secs()), (1000, 86_400));
    assert_eq!((config.body_limit_bytes, config.request_timeout.as_secs()), (64 * 1024, 30));
    assert!(config.registration_open);

    let production = load(&[("APP_ENV", "production"), ("JWT_SECRET", STRONG)]).unwrap();
    assert!(production.webhooks.require_https, "production requires https:// endpoints unless told otherwise");
    let relaxed = load(&[("APP_ENV", "production"), ("JWT_SECRET", STRONG), ("WEBHOOK_REQUIRE_HTTPS", "false")]);
    assert!(!relaxed.unwrap().webhooks.require_https);

    let key = "ab".repeat(32);
    let configured = load(&[
        ("WEBHOOK_SECRET_KEY", &key),
        ("WEBHOOK_ALLOW_HOSTS", "Hooks.Example, 127.0.0.1, 10.0.0.0/8"),
        ("WECHAT_API_BASE", "http://127.0.0.1:9/"),
    ])
    .unwrap();
    assert_eq!(configured.webhooks.secret_key.as_ref().map(|k| k.0), Some([0xab; 32]));
    assert_eq!(configured.webhooks.allow_hosts, ["hooks.example", "127.0.0.1", "10.0.0.0/8"]);
    assert_eq!(configured.webhooks.allow_networks.len(), 2, "the addresses and blocks among the hosts");
    assert_eq!(configured.wechat.api_base, "http://127.0.0.1:9", "the trailing slash is dropped");
}

#[test]
fn every_variable_the_server_reads_is_documented_and_the_kubernetes_files_name_only_those() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let variables = Config::variables();
    assert!(variables.len() > 50 && variables.contains(&"REDIS_URL".to_owned()), "declared: {variables:?}");
    let readme = read("README.md");
    let undocumented: Vec<_> = variables.iter().filter(|v| !readme.contains(&format!("`{v}`"))).collect();
    assert!(undocumented.is_empty(), "README.md does not document {undocumented:?}");
    for path in ["k8s/configmap.yaml", "k8s/secret.example.yaml"] {
        let unknown: Vec<_> = read(path)
            .lines()
            .filter_map(|line| line.trim().split_once(':').map(|(key, _)| key.trim().to_owned()))
            .filter(|key| {
                !key.is_empty() && key.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .filter(|key| !variables.contains(key))
            .collect();
        assert!(unknown.is_empty(), "{path} sets variables the server does not read: {unknown:?}");
    }
}

#[test]
fn the_binary_stops_with_exit_code_2_naming_a_bad_variable_from_its_environment() {
    let scratch = std::env::temp_dir().join(format!("mps-config-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mps"))
        .arg("healthcheck")
        .current_dir(&scratch)
        .env_clear()
        .env("APP_ENV", " production ")
        .env("JWT_SECRET", STRONG)
        .env("API_PORT", "70000")
        .output()
        .expect("mps runs");
    std::fs::remove_dir_all(&scratch).ok();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "a bad variable stops start-up with exit code 2: {stderr}");
    assert!(stderr.contains("configuration error in API_PORT"), "the error names the variable: {stderr}");
    assert!(!stderr.contains(STRONG), "no secret is printed: {stderr}");

    let help = std::process::Command::new(env!("CARGO_BIN_EXE_mps")).arg("--help").output().expect("mps runs");
    let help_text = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.status.success() && help_text.contains("create-admin"),
        "mps --help lists the subcommands: {help_text}"
    );
}
