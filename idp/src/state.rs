//! Everything a request handler needs, built once at start-up and shared by all workers.

use std::sync::Arc;
use std::time::Duration;

use kenpo_shared::db::BatchedLookup;

use crate::cache::TtlCache;
use crate::config::IdpConfig;
use crate::oidc::keys::KeyRing;
use crate::realm::Realm;
use crate::security::hasher::Hasher;
use crate::store::clients::Client;
use crate::store::{self, Store, StoreError};
use crate::web::render::Pages;

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub store: Store,
    /// Grant + member by grant id for bearer tokens, batched on PostgreSQL (`BatchedLookup`).
    pub grant_lookups: Arc<BatchedLookup<String, store::grants::GrantWithUser>>,
    /// Revoked client-token ids, looked up the same way.
    pub revoked_jtis: Arc<BatchedLookup<String, ()>>,
    pub config: IdpConfig,
    pub keys: KeyRing,
    /// Seals second-factor secrets and ceremony state at rest (the master key, AES-256-GCM).
    pub sealer: Arc<crate::oidc::jose::SecretBox>,
    pub hasher: Hasher,
    pub pages: Pages,
    /// Keys CSRF tokens (derived from the master key, so every replica agrees).
    pub csrf_key: [u8; 32],
    pub http: reqwest::Client,
    realms: TtlCache<String, Realm>,
    clients: TtlCache<(String, String), Option<Arc<Client>>>,
    /// Serialised discovery documents per realm name.
    pub discovery: TtlCache<String, Vec<u8>>,
    /// Wakes the back-channel logout sender when a logout queued notices.
    pub backchannel_wakeup: Arc<tokio::sync::Notify>,
    pub mail: crate::mail::sender::Transport,
    /// Wakes the mail sender when a transaction queued mail.
    pub mail_wakeup: Arc<tokio::sync::Notify>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Store, config: IdpConfig, master_key: &[u8; 32], hasher: Hasher) -> Result<Self, String> {
        let keys = KeyRing::new(master_key)?;
        let sealer = Arc::new(crate::oidc::jose::SecretBox::new(master_key).map_err(|e| e.to_string())?);
        let csrf_key = kenpo_shared::crypto::sha256(&[b"kenpo-csrf-v1".as_slice(), master_key].concat());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let mail = crate::mail::sender::Transport::from_config(&config.mail)?;
        Ok(AppState(Arc::new(Inner {
            grant_lookups: BatchedLookup::new(store.clone(), store::grants::live_grants_with_users),
            revoked_jtis: BatchedLookup::new(store.clone(), store::grants::revoked_jtis),
            store,
            mail,
            config,
            keys,
            sealer,
            hasher,
            pages: Pages::load()?,
            csrf_key,
            http,
            realms: TtlCache::new(Duration::from_secs(5), 1000),
            clients: TtlCache::new(Duration::from_secs(5), 10_000),
            discovery: TtlCache::new(Duration::from_secs(60), 1000),
            backchannel_wakeup: Arc::new(tokio::sync::Notify::new()),
            mail_wakeup: Arc::new(tokio::sync::Notify::new()),
        })))
    }

    pub fn issuer(&self, realm: &Realm) -> String {
        format!("{}/realms/{}", self.config.trimmed_public_url(), realm.name)
    }

    pub fn secure_cookies(&self) -> bool {
        self.config.public_url.starts_with("https://")
    }

    pub async fn realm(&self, name: &str) -> Result<Option<Arc<Realm>>, StoreError> {
        if let Some(r) = self.realms.get(&name.to_string()) {
            return Ok(Some(r));
        }
        let n = name.to_string();
        let found = self.store.run(move |c| store::realms::find_by_name(c, &n)).await?;
        Ok(found.map(|r| {
            let r = Arc::new(r);
            self.realms.put(name.to_string(), r.clone());
            r
        }))
    }

    /// A client by its OAuth client_id; misses are cached too (unknown-client floods stay cheap).
    pub async fn client(&self, realm_id: &str, client_id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        let key = (realm_id.to_string(), client_id.to_string());
        if let Some(c) = self.clients.get(&key) {
            return Ok(c.as_ref().clone());
        }
        let (r, id) = key.clone();
        let found = self.store.run(move |c| store::clients::find(c, &r, &id)).await?;
        let found = found.map(Arc::new);
        self.clients.put(key, Arc::new(found.clone()));
        Ok(found)
    }

    pub fn forget_realm(&self, name: &str) {
        self.realms.remove(&name.to_string());
    }
}
