//! The whole run: optional setup, discovery, sanity checks, every selected workload at
//! every concurrency, then the table and the JSON file.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

use crate::Args;
use crate::conn::Conn;
use crate::flows::{self, ClientCreds, Endpoints, Target, Users};
use crate::proc_stats::{self, Sampler};
use crate::report::{self, Row};
use crate::setup::{self, SetupPlan};
use crate::workloads::{self, Judge, Kind};

const ALL: [&str; 9] = ["w1", "w2", "w3", "w3-es256", "w4", "w5", "w6", "w7", "w9"];

fn load_users(args: &Args) -> Result<Users> {
    let list = match &args.users_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let mut list = Vec::new();
            for (n, line) in text.lines().enumerate() {
                let line = line.trim_end_matches('\r');
                if line.trim().is_empty() || line.trim_start().starts_with('#') {
                    continue;
                }
                let (u, p) = line
                    .split_once(':')
                    .with_context(|| format!("{}:{}: expected username:password", path.display(), n + 1))?;
                list.push((u.trim().to_owned(), p.to_owned()));
            }
            list
        }
        None => (0..args.users)
            .map(|i| {
                let n = args.user_start + i;
                let w = args.user_digits;
                (format!("{}{n:0w$}", args.user_prefix), args.password.clone())
            })
            .collect(),
    };
    if list.is_empty() {
        bail!("no members: give --users N or --users-file");
    }
    Ok(Users { list })
}

/// `alg` of a JWT's header, or a short description of a non-JWT token.
fn token_shape(token: Option<&str>) -> String {
    let Some(t) = token else {
        return "none".to_owned();
    };
    let Some(head) = t.split('.').next().filter(|_| t.split('.').count() == 3) else {
        return "opaque".to_owned();
    };
    URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("alg").and_then(|a| a.as_str()).map(str::to_owned))
        .map_or_else(|| "JWT?".to_owned(), |alg| format!("JWT {alg}"))
}

struct Ctx {
    args: Args,
    tps: f64,
    judge: Judge,
    rows: Vec<Row>,
}

impl Ctx {
    async fn cells(&mut self, label: &str, kind: Kind, t: &Arc<Target>) {
        let concurrency = self.args.concurrency.clone();
        if let Some(&first) = concurrency.first()
            && !self.args.warmup.is_zero()
        {
            eprintln!("{label}: warm-up {:?} at c={first}", self.args.warmup);
            let w = workloads::run(kind, t.clone(), first, self.args.warmup, self.judge).await;
            if w.ok() == 0 && w.errors > 0 {
                eprintln!("{label}: warm-up had only errors");
            }
        }
        for c in concurrency {
            let mut prepared = workloads::prepare(kind, t.clone(), c, self.judge).await;
            if let Some((msg, n)) = &prepared.prep_failures {
                eprintln!("{label} c={c}: {n} of {c} start-up logins failed: {msg}");
            }
            prepared.max_ops = self.args.max_ops;
            let sampler = Sampler::start(self.args.server_pid, self.args.db_pid, self.args.db_name.clone(), self.tps);
            let tally = workloads::measure(prepared, self.args.duration).await;
            let usage = sampler.finish();
            let row = Row::new(label, &t.ep.issuer, &t.client.id, c, &tally, &usage);
            eprintln!("{}", report::progress(&row));
            self.rows.push(row);
        }
    }

    /// W7: logins at one concurrency while client_credentials runs at another.
    async fn storm(&mut self, login_t: &Arc<Target>, cc_t: &Arc<Target>) {
        let (lc, cc) = (self.args.storm_login_concurrency, self.args.storm_cc_concurrency);
        let login = workloads::prepare(Kind::Login, login_t.clone(), lc, self.judge).await;
        let ccp = workloads::prepare(Kind::ClientCredentials, cc_t.clone(), cc, self.judge).await;
        let sampler = Sampler::start(self.args.server_pid, self.args.db_pid, self.args.db_name.clone(), self.tps);
        let d = self.args.duration;
        let (lt, ct) = tokio::join!(workloads::measure(login, d), workloads::measure(ccp, d));
        let usage = sampler.finish();
        for (label, t, c, tally) in [("W7 storm login", login_t, lc, lt), ("W7 storm cc", cc_t, cc, ct)] {
            let row = Row::new(label, &t.ep.issuer, &t.client.id, c, &tally, &usage);
            eprintln!("{}", report::progress(&row));
            self.rows.push(row);
        }
    }
}

