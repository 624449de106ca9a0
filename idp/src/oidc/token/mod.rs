//! The token endpoint: client authentication, then one module per grant type.

mod authorization_code;
mod client_credentials;
mod refresh_token;

use std::collections::HashMap;

use super::client_auth;
use super::error::{OAuthCode, OAuthError};
use super::tokens::TokenResponse;
use crate::realm::Realm;
use crate::state::AppState;

pub async fn exchange(
    st: &AppState,
    realm: &Realm,
    params: HashMap<String, String>,
    authorization: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let grant_type =
        params.get("grant_type").cloned().ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    if !matches!(grant_type.as_str(), "authorization_code" | "refresh_token" | "client_credentials") {
        return Err(OAuthError::new(OAuthCode::UnsupportedGrantType, "unsupported grant_type"));
    }
    let client = client_auth::authenticate(st, realm, &params, authorization).await?;
    if !client.allows_grant(&grant_type) {
        return Err(OAuthError::new(OAuthCode::UnauthorizedClient, "grant type not allowed for this client"));
    }
    let keys = st.keys.for_realm(&st.store, &realm.id).await?;
    let issuer = st.issuer(realm);
    let signer = super::tokens::Signer { issuer: &issuer, keys: &keys, settings: &realm.settings.tokens };
    match grant_type.as_str() {
        "authorization_code" => authorization_code::exchange(st, realm, &client, &signer, &params).await,
        "refresh_token" => refresh_token::exchange(st, realm, &client, &signer, &params).await,
        _ => client_credentials::exchange(&client, &signer, &params),
    }
}
