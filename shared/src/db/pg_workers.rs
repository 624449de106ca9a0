//! PostgreSQL work on threads that each own one connection and take jobs from one queue.
//!
//! A request hands its closure to this queue and awaits the answer; the thread runs it on its
//! connection. This replaced `spawn_blocking` + r2d2 + a semaphore, which cost three context
//! switches per request on a one-core server (perf stat: 3.0 per W9 request): waking an idle
//! blocking thread, its wait for PostgreSQL, and its parking again once the permit came back
//! to the async side. Here a thread that finishes a job takes the next one without sleeping
//! while the queue is not empty, so under load only the wait for PostgreSQL's answer remains.
//!
//! Connections are opened on a thread's first job and re-opened after a failure that left them
//! unusable (a restarted server, a terminated backend): the error reaches the request that met
//! it, and the next job on that thread connects again. A job that waited longer than the acquire
//! timeout fails as `Unavailable` instead of running late: its caller has a deadline too.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{AnyConnection, DbUrl, StoreError};

/// What a thread hands a job: its connection (None when it could not connect), or word that the
/// job waited too long to run.
enum Turn<'a> {
    Run(&'a mut Option<AnyConnection>),
    Expired,
}

type Job = Box<dyn for<'a> FnOnce(Turn<'a>) + Send>;

struct Queued {
    job: Job,
    since: Instant,
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
}

impl PgWorkers {
    pub fn start(url: DbUrl, threads: u32, acquire_timeout: Duration) -> Result<Self, StoreError> {
        let shared = Arc::new(Shared { queue: Mutex::new(Queue::default()), ready: Condvar::new() });
        for n in 0..threads.max(1) {
            let (shared, url) = (shared.clone(), url.clone());
            std::thread::Builder::new()
                .name(format!("pg-{n}"))
                .spawn(move || work(&shared, &url, acquire_timeout))
                .map_err(|e| StoreError::Unavailable(format!("database thread not started: {e}")))?;
        }
        Ok(PgWorkers { shared })
    }

    /// Queues `f` and waits for its result.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |turn: Turn<'_>| {
            let result = match turn {
                Turn::Run(conn) => run_job(conn, f),
                Turn::Expired => Err(StoreError::Unavailable("timed out waiting for a database connection".into())),
            };
            // The caller may have gone (a closed request); the work is done either way.
            let _ = tx.send(result);
        });
        {
            let mut q = self.shared.lock();
            q.jobs.push_back(Queued { job, since: Instant::now() });
            if q.idle > 0 {
                self.shared.ready.notify_one();
            }
        }
        rx.await.map_err(|_| StoreError::Unavailable("the database thread stopped".into()))?
    }
}

impl Drop for PgWorkers {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

/// Some(job) to run, or None when the store is gone and the queue empty. A job that waited past
/// the timeout is answered here, unrun.
fn next_job(shared: &Shared, acquire_timeout: Duration) -> Option<Job> {
    let mut q = shared.lock();
    loop {
        if let Some(queued) = q.jobs.pop_front() {
            if queued.since.elapsed() > acquire_timeout {
                drop(q);
                (queued.job)(Turn::Expired);
                q = shared.lock();
                continue;
            }
            return Some(queued.job);
        }
        if q.closed {
            return None;
        }
        q.idle += 1;
        q = shared.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
        q.idle -= 1;
    }
}

fn work(shared: &Shared, url: &DbUrl, acquire_timeout: Duration) {
    let mut conn: Option<AnyConnection> = None;
    while let Some(job) = next_job(shared, acquire_timeout) {
        if conn.is_none() {
            match AnyConnection::open(url) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "PostgreSQL connection failed");
                    // The job runs with no connection and reports the outage to its caller.
                }
            }
        }
        job(Turn::Run(&mut conn));
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
