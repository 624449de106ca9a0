//! Every route in one table.

use actix_web::{HttpResponse, web};

use super::{handlers, render, results};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(handlers::index_get))
        .route("/login", web::get().to(handlers::login_get))
        .route("/callback", web::get().to(handlers::callback_get))
        .route("/logout", web::get().to(handlers::logout_get))
        .route("/logout", web::post().to(handlers::logout_post))
        .route("/backchannel-logout", web::post().to(handlers::backchannel_logout_post))
        .route("/results", web::get().to(results::results_get))
        .route("/results/notice", web::get().to(results::notice_get))
        .route("/results/notice", web::post().to(results::notice_post))
        .route("/results/items/{code}", web::get().to(results::item_get))
        .route("/health/live", web::get().to(|| async { HttpResponse::Ok().body("ok") }))
        .route("/health/ready", web::get().to(ready))
        .route(
            "/static/portal.css",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("text/css")
                    .insert_header(("Cache-Control", "public, max-age=3600"))
                    .body(render::STYLESHEET)
            }),
        );
}

async fn ready(st: web::Data<AppState>) -> HttpResponse {
    match st.store.run(|c| c.execute_raw("SELECT 1")).await {
        Ok(()) => HttpResponse::Ok().body("ready"),
        Err(_) => HttpResponse::ServiceUnavailable().body("database unavailable"),
    }
}
