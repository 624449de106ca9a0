//! kenpo-bench: the load driver for the workloads of `PERFORMANCE.md` (W1-W7, W9), against
//! any OpenID Connect provider on this machine.

mod conn;
mod flows;
mod html;
mod proc_stats;
mod report;
mod run;
mod setup;
mod stats;
mod workloads;

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Load driver for OpenID Connect providers: runs each workload for a fixed time at each
/// concurrency and prints one table (ok/s, p50, p99, errors, server CPU and memory).
#[derive(Debug, Clone, Parser, Serialize)]
#[command(name = "kenpo-bench", version)]
pub struct Args {
    /// Issuer URL (loopback only), e.g. http://127.0.0.1:8080/realms/bench
    #[arg(long)]
    pub issuer: String,
    /// Issuer of a realm whose password hash is minimal (W6); W6 is skipped without it.
    #[arg(long)]
    pub issuer_min: Option<String>,
    /// Client for the login flows, W4 and W9 (client_secret_basic).
    #[arg(long, default_value = "bench-client")]
    pub client_id: String,
    #[arg(long, default_value = "bench-secret-0123456789")]
    #[serde(skip)]
    pub client_secret: String,
    /// Client for W3 (default: --client-id).
    #[arg(long)]
    pub cc_client: Option<String>,
    /// Secret of the W3 client (default: --client-secret).
    #[arg(long)]
    #[serde(skip)]
    pub cc_secret: Option<String>,
    /// Client for W3 with ES256 tokens; "W3 cc ES256" runs only when given (or created by --setup-kenpo).
    #[arg(long)]
    pub cc_client_es256: Option<String>,
    /// Secret of the ES256 client (default: --client-secret).
    #[arg(long)]
    #[serde(skip)]
    pub cc_secret_es256: Option<String>,
    /// Scope sent with client_credentials (none when empty), e.g. api:read for the peer.
    #[arg(long, default_value = "")]
    pub cc_scope: String,
    /// Redirect URI registered for the client (never contacted).
    #[arg(long, default_value = "http://127.0.0.1:9/cb")]
    pub redirect_uri: String,
    /// Scope of the W5/W6 login flows.
    #[arg(long, default_value = "openid")]
    pub scope: String,
    /// Scope of the logins that obtain tokens for W4 and W9.
    #[arg(long, default_value = "openid offline_access")]
    pub token_scope: String,
    /// Members are PREFIX + a zero-padded number (see --user-digits), from --user-start on.
    #[arg(long, default_value = "bench")]
    pub user_prefix: String,
    #[arg(long, default_value_t = 5)]
    pub user_digits: usize,
    #[arg(long, default_value_t = 1)]
    pub user_start: usize,
    /// Number of members (used round robin by the login flows).
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// Password of every generated member.
    #[arg(long, default_value = "Kenpo-bench-pass-2025")]
    #[serde(skip)]
    pub password: String,
    /// File of members, one `username:password` a line (# comments); replaces the generated ones.
    #[arg(long)]
    pub users_file: Option<PathBuf>,
    /// Measured time per cell, e.g. 10s, 500ms, 1m (at most 120 s).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    #[serde(serialize_with = "ser_duration")]
    pub duration: Duration,
    /// Untimed warm-up before the first cell of each workload (0 for none).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    #[serde(serialize_with = "ser_duration")]
    pub warmup: Duration,
    /// Concurrencies, comma separated.
    #[arg(long, default_value = "16,64", value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Workloads, comma separated: w1 w2 w3 w3-es256 w4 w5 w6 w7 w9 (default: all that apply).
    #[arg(long, value_delimiter = ',')]
    pub workloads: Option<Vec<String>>,
    /// W7: login flows in the storm.
    #[arg(long, default_value_t = 64)]
    pub storm_login_concurrency: usize,
    /// W7: client_credentials users beside the storm.
    #[arg(long, default_value_t = 16)]
    pub storm_cc_concurrency: usize,
    /// W4: a refresh response without a new refresh token is an error.
    #[arg(long)]
    pub expect_rotation: bool,
    /// Exit non-zero when any workload had an error or no success (the CI smoke run).
    #[arg(long)]
    pub fail_on_errors: bool,
    /// Skip the start-up checks (one login, one client_credentials grant) that stop the run
    /// early on a wrong setup; every failure is then only counted in the table.
    #[arg(long)]
    pub no_check: bool,
    /// Form pages a login may submit (login, identifier-first, consent, ...).
    #[arg(long, default_value_t = 4)]
    pub max_forms: usize,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// PID of the server: its CPU time and memory are reported (Linux /proc).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// PID of the database server (the PostgreSQL postmaster): the CPU of that process and of
    /// its child processes (backends, WAL writer, ...) is reported as "db CPU %", and
    /// operations per CPU-second of server and database together.
    #[arg(long)]
    pub db_pid: Option<u32>,
    /// With --db-pid: count only the backends of this database (and the server's own
    /// processes), so that other databases on the same server do not count.
    #[arg(long, requires = "db_pid")]
    pub db_name: Option<String>,
    /// Stop each measured cell once this many operations have started (the cell still ends at
    /// --duration if that comes first); e.g. exactly 10,000 logins for the memory script.
    #[arg(long)]
    pub max_ops: Option<usize>,
    /// Write all results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Driver worker threads (default: the CPUs this process may use).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Create realms, clients and members with this kenpo-idp binary first.
    #[arg(long, requires = "db")]
    pub setup_kenpo: Option<PathBuf>,
    /// Database URL for --setup-kenpo.
    #[arg(long)]
    #[serde(skip)]
    pub db: Option<String>,
    /// Stop after --setup-kenpo (no load).
    #[arg(long, requires = "setup_kenpo")]
    pub setup_only: bool,
    /// Concurrent kenpo-idp CLI calls while creating members (default: CPUs).
    #[arg(long)]
    pub setup_parallel: Option<usize>,
    /// Realm setting that makes the W6 realm's password hash minimal.
    #[arg(long, default_value = "password.hash=argon2id-min")]
    pub min_hash_setting: String,
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// `10s`, `500ms`, `2m` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| format!("bad duration {s:?} (e.g. 10s, 500ms, 1m)"))?;
    let secs = v * unit;
    if !(0.0..=120.0).contains(&secs) {
        return Err(format!("duration {s:?} out of range (0 to 120 s)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Load goes to this machine only, like the scripts in shared/perf.
fn check_loopback(url: &str) -> Result<()> {
    let u = url::Url::parse(url).with_context(|| format!("bad URL {url}"))?;
    let ok = conn::is_loopback(&u);
    if !ok {
        bail!("refusing to send load to {url}: loopback only");
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kenpo-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let args = Args::parse();
    check_loopback(&args.issuer)?;
    if let Some(m) = &args.issuer_min {
        check_loopback(m)?;
    }
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        bail!("--concurrency needs positive numbers");
    }
    if args.max_ops == Some(0) {
        bail!("--max-ops needs a positive number");
    }
    let threads =
        args.threads.or_else(|| std::thread::available_parallelism().ok().map(|n| n.get())).unwrap_or(1).max(1);
    // One CPU (the driver pinned with taskset): a current-thread runtime spares the
    // work-stealing machinery.
    let rt = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?
    };
    rt.block_on(run::main(args))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("121s").is_err());
    }

    #[test]
    fn loopback_only() {
        assert!(check_loopback("http://127.0.0.1:8080/realms/x").is_ok());
        assert!(check_loopback("http://localhost:3000").is_ok());
        assert!(check_loopback("http://[::1]:3000").is_ok());
        assert!(check_loopback("http://example.com").is_err());
        assert!(check_loopback("http://10.0.0.1").is_err());
    }

    #[test]
    fn cli_parses() {
        let a = Args::try_parse_from([
            "kenpo-bench",
            "--issuer",
            "http://127.0.0.1:3000",
            "--concurrency",
            "1,2",
            "--workloads",
            "w1,w3",
        ])
        .unwrap();
        assert_eq!(a.concurrency, vec![1, 2]);
        assert_eq!(a.workloads, Some(vec!["w1".to_owned(), "w3".to_owned()]));
        assert_eq!(a.max_ops, None);
        let a = Args::try_parse_from([
            "kenpo-bench",
            "--issuer",
            "http://127.0.0.1:3000",
            "--max-ops",
            "10000",
            "--db-pid",
            "42",
        ])
        .unwrap();
        assert_eq!((a.max_ops, a.db_pid), (Some(10_000), Some(42)));
        assert!(Args::try_parse_from(["kenpo-bench", "--issuer", "x", "--setup-only"]).is_err());
    }
}
