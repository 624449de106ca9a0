//! The real `kenpo-idp` binary, driven as union IT scripts it: migrate, realms, clients,
//! members, and the production start-up checks. Every command runs with a time limit, in a
//! temp working directory, with a clean `KENPO_*` environment.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use kenpo_idp::store::{self, users::UserRow};

use crate::support::{TestDb, both_backends};

/// Generous: a command that takes this long is hanging (e.g. `start` serving when it should
/// have refused). Nothing asserts on how long a command took.
const LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug)]
struct Out {
    code: Option<i32>,
    /// The signal that ended the process, if one did (a crash, not an exit code).
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(self, what: &str) -> Out {
        assert_eq!(
            self.code,
            Some(0),
            "{what} failed{}:\nstdout: {}\nstderr: {}",
            self.signal.map(|s| format!(" (killed by signal {s})")).unwrap_or_default(),
            self.stdout,
            self.stderr
        );
        self
    }

    fn failed(self, what: &str) -> Out {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "{what} should exit non-zero, got {:?} (signal {:?}):\nstdout: {}\nstderr: {}",
            self.code,
            self.signal,
            self.stdout,
            self.stderr
        );
        self
    }

    /// The `field: message` lines of an "error: …" report.
    fn error_fields(&self) -> Vec<(String, String)> {
        let text = self.stderr.trim_start();
        let text = text.strip_prefix("error: ").unwrap_or(text);
        text.lines().filter_map(|l| l.split_once(": ")).map(|(f, m)| (f.trim().to_string(), m.to_string())).collect()
    }
}

