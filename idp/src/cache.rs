//! A small expiring cache for reloadable data (realm settings, client registrations). Entries
//! live `ttl`; after a change through this process the entry is dropped at once, and other
//! replicas see the change within `ttl`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    map: RwLock<HashMap<K, (Instant, Arc<V>)>>,
    max_entries: usize,
}

impl<K: Eq + Hash + Clone, V> TtlCache<K, V> {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        TtlCache { ttl, map: RwLock::new(HashMap::new()), max_entries }
    }

    pub fn get(&self, k: &K) -> Option<Arc<V>> {
        let m = self.map.read().ok()?;
        m.get(k).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    pub fn put(&self, k: K, v: Arc<V>) {
        if let Ok(mut m) = self.map.write() {
            if m.len() >= self.max_entries {
                let ttl = self.ttl;
                m.retain(|_, (at, _)| at.elapsed() < ttl);
                if m.len() >= self.max_entries {
                    m.clear();
                }
            }
            m.insert(k, (Instant::now(), v));
        }
    }

    pub fn remove(&self, k: &K) {
        if let Ok(mut m) = self.map.write() {
            m.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_are_bounded() {
        let c: TtlCache<u32, u32> = TtlCache::new(Duration::from_millis(0), 2);
        c.put(1, Arc::new(1));
        assert!(c.get(&1).is_none());
        let c: TtlCache<u32, u32> = TtlCache::new(Duration::from_secs(60), 2);
        for i in 0..5 {
            c.put(i, Arc::new(i));
        }
        assert_eq!(c.get(&4).map(|v| *v), Some(4));
        c.remove(&4);
        assert!(c.get(&4).is_none());
    }
}
