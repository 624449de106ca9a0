//! Required actions after the password (SPEC §4): update password and verify e-mail, with mail
//! caught by a real SMTP server on localhost.

use kenpo_e2e::browser::Page;
use kenpo_e2e::smtp::SmtpSink;
use kenpo_e2e::{Browser, Fixture, TestIdp, dual_backend_test};
use kenpo_idp::admin;
use kenpo_shared::secret::Secret;

fn with_smtp(port: u16) -> impl FnOnce(&mut kenpo_idp::config::IdpConfig) {
    move |c| {
        c.mail.smtp_host = "127.0.0.1".into();
        c.mail.smtp_port = port;
        c.mail.smtp_tls = "none".into();
        c.mail.from = "no-reply@kenpo.test".into();
    }
}

fn authorize_url(idp: &TestIdp, f: &Fixture) -> String {
    let mut u = url::Url::parse(&format!("{}/protocol/openid-connect/auth", idp.issuer(&f.realm))).expect("url");
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &f.client_id)
        .append_pair("redirect_uri", &f.redirect_uri)
        .append_pair("scope", "openid")
        .append_pair("state", "st");
    u.to_string()
}

async fn login(idp: &TestIdp, f: &Fixture, browser: &Browser, username: &str, password: &str) -> Page {
    let page = browser.follow(browser.get(&authorize_url(idp, f)).await, &idp.base_url).await;
    let after = browser.submit_login(&page, username, password, &[]).await;
    browser.follow(after, &idp.base_url).await
}

/// Fills the current page's first form, replacing/adding the given fields.
async fn submit(browser: &Browser, idp: &TestIdp, page: &Page, fields: &[(&str, &str)]) -> Page {
    let (action, existing) = page.form().expect("form on page");
    let mut data: Vec<(String, String)> =
        existing.into_iter().filter(|(k, _)| !fields.iter().any(|(f, _)| f == k)).collect();
    data.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    browser.follow(browser.post_form(&action, &data).await, &idp.base_url).await
}

fn temporary_member(idp: &TestIdp, f: &Fixture, username: &str, password: &str, email: &str) {
    admin::users::create(
        &idp.state.store,
        &idp.state.pages,
        admin::users::NewUser {
            realm: f.realm.clone(),
            username: username.into(),
            password: Secret::new(password),
            temporary: true,
            email: Some(email.into()),
            email_verified: true,
            ..Default::default()
        },
    )
    .expect("member");
    // These tests are about the password and e-mail steps only.
    only_actions(idp, f, username, &["UPDATE_PASSWORD"]);
}

fn only_actions(idp: &TestIdp, f: &Fixture, username: &str, actions: &[&str]) {
    let list: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
    idp.state
        .store
        .run_sync(|c| {
            let realm = kenpo_idp::store::realms::find_by_name(c, &f.realm)?.expect("realm");
            let user = kenpo_idp::store::users::find_by_username(c, &realm.id, username)?.expect("user");
            kenpo_idp::store::users::set_required_actions(c, &user.id, &list)
        })
        .expect("set actions");
}

dual_backend_test!(temporary_password_must_be_changed_before_the_client_gets_a_code, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    temporary_member(&idp, &f, "newbie001", "Temp-Pass-123", "newbie@example.jp");
    // A second browser already signed in as the member (the union's kiosk, say).
    let other = Browser::new();
    let b = Browser::new();
    let page = login(&idp, &f, &b, "newbie001", "Temp-Pass-123").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("パスワードの更新"), "{}", page.body);
    assert!(page.body.contains("全てのデバイスからサインアウトする"));
    assert!(page.location.is_none());

    let mismatch =
        submit(&b, &idp, &page, &[("password-new", "Brand-New-Pass-9"), ("password-confirm", "Brand-New-Pass-8")])
            .await;
    assert!(mismatch.body.contains("class=\"alert\""), "{}", mismatch.body);
    let same =
        submit(&b, &idp, &mismatch, &[("password-new", "Temp-Pass-123"), ("password-confirm", "Temp-Pass-123")]).await;
    assert!(same.body.contains("class=\"alert\""));
    let short = submit(&b, &idp, &same, &[("password-new", "short"), ("password-confirm", "short")]).await;
    assert!(short.body.contains("class=\"alert\""));
    assert!(short.query_param("code").is_none());

    let done =
        submit(&b, &idp, &short, &[("password-new", "Brand-New-Pass-9"), ("password-confirm", "Brand-New-Pass-9")])
            .await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert!(done.query_param("code").is_some());

    // The new password works, the temporary one does not, and nothing is asked again.
    let again = login(&idp, &f, &other, "newbie001", "Brand-New-Pass-9").await;
    assert!(again.query_param("code").is_some(), "{}", again.body);
    let old = login(&idp, &f, &Browser::new(), "newbie001", "Temp-Pass-123").await;
    assert!(old.body.contains("無効なユーザIDまたはパスワードです。"));
});

