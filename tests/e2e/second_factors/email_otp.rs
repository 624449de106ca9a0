//! E-mail OTP (SPEC §5): enrolment and login with codes caught by a real SMTP server on
//! localhost; single use, expiry, limited tries, throttled resend, SMTP outages, and a realm
//! that switches e-mail codes off.

use super::*;
use kenpo_e2e::smtp::SmtpSink;
use kenpo_e2e::{TestIdp, dual_backend_test};

const SUBJECT: &str = "【テスト健保組合】ワンタイムパスワードのお知らせ";

dual_backend_test!(email_otp_enrolment_at_first_login_then_login_with_a_mailed_code, |db| async move {
    let sink = SmtpSink::start().await;
    let idp = TestIdp::start_with(&db, with_smtp(sink.addr.port()));
    let f = idp.seed();
    require(&idp, &f, "CHOOSE_USER_ID_AND_MFA");
    let mut l = login(&idp, &f).await;
    assert!(l.has(CHOOSE_TITLE), "{}", l.body());
    l.submit(&[("user_id", ""), ("method", "email")]).await;

    // Enrolment: a code goes to the verified address.
    assert!(l.has(EMAIL_TITLE) && l.has(EMAIL_INTRO), "{}", l.body());
    l.assert_no_code("e-mail enrolment page");
    let mails = sink.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["member01@example.jp".to_string()]);
    assert_eq!(mails[0].subject(), SUBJECT);
    let body = mails[0].body();
    assert!(body.contains("お心当たりがない場合"), "says what to do if not asked: {body}");
    let code = mailed_code(&mails[0]);
    // A reload does not send another code.
    l.get(&action_url(&idp, &f.realm)).await;
    assert!(l.has(EMAIL_TITLE), "{}", l.body());
    assert_eq!(outbox(&idp).len(), 1, "a reload sent another code");

    let wrong = if code == "000000" { "111111" } else { "000000" };
    l.submit(&[("otp", wrong)]).await;
    assert!(l.has(OTP_WRONG), "{}", l.body());
    l.assert_no_code("wrong enrolment code");
    assert!(devices(&idp, &f).is_empty(), "nothing enrolled after a wrong code");
    l.submit(&[("otp", &code)]).await;
    assert_amr(&l.id_token_claims().await, &["pwd", "mail", "mfa"], "2");
    assert_eq!(devices(&idp, &f), vec![("email".to_string(), String::new())]);
    assert_eq!(user(&idp, &f).mfa_choice.as_deref(), Some("email"));

    // Next login: the page, a new mail, the code, `mail` in the ID token.
    let mut l = login(&idp, &f).await;
    assert!(l.has(EMAIL_TITLE) && l.has(EMAIL_INTRO), "{}", l.body());
    assert!(l.has("実行") && l.has("再送信"), "{}", l.body());
    assert!(l.has("m***@example.jp"), "the masked address: {}", l.body());
    l.assert_no_code("after the password only");
    let mails = sink.wait_for(2).await;
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].subject(), SUBJECT);
    let code = mailed_code(&mails[1]);
    l.submit(&[("otp", &code)]).await;
    assert_amr(&l.id_token_claims().await, &["pwd", "mail", "mfa"], "2");

    // Single use: the code does not open another login (which gets its own code).
    let mut again = login(&idp, &f).await;
    let mails = sink.wait_for(3).await;
    assert_eq!(mails.len(), 3);
    let fresh = mailed_code(&mails[2]);
    if fresh != code {
        again.submit(&[("otp", &code)]).await;
        assert!(again.has(OTP_WRONG), "a used code was accepted: {}", again.body());
        again.assert_no_code("used code");
    }
    again.submit(&[("otp", &fresh)]).await;
    assert!(again.code().is_some(), "{}", again.body());
});

