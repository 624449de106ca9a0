//! Delivers the outbox. Every replica runs one; each attempt is claimed first so a mail goes
//! out once even with several senders. A failed attempt backs off exponentially (2 s … 1 h);
//! a down SMTP server only delays mail.

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::MailConfig;
use crate::state::AppState;
use crate::store::{self, StoreError, mail::MailRow};

/// Attempts before a mail is left for an operator (about two days of backoff).
const MAX_ATTEMPTS: i32 = 60;

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    DevMailbox,
    /// No SMTP configured and no dev mailbox: mail stays queued (start refuses this in production).
    Disabled,
}

impl Transport {
    pub fn from_config(c: &MailConfig) -> Result<Transport, String> {
        if c.dev_mailbox {
            return Ok(Transport::DevMailbox);
        }
        if c.smtp_host.is_empty() {
            return Ok(Transport::Disabled);
        }
        let builder = match c.smtp_tls.as_str() {
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.smtp_host).map_err(|e| e.to_string())?,
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.smtp_host),
            _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.smtp_host).map_err(|e| e.to_string())?,
        };
        let mut builder = builder.port(c.smtp_port).timeout(Some(Duration::from_secs(15)));
        if !c.smtp_username.is_empty() {
            builder =
                builder.credentials(Credentials::new(c.smtp_username.clone(), c.smtp_password.expose().to_string()));
        }
        Ok(Transport::Smtp(builder.build()))
    }
}

pub async fn run(st: AppState) {
    loop {
        match deliver_due(&st).await {
            Ok(0) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), st.mail_wakeup.notified()).await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "mail sender: storage error");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// One pass over due mail; returns how many attempts were made.
pub async fn deliver_due(st: &AppState) -> Result<usize, StoreError> {
    if matches!(st.mail, Transport::Disabled) {
        return Ok(0);
    }
    let now = store::now();
    let due = st.store.run(move |c| store::mail::due(c, now, 20)).await?;
    let mut attempted = 0;
    for row in due {
        if row.attempts >= MAX_ATTEMPTS {
            continue;
        }
        let backoff = ChronoDuration::seconds(2_i64.saturating_pow(row.attempts.clamp(1, 12) as u32).min(3600));
        let (id, attempts) = (row.id.clone(), row.attempts);
        let retry_at = store::now() + backoff;
        if !st.store.run(move |c| store::mail::claim(c, &id, attempts, retry_at)).await? {
            continue;
        }
        attempted += 1;
        let id = row.id.clone();
        match send(&st.mail, &row).await {
            Ok(()) => {
                // The dev mailbox page shows delivered mail; real deliveries keep no codes at rest.
                let forget = matches!(st.mail, Transport::Smtp(_));
                st.store.run(move |c| store::mail::sent(c, &id, store::now(), forget)).await?
            }
            Err(e) => {
                tracing::warn!(mail = %row.id, kind = %row.kind, attempt = row.attempts + 1, error = %e, "mail not delivered; will retry");
                st.store.run(move |c| store::mail::failed(c, &id, &e)).await?
            }
        }
    }
    Ok(attempted)
}

async fn send(transport: &Transport, row: &MailRow) -> Result<(), String> {
    match transport {
        Transport::DevMailbox => Ok(()),
        Transport::Disabled => Err("no SMTP server configured".into()),
        Transport::Smtp(smtp) => {
            let msg = Message::builder()
                .from(row.from_address.parse().map_err(|e| format!("from: {e}"))?)
                .to(row.to_address.parse().map_err(|e| format!("to: {e}"))?)
                .subject(row.subject.clone())
                .header(ContentType::TEXT_PLAIN)
                .body(row.body_text.clone())
                .map_err(|e| e.to_string())?;
            smtp.send(msg).await.map(|_| ()).map_err(|e| e.to_string())
        }
    }
}