dual_backend_test!(sign_out_everywhere_ends_other_sessions, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let first = Browser::new();
    assert!(login(&idp, &f, &first, &f.username, &f.password).await.query_param("code").is_some());
    admin::users::require_action(&idp.state.store, &f.realm, &f.username, "UPDATE_PASSWORD").expect("require");
    let second = Browser::new();
    let page = login(&idp, &f, &second, &f.username, &f.password).await;
    let done = submit(
        &second,
        &idp,
        &page,
        &[("password-new", "Another-Pass-77"), ("password-confirm", "Another-Pass-77"), ("logout-sessions", "on")],
    )
    .await;
    assert!(done.query_param("code").is_some());
    // The first browser's SSO session is gone: prompt=none now fails with login_required.
    let silent = first.get(&format!("{}&prompt=none", authorize_url(&idp, &f))).await;
    assert_eq!(silent.query_param("error").as_deref(), Some("login_required"));
});

dual_backend_test!(verify_email_step_with_all_messages_and_single_use_link, |db| async move {
    let sink = SmtpSink::start().await;
    let idp = TestIdp::start_with(&db, with_smtp(sink.addr.port()));
    let f = idp.seed();
    idp.add_member(&f, "taken0001", "Other-Pass-42", Some("taken@example.jp"));
    admin::users::require_action(&idp.state.store, &f.realm, &f.username, "VERIFY_EMAIL").expect("require");
    let b = Browser::new();
    let page = login(&idp, &f, &b, &f.username, &f.password).await;
    assert!(page.body.contains("メールアドレスの更新"), "{}", page.body);

    let empty = submit(&b, &idp, &page, &[("email", ""), ("op", "send")]).await;
    assert!(empty.body.contains("メールアドレスを入力してください。"));
    let taken = submit(&b, &idp, &empty, &[("email", "TAKEN@example.jp"), ("op", "send")]).await;
    assert!(
        taken.body.contains("他のアカウントで設定されているメールアドレスです。別のメールアドレスを入力してください。")
    );
    let invalid = submit(&b, &idp, &taken, &[("email", "a.@example.jp"), ("op", "send")]).await;
    assert!(invalid.body.contains("無効なメールアドレスです。入力したメールアドレスに誤りがないかご確認ください。"));
    let long = format!(
        "{}@{}.example.jp",
        "a".repeat(60),
        ["b".repeat(60), "c".repeat(60), "d".repeat(60), "e".repeat(60)].join(".")
    );
    assert!(long.len() >= 256);
    let too_long = submit(&b, &idp, &invalid, &[("email", &long), ("op", "send")]).await;
    assert!(too_long.body.contains("設定可能なメールアドレスの最大文字数は255文字です。"));
    assert!(too_long.body.contains("無効なメールアドレスです。"));
    assert!(sink.received().is_empty(), "no mail for invalid input");

    let sent = submit(&b, &idp, &too_long, &[("email", "new-address@example.jp"), ("op", "send")]).await;
    assert!(sent.body.contains("確認メールを送信しました"), "{}", sent.body);
    let early = submit(&b, &idp, &sent, &[("op", "continue")]).await;
    assert!(early.body.contains("まだ完了していません"));
    assert!(early.query_param("code").is_none());

    let mails = sink.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["new-address@example.jp".to_string()]);
    assert!(mails[0].subject().contains("メールアドレスの確認"), "{}", mails[0].subject());
    let link = mails[0].link().expect("link in mail");
    // The link works in any browser (the member may open it on the phone's mail app).
    let clicked = Browser::new().get(&link).await;
    assert_eq!(clicked.status, 200, "{}", clicked.body);
    assert!(clicked.body.contains("メールアドレスを確認しました"));
    let twice = Browser::new().get(&link).await;
    assert_eq!(twice.status, 400);
    assert!(twice.body.contains("このリンクは無効です"));

    let done = submit(&b, &idp, &early, &[("op", "continue")]).await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert!(done.query_param("code").is_some());
});

