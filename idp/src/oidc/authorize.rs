//! Parsing and validating an authorization request (pure). Problems with the client or the
//! redirect URI are shown to the member on a page and never redirected (an open redirector
//! otherwise); every other problem goes back to the validated redirect URI with `error`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::error::{OAuthCode, OAuthError};
use crate::store::clients::Client;

/// A validated authorization request, stored with the login flow until the code is issued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub client_pk: String,
    pub redirect_uri: String,
    pub scope: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    pub acr_values: Option<String>,
    pub response_mode: ResponseMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

impl AuthRequest {
    pub fn prompt_none(&self) -> bool {
        self.prompt.iter().any(|p| p == "none")
    }
    pub fn prompt_login(&self) -> bool {
        self.prompt.iter().any(|p| p == "login")
    }
    /// The client asked for a multi-factor login: `acr_values` lists "2" (Keycloak's level
    /// numbering) or the RFC 8176-style "mfa".
    pub fn wants_mfa(&self) -> bool {
        self.acr_values.as_deref().is_some_and(|v| v.split_whitespace().any(|a| a == "2" || a == "mfa"))
    }
}

/// Why a request cannot proceed.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizeError {
    /// Unknown client, missing or unregistered redirect URI: a page for the member.
    Page(&'static str),
    /// Anything else: an error response to the client's redirect URI.
    Redirect { redirect_uri: String, state: Option<String>, mode: ResponseMode, error: OAuthError },
}

const MAX_PARAM: usize = 2048;

/// The client id of a request, for looking the client up before `validate`.
pub fn client_id_of(params: &HashMap<String, String>) -> Result<&str, AuthorizeError> {
    match params.get("client_id").map(String::as_str) {
        Some(id) if !id.is_empty() && id.len() <= 255 => Ok(id),
        _ => Err(AuthorizeError::Page("error.client_unknown")),
    }
}

