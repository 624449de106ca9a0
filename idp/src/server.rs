//! Building the application and running it: HTTP server plus background tasks (back-channel
//! logout sender, expiry sweeper). Used by `start`, `start-dev` and the tests.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpServer, middleware, web};

use crate::config::IdpConfig;
use crate::security::hasher::Hasher;
use crate::state::AppState;
use crate::store;

/// Opens the store, loads the master key and builds the shared state.
pub fn build_state(config: IdpConfig) -> Result<AppState, String> {
    let store = store::open_with(&config.database.url, config.database.max_connections)
        .map_err(|e| format!("database: {e}"))?;
    let master_key = master_key(&config)?;
    let hasher = Hasher::with_available_parallelism().map_err(|e| e.to_string())?;
    let st = AppState::new(store, config, &master_key, hasher)?;
    crate::admin::realms::ensure_all_keys(&st.store, &st.keys).map_err(|e| e.to_string())?;
    Ok(st)
}

pub fn master_key(config: &IdpConfig) -> Result<[u8; 32], String> {
    use crate::security::master_key;
    if !config.secrets.master_key.is_empty() {
        return master_key::parse(config.secrets.master_key.expose());
    }
    if let Some(path) = &config.secrets.master_key_file {
        return master_key::load_or_create(path);
    }
    // Dev default: next to the SQLite file, or in ./data.
    let dir = match kenpo_shared::db::DbUrl::parse(&config.database.url) {
        Ok(kenpo_shared::db::DbUrl::Sqlite(p)) => p.parent().map(|d| d.to_path_buf()).unwrap_or_default(),
        _ => std::path::PathBuf::from("data"),
    };
    master_key::load_or_create(&dir.join("master.key"))
}

/// Runs the server on an already bound listener until it is stopped.
pub fn run(st: AppState, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
    let workers = if st.config.workers == 0 {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
    } else {
        st.config.workers
    };
    actix_web::rt::spawn(crate::oidc::backchannel::run(st.clone()));
    actix_web::rt::spawn(sweep_periodically(st.clone()));
    actix_web::rt::spawn(crate::mail::sender::run(st.clone()));
    let dev = st.config.dev;
    let access_log = st.config.access_log;
    let data = web::Data::new(st);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(64 * 1024))
            .wrap(kenpo_shared::web::security_headers())
            .wrap(middleware::Condition::new(access_log, middleware::Logger::new("%U %s %Dms").exclude("/health/live")))
            .configure(crate::web::routes::configure)
            .configure(|cfg| {
                if dev {
                    crate::web::devmail::configure(cfg);
                }
            })
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
        let mut removed = 0;
        // Batches of a few hundred rows: each call is short, requests run between them.
        let outcome = loop {
            match st.store.run(|c| store::maintenance::sweep(c, store::now(), 200)).await {
                Ok(0) => break Ok(()),
                Ok(n) => removed += n,
                Err(e) => break Err(e),
            }
            tokio::task::yield_now().await;
        };
        if removed > 0 {
            tracing::info!(removed, "expired rows swept");
        }
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "sweep failed");
        }
    }
}