dual_backend_test!(smtp_down_delays_mail_but_the_member_goes_on, |db| async move {
    let port = SmtpSink::dead_port();
    let idp = TestIdp::start_with(&db, with_smtp(port));
    let f = idp.seed();
    admin::users::require_action(&idp.state.store, &f.realm, &f.username, "VERIFY_EMAIL").expect("require");
    let b = Browser::new();
    let page = login(&idp, &f, &b, &f.username, &f.password).await;
    let sent = submit(&b, &idp, &page, &[("email", "later@example.jp"), ("op", "send")]).await;
    assert_eq!(sent.status, 200);
    assert!(sent.body.contains("確認メールを送信しました"), "{}", sent.body);
    // The change is stored, the mail waits in the outbox.
    let user = idp.state.store.run_sync(|c| {
        let realm = kenpo_idp::store::realms::find_by_name(c, &f.realm)?.expect("realm");
        kenpo_idp::store::users::find_by_username(c, &realm.id, &f.username)
    });
    assert_eq!(user.ok().flatten().and_then(|u| u.email).as_deref(), Some("later@example.jp"));
    let queued = idp.state.store.run_sync(|c| kenpo_idp::store::mail::recent(c, 10)).expect("outbox");
    assert_eq!(queued.len(), 1);
    assert!(queued[0].sent_at.is_none());
    // SMTP comes back: the sender's retry delivers it (the first retry is due within seconds).
    let sink = SmtpSink::start_on(port).await;
    for _ in 0..100 {
        kenpo_idp::mail::sender::deliver_due(&idp.state).await.ok();
        if !sink.received().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mails = sink.received();
    assert_eq!(mails.len(), 1, "the queued mail was delivered once SMTP was back");
    assert_eq!(mails[0].to, vec!["later@example.jp".to_string()]);
});

dual_backend_test!(steps_resume_and_cannot_be_skipped, |db| async move {
    let sink = SmtpSink::start().await;
    let idp = TestIdp::start_with(&db, with_smtp(sink.addr.port()));
    let f = idp.seed();
    temporary_member(&idp, &f, "resume0001", "Temp-Pass-456", "resume@example.jp");
    admin::users::require_action(&idp.state.store, &f.realm, "resume0001", "VERIFY_EMAIL").expect("require");
    let b = Browser::new();
    let page = login(&idp, &f, &b, "resume0001", "Temp-Pass-456").await;
    assert!(page.body.contains("パスワードの更新"));
    // A forged e-mail-step form while the flow is on the password step changes nothing.
    let (action, fields) = page.form().expect("form");
    let mut forged: Vec<(String, String)> = fields.into_iter().filter(|(k, _)| k == "csrf").collect();
    forged.push(("op".into(), "continue".into()));
    let r = b.follow(b.post_form(&action, &forged).await, &idp.base_url).await;
    assert!(r.query_param("code").is_none());
    assert!(r.body.contains("パスワードの更新"), "{}", r.body);

    let next =
        submit(&b, &idp, &page, &[("password-new", "Resumed-Pass-31"), ("password-confirm", "Resumed-Pass-31")]).await;
    assert!(next.body.contains("メールアドレスの更新"), "{}", next.body);
    // The member closes the browser here. Next login: the password step is not asked again.
    let fresh = Browser::new();
    let resumed = login(&idp, &f, &fresh, "resume0001", "Resumed-Pass-31").await;
    assert!(resumed.body.contains("メールアドレスの更新"), "{}", resumed.body);
    assert!(!resumed.body.contains("パスワードの更新"));
    // Replaying the old password form from the first browser does not move anything.
    let replay = b.post_form(&action, &[("csrf".into(), String::new()), ("password-new".into(), "X".into())]).await;
    assert!(replay.query_param("code").is_none());
});

/// The Base32 secret shown under 「スキャンできませんか？」.
fn totp_secret_on(page: &Page) -> String {
    let start =
        page.body.find("id=\"otp-secret\">").expect("secret on the enrolment page") + "id=\"otp-secret\">".len();
    let end = page.body[start..].find('<').expect("end of secret") + start;
    page.body[start..end].replace(' ', "")
}

/// The app's code `steps_ahead` time steps from now (SHA1, 6 digits, 30 s).
fn totp_code(base32: &str, steps_ahead: u64) -> String {
    use kenpo_idp::mfa::totp::{TotpPolicy, TotpSecret, code_at};
    let secret = TotpSecret::from_base32(base32).expect("base32 secret");
    let now = u64::try_from(chrono::Utc::now().timestamp()).expect("time");
    code_at(&secret, &TotpPolicy::default(), now + 30 * steps_ahead).expect("code")
}

fn publish_terms(idp: &TestIdp, f: &Fixture, body: &str) -> i32 {
    admin::realms::publish_terms(&idp.state.store, &f.realm, body).expect("terms")
}

dual_backend_test!(first_login_walks_every_step_in_the_spec_order, |db| async move {
    let sink = SmtpSink::start().await;
    let idp = TestIdp::start_with(&db, with_smtp(sink.addr.port()));
    let f = idp.seed();
    publish_terms(&idp, &f, "第1条（目的）\n本規約は<テスト>健保組合の加入者ページの利用条件を定めます。");
    idp.add_member(&f, "takenid01", "Other-Pass-42", Some("other@example.jp"));
    admin::users::create(
        &idp.state.store,
        &idp.state.pages,
        admin::users::NewUser {
            realm: f.realm.clone(),
            username: "tmp-000123".into(),
            password: Secret::new("Union-Issued-77"),
            temporary: true,
            email: Some("first@example.jp".into()),
            email_verified: true,
            birthdate: Some("19790822".into()),
            ..Default::default()
        },
    )
    .expect("member");
    let b = Browser::new();
    let page = login(&idp, &f, &b, "tmp-000123", "Union-Issued-77").await;
    // 1. Birthdate: a wrong one is refused, full-width digits are accepted.
    assert!(page.body.contains("生年月日の入力"), "{}", page.body);
    let wrong = submit(&b, &idp, &page, &[("birthdate", "19800101")]).await;
    assert!(wrong.body.contains("生年月日が正しくありません。"), "{}", wrong.body);
    let format = submit(&b, &idp, &wrong, &[("birthdate", "1979-08")]).await;
    assert!(format.body.contains("class=\"alert\""));
    let terms = submit(&b, &idp, &format, &[("birthdate", "１９７９０８２２")]).await;
    // 2. Terms of use, shown escaped.
    assert!(terms.body.contains("利用規約"), "{}", terms.body);
    assert!(terms.body.contains("&lt;テスト&gt;"), "terms text must be escaped");
    let choose = submit(&b, &idp, &terms, &[("answer", "agree")]).await;
    // 3. User ID change and method choice: rules and uniqueness, then a new ID.
    assert!(choose.body.contains("ユーザIDの変更・認証方法の設定"), "{}", choose.body);
    assert!(choose.body.contains("生体認証") && choose.body.contains("OTP認証"));
    let short = submit(&b, &idp, &choose, &[("user_id", "short7x"), ("method", "otp")]).await;
    assert!(short.body.contains("class=\"alert\""));
    let taken = submit(&b, &idp, &short, &[("user_id", "TAKENID01"), ("method", "otp")]).await;
    assert!(taken.body.contains("class=\"alert\""), "{}", taken.body);
    let no_method = submit(&b, &idp, &taken, &[("user_id", "taro.k-2026"), ("method", "carrier-pigeon")]).await;
    assert!(no_method.body.contains("認証方式を選択してください。"));
    let password = submit(&b, &idp, &no_method, &[("user_id", "Taro.K-2026"), ("method", "otp")]).await;
    // 4. New password.
    assert!(password.body.contains("パスワードの更新"), "{}", password.body);
    let email = submit(
        &b,
        &idp,
        &password,
        &[("password-new", "Own-Choice-Pass-5"), ("password-confirm", "Own-Choice-Pass-5")],
    )
    .await;
    // 5. E-mail: the member changes it; the link arrives by SMTP and is clicked on the phone.
    assert!(email.body.contains("メールアドレスの更新"), "{}", email.body);
    assert!(email.body.contains("first@example.jp"), "the address on record is shown");
    let sent = submit(&b, &idp, &email, &[("email", "taro.phone@example.jp"), ("op", "send")]).await;
    assert!(sent.body.contains("確認メールを送信しました"), "{}", sent.body);
    let mails = sink.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["taro.phone@example.jp".to_string()]);
    let clicked = Browser::new().get(&mails[0].link().expect("link")).await;
    assert_eq!(clicked.status, 200, "{}", clicked.body);
    // 6. The chosen method is enrolled last: the authenticator app.
    let enrol = submit(&b, &idp, &sent, &[("op", "continue")]).await;
    assert!(enrol.body.contains("ワンタイムパスワードの設定"), "{}", enrol.body);
    let secret = totp_secret_on(&enrol);
    let done = submit(&b, &idp, &enrol, &[("totp", &totp_code(&secret, 0)), ("userLabel", "私のスマホ")]).await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert!(done.query_param("code").is_some());

    // Nothing is asked again but the second factor; the new user ID (typed in capitals),
    // password and app work. (The next step's code: the enrolment used this step's.)
    let b2 = Browser::new();
    let again = login(&idp, &f, &b2, "TARO.K-2026", "Own-Choice-Pass-5").await;
    assert!(again.body.contains("ワンタイムパスワードの入力"), "{}", again.body);
    let again = submit(&b2, &idp, &again, &[("otp", &totp_code(&secret, 1))]).await;
    assert!(again.query_param("code").is_some(), "{}", again.body);
    let user = idp.state.store.run_sync(|c| {
        let realm = kenpo_idp::store::realms::find_by_name(c, &f.realm)?.expect("realm");
        kenpo_idp::store::users::find_by_username(c, &realm.id, "taro.k-2026")
    });
    let user = user.ok().flatten().expect("renamed member");
    assert_eq!(user.mfa_choice.as_deref(), Some("otp"));
    assert!(!user.temporary_password);
    assert_eq!(user.email.as_deref(), Some("taro.phone@example.jp"));
    assert!(user.email_verified);
    assert_eq!(user.required_actions().expect("actions"), Vec::<String>::new());
});

