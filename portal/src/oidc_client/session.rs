//! Portal sessions and logins in progress: what happens between the browser's cookies, the
//! portal database and the IdP. Handlers call these; nothing here imports actix.

use chrono::{Duration, NaiveDateTime};

use super::{OidcError, backchannel::LogoutClaims};
use crate::checkups::import::MemberKey;
use crate::config::PortalConfig;
use crate::state::AppState;
use crate::store::logins::{self, LoginRow};
use crate::store::sessions::{self, SessionRow};
use crate::store::{self, StoreError, write_tx};
use kenpo_shared::crypto::{ct_eq, random_token, token_hash};

pub const SESSION_COOKIE: &str = "KENPO_PORTAL_SESSION";
pub const LOGIN_COOKIE: &str = "KENPO_PORTAL_LOGIN";
/// How long a member may take at the IdP before the callback is refused.
pub const LOGIN_MINUTES: i64 = 15;
/// `last_seen_at` is written at most this often (idle expiry needs no finer grain).
const TOUCH_SECONDS: i64 = 60;

/// The browser's standing, from its session cookie.
#[derive(Debug)]
pub enum Current {
    SignedIn(Box<SessionRow>),
    /// A session cookie whose session has ended (timeout or logout elsewhere).
    Expired,
    Anonymous,
}

pub fn next_expiry(cfg: &PortalConfig, created: NaiveDateTime, now: NaiveDateTime) -> NaiveDateTime {
    (now + Duration::minutes(cfg.session.idle_minutes)).min(created + Duration::hours(cfg.session.max_hours))
}

pub async fn current(st: &AppState, cookie: Option<String>) -> Result<Current, StoreError> {
    let Some(token) = cookie else { return Ok(Current::Anonymous) };
    let id = token_hash(&token);
    let now = store::now();
    let found = st.store.run(move |c| sessions::find(c, &id)).await?;
    let Some(row) = found else { return Ok(Current::Expired) };
    if row.expires_at <= now {
        let id = row.id.clone();
        st.store.run(move |c| sessions::delete(c, &id)).await?;
        return Ok(Current::Expired);
    }
    if (now - row.last_seen_at).num_seconds() >= TOUCH_SECONDS {
        let (id, expiry) = (row.id.clone(), next_expiry(&st.config, row.created_at, now));
        st.store.run(move |c| sessions::touch(c, &id, now, expiry)).await?;
    }
    Ok(Current::SignedIn(Box::new(row)))
}

/// Only paths of this portal may be returned to after login (no open redirect).
pub fn safe_return_to(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && p.len() <= 200 => p.to_string(),
        _ => "/".to_string(),
    }
}

/// Starts a login: the attempt is stored, the browser gets a cookie for it and the IdP URL.
pub async fn start_login(
    st: &AppState,
    return_to: String,
    max_age: Option<i64>,
    ui_locale: &str,
) -> Result<(String, String), crate::error::PortalError> {
    let acr = max_age.map(|_| st.config.results.acr_values.as_str());
    let begin = st.rp.begin(max_age, acr, ui_locale).await?;
    let token = random_token(32);
    let now = store::now();
    let row = LoginRow {
        id: token_hash(&token),
        state: begin.state,
        nonce: begin.nonce,
        pkce_verifier: begin.pkce_verifier,
        return_to,
        max_age,
        created_at: now,
        expires_at: now + Duration::minutes(LOGIN_MINUTES),
    };
    st.store.run(move |c| logins::insert(c, &row)).await?;
    Ok((token, begin.url))
}

/// Why a callback did not sign the member in. Each is a page with a way to log in again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No login in progress for this browser (expired, used, or cookie missing).
    NoLogin,
    /// `state` does not match the one this browser sent.
    StateMismatch,
    /// The IdP answered with an error (the member cancelled, …).
    IdpError,
    /// Code refused or ID token failed verification (nonce, signature, age …).
    Rejected,
}

pub enum Callback {
    SignedIn { session_token: String, return_to: String },
    Refused(Refusal),
}

pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

