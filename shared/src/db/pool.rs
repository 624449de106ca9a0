use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::{AnyConnection, DbUrl, Migrations, StoreError, migrate};

struct Manager {
    url: DbUrl,
}

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = StoreError;

    fn connect(&self) -> Result<AnyConnection, StoreError> {
        AnyConnection::open(&self.url)
    }

    fn is_valid(&self, c: &mut AnyConnection) -> Result<(), StoreError> {
        c.execute_raw("SELECT 1")
    }

    fn has_broken(&self, _c: &mut AnyConnection) -> bool {
        false
    }
}

#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl PoolOptions {
    pub fn for_url(url: &DbUrl) -> Self {
        // SQLite serialises writers anyway; a few connections serve concurrent readers in WAL
        // mode. PostgreSQL does its work in its own processes, so a few connections per core
        // hide the round trips; more only add blocking threads (each with its own allocator
        // arena: measurable in RSS) without adding throughput on a small machine.
        let cores = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2);
        let max_connections = if url.is_sqlite() { 4 } else { (2 * cores).clamp(4, 32) };
        PoolOptions { max_connections, acquire_timeout: Duration::from_secs(10) }
    }
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Manager({:?})", self.url)
    }
}

/// A pooled database handle. All work runs on the blocking pool, bounded by a semaphore equal to
/// the pool size so that a burst queues on the async side instead of piling up threads.
#[derive(Clone)]
pub struct Store {
    pool: r2d2::Pool<Manager>,
    permits: Arc<Semaphore>,
    url: DbUrl,
}

impl Store {
    /// Connects and applies pending migrations.
    pub fn open(url: &DbUrl, opts: PoolOptions, migrations: &Migrations) -> Result<Self, StoreError> {
        let mut first = AnyConnection::open(url)?;
        migrate(&mut first, migrations)?;
        drop(first);
        Self::open_without_migrating(url, opts)
    }

    pub fn open_without_migrating(url: &DbUrl, opts: PoolOptions) -> Result<Self, StoreError> {
        let pool = r2d2::Pool::builder()
            .max_size(opts.max_connections)
            // No connections opened in the background: a CLI process exiting while r2d2 dials
            // PostgreSQL (libpq + OpenSSL tearing down under it) crashes with SIGSEGV.
            .min_idle(Some(0))
            .connection_timeout(opts.acquire_timeout)
            .test_on_check_out(false)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(Manager { url: url.clone() })?;
        Ok(Store { pool, permits: Arc::new(Semaphore::new(opts.max_connections as usize)), url: url.clone() })
    }

    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit =
            self.permits.clone().acquire_owned().await.map_err(|_| StoreError::Unavailable("store closed".into()))?;
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = pool.get()?;
            f(&mut c)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("blocking task failed: {e}")))?
    }

    /// Synchronous access for the command line and start-up code (never on an async worker).
    pub fn run_sync<T>(&self, f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut c = self.pool.get()?;
        f(&mut c)
    }
}