dual_backend_test!(new_terms_version_is_asked_again_and_declining_denies_access, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    // No terms published: nothing to accept.
    assert!(login(&idp, &f, &Browser::new(), &f.username, &f.password).await.query_param("code").is_some());
    publish_terms(&idp, &f, "version 1");
    let first = login(&idp, &f, &Browser::new(), &f.username, &f.password).await;
    assert!(first.body.contains("version 1"));
    let ok = submit(&Browser::new(), &idp, &first, &[("answer", "agree")]).await;
    // (that POST came from another browser without the flow cookie: refused, nothing accepted)
    assert!(ok.query_param("code").is_none());
    let b = Browser::new();
    let page = login(&idp, &f, &b, &f.username, &f.password).await;
    let accepted = submit(&b, &idp, &page, &[("answer", "agree")]).await;
    assert!(accepted.query_param("code").is_some(), "{}", accepted.body);
    // Accepted once: not asked again.
    assert!(login(&idp, &f, &Browser::new(), &f.username, &f.password).await.query_param("code").is_some());

    // Version 2: the acceptance of version 1 does not count.
    publish_terms(&idp, &f, "version 2");
    let b = Browser::new();
    let page = login(&idp, &f, &b, &f.username, &f.password).await;
    assert!(page.body.contains("version 2"), "{}", page.body);
    // A form showing version 1 (published before) is not an acceptance of version 2.
    let stale = submit(&b, &idp, &page, &[("answer", "agree"), ("terms_version", "1")]).await;
    assert!(stale.query_param("code").is_none());
    assert!(stale.body.contains("利用規約が更新されました"), "{}", stale.body);
    let declined = submit(&b, &idp, &stale, &[("answer", "decline")]).await;
    assert_eq!(declined.status, 302, "{}", declined.body);
    assert_eq!(declined.query_param("error").as_deref(), Some("access_denied"));
    assert_eq!(declined.query_param("state").as_deref(), Some("st"));
    assert!(declined.query_param("code").is_none());
    // Declining created no session: prompt=none still needs a login.
    let silent = b.get(&format!("{}&prompt=none", authorize_url(&idp, &f))).await;
    assert_eq!(silent.query_param("error").as_deref(), Some("login_required"));
});