pub async fn main(args: Args) -> Result<()> {
    let mut warnings: Vec<String> = Vec::new();
    let users = load_users(&args)?;
    let secret_or = |s: &Option<String>| s.clone().unwrap_or_else(|| args.client_secret.clone());
    let mut es256_client = args.cc_client_es256.clone();

    if let Some(bin) = &args.setup_kenpo {
        let plan = SetupPlan {
            bin: bin.clone(),
            db: args.db.clone().context("--setup-kenpo needs --db")?,
            realm: setup::realm_of(&args.issuer)?,
            min_realm: args.issuer_min.as_deref().map(setup::realm_of).transpose()?,
            min_hash_setting: args.min_hash_setting.clone(),
            client_id: args.client_id.clone(),
            client_secret: args.client_secret.clone(),
            es256_client_id: es256_client.clone().unwrap_or_else(|| format!("{}-es256", args.client_id)),
            redirect_uri: args.redirect_uri.clone(),
            users: users.list.clone(),
            parallel: args
                .setup_parallel
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        };
        if args.cc_client.is_some() || args.cc_secret_es256.is_some() {
            warnings.push("--setup-kenpo creates every client with --client-secret".to_owned());
        }
        warnings.extend(setup::run(&plan).await?);
        es256_client = Some(plan.es256_client_id.clone());
        if args.setup_only {
            eprintln!("setup done");
            return Ok(());
        }
    }

    let mut conn = Conn::new(args.timeout);
    let ep = Endpoints::discover(&mut conn, &args.issuer).await?;
    let base = Target {
        ep,
        timeout: args.timeout,
        client: ClientCreds::new(&args.client_id, &args.client_secret)?,
        users: Arc::new(users),
        redirect_uri: Url::parse(&args.redirect_uri).context("bad --redirect-uri")?,
        scope: args.scope.clone(),
        token_scope: args.token_scope.clone(),
        cc_scope: args.cc_scope.clone(),
        max_forms: args.max_forms,
    };
    let main_t = Arc::new(base.clone());
    let cc_id = args.cc_client.clone().unwrap_or_else(|| args.client_id.clone());
    let cc_t = Arc::new(Target { client: ClientCreds::new(&cc_id, &secret_or(&args.cc_secret))?, ..base.clone() });
    let es_t = match &es256_client {
        Some(id) => {
            Some(Arc::new(Target { client: ClientCreds::new(id, &secret_or(&args.cc_secret_es256))?, ..base.clone() }))
        }
        None => None,
    };
    let min_t = match &args.issuer_min {
        Some(issuer) => Some(Arc::new(Target { ep: Endpoints::discover(&mut conn, issuer).await?, ..base.clone() })),
        None => None,
    };

    let explicit = args.workloads.is_some();
    let selected: Vec<String> = args
        .workloads
        .clone()
        .unwrap_or_else(|| ALL.iter().map(|s| (*s).to_owned()).collect())
        .into_iter()
        .map(|w| w.trim().to_ascii_lowercase())
        .collect();
    if let Some(bad) = selected.iter().find(|w| !ALL.contains(&w.as_str())) {
        bail!("unknown workload {bad:?}; known: {}", ALL.join(","));
    }
    let wants = |w: &str| selected.iter().any(|s| s == w);
    for (w, missing, why) in
        [("w3-es256", es_t.is_none(), "--cc-client-es256"), ("w6", min_t.is_none(), "--issuer-min")]
    {
        if wants(w) && missing && explicit {
            warnings.push(format!("{w} skipped: give {why}"));
        }
    }

    if let Some(pid) = args.server_pid {
        proc_stats::cpu_ticks(&pid.to_string()).with_context(|| format!("--server-pid {pid}: no such process?"))?;
    }
    if let Some(pid) = args.db_pid {
        proc_stats::tree_cpu_ticks(pid, args.db_name.as_deref())
            .with_context(|| format!("--db-pid {pid}: no such process?"))?;
    }
    let tps = proc_stats::clock_ticks_per_sec();
    eprintln!(
        "kenpo-bench: issuer {} (token {}); {:?} per cell at c={:?}; server pid {}; {} members",
        main_t.ep.issuer,
        main_t.ep.token,
        args.duration,
        args.concurrency,
        args.server_pid.map_or_else(|| "not given".to_owned(), |p| p.to_string()),
        main_t.users.list.len()
    );
    if let Some(pid) = args.server_pid
        && let Ok((rss, hwm)) = proc_stats::memory_kb(&pid.to_string())
    {
        eprintln!("server RSS before the run: {} MB (peak {} MB)", rss / 1024, hwm / 1024);
    }

    // Fail fast on a wrong setup: one login per issuer that needs it, one grant per client.
    if !args.no_check && ["w4", "w5", "w7", "w9"].iter().any(|w| wants(w)) {
        let t = flows::login(&main_t, &mut conn, 0, &main_t.token_scope)
            .await
            .context("the first login failed (check --client-id/--client-secret, the members and --redirect-uri; --workloads w1,w2,w3 skips logins)")?;
        eprintln!(
            "login ok: id_token {}, access_token {}, refresh_token {}",
            token_shape(t.id_token.as_deref()),
            token_shape(t.access_token.as_deref()),
            if t.refresh_token.is_some() { "yes" } else { "no" }
        );
    }
    if !args.no_check
        && wants("w6")
        && let Some(t) = &min_t
    {
        flows::login(t, &mut conn, 0, &t.scope).await.context("the first login at --issuer-min failed")?;
    }
    for (w, t) in [("w3", Some(&cc_t)), ("w3-es256", es_t.as_ref())] {
        if wants(w)
            && let Some(t) = t
        {
            match flows::client_credentials(t, &mut conn).await {
                Ok(tok) => eprintln!(
                    "client_credentials ok for {}: access_token {}",
                    t.client.id,
                    token_shape(tok.access_token.as_deref())
                ),
                Err(e) => eprintln!("client_credentials for {} failed: {e:#}", t.client.id),
            }
        }
    }

    let mut ctx =
        Ctx { args: args.clone(), tps, judge: Judge { expect_rotation: args.expect_rotation }, rows: Vec::new() };
    for w in &selected {
        match w.as_str() {
            "w1" => ctx.cells("W1 discovery", Kind::Discovery, &main_t).await,
            "w2" => ctx.cells("W2 jwks", Kind::Jwks, &main_t).await,
            "w3" => ctx.cells("W3 cc", Kind::ClientCredentials, &cc_t).await,
            "w3-es256" => {
                if let Some(t) = &es_t {
                    ctx.cells("W3 cc ES256", Kind::ClientCredentials, t).await;
                }
            }
            "w4" => ctx.cells("W4 refresh", Kind::Refresh, &main_t).await,
            "w5" => ctx.cells("W5 login", Kind::Login, &main_t).await,
            "w6" => {
                if let Some(t) = &min_t {
                    ctx.cells("W6 login min-hash", Kind::Login, t).await;
                }
            }
            "w7" => ctx.storm(&main_t, &cc_t).await,
            "w9" => {
                for (label, kind, present, name) in [
                    ("W9 introspect", Kind::Introspect, main_t.ep.introspection.is_some(), "introspection_endpoint"),
                    ("W9 userinfo", Kind::Userinfo, main_t.ep.userinfo.is_some(), "userinfo_endpoint"),
                ] {
                    if present {
                        ctx.cells(label, kind, &main_t).await;
                    } else {
                        let w = format!("{label} skipped: discovery has no {name}");
                        eprintln!("{w}");
                        warnings.push(w);
                    }
                }
            }
            _ => {}
        }
    }

    println!("{}", report::table(&ctx.rows));
    if let Some(pid) = args.server_pid
        && let Ok((rss, hwm)) = proc_stats::memory_kb(&pid.to_string())
    {
        println!("server RSS after the run: {rss} kB; peak (VmHWM): {hwm} kB");
    }
    for w in &warnings {
        println!("warning: {w}");
    }
    if let Some(path) = &args.json {
        report::write_json(path, &args, &warnings, &ctx.rows)?;
        eprintln!("results written to {}", path.display());
    }
    // Give the connection pool a moment to close cleanly before the runtime stops.
    tokio::time::sleep(Duration::from_millis(10)).await;
    if args.fail_on_errors {
        let failed: Vec<String> = ctx
            .rows
            .iter()
            .filter(|r| r.errors > 0 || r.ok == 0)
            .map(|r| format!("{} c={}", r.workload, r.concurrency))
            .collect();
        if !failed.is_empty() {
            anyhow::bail!("workloads with errors or no successes: {}", failed.join(", "));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn users_generated_and_from_file() {
        let a = crate::Args::try_parse_from(["kenpo-bench", "--issuer", "http://127.0.0.1:1", "--users", "3"]).unwrap();
        let u = load_users(&a).unwrap();
        assert_eq!(u.list.len(), 3);
        assert_eq!(u.list[0].0, "bench00001");
        assert_eq!(u.list[2].0, "bench00003");
        assert_eq!(u.list[0].1, "Kenpo-bench-pass-2025");

        let path = std::env::temp_dir().join(format!("kenpo-bench-users-{}.txt", std::process::id()));
        std::fs::write(&path, "# members\nalice-001:pa:ss word\n\nbob-0002:x12345678\r\n").unwrap();
        let a = crate::Args::try_parse_from([
            "kenpo-bench",
            "--issuer",
            "http://127.0.0.1:1",
            "--users-file",
            path.to_str().unwrap(),
        ])
        .unwrap();
        let u = load_users(&a).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            u.list,
            vec![("alice-001".to_owned(), "pa:ss word".to_owned()), ("bob-0002".to_owned(), "x12345678".to_owned())]
        );
    }

    #[test]
    fn token_shapes() {
        assert_eq!(token_shape(None), "none");
        assert_eq!(token_shape(Some("abc")), "opaque");
        let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
        assert_eq!(token_shape(Some(&format!("{head}.e30.sig"))), "JWT ES256");
    }
}
