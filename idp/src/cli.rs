//! The command line union IT scripts against. Names and flags are part of the product:
//! change them only by adding.

use std::net::TcpListener;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::admin::{self, AdminError, clients::NewClient, users::NewUser};
use crate::config::IdpConfig;
use crate::store;
use kenpo_shared::secret::Secret;

#[derive(Parser, Debug)]
#[command(name = "kenpo-idp", version, about = "Kenpo ID: OpenID Connect identity provider")]
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
    /// Realms (one per union)
    #[command(subcommand)]
    Realm(RealmCmd),
    /// Relying parties
    #[command(subcommand)]
    Client(ClientCmd),
    /// Members
    #[command(subcommand)]
    User(UserCmd),
    /// Development server: SQLite, plain http on localhost, demo realm, client and member
    StartDev(StartArgs),
    /// Production server: refuses insecure settings
    Start(StartArgs),
    /// What one password check costs on this machine (one thread): the ceiling of password
    /// logins per core for a realm's password.hash setting. Pin it to an idle core
    /// (`taskset -c 0 kenpo-idp hash-cost`) when sizing a server or reading W5.
    HashCost {
        /// password.hash value: argon2id (the default) or argon2id-min
        #[arg(long, default_value = "argon2id")]
        hash: String,
        /// Seconds to measure for
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
}