pub fn validate(
    params: &HashMap<String, String>,
    client: Option<&Client>,
    pkce_required_for_all: bool,
) -> Result<AuthRequest, AuthorizeError> {
    let client = client.ok_or(AuthorizeError::Page("error.client_unknown"))?;
    let redirect_uri = match params.get("redirect_uri") {
        Some(u) if client.redirect_uris.iter().any(|r| r == u) => u.clone(),
        Some(_) => return Err(AuthorizeError::Page("error.redirect_uri_invalid")),
        // OIDC requires redirect_uri; without it we cannot know where the member came from.
        None => return Err(AuthorizeError::Page("error.redirect_uri_missing")),
    };
    let state = params.get("state").cloned();
    let response_mode = match params.get("response_mode").map(String::as_str) {
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => ResponseMode::Query,
    };
    let fail = |code: OAuthCode, d: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        mode: response_mode,
        error: OAuthError::new(code, d),
    };
    if params.values().any(|v| v.len() > MAX_PARAM) || state.as_ref().is_some_and(|s| s.len() > 1024) {
        return Err(fail(OAuthCode::InvalidRequest, "a parameter is too long"));
    }
    if params.contains_key("request") {
        return Err(fail(OAuthCode::RequestNotSupported, "request objects are not supported"));
    }
    if params.contains_key("request_uri") {
        return Err(fail(OAuthCode::RequestUriNotSupported, "request_uri is not supported"));
    }
    if let Some(m) = params.get("response_mode")
        && m != "query"
        && m != "form_post"
    {
        return Err(fail(OAuthCode::InvalidRequest, "unsupported response_mode"));
    }
    match params.get("response_type").map(String::as_str) {
        Some("code") => {}
        Some(_) => return Err(fail(OAuthCode::UnsupportedResponseType, "only response_type=code is supported")),
        None => return Err(fail(OAuthCode::InvalidRequest, "response_type is required")),
    }
    if !client.allows_grant("authorization_code") {
        return Err(fail(OAuthCode::UnauthorizedClient, "client may not use the authorization code flow"));
    }
    let scope: Vec<String> =
        params.get("scope").map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
    if !scope.iter().any(|s| s == "openid") {
        return Err(fail(OAuthCode::InvalidScope, "scope must include openid"));
    }
    let code_challenge = params.get("code_challenge").cloned();
    let code_challenge_method = params.get("code_challenge_method").cloned();
    match (&code_challenge, code_challenge_method.as_deref()) {
        (Some(ch), Some("S256") | None) => {
            // RFC 7636 §4.2: 43-128 characters of the unreserved set. We accept only S256:
            // "plain" gives no protection when the code leaks.
            let ok =
                (43..=128).contains(&ch.len()) && ch.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
            if !ok {
                return Err(fail(OAuthCode::InvalidRequest, "code_challenge is malformed"));
            }
            if code_challenge_method.is_none() {
                return Err(fail(OAuthCode::InvalidRequest, "code_challenge_method must be S256"));
            }
        }
        (Some(_), Some(_)) => return Err(fail(OAuthCode::InvalidRequest, "code_challenge_method must be S256")),
        (None, Some(_)) => return Err(fail(OAuthCode::InvalidRequest, "code_challenge is missing")),
        (None, None) => {
            if client.public || client.require_pkce || pkce_required_for_all {
                return Err(fail(OAuthCode::InvalidRequest, "PKCE (code_challenge with S256) is required"));
            }
        }
    }
    let prompt: Vec<String> =
        params.get("prompt").map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
    if prompt.iter().any(|p| !matches!(p.as_str(), "none" | "login" | "consent" | "select_account")) {
        return Err(fail(OAuthCode::InvalidRequest, "unknown prompt value"));
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(fail(OAuthCode::InvalidRequest, "prompt=none cannot be combined"));
    }
    let max_age = match params.get("max_age") {
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| fail(OAuthCode::InvalidRequest, "max_age must be a non-negative integer"))?,
        ),
        None => None,
    };
    Ok(AuthRequest {
        client_id: client.client_id.clone(),
        client_pk: client.id.clone(),
        redirect_uri,
        scope,
        state,
        nonce: params.get("nonce").cloned(),
        code_challenge,
        code_challenge_method,
        prompt,
        max_age,
        login_hint: params.get("login_hint").cloned(),
        ui_locales: params.get("ui_locales").cloned(),
        acr_values: params.get("acr_values").cloned(),
        response_mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::clients::AuthMethod;

    fn client(public: bool) -> Client {
        Client {
            id: "pk".into(),
            realm_id: "r".into(),
            client_id: "portal".into(),
            public,
            auth_method: if public { AuthMethod::None } else { AuthMethod::ClientSecretBasic },
            secret_hash: None,
            jwks: None,
            redirect_uris: vec!["https://rp.example/cb".into()],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            signing_alg: "RS256".into(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            require_pkce: false,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const CH: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn valid_request_parses() {
        let p = params(&[
            ("client_id", "portal"),
            ("redirect_uri", "https://rp.example/cb"),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("state", "s"),
            ("nonce", "n"),
            ("code_challenge", CH),
            ("code_challenge_method", "S256"),
            ("max_age", "60"),
        ]);
        let r = validate(&p, Some(&client(true)), false);
        assert!(matches!(r, Ok(ref a) if a.max_age == Some(60) && a.scope.len() == 2));
    }

    #[test]
    fn client_and_redirect_problems_are_pages() {
        let p =
            params(&[("client_id", "portal"), ("redirect_uri", "https://evil.example/cb"), ("response_type", "code")]);
        assert_eq!(validate(&p, Some(&client(false)), false), Err(AuthorizeError::Page("error.redirect_uri_invalid")));
        // Prefix and case variations are not exact matches.
        let p = params(&[("redirect_uri", "https://rp.example/cb/x")]);
        assert_eq!(validate(&p, Some(&client(false)), false), Err(AuthorizeError::Page("error.redirect_uri_invalid")));
        assert_eq!(validate(&p, None, false), Err(AuthorizeError::Page("error.client_unknown")));
        let p = params(&[("response_type", "code")]);
        assert_eq!(validate(&p, Some(&client(false)), false), Err(AuthorizeError::Page("error.redirect_uri_missing")));
    }

    #[test]
    fn protocol_problems_redirect_with_state() {
        let base = [("client_id", "portal"), ("redirect_uri", "https://rp.example/cb"), ("state", "st")];
        // (parameters besides `base`, the error, whether it is sent back to the redirect URI)
        type Case<'a> = (Vec<(&'a str, &'a str)>, OAuthCode, bool);
        let cases: Vec<Case> = vec![
            (vec![("response_type", "token"), ("scope", "openid")], OAuthCode::UnsupportedResponseType, false),
            (vec![("response_type", "code"), ("scope", "email")], OAuthCode::InvalidScope, false),
            (vec![("response_type", "code"), ("scope", "openid")], OAuthCode::InvalidRequest, true),
            (
                vec![
                    ("response_type", "code"),
                    ("scope", "openid"),
                    ("code_challenge", CH),
                    ("code_challenge_method", "plain"),
                ],
                OAuthCode::InvalidRequest,
                true,
            ),
            (
                vec![
                    ("response_type", "code"),
                    ("scope", "openid"),
                    ("code_challenge", "short"),
                    ("code_challenge_method", "S256"),
                ],
                OAuthCode::InvalidRequest,
                true,
            ),
            (
                vec![("response_type", "code"), ("scope", "openid"), ("prompt", "none login")],
                OAuthCode::InvalidRequest,
                false,
            ),
            (vec![("response_type", "code"), ("scope", "openid"), ("max_age", "-1")], OAuthCode::InvalidRequest, false),
        ];
        for (extra, code, public) in cases {
            let mut p = params(&base);
            p.extend(params(&extra));
            match validate(&p, Some(&client(public)), false) {
                Err(AuthorizeError::Redirect { error, state, .. }) => {
                    assert_eq!(error.code, code, "{extra:?}");
                    assert_eq!(state.as_deref(), Some("st"));
                }
                other => unreachable!("{extra:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn pkce_optional_for_confidential_unless_required() {
        let p = params(&[
            ("client_id", "portal"),
            ("redirect_uri", "https://rp.example/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
        ]);
        assert!(validate(&p, Some(&client(false)), false).is_ok());
        assert!(validate(&p, Some(&client(false)), true).is_err());
    }
}
