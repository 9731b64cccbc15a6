//! Typed configuration: defaults, then an optional TOML file (`APP_CONFIG_FILE`), then `APP_*` environment
//! variables. A bad value stops start-up with a message that names it.

use crate::crypto::{Cipher, Secret};
use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

pub use crate::db::Backend;

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub listen_addr: SocketAddr,
    pub public_base_url: String,
    pub data_dir: PathBuf,
    pub encryption_key: Option<Secret>,
    pub log_format: LogFormat,
    pub bootstrap_admin_email: String,
    pub bootstrap_admin_token: Option<Secret>,
    pub bootstrap_admin_password: Option<Secret>,
    /// When workers re-verify every active number (`APP_REVERIFY_SCHEDULE`); `None` when switched off.
    pub reverify_schedule: Option<cron::Schedule>,
    /// How often workers prove they are alive (`APP_WORKER_HEARTBEAT_SECS`); after three missed beats their jobs
    /// run again elsewhere.
    pub worker_heartbeat: std::time::Duration,
    /// How often idle workers poll their queues (`APP_WORKER_POLL_MS`): the safety net behind wake-ups, and what
    /// starts delayed jobs.
    pub worker_poll: std::time::Duration,
    /// Live events: retention (`APP_LIVE_RETENTION_SECS`) and presence grace (`APP_PRESENCE_GRACE_SECS`).
    pub live: crate::live::LiveSettings,
    /// Whether chatbot endpoints and provider API URLs may reach loopback, private and link-local addresses
    /// (`APP_ALLOW_PRIVATE_URLS`): by default yes on SQLite (the local tour), no on PostgreSQL.
    pub allow_private_urls: bool,
    /// Sign-in token lifetimes (`APP_TOKEN_IDLE_DAYS`, `APP_TOKEN_MAX_DAYS`).
    pub tokens: crate::accounts::TokenSettings,
    /// Login throttling: networks exempt from the per-address limit (`APP_LOGIN_TRUSTED_CIDRS`) and the proxies
    /// whose `X-Forwarded-For` names the client (`APP_TRUSTED_PROXIES`), both comma-separated CIDRs or addresses.
    pub login: crate::accounts::throttle::LoginSettings,
}

/// The file's keys: the environment variables' names without `APP_`, in lower case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    listen_addr: Option<String>,
    public_base_url: Option<String>,
    data_dir: Option<String>,
    encryption_key: Option<String>,
    log_format: Option<String>,
    bootstrap_admin_email: Option<String>,
    bootstrap_admin_token: Option<String>,
    bootstrap_admin_password: Option<String>,
    reverify_schedule: Option<String>,
    worker_heartbeat_secs: Option<String>,
    worker_poll_ms: Option<String>,
    live_retention_secs: Option<String>,
    presence_grace_secs: Option<String>,
    allow_private_urls: Option<String>,
    token_idle_days: Option<String>,
    token_max_days: Option<String>,
    login_trusted_cidrs: Option<String>,
    trusted_proxies: Option<String>,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db?mode=rwc";
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:8080";
/// Hourly, at minute 0.
pub const DEFAULT_REVERIFY_SCHEDULE: &str = "0 0 * * * *";
pub const DEFAULT_WORKER_HEARTBEAT_SECS: u64 = 10;

impl Config {
    /// Reads the process environment (and the file it names, if any).
    pub fn from_env() -> anyhow::Result<Self> {
        Self::load(|k| std::env::var(k).ok())
    }