pub async fn complete_login(
    st: &AppState,
    login_cookie: Option<String>,
    old_session: Option<String>,
    p: CallbackParams,
) -> Result<Callback, crate::error::PortalError> {
    let Some(login_token) = login_cookie else { return Ok(Callback::Refused(Refusal::NoLogin)) };
    let (id, now) = (token_hash(&login_token), store::now());
    let Some(attempt) = st.store.run(move |c| write_tx(c, |c| logins::take(c, &id, now))).await? else {
        return Ok(Callback::Refused(Refusal::NoLogin));
    };
    let state_ok = p.state.as_deref().is_some_and(|s| ct_eq(s.as_bytes(), attempt.state.as_bytes()));
    if !state_ok {
        tracing::warn!("login callback with a state that does not match");
        return Ok(Callback::Refused(Refusal::StateMismatch));
    }
    if let Some(e) = p.error {
        tracing::info!(error = %e, "the IdP returned an error to the callback");
        return Ok(Callback::Refused(Refusal::IdpError));
    }
    let Some(code) = p.code else { return Ok(Callback::Refused(Refusal::IdpError)) };
    let signed_in = match st.rp.finish(code, attempt.nonce, attempt.pkce_verifier, attempt.max_age).await {
        Ok(s) => s,
        Err(e) if e.is_refusal() => {
            tracing::warn!(error = %e, "login refused");
            return Ok(Callback::Refused(Refusal::Rejected));
        }
        Err(e) => return Err(e.into()),
    };
    let token = random_token(32);
    let now = store::now();
    let row = SessionRow {
        id: token_hash(&token),
        sid: signed_in.sid,
        subject: signed_in.subject,
        name: signed_in.name,
        insurer_number: signed_in.insurer_number,
        card_symbol: signed_in.card_symbol,
        card_number: signed_in.card_number,
        birthdate: signed_in.birthdate,
        id_token: signed_in.id_token,
        access_token: signed_in.access_token,
        refresh_token: signed_in.refresh_token,
        auth_time: signed_in.auth_time.naive_utc(),
        amr: serde_json::to_string(&signed_in.amr).unwrap_or_else(|_| "[]".into()),
        csrf: random_token(24),
        created_at: now,
        last_seen_at: now,
        expires_at: next_expiry(&st.config, now, now),
    };
    let old = old_session.map(|t| token_hash(&t));
    st.store
        .run(move |c| {
            write_tx(c, |c| {
                if let Some(old) = &old {
                    sessions::delete(c, old)?;
                }
                sessions::insert(c, &row)
            })
        })
        .await?;
    Ok(Callback::SignedIn { session_token: token, return_to: attempt.return_to })
}

/// Ends the portal session and returns where the browser goes for RP-initiated logout.
pub async fn logout(st: &AppState, session: &SessionRow) -> Result<Option<String>, crate::error::PortalError> {
    let id = session.id.clone();
    st.store.run(move |c| sessions::delete(c, &id)).await?;
    match st.rp.end_session_url(&session.id_token).await {
        Ok(u) => Ok(u),
        Err(e) => {
            // The portal session is over either way; the member lands on the top page.
            tracing::warn!(error = %e, "RP-initiated logout unavailable");
            Ok(None)
        }
    }
}

/// Back-channel logout: verify, then end the portal sessions of that IdP session.
pub async fn backchannel_logout(st: &AppState, logout_token: &str) -> Result<Result<usize, OidcError>, StoreError> {
    let claims = match st.rp.verify_logout_token(logout_token).await {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let n = st
        .store
        .run(move |c| match claims {
            LogoutClaims { sid: Some(sid), .. } => sessions::delete_by_sid(c, &sid),
            LogoutClaims { sub: Some(sub), .. } => sessions::delete_by_subject(c, &sub),
            _ => Ok(0),
        })
        .await?;
    Ok(Ok(n))
}

/// The card and birthdate to match results by, from the claims kept in the session.
pub fn member_key(s: &SessionRow) -> Option<MemberKey> {
    MemberKey::from_claims(
        s.insurer_number.as_deref(),
        s.card_symbol.as_deref(),
        s.card_number.as_deref(),
        s.birthdate.as_deref(),
    )
}

pub fn amr(s: &SessionRow) -> Vec<String> {
    serde_json::from_str(&s.amr).unwrap_or_default()
}

pub fn csrf_ok(s: &SessionRow, presented: &str) -> bool {
    !presented.is_empty() && ct_eq(presented.as_bytes(), s.csrf.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_is_a_local_path() {
        assert_eq!(safe_return_to(Some("/results?year=2024")), "/results?year=2024");
        for bad in ["//evil.example/", "https://evil.example/", "/\\evil", "results"] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_return_to(None), "/");
    }

    #[test]
    fn expiry_is_idle_capped_by_max() {
        let cfg = PortalConfig::default();
        let t0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default();
        assert_eq!(next_expiry(&cfg, t0, t0), t0 + Duration::minutes(30));
        let late = t0 + Duration::hours(9) + Duration::minutes(50);
        assert_eq!(next_expiry(&cfg, t0, late), t0 + Duration::hours(10));
    }
}
