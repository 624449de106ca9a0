//! SSO sessions: created at the end of a login, found by the cookie's hash, extended on use
//! up to the realm's limits, ended by logout (with back-channel notices to the clients).

use chrono::{Duration, NaiveDateTime};

use crate::oidc::tokens::Signer;
use crate::realm::Realm;
use crate::store::sessions::SessionRow;
use crate::store::{self, AnyConnection, StoreError};

pub const SESSION_COOKIE: &str = "KENPO_SESSION";
pub const FLOW_COOKIE: &str = "KENPO_FLOW";

/// The level of assurance (`acr`) of a login, in Keycloak's numbering: "1" one factor,
/// "2" two factors (or a user-verified passkey, which is two in one device).
pub fn acr_for(amr: &[String]) -> &'static str {
    if amr.iter().any(|a| a == "mfa") { "2" } else { "1" }
}

/// A new session row and the cookie token that finds it.
pub fn new_session(
    realm: &Realm,
    user_id: &str,
    amr: &[String],
    remember_me: bool,
    now: NaiveDateTime,
) -> (String, SessionRow) {
    let token = kenpo_shared::crypto::random_token(32);
    let row = SessionRow {
        id: kenpo_shared::crypto::token_hash(&token),
        sid: uuid::Uuid::new_v4().to_string(),
        realm_id: realm.id.clone(),
        user_id: user_id.to_string(),
        auth_time: now,
        amr: store::to_json(&amr),
        acr: acr_for(amr).into(),
        remember_me,
        created_at: now,
        last_seen_at: now,
        expires_at: next_expiry(realm, remember_me, now, now),
    };
    (token, row)
}

/// Idle timeout from `now`, capped by the absolute limit from `created`.
pub fn next_expiry(realm: &Realm, remember_me: bool, created: NaiveDateTime, now: NaiveDateTime) -> NaiveDateTime {
    let s = &realm.settings.session;
    let (idle, max) = if remember_me {
        (Duration::days(s.remember_me_days), Duration::days(s.remember_me_days))
    } else {
        (Duration::minutes(s.idle_minutes), Duration::hours(s.max_hours))
    };
    (now + idle).min(created + max)
}

/// Cookie lifetime for "ログイン状態の保存": persistent only when remembered.
pub fn cookie_max_age(realm: &Realm, remember_me: bool) -> Option<i64> {
    remember_me.then(|| realm.settings.session.remember_me_days * 86_400)
}

/// Ends a session in one transaction: its grants are revoked, each client that registered a
/// back-channel URI gets a signed logout token queued for delivery, and the row is deleted.
pub fn end_session(
    c: &mut AnyConnection,
    signer: &Signer<'_>,
    session: &SessionRow,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let targets = store::sessions::backchannel_targets(c, &session.id)?;
    let mut queued = 0;
    for (client_pk, _client_id, uri) in &targets {
        let Some(client) = store::clients::find_by_id(c, client_pk)? else { continue };
        match signer.logout_token(&client, &session.user_id, &session.sid, now) {
            Ok(token) => {
                store::backchannel::enqueue(c, &session.realm_id, client_pk, uri, &token, now)?;
                queued += 1;
            }
            Err(e) => tracing::error!(error = %e, client = %client.client_id, "could not sign a logout token"),
        }
    }
    store::grants::revoke_for_session(c, &session.id, now)?;
    store::sessions::delete(c, &session.id)?;
    store::audit::record(
        c,
        store::audit::Event {
            realm_id: Some(&session.realm_id),
            kind: "logout",
            user_id: Some(&session.user_id),
            detail: serde_json::json!({ "sid": session.sid, "backchannel": queued }),
            ..Default::default()
        },
    )?;
    Ok(queued)
}
