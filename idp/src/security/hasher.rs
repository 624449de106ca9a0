//! Password hashing with argon2id on its own threads, as many as cores: a login storm queues
//! here instead of starving page loads, token requests and database work, which run on other
//! pools. Two hashes in parallel on this class of machine reach 1.8× one, so more concurrency
//! than cores only adds latency. Dedicated threads (not the shared blocking pool) also bound
//! memory: each thread keeps one argon2 working area (19 MiB for the default profile) and
//! reuses it for every check, instead of mapping, zeroing and unmapping 19 MiB per login.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};

use kenpo_shared::secret::Secret;

/// Named parameter sets. Stored hashes are PHC strings that carry their own parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashProfile {
    /// OWASP's argon2id recommendation: m = 19 MiB, t = 2, p = 1 (13.5 ms here).
    Default,
    /// argon2's own minimum (m = 8 KiB, t = 1: microseconds), for benchmarks of the protocol
    /// path (W6: "the hash at its minimum") and tests. Never a member-facing default.
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
            HashProfile::Minimal => (8, 1),
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
        let (hash, real) = match stored {
            Some(h) => (h, true),
            None => (decoy.unwrap_or_default(), false),
        };
        let trivial = is_trivial(&hash);
        let check = move || {
            let verdict = verify_now(profile, &hash, password.expose());
            if real { verdict } else { Verdict::Mismatch }
        };
        // A hash of a few microseconds costs less than the hand-off to a hashing thread and
        // back; only real work queues there.
        if trivial { Ok(check()) } else { self.on_pool(check).await }
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

/// At most this many KiB-passes (memory × iterations) are verified on the calling thread.
const TRIVIAL_COST: u64 = 64;

/// Whether checking `stored` takes microseconds (argon2 at its minimum), judged by the
/// parameters the stored string carries; anything unparsable goes to the pool like the rest.
fn is_trivial(stored: &str) -> bool {
    PasswordHash::new(stored)
        .ok()
        .and_then(|parsed| Params::try_from(&parsed).ok())
        .is_some_and(|p| u64::from(p.m_cost()) * u64::from(p.t_cost()) <= TRIVIAL_COST)
}

/// Synchronous hash, for the command line.
pub fn hash_now(profile: HashProfile, password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    profile.argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|_| HashError::Hash)
}

/// Largest argon2 memory (in 1 KiB blocks) a hashing thread keeps between hashes: twice the
/// default profile. Larger imported parameters get a buffer of their own for that one hash.
const REUSED_BLOCKS_MAX: usize = 2 * 19_456;

thread_local! {
    /// The argon2 working memory of this thread, reused across hashes. Allocating 19 MiB per
    /// hash cost ~19 % of a login's CPU in page faults, zeroing and unmapping (W5 profile);
    /// argon2 overwrites every block it uses, so reuse needs no clearing.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Recomputes a stored argon2 hash from its own algorithm, version, parameters and salt, in
/// this thread's reused memory; true when it matches (constant-time comparison).
fn argon2_matches(parsed: &PasswordHash<'_>, password: &[u8]) -> bool {
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) =
        (Algorithm::try_from(parsed.algorithm), Params::try_from(parsed), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    let blocks = params.block_count();
    let hashed = if blocks <= REUSED_BLOCKS_MAX {
        BLOCKS.with(|cell| {
            let mut memory = cell.borrow_mut();
            if memory.len() < blocks {
                memory.resize(blocks, argon2::Block::default());
            }
            argon.hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks])
        })
    } else {
        argon.hash_password_into(password, salt, &mut out)
    };
    hashed.is_ok() && kenpo_shared::crypto::ct_eq(&out, expected.as_bytes())
}

/// What one password check costs on this machine: checks a fresh hash of `profile` on the
/// calling thread (with the reused memory of a hashing thread) for about `budget`, after one
/// warm-up check. Returns the checks done and the mean time per check. Run pinned to an idle
/// core, this is `t_hash` of PERFORMANCE.md: the ceiling of password logins per core.
pub fn measure(profile: HashProfile, budget: std::time::Duration) -> Result<(u32, std::time::Duration), HashError> {
    let password = kenpo_shared::crypto::random_token(16);
    let stored = hash_now(profile, &password)?;
    if verify_now(profile, &stored, &password) == Verdict::Mismatch {
        return Err(HashError::Hash);
    }
    let start = std::time::Instant::now();
    let mut n = 0u32;
    while n == 0 || start.elapsed() < budget {
        if verify_now(profile, &stored, &password) == Verdict::Mismatch {
            return Err(HashError::Hash);
        }
        n += 1;
    }
    Ok((n, start.elapsed() / n))
}