dual_backend_test!(wrong_birthdates_count_toward_the_lockout, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    admin::realms::set(&idp.state.store, &f.realm, &["brute_force.max_failures=3".to_string()]).expect("set");
    only_actions(&idp, &f, &f.username, &["VERIFY_BIRTHDATE"]);
    let b = Browser::new();
    let mut page = login(&idp, &f, &b, &f.username, &f.password).await;
    for _ in 0..2 {
        page = submit(&b, &idp, &page, &[("birthdate", "20000101")]).await;
        assert!(page.body.contains("生年月日が正しくありません。"), "{}", page.body);
    }
    let third = submit(&b, &idp, &page, &[("birthdate", "20000101")]).await;
    assert!(third.body.contains("アカウントがロックされました"), "{}", third.body);
    // While locked even the right birthdate is not checked, and the password login is locked too.
    let right = submit(&b, &idp, &third, &[("birthdate", "19790822")]).await;
    assert!(right.query_param("code").is_none());
    assert!(right.body.contains("アカウントがロックされました"));
    let relogin = login(&idp, &f, &Browser::new(), &f.username, &f.password).await;
    assert!(relogin.body.contains("アカウントがロックされました"), "{}", relogin.body);
});

dual_backend_test!(verification_link_expired_or_of_another_member_is_refused, |db| async move {
    let sink = SmtpSink::start().await;
    let idp = TestIdp::start_with(&db, with_smtp(sink.addr.port()));
    let f = idp.seed();
    idp.add_member(&f, "member02x", "Second-Pass-42", Some("second@example.jp"));
    only_actions(&idp, &f, &f.username, &["VERIFY_EMAIL"]);
    only_actions(&idp, &f, "member02x", &["VERIFY_EMAIL"]);
    let a = Browser::new();
    let page_a = login(&idp, &f, &a, &f.username, &f.password).await;
    let sent_a = submit(&a, &idp, &page_a, &[("email", "a.new@example.jp"), ("op", "send")]).await;
    assert!(sent_a.body.contains("確認メールを送信しました"));
    let link_a = sink.wait_for(1).await[0].link().expect("link");
    // Member B is in the middle of the same step in this browser: A's link is refused here.
    let b = Browser::new();
    let page_b = login(&idp, &f, &b, "member02x", "Second-Pass-42").await;
    assert!(page_b.body.contains("メールアドレスの更新"));
    let foreign = b.get(&link_a).await;
    assert_eq!(foreign.status, 400, "{}", foreign.body);
    assert!(foreign.body.contains("この端末でログイン手続き中の方のものではありません"), "{}", foreign.body);
    // The refusal changed nothing: the link still works where it belongs, once.
    let own = a.get(&link_a).await;
    assert_eq!(own.status, 200, "{}", own.body);

    // An expired link is refused and verifies nothing.
    let sent_b = submit(&b, &idp, &page_b, &[("email", "b.new@example.jp"), ("op", "send")]).await;
    assert!(sent_b.body.contains("確認メールを送信しました"));
    let link_b = sink.wait_for(2).await[1].link().expect("link");
    idp.state
        .store
        .run_sync(|c| {
            c.execute_raw("UPDATE email_verifications SET expires_at = '2000-01-01 00:00:00' WHERE used_at IS NULL")
        })
        .expect("expire");
    let expired = Browser::new().get(&link_b).await;
    assert_eq!(expired.status, 400);
    assert!(expired.body.contains("このリンクは無効です"));
    let still = submit(&b, &idp, &sent_b, &[("op", "continue")]).await;
    assert!(still.query_param("code").is_none());
    assert!(still.body.contains("まだ完了していません"), "{}", still.body);
    // A garbage key is refused the same way.
    let garbage = Browser::new().get(&format!("{}/login-actions/verify-email?key=nope", idp.issuer(&f.realm))).await;
    assert_eq!(garbage.status, 400);
});

