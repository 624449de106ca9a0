//! Everything a request handler needs, built once at start-up and shared by all workers.

use std::sync::Arc;

use crate::checkups::reference::ReferenceTable;
use crate::config::PortalConfig;
use crate::oidc_client::Rp;
use crate::store::Store;
use crate::web::render::Pages;

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub config: PortalConfig,
    pub pages: Pages,
    pub rp: Rp,
    pub reference: ReferenceTable,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Opens (and migrates) the database, loads the reference table and the templates.
    pub fn build(config: PortalConfig) -> Result<AppState, String> {
        let store = crate::store::open(&config.database.url, config.database.max_connections)
            .map_err(|e| format!("database: {e}"))?;
        Self::with_store(config, store)
    }

    pub fn with_store(config: PortalConfig, store: Store) -> Result<AppState, String> {
        let reference = ReferenceTable::load(config.results.reference_file.as_deref())?;
        for item in reference.unverified() {
            tracing::warn!(item = %item.code, status = %item.status, unverified = %item.unverified, "reference table: numbers not verified");
        }
        let rp = Rp::new(&config).map_err(|e| e.to_string())?;
        Ok(AppState(Arc::new(Inner { store, pages: Pages::load()?, rp, reference, config })))
    }
}
