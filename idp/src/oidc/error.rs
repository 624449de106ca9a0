//! OAuth 2 / OIDC error values (RFC 6749 §5.2, OIDC Core §3.1.2.6). The description goes to
//! the client; internal detail never does.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    InteractionRequired,
    ConsentRequired,
    InvalidToken,
    UnsupportedTokenType,
    ServerError,
    TemporarilyUnavailable,
    RequestNotSupported,
    RequestUriNotSupported,
}

impl OAuthCode {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthCode::InvalidRequest => "invalid_request",
            OAuthCode::InvalidClient => "invalid_client",
            OAuthCode::InvalidGrant => "invalid_grant",
            OAuthCode::UnauthorizedClient => "unauthorized_client",
            OAuthCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthCode::InvalidScope => "invalid_scope",
            OAuthCode::AccessDenied => "access_denied",
            OAuthCode::LoginRequired => "login_required",
            OAuthCode::InteractionRequired => "interaction_required",
            OAuthCode::ConsentRequired => "consent_required",
            OAuthCode::InvalidToken => "invalid_token",
            OAuthCode::UnsupportedTokenType => "unsupported_token_type",
            OAuthCode::ServerError => "server_error",
            OAuthCode::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthCode::RequestNotSupported => "request_not_supported",
            OAuthCode::RequestUriNotSupported => "request_uri_not_supported",
        }
    }

    /// HTTP status at the token endpoint (RFC 6749 §5.2: 400, or 401 for client authentication).
    pub fn status(self) -> u16 {
        match self {
            OAuthCode::InvalidClient | OAuthCode::InvalidToken => 401,
            OAuthCode::ServerError => 500,
            OAuthCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: OAuthCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: OAuthCode, description: impl Into<String>) -> Self {
        OAuthError { code, description: description.into() }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(OAuthCode::InvalidRequest, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(OAuthCode::InvalidGrant, d)
    }
    pub fn invalid_client() -> Self {
        Self::new(OAuthCode::InvalidClient, "client authentication failed")
    }
    pub fn server_error() -> Self {
        Self::new(OAuthCode::ServerError, "the server could not complete the request")
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.code.as_str(), "error_description": self.description })
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "storage error at a protocol endpoint");
        match e {
            crate::store::StoreError::Unavailable(_) => {
                OAuthError::new(OAuthCode::TemporarilyUnavailable, "please retry shortly")
            }
            _ => OAuthError::server_error(),
        }
    }
}