#[derive(Subcommand, Debug)]
pub enum RealmCmd {
    Create {
        name: String,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Set any realm policy: KEY=VALUE … (see `realm show` for the keys)
    Set {
        name: String,
        #[arg(required = true)]
        assignments: Vec<String>,
    },
    /// Every policy with its value
    Show { name: String },
    /// Create new signing keys; the old ones stay published until removed
    RotateKeys { name: String },
    /// Publish a new version of the terms of use (UTF-8 text file); every member accepts it
    /// again at the next login
    PublishTerms {
        name: String,
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientCmd {
    Create {
        #[arg(long)]
        realm: String,
        #[arg(long)]
        client_id: String,
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        #[arg(long, conflicts_with_all = ["public", "jwks"])]
        secret: Option<String>,
        #[arg(long, conflicts_with = "jwks")]
        public: bool,
        /// File with the client's JWK set (private_key_jwt)
        #[arg(long)]
        jwks: Option<PathBuf>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// RS256 (default) or ES256
        #[arg(long)]
        signing_alg: Option<String>,
        /// Register client_secret_post instead of client_secret_basic
        #[arg(long)]
        secret_post: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    Create(UserCreate),
    /// Make the member complete an action at the next login: VERIFY_BIRTHDATE,
    /// TERMS_AND_CONDITIONS, CHOOSE_USER_ID_AND_MFA, UPDATE_PASSWORD, VERIFY_EMAIL,
    /// CONFIGURE_TOTP (add an authenticator app), WEBAUTHN_REGISTER (add a passkey),
    /// CONFIGURE_EMAIL_OTP, CONFIGURE_RECOVERY_AUTHN_CODES
    RequireAction {
        #[arg(long)]
        realm: String,
        #[arg(long)]
        username: String,
        action: String,
    },
    /// List the member's second factors (kind, device name, enrolled, last used).
    Factors {
        #[arg(long)]
        realm: String,
        #[arg(long)]
        username: String,
    },
    /// Remove every second factor and recovery code of the member (e.g. a lost phone); they
    /// enrol again at the next login.
    ResetMfa {
        #[arg(long)]
        realm: String,
        #[arg(long)]
        username: String,
    },
}

#[derive(Args, Debug)]
pub struct UserCreate {
    #[arg(long)]
    realm: String,
    #[arg(long)]
    username: String,
    #[arg(long)]
    password: String,
    #[arg(long)]
    temporary: bool,
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    email_verified: bool,
    /// YYYYMMDD
    #[arg(long)]
    birthdate: Option<String>,
    #[arg(long)]
    family_name: Option<String>,
    #[arg(long)]
    given_name: Option<String>,
    #[arg(long)]
    family_kana: Option<String>,
    #[arg(long)]
    given_kana: Option<String>,
    #[arg(long)]
    insurer_number: Option<String>,
    #[arg(long)]
    card_symbol: Option<String>,
    #[arg(long)]
    card_number: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct StartArgs {
    #[arg(long)]
    pub listen: Option<String>,
    #[arg(long)]
    pub public_url: Option<String>,
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

fn load_config(cli: &Cli) -> Result<IdpConfig, String> {
    let mut cfg = IdpConfig::load(cli.config.as_deref())?;
    if let Some(db) = &cli.db {
        cfg.database.url = db.clone();
    }
    Ok(cfg)
}

fn dispatch(cli: Cli) -> Result<(), String> {
    let mut cfg = load_config(&cli)?;
    match cli.command {
        Command::Migrate => {
            let url = store::DbUrl::parse(&cfg.database.url).map_err(|e| e.to_string())?;
            let mut c = kenpo_shared::db::AnyConnection::open(&url).map_err(|e| e.to_string())?;
            let n = kenpo_shared::db::migrate(&mut c, &store::MIGRATIONS).map_err(|e| e.to_string())?;
            println!("{n} migration(s) applied to {}", url.redacted());
            Ok(())
        }
        Command::HashCost { hash, seconds } => {
            use crate::security::hasher;
            if !matches!(hash.as_str(), "argon2id" | "argon2id-min") {
                return Err("--hash must be argon2id or argon2id-min".into());
            }
            if !(0.0..=600.0).contains(&seconds) {
                return Err("--seconds must be between 0 and 600".into());
            }
            let profile = hasher::HashProfile::parse(&hash);
            let (n, per) =
                hasher::measure(profile, std::time::Duration::from_secs_f64(seconds)).map_err(|e| e.to_string())?;
            let ms = per.as_secs_f64() * 1000.0;
            println!("{hash}: {ms:.2} ms per check ({n} checks), {:.1} checks/s on one core", 1000.0 / ms);
            Ok(())
        }
        Command::Realm(cmd) => realm(cmd, cfg),
        Command::Client(cmd) => client(cmd, cfg),
        Command::User(UserCmd::Create(u)) => user_create(u, cfg),
        Command::User(UserCmd::RequireAction { realm, username, action }) => {
            let (st, _, _) = admin_ctx(&cfg)?;
            admin::users::require_action(&st, &realm, &username, &action).map_err(admin_err)?;
            println!("{username} must complete {} at the next login", action.to_uppercase());
            Ok(())
        }
        Command::User(UserCmd::Factors { realm, username }) => {
            let (st, _, _) = admin_ctx(&cfg)?;
            let (list, unused) = admin::users::factors(&st, &realm, &username).map_err(admin_err)?;
            for f in &list {
                let used =
                    f.last_used_at.map_or_else(|| "never".to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string());
                let label = if f.label.is_empty() { "-" } else { f.label.as_str() };
                println!(
                    "{}\t{}\tenrolled {}\tlast used {}",
                    f.kind,
                    label,
                    f.created_at.format("%Y-%m-%d %H:%M"),
                    used
                );
            }
            println!("recovery codes left: {unused}");
            Ok(())
        }
        Command::User(UserCmd::ResetMfa { realm, username }) => {
            let (st, _, _) = admin_ctx(&cfg)?;
            let n = admin::users::reset_second_factors(&st, &realm, &username).map_err(admin_err)?;
            println!("{username}: {n} second factor(s) and all recovery codes removed");
            Ok(())
        }
        Command::StartDev(args) => {
            cfg.dev = true;
            if cfg.mail.smtp_host.is_empty() {
                cfg.mail.dev_mailbox = true;
            }
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
    }
}

fn apply_start_args(cfg: &mut IdpConfig, args: &StartArgs) {
    if let Some(l) = &args.listen {
        cfg.listen = l.clone();
        if args.public_url.is_none() && cfg.dev {
            cfg.public_url = kenpo_shared::config::dev_public_url(l);
        }
    }
    if let Some(u) = &args.public_url {
        cfg.public_url = u.trim_end_matches('/').to_string();
    }
}

fn admin_err(e: AdminError) -> String {
    e.to_string()
}

/// Opens the store and state pieces the admin commands need (keys, message catalogs).
fn admin_ctx(cfg: &IdpConfig) -> Result<(store::Store, crate::oidc::keys::KeyRing, crate::web::render::Pages), String> {
    let st = store::open(&cfg.database.url).map_err(|e| format!("database: {e}"))?;
    let key = crate::server::master_key(cfg)?;
    let keys = crate::oidc::keys::KeyRing::new(&key)?;
    Ok((st, keys, crate::web::render::Pages::load()?))
}

fn realm(cmd: RealmCmd, cfg: IdpConfig) -> Result<(), String> {
    let (st, keys, _) = admin_ctx(&cfg)?;
    match cmd {
        RealmCmd::Create { name, display_name } => {
            let r = admin::realms::create(&st, &keys, &name, display_name.as_deref()).map_err(admin_err)?;
            println!("realm {} created (issuer {}/realms/{})", r.name, cfg.trimmed_public_url(), r.name);
        }
        RealmCmd::Set { name, assignments } => {
            admin::realms::set(&st, &name, &assignments).map_err(admin_err)?;
            println!("realm {name} updated");
        }
        RealmCmd::Show { name } => {
            let r = admin::realms::find(&st, &name).map_err(admin_err)?;
            for (k, v) in admin::realms::show(&r) {
                println!("{k}={v}");
            }
        }
        RealmCmd::PublishTerms { name, file } => {
            let body = std::fs::read(&file).map_err(|e| format!("file: {}: {e}", file.display()))?;
            let body = String::from_utf8(body).map_err(|_| format!("file: {} is not UTF-8 text", file.display()))?;
            let v = admin::realms::publish_terms(&st, &name, &body).map_err(admin_err)?;
            println!("realm {name}: terms of use version {v} published; members accept it at their next login");
        }
        RealmCmd::RotateKeys { name } => {
            let r = admin::realms::find(&st, &name).map_err(admin_err)?;
            st.run_sync(|c| store::write_tx(c, |c| keys.rotate(c, &r.id))).map_err(|e| e.to_string())?;
            println!("realm {name}: new signing keys active; previous keys still published");
        }
    }
    Ok(())
}

fn client(cmd: ClientCmd, cfg: IdpConfig) -> Result<(), String> {
    let (st, _, _) = admin_ctx(&cfg)?;
    let ClientCmd::Create {
        realm,
        client_id,
        redirect_uris,
        secret,
        public,
        jwks,
        post_logout_redirect_uris,
        backchannel_logout_uri,
        signing_alg,
        secret_post,
    } = cmd;
    let jwks = match jwks {
        Some(p) => Some(std::fs::read_to_string(&p).map_err(|e| format!("jwks: {}: {e}", p.display()))?),
        None => None,
    };
    let c = admin::clients::create(
        &st,
        NewClient {
            realm,
            client_id,
            redirect_uris,
            secret,
            public,
            jwks,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            signing_alg,
            secret_post,
        },
    )
    .map_err(admin_err)?;
    println!("client {} created ({})", c.client_id, c.auth_method.as_str());
    Ok(())
}

fn user_create(u: UserCreate, cfg: IdpConfig) -> Result<(), String> {
    let (st, _, pages) = admin_ctx(&cfg)?;
    let row = admin::users::create(
        &st,
        &pages,
        NewUser {
            realm: u.realm,
            username: u.username,
            password: Secret::new(u.password),
            temporary: u.temporary,
            email: u.email,
            email_verified: u.email_verified,
            birthdate: u.birthdate,
            family_name: u.family_name,
            given_name: u.given_name,
            family_kana: u.family_kana,
            given_kana: u.given_kana,
            insurer_number: u.insurer_number,
            card_symbol: u.card_symbol,
            card_number: u.card_number,
        },
    )
    .map_err(admin_err)?;
    println!("user {} created (id {})", row.username, row.id);
    Ok(())
}

fn serve(cfg: IdpConfig, dev: bool) -> Result<(), String> {
    kenpo_shared::telemetry::init(cfg.log_json);
    let listener = TcpListener::bind(&cfg.listen).map_err(|e| format!("listen {}: {e}", cfg.listen))?;
    let public_url = cfg.trimmed_public_url();
    let sys = actix_web::rt::System::new();
    sys.block_on(async move {
        let st = crate::server::build_state(cfg)?;
        if dev {
            crate::admin::demo::seed_if_empty(&st).map_err(|e| e.to_string())?;
        }
        tracing::info!(url = %public_url, "Kenpo ID listening");
        let server = crate::server::run(st, listener).map_err(|e| e.to_string())?;
        server.await.map_err(|e| e.to_string())
    })
}
