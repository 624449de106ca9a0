//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` (RFC 7523) and `none` for
//! public clients. Client secrets are high-entropy random strings, so a SHA-256 of them is a
//! sound verifier and keeps client_credentials free of slow hashing.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::OAuthError;
use super::jose;
use crate::realm::Realm;
use crate::state::AppState;
use crate::store::clients::{AuthMethod, Client};

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The stored verifier of a client secret.
pub fn secret_hash(secret: &str) -> String {
    format!("sha256:{}", kenpo_shared::crypto::hex(&kenpo_shared::crypto::sha256(secret.as_bytes())))
}

fn secret_matches(client: &Client, presented: &str) -> bool {
    client
        .secret_hash
        .as_deref()
        .is_some_and(|stored| kenpo_shared::crypto::ct_eq(stored.as_bytes(), secret_hash(presented).as_bytes()))
}

/// Credentials as presented, before looking anything up.
#[derive(Debug)]
enum Presented {
    Basic { id: String, secret: String },
    Post { id: String, secret: String },
    Assertion { id: Option<String>, jwt: String },
    Public { id: String },
}

fn presented(params: &HashMap<String, String>, authorization: Option<&str>) -> Result<Presented, OAuthError> {
    let bad = || OAuthError::invalid_client();
    let mut methods = Vec::new();
    if let Some(h) = authorization {
        let b64 = h.strip_prefix("Basic ").ok_or_else(bad)?;
        let raw = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        let dec =
            |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        methods.push(Presented::Basic { id: dec(id).ok_or_else(bad)?, secret: dec(secret).ok_or_else(bad)? });
    }
    if let Some(secret) = params.get("client_secret") {
        let id = params.get("client_id").cloned().ok_or_else(bad)?;
        methods.push(Presented::Post { id, secret: secret.clone() });
    }
    if let Some(jwt) = params.get("client_assertion") {
        if params.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
            return Err(OAuthError::invalid_request("client_assertion_type must be jwt-bearer"));
        }
        methods.push(Presented::Assertion { id: params.get("client_id").cloned(), jwt: jwt.clone() });
    }
    // RFC 6749 §2.3: a client must not use more than one authentication method per request.
    match methods.len() {
        0 => params.get("client_id").map(|id| Presented::Public { id: id.clone() }).ok_or_else(bad),
        1 => methods.pop().ok_or_else(bad),
        _ => Err(OAuthError::invalid_request("more than one client authentication method")),
    }
}

/// Authenticates the client of a request, or says `invalid_client` (never which part was wrong).
pub async fn authenticate(
    st: &AppState,
    realm: &Realm,
    params: &HashMap<String, String>,
    authorization: Option<&str>,
) -> Result<Arc<Client>, OAuthError> {
    let p = presented(params, authorization)?;
    let client_id = match &p {
        Presented::Basic { id, .. } | Presented::Post { id, .. } | Presented::Public { id } => id.clone(),
        Presented::Assertion { id, jwt } => match id {
            Some(id) => id.clone(),
            None => jose::decode_unverified(jwt)
                .ok()
                .and_then(|(_, c)| c.get("sub").and_then(|s| s.as_str()).map(str::to_string))
                .ok_or_else(OAuthError::invalid_client)?,
        },
    };
    if client_id.len() > 255 {
        return Err(OAuthError::invalid_client());
    }
    let client = st.client(&realm.id, &client_id).await?.ok_or_else(OAuthError::invalid_client)?;
    let ok = match (&p, client.auth_method) {
        (
            Presented::Basic { secret, .. } | Presented::Post { secret, .. },
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost,
        ) => secret_matches(&client, secret),
        (Presented::Assertion { jwt, .. }, AuthMethod::PrivateKeyJwt) => {
            verify_assertion(st, realm, &client, jwt).await?
        }
        (Presented::Public { .. }, AuthMethod::None) => client.public,
        _ => false,
    };
    if ok { Ok(client) } else { Err(OAuthError::invalid_client()) }
}

/// RFC 7523 §3: signed by a key of the client, iss = sub = client_id, aud = our issuer or
/// token endpoint, not expired, and its `jti` never seen before.
async fn verify_assertion(st: &AppState, realm: &Realm, client: &Client, jwt: &str) -> Result<bool, OAuthError> {
    let Some(jwks) = client.jwks.as_deref() else { return Ok(false) };
    let Ok(set) = serde_json::from_str::<jose::JwkSet>(jwks) else { return Ok(false) };
    let Ok((_, claims)) = jose::verify_jwt(jwt, &set.keys) else { return Ok(false) };
    let issuer = st.issuer(realm);
    let token_endpoint = format!("{issuer}/protocol/openid-connect/token");
    let s = |k: &str| claims.get(k).and_then(|v| v.as_str());
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => a == &issuer || a == &token_endpoint,
        Some(serde_json::Value::Array(list)) => {
            list.iter().any(|a| a.as_str().is_some_and(|a| a == issuer || a == token_endpoint))
        }
        _ => false,
    };
    let now = chrono::Utc::now().timestamp();
    let exp = claims.get("exp").and_then(|v| v.as_i64());
    let fresh = exp.is_some_and(|e| e > now - 30 && e <= now + 3600);
    let (Some(jti), true, true, true, true) = (
        s("jti"),
        s("iss") == Some(client.client_id.as_str()),
        s("sub") == Some(client.client_id.as_str()),
        aud_ok,
        fresh,
    ) else {
        return Ok(false);
    };
    let jti_hash = kenpo_shared::crypto::token_hash(&format!("{}\0{jti}", client.id));
    let until = chrono::DateTime::from_timestamp(exp.unwrap_or(now) + 60, 0)
        .map(|d| d.naive_utc())
        .unwrap_or_else(crate::store::now);
    let first_use = st.store.run(move |c| crate::store::maintenance::use_assertion(c, &jti_hash, until)).await?;
    Ok(first_use)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn basic_credentials_are_url_decoded() {
        let h = format!("Basic {}", STANDARD.encode("my%20app:p%40ss"));
        match presented(&params(&[]), Some(&h)) {
            Ok(Presented::Basic { id, secret }) => assert_eq!((id.as_str(), secret.as_str()), ("my app", "p@ss")),
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn two_methods_or_garbage_are_refused() {
        let h = format!("Basic {}", STANDARD.encode("a:b"));
        assert!(presented(&params(&[("client_id", "a"), ("client_secret", "b")]), Some(&h)).is_err());
        assert!(presented(&params(&[]), Some("Bearer x")).is_err());
        assert!(presented(&params(&[]), Some("Basic !!!")).is_err());
        assert!(presented(&params(&[]), None).is_err());
        assert!(matches!(presented(&params(&[("client_id", "spa")]), None), Ok(Presented::Public { .. })));
    }

    #[test]
    fn secret_hash_is_stable_sha256() {
        assert_eq!(secret_hash("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
