//! Every route in one table. The layout follows Keycloak's, so relying parties configured for
//! Keycloak work unchanged: `/realms/{realm}/protocol/openid-connect/...`.

use actix_web::{HttpResponse, web};

use super::{actions, factors, login, logout, oidc, render};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(|| async { HttpResponse::Ok().body("ok") }))
        .route("/health/ready", web::get().to(ready))
        .route("/static/kenpo.css", web::get().to(|| async { asset("text/css", render::STYLESHEET) }))
        .route(
            "/static/kenpo.js",
            web::get().to(|| async { asset("text/javascript", include_str!("../../static/kenpo.js")) }),
        )
        .route(
            "/static/webauthn.js",
            web::get().to(|| async { asset("text/javascript", include_str!("../../static/webauthn.js")) }),
        )
        .route(
            "/static/form-post.js",
            web::get().to(|| async { asset("text/javascript", include_str!("../../static/form-post.js")) }),
        )
        .service(
            web::scope("/realms/{realm}")
                .route("/.well-known/openid-configuration", web::get().to(oidc::discovery_get))
                .route("/protocol/openid-connect/certs", web::get().to(oidc::certs_get))
                .route("/protocol/openid-connect/auth", web::get().to(login::authorize_get))
                .route("/protocol/openid-connect/auth", web::post().to(login::authorize_post))
                .route("/protocol/openid-connect/token", web::post().to(oidc::token_post))
                .route("/protocol/openid-connect/token/introspect", web::post().to(oidc::introspect_post))
                .route("/protocol/openid-connect/revoke", web::post().to(oidc::revoke_post))
                .route("/protocol/openid-connect/userinfo", web::get().to(oidc::userinfo))
                .route("/protocol/openid-connect/userinfo", web::post().to(oidc::userinfo))
                .route("/protocol/openid-connect/logout", web::get().to(logout::logout_get))
                .route("/protocol/openid-connect/logout", web::post().to(logout::logout_post))
                .route("/login-actions/authenticate", web::get().to(login::login_get))
                .route("/login-actions/authenticate", web::post().to(login::login_post))
                .route("/login-actions/restart", web::get().to(login::restart_get))
                .route("/login-actions/second-factor", web::get().to(factors::factor_get))
                .route("/login-actions/second-factor", web::post().to(factors::factor_post))
                .route("/login-actions/required-action", web::get().to(actions::action_get))
                .route("/login-actions/required-action", web::post().to(actions::action_post))
                .route("/login-actions/verify-email", web::get().to(actions::verify_email_get)),
        );
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).insert_header(("Cache-Control", "public, max-age=3600")).body(body)
}

async fn ready(st: web::Data<crate::state::AppState>) -> HttpResponse {
    match st.store.run(|c| c.execute_raw("SELECT 1")).await {
        Ok(()) => HttpResponse::Ok().body("ready"),
        Err(_) => HttpResponse::ServiceUnavailable().body("database unavailable"),
    }
}
