//! IdP configuration: defaults for a dev stack, overridden by a TOML file (`--config`), then
//! `KENPO_*` environment variables (`KENPO_SECRETS__MASTER_KEY`, `KENPO_PUBLIC_URL`, …) and
//! `DATABASE_URL`, then command-line flags.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use kenpo_shared::secret::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdpConfig {
    pub database: DatabaseConfig,
    /// Address to listen on.
    pub listen: String,
    /// The public base URL (scheme, host, port, optional path); issuers are `{public_url}/realms/{name}`.
    pub public_url: String,
    pub secrets: SecretsConfig,
    /// Development conveniences: plain-http cookies, the dev mailbox, demo data. Never in production.
    pub dev: bool,
    /// HTTP worker threads (0 = one per core).
    pub workers: usize,
    pub log_json: bool,
    /// One log line per request (path and status only, never the query string). Off by
    /// default: at tens of thousands of requests per second the lines cost more than the work.
    pub access_log: bool,
    pub mail: crate::mail::MailConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
    /// Pool size (0 = 4 for SQLite, 10 for PostgreSQL).
    pub max_connections: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// 32 random bytes, base64: seals private keys at rest and keys CSRF tokens.
    pub master_key: Secret,
    /// Alternatively a file holding it (created with a random key in dev when missing).
    pub master_key_file: Option<PathBuf>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: DEV_DB_URL.into(), max_connections: 0 }
    }
}

pub const DEV_DB_URL: &str = "sqlite://data/kenpo-idp.db";

impl Default for IdpConfig {
    fn default() -> Self {
        IdpConfig {
            database: DatabaseConfig { url: DEV_DB_URL.into(), max_connections: 0 },
            listen: "127.0.0.1:8080".into(),
            public_url: "http://localhost:8080".into(),
            secrets: SecretsConfig::default(),
            dev: false,
            workers: 0,
            log_json: false,
            access_log: false,
            mail: crate::mail::MailConfig::default(),
        }
    }
}

impl IdpConfig {
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, String> {
        const KNOWN: &[&str] =
            &["database", "listen", "public_url", "secrets", "dev", "workers", "log_json", "access_log", "mail"];
        kenpo_shared::config::load(IdpConfig::default(), file, "KENPO_", KNOWN)
    }

    /// Every reason this configuration must not serve real members, all at once.
    pub fn production_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !self.public_url.starts_with("https://") {
            p.push(format!("public_url must be https:// in production (got {})", self.public_url));
        }
        if self.secrets.master_key.is_empty() && self.secrets.master_key_file.is_none() {
            p.push("secrets.master_key (KENPO_SECRETS__MASTER_KEY) or secrets.master_key_file must be set".into());
        }
        if self.dev {
            p.push("dev mode must be off".into());
        }
        if self.database.url == DEV_DB_URL {
            p.push("database.url is the development default; set DATABASE_URL".into());
        }
        p.extend(self.mail.problems(true));
        p
    }

    pub fn trimmed_public_url(&self) -> String {
        self.public_url.trim_end_matches('/').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_dev_defaults_and_lists_every_problem() {
        let c = IdpConfig { dev: true, ..IdpConfig::default() };
        assert_eq!(c.production_problems().len(), 5);
        let ok = IdpConfig {
            public_url: "https://id.example.jp".into(),
            secrets: SecretsConfig { master_key: Secret::new("x"), master_key_file: None },
            database: DatabaseConfig { url: "postgres://db/kenpo".into(), max_connections: 0 },
            mail: crate::mail::MailConfig { smtp_host: "smtp.example.jp".into(), ..Default::default() },
            ..IdpConfig::default()
        };
        assert!(ok.production_problems().is_empty());
    }
}
