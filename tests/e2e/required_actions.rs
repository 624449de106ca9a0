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
    let mut data: Vec<(String, String)> = existing.into_iter().filter(|(k, _)| !fields.iter().any(|(f, _)| f == k)).collect();
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

    let mismatch = submit(&b, &idp, &page, &[("password-new", "Brand-New-Pass-9"), ("password-confirm", "Brand-New-Pass-8")]).await;
    assert!(mismatch.body.contains("class=\"alert\""), "{}", mismatch.body);
    let same = submit(&b, &idp, &mismatch, &[("password-new", "Temp-Pass-123"), ("password-confirm", "Temp-Pass-123")]).await;
    assert!(same.body.contains("class=\"alert\""));
    let short = submit(&b, &idp, &same, &[("password-new", "short"), ("password-confirm", "short")]).await;
    assert!(short.body.contains("class=\"alert\""));
    assert!(short.query_param("code").is_none());

    let done = submit(&b, &idp, &short, &[("password-new", "Brand-New-Pass-9"), ("password-confirm", "Brand-New-Pass-9")]).await;
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
    let done = submit(&second, &idp, &page, &[("password-new", "Another-Pass-77"), ("password-confirm", "Another-Pass-77"), ("logout-sessions", "on")]).await;
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
    assert!(taken.body.contains("他のアカウントで設定されているメールアドレスです。別のメールアドレスを入力してください。"));
    let invalid = submit(&b, &idp, &taken, &[("email", "a.@example.jp"), ("op", "send")]).await;
    assert!(invalid.body.contains("無効なメールアドレスです。入力したメールアドレスに誤りがないかご確認ください。"));
    let long = format!("{}@{}.example.jp", "a".repeat(60), ["b".repeat(60), "c".repeat(60), "d".repeat(60), "e".repeat(60)].join("."));
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

    let next = submit(&b, &idp, &page, &[("password-new", "Resumed-Pass-31"), ("password-confirm", "Resumed-Pass-31")]).await;
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