    /// Reads settings through `env`, so tests can pass their own environment.
    pub fn load(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let file = match env("APP_CONFIG_FILE") {
            Some(path) => {
                let text =
                    std::fs::read_to_string(&path).with_context(|| format!("APP_CONFIG_FILE: cannot read {path}"))?;
                toml::from_str::<FileConfig>(&text).map_err(|e| anyhow!("APP_CONFIG_FILE {path}: {e}"))?
            }
            None => FileConfig::default(),
        };
        let get = |var: &str, from_file: &Option<String>| env(var).or_else(|| from_file.clone());

        let database_url = get("APP_DATABASE_URL", &file.database_url).unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        let backend = backend_of(&database_url).map_err(|e| anyhow!("APP_DATABASE_URL: {e}"))?;

        let listen_raw = get("APP_LISTEN_ADDR", &file.listen_addr).unwrap_or_else(|| DEFAULT_LISTEN_ADDR.into());
        let listen_addr: SocketAddr = listen_raw
            .parse()
            .map_err(|_| anyhow!("APP_LISTEN_ADDR: `{listen_raw}` is not an address like 127.0.0.1:8080"))?;

        let public_base_url =
            get("APP_PUBLIC_BASE_URL", &file.public_base_url).unwrap_or_else(|| format!("http://{listen_addr}"));
        match url::Url::parse(&public_base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => bail!("APP_PUBLIC_BASE_URL: `{public_base_url}` is not an absolute http(s) URL"),
        }

        let data_dir = PathBuf::from(get("APP_DATA_DIR", &file.data_dir).unwrap_or_else(|| "data".into()));

        let encryption_key = get("APP_ENCRYPTION_KEY", &file.encryption_key).map(Secret::new);
        if let Some(k) = &encryption_key {
            Cipher::from_base64_key(k).map_err(|e| anyhow!("APP_ENCRYPTION_KEY: {e}"))?;
        }

        let log_format = match get("APP_LOG_FORMAT", &file.log_format).as_deref() {
            None | Some("human") => LogFormat::Human,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("APP_LOG_FORMAT: `{other}` is not one of human, json"),
        };

        let bootstrap_admin_email =
            get("APP_BOOTSTRAP_ADMIN_EMAIL", &file.bootstrap_admin_email).unwrap_or_else(|| "admin@example.com".into());
        crate::accounts::normalise_email(&bootstrap_admin_email)
            .ok_or_else(|| anyhow!("APP_BOOTSTRAP_ADMIN_EMAIL: `{bootstrap_admin_email}` is not an email address"))?;

        let bootstrap_admin_token = get("APP_BOOTSTRAP_ADMIN_TOKEN", &file.bootstrap_admin_token).map(Secret::new);
        if let Some(t) = &bootstrap_admin_token
            && t.expose().len() < 20
        {
            bail!("APP_BOOTSTRAP_ADMIN_TOKEN: must be at least 20 characters");
        }
        let bootstrap_admin_password =
            get("APP_BOOTSTRAP_ADMIN_PASSWORD", &file.bootstrap_admin_password).map(Secret::new);
        if let Some(p) = &bootstrap_admin_password
            && p.expose().chars().count() < crate::accounts::MIN_PASSWORD_LEN
        {
            bail!("APP_BOOTSTRAP_ADMIN_PASSWORD: must be at least {} characters", crate::accounts::MIN_PASSWORD_LEN);
        }

        let reverify_raw =
            get("APP_REVERIFY_SCHEDULE", &file.reverify_schedule).unwrap_or_else(|| DEFAULT_REVERIFY_SCHEDULE.into());
        let reverify_schedule = parse_schedule(&reverify_raw).map_err(|e| anyhow!("APP_REVERIFY_SCHEDULE: {e}"))?;

        let worker_heartbeat = match get("APP_WORKER_HEARTBEAT_SECS", &file.worker_heartbeat_secs) {
            None => std::time::Duration::from_secs(DEFAULT_WORKER_HEARTBEAT_SECS),
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(n @ 1..=3600) => std::time::Duration::from_secs(n),
                _ => bail!("APP_WORKER_HEARTBEAT_SECS: `{raw}` is not a whole number of seconds from 1 to 3600"),
            },
        };

