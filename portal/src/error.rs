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
        kenpo_shared::web::fallback_error_page(
            status,
            self,
            kenpo_shared::web::FallbackPage {
                ja,
                en,
                stylesheet: "/static/portal.css",
                extra_html: "<p><a href=\"/\">トップページへ / Top page</a></p>",
            },
        )
    }
}
