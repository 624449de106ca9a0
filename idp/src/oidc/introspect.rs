//! Token introspection (RFC 7662) for authenticated clients, userinfo (OIDC Core §5.3) and
//! revocation (RFC 7009).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::bearer;
use super::client_auth;
use super::error::{OAuthCode, OAuthError};
use crate::realm::Realm;
use crate::state::AppState;
use crate::store::{self, write_tx};

pub async fn introspect(
    st: &AppState,
    realm: &Realm,
    params: HashMap<String, String>,
    authorization: Option<&str>,
) -> Result<Value, OAuthError> {
    let _client = client_auth::authenticate(st, realm, &params, authorization).await?;
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let inactive = json!({ "active": false });
    // A refresh token: opaque, looked up by hash.
    if !token.contains('.') {
        let hash = kenpo_shared::crypto::token_hash(token);
        let now = store::now();
        let grant = st.store.run(move |c| store::grants::refresh_grant(c, &hash, now)).await?;
        let Some(g) = grant.filter(|g| g.revoked_at.is_none()) else { return Ok(inactive) };
        let client = st
            .store
            .run({
                let id = g.client_id.clone();
                move |c| store::clients::find_by_id(c, &id)
            })
            .await?;
        return Ok(json!({
            "active": true, "token_type": "Refresh", "scope": g.scope,
            "client_id": client.map(|c| c.client_id), "sub": g.user_id, "sid": g.sid,
            "iss": st.issuer(realm),
        }));
    }
    let Some(active) = bearer::check(st, realm, token).await? else { return Ok(inactive) };
    let mut out: Map<String, Value> = match active.claims {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    out.insert("active".into(), json!(true));
    out.insert("token_type".into(), json!("Bearer"));
    if active.grant.as_ref().is_some_and(|g| g.user_id.is_some()) {
        match &active.user {
            Some(u) if u.is_active() => {
                out.insert("username".into(), json!(u.username));
            }
            _ => return Ok(inactive),
        }
    }
    Ok(Value::Object(out))
}

/// Userinfo: the member's claims for the token's scopes. `Err` carries the RFC 6750 error.
pub async fn userinfo(st: &AppState, realm: &Realm, token: Option<&str>) -> Result<Value, OAuthError> {
    let invalid = || OAuthError::new(OAuthCode::InvalidToken, "the access token is invalid or expired");
    let token = token.ok_or_else(invalid)?;
    let active = bearer::check(st, realm, token).await?.ok_or_else(invalid)?;
    let grant = active.grant.ok_or_else(invalid)?;
    let scopes: Vec<String> = grant.scope.split_whitespace().map(str::to_string).collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::new(OAuthCode::InvalidToken, "the token was not issued with the openid scope"));
    }
    let user = active.user.filter(|u| u.is_active()).ok_or_else(invalid)?;
    Ok(Value::Object(super::claims::user_claims(&user, &scopes)))
}

/// RFC 7009: revoke a refresh token (its whole grant) or an access token. Unknown tokens are
/// not an error (§2.2); tokens of another client are left alone.
pub async fn revoke(
    st: &AppState,
    realm: &Realm,
    params: HashMap<String, String>,
    authorization: Option<&str>,
) -> Result<(), OAuthError> {
    let client = client_auth::authenticate(st, realm, &params, authorization).await?;
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    if let Some(hint) = params.get("token_type_hint")
        && hint != "access_token"
        && hint != "refresh_token"
    {
        return Err(OAuthError::new(OAuthCode::UnsupportedTokenType, "unsupported token_type_hint"));
    }
    let client_pk = client.id.clone();
    if !token.contains('.') {
        let hash = kenpo_shared::crypto::token_hash(token);
        st.store
            .run(move |c| {
                write_tx(c, |c| {
                    let now = store::now();
                    if let Some(g) = store::grants::refresh_grant(c, &hash, now)?
                        && g.client_id == client_pk
                    {
                        store::grants::revoke_grant(c, &g.id, now)?;
                    }
                    Ok(())
                })
            })
            .await?;
        return Ok(());
    }
    let Some(active) = bearer::check(st, realm, token).await? else { return Ok(()) };
    if active.claims.get("client_id").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Ok(());
    }
    match active.grant {
        Some(g) => st.store.run(move |c| store::grants::revoke_grant(c, &g.id, store::now())).await?,
        None => {
            let jti = active.claims.get("jti").and_then(Value::as_str).unwrap_or_default().to_string();
            let exp = active.claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
            let until = chrono::DateTime::from_timestamp(exp, 0).map(|d| d.naive_utc()).unwrap_or_else(store::now);
            st.store.run(move |c| store::grants::revoke_jti(c, &jti, until)).await?
        }
    }
    Ok(())
}
