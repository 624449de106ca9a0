//! Checking an access token we issued: signature against the realm's keys, issuer, expiry,
//! and that it was not revoked (its grant, or its own `jti` for client tokens). Used by
//! userinfo and introspection.

use serde_json::Value;

use super::jose;
use crate::realm::Realm;
use crate::state::AppState;
use crate::store::{self, StoreError};

/// A valid access token: its claims and, for member tokens, the grant and its member (loaded
/// in one query, userinfo and introspection need both; on PostgreSQL concurrent requests'
/// lookups share a query, see `kenpo_shared::db::BatchedLookup`).
pub struct ActiveToken {
    pub claims: Value,
    pub grant: Option<store::grants::GrantRow>,
    pub user: Option<store::users::UserRow>,
}

pub async fn check(st: &AppState, realm: &Realm, token: &str) -> Result<Option<ActiveToken>, StoreError> {
    if token.len() > 8192 {
        return Ok(None);
    }
    let keys = st.keys.for_realm(&st.store, &realm.id).await?;
    let Ok((header, claims)) = jose::verify_jwt(token, &keys.published) else {
        return Ok(None);
    };
    // Only access tokens: an ID token or logout token is not a bearer credential.
    if header.get("typ").and_then(Value::as_str) != Some("at+jwt") {
        return Ok(None);
    }
    let now = chrono::Utc::now().timestamp();
    let issuer = st.issuer(realm);
    let valid = claims.get("iss").and_then(Value::as_str) == Some(issuer.as_str())
        && claims.get("exp").and_then(Value::as_i64).is_some_and(|e| e > now);
    let Some(jti) = claims.get("jti").and_then(Value::as_str).map(str::to_string).filter(|_| valid) else {
        return Ok(None);
    };
    // Member tokens carry "<grant id>.<random>"; client tokens a bare random id.
    match jti.split_once('.') {
        Some((grant_id, _)) => {
            let found = st.grant_lookups.get(grant_id.to_string()).await?;
            Ok(found.map(|(g, user)| ActiveToken { claims, grant: Some(g), user }))
        }
        None => {
            let revoked = st.revoked_jtis.get(jti.clone()).await?.is_some();
            Ok((!revoked).then_some(ActiveToken { claims, grant: None, user: None }))
        }
    }
}
