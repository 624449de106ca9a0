use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::pg_workers::PgWorkers;
use super::{AnyConnection, DbUrl, Migrations, StoreError, checkpoint, migrate};

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

/// A pooled database handle.
///
/// PostgreSQL work runs on a few threads that each own a connection (see `pg_workers`): a burst
/// queues instead of piling up threads, and a round trip to the server is time in which the
/// async worker serves other requests. `run_sync` (the command line, start-up, tests) uses a
/// lazily filled r2d2 pool of its own.
///
/// SQLite work runs inline, on the calling thread, one closure at a time per store. A SQLite
/// statement takes microseconds, less than handing it to another thread and back (a W6
/// profile had 7 % of a login's CPU in those hand-offs), and SQLite has one writer anyway. The
/// store's lock makes writers in this process queue on a mutex, which wakes the next one at
/// once, instead of on SQLite's busy handler, which sleeps at least a millisecond. Writers in
/// other processes (the command line) still meet the busy timeout. Checkpoints run on their own
/// thread (see `checkpoint`), so that no request waits for one.
#[derive(Clone)]
pub struct Store {
    pool: r2d2::Pool<Manager>,
    /// PostgreSQL only: the threads that run `run`'s closures.
    pg: Option<Arc<PgWorkers>>,
    url: DbUrl,
    /// SQLite only: held while a closure uses a connection.
    sqlite_lock: Option<Arc<Mutex<()>>>,
    /// SQLite only: the checkpoint thread stops when the last clone of the store is gone.
    _checkpointer: Option<Arc<checkpoint::Checkpointer>>,
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
        let (sqlite_lock, checkpointer, pg) = match url {
            DbUrl::Sqlite(path) => {
                (Some(Arc::new(Mutex::new(()))), Some(Arc::new(checkpoint::Checkpointer::start(path.clone()))), None)
            }
            DbUrl::Postgres(_) => {
                (None, None, Some(Arc::new(PgWorkers::start(url.clone(), opts.max_connections, opts.acquire_timeout)?)))
            }
        };
        Ok(Store { pool, pg, url: url.clone(), sqlite_lock, _checkpointer: checkpointer })
    }

    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// Runs `f` with a connection: inline on SQLite, on a connection's thread on PostgreSQL.
    /// Closures are short (a few statements or one transaction); long work is split into
    /// several calls (see the sweep) so that it never holds a SQLite store for long.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.pg {
            Some(pg) => pg.run(f).await,
            None => self.run_sync(f),
        }
    }

    /// Synchronous access: the command line, start-up code, and (through `run`) SQLite.
    pub fn run_sync<T>(&self, f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        // The lock guards no data (`contained` cleans up after a panic), so poisoning is ignored.
        let _guard = self.sqlite_lock.as_ref().map(|l| l.lock().unwrap_or_else(PoisonError::into_inner));
        let mut c = self.pool.get()?;
        contained(&mut c, f)
    }
}

/// Runs `f`; a panic becomes an error for this request only, and a transaction it left open
/// is rolled back before the connection goes back to the pool.
pub(super) fn contained<T>(
    c: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *c))) {
        Ok(result) => result,
        Err(_) => {
            let _ = c.execute_raw("ROLLBACK");
            Err(StoreError::Unavailable("a database task failed".into()))
        }
    }
}