/// Runs the binary with these arguments and environment, killing it after `LIMIT`.
fn run_raw(dir: &Path, args: &[String], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kenpo-idp"));
    cmd.args(args).current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Hermetic: nothing from the test runner's environment reaches the configuration
    // (scripts/test.sh exports KENPO_TEST_PG and KENPO_REQUIRE_POSTGRES).
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("KENPO_") || k == "DATABASE_URL" || k == "RUST_LOG" {
            cmd.env_remove(&k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn kenpo-idp");
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kenpo-idp {args:?} did not finish within {LIMIT:?}: killed (it hangs or serves)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out {
        code: status.code(),
        signal: std::os::unix::process::ExitStatusExt::signal(&status),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// The binary bound to one test database, with a fixed master key.
struct Kenpo<'a> {
    db: &'a TestDb,
    master_key: String,
}

impl<'a> Kenpo<'a> {
    fn new(db: &'a TestDb) -> Kenpo<'a> {
        let key: [u8; 32] = rand::random();
        Kenpo { db, master_key: base64::engine::general_purpose::STANDARD.encode(key) }
    }

    fn run<S: AsRef<str>>(&self, args: &[S]) -> Out {
        let mut all = vec!["--db".to_string(), self.db.url.clone()];
        all.extend(args.iter().map(|a| a.as_ref().to_string()));
        run_raw(self.db.dir(), &all, &[("KENPO_SECRETS__MASTER_KEY", &self.master_key)])
    }

    /// `migrate`, then a realm with the fast hash profile (members are created many times).
    fn realm(&self, name: &str) {
        self.run(&["migrate"]).ok("migrate");
        self.run(&["realm", "create", name, "--display-name", "テスト健保組合"]).ok("realm create");
        self.run(&["realm", "set", name, "password.hash=argon2id-min"]).ok("realm set password.hash");
    }

    fn show(&self, realm: &str) -> String {
        self.run(&["realm", "show", realm]).ok("realm show").stdout
    }

    /// Loads a member straight from the database (not through the binary).
    fn find_user(&self, realm: &str, username: &str) -> Option<UserRow> {
        let st = store::open(&self.db.url).expect("open store");
        st.run_sync(|c| {
            let r = store::realms::find_by_name(c, realm)?.expect("realm exists");
            store::users::find_by_username(c, &r.id, username)
        })
        .expect("query")
    }
}

/// A valid `user create` command line; `overrides` replace (or add) flags.
fn user_args(realm: &str, username: &str, email: &str, overrides: &[(&str, &str)]) -> Vec<String> {
    let mut flags: Vec<(String, String)> = [
        ("--realm", realm),
        ("--username", username),
        ("--password", "Correct-Horse-42"),
        ("--email", email),
        ("--birthdate", "19790822"),
        ("--family-name", "健保"),
        ("--given-name", "太郎"),
        ("--family-kana", "ケンポ"),
        ("--given-kana", "タロウ"),
        ("--insurer-number", "06139999"),
        ("--card-symbol", "12-34"),
        ("--card-number", "56"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in overrides {
        match flags.iter_mut().find(|(f, _)| f == k) {
            Some(slot) => slot.1 = v.to_string(),
            None => flags.push((k.to_string(), v.to_string())),
        }
    }
    let mut args = vec!["user".to_string(), "create".to_string()];
    for (k, v) in flags {
        args.push(k);
        args.push(v);
    }
    args
}

/// The report names `field` (as the form field `family_kana` or the flag `family-kana`), and
/// only that field.
fn assert_names_only(out: &Out, field: &str, what: &str) {
    let fields = out.error_fields();
    assert!(!fields.is_empty(), "{what}: no `field: message` line in stderr: {}", out.stderr);
    let dashed = field.replace('_', "-");
    for (f, m) in &fields {
        assert!(f == field || *f == dashed, "{what}: expected only {field}, got {f}: {m}\nstderr: {}", out.stderr);
        assert!(!m.trim().is_empty(), "{what}: empty message for {f}");
    }
}

// ---------------------------------------------------------------------------------------------
// migrate, realm create / set / show
// ---------------------------------------------------------------------------------------------

both_backends!(
    /// `migrate` applies the migrations once; `realm create` then `realm set
    /// password.min_length=12` shows up in `realm show`.
    migrate_realm_create_set_and_show,
    |db: &TestDb| {
        let k = Kenpo::new(db);
        let first = k.run(&["migrate"]).ok("migrate");
        assert!(first.stdout.contains("migration(s) applied"), "{}", first.stdout);
        let second = k.run(&["migrate"]).ok("migrate again");
        assert!(second.stdout.starts_with("0 migration(s)"), "second migrate applied something: {}", second.stdout);
        let created = k.run(&["realm", "create", "kenpo1", "--display-name", "〇〇健保加入者ページ"]).ok("realm create");
        assert!(created.stdout.contains("kenpo1"), "{}", created.stdout);
        let shown = k.show("kenpo1");
        assert!(shown.lines().any(|l| l == "display_name=〇〇健保加入者ページ"), "{shown}");
        assert!(shown.lines().any(|l| l == "password.min_length=8"), "default missing: {shown}");
        assert!(shown.lines().any(|l| l == "brute_force.max_failures=10"), "default missing: {shown}");

        k.run(&["realm", "set", "kenpo1", "password.min_length=12"]).ok("realm set");
        let shown = k.show("kenpo1");
        assert!(shown.lines().any(|l| l == "password.min_length=12"), "{shown}");
        assert!(!shown.lines().any(|l| l == "password.min_length=8"), "{shown}");

        k.run(&["realm", "create", "kenpo1"]).failed("creating the same realm twice");
        k.run(&["realm", "show", "nosuchrealm"]).failed("showing an unknown realm");
    }
);

both_backends!(
    /// An unknown key, a value of the wrong type or breaking a rule, and a mix of a good and a
    /// bad assignment: all refused, naming the key, and `realm show` is unchanged.
    realm_set_refuses_bad_assignments_and_changes_nothing,
    |db: &TestDb| {
        let k = Kenpo::new(db);
        k.realm("kenpo1");
        let before = k.show("kenpo1");
        let cases: &[(&[&str], &str)] = &[
            (&["password.nope=1"], "password.nope"),
            (&["no_such_section.key=1"], "no_such_section.key"),
            (&["password.min_length=abc"], "password.min_length"),
            (&["password.min_length=100"], "password.min_length"),
            (&["brute_force.enabled=maybe"], "brute_force.enabled"),
            (&["session.idle_minutes=0"], "session.idle_minutes"),
            (&["tokens.default_signing_alg=HS256"], "tokens.default_signing_alg"),
            (&["session.idle_minutes=45", "brute_force.max_failures=-1"], "brute_force.max_failures"),
            (&["password.min_length"], "password.min_length"),
        ];
        for (assignments, key) in cases {
            let mut args = vec!["realm", "set", "kenpo1"];
            args.extend_from_slice(assignments);
            let out = k.run(&args).failed(&format!("realm set {assignments:?}"));
            assert!(out.stderr.contains(key), "realm set {assignments:?}: the message does not name {key}: {}", out.stderr);
            assert_eq!(k.show("kenpo1"), before, "realm set {assignments:?} changed the realm");
        }
    }
);

// ---------------------------------------------------------------------------------------------
// client create
// ---------------------------------------------------------------------------------------------

#[test]
fn client_create_refuses_http_redirect_uri_outside_localhost() {
    let db = TestDb::sqlite();
    let k = Kenpo::new(&db);
    k.realm("kenpo1");
    let secret = "0123456789abcdef0123456789abcdef";
    let client = |id: &str, uri: &str| {
        k.run(&["client", "create", "--realm", "kenpo1", "--client-id", id, "--redirect-uri", uri, "--secret", secret])
    };
    for uri in
        ["http://portal.example.jp/callback", "http://10.0.0.5/cb", "https://portal.example.jp/cb#frag", "portal/cb"]
    {
        let out = client("portal", uri).failed(&format!("client create --redirect-uri {uri}"));
        assert!(out.stderr.contains("redirect-uri"), "{uri}: the message does not name redirect-uri: {}", out.stderr);
    }
    // Nothing was written: the same client ID is still free.
    client("portal", "https://portal.example.jp/callback").ok("client create with https");
    client("dev", "http://localhost:3000/callback").ok("client create with http on localhost");
    client("dev2", "http://127.0.0.1:3000/callback").ok("client create with http on 127.0.0.1");
    client("portal", "https://portal.example.jp/other").failed("a duplicate client ID");
}

// ---------------------------------------------------------------------------------------------
// user create
// ---------------------------------------------------------------------------------------------

both_backends!(
    /// A member with every field: the user ID is stored lowercased, the full-width birthdate
    /// and half-width kana are normalised, the e-mail compares case-insensitively.
    user_create_happy_path,
    |db: &TestDb| {
        let k = Kenpo::new(db);
        k.realm("kenpo1");
        let out = k
            .run(&user_args(
                "kenpo1",
                "TARO.KENPO1",
                "Taro.Kenpo@Example.JP",
                &[("--birthdate", "１９７９０８２２"), ("--family-kana", "ｹﾝﾎﾟ"), ("--insurer-number", "０６１３９９９９")],
            ))
            .ok("user create");
        assert!(out.stdout.contains("taro.kenpo1"), "{}", out.stdout);
        let u = k.find_user("kenpo1", "taro.kenpo1").expect("the member exists, lowercased");
        assert_eq!(u.birthdate.as_deref(), Some("1979-08-22"));
        assert_eq!(u.family_kana.as_deref(), Some("ケンポ"));
        assert_eq!(u.given_kana.as_deref(), Some("タロウ"));
        assert_eq!(u.insurer_number.as_deref(), Some("06139999"));
        assert_eq!(u.email.as_deref().map(str::to_lowercase).as_deref(), Some("taro.kenpo@example.jp"));
        assert!(u.is_active());
        let hash = u.password_hash.expect("a password hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("Correct-Horse-42"));
        assert!(k.find_user("kenpo1", "TARO.KENPO1").is_none(), "stored as typed instead of lowercased");
    }
);

/// One invalid field at a time: refused with a message naming that field, nothing written
/// (the member cannot be found, and creating it with valid data afterwards works).
#[test]
fn user_create_refuses_each_invalid_field_and_writes_nothing() {
    let db = TestDb::sqlite();
    let k = Kenpo::new(&db);
    k.realm("kenpo1");
    let long_email = format!("{}@{}.{}.{}.jp", "a".repeat(64), "b".repeat(63), "c".repeat(63), "d".repeat(60));
    assert_eq!(long_email.chars().count(), 256);
    /// (case, user ID typed, user ID as stored when valid, flag overrides, field named)
    type Case<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, String)>, &'a str);
    let cases: Vec<Case> = vec![
        ("user ID of 7 characters", "abcdefg", "abcdefg", vec![], "username"),
        ("full-width user ID", "ＡＢＣ12345", "abc12345", vec![], "username"),
        ("password of 7 characters", "member0001", "member0001", vec![("--password", "Xk7#qLm".into())], "password"),
        (
            "password containing the user ID",
            "member0002",
            "member0002",
            vec![("--password", "Xk7member0002#q".into())],
            "password",
        ),
        ("e-mail with a dot before @", "member0003", "member0003", vec![("--email", "a.@b.jp".into())], "email"),
        ("e-mail of 256 characters", "member0004", "member0004", vec![("--email", long_email.clone())], "email"),
        ("birthdate 19790230", "member0005", "member0005", vec![("--birthdate", "19790230".into())], "birthdate"),
        ("kana in hiragana", "member0006", "member0006", vec![("--family-kana", "けんぽ".into())], "family_kana"),
        (
            "insurer number of 7 digits",
            "member0007",
            "member0007",
            vec![("--insurer-number", "0613999".into())],
            "insurer_number",
        ),
    ];
    for (i, (case, typed, stored, overrides, field)) in cases.iter().enumerate() {
        let email = format!("case{i}@example.jp");
        let ov: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = k.run(&user_args("kenpo1", typed, &email, &ov)).failed(case);
        assert_names_only(&out, field, case);
        assert!(k.find_user("kenpo1", stored).is_none(), "{case}: the member was written");
        assert!(k.find_user("kenpo1", typed).is_none(), "{case}: the member was written as typed");
        // Nothing half-written: the same user ID (when valid) and e-mail are still free.
        let valid_id = if *field == "username" { format!("valid{i:05}") } else { stored.to_string() };
        k.run(&user_args("kenpo1", &valid_id, &email, &[])).ok(&format!("{case}: then with valid data"));
        assert!(k.find_user("kenpo1", &valid_id).is_some(), "{case}: valid member missing");
    }
}

#[test]
fn user_create_accepts_a_full_width_birthdate() {
    let db = TestDb::sqlite();
    let k = Kenpo::new(&db);
    k.realm("kenpo1");
    k.run(&user_args("kenpo1", "member0100", "m100@example.jp", &[("--birthdate", "１９７９０８２２")]))
        .ok("full-width birthdate");
    let u = k.find_user("kenpo1", "member0100").expect("member");
    assert_eq!(u.birthdate.as_deref(), Some("1979-08-22"));
}

both_backends!(
    /// A second member with the same user ID (in any case) or the same e-mail (in any case)
    /// is refused, naming the field, and the first member is unchanged.
    user_create_refuses_duplicate_username_and_email,
    |db: &TestDb| {
        let k = Kenpo::new(db);
        k.realm("kenpo1");
        k.run(&user_args("kenpo1", "member0001", "Taro@Example.jp", &[])).ok("first member");
        let first = k.find_user("kenpo1", "member0001").expect("first member");

        let out = k.run(&user_args("kenpo1", "MEMBER0001", "other@example.jp", &[])).failed("duplicate user ID");
        assert_names_only(&out, "username", "duplicate user ID");
        assert!(k.find_user("kenpo1", "member0001").is_some_and(|u| u.id == first.id && u.email == first.email));

        for email in ["Taro@Example.jp", "taro@example.jp", "TARO@EXAMPLE.JP"] {
            let out = k.run(&user_args("kenpo1", "member0002", email, &[])).failed(&format!("duplicate e-mail {email}"));
            assert_names_only(&out, "email", &format!("duplicate e-mail {email}"));
            assert!(k.find_user("kenpo1", "member0002").is_none(), "{email}: second member written");
        }
        k.run(&user_args("kenpo1", "member0002", "hanako@example.jp", &[])).ok("second member, own e-mail");
    }
);

// ---------------------------------------------------------------------------------------------
// start
// ---------------------------------------------------------------------------------------------

/// `start` with the development defaults refuses to run and lists every problem at once.
#[test]
fn start_without_production_settings_refuses_and_lists_the_problems() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run_raw(dir.path(), &["start".to_string()], &[]).failed("start with dev defaults");
    for needle in ["public_url", "https", "master_key", "database.url"] {
        assert!(out.stderr.contains(needle), "the problems do not mention {needle}: {}", out.stderr);
    }
    assert!(!dir.path().join("data").exists(), "start created the dev database although it refused to run");

    // Fixing one problem removes it from the list; the others are still reported.
    let out = run_raw(
        dir.path(),
        &["start".to_string(), "--public-url".to_string(), "https://id.example.jp".to_string()],
        &[],
    )
    .failed("start with an https public URL only");
    assert!(!out.stderr.contains("public_url"), "public_url reported although it is https: {}", out.stderr);
    assert!(out.stderr.contains("master_key") && out.stderr.contains("database.url"), "{}", out.stderr);
}

/// STYLE §8: unknown `KENPO_*` variables get a warning; they must not stop the IdP (a
/// deployment's environment often carries variables for other tools, e.g. the test runner's
/// `KENPO_TEST_PG`).
#[test]
fn unknown_kenpo_environment_variable_does_not_stop_the_cli() {
    let db = TestDb::sqlite();
    let args = vec!["--db".to_string(), db.url.clone(), "migrate".to_string()];
    let out = run_raw(db.dir(), &args, &[("KENPO_TEST_PG", "postgres://elsewhere/db")]);
    assert_eq!(
        out.code,
        Some(0),
        "an unknown KENPO_ variable made `migrate` fail (STYLE §8 asks for a warning):\n{}",
        out.stderr
    );
}

/// Every command against PostgreSQL exits by itself with its exit code, never by a signal.
/// (A one-shot command that leaves the pool's background threads connecting while the process
/// exits races libpq/OpenSSL against the exit handlers: SIGSEGV after the work was done, so a
/// script sees a failure for a change that was made.) Many runs, because the race is rare.
#[test]
fn postgres_commands_exit_cleanly_and_never_by_a_signal() {
    let Some(db) = TestDb::postgres_or_skip() else { return };
    let k = Kenpo::new(&db);
    k.realm("kenpo1");
    let mut crashes = Vec::new();
    for i in 0..200 {
        let out = k.run(&["realm", "show", "kenpo1"]);
        if out.code != Some(0) {
            crashes.push(format!(
                "run {i}: code {:?}, signal {:?}, stderr {}",
                out.code,
                out.signal,
                out.stderr.trim()
            ));
        }
    }
    assert!(
        crashes.is_empty(),
        "{} of 200 `realm show` runs on PostgreSQL failed:\n{}",
        crashes.len(),
        crashes.join("\n")
    );
}

#[test]
fn terms_are_published_from_a_file_and_required_actions_set_by_name() {
    let db = TestDb::sqlite();
    let k = Kenpo::new(&db);
    k.realm("kenpo1");
    let terms = db.dir().join("terms.txt");
    std::fs::write(&terms, "第1条（目的）\n本規約は…").expect("write terms");
    let out = k.run(&["realm", "publish-terms", "kenpo1", "--file", terms.to_str().expect("path")]).ok("publish");
    assert!(out.stdout.contains("version 1"), "{}", out.stdout);
    let out = k.run(&["realm", "publish-terms", "kenpo1", "--file", terms.to_str().expect("path")]).ok("publish again");
    assert!(out.stdout.contains("version 2"), "{}", out.stdout);
    // Not a file, not UTF-8, empty: refused, nothing published.
    let missing =
        k.run(&["realm", "publish-terms", "kenpo1", "--file", "/nonexistent/terms.txt"]).failed("missing file");
    assert!(missing.stderr.contains("file"), "{}", missing.stderr);
    let binary = db.dir().join("terms.bin");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).expect("write");
    k.run(&["realm", "publish-terms", "kenpo1", "--file", binary.to_str().expect("path")]).failed("non-UTF-8");
    let empty = db.dir().join("empty.txt");
    std::fs::write(&empty, "  \n").expect("write");
    k.run(&["realm", "publish-terms", "kenpo1", "--file", empty.to_str().expect("path")]).failed("empty");
    let st = store::open(&db.url).expect("open");
    let current = st
        .run_sync(|c| {
            let r = store::realms::find_by_name(c, "kenpo1")?.expect("realm");
            store::terms::current(c, &r.id)
        })
        .expect("query")
        .expect("terms");
    assert_eq!(current.version, 2);

    k.run(&user_args("kenpo1", "member0200", "m200@example.jp", &[])).ok("user");
    k.run(&["user", "require-action", "--realm", "kenpo1", "--username", "MEMBER0200", "verify_email"]).ok("require");
    let unknown = k
        .run(&["user", "require-action", "--realm", "kenpo1", "--username", "member0200", "FLY"])
        .failed("unknown action");
    assert!(unknown.stderr.contains("action"), "{}", unknown.stderr);
    k.run(&["user", "require-action", "--realm", "kenpo1", "--username", "nobody0001", "VERIFY_EMAIL"])
        .failed("unknown user");
    let u = k.find_user("kenpo1", "member0200").expect("member");
    assert_eq!(u.required_actions().expect("actions"), vec!["VERIFY_EMAIL".to_string()]);
}

both_backends!(
    /// Union IT lists a member's second factors and resets them (a lost phone): devices and
    /// recovery codes are gone, the second-factor lockout is cleared, the reset is audited.
    user_factors_are_listed_and_reset,
    |db: &TestDb| {
        let k = Kenpo::new(db);
        k.realm("kenpo1");
        k.run(&user_args("kenpo1", "member0300", "m300@example.jp", &[])).ok("user");
        let u = k.find_user("kenpo1", "member0300").expect("member");
        let st = store::open(&db.url).expect("open");
        let now = store::now();
        st.run_sync(|c| {
            for (kind, label) in [("otp", "仕事用スマホ"), ("webauthn", "パスキー")] {
                store::factors::insert_credential(
                    c,
                    &store::factors::CredentialRow {
                        id: store::new_id(),
                        realm_id: u.realm_id.clone(),
                        user_id: u.id.clone(),
                        kind: kind.into(),
                        label: label.into(),
                        secret_enc: None,
                        data: "{}".into(),
                        credential_key: (kind == "webauthn").then(|| "AAEC".to_string()),
                        last_used_step: None,
                        created_at: now,
                        last_used_at: None,
                    },
                )?;
            }
            store::factors::replace_recovery_codes(c, &u.id, &["h1".into(), "h2".into()], now)
        })
        .expect("seed factors");
        let list = k.run(&["user", "factors", "--realm", "kenpo1", "--username", "MEMBER0300"]).ok("factors");
        assert!(list.stdout.contains("otp\t仕事用スマホ"), "{}", list.stdout);
        assert!(list.stdout.contains("webauthn\tパスキー"), "{}", list.stdout);
        assert!(list.stdout.contains("recovery codes left: 2"), "{}", list.stdout);
        k.run(&["user", "reset-mfa", "--realm", "kenpo1", "--username", "nobody0001"]).failed("unknown user");
        let out = k.run(&["user", "reset-mfa", "--realm", "kenpo1", "--username", "member0300"]).ok("reset");
        assert!(out.stdout.contains("2 second factor(s)"), "{}", out.stdout);
        let (left, codes, audited) = st
            .run_sync(|c| {
                let audited = store::audit::kinds_for_user(c, &u.id)?.iter().filter(|k| *k == "second_factors_reset").count();
                Ok((store::factors::for_user(c, &u.id)?.len(), store::factors::unused_recovery_codes(c, &u.id)?, audited))
            })
            .expect("query");
        assert_eq!((left, codes, audited), (0, 0, 1));
    }
);
