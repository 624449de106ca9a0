//! Building the application and running it: HTTP server plus the expiry sweeper. Used by
//! `start`, `start-dev` and the tests.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpServer, middleware, web};

use crate::state::AppState;
use crate::store;

/// Runs the server on an already bound listener until it is stopped.
pub fn run(st: AppState, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
    let workers = if st.config.workers == 0 {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
    } else {
        st.config.workers
    };
    actix_web::rt::spawn(sweep_periodically(st.clone()));
    let data = web::Data::new(st);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(64 * 1024))
            .app_data(web::FormConfig::default().limit(64 * 1024))
            .wrap(kenpo_shared::web::security_headers())
            .wrap(middleware::Logger::new("%U %s %Dms").exclude("/health/live"))
            .configure(crate::web::routes::configure)
            .default_service(web::to(not_found))
    })
    .workers(workers)
    .listen(listener)?
    .run();
    Ok(server)
}

async fn not_found() -> actix_web::HttpResponse {
    actix_web::HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("ページが見つかりません。 / Not found.")
}

async fn sweep_periodically(st: AppState) {
    loop {
        tokio::time::sleep(Duration::from_secs(300)).await;
        match st.store.run(|c| store::sweep(c, store::now())).await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "expired sessions and logins swept"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed"),
        }
    }
}
