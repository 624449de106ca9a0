//! The command line: `migrate`, `start-dev`, `start`, `results import`, `reference show`.
//! Names and flags are part of the product: change them only by adding.

use std::net::TcpListener;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::admin::{self, ImportFailure};
use crate::checkups::reference::ReferenceTable;
use crate::config::PortalConfig;
use crate::store;

#[derive(Parser, Debug)]
#[command(
    name = "kenpo-portal",
    version,
    about = "Kenpo portal: member portal (OpenID Connect relying party of Kenpo ID)"
)]
pub struct Cli {
    /// Database URL: sqlite://PATH or postgres://… (default: $DATABASE_URL, else the dev SQLite file)
    #[arg(long, global = true)]
    pub db: Option<String>,
    /// TOML configuration file
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply pending database migrations and exit
    Migrate,
    /// Development server: SQLite, plain http on 127.0.0.1:8081, the IdP's dev realm, demo results
    StartDev(StartArgs),
    /// Production server: refuses insecure settings
    Start(StartArgs),
    /// Checkup results
    #[command(subcommand)]
    Results(ResultsCmd),
    /// The reference table (items, units, bands)
    #[command(subcommand)]
    Reference(ReferenceCmd),
}

#[derive(Subcommand, Debug)]
pub enum ResultsCmd {
    /// Import a CSV file (insurer_number,card_symbol,card_number,birthdate,checkup_date,item_code,value,unit[,sex]).
    /// Every row is checked first; a file with any bad row imports nothing. Re-importing is harmless.
    Import {
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReferenceCmd {
    /// Every item with its bands, flagging numbers that are not verified
    Show,
}

#[derive(Args, Debug, Clone)]
pub struct StartArgs {
    #[arg(long)]
    pub listen: Option<String>,
    #[arg(long)]
    pub public_url: Option<String>,
    /// The IdP realm's issuer URL
    #[arg(long)]
    pub issuer: Option<String>,
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    match dispatch(cli) {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("error: {msg}");
            1
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), String> {
    let mut cfg = PortalConfig::load(cli.config.as_deref())?;
    if let Some(db) = &cli.db {
        cfg.database.url = db.clone();
    }
    match cli.command {
        Command::Migrate => {
            let url = store::DbUrl::parse(&cfg.database.url).map_err(|e| e.to_string())?;
            let mut c = store::AnyConnection::open(&url).map_err(|e| e.to_string())?;
            let n = kenpo_shared::db::migrate(&mut c, &store::MIGRATIONS).map_err(|e| e.to_string())?;
            println!("{n} migration(s) applied to {}", url.redacted());
            Ok(())
        }
        Command::StartDev(args) => {
            cfg.dev = true;
            apply_start_args(&mut cfg, &args);
            serve(cfg, true)
        }
        Command::Start(args) => {
            apply_start_args(&mut cfg, &args);
            let problems = cfg.production_problems();
            if !problems.is_empty() {
                return Err(format!("refusing to start in production mode:\n  - {}", problems.join("\n  - ")));
            }
            serve(cfg, false)
        }
        Command::Results(ResultsCmd::Import { file }) => {
            let table = ReferenceTable::load(cfg.results.reference_file.as_deref())?;
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let st =
                store::open(&cfg.database.url, cfg.database.max_connections).map_err(|e| format!("database: {e}"))?;
            match admin::import_results(&st, &table, &bytes) {
                Ok(s) => {
                    println!(
                        "{}: {} inserted, {} updated, {} unchanged",
                        file.display(),
                        s.inserted,
                        s.updated,
                        s.unchanged
                    );
                    Ok(())
                }
                Err(ImportFailure::Invalid(e)) => Err(format!("{}: {e}", file.display())),
                Err(ImportFailure::Store(e)) => Err(format!("database: {e}; nothing imported")),
            }
        }
        Command::Reference(ReferenceCmd::Show) => {
            let table = ReferenceTable::load(cfg.results.reference_file.as_deref())?;
            for line in admin::describe_reference(&table) {
                println!("{line}");
            }
            Ok(())
        }
    }
}

fn apply_start_args(cfg: &mut PortalConfig, args: &StartArgs) {
    if let Some(l) = &args.listen {
        cfg.listen = l.clone();
        if args.public_url.is_none() && cfg.dev {
            cfg.public_url = kenpo_shared::config::dev_public_url(l);
        }
    }
    if let Some(u) = &args.public_url {
        cfg.public_url = u.trim_end_matches('/').to_string();
    }
    if let Some(i) = &args.issuer {
        cfg.oidc.issuer = i.trim_end_matches('/').to_string();
    }
}

fn serve(cfg: PortalConfig, dev: bool) -> Result<(), String> {
    kenpo_shared::telemetry::init(cfg.log_json);
    let listener = TcpListener::bind(&cfg.listen).map_err(|e| format!("listen {}: {e}", cfg.listen))?;
    let (public_url, issuer) = (cfg.base_url(), cfg.oidc.issuer.clone());
    let st = crate::state::AppState::build(cfg)?;
    if dev {
        let s = admin::load_demo(&st.store, &st.reference).map_err(|e| format!("demo results: {e}"))?;
        tracing::info!(inserted = s.inserted, unchanged = s.unchanged, "demo results loaded");
    }
    let sys = actix_web::rt::System::new();
    sys.block_on(async move {
        tracing::info!(url = %public_url, issuer = %issuer, "Kenpo portal listening");
        let server = crate::server::run(st, listener).map_err(|e| e.to_string())?;
        server.await.map_err(|e| e.to_string())
    })
}