        let worker_poll = match get("APP_WORKER_POLL_MS", &file.worker_poll_ms) {
            None => crate::runtime::POLL_INTERVAL,
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(n @ 50..=600_000) => std::time::Duration::from_millis(n),
                _ => bail!("APP_WORKER_POLL_MS: `{raw}` is not a whole number of milliseconds from 50 to 600000"),
            },
        };

        let secs = |key: &str, file: &Option<String>, default: std::time::Duration, max: u64| match get(key, file) {
            None => Ok(default),
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(n) if (1..=max).contains(&n) => Ok(std::time::Duration::from_secs(n)),
                _ => Err(anyhow!("{key}: `{raw}` is not a whole number of seconds from 1 to {max}")),
            },
        };
        let live = crate::live::LiveSettings {
            retention: secs(
                "APP_LIVE_RETENTION_SECS",
                &file.live_retention_secs,
                crate::live::DEFAULT_RETENTION,
                30 * 86_400,
            )?,
            presence_grace: secs(
                "APP_PRESENCE_GRACE_SECS",
                &file.presence_grace_secs,
                crate::live::DEFAULT_PRESENCE_GRACE,
                86_400,
            )?,
        };

        let allow_private_urls = match get("APP_ALLOW_PRIVATE_URLS", &file.allow_private_urls) {
            None => backend == Backend::Sqlite,
            Some(raw) => match raw.trim() {
                "true" => true,
                "false" => false,
                _ => bail!("APP_ALLOW_PRIVATE_URLS: `{raw}` is not one of true, false"),
            },
        };

        let days = |key: &str, file: &Option<String>, default: u64| match get(key, file) {
            None => Ok(std::time::Duration::from_secs(default * 86_400)),
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(n @ 1..=3650) => Ok(std::time::Duration::from_secs(n * 86_400)),
                _ => Err(anyhow!("{key}: `{raw}` is not a whole number of days from 1 to 3650")),
            },
        };
        let tokens = crate::accounts::TokenSettings {
            idle: days("APP_TOKEN_IDLE_DAYS", &file.token_idle_days, crate::accounts::DEFAULT_IDLE_DAYS)?,
            max_age: days("APP_TOKEN_MAX_DAYS", &file.token_max_days, crate::accounts::DEFAULT_MAX_DAYS)?,
        };
        if tokens.idle > tokens.max_age {
            bail!("APP_TOKEN_IDLE_DAYS must not be longer than APP_TOKEN_MAX_DAYS");
        }
        let networks = |key: &str, file: &Option<String>| -> anyhow::Result<Vec<ipnet::IpNet>> {
            let Some(raw) = get(key, file) else { return Ok(Vec::new()) };
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<ipnet::IpNet>()
                        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| anyhow!("{key}: `{s}` is not an address or a CIDR such as 10.0.0.0/8"))
                })
                .collect()
        };
        let login = crate::accounts::throttle::LoginSettings {
            trusted_networks: networks("APP_LOGIN_TRUSTED_CIDRS", &file.login_trusted_cidrs)?,
            trusted_proxies: networks("APP_TRUSTED_PROXIES", &file.trusted_proxies)?,
        };

        Ok(Self {
            database_url,
            listen_addr,
            public_base_url,
            data_dir,
            encryption_key,
            log_format,
            bootstrap_admin_email,
            bootstrap_admin_token,
            bootstrap_admin_password,
            reverify_schedule,
            worker_heartbeat,
            worker_poll,
            live,
            allow_private_urls,
            tokens,
            login,
        })
    }

    pub fn backend(&self) -> Backend {
        // Checked in `load`.
        backend_of(&self.database_url).unwrap_or(Backend::Sqlite)
    }

    /// The cipher for secrets at rest. With SQLite and no configured key, a key is generated on first start and
    /// kept in `<data_dir>/secret.key`, readable by the owner only. PostgreSQL deployments must configure one.
    pub fn cipher(&self) -> anyhow::Result<Cipher> {
        if let Some(k) = &self.encryption_key {
            return Cipher::from_base64_key(k);
        }
        if self.backend() == Backend::Postgres {
            bail!(
                "APP_ENCRYPTION_KEY: required with PostgreSQL (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)"
            );
        }
        load_or_create_key_file(&self.data_dir.join("secret.key"))
    }
}

/// A cron expression in UTC: `sec min hour day-of-month month day-of-week [year]` (six or seven fields, e.g.
/// `0 0 * * * *` hourly, `0 */15 * * * *` every quarter hour), or a five-field crontab line (`0 * * * *`, seconds
/// taken as 0). `off` switches scheduled re-verification off.
pub fn parse_schedule(raw: &str) -> Result<Option<cron::Schedule>, String> {
    let expr = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if expr.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let full = if expr.split(' ').count() == 5 { format!("0 {expr}") } else { expr };
    full.parse::<cron::Schedule>().map(Some).map_err(|e| {
        format!("`{raw}` is not a cron expression like `0 0 * * * *` (sec min hour day month weekday) or `off`: {e}")
    })
}

