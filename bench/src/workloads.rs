//! Running one workload at a fixed concurrency for a fixed time.
//!
//! A cell is prepared first (W4 and W9 log every virtual user in, untimed), then measured:
//! every virtual user loops until the deadline, timing each operation. Operations started
//! before the deadline are allowed to finish; the cell's elapsed time includes them.

use anyhow::Result;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::conn::Conn;
use crate::flows::{self, Target, Tokens};
use crate::stats::Tally;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Discovery,
    Jwks,
    ClientCredentials,
    Refresh,
    Login,
    Introspect,
    Userinfo,
}

impl Kind {
    /// Whether each virtual user needs its own tokens from a login before it starts.
    fn needs_tokens(self) -> bool {
        matches!(self, Kind::Refresh | Kind::Introspect | Kind::Userinfo)
    }
}

/// Options that change how operations are judged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Judge {
    /// W4: a refresh response without a new, different refresh token is an error.
    pub expect_rotation: bool,
}

/// A cell ready to be measured: the per-user state obtained before the clock starts.
pub struct Prepared {
    kind: Kind,
    target: Arc<Target>,
    tokens: Vec<Option<Tokens>>,
    judge: Judge,
    /// Logins that failed during preparation (first message, count).
    pub prep_failures: Option<(String, usize)>,
    /// Start no more than this many operations in the cell (all virtual users together).
    pub max_ops: Option<usize>,
}

/// Log every virtual user in when the workload needs tokens (untimed).
pub async fn prepare(kind: Kind, target: Arc<Target>, concurrency: usize, judge: Judge) -> Prepared {
    let mut tokens: Vec<Option<Tokens>> = vec![None; concurrency];
    let mut prep_failures: Option<(String, usize)> = None;
    if kind.needs_tokens() {
        let mut set = tokio::task::JoinSet::new();
        for vu in 0..concurrency {
            let t = target.clone();
            set.spawn(async move {
                let mut conn = Conn::new(t.timeout);
                (vu, flows::login(&t, &mut conn, vu, &t.token_scope).await)
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((vu, Ok(tok))) => {
                    if let Some(slot) = tokens.get_mut(vu) {
                        *slot = Some(tok);
                    }
                }
                Ok((_, Err(e))) => {
                    let entry = prep_failures.get_or_insert_with(|| (format!("{e:#}"), 0));
                    entry.1 += 1;
                }
                Err(e) => {
                    let entry = prep_failures.get_or_insert_with(|| (format!("task: {e}"), 0));
                    entry.1 += 1;
                }
            }
        }
    }
    Prepared { kind, target, tokens, judge, prep_failures, max_ops: None }
}

/// Run the prepared cell for `duration`; returns the merged tally.
pub async fn measure(p: Prepared, duration: Duration) -> Tally {
    let deadline = Instant::now() + duration;
    let counter = Arc::new(AtomicUsize::new(0));
    let budget = p.max_ops.map(|n| Arc::new(Budget { left: AtomicUsize::new(n) }));
    let mut set = tokio::task::JoinSet::new();
    for (vu, tok) in p.tokens.iter().cloned().enumerate() {
        let t = p.target.clone();
        let counter = counter.clone();
        let kind = p.kind;
        let judge = p.judge;
        set.spawn(virtual_user(kind, t, vu, tok, Limits { deadline, budget: budget.clone() }, counter, judge));
    }
    let mut total = Tally::default();
    // Logins that failed before the clock started are failures of the server all the same.
    if let Some((msg, n)) = &p.prep_failures {
        for _ in 0..*n {
            total.record_error(&format!("start-up login: {msg}"));
        }
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(t) => total.merge(t),
            Err(e) => total.record_error(&format!("virtual user task failed: {e}")),
        }
    }
    total
}

/// Prepare and measure in one go (warm-up runs, tests).
pub async fn run(kind: Kind, target: Arc<Target>, concurrency: usize, duration: Duration, judge: Judge) -> Tally {
    let p = prepare(kind, target, concurrency, judge).await;
    measure(p, duration).await
}

/// Operations left to start in a cell with `--max-ops`, shared by its virtual users.
struct Budget {
    left: AtomicUsize,
}

impl Budget {
    /// Takes one operation from the budget; false when none is left.
    fn take(&self) -> bool {
        self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
    }
}

/// When a virtual user stops: at the deadline, or when the cell's budget is spent.
struct Limits {
    deadline: Instant,
    budget: Option<Arc<Budget>>,
}

async fn virtual_user(
    kind: Kind,
    t: Arc<Target>,
    vu: usize,
    mut tok: Option<Tokens>,
    limits: Limits,
    counter: Arc<AtomicUsize>,
    judge: Judge,
) -> Tally {
    let mut tally = Tally::default();
    let mut conn = Conn::new(t.timeout);
    let mut have_op = false;
    while Instant::now() < limits.deadline {
        if !have_op {
            match &limits.budget {
                Some(b) if !b.take() => break,
                _ => have_op = true,
            }
        }
        if kind.needs_tokens() && tok.is_none() {
            // Lost or never obtained tokens: log in again (untimed, but a failure counts).
            match flows::login(&t, &mut conn, vu, &t.token_scope).await {
                Ok(x) => tok = Some(x),
                Err(e) => {
                    tally.record_error(&format!("login for tokens: {e:#}"));
                    continue;
                }
            }
            continue;
        }
        let start = Instant::now();
        have_op = false;
        let res = one_op(kind, &t, &mut conn, &mut tok, &counter, judge, &mut tally).await;
        match res {
            Ok(()) => tally.record_ok(start.elapsed()),
            Err(e) => {
                tally.record_error(&format!("{e:#}"));
                if kind.needs_tokens() {
                    // A failed refresh may have revoked the token family: start again.
                    tok = None;
                }
            }
        }
    }
    tally
}

async fn one_op(
    kind: Kind,
    t: &Target,
    conn: &mut Conn,
    tok: &mut Option<Tokens>,
    counter: &AtomicUsize,
    judge: Judge,
    tally: &mut Tally,
) -> Result<()> {
    match kind {
        Kind::Discovery => flows::get_discovery(t, conn).await,
        Kind::Jwks => flows::get_jwks(t, conn).await,
        Kind::ClientCredentials => flows::client_credentials(t, conn).await.map(|_| ()),
        Kind::Login => {
            let user = counter.fetch_add(1, Ordering::Relaxed);
            flows::login(t, conn, user, &t.scope).await.map(|_| ())
        }
        Kind::Refresh => {
            let Some(current) = tok.as_ref() else {
                anyhow::bail!("no tokens");
            };
            let Some(rt) = current.refresh_token.clone() else {
                anyhow::bail!("the login gave no refresh_token (scope offline_access?)");
            };
            let new = flows::refresh(t, conn, &rt).await?;
            match new.refresh_token.as_deref() {
                Some(n) if n != rt => {
                    tally.note("refresh tokens rotated");
                    *tok = Some(new);
                }
                _ => {
                    if judge.expect_rotation {
                        anyhow::bail!("refresh response without a new refresh_token");
                    }
                    tally.note("refresh tokens not rotated");
                    *tok = Some(Tokens { refresh_token: Some(rt), ..new });
                }
            }
            Ok(())
        }
        Kind::Introspect | Kind::Userinfo => {
            let Some(at) = tok.as_ref().and_then(|x| x.access_token.clone()) else {
                anyhow::bail!("no access token");
            };
            if kind == Kind::Introspect {
                flows::introspect(t, conn, &at).await
            } else {
                flows::userinfo(t, conn, &at).await
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[path = "workloads_tests.rs"]
mod tests;
