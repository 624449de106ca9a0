//! The portal's error type and its one mapping to HTTP. Expected situations (expired session,
//! refused login, no results) are pages rendered by the handlers; what reaches here is
//! unexpected, so the member gets a short bilingual page with a support code and the detail
//! goes to the log once.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::oidc_client::OidcError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Oidc(#[from] OidcError),
    #[error("not found")]
    NotFound,
}

pub type Result<T, E = PortalError> = std::result::Result<T, E>;

impl ResponseError for PortalError {
    fn status_code(&self) -> StatusCode {
        match self {
            PortalError::NotFound => StatusCode::NOT_FOUND,
            PortalError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            PortalError::Oidc(_) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let support = kenpo_shared::crypto::random_token(6);
        if status.is_server_error() {
            tracing::error!(error = %self, support = %support, "request failed");
        }
        let (ja, en) = match status {
            StatusCode::NOT_FOUND => ("ページが見つかりません。", "Page not found."),
            StatusCode::BAD_GATEWAY => (
                "ログインサービスに接続できません。しばらくしてから再度お試しください。",
                "The sign-in service cannot be reached. Please try again shortly.",
            ),
            StatusCode::SERVICE_UNAVAILABLE => (
                "ただいま混み合っています。しばらくしてから再度お試しください。",
                "The service is busy. Please try again shortly.",
            ),
            _ => (
                "エラーが発生しました。しばらくしてから再度お試しください。",
                "Something went wrong. Please try again later.",
            ),
        };
        HttpResponse::build(status)
            .insert_header(("Cache-Control", "no-store"))
            .content_type("text/html; charset=utf-8")
            .body(format!(
                "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{ja}</title><link rel=\"stylesheet\" href=\"/static/portal.css\"></head>\
                 <body><main class=\"card\"><h1>{ja}</h1><p lang=\"en\">{en}</p><p><a href=\"/\">トップページへ / Top page</a></p><p class=\"muted\">サポートコード / Support code: {support}</p></main></body></html>"
            ))
    }
}
