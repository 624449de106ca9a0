//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): which client asks, where the
//! browser may go afterwards, and whether the request proves it comes from the session's RP.

use std::collections::HashMap;

use serde_json::Value;

use super::jose;
use crate::flows::session;
use crate::oidc::tokens::Signer;
use crate::realm::Realm;
use crate::state::AppState;
use crate::store::sessions::SessionRow;
use crate::store::{self, StoreError, write_tx};

#[derive(Debug, Clone, PartialEq)]
pub struct LogoutRequest {
    /// Where to go afterwards (already checked against the client's registered list).
    pub redirect: Option<String>,
    pub state: Option<String>,
    /// `sid` of a valid id_token_hint issued by this realm.
    pub hinted_sid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutError {
    /// post_logout_redirect_uri not registered for the client (or no client to check it with).
    RedirectNotRegistered,
}

pub async fn parse(
    st: &AppState,
    realm: &Realm,
    params: &HashMap<String, String>,
) -> Result<Result<LogoutRequest, LogoutError>, StoreError> {
    let mut hinted_sid = None;
    let mut client_id = params.get("client_id").cloned();
    if let Some(hint) = params.get("id_token_hint") {
        let keys = st.keys.for_realm(&st.store, &realm.id).await?;
        // An expired ID token is still a fine hint: it proves which RP and session it came from.
        if let Ok((_, claims)) = jose::verify_jwt(hint, &keys.published)
            && claims.get("iss").and_then(Value::as_str) == Some(st.issuer(realm).as_str())
        {
            hinted_sid = claims.get("sid").and_then(Value::as_str).map(str::to_string);
            let aud = match claims.get("aud") {
                Some(Value::String(a)) => Some(a.clone()),
                Some(Value::Array(a)) => a.first().and_then(Value::as_str).map(str::to_string),
                _ => None,
            };
            if client_id.is_none() {
                client_id = aud;
            } else if aud.is_some() && aud != client_id {
                return Ok(Err(LogoutError::RedirectNotRegistered));
            }
        }
    }
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let client = match &client_id {
                Some(id) => st.client(&realm.id, id).await?,
                None => None,
            };
            match client {
                Some(c) if c.post_logout_redirect_uris.iter().any(|u| u == uri) => Some(uri.clone()),
                _ => return Ok(Err(LogoutError::RedirectNotRegistered)),
            }
        }
    };
    Ok(Ok(LogoutRequest { redirect, state: params.get("state").cloned(), hinted_sid }))
}

/// Where the browser goes after logout, with `state` echoed.
pub fn redirect_location(req: &LogoutRequest) -> Option<String> {
    let base = req.redirect.as_ref()?;
    Some(match &req.state {
        Some(s) => {
            let sep = if base.contains('?') { '&' } else { '?' };
            let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("state", s).finish();
            format!("{base}{sep}{q}")
        }
        None => base.clone(),
    })
}

/// Ends the SSO session: grants revoked, back-channel notices queued, row deleted — one
/// transaction; delivery happens later and never blocks the member.
pub async fn end(st: &AppState, realm: &Realm, session: SessionRow) -> Result<(), StoreError> {
    let keys = st.keys.for_realm(&st.store, &realm.id).await?;
    let issuer = st.issuer(realm);
    let settings = realm.settings.tokens.clone();
    let queued = st
        .store
        .run(move |c| {
            let signer = Signer { issuer: &issuer, keys: &keys, settings: &settings };
            write_tx(c, |c| session::end_session(c, &signer, &session, store::now()))
        })
        .await?;
    if queued > 0 {
        st.backchannel_wakeup.notify_one();
    }
    Ok(())
}
