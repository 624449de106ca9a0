//! PostgreSQL work on threads that each own one connection and take jobs from one queue.
//!
//! A request hands its closure to this queue and awaits the answer; the thread runs it on its
//! connection. It replaced `spawn_blocking` + an r2d2 pool + a semaphore because r2d2 never
//! discarded a dead connection (it has no cheap way to tell), so a PostgreSQL restart broke
//! every request on that connection for up to r2d2's 30-minute lifetime. Speed is the same
//! (measured: W4 and W9 within noise, ~3.2 context switches per call either way; the thread
//! must sleep while PostgreSQL answers).
//!
//! Connections are opened on a thread's first job and re-opened after a failure that left them
//! unusable (a restarted server, a terminated backend): the error reaches the request that met
//! it, and the next job on that thread connects again.
//!
//! A caller waits at most the acquire timeout for its job to *start*. A job starts when a
//! thread, connected, claims it; a caller that gives up first claims it itself, and the job is
//! then never run. So a request that was told "unavailable" never has its change applied
//! later, and a job that started is always awaited to its end (never half-reported).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use super::{AnyConnection, DbUrl, StoreError};

/// A queued closure; it gets the thread's connection (None when it could not connect).
type Job = Box<dyn FnOnce(&mut Option<AnyConnection>) + Send>;

struct Queued {
    job: Job,
    /// Set by whoever takes the job first: the thread that runs it or the caller that gave up.
    claimed: Arc<AtomicBool>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Queued>,
    /// Threads waiting on the condition variable: a push only signals when one is idle.
    idle: usize,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue holds no invariant a panic could break (jobs run outside the lock).
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The threads and their queue. Dropping it (with the last clone of the store) lets the
/// threads finish the queued jobs and exit.
pub struct PgWorkers {
    shared: Arc<Shared>,
    acquire_timeout: Duration,
}

impl PgWorkers {
    pub fn start(url: DbUrl, threads: u32, acquire_timeout: Duration) -> Result<Self, StoreError> {
        let shared = Arc::new(Shared { queue: Mutex::new(Queue::default()), ready: Condvar::new() });
        for n in 0..threads.max(1) {
            let (shared, url) = (shared.clone(), url.clone());
            std::thread::Builder::new()
                .name(format!("pg-{n}"))
                .spawn(move || work(&shared, &url))
                .map_err(|e| StoreError::Unavailable(format!("database thread not started: {e}")))?;
        }
        Ok(PgWorkers { shared, acquire_timeout })
    }

    /// Queues `f` and waits for its result; `Unavailable` when no thread started it in time.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, mut rx) = oneshot::channel();
        let job: Job = Box::new(move |conn: &mut Option<AnyConnection>| {
            // The caller may have gone (a closed request); the work is done either way.
            let _ = tx.send(run_job(conn, f));
        });
        let claimed = Arc::new(AtomicBool::new(false));
        {
            let mut q = self.shared.lock();
            q.jobs.push_back(Queued { job, claimed: claimed.clone() });
            if q.idle > 0 {
                self.shared.ready.notify_one();
            }
        }
        let stopped = |_| StoreError::Unavailable("the database thread stopped".into());
        match tokio::time::timeout(self.acquire_timeout, &mut rx).await {
            Ok(result) => result.map_err(stopped)?,
            // Not started yet: cancel it. Started: it runs to its end, so wait for the answer.
            Err(_) if !claimed.swap(true, Ordering::AcqRel) => {
                Err(StoreError::Unavailable("timed out waiting for a database connection".into()))
            }
            Err(_) => rx.await.map_err(stopped)?,
        }
    }
}

impl Drop for PgWorkers {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

/// The next queued job, or None when the store is gone and the queue empty.
fn next_job(shared: &Shared) -> Option<Queued> {
    let mut q = shared.lock();
    loop {
        if let Some(queued) = q.jobs.pop_front() {
            return Some(queued);
        }
        if q.closed {
            return None;
        }
        q.idle += 1;
        q = shared.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
        q.idle -= 1;
    }
}

fn work(shared: &Shared, url: &DbUrl) {
    let mut conn: Option<AnyConnection> = None;
    while let Some(queued) = next_job(shared) {
        // Skip jobs whose callers already gave up, before spending a connection attempt on them.
        if queued.claimed.load(Ordering::Acquire) {
            continue;
        }
        if conn.is_none() {
            match AnyConnection::open(url) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "PostgreSQL connection failed");
                    // The job runs with no connection and reports the outage to its caller.
                }
            }
        }
        if queued.claimed.swap(true, Ordering::AcqRel) {
            continue; // the caller gave up while this thread was connecting
        }
        (queued.job)(&mut conn);
    }
}

/// Runs `f` on the thread's connection; a panic becomes this request's error, and a connection
/// that no longer answers after a failure is dropped so that the next job reconnects.
fn run_job<T>(
    conn: &mut Option<AnyConnection>,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let Some(c) = conn.as_mut() else {
        return Err(StoreError::Unavailable("no connection to the database".into()));
    };
    let result = super::pool::contained(c, f);
    let suspect = matches!(result, Err(StoreError::Unavailable(_) | StoreError::Db(_)));
    if suspect && c.execute_raw("SELECT 1").is_err() {
        tracing::warn!("PostgreSQL connection lost; reconnecting on the next request");
        *conn = None;
    }
    result
}
