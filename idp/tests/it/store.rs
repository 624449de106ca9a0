//! Drift guards for the one portable schema (STYLE §6): the migration trees of both backends
//! have the same migrations, `schema.rs` matches both migrated databases table by table and
//! column by column, every SQL type in use survives a round trip unchanged, concurrent writers
//! do not fail, and migrating again changes nothing.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::Text;

use kenpo_idp::realm::RealmSettings;
use kenpo_idp::store::{self, AnyConnection, DbUrl, Store, StoreError, schema, write_tx};

use crate::support::{TestDb, both_backends};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn migrations_dir(backend: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations/idp").join(backend)
}

fn migration_names(backend: &str) -> BTreeSet<String> {
    std::fs::read_dir(migrations_dir(backend))
        .unwrap_or_else(|e| panic!("{}: {e}", migrations_dir(backend).display()))
        .map(|e| e.expect("dir entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn open(db: &TestDb) -> Store {
    store::open(&db.url).unwrap_or_else(|e| panic!("open {:?}: {e}", db.backend))
}

fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, micro: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d).and_then(|d| d.and_hms_micro_opt(h, mi, s, micro)).expect("valid timestamp")
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Runs a raw query returning one text column `name`, on whichever backend this is.
fn names(c: &mut AnyConnection, sqlite: &str, postgres: &str) -> Result<BTreeSet<String>, StoreError> {
    let rows: Vec<Name> = match c {
        AnyConnection::Sqlite(s) => diesel::sql_query(sqlite).load(s)?,
        AnyConnection::Postgres(p) => diesel::sql_query(postgres).load(p)?,
    };
    Ok(rows.into_iter().map(|n| n.name).collect())
}

fn db_tables(c: &mut AnyConnection) -> Result<BTreeSet<String>, StoreError> {
    let mut t = names(
        c,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )?;
    t.remove("__diesel_schema_migrations");
    Ok(t)
}

fn db_columns(c: &mut AnyConnection, table: &str) -> Result<BTreeSet<String>, StoreError> {
    names(
        c,
        &format!("SELECT name FROM pragma_table_info('{table}')"),
        &format!(
            "SELECT column_name::text AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
    )
}

/// The table names declared in `schema.rs`, read from its source.
fn schema_rs_tables() -> BTreeSet<String> {
    let src = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/schema.rs"));
    let mut lines = src.lines().map(str::trim);
    let mut out = BTreeSet::new();
    while let Some(line) = lines.next() {
        if line == "diesel::table! {"
            && let Some(name) = lines.next().and_then(|l| l.split_whitespace().next())
        {
            out.insert(name.to_string());
        }
    }
    assert!(!out.is_empty(), "no diesel::table! found in schema.rs");
    out
}

/// The column names of a `SELECT a.x, a.y FROM a …` as diesel prints it (either quoting).
fn selected_columns(sql: &str) -> BTreeSet<String> {
    let list = sql.split_once("SELECT ").and_then(|(_, r)| r.split_once(" FROM")).map(|(l, _)| l).unwrap_or("");
    list.split(", ")
        .map(|c| c.rsplit('.').next().unwrap_or(c).trim_matches(|q| q == '"' || q == '`').to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// For every table of `schema.rs`: `table.select(all_columns).limit(0)` loaded into the Rust row
/// type the repositories use, and the column names `schema.rs` declares.
macro_rules! load_every_table {
    ($c:ident; $($t:ident: ($($ty:ty),+ $(,)?)),+ $(,)?) => {{
        let mut declared: Vec<(&'static str, BTreeSet<String>)> = Vec::new();
        $(
            let rows: Vec<($($ty,)+)> = schema::$t::table.select(schema::$t::all_columns).limit(0).load($c)
                .unwrap_or_else(|e| panic!("{}: schema.rs does not match the database: {e}", stringify!($t)));
            assert!(rows.is_empty());
            let q = schema::$t::table.select(schema::$t::all_columns).limit(0);
            let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&q).to_string();
            declared.push((stringify!($t), selected_columns(&sql)));
        )+
        declared
    }};
}

/// Inserts one row given column by column (in `schema.rs` order), then reads every column
/// back on its own and the whole row through `all_columns`. The table must be empty before.
macro_rules! round_trip_row {
    ($c:ident, $t:ident { $($col:ident: $ty:ty = $val:expr),+ $(,)? }) => {{
        $( let $col: $ty = $val; )+
        diesel::insert_into(schema::$t::table)
            .values(($(schema::$t::$col.eq($col.clone()),)+))
            .execute($c)
            .unwrap_or_else(|e| panic!("insert into {}: {e}", stringify!($t)));
        $(
            let back: Vec<$ty> = schema::$t::table.select(schema::$t::$col).load($c)
                .unwrap_or_else(|e| panic!("{}.{}: {e}", stringify!($t), stringify!($col)));
            assert_eq!(back, vec![$col], "{}.{} changed in a round trip", stringify!($t), stringify!($col));
        )+
        let whole: Vec<($($ty,)+)> = schema::$t::table.select(schema::$t::all_columns).load($c)
            .unwrap_or_else(|e| panic!("{} (all columns): {e}", stringify!($t)));
        assert_eq!(whole.len(), 1, "{}", stringify!($t));
    }};
}

// ---------------------------------------------------------------------------------------------
// (a) The migration trees
// ---------------------------------------------------------------------------------------------

/// Same migration names for both backends, each with an up.sql and a down.sql: a migration
/// written for one backend only would leave the other behind.
#[test]
fn migration_folder_names_are_identical_for_both_backends() {
    let pg = migration_names("postgres");
    let sqlite = migration_names("sqlite");
    assert!(!pg.is_empty(), "no migrations found in {}", migrations_dir("postgres").display());
    assert_eq!(pg, sqlite, "migrations/idp/postgres and migrations/idp/sqlite differ");
    for backend in ["postgres", "sqlite"] {
        for name in &pg {
            for file in ["up.sql", "down.sql"] {
                let p = migrations_dir(backend).join(name).join(file);
                assert!(p.is_file(), "missing {}", p.display());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (b) schema.rs matches both databases
// ---------------------------------------------------------------------------------------------

both_backends!(
    /// After `store::open`, every table of schema.rs loads with all its columns, the database
    /// has no table schema.rs does not know, and each table has exactly the declared columns.
    every_table_in_schema_rs_loads_from_the_migrated_database,
    |db: &TestDb| {
        let st = open(db);
        st.run_sync(|c| {
            type T = NaiveDateTime;
            type S = String;
            type O = Option<String>;
            let declared = load_every_table!(c;
                realms: (S, S, S, S, T, T),
                signing_keys: (S, S, S, Vec<u8>, S, S, T),
                clients: (S, S, S, S, S, O, O, S, S, O, S, S, bool, T),
                users: (S, S, S, O, bool, O, O, O, O, O, O, O, O, O, O, Option<T>, bool, S, S, T, T, O),
                sso_sessions: (S, S, S, S, T, S, S, bool, T, T, T),
                session_clients: (S, S, T),
                auth_flows: (S, S, S, S, i64, T, T, T),
                grants: (S, S, S, O, O, O, S, O, Option<T>, S, S, T, Option<T>),
                auth_codes: (S, S, S, O, O, T, T, Option<T>),
                refresh_tokens: (S, S, T, T, Option<T>),
                revoked_tokens: (S, T),
                used_assertions: (S, T),
                backchannel_outbox: (S, S, S, S, S, i32, T, O, T, Option<T>),
                login_failures: (S, S, i32, T, Option<T>),
                audit_events: (S, O, S, O, O, O, S, T),
                mail_outbox: (S, S, S, S, S, S, S, i32, T, O, T, Option<T>),
                email_verifications: (S, S, S, S, T, T, Option<T>),
                terms_versions: (S, i32, S, T),
                terms_acceptances: (S, i32, T),
                user_credentials: (S, S, S, S, S, Option<Vec<u8>>, S, O, Option<i64>, T, Option<T>),
                recovery_codes: (S, S, S, T, Option<T>),
                email_otps: (S, S, S, i32, T, T, Option<T>),
                mfa_challenges: (S, O, S, Vec<u8>, T, T),
            );
            let loaded: BTreeSet<String> = declared.iter().map(|(t, _)| t.to_string()).collect();
            assert_eq!(
                loaded,
                schema_rs_tables(),
                "the tables of schema.rs and the list in load_every_table! (this file) differ: add the new table here"
            );
            assert_eq!(db_tables(c)?, loaded, "tables in the migrated database vs schema.rs");
            for (table, columns) in &declared {
                assert!(!columns.is_empty(), "{table}: could not read the declared columns");
                assert_eq!(&db_columns(c, table)?, columns, "{table}: columns in the database vs schema.rs");
            }
            Ok(())
        })
        .expect("schema check");
    }
);

both_backends!(
    /// One complete row in every table (foreign keys satisfied), every column read back
    /// unchanged: catches a type or nullability that differs between schema.rs and one backend
    /// even when the table is empty in production.
    every_table_round_trips_a_complete_row,
    |db: &TestDb| {
        let st = open(db);
        st.run_sync(|c| {
            let t1 = ts(2026, 11, 21, 9, 30, 15, 123_456);
            let t2 = ts(2026, 11, 21, 10, 0, 0, 1);
            let s = |v: &str| v.to_string();
            round_trip_row!(c, realms {
                id: String = s("r-1"), name: String = s("kenpo1"), display_name: String = s("〇〇健保加入者ページ"),
                settings: String = RealmSettings::default().to_json(), created_at: NaiveDateTime = t1, updated_at: NaiveDateTime = t2,
            });
            round_trip_row!(c, signing_keys {
                kid: String = s("kid-1"), realm_id: String = s("r-1"), alg: String = s("RS256"),
                private_enc: Vec<u8> = (0..=255u8).collect(), public_jwk: String = s(r#"{"kty":"RSA"}"#),
                status: String = s("active"), created_at: NaiveDateTime = t1,
            });
            round_trip_row!(c, clients {
                id: String = s("c-1"), realm_id: String = s("r-1"), client_id: String = s("portal"),
                kind: String = s("confidential"), auth_method: String = s("client_secret_basic"),
                secret_hash: Option<String> = Some(s("abc")), jwks: Option<String> = Some(s(r#"{"keys":[]}"#)),
                redirect_uris: String = s(r#"["https://p.example.jp/cb"]"#), post_logout_redirect_uris: String = s("[]"),
                backchannel_logout_uri: Option<String> = Some(s("https://p.example.jp/bc")), signing_alg: String = s("ES256"),
                grant_types: String = s(r#"["authorization_code"]"#), require_pkce: bool = true, created_at: NaiveDateTime = t1,
            });
            round_trip_row!(c, users {
                id: String = s("u-1"), realm_id: String = s("r-1"), username: String = s("member01"),
                email: Option<String> = Some(s("taro@example.jp")), email_verified: bool = true,
                family_name: Option<String> = Some(s("健保")), given_name: Option<String> = Some(s("太郎")),
                family_kana: Option<String> = Some(s("ケンポ")), given_kana: Option<String> = Some(s("タロウ")),
                birthdate: Option<String> = Some(s("1979-08-22")), insurer_number: Option<String> = Some(s("06139999")),
                card_symbol: Option<String> = Some(s("12-34")), card_number: Option<String> = Some(s("0056")),
                relationship: Option<String> = Some(s("本人")), password_hash: Option<String> = Some(s("$argon2id$v=19$...")),
                password_changed_at: Option<NaiveDateTime> = Some(t2), temporary_password: bool = false,
                status: String = s("active"), required_actions: String = s("[]"), created_at: NaiveDateTime = t1,
                updated_at: NaiveDateTime = t2, mfa_choice: Option<String> = Some(s("passkey")),
            });
            round_trip_row!(c, sso_sessions {
                id: String = s("sess-1"), sid: String = s("sid-1"), realm_id: String = s("r-1"), user_id: String = s("u-1"),
                auth_time: NaiveDateTime = t1, amr: String = s(r#"["pwd"]"#), acr: String = s("0"), remember_me: bool = true,
                created_at: NaiveDateTime = t1, last_seen_at: NaiveDateTime = t2, expires_at: NaiveDateTime = t2,
            });
            round_trip_row!(c, session_clients {
                session_id: String = s("sess-1"), client_id: String = s("c-1"), created_at: NaiveDateTime = t1,
            });
            round_trip_row!(c, auth_flows {
                id: String = s("f-1"), realm_id: String = s("r-1"), client_request: String = s("{}"),
                state: String = s(r#"{"step":"credentials","notice":null}"#), version: i64 = 5_000_000_000,
                created_at: NaiveDateTime = t1, updated_at: NaiveDateTime = t2, expires_at: NaiveDateTime = t2,
            });
            round_trip_row!(c, grants {
                id: String = s("g-1"), realm_id: String = s("r-1"), client_id: String = s("c-1"),
                user_id: Option<String> = Some(s("u-1")), session_id: Option<String> = Some(s("sess-1")),
                sid: Option<String> = Some(s("sid-1")), scope: String = s("openid profile"), nonce: Option<String> = Some(s("n")),
                auth_time: Option<NaiveDateTime> = Some(t1), amr: String = s(r#"["pwd"]"#), acr: String = s("0"),
                created_at: NaiveDateTime = t1, revoked_at: Option<NaiveDateTime> = Some(t2),
            });
            round_trip_row!(c, auth_codes {
                code_hash: String = s("ch-1"), grant_id: String = s("g-1"), redirect_uri: String = s("https://p.example.jp/cb"),
                code_challenge: Option<String> = Some(s("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")),
                code_challenge_method: Option<String> = Some(s("S256")), created_at: NaiveDateTime = t1,
                expires_at: NaiveDateTime = t2, used_at: Option<NaiveDateTime> = Some(t2),
            });
            round_trip_row!(c, refresh_tokens {
                token_hash: String = s("rt-1"), grant_id: String = s("g-1"), created_at: NaiveDateTime = t1,
                expires_at: NaiveDateTime = t2, rotated_at: Option<NaiveDateTime> = Some(t2),
            });
            round_trip_row!(c, revoked_tokens { jti: String = s("jti-1"), expires_at: NaiveDateTime = t2 });
            round_trip_row!(c, used_assertions { jti_hash: String = s("jh-1"), expires_at: NaiveDateTime = t2 });
            round_trip_row!(c, backchannel_outbox {
                id: String = s("o-1"), realm_id: String = s("r-1"), client_id: String = s("c-1"),
                uri: String = s("https://p.example.jp/bc"), logout_token: String = s("eyJ..."), attempts: i32 = 3,
                next_attempt_at: NaiveDateTime = t2, last_error: Option<String> = Some(s("timeout")),
                created_at: NaiveDateTime = t1, delivered_at: Option<NaiveDateTime> = Some(t2),
            });
            round_trip_row!(c, login_failures {
                realm_id: String = s("r-1"), username_key: String = s("member01"), failures: i32 = 10,
                last_failure_at: NaiveDateTime = t1, locked_until: Option<NaiveDateTime> = Some(t2),
            });
            round_trip_row!(c, audit_events {
                id: String = s("a-1"), realm_id: Option<String> = Some(s("r-1")), kind: String = s("login"),
                user_id: Option<String> = Some(s("u-1")), client_id: Option<String> = Some(s("portal")),
                ip: Option<String> = Some(s("2001:db8::1")), detail: String = s(r#"{"amr":["pwd"]}"#), created_at: NaiveDateTime = t1,
            });
            round_trip_row!(c, mail_outbox {
                id: String = s("m-1"), realm_id: String = s("r-1"), kind: String = s("verify_email"),
                to_address: String = s("taro@example.jp"), from_address: String = s("no-reply@example.jp"),
                subject: String = s("メールアドレスの確認"), body_text: String = s("本文\nhttps://id.example.jp/x"),
                attempts: i32 = 2, next_attempt_at: NaiveDateTime = t2, last_error: Option<String> = Some(s("421")),
                created_at: NaiveDateTime = t1, sent_at: Option<NaiveDateTime> = Some(t2),
            });
            round_trip_row!(c, email_verifications {
                token_hash: String = s("vh-1"), realm_id: String = s("r-1"), user_id: String = s("u-1"),
                email: String = s("taro@example.jp"), created_at: NaiveDateTime = t1, expires_at: NaiveDateTime = t2,
                used_at: Option<NaiveDateTime> = Some(t2),
            });
            round_trip_row!(c, terms_versions {
                realm_id: String = s("r-1"), version: i32 = 2, body: String = s("第1条 本規約は…\n<b>escaped</b>"),
                published_at: NaiveDateTime = t1,
            });
            round_trip_row!(c, terms_acceptances { user_id: String = s("u-1"), version: i32 = 2, accepted_at: NaiveDateTime = t2 });
            round_trip_row!(c, user_credentials {
                id: String = s("cr-1"), realm_id: String = s("r-1"), user_id: String = s("u-1"), kind: String = s("otp"),
                label: String = s("仕事用スマホ"), secret_enc: Option<Vec<u8>> = Some((0..=255u8).collect()),
                data: String = s(r#"{"algorithm":"SHA1","digits":6,"period":30}"#),
                credential_key: Option<String> = Some(s("AAECAwQ")), last_used_step: Option<i64> = Some(60_000_000_000),
                created_at: NaiveDateTime = t1, last_used_at: Option<NaiveDateTime> = Some(t2),
            });
            round_trip_row!(c, recovery_codes {
                id: String = s("rc-1"), user_id: String = s("u-1"), code_hash: String = s("h"), created_at: NaiveDateTime = t1,
                used_at: Option<NaiveDateTime> = Some(t2),
            });
            round_trip_row!(c, email_otps {
                flow_id: String = s("f-1"), user_id: String = s("u-1"), code_hash: String = s("h"), tries: i32 = 4,
                sent_at: NaiveDateTime = t1, expires_at: NaiveDateTime = t2, used_at: Option<NaiveDateTime> = Some(t2),
            });
            round_trip_row!(c, mfa_challenges {
                id: String = s("ch-1"), user_id: Option<String> = Some(s("u-1")), purpose: String = s("otp_enrol"),
                payload: Vec<u8> = (0..=255u8).collect(), created_at: NaiveDateTime = t1, expires_at: NaiveDateTime = t2,
            });
            Ok(())
        })
        .expect("round trips");
    }
);

// ---------------------------------------------------------------------------------------------
// (c) One round trip per SQL type in use
// ---------------------------------------------------------------------------------------------

pub(crate) fn new_realm(c: &mut AnyConnection, name: &str) -> Result<String, StoreError> {
    Ok(store::realms::insert(c, name, "テスト健保組合", &RealmSettings::default())?.id)
}

/// A member row written column by column (user ID = row id), only the required columns plus the
/// two nullable ones the round-trip test varies.
pub(crate) fn insert_member(
    c: &mut AnyConnection,
    realm_id: &str,
    id: &str,
    email: Option<&str>,
    password_changed_at: Option<NaiveDateTime>,
) -> Result<(), StoreError> {
    let now = store::now();
    diesel::insert_into(schema::users::table)
        .values((
            schema::users::id.eq(id),
            schema::users::realm_id.eq(realm_id),
            schema::users::username.eq(id),
            schema::users::email.eq(email),
            schema::users::email_verified.eq(false),
            schema::users::password_changed_at.eq(password_changed_at),
            schema::users::temporary_password.eq(false),
            schema::users::status.eq("active"),
            schema::users::required_actions.eq("[]"),
            schema::users::created_at.eq(now),
            schema::users::updated_at.eq(now),
        ))
        .execute(c)?;
    Ok(())
}

/// A public client row written column by column (client ID = row id).
pub(crate) fn insert_public_client(
    c: &mut AnyConnection,
    realm_id: &str,
    id: &str,
    require_pkce: bool,
) -> Result<(), StoreError> {
    diesel::insert_into(schema::clients::table)
        .values((
            schema::clients::id.eq(id),
            schema::clients::realm_id.eq(realm_id),
            schema::clients::client_id.eq(id),
            schema::clients::kind.eq("public"),
            schema::clients::auth_method.eq("none"),
            schema::clients::redirect_uris.eq("[]"),
            schema::clients::post_logout_redirect_uris.eq("[]"),
            schema::clients::signing_alg.eq("RS256"),
            schema::clients::grant_types.eq("[]"),
            schema::clients::require_pkce.eq(require_pkce),
            schema::clients::created_at.eq(store::now()),
        ))
        .execute(c)?;
    Ok(())
}

both_backends!(
    /// Text: Japanese, half-width kana (not normalised by the database), emoji, quotes,
    /// backslashes, LIKE wildcards, control characters, the empty string and a long value.
    round_trip_text,
    |db: &TestDb| {
        let st = open(db);
        let samples: Vec<String> = vec![
            String::new(),
            "〇〇健保加入者ページ".into(),
            "ｹﾝﾎﾟ ＡＢＣ　全角スペース".into(),
            "e\u{301} (combining) 🏥🍣 \u{E0100}".into(),
            r#"' OR 1=1 -- "quoted" \back\slash %_"#.into(),
            "tab\tnewline\ncr\r".into(),
            "長".repeat(20_000),
        ];
        st.run_sync(|c| {
            for (i, text) in samples.iter().enumerate() {
                let name = format!("text{i}");
                new_realm(c, &name)?;
                diesel::update(schema::realms::table.filter(schema::realms::name.eq(&name)))
                    .set(schema::realms::display_name.eq(text))
                    .execute(c)?;
                let back: String = schema::realms::table
                    .filter(schema::realms::name.eq(&name))
                    .select(schema::realms::display_name)
                    .first(c)?;
                assert_eq!(&back, text, "text sample {i}");
                let found: i64 =
                    schema::realms::table.filter(schema::realms::display_name.eq(text)).count().get_result(c)?;
                assert_eq!(found, 1, "equality on text sample {i}");
            }
            Ok(())
        })
        .expect("text");
    }
);

both_backends!(
    /// Integer (32 bits): the extremes and zero.
    round_trip_integer,
    |db: &TestDb| {
        let st = open(db);
        st.run_sync(|c| {
            let rid = new_realm(c, "integers")?;
            for (i, n) in [i32::MIN, -1, 0, 1, 10, i32::MAX].into_iter().enumerate() {
                let key = format!("user{i}");
                diesel::insert_into(schema::login_failures::table)
                    .values((
                        schema::login_failures::realm_id.eq(&rid),
                        schema::login_failures::username_key.eq(&key),
                        schema::login_failures::failures.eq(n),
                        schema::login_failures::last_failure_at.eq(store::now()),
                    ))
                    .execute(c)?;
                let back: i32 = schema::login_failures::table
                    .filter(schema::login_failures::username_key.eq(&key))
                    .select(schema::login_failures::failures)
                    .first(c)?;
                assert_eq!(back, n);
            }
            let positive: i64 =
                schema::login_failures::table.filter(schema::login_failures::failures.gt(0)).count().get_result(c)?;
            assert_eq!(positive, 3, "comparison on Integer");
            Ok(())
        })
        .expect("integer");
    }
);

both_backends!(
    /// BigInt (64 bits): beyond the 32-bit range in both directions.
    round_trip_bigint,
    |db: &TestDb| {
        let st = open(db);
        st.run_sync(|c| {
            let rid = new_realm(c, "bigints")?;
            let values = [i64::MIN, -1, 0, i64::from(i32::MAX) + 1, 5_000_000_000, i64::MAX];
            for (i, n) in values.into_iter().enumerate() {
                let id = format!("flow{i}");
                let now = store::now();
                diesel::insert_into(schema::auth_flows::table)
                    .values((
                        schema::auth_flows::id.eq(&id),
                        schema::auth_flows::realm_id.eq(&rid),
                        schema::auth_flows::client_request.eq("{}"),
                        schema::auth_flows::state.eq("{}"),
                        schema::auth_flows::version.eq(n),
                        schema::auth_flows::created_at.eq(now),
                        schema::auth_flows::updated_at.eq(now),
                        schema::auth_flows::expires_at.eq(now),
                    ))
                    .execute(c)?;
                let back: i64 = schema::auth_flows::table.find(&id).select(schema::auth_flows::version).first(c)?;
                assert_eq!(back, n);
            }
            let big: i64 = schema::auth_flows::table
                .filter(schema::auth_flows::version.gt(i64::from(i32::MAX)))
                .count()
                .get_result(c)?;
            assert_eq!(big, 3, "comparison on BigInt");
            Ok(())
        })
        .expect("bigint");
    }
);

both_backends!(
    /// Bool: both values, and filtering on them.
    round_trip_bool,
    |db: &TestDb| {
        let st = open(db);
        st.run_sync(|c| {
            let rid = new_realm(c, "bools")?;
            for (id, b) in [("c-true", true), ("c-false", false)] {
                insert_public_client(c, &rid, id, b)?;
                let back: bool = schema::clients::table.find(id).select(schema::clients::require_pkce).first(c)?;
                assert_eq!(back, b);
            }
            let with_pkce: Vec<String> = schema::clients::table
                .filter(schema::clients::require_pkce.eq(true))
                .select(schema::clients::id)
                .load(c)?;
            assert_eq!(with_pkce, vec!["c-true".to_string()]);
            Ok(())
        })
        .expect("bool");
    }
);

both_backends!(
    /// Binary: empty, a NUL byte, every byte value, and 64 KiB.
    round_trip_binary,
    |db: &TestDb| {
        let st = open(db);
        st.run_sync(|c| {
            let rid = new_realm(c, "binaries")?;
            let big: Vec<u8> = (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
            let samples: Vec<Vec<u8>> = vec![Vec::new(), vec![0], (0..=255u8).collect(), (0..=255u8).rev().collect(), big];
            for (i, bytes) in samples.iter().enumerate() {
                let kid = format!("kid{i}");
                diesel::insert_into(schema::signing_keys::table)
                    .values((
                        schema::signing_keys::kid.eq(&kid),
                        schema::signing_keys::realm_id.eq(&rid),
                        schema::signing_keys::alg.eq("RS256"),
                        schema::signing_keys::private_enc.eq(bytes),
                        schema::signing_keys::public_jwk.eq("{}"),
                        schema::signing_keys::status.eq("active"),
                        schema::signing_keys::created_at.eq(store::now()),
                    ))
                    .execute(c)?;
                let back: Vec<u8> =
                    schema::signing_keys::table.find(&kid).select(schema::signing_keys::private_enc).first(c)?;
                assert_eq!(&back, bytes, "binary sample {i}");
            }
            Ok(())
        })
        .expect("binary");
    }
);

both_backends!(
    /// Timestamp: microseconds kept, dates far apart, `store::now()` unchanged, and SQL
    /// comparisons (which the repositories use for expiry) agreeing with Rust's.
    round_trip_timestamp,
    |db: &TestDb| {
        let st = open(db);
        let samples = [
            ts(1900, 1, 1, 0, 0, 0, 0),
            ts(1970, 1, 1, 0, 0, 0, 0),
            ts(1999, 12, 31, 23, 59, 59, 999_999),
            ts(2000, 2, 29, 12, 0, 0, 500_000),
            ts(2000, 2, 29, 12, 0, 0, 50_000),
            ts(2038, 1, 19, 3, 14, 8, 1),
            ts(2100, 12, 31, 23, 59, 59, 0),
            store::now(),
        ];
        st.run_sync(|c| {
            for (i, t) in samples.iter().enumerate() {
                let jti = format!("jti{i}");
                diesel::insert_into(schema::revoked_tokens::table)
                    .values((schema::revoked_tokens::jti.eq(&jti), schema::revoked_tokens::expires_at.eq(t)))
                    .execute(c)?;
                let back: NaiveDateTime =
                    schema::revoked_tokens::table.find(&jti).select(schema::revoked_tokens::expires_at).first(c)?;
                assert_eq!(&back, t, "timestamp sample {i}");
            }
            for pivot in &samples {
                let later: i64 = schema::revoked_tokens::table
                    .filter(schema::revoked_tokens::expires_at.gt(pivot))
                    .count()
                    .get_result(c)?;
                let expected = samples.iter().filter(|t| *t > pivot).count() as i64;
                assert_eq!(later, expected, "expires_at > {pivot}");
            }
            Ok(())
        })
        .expect("timestamp");
    }
);

both_backends!(
    /// Nullable: NULL and a value, for text and timestamps, and `IS NULL` filters.
    round_trip_nullable,
    |db: &TestDb| {
        let st = open(db);
        st.run_sync(|c| {
            let rid = new_realm(c, "nullables")?;
            let t = ts(2026, 4, 1, 8, 0, 0, 250_000);
            for (id, email, changed) in [("u-null", None, None), ("u-some", Some("taro@example.jp"), Some(t))] {
                insert_member(c, &rid, id, email, changed)?;
                let (e, p, kana): (Option<String>, Option<NaiveDateTime>, Option<String>) = schema::users::table
                    .find(id)
                    .select((schema::users::email, schema::users::password_changed_at, schema::users::family_kana))
                    .first(c)?;
                assert_eq!(e.as_deref(), email);
                assert_eq!(p, changed);
                assert_eq!(kana, None, "a column left out of the insert is NULL");
            }
            let null_emails: Vec<String> =
                schema::users::table.filter(schema::users::email.is_null()).select(schema::users::id).load(c)?;
            assert_eq!(null_emails, vec!["u-null".to_string()]);
            // Two NULL e-mails do not collide on UNIQUE (realm_id, email) on either backend.
            let row = store::users::find(c, "u-null")?.expect("u-null");
            let mut other = row.clone();
            other.id = "u-null-2".into();
            other.username = "u-null-2".into();
            store::users::insert(c, &other)?;
            Ok(())
        })
        .expect("nullable");
    }
);

// ---------------------------------------------------------------------------------------------
// (d) Concurrent writers
// ---------------------------------------------------------------------------------------------

both_backends!(
    /// Two threads, each with its own pool on the same database, run `write_tx` at the same
    /// time; each transaction reads before it writes (the pattern that makes a deferred SQLite
    /// transaction fail with SQLITE_BUSY on the upgrade). With BEGIN IMMEDIATE and the busy
    /// timeout every transaction succeeds.
    concurrent_write_tx_both_succeed,
    |db: &TestDb| {
        const ROUNDS: usize = 25;
        let first = open(db);
        let second = open(db);
        let barrier = Arc::new(Barrier::new(2));
        let workers: Vec<_> = [("a", first), ("b", second)]
            .into_iter()
            .map(|(who, st)| {
                let barrier = barrier.clone();
                std::thread::spawn(move || -> Result<(), StoreError> {
                    barrier.wait();
                    for i in 0..ROUNDS {
                        st.run_sync(|c| {
                            write_tx(c, |c| {
                                let _seen: i64 = schema::audit_events::table.count().get_result(c)?;
                                std::thread::sleep(std::time::Duration::from_millis(2));
                                diesel::insert_into(schema::audit_events::table)
                                    .values((
                                        schema::audit_events::id.eq(format!("{who}-{i}")),
                                        schema::audit_events::kind.eq("test"),
                                        schema::audit_events::detail.eq("{}"),
                                        schema::audit_events::created_at.eq(store::now()),
                                    ))
                                    .execute(c)?;
                                Ok(())
                            })
                        })?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().expect("writer thread").expect("every write_tx succeeds");
        }
        let check = open(db);
        let n: i64 = check.run_sync(|c| Ok(schema::audit_events::table.count().get_result(c)?)).expect("count");
        assert_eq!(n, 2 * ROUNDS as i64);
    }
);

both_backends!(
    /// A failing `write_tx` leaves nothing behind, and the connection is usable afterwards.
    write_tx_rolls_back_on_error,
    |db: &TestDb| {
        let st = open(db);
        let r: Result<(), StoreError> = st.run_sync(|c| {
            write_tx(c, |c| {
                new_realm(c, "rolledback")?;
                Err(StoreError::Stale)
            })
        });
        assert!(matches!(r, Err(StoreError::Stale)), "{r:?}");
        let found = st.run_sync(|c| store::realms::find_by_name(c, "rolledback")).expect("query");
        assert!(found.is_none(), "the realm was written although the transaction failed");
        st.run_sync(|c| write_tx(c, |c| new_realm(c, "committed"))).expect("next transaction");
        assert!(st.run_sync(|c| store::realms::find_by_name(c, "committed")).expect("query").is_some());
    }
);

// ---------------------------------------------------------------------------------------------
// (e) Migrations are idempotent
// ---------------------------------------------------------------------------------------------

both_backends!(
    /// The first migration applies every migration; running it again (directly, through
    /// `store::open`, from a new connection) applies nothing and keeps the data.
    migrate_twice_is_a_no_op,
    |db: &TestDb| {
        let url = DbUrl::parse(&db.url).expect("url");
        let expected = migration_names(if url.is_sqlite() { "sqlite" } else { "postgres" }).len();
        let mut c = AnyConnection::open(&url).expect("connect");
        let applied = kenpo_shared::db::migrate(&mut c, &store::MIGRATIONS).expect("first migrate");
        assert_eq!(applied, expected, "first run applies every migration");
        let again = kenpo_shared::db::migrate(&mut c, &store::MIGRATIONS).expect("second migrate");
        assert_eq!(again, 0, "second run applies nothing");
        drop(c);

        let st = open(db);
        st.run_sync(|c| new_realm(c, "kept")).expect("realm");
        let mut c = AnyConnection::open(&url).expect("connect again");
        assert_eq!(kenpo_shared::db::migrate(&mut c, &store::MIGRATIONS).expect("third migrate"), 0);
        let realms = store::realms::list(&mut c).expect("list");
        assert_eq!(realms.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["kept"]);
        let recorded: i64 = match &mut c {
            AnyConnection::Sqlite(s) => diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "SELECT COUNT(*) FROM __diesel_schema_migrations",
            )
            .get_result(s),
            AnyConnection::Postgres(p) => diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "SELECT COUNT(*) FROM __diesel_schema_migrations",
            )
            .get_result(p),
        }
        .expect("migrations table");
        assert_eq!(recorded, expected as i64);
    }
);

/// SQLite's hot tables were rebuilt WITHOUT ROWID (2026-11-24-000001) by copying them: rows
/// written before the upgrade (a flow in progress, an unused code, a live refresh token, the
/// audit trail) are all there afterwards, and the rebuilt tables are WITHOUT ROWID.
#[test]
fn sqlite_rebuild_without_rowid_keeps_every_row() {
    use diesel::connection::SimpleConnection;
    use diesel_migrations::MigrationHarness;

    const REBUILT: [(&str, &str); 5] = [
        ("session_clients", "session_id, client_id, created_at"),
        ("auth_flows", "id, realm_id, client_request, state, version, created_at, updated_at, expires_at"),
        (
            "auth_codes",
            "code_hash, grant_id, redirect_uri, code_challenge, code_challenge_method, created_at, expires_at, used_at",
        ),
        ("refresh_tokens", "token_hash, grant_id, created_at, expires_at, rotated_at"),
        ("audit_events", "id, realm_id, kind, user_id, client_id, ip, detail, created_at"),
    ];
    let db = TestDb::sqlite();
    let path = db.url.trim_start_matches("sqlite://").to_string();
    let mut c = diesel::SqliteConnection::establish(&path).expect("connect");
    let all = migration_names("sqlite").len();
    for _ in 0..all - 1 {
        c.run_next_migration((store::MIGRATIONS.sqlite)()).expect("older migration");
    }
    // Foreign keys are off on this bare connection: the child rows need no parents here.
    c.batch_execute(
        "INSERT INTO session_clients VALUES ('s1', 'c1', '2026-11-20 10:00:00');
         INSERT INTO auth_flows VALUES ('f1', 'r1', '{\"client\":1}', '{\"step\":2}', 3,
             '2026-11-20 10:00:00', '2026-11-20 10:01:00', '2026-11-20 10:30:00');
         INSERT INTO auth_codes VALUES ('h1', 'g1', 'https://rp/cb', 'ch', 'S256',
             '2026-11-20 10:00:00', '2026-11-20 10:01:00', NULL);
         INSERT INTO refresh_tokens VALUES ('t1', 'g1', '2026-11-20 10:00:00', '2026-12-20 10:00:00', NULL);
         INSERT INTO refresh_tokens VALUES ('t0', 'g1', '2026-11-19 10:00:00', '2026-12-19 10:00:00', '2026-11-20 10:00:00');
         INSERT INTO audit_events VALUES ('a1', 'r1', 'login', 'u1', 'c1', '127.0.0.1', '{}', '2026-11-20 10:00:00');",
    )
    .expect("rows before the upgrade");
    let dump = |c: &mut diesel::SqliteConnection| -> Vec<String> {
        REBUILT
            .iter()
            .flat_map(|(t, columns)| {
                let row =
                    columns.split(", ").map(|col| format!("quote({col})")).collect::<Vec<_>>().join(" || '|' || ");
                diesel::sql_query(format!("SELECT {row} AS name FROM {t} ORDER BY 1"))
                    .load::<Name>(c)
                    .unwrap_or_else(|e| panic!("{t}: {e}"))
                    .into_iter()
                    .map(move |n| format!("{t}: {}", n.name))
            })
            .collect()
    };
    let before = dump(&mut c);
    assert_eq!(before.len(), 6);
    c.run_pending_migrations((store::MIGRATIONS.sqlite)()).expect("the rebuild");
    assert_eq!(dump(&mut c), before, "every row, every column, unchanged");
    for (t, _) in REBUILT {
        let sql: Vec<Name> = diesel::sql_query(format!("SELECT sql AS name FROM sqlite_master WHERE name = '{t}'"))
            .load(&mut c)
            .expect("sqlite_master");
        assert!(sql.len() == 1 && sql[0].name.ends_with("WITHOUT ROWID"), "{t}: {:?}", sql.first().map(|n| &n.name));
    }
    // And the store works on the rebuilt tables (indexes and foreign keys included).
    drop(c);
    let st = open(&db);
    st.run_sync(|c| new_realm(c, "after")).expect("a write after the rebuild");
}

// ---------------------------------------------------------------------------------------------
// (e) The expiry sweep works in bounded batches and removes only what has expired
// ---------------------------------------------------------------------------------------------

both_backends!(
    /// 450 flows expired more than an hour ago go in batches of 200, 200, 50; a flow that is
    /// still live and one expired only minutes ago (kept to say "expired") stay, and so does a
    /// live SSO session beside an expired one.
    sweep_removes_expired_rows_in_batches,
    |db: &TestDb| {
        let st = open(db);
        let now = store::now();
        st.run_sync(|c| {
            let rid = new_realm(c, "sweep")?;
            let flow = |id: String, expires_at: NaiveDateTime| {
                (
                    schema::auth_flows::id.eq(id),
                    schema::auth_flows::realm_id.eq(rid.clone()),
                    schema::auth_flows::client_request.eq("{}"),
                    schema::auth_flows::state.eq("{}"),
                    schema::auth_flows::version.eq(0i64),
                    schema::auth_flows::created_at.eq(now),
                    schema::auth_flows::updated_at.eq(now),
                    schema::auth_flows::expires_at.eq(expires_at),
                )
            };
            let old = (0..450).map(|i| (format!("old{i}"), now - chrono::Duration::hours(2)));
            let kept = [("live".to_string(), now + chrono::Duration::minutes(30)), ("recent".into(), now - chrono::Duration::minutes(5))];
            for (id, expires_at) in old.chain(kept) {
                diesel::insert_into(schema::auth_flows::table).values(flow(id, expires_at)).execute(c)?;
            }
            insert_member(c, &rid, "sweeper", None, None)?;
            for (id, expires_at) in [("s-old", now - chrono::Duration::minutes(1)), ("s-live", now + chrono::Duration::hours(1))] {
                diesel::insert_into(schema::sso_sessions::table)
                    .values((
                        schema::sso_sessions::id.eq(id),
                        schema::sso_sessions::sid.eq(id),
                        schema::sso_sessions::realm_id.eq(&rid),
                        schema::sso_sessions::user_id.eq("sweeper"),
                        schema::sso_sessions::amr.eq("[]"),
                        schema::sso_sessions::acr.eq("1"),
                        schema::sso_sessions::remember_me.eq(false),
                        schema::sso_sessions::created_at.eq(now),
                        schema::sso_sessions::last_seen_at.eq(now),
                        schema::sso_sessions::auth_time.eq(now),
                        schema::sso_sessions::expires_at.eq(expires_at),
                    ))
                    .execute(c)?;
            }
            Ok(())
        })
        .expect("rows");
        let removed: Vec<usize> = (0..4)
            .map(|_| st.run_sync(|c| store::maintenance::sweep(c, now, 200)).expect("sweep"))
            .collect();
        assert_eq!(removed, vec![201, 200, 50, 0], "batches (the first one also takes the expired session)");
        let (flows, sessions) = st
            .run_sync(|c| {
                let flows: Vec<String> =
                    schema::auth_flows::table.select(schema::auth_flows::id).order(schema::auth_flows::id).load(c)?;
                let sessions: Vec<String> = schema::sso_sessions::table.select(schema::sso_sessions::id).load(c)?;
                Ok((flows, sessions))
            })
            .expect("left");
        assert_eq!(flows, vec!["live".to_string(), "recent".to_string()]);
        assert_eq!(sessions, vec!["s-live".to_string()]);
    }
);

// ---------------------------------------------------------------------------------------------
// (f) Queries written for one round trip
// ---------------------------------------------------------------------------------------------

both_backends!(
    /// `terms::due` (one query per login): nothing due without terms; due after publishing;
    /// not after accepting; due again for a new version; another member's acceptance and
    /// another realm's terms do not count.
    terms_due_follows_the_current_version,
    |db: &TestDb| {
        let st = open(db);
        st.run_sync(|c| {
            let now = store::now();
            let rid = new_realm(c, "terms")?;
            let other_realm = new_realm(c, "terms-other")?;
            insert_member(c, &rid, "m-1", None, None)?;
            insert_member(c, &rid, "m-2", None, None)?;
            assert!(!store::terms::due(c, &rid, "m-1")?, "no terms, nothing due");
            store::terms::publish(c, &other_realm, "他の組合の規約", now)?;
            assert!(!store::terms::due(c, &rid, "m-1")?, "another realm's terms");
            let v1 = store::terms::publish(c, &rid, "規約 第1版", now)?;
            assert!(store::terms::due(c, &rid, "m-1")?);
            store::terms::accept(c, "m-1", v1, now)?;
            assert!(!store::terms::due(c, &rid, "m-1")?, "accepted");
            assert!(store::terms::due(c, &rid, "m-2")?, "m-1's acceptance is not m-2's");
            store::terms::publish(c, &rid, "規約 第2版", now)?;
            assert!(store::terms::due(c, &rid, "m-1")?, "a new version is due again");
            Ok(())
        })
        .expect("terms");
    }
);

both_backends!(
    /// `SpendOnce` (the kept-prepared conditional update behind codes and refresh tokens):
    /// the first use changes one row and records the time, every later use none, and only the
    /// row with that key is touched.
    spend_once_spends_exactly_once,
    |db: &TestDb| {
        let st = open(db);
        st.run_sync(|c| {
            let now = store::now();
            let later = now + chrono::Duration::seconds(5);
            let rid = new_realm(c, "spend")?;
            insert_public_client(c, &rid, "c-1", true)?;
            let grant = (
                schema::grants::id.eq("g-1"),
                schema::grants::realm_id.eq(&rid),
                schema::grants::client_id.eq("c-1"),
                schema::grants::scope.eq("openid"),
                schema::grants::amr.eq("[]"),
                schema::grants::acr.eq("1"),
                schema::grants::created_at.eq(now),
            );
            diesel::insert_into(schema::grants::table).values(grant).execute(c)?;
            for hash in ["h-1", "h-2"] {
                store::grants::insert_refresh(c, hash, "g-1", now, later)?;
            }
            let spend = |key, at| store::SpendOnce {
                table: "refresh_tokens",
                column: "rotated_at",
                key_column: "token_hash",
                key,
                at,
            };
            assert_eq!(spend("h-1", now).execute(c)?, 1, "first use");
            assert_eq!(spend("h-1", later).execute(c)?, 0, "second use");
            assert_eq!(spend("nope", now).execute(c)?, 0, "unknown key");
            let rotated: Vec<(String, Option<NaiveDateTime>)> = schema::refresh_tokens::table
                .order(schema::refresh_tokens::token_hash)
                .select((schema::refresh_tokens::token_hash, schema::refresh_tokens::rotated_at))
                .load(c)?;
            assert_eq!(rotated, vec![("h-1".to_string(), Some(now)), ("h-2".to_string(), None)]);
            Ok(())
        })
        .expect("spend");
    }
);

both_backends!(
    /// `failures::get_with_member` (one query per login for a known ID): the member and the
    /// counter of that ID, each present or not; an unknown ID still gets its counter; another
    /// realm's member or counter is never returned.
    failure_record_comes_with_the_member,
    |db: &TestDb| {
        let st = open(db);
        st.run_sync(|c| {
            let now = store::now();
            let rid = new_realm(c, "bf")?;
            let other = new_realm(c, "bf-other")?;
            insert_member(c, &rid, "kenpo001", None, None)?;
            insert_member(c, &other, "kenpo002", None, None)?;
            let record = |failures| kenpo_idp::security::brute_force::FailureRecord {
                failures,
                last_failure_at: now,
                locked_until: None,
            };
            let get = |c: &mut AnyConnection, realm: &str, key: &str| {
                store::failures::get_with_member(c, realm, key)
                    .map(|(rec, user)| (rec.map(|r| r.failures), user.map(|u| u.username)))
            };
            assert_eq!(get(c, &rid, "kenpo001")?, (None, Some("kenpo001".to_string())));
            store::failures::put(c, &rid, "kenpo001", &record(3))?;
            assert_eq!(get(c, &rid, "kenpo001")?, (Some(3), Some("kenpo001".to_string())));
            assert_eq!(get(c, &rid, "nobody")?, (None, None));
            store::failures::put(c, &rid, "nobody", &record(2))?;
            assert_eq!(get(c, &rid, "nobody")?, (Some(2), None));
            // The same ID in another realm: neither its member nor its counter.
            store::failures::put(c, &other, "kenpo002", &record(7))?;
            assert_eq!(get(c, &rid, "kenpo002")?, (None, None));
            assert_eq!(get(c, &other, "kenpo001")?, (None, None));
            assert_eq!(get(c, &other, "kenpo002")?, (Some(7), Some("kenpo002".to_string())));
            Ok(())
        })
        .expect("failures with member");
    }
);
