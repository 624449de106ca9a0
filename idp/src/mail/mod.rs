//! E-mail: composing from per-realm, per-locale texts, the outbox (see `store::mail`), and the
//! background sender that delivers over SMTP with retries and backoff. In development the
//! "dev mailbox" replaces SMTP: mail is marked delivered and shown at `/dev/mail`.

pub mod sender;

use serde::{Deserialize, Serialize};

use kenpo_shared::secret::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// SMTP server; empty means no SMTP (only allowed with the dev mailbox).
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `starttls` (default), `tls` (implicit TLS, port 465) or `none` (local relays and tests only).
    pub smtp_tls: String,
    pub smtp_username: String,
    pub smtp_password: Secret,
    /// Envelope and header sender.
    pub from: String,
    /// Development only: deliver to the `/dev/mail` page instead of SMTP.
    pub dev_mailbox: bool,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_tls: "starttls".into(),
            smtp_username: String::new(),
            smtp_password: Secret::default(),
            from: "no-reply@localhost".into(),
            dev_mailbox: false,
        }
    }
}

impl MailConfig {
    pub fn problems(&self, production: bool) -> Vec<String> {
        let mut p = Vec::new();
        if !matches!(self.smtp_tls.as_str(), "starttls" | "tls" | "none") {
            p.push("mail.smtp_tls must be starttls, tls or none".into());
        }
        if production {
            if self.dev_mailbox {
                p.push("mail.dev_mailbox must be off".into());
            }
            if self.smtp_host.is_empty() {
                p.push("mail.smtp_host must be set (KENPO_MAIL__SMTP_HOST)".into());
            }
            if self.smtp_tls == "none" && !matches!(self.smtp_host.as_str(), "localhost" | "127.0.0.1") {
                p.push("mail.smtp_tls=none is allowed only for a relay on localhost".into());
            }
        }
        p
    }
}

/// The sender of a realm's mail: the realm's own `mail.from`, else the deployment's.
pub fn realm_sender(config: &MailConfig, realm: &crate::realm::Realm) -> String {
    let own = realm.settings.mail.from.trim();
    if own.is_empty() { config.from.clone() } else { own.to_string() }
}
