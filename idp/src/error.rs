//! The IdP's error type and its one mapping to HTTP. Expected problems (bad input, expired
//! flow) are rendered as pages by the handlers; what reaches here is unexpected, so the member
//! gets a short bilingual page with a support code, and the detail goes to the log once.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::oidc::error::OAuthError;
use crate::security::hasher::HashError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("page rendering failed: {0}")]
    Render(String),
    #[error("not found")]
    NotFound,
    #[error("bad request")]
    BadRequest,
}

pub type Result<T, E = IdpError> = std::result::Result<T, E>;

impl ResponseError for IdpError {
    fn status_code(&self) -> StatusCode {
        match self {
            IdpError::NotFound => StatusCode::NOT_FOUND,
            IdpError::BadRequest => StatusCode::BAD_REQUEST,
            IdpError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (ja, en) = match status {
            StatusCode::NOT_FOUND => ("ページが見つかりません。", "Page not found."),
            StatusCode::BAD_REQUEST => ("リクエストが正しくありません。", "The request is not valid."),
            StatusCode::SERVICE_UNAVAILABLE => (
                "ただいま混み合っています。しばらくしてから再度お試しください。",
                "The service is busy. Please try again shortly.",
            ),
            _ => (
                "エラーが発生しました。しばらくしてから再度お試しください。",
                "Something went wrong. Please try again later.",
            ),
        };
        kenpo_shared::web::fallback_error_page(
            status,
            self,
            kenpo_shared::web::FallbackPage { ja, en, stylesheet: "/static/kenpo.css", extra_html: "" },
        )
    }
}

impl From<OAuthError> for IdpError {
    fn from(e: OAuthError) -> Self {
        tracing::warn!(error = %e, "protocol error on a page route");
        IdpError::BadRequest
    }
}
