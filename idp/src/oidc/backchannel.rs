//! Delivers queued back-channel logout tokens (OIDC Back-Channel Logout 1.0 §2.5): POST
//! `logout_token=…` to each client's URI, retrying with exponential backoff. Runs in every
//! replica; a row is claimed before each attempt so that only one replica sends it.

use std::time::Duration;

use chrono::Duration as ChronoDuration;

use crate::state::AppState;
use crate::store::{self, backchannel};

/// Attempts before a notice is given up (about a day of backoff).
const MAX_ATTEMPTS: i32 = 12;

pub async fn run(st: AppState) {
    loop {
        match deliver_due(&st).await {
            Ok(0) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), st.backchannel_wakeup.notified()).await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "back-channel sender: storage error");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// One pass over due notices; returns how many were attempted.
pub async fn deliver_due(st: &AppState) -> Result<usize, store::StoreError> {
    let now = store::now();
    let due = st.store.run(move |c| backchannel::due(c, now, 20)).await?;
    let mut attempted = 0;
    for row in due {
        if row.attempts >= MAX_ATTEMPTS {
            continue;
        }
        let retry_at = store::now() + ChronoDuration::seconds(2_i64.pow(row.attempts.clamp(0, 16) as u32).min(3600));
        let (id, attempts) = (row.id.clone(), row.attempts);
        let claimed = st.store.run(move |c| backchannel::claim(c, &id, attempts, retry_at)).await?;
        if !claimed {
            continue;
        }
        attempted += 1;
        let result = st
            .http
            .post(&row.uri)
            .header("Cache-Control", "no-store")
            .form(&[("logout_token", row.logout_token.as_str())])
            .send()
            .await;
        let id = row.id.clone();
        match result {
            Ok(resp) if resp.status().is_success() => {
                st.store.run(move |c| backchannel::delivered(c, &id, store::now())).await?;
            }
            Ok(resp) => {
                let msg = format!("HTTP {}", resp.status());
                st.store.run(move |c| backchannel::failed(c, &id, &msg)).await?;
            }
            Err(e) => {
                let msg = e.to_string();
                st.store.run(move |c| backchannel::failed(c, &id, &msg)).await?;
            }
        }
    }
    Ok(attempted)
}
