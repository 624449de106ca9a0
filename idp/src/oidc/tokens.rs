//! Building and signing tokens: JWT access tokens (RFC 9068 shape), ID tokens, refresh tokens.

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::error::OAuthError;
use super::jose::{Alg, half_hash};
use super::keys::RealmKeys;
use crate::realm::settings::TokenSettings;
use crate::store::clients::Client;
use crate::store::grants::GrantRow;
use crate::store::users::UserRow;

/// What the token endpoint returns (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

pub struct Signer<'a> {
    pub issuer: &'a str,
    pub keys: &'a RealmKeys,
    pub settings: &'a TokenSettings,
}

fn epoch(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp()
}

impl Signer<'_> {
    fn sign(&self, client: &Client, claims: &Value, typ: &str) -> Result<String, OAuthError> {
        let alg = Alg::parse(&client.signing_alg).unwrap_or(Alg::RS256);
        let key = self.keys.signer(alg).ok_or_else(OAuthError::server_error)?;
        key.sign_jwt(claims, Some(typ)).map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            OAuthError::server_error()
        })
    }

    /// An access token for a member's grant. `jti` starts with the grant id so that
    /// introspection and userinfo can check that the grant was not revoked.
    pub fn access_token(
        &self,
        client: &Client,
        grant: &GrantRow,
        now: NaiveDateTime,
    ) -> Result<(String, i64), OAuthError> {
        let ttl = self.settings.access_token_seconds;
        let iat = epoch(now);
        let mut c = Map::new();
        c.insert("iss".into(), json!(self.issuer));
        c.insert("sub".into(), json!(grant.user_id.as_deref().unwrap_or(&client.client_id)));
        c.insert("aud".into(), json!(client.client_id));
        c.insert("azp".into(), json!(client.client_id));
        c.insert("client_id".into(), json!(client.client_id));
        c.insert("iat".into(), json!(iat));
        c.insert("exp".into(), json!(iat + ttl));
        c.insert("jti".into(), json!(format!("{}.{}", grant.id, kenpo_shared::crypto::random_token(9))));
        c.insert("scope".into(), json!(grant.scope));
        if let Some(sid) = &grant.sid {
            c.insert("sid".into(), json!(sid));
        }
        if let Some(at) = grant.auth_time {
            c.insert("auth_time".into(), json!(epoch(at)));
        }
        c.insert("acr".into(), json!(grant.acr));
        Ok((self.sign(client, &Value::Object(c), "at+jwt")?, ttl))
    }

    /// An access token for the client itself (client_credentials): no grant row is written,
    /// which keeps this grant free of database writes.
    pub fn client_access_token(
        &self,
        client: &Client,
        scope: &str,
        now: NaiveDateTime,
    ) -> Result<(String, i64), OAuthError> {
        let ttl = self.settings.access_token_seconds;
        let iat = epoch(now);
        let claims = json!({
            "iss": self.issuer, "sub": client.client_id, "aud": client.client_id, "azp": client.client_id,
            "client_id": client.client_id, "iat": iat, "exp": iat + ttl,
            "jti": kenpo_shared::crypto::random_token(16), "scope": scope,
        });
        Ok((self.sign(client, &claims, "at+jwt")?, ttl))
    }

    pub fn id_token(
        &self,
        client: &Client,
        grant: &GrantRow,
        user: &UserRow,
        access_token: &str,
        now: NaiveDateTime,
    ) -> Result<String, OAuthError> {
        let scopes: Vec<String> = grant.scope.split_whitespace().map(str::to_string).collect();
        let mut c = super::claims::user_claims(user, &scopes);
        let iat = epoch(now);
        c.insert("iss".into(), json!(self.issuer));
        c.insert("aud".into(), json!(client.client_id));
        c.insert("azp".into(), json!(client.client_id));
        c.insert("iat".into(), json!(iat));
        c.insert("exp".into(), json!(iat + self.settings.id_token_seconds));
        if let Some(at) = grant.auth_time {
            c.insert("auth_time".into(), json!(epoch(at)));
        }
        if let Some(n) = &grant.nonce {
            c.insert("nonce".into(), json!(n));
        }
        if let Some(sid) = &grant.sid {
            c.insert("sid".into(), json!(sid));
        }
        c.insert("acr".into(), json!(grant.acr));
        let amr: Value = serde_json::from_str(&grant.amr).unwrap_or_else(|_| json!([]));
        c.insert("amr".into(), amr);
        c.insert("at_hash".into(), json!(half_hash(access_token)));
        self.sign(client, &Value::Object(c), "JWT")
    }

    /// The token response for a member's grant (code exchange and refresh alike): a JWT access
    /// token, an ID token when the grant has the `openid` scope, and the refresh token if any.
    pub fn member_response(
        &self,
        client: &Client,
        grant: GrantRow,
        user: &UserRow,
        refresh: Option<String>,
        refresh_ttl_seconds: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let now = crate::store::now();
        let (access_token, expires_in) = self.access_token(client, &grant, now)?;
        let id_token = if grant.scope.split_whitespace().any(|s| s == "openid") {
            Some(self.id_token(client, &grant, user, &access_token, now)?)
        } else {
            None
        };
        Ok(TokenResponse {
            refresh_expires_in: refresh.as_ref().map(|_| refresh_ttl_seconds),
            access_token,
            token_type: "Bearer",
            expires_in,
            refresh_token: refresh,
            id_token,
            scope: grant.scope,
        })
    }

    /// A logout token (OIDC Back-Channel Logout 1.0 §2.4).
    pub fn logout_token(
        &self,
        client: &Client,
        sub: &str,
        sid: &str,
        now: NaiveDateTime,
    ) -> Result<String, OAuthError> {
        let iat = epoch(now);
        let claims = json!({
            "iss": self.issuer, "aud": client.client_id, "iat": iat, "exp": iat + 120,
            "jti": kenpo_shared::crypto::random_token(16), "sub": sub, "sid": sid,
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        });
        self.sign(client, &claims, "logout+jwt")
    }
}