fn backend_of(url: &str) -> Result<Backend, String> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(format!("`{url}` is neither a sqlite: nor a postgres:// URL"))
    }
}

fn load_or_create_key_file(path: &Path) -> anyhow::Result<Cipher> {
    if path.exists() {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        return Cipher::from_base64_key(&Secret::new(text.trim())).map_err(|e| anyhow!("{}: {e}", path.display()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let key = Cipher::generate_key();
    write_owner_only(path, key.expose())?;
    Cipher::from_base64_key(&key)
}

#[cfg(unix)]
fn write_owner_only(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_owner_only(path: &Path, content: &str) -> anyhow::Result<()> {
    std::fs::write(path, content).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = load(&[]).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.listen_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_base_url, "http://127.0.0.1:8080");
        assert_eq!(c.log_format, LogFormat::Human);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("APP_DATABASE_URL", "mysql://x"),
            ("APP_LISTEN_ADDR", "nope"),
            ("APP_PUBLIC_BASE_URL", "/relative"),
            ("APP_LOG_FORMAT", "xml"),
            ("APP_ENCRYPTION_KEY", "short"),
            ("APP_BOOTSTRAP_ADMIN_TOKEN", "tiny"),
            ("APP_REVERIFY_SCHEDULE", "every hour"),
            ("APP_WORKER_HEARTBEAT_SECS", "0"),
            ("APP_WORKER_POLL_MS", "10"),
            ("APP_ALLOW_PRIVATE_URLS", "yes"),
        ] {
            let err = load(&[(k, v)]).unwrap_err().to_string();
            assert!(err.starts_with(k), "{k}: {err}");
        }
    }

    #[test]
    fn reverify_schedule_forms() {
        let hourly = load(&[]).unwrap().reverify_schedule.unwrap();
        assert_eq!(hourly.to_string(), DEFAULT_REVERIFY_SCHEDULE);
        let crontab = load(&[("APP_REVERIFY_SCHEDULE", "*/5 * * * *")]).unwrap().reverify_schedule.unwrap();
        assert_eq!(crontab.to_string(), "0 */5 * * * *");
        assert!(load(&[("APP_REVERIFY_SCHEDULE", "off")]).unwrap().reverify_schedule.is_none());
    }

    #[test]
    fn private_urls_allowed_by_default_on_sqlite_only() {
        assert!(load(&[]).unwrap().allow_private_urls);
        let pg = ("APP_DATABASE_URL", "postgres://localhost/x");
        assert!(!load(&[pg]).unwrap().allow_private_urls);
        assert!(load(&[pg, ("APP_ALLOW_PRIVATE_URLS", "true")]).unwrap().allow_private_urls);
        assert!(!load(&[("APP_ALLOW_PRIVATE_URLS", "false")]).unwrap().allow_private_urls);

        let dir = std::env::temp_dir().join(format!("cfgtest-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("app.toml");
        std::fs::write(&file, "allow_private_urls = \"true\"\ndatabase_url = \"postgres://localhost/x\"\n").unwrap();
        assert!(load(&[("APP_CONFIG_FILE", file.to_str().unwrap())]).unwrap().allow_private_urls);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn postgres_requires_a_key() {
        let c = load(&[("APP_DATABASE_URL", "postgres://localhost/x")]).unwrap();
        assert!(c.cipher().unwrap_err().to_string().contains("APP_ENCRYPTION_KEY"));
    }

    #[test]
    fn key_file_is_created_owner_only_and_reused() {
        let dir = std::env::temp_dir().join(format!("cfgtest-{}", uuid::Uuid::new_v4()));
        let c = load(&[("APP_DATA_DIR", dir.to_str().unwrap())]).unwrap();
        let a = c.cipher().unwrap();
        let stored = a.encrypt("x").unwrap();
        let b = c.cipher().unwrap();
        assert_eq!(b.decrypt(&stored).unwrap().expose(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("secret.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