dual_backend_test!(dev_mailbox_shows_mail_without_smtp, |db| async move {
    let idp = TestIdp::start_with(&db, |c| {
        c.dev = true;
        c.mail.dev_mailbox = true;
    });
    let f = idp.seed();
    only_actions(&idp, &f, &f.username, &["VERIFY_EMAIL"]);
    let b = Browser::new();
    let page = login(&idp, &f, &b, &f.username, &f.password).await;
    let sent = submit(&b, &idp, &page, &[("email", "dev.box@example.jp"), ("op", "send")]).await;
    assert!(sent.body.contains("確認メールを送信しました"));
    let mut mailbox = String::new();
    for _ in 0..100 {
        mailbox = b.get(&format!("{}/dev/mail", idp.base_url)).await.body;
        if mailbox.contains("dev.box@example.jp") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(mailbox.contains("dev.box@example.jp"), "{mailbox}");
    assert!(mailbox.contains("/login-actions/verify-email?key="), "the link is shown");
});

dual_backend_test!(dev_mailbox_is_absent_outside_dev_mode, |db| async move {
    let idp = TestIdp::start(&db);
    let r = Browser::new().get(&format!("{}/dev/mail", idp.base_url)).await;
    assert_eq!(r.status, 404);
});

// The member drops off after each step (closes the browser) and logs in again: they land on
// the next unfinished step; nothing done is asked again, nothing skipped counts as done.
dual_backend_test!(every_first_login_step_resumes_where_the_member_left_off, |db| async move {
    let sink = SmtpSink::start().await;
    let idp = TestIdp::start_with(&db, with_smtp(sink.addr.port()));
    let f = idp.seed();
    publish_terms(&idp, &f, "規約本文");
    admin::users::create(
        &idp.state.store,
        &idp.state.pages,
        admin::users::NewUser {
            realm: f.realm.clone(),
            username: "resume-all1".into(),
            password: Secret::new("Union-Issued-88"),
            temporary: true,
            email: Some("resume-all@example.jp".into()),
            email_verified: true,
            birthdate: Some("19790822".into()),
            ..Default::default()
        },
    )
    .expect("member");
    let mut password = "Union-Issued-88".to_string();
    let steps: [(&str, Vec<(&str, &str)>); 5] = [
        ("生年月日の入力", vec![("birthdate", "19790822")]),
        ("利用規約", vec![("answer", "agree")]),
        ("ユーザIDの変更・認証方法の設定", vec![("user_id", ""), ("method", "otp")]),
        ("パスワードの更新", vec![("password-new", "Changed-Pass-66"), ("password-confirm", "Changed-Pass-66")]),
        ("メールアドレスの更新", vec![("email", "resume-all@example.jp"), ("op", "send")]),
    ];
    for (i, (title, fields)) in steps.iter().enumerate() {
        let b = Browser::new();
        let page = login(&idp, &f, &b, "resume-all1", &password).await;
        assert!(page.body.contains(title), "step {i}: expected {title}:\n{}", page.body);
        for (earlier, _) in &steps[..i] {
            assert!(!page.body.contains(&format!("<h1>{earlier}</h1>")), "step {i}: {earlier} asked again");
        }
        let after = submit(&b, &idp, &page, fields).await;
        if title == &"パスワードの更新" {
            password = "Changed-Pass-66".into();
        }
        assert!(after.query_param("code").is_none(), "step {i} must not yield a code");
    }
    // 6. Enrolling the chosen app is the last step, resumed like the others.
    let b = Browser::new();
    let enrol = login(&idp, &f, &b, "resume-all1", &password).await;
    assert!(enrol.body.contains("ワンタイムパスワードの設定"), "{}", enrol.body);
    let secret = totp_secret_on(&enrol);
    let done = submit(&b, &idp, &enrol, &[("totp", &totp_code(&secret, 0)), ("userLabel", "phone")]).await;
    assert!(done.query_param("code").is_some(), "{}", done.body);
    let b = Browser::new();
    let factor = login(&idp, &f, &b, "resume-all1", &password).await;
    assert!(factor.body.contains("ワンタイムパスワードの入力"), "{}", factor.body);
    let done = submit(&b, &idp, &factor, &[("otp", &totp_code(&secret, 1))]).await;
    assert!(done.query_param("code").is_some(), "{}", done.body);
});
