//! `--setup-kenpo`: create the realms, clients and members the workloads need, through
//! the `kenpo-idp` admin CLI.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Semaphore;
use url::Url;

/// What to create.
#[derive(Debug, Clone)]
pub struct SetupPlan {
    pub bin: PathBuf,
    pub db: String,
    /// The main realm (W1-W5, W7, W9).
    pub realm: String,
    /// The minimal-hash realm (W6), if any.
    pub min_realm: Option<String>,
    /// `KEY=VALUE` applied to the minimal-hash realm before its members are created.
    pub min_hash_setting: String,
    pub client_id: String,
    pub client_secret: String,
    /// Id of the ES256 client created beside the RS256 one in the main realm.
    pub es256_client_id: String,
    pub redirect_uri: String,
    pub users: Vec<(String, String)>,
    pub parallel: usize,
}

/// The realm name of a Keycloak-style issuer (`http://host/realms/NAME`).
pub fn realm_of(issuer: &str) -> Result<String> {
    let url = Url::parse(issuer).with_context(|| format!("bad issuer URL {issuer}"))?;
    let segs: Vec<&str> = url.path_segments().map(|s| s.filter(|x| !x.is_empty()).collect()).unwrap_or_default();
    match segs.as_slice() {
        [.., "realms", name] => Ok((*name).to_owned()),
        _ => bail!("--setup-kenpo needs an issuer of the form http://HOST:PORT/realms/NAME, got {issuer}"),
    }
}

/// Check the member rules of our IdP before calling the CLI, so a bad `--user-prefix` or
/// `--password` is reported once instead of once per member.
pub fn check_users(users: &[(String, String)]) -> Result<()> {
    for (u, p) in users {
        let ok_chars = u.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.@".contains(c));
        if !(8..=13).contains(&u.len()) || !ok_chars {
            bail!("username {u:?}: our IdP needs 8-13 characters of [a-z0-9-_.@]");
        }
        let printable = p.chars().all(|c| (' '..='~').contains(&c));
        if !(8..=64).contains(&p.len()) || !printable {
            bail!("password for {u}: our IdP needs 8-64 printable ASCII characters");
        }
        if p.to_ascii_lowercase().contains(&u.to_ascii_lowercase()) {
            bail!("password for {u} must not contain the username");
        }
    }
    Ok(())
}

async fn cli(bin: &PathBuf, db: &str, args: &[&str]) -> Result<()> {
    let out = tokio::process::Command::new(bin)
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        // Never echo passwords back: show the command without its values after --password/--secret.
        let shown: Vec<&str> = args
            .iter()
            .scan(false, |hide, a| {
                let v = if *hide { "***" } else { a };
                *hide = *a == "--password" || *a == "--secret";
                Some(v)
            })
            .collect();
        bail!("kenpo-idp {} failed ({}): {}", shown.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Create everything; returns warnings (e.g. a rejected minimal-hash setting).
pub async fn run(plan: &SetupPlan) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    check_users(&plan.users)?;
    let (bin, db) = (&plan.bin, plan.db.as_str());
    let mut realms = vec![plan.realm.clone()];
    realms.extend(plan.min_realm.clone());
    for realm in &realms {
        let display = format!("kenpo-bench {realm}");
        cli(bin, db, &["realm", "create", realm, "--display-name", &display]).await?;
        eprintln!("setup: realm {realm} created");
        if Some(realm) == plan.min_realm.as_ref() {
            if let Err(e) = cli(bin, db, &["realm", "set", realm, &plan.min_hash_setting]).await {
                let w = format!(
                    "the IdP rejected `realm set {realm} {}`: {e:#} — W6 measures the realm's default hash, not the minimal one",
                    plan.min_hash_setting
                );
                eprintln!("setup: WARNING: {w}");
                warnings.push(w);
            } else {
                eprintln!("setup: realm {realm}: {}", plan.min_hash_setting);
            }
        }
        let mut clients = vec![(plan.client_id.as_str(), "RS256")];
        if *realm == plan.realm {
            clients.push((plan.es256_client_id.as_str(), "ES256"));
        }
        for (id, alg) in clients {
            cli(
                bin,
                db,
                &[
                    "client",
                    "create",
                    "--realm",
                    realm,
                    "--client-id",
                    id,
                    "--redirect-uri",
                    &plan.redirect_uri,
                    "--secret",
                    &plan.client_secret,
                    "--signing-alg",
                    alg,
                ],
            )
            .await?;
            eprintln!("setup: realm {realm}: client {id} ({alg})");
        }
        create_users(plan, realm).await?;
        eprintln!("setup: realm {realm}: {} members", plan.users.len());
    }
    Ok(warnings)
}

async fn create_users(plan: &SetupPlan, realm: &str) -> Result<()> {
    let permits = Arc::new(Semaphore::new(plan.parallel.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (u, p) in plan.users.clone() {
        let permits = permits.clone();
        let (bin, db, realm) = (plan.bin.clone(), plan.db.clone(), realm.to_owned());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            cli(&bin, &db, &["user", "create", "--realm", &realm, "--username", &u, "--password", &p]).await
        });
    }
    let mut first_error = None;
    let mut failed = 0usize;
    while let Some(joined) = set.join_next().await {
        let res = joined.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(e) = res {
            failed += 1;
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e.context(format!("{failed} member(s) could not be created in {realm}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn realm_from_issuer() {
        assert_eq!(realm_of("http://127.0.0.1:8080/realms/bench").unwrap(), "bench");
        assert_eq!(realm_of("http://127.0.0.1:8080/realms/bench/").unwrap(), "bench");
        assert!(realm_of("http://127.0.0.1:3000").is_err());
    }

    #[test]
    fn member_rules() {
        let ok = vec![("bench00001".to_owned(), "Kenpo-bench-pass-2025".to_owned())];
        assert!(check_users(&ok).is_ok());
        let short = vec![("bench1".to_owned(), "Kenpo-bench-pass-2025".to_owned())];
        assert!(check_users(&short).is_err());
        let upper = vec![("Bench00001".to_owned(), "Kenpo-bench-pass-2025".to_owned())];
        assert!(check_users(&upper).is_err());
        let contains = vec![("bench00001".to_owned(), "xxbench00001xx".to_owned())];
        assert!(check_users(&contains).is_err());
        let short_pw = vec![("bench00001".to_owned(), "short".to_owned())];
        assert!(check_users(&short_pw).is_err());
    }
}