pub fn verify_now(profile: HashProfile, stored: &str, password: &str) -> Verdict {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verdict::Mismatch;
    };
    // The stored string names its own algorithm and parameters; verify with those.
    if !argon2_matches(&parsed, password.as_bytes()) {
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

    /// Only argon2 at its minimum is checked on the caller's thread; the default profile, larger
    /// imported parameters and anything unparsable go to the hashing threads.
    #[test]
    fn only_minimal_hashes_are_trivial() {
        let minimal = hash_now(HashProfile::Minimal, "pw").unwrap_or_default();
        assert!(is_trivial(&minimal), "{minimal}");
        assert!(!is_trivial("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"));
        assert!(!is_trivial("$argon2id$v=19$m=64,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"));
        assert!(!is_trivial("garbage"));
        assert!(!is_trivial(""));
    }

    #[test]
    fn hash_and_verify_with_rehash_detection() {
        let h = hash_now(HashProfile::Minimal, "correct horse").unwrap_or_default();
        assert!(h.starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
        assert_eq!(verify_now(HashProfile::Minimal, &h, "correct horse"), Verdict::Match { needs_rehash: false });
        assert_eq!(verify_now(HashProfile::Default, &h, "correct horse"), Verdict::Match { needs_rehash: true });
        assert_eq!(verify_now(HashProfile::Minimal, &h, "wrong horse"), Verdict::Mismatch);
        assert_eq!(verify_now(HashProfile::Minimal, "garbage", "x"), Verdict::Mismatch);
    }

    /// The reused-memory check agrees with the library's own verification for every
    /// algorithm, version, cost and output length a stored (or imported) hash can carry.
    #[test]
    fn reused_memory_verification_agrees_with_the_library() {
        let cases = [
            (Algorithm::Argon2id, Version::V0x13, 256, 1, 1, 32),
            (Algorithm::Argon2id, Version::V0x13, 19_456, 2, 1, 32),
            (Algorithm::Argon2id, Version::V0x13, 512, 3, 2, 16),
            (Algorithm::Argon2i, Version::V0x13, 256, 2, 1, 32),
            (Algorithm::Argon2d, Version::V0x10, 256, 1, 1, 64),
            // Larger than the reused buffer: a buffer of its own.
            (Algorithm::Argon2id, Version::V0x13, 40_000, 1, 1, 32),
        ];
        for (alg, ver, m, t, p, len) in cases {
            let params = Params::new(m, t, p, Some(len)).unwrap_or_default();
            let salt = SaltString::generate(&mut OsRng);
            let stored = Argon2::new(alg, ver, params)
                .hash_password(b"correct horse", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default();
            let parsed = PasswordHash::new(&stored).unwrap_or_else(|_| unreachable!());
            for pw in [b"correct horse".as_slice(), b"correct hors", b""] {
                let library =
                    argon2::password_hash::PasswordVerifier::verify_password(&Argon2::default(), pw, &parsed).is_ok();
                assert_eq!(argon2_matches(&parsed, pw), library, "{stored} with {pw:?}");
            }
            assert!(argon2_matches(&parsed, b"correct horse"), "{stored}");
        }
        // Twice in a row on one thread (the memory is reused, not cleared) and after a larger hash.
        let h = hash_now(HashProfile::Minimal, "pw").unwrap_or_default();
        assert_eq!(verify_now(HashProfile::Minimal, &h, "pw"), Verdict::Match { needs_rehash: false });
        assert_eq!(verify_now(HashProfile::Minimal, &h, "pw"), Verdict::Match { needs_rehash: false });
        assert_eq!(verify_now(HashProfile::Minimal, &h, "px"), Verdict::Mismatch);
    }

    #[test]
    fn measure_counts_real_checks() {
        let (n, per) = measure(HashProfile::Minimal, std::time::Duration::from_millis(20)).unwrap_or_default();
        assert!(n >= 1);
        assert!(per > std::time::Duration::ZERO);
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
