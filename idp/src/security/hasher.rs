//! Password hashing with argon2id on its own threads, as many as cores: a login storm queues
//! here instead of starving page loads, token requests and database work, which run on other
//! pools. Two hashes in parallel on this class of machine reach 1.8× one, so more concurrency
//! than cores only adds latency. Dedicated threads (not the shared blocking pool) also bound
//! memory: each argon2id hash allocates 19 MiB, and the allocator keeps freed blocks per
//! thread, so hashing on dozens of short-lived blocking threads would hold far more.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};

use kenpo_shared::secret::Secret;

/// Named parameter sets. Stored hashes are PHC strings that carry their own parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashProfile {
    /// OWASP's argon2id recommendation: m = 19 MiB, t = 2, p = 1 (13.5 ms here).
    Default,
    /// The smallest sensible cost, for benchmarks of the protocol path (W6) and tests.
    Minimal,
}

impl HashProfile {
    pub fn parse(name: &str) -> HashProfile {
        match name {
            "argon2id-min" => HashProfile::Minimal,
            _ => HashProfile::Default,
        }
    }

    fn params(self) -> Params {
        let (m, t) = match self {
            HashProfile::Default => (19_456, 2),
            HashProfile::Minimal => (256, 1),
        };
        Params::new(m, t, 1, None).unwrap_or_default()
    }

    fn argon2(self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed")]
    Hash,
    #[error("hashing pool closed")]
    Closed,
}

/// Result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Match { needs_rehash: bool },
    Mismatch,
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads taking jobs from one queue. The threads end when the last `Hasher`
/// clone is dropped (the queue's sender goes away).
struct Pool {
    queue: Mutex<mpsc::Sender<Job>>,
}

impl Pool {
    fn new(threads: usize) -> Pool {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a hashing thread");
            }
        }
        Pool { queue: Mutex::new(tx) }
    }
}

#[derive(Clone)]
pub struct Hasher {
    pool: Arc<Pool>,
    /// Hashes of a random password, one per profile: unknown user IDs are checked against these
    /// so that the answer takes as long as for a real member.
    decoys: Arc<[(HashProfile, String); 2]>,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Result<Self, HashError> {
        let decoy_pw = kenpo_shared::crypto::random_token(16);
        let decoys = [
            (HashProfile::Default, hash_now(HashProfile::Default, &decoy_pw)?),
            (HashProfile::Minimal, hash_now(HashProfile::Minimal, &decoy_pw)?),
        ];
        Ok(Hasher { pool: Arc::new(Pool::new(concurrency)), decoys: Arc::new(decoys) })
    }

    pub fn with_available_parallelism() -> Result<Self, HashError> {
        Self::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
    }

    pub async fn hash(&self, profile: HashProfile, password: Secret) -> Result<String, HashError> {
        self.on_pool(move || hash_now(profile, password.expose())).await?
    }

    /// Verifies `password` against `stored`, or against a decoy of the same profile when there
    /// is no stored hash (unknown user, account without a password): same cost, always Mismatch.
    pub async fn verify(
        &self,
        profile: HashProfile,
        stored: Option<String>,
        password: Secret,
    ) -> Result<Verdict, HashError> {
        let decoy = self.decoys.iter().find(|(p, _)| *p == profile).map(|(_, h)| h.clone());
        self.on_pool(move || {
            let (hash, real) = match stored {
                Some(h) => (h, true),
                None => (decoy.unwrap_or_default(), false),
            };
            let verdict = verify_now(profile, &hash, password.expose());
            if real { verdict } else { Verdict::Mismatch }
        })
        .await
    }

    async fn on_pool<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.pool.queue.lock().map_err(|_| HashError::Closed)?.send(job).map_err(|_| HashError::Closed)?;
        rx.await.map_err(|_| HashError::Closed)
    }
}

/// Synchronous hash, for the command line.
pub fn hash_now(profile: HashProfile, password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    profile.argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|_| HashError::Hash)
}

pub fn verify_now(profile: HashProfile, stored: &str, password: &str) -> Verdict {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verdict::Mismatch;
    };
    // The stored string names its own algorithm and parameters; verify with those.
    if Argon2::default().verify_password(password.as_bytes(), &parsed).is_err() {
        return Verdict::Mismatch;
    }
    let wanted = profile.params();
    let current = Params::try_from(&parsed).ok();
    let needs_rehash = parsed.algorithm.as_str() != "argon2id"
        || current.is_none_or(|c| {
            c.m_cost() != wanted.m_cost() || c.t_cost() != wanted.t_cost() || c.p_cost() != wanted.p_cost()
        });
    Verdict::Match { needs_rehash }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify_with_rehash_detection() {
        let h = hash_now(HashProfile::Minimal, "correct horse").unwrap_or_default();
        assert!(h.starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        assert_eq!(verify_now(HashProfile::Minimal, &h, "correct horse"), Verdict::Match { needs_rehash: false });
        assert_eq!(verify_now(HashProfile::Default, &h, "correct horse"), Verdict::Match { needs_rehash: true });
        assert_eq!(verify_now(HashProfile::Minimal, &h, "wrong horse"), Verdict::Mismatch);
        assert_eq!(verify_now(HashProfile::Minimal, "garbage", "x"), Verdict::Mismatch);
    }

    #[test]
    fn default_profile_is_owasp() {
        let h = hash_now(HashProfile::Default, "pw").unwrap_or_default();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[actix_web::test]
    async fn unknown_user_never_matches() {
        let hasher = Hasher::new(1).unwrap_or_else(|_| unreachable!());
        let v = hasher.verify(HashProfile::Minimal, None, Secret::new("anything")).await;
        assert_eq!(v.ok(), Some(Verdict::Mismatch));
    }
}
