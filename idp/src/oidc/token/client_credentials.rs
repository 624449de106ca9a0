//! `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client acting for itself.
//! No refresh token and no ID token; no database write.

use std::collections::HashMap;

use crate::oidc::claims::granted_scopes;
use crate::oidc::error::{OAuthCode, OAuthError};
use crate::oidc::tokens::{Signer, TokenResponse};
use crate::store::{self, clients::Client};

pub fn exchange(
    client: &Client,
    signer: &Signer<'_>,
    params: &HashMap<String, String>,
) -> Result<TokenResponse, OAuthError> {
    if client.public {
        return Err(OAuthError::new(OAuthCode::UnauthorizedClient, "public clients cannot use client_credentials"));
    }
    let requested: Vec<String> =
        params.get("scope").map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
    // Member scopes mean nothing without a member.
    let scope = granted_scopes(&requested)
        .into_iter()
        .filter(|s| s != "openid" && s != "offline_access")
        .collect::<Vec<_>>()
        .join(" ");
    let (access_token, expires_in) = signer.client_access_token(client, &scope, store::now())?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token: None,
        refresh_expires_in: None,
        id_token: None,
        scope,
    })
}
