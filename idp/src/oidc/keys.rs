//! Per-realm signing keys: generated on first need, stored sealed with the master key, loaded
//! and parsed once, cached in memory (reloadable data, refreshed after `CACHE_TTL`). One active
//! key per algorithm signs; retired keys stay published until deleted so relying parties that
//! cached the JWKS keep verifying during a rotation.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::jose::{Alg, Jwk, JwkSet, SecretBox, SigningKey};
use crate::store::{self, AnyConnection, Store, StoreError, keys::KeyRow};

const CACHE_TTL: Duration = Duration::from_secs(60);

/// The parsed keys of one realm.
pub struct RealmKeys {
    pub signing: HashMap<Alg, Arc<SigningKey>>,
    pub published: Vec<Jwk>,
    /// The JWKS document, serialised once.
    pub jwks_json: Arc<[u8]>,
}

impl RealmKeys {
    pub fn signer(&self, alg: Alg) -> Option<&Arc<SigningKey>> {
        self.signing.get(&alg)
    }
}

/// Each realm's parsed keys, with when they were loaded.
type KeyCache = HashMap<String, (Instant, Arc<RealmKeys>)>;

#[derive(Clone)]
pub struct KeyRing {
    sealer: Arc<SecretBox>,
    cache: Arc<RwLock<KeyCache>>,
}

impl KeyRing {
    pub fn new(master_key: &[u8; 32]) -> Result<Self, String> {
        let sealer = SecretBox::new(master_key).map_err(|e| e.to_string())?;
        Ok(KeyRing { sealer: Arc::new(sealer), cache: Arc::new(RwLock::new(HashMap::new())) })
    }

    /// Makes sure the realm has an active RS256 and ES256 key (first start, new realm).
    pub fn ensure_keys(&self, c: &mut AnyConnection, realm_id: &str) -> Result<(), StoreError> {
        let rows = store::keys::for_realm(c, realm_id)?;
        for alg in [Alg::RS256, Alg::ES256] {
            if !rows.iter().any(|r| r.status == "active" && r.alg == alg.as_str()) {
                self.insert_new_key(c, realm_id, alg)?;
            }
        }
        Ok(())
    }

    /// Rotation: a new active key per algorithm; the previous ones are retired (still published).
    pub fn rotate(&self, c: &mut AnyConnection, realm_id: &str) -> Result<(), StoreError> {
        for row in store::keys::for_realm(c, realm_id)? {
            if row.status == "active" {
                store::keys::set_status(c, &row.kid, "retired")?;
            }
        }
        self.ensure_keys(c, realm_id)?;
        self.forget(realm_id);
        Ok(())
    }

    fn insert_new_key(&self, c: &mut AnyConnection, realm_id: &str, alg: Alg) -> Result<(), StoreError> {
        let kid = kenpo_shared::crypto::random_token(12);
        let key = SigningKey::generate(alg, kid.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let der = key.to_pkcs8().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sealed = self.sealer.seal(kid.as_bytes(), &der).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let jwk = serde_json::to_string(&key.public_jwk()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        store::keys::insert(
            c,
            &KeyRow {
                kid,
                realm_id: realm_id.to_string(),
                alg: alg.as_str().to_string(),
                private_enc: sealed,
                public_jwk: jwk,
                status: "active".into(),
                created_at: store::now(),
            },
        )
    }

    pub fn forget(&self, realm_id: &str) {
        if let Ok(mut m) = self.cache.write() {
            m.remove(realm_id);
        }
    }

    /// The realm's keys, from the cache or loaded from the database.
    pub async fn for_realm(&self, store: &Store, realm_id: &str) -> Result<Arc<RealmKeys>, StoreError> {
        if let Some(k) = self.cached(realm_id) {
            return Ok(k);
        }
        let rid = realm_id.to_string();
        let rows = store.run(move |c| store::keys::for_realm(c, &rid)).await?;
        let keys = Arc::new(self.parse(rows)?);
        if let Ok(mut m) = self.cache.write() {
            m.insert(realm_id.to_string(), (Instant::now(), keys.clone()));
        }
        Ok(keys)
    }

    pub fn for_realm_sync(&self, c: &mut AnyConnection, realm_id: &str) -> Result<Arc<RealmKeys>, StoreError> {
        if let Some(k) = self.cached(realm_id) {
            return Ok(k);
        }
        let keys = Arc::new(self.parse(store::keys::for_realm(c, realm_id)?)?);
        if let Ok(mut m) = self.cache.write() {
            m.insert(realm_id.to_string(), (Instant::now(), keys.clone()));
        }
        Ok(keys)
    }

    fn cached(&self, realm_id: &str) -> Option<Arc<RealmKeys>> {
        let m = self.cache.read().ok()?;
        m.get(realm_id).filter(|(at, _)| at.elapsed() < CACHE_TTL).map(|(_, k)| k.clone())
    }

    fn parse(&self, rows: Vec<KeyRow>) -> Result<RealmKeys, StoreError> {
        let mut signing = HashMap::new();
        let mut published = Vec::new();
        // Rows come newest first: the first active key of each algorithm signs.
        for row in rows {
            let alg = Alg::parse(&row.alg).ok_or_else(|| StoreError::Corrupt(format!("key alg {}", row.alg)))?;
            let jwk: Jwk = serde_json::from_str(&row.public_jwk).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            published.push(jwk);
            if row.status == "active" && !signing.contains_key(&alg) {
                let der = self
                    .sealer
                    .open(row.kid.as_bytes(), &row.private_enc)
                    .map_err(|_| StoreError::Corrupt("a signing key does not open with this master key".into()))?;
                let key = SigningKey::from_pkcs8(alg, row.kid.clone(), &der)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                signing.insert(alg, Arc::new(key));
            }
        }
        let jwks_json: Arc<[u8]> = serde_json::to_vec(&JwkSet { keys: published.clone() })
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
            .into();
        Ok(RealmKeys { signing, published, jwks_json })
    }
}