dual_backend_test!(email_codes_expire_and_allow_only_a_few_tries, |db| async move {
    let sink = SmtpSink::start().await;
    let idp = TestIdp::start_with(&db, with_smtp(sink.addr.port()));
    let f = idp.seed();
    set_realm(&idp, &f, &["mfa.email_otp.max_tries=3"]);
    enrol_email(&idp, &f, &sink).await;
    let codes_before = count_codes(&idp);

    // Expired: the right code is refused.
    let mut l = login(&idp, &f).await;
    let code = mailed_code(&sink.wait_for(2).await[1]);
    move_email_codes(&idp, "expires_at", -1);
    // A reload says so at once (and sends nothing by itself).
    l.get(&factor_url(&idp, &f.realm)).await;
    assert!(l.has(EMAIL_EXPIRED), "reload after expiry: {}", l.body());
    l.submit(&[("otp", &code)]).await;
    assert!(l.has(EMAIL_EXPIRED), "{}", l.body());
    l.assert_no_code("expired code");

    // Tries: three wrong ones, then even the right code is refused.
    let mut l = login(&idp, &f).await;
    let mails = sink.wait_for(3).await;
    assert_eq!(mails.len(), 3);
    let code = mailed_code(&mails[2]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for i in 1..=3 {
        l.submit(&[("otp", wrong)]).await;
        assert!(l.has(OTP_WRONG), "try {i}: {}", l.body());
    }
    l.submit(&[("otp", &code)]).await;
    assert!(l.has(EMAIL_EXPIRED), "the right code after the tries were spent: {}", l.body());
    l.assert_no_code("right code after the tries were spent");
    assert_eq!(count_codes(&idp), codes_before);
    assert_eq!(outbox(&idp).len(), 3, "no code was sent without the member asking");

    // 「再送信」 (once the throttle allows) sends a new code that works.
    move_email_codes(&idp, "sent_at", -10);
    l.submit(&[("op", "resend")]).await;
    assert!(l.has(EMAIL_RESENT), "{}", l.body());
    let mails = sink.wait_for(4).await;
    assert_eq!(mails.len(), 4);
    l.submit(&[("otp", &mailed_code(&mails[3]))]).await;
    assert_amr(&l.id_token_claims().await, &["pwd", "mail", "mfa"], "2");
});

dual_backend_test!(resend_is_throttled_and_a_new_code_replaces_the_old, |db| async move {
    let sink = SmtpSink::start().await;
    let idp = TestIdp::start_with(&db, with_smtp(sink.addr.port()));
    let f = idp.seed();
    enrol_email(&idp, &f, &sink).await;

    let mut l = login(&idp, &f).await;
    let old = mailed_code(&sink.wait_for(2).await[1]);
    assert_eq!(outbox(&idp).len(), 2);
    // Right away: too soon, no mail.
    l.submit(&[("op", "resend")]).await;
    assert!(l.has(EMAIL_TOO_SOON), "{}", l.body());
    assert_eq!(outbox(&idp).len(), 2, "a throttled resend sent mail");
    // Later: a new mail, the old code no longer works, the new one does.
    move_email_codes(&idp, "sent_at", -10);
    l.submit(&[("op", "resend")]).await;
    assert!(l.has(EMAIL_RESENT), "{}", l.body());
    assert_eq!(outbox(&idp).len(), 3);
    let mails = sink.wait_for(3).await;
    assert_eq!(mails.len(), 3);
    assert_eq!(mails[2].subject(), SUBJECT);
    let new = mailed_code(&mails[2]);
    if new != old {
        l.submit(&[("otp", &old)]).await;
        assert!(l.has(OTP_WRONG), "the replaced code still works: {}", l.body());
        l.assert_no_code("replaced code");
    }
    l.submit(&[("otp", &new)]).await;
    assert_amr(&l.id_token_claims().await, &["pwd", "mail", "mfa"], "2");
});

/// Delivers the outbox (as the sender's retry would) until `sink` has `n` mails.
async fn deliver_until(idp: &TestIdp, sink: &SmtpSink, n: usize) -> Vec<kenpo_e2e::smtp::ReceivedMail> {
    for _ in 0..100 {
        kenpo_idp::mail::sender::deliver_due(&idp.state).await.ok();
        if sink.received().len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    sink.received()
}

dual_backend_test!(smtp_down_the_page_works_and_the_code_arrives_when_smtp_is_back, |db| async move {
    let port = SmtpSink::dead_port();
    let idp = TestIdp::start_with(&db, with_smtp(port));
    let f = idp.seed();

    // Enrolment while SMTP is down: the page works, the code waits in the outbox.
    require(&idp, &f, "CONFIGURE_EMAIL_OTP");
    let mut l = login(&idp, &f).await;
    assert_eq!(l.page.status, 200);
    assert!(l.has(EMAIL_TITLE), "{}", l.body());
    let queued = outbox(&idp);
    assert_eq!(queued.len(), 1);
    assert!(queued[0].sent_at.is_none());
    let sink = SmtpSink::start_on(port).await;
    let mails = deliver_until(&idp, &sink, 1).await;
    assert_eq!(mails.len(), 1, "the queued code was delivered once SMTP was back");
    l.submit(&[("otp", &mailed_code(&mails[0]))]).await;
    assert!(l.code().is_some(), "{}", l.body());

    // Login while SMTP is down again.
    drop(sink);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut l = login(&idp, &f).await;
    assert_eq!(l.page.status, 200);
    assert!(l.has(EMAIL_TITLE) && l.has(EMAIL_INTRO), "{}", l.body());
    l.assert_no_code("code waiting in the outbox");
    let sink = SmtpSink::start_on(port).await;
    let mails = deliver_until(&idp, &sink, 1).await;
    assert_eq!(mails.len(), 1, "the login code was delivered once SMTP was back");
    assert_eq!(mails[0].subject(), SUBJECT);
    l.submit(&[("otp", &mailed_code(&mails[0]))]).await;
    assert_amr(&l.id_token_claims().await, &["pwd", "mail", "mfa"], "2");
});

dual_backend_test!(a_realm_without_email_codes_does_not_offer_an_enrolled_email_factor, |db| async move {
    let sink = SmtpSink::start().await;
    let idp = TestIdp::start_with(&db, with_smtp(sink.addr.port()));
    let f = idp.seed();
    // One member with an app and e-mail, one with e-mail only.
    require(&idp, &f, "CONFIGURE_TOTP");
    require(&idp, &f, "CONFIGURE_EMAIL_OTP");
    let mut l = login(&idp, &f).await;
    let totp = complete_totp_enrolment(&mut l, "スマホ").await;
    assert!(l.has(EMAIL_TITLE), "the e-mail enrolment follows: {}", l.body());
    l.submit(&[("otp", &mailed_code(&sink.wait_for(1).await[0]))]).await;
    assert!(l.code().is_some(), "{}", l.body());
    let kinds: Vec<String> = devices(&idp, &f).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, vec!["otp".to_string(), "email".to_string()]);
    let m2 = other_member(&idp, &f, "member02x", "member02@example.jp");
    enrol_email(&idp, &m2, &sink).await;

    // While the realm offers e-mail codes, the app page offers e-mail as the other way.
    time_passes(&idp);
    let l = login(&idp, &f).await;
    assert!(l.has(OTP_TITLE) && l.has("メールでワンタイムパスワードを受け取る"), "{}", l.body());

    set_realm(&idp, &f, &["mfa.methods=passkey,otp"]);
    let mails_before = outbox(&idp).len();
    let mut l = login(&idp, &f).await;
    assert!(l.has(OTP_TITLE), "{}", l.body());
    assert!(!l.has("メールでワンタイムパスワードを受け取る"), "e-mail still offered: {}", l.body());
    // A forged switch to e-mail is refused and sends nothing.
    l.switch_to("email").await;
    assert!(l.has(OTP_TITLE) && !l.has(EMAIL_TITLE), "{}", l.body());
    l.assert_no_code("forged switch");
    assert_eq!(outbox(&idp).len(), mails_before, "a code was mailed");
    pass_otp(&mut l, &totp).await;
    assert_amr(&l.id_token_claims().await, &["pwd", "otp", "mfa"], "2");

    // The e-mail-only member is not asked for an e-mail code (none is sent); with no second
    // factor the realm offers, the login is a password-only one.
    let l = login(&idp, &m2).await;
    assert!(!l.has(EMAIL_TITLE), "{}", l.body());
    assert_eq!(outbox(&idp).len(), mails_before, "a code was mailed");
    assert_amr(&l.id_token_claims().await, &["pwd"], "1");
});
