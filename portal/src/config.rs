//! Portal configuration: dev defaults (IdP `start-dev` on localhost:8080, portal on
//! localhost:8081), overridden by a TOML file (`--config`), then `KENPO_*` environment
//! variables (`KENPO_OIDC__CLIENT_SECRET`, `KENPO_RESULTS__MAX_AGE_SECONDS`, …) and
//! `DATABASE_URL`, then command-line flags.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use kenpo_shared::secret::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    pub database: DatabaseConfig,
    /// Address to listen on.
    pub listen: String,
    /// The portal's public base URL: the callback is `{public_url}/callback`, the post-logout
    /// redirect `{public_url}/`, the back-channel logout URI `{public_url}/backchannel-logout`.
    pub public_url: String,
    pub oidc: OidcConfig,
    pub session: SessionConfig,
    pub results: ResultsConfig,
    /// Development conveniences (plain-http cookies, demo results). Never in production.
    pub dev: bool,
    /// HTTP worker threads (0 = one per core).
    pub workers: usize,
    pub log_json: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
    /// Pool size (0 = 4 for SQLite, 10 for PostgreSQL).
    pub max_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The realm's issuer; everything else comes from its discovery document.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Scopes besides `openid`. `insurance` releases the card claims results are matched by.
    pub scopes: Vec<String>,
    /// 「プロフィール変更」 link (empty = `{issuer}/account/personal-info`).
    pub profile_url: String,
    /// 「ログイン方法変更」 link (empty = `{issuer}/account/account-security/signing-in`).
    pub login_methods_url: String,
    /// How long the discovery document and JWKS are reused before being fetched again.
    pub discovery_ttl_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// A session not used for this long ends.
    pub idle_minutes: i64,
    /// A session ends this long after sign-in, used or not.
    pub max_hours: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResultsConfig {
    /// Viewing results needs a sign-in at the IdP at most this many seconds ago (sent as
    /// `max_age`; older sign-ins are sent back to the IdP first).
    pub max_age_seconds: i64,
    /// Require a second factor in the ID token's `amr` (otp, hwk, swk, sms, mfa, …). On by
    /// default: checkup results are health data (SPEC: an MFA-level login to view them).
    pub require_second_factor: bool,
    /// `acr_values` sent with logins on the way to results: "2" is Kenpo ID's level for
    /// "password and second factor" (a member without one enrols one there); empty = none.
    pub acr_values: String,
    /// The reference table (bands) file; empty = the built-in `data/checkup-reference.csv`.
    pub reference_file: Option<PathBuf>,
}

pub const DEV_DB_URL: &str = "sqlite://data/kenpo-portal.db";
pub const DEV_CLIENT_SECRET: &str = "portal-dev-secret-change-me";

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: DEV_DB_URL.into(), max_connections: 0 }
    }
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer: "http://localhost:8080/realms/demo".into(),
            client_id: "kenpo-portal".into(),
            client_secret: Secret::new(DEV_CLIENT_SECRET),
            scopes: vec!["profile".into(), "email".into(), "insurance".into()],
            profile_url: String::new(),
            login_methods_url: String::new(),
            discovery_ttl_seconds: 300,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { idle_minutes: 30, max_hours: 10 }
    }
}

impl Default for ResultsConfig {
    fn default() -> Self {
        ResultsConfig {
            max_age_seconds: 900,
            require_second_factor: true,
            acr_values: "2".into(),
            reference_file: None,
        }
    }
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            database: DatabaseConfig::default(),
            listen: "127.0.0.1:8081".into(),
            public_url: "http://localhost:8081".into(),
            oidc: OidcConfig::default(),
            session: SessionConfig::default(),
            results: ResultsConfig::default(),
            dev: false,
            workers: 0,
            log_json: false,
        }
    }
}

impl PortalConfig {
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, String> {
        // Its own prefix, so one environment can configure the IdP and the portal side by side.
        const KNOWN: &[&str] =
            &["database", "listen", "public_url", "oidc", "session", "results", "dev", "workers", "log_json"];
        kenpo_shared::config::load(PortalConfig::default(), file, "KENPO_PORTAL_", KNOWN)
    }

    pub fn base_url(&self) -> String {
        self.public_url.trim_end_matches('/').to_string()
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub fn profile_url(&self) -> String {
        if self.oidc.profile_url.is_empty() {
            format!("{}/account/personal-info", self.oidc.issuer.trim_end_matches('/'))
        } else {
            self.oidc.profile_url.clone()
        }
    }

    pub fn login_methods_url(&self) -> String {
        if self.oidc.login_methods_url.is_empty() {
            format!("{}/account/account-security/signing-in", self.oidc.issuer.trim_end_matches('/'))
        } else {
            self.oidc.login_methods_url.clone()
        }
    }

    /// Every reason this configuration must not serve real members, all at once.
    pub fn production_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !self.public_url.starts_with("https://") {
            p.push(format!("public_url must be https:// in production (got {})", self.public_url));
        }
        if !self.oidc.issuer.starts_with("https://") {
            p.push(format!("oidc.issuer must be https:// in production (got {})", self.oidc.issuer));
        }
        if self.oidc.client_secret.expose() == DEV_CLIENT_SECRET || self.oidc.client_secret.is_empty() {
            p.push("oidc.client_secret (KENPO_OIDC__CLIENT_SECRET) must be set to the client's real secret".into());
        }
        if self.dev {
            p.push("dev mode must be off".into());
        }
        if self.database.url == DEV_DB_URL {
            p.push("database.url is the development default; set DATABASE_URL".into());
        }
        if self.results.max_age_seconds <= 0 {
            p.push("results.max_age_seconds must be positive".into());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_dev_defaults_and_lists_every_problem() {
        let c = PortalConfig { dev: true, ..PortalConfig::default() };
        assert_eq!(c.production_problems().len(), 5);
        let ok = PortalConfig {
            public_url: "https://portal.example.jp".into(),
            oidc: OidcConfig {
                issuer: "https://id.example.jp/realms/k".into(),
                client_secret: Secret::new("a-real-secret-0123456789"),
                ..OidcConfig::default()
            },
            database: DatabaseConfig { url: "postgres://db/portal".into(), max_connections: 0 },
            ..PortalConfig::default()
        };
        assert!(ok.production_problems().is_empty());
    }

    #[test]
    fn account_links_default_to_the_issuer() {
        let c = PortalConfig::default();
        assert_eq!(c.profile_url(), "http://localhost:8080/realms/demo/account/personal-info");
        let custom = PortalConfig {
            oidc: OidcConfig { login_methods_url: "https://x/y".into(), ..OidcConfig::default() },
            ..PortalConfig::default()
        };
        assert_eq!(custom.login_methods_url(), "https://x/y");
    }
}
