//! Lookups by key that many requests make at the same moment, answered by one query per batch.
//!
//! On PostgreSQL every query is a round trip, and a W9 profile (introspection and userinfo)
//! had the server in the kernel more than half of the time: each request woke a connection's
//! thread, which woke the database and slept until it answered. Here a lookup joins the batch
//! that is forming; at most `MAX_BATCHES_IN_FLIGHT` batches are at the database at once, and
//! keys that arrive meanwhile go out together in the next one (one `= ANY($1)` query). An idle
//! server sends a lookup at once, in a batch of one, so nothing waits for a batch to fill.
//!
//! Every answer is read from the database after the request asked (a batch only takes keys that
//! are already waiting), so a batched answer is as fresh as a query of its own. On SQLite a
//! query costs microseconds inline and there is no thread to hand work to: lookups run alone.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use super::{AnyConnection, DbUrl, Store, StoreError};

/// Batches at the database at once: while one is away the next one forms, and a second lets a
/// batch start while the previous one's answers are handed out.
const MAX_BATCHES_IN_FLIGHT: usize = 2;
/// Keys in one query (PostgreSQL takes them as one array parameter).
const MAX_KEYS_PER_BATCH: usize = 64;

/// Loads the rows for `keys` (each at most once); keys without a row are simply absent.
pub type LoadMany<K, V> = fn(&mut AnyConnection, &[K]) -> Result<Vec<(K, V)>, StoreError>;

type Answer<V> = oneshot::Sender<Result<Option<V>, StoreError>>;

struct Pending<K, V> {
    waiting: Vec<(K, Answer<V>)>,
    in_flight: usize,
}

pub struct BatchedLookup<K, V> {
    store: Store,
    load: LoadMany<K, V>,
    pending: Mutex<Pending<K, V>>,
    batches_sent: AtomicU64,
}

impl<K, V> BatchedLookup<K, V>
where
    K: Clone + Eq + Hash + Send + 'static,
    V: Clone + Send + 'static,
{
    pub fn new(store: Store, load: LoadMany<K, V>) -> Arc<Self> {
        Arc::new(BatchedLookup {
            store,
            load,
            pending: Mutex::new(Pending { waiting: Vec::new(), in_flight: 0 }),
            batches_sent: AtomicU64::new(0),
        })
    }

    /// The row for `key`, read after this call began.
    pub async fn get(self: &Arc<Self>, key: K) -> Result<Option<V>, StoreError> {
        if !matches!(self.store.url(), DbUrl::Postgres(_)) {
            let load = self.load;
            let rows = self.store.run(move |c| load(c, std::slice::from_ref(&key))).await?;
            return Ok(rows.into_iter().next().map(|(_, v)| v));
        }
        let (tx, rx) = oneshot::channel();
        let start_batch = {
            let mut p = self.lock();
            p.waiting.push((key, tx));
            let free = p.in_flight < MAX_BATCHES_IN_FLIGHT;
            if free {
                p.in_flight += 1;
            }
            free
        };
        if start_batch {
            // A task of its own, so that a request that goes away cannot strand the others.
            tokio::spawn(self.clone().send_batches());
        }
        rx.await.map_err(|_| StoreError::Unavailable("the lookup was abandoned".into()))?
    }

    /// Batches sent to PostgreSQL so far (lookups on SQLite are not batched).
    pub fn batches_sent(&self) -> u64 {
        self.batches_sent.load(Ordering::Relaxed)
    }

    /// Sends the waiting keys, batch after batch, until none are left. Nothing here unwinds
    /// (`Store::run` turns a panic in `load` into an error), so `in_flight` always comes down.
    async fn send_batches(self: Arc<Self>) {
        loop {
            let batch = {
                let mut p = self.lock();
                if p.waiting.is_empty() {
                    // Under the same lock as the check: a key pushed after it starts a new task.
                    p.in_flight -= 1;
                    return;
                }
                let n = p.waiting.len().min(MAX_KEYS_PER_BATCH);
                p.waiting.drain(..n).collect::<Vec<_>>()
            };
            let mut keys: Vec<K> = batch.iter().map(|(k, _)| k.clone()).collect();
            dedup_keys(&mut keys);
            let load = self.load;
            self.batches_sent.fetch_add(1, Ordering::Relaxed);
            match self.store.run(move |c| load(c, &keys)).await {
                Ok(rows) => {
                    let found: HashMap<K, V> = rows.into_iter().collect();
                    for (key, answer) in batch {
                        let _ = answer.send(Ok(found.get(&key).cloned()));
                    }
                }
                Err(e) => {
                    let message = match e {
                        StoreError::Unavailable(m) => m,
                        other => other.to_string(),
                    };
                    for (_, answer) in batch {
                        let _ = answer.send(Err(StoreError::Unavailable(message.clone())));
                    }
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending<K, V>> {
        // Nothing runs under the lock that could panic half-way through a change.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes repeated keys, keeping the first of each (concurrent requests often carry the same
/// token).
fn dedup_keys<K: Clone + Eq + Hash>(keys: &mut Vec<K>) {
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    keys.retain(|k| seen.insert(k.clone()));
}
