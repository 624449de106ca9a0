//! Authenticator-app OTP (SPEC §5): enrolment at first login, login with the app, replay and
//! clock-drift window, several devices, and the second-factor lockout (SPEC §9). Codes come
//! from the generator in `mod.rs`, not from the IdP.

use super::*;
use kenpo_e2e::{TestIdp, dual_backend_test};

dual_backend_test!(totp_enrolment_at_first_login_then_login_with_the_app, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    require(&idp, &f, "CHOOSE_USER_ID_AND_MFA");
    let mut l = login(&idp, &f).await;
    assert!(l.has(CHOOSE_TITLE), "{}", l.body());
    l.submit(&[("user_id", ""), ("method", "otp")]).await;

    // The enrolment page: apps, QR code, the secret in groups of four and the settings.
    assert!(l.has(ENROL_OTP_TITLE), "{}", l.body());
    l.assert_no_code("enrolment page");
    for app in ["Google Authenticator", "Microsoft Authenticator", "FreeOTP", "スキャンできませんか？"] {
        assert!(l.has(app), "{app} missing: {}", l.body());
    }
    assert!(l.has("<svg"), "no QR code: {}", l.body());
    assert!(l.has("時間ベース") && l.has("SHA1"), "{}", l.body());
    assert!(l.has("<dd>6</dd>") && l.has("<dd>30秒</dd>"), "{}", l.body());
    assert!(l.has("デバイス名") && l.has("全てのデバイスからサインアウトする"), "{}", l.body());
    let totp = secret_on_page(&l.page);
    // A reload shows the same secret (the member may have scanned it already).
    l.get(&action_url(&idp, &f.realm)).await;
    assert_eq!(secret_on_page(&l.page).key, totp.key, "a reload must not change the secret");

    // No device name: refused, nothing stored.
    away_from_step_boundary().await;
    l.submit(&[("totp", &totp.now()), ("userLabel", "  ")]).await;
    assert!(l.has(DEVICE_EMPTY), "{}", l.body());
    l.assert_no_code("empty device name");
    assert!(devices(&idp, &f).is_empty(), "nothing stored without a device name");

    // A wrong code: refused, nothing stored.
    let right = totp.now();
    let wrong: String = right.chars().map(|c| char::from(b'0' + (c as u8 - b'0' + 1) % 10)).collect();
    l.submit(&[("totp", &wrong), ("userLabel", "私のスマホ")]).await;
    assert!(l.has(ENROL_WRONG), "{}", l.body());
    l.assert_no_code("wrong enrolment code");
    assert!(devices(&idp, &f).is_empty(), "nothing stored after a wrong code");

    // The right code and a name: enrolled, and the login completes.
    let totp = complete_totp_enrolment(&mut l, "私のスマホ").await;
    let claims = l.id_token_claims().await;
    // Setting the app up proved it (a code from it): this login is multi-factor already.
    assert_amr(&claims, &["pwd", "otp", "mfa"], "2");
    assert_eq!(devices(&idp, &f), vec![("otp".to_string(), "私のスマホ".to_string())]);
    assert_eq!(user(&idp, &f).mfa_choice.as_deref(), Some("otp"));
    // The secret is stored sealed, never as the bytes the app holds.
    let sealed: Vec<Option<Vec<u8>>> = idp
        .state
        .store
        .run_sync(|c| {
            use schema::user_credentials as uc;
            Ok(uc::table.select(uc::secret_enc).load::<Option<Vec<u8>>>(c)?)
        })
        .expect("secret");
    let sealed = sealed[0].clone().expect("a sealed secret");
    assert!(!sealed.windows(totp.key.len()).any(|w| w == totp.key.as_slice()), "OTP secret stored in clear");

    // Next login: 「ワンタイムパスワードの入力」, the app's code, a second factor in the ID token.
    time_passes(&idp);
    let mut next = login(&idp, &f).await;
    assert!(next.has(OTP_TITLE) && next.has("トップページへ"), "{}", next.body());
    next.assert_no_code("after the password only");
    pass_otp(&mut next, &totp).await;
    let claims = next.id_token_claims().await;
    assert_amr(&claims, &["pwd", "otp", "mfa"], "2");
});

dual_backend_test!(totp_codes_are_single_use_and_accepted_one_step_either_side, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let totp = enrol_totp(&idp, &f, "スマホ", None).await;

    // A current code logs in.
    time_passes(&idp);
    away_from_step_boundary().await;
    let code = totp.now();
    let mut first = login(&idp, &f).await;
    assert!(first.has(OTP_TITLE), "{}", first.body());
    first.submit(&[("otp", &code)]).await;
    assert_amr(&first.id_token_claims().await, &["pwd", "otp", "mfa"], "2");

    // The same code again, in a second login: refused (each time step once per device).
    let codes_before = count_codes(&idp);
    let mut second = login(&idp, &f).await;
    second.submit(&[("otp", &code)]).await;
    assert!(second.has(OTP_WRONG), "replayed code accepted: {:?} {}", second.page.location, second.body());
    second.assert_no_code("replayed code");
    assert_eq!(count_codes(&idp), codes_before);

    // Clock drift: a code one step old is accepted…
    time_passes(&idp);
    away_from_step_boundary().await;
    let mut late = login(&idp, &f).await;
    late.submit(&[("otp", &totp.steps_ago(1))]).await;
    assert!(late.code().is_some(), "a code one step old must be accepted: {}", late.body());

    // …two or three steps old, or three steps ahead, is not.
    time_passes(&idp);
    away_from_step_boundary().await;
    let mut stale = login(&idp, &f).await;
    for (what, code) in [
        ("two steps old", totp.steps_ago(2)),
        ("three steps old", totp.steps_ago(3)),
        ("three steps ahead", totp.at_step(current_step() + 3)),
    ] {
        stale.submit(&[("otp", &code)]).await;
        assert!(stale.has(OTP_WRONG), "{what}: {:?} {}", stale.page.location, stale.body());
        stale.assert_no_code(what);
    }
    // The same flow still takes the right code.
    pass_otp(&mut stale, &totp).await;
    assert!(stale.code().is_some(), "{}", stale.body());
});

dual_backend_test!(two_devices_are_offered_by_name_and_each_code_counts_for_its_own_device, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let personal = enrol_totp(&idp, &f, "私用スマホ", None).await;

    // A second device, added by the admin's CONFIGURE_TOTP: after the first device's code.
    require(&idp, &f, "CONFIGURE_TOTP");
    let mut l = login(&idp, &f).await;
    time_passes(&idp);
    pass_otp(&mut l, &personal).await;
    assert!(l.has(ENROL_OTP_TITLE), "{}", l.body());
    let work = secret_on_page(&l.page);
    assert_ne!(work.key, personal.key, "every device gets its own secret");
    // The name must differ from the member's other devices.
    away_from_step_boundary().await;
    l.submit(&[("totp", &work.now()), ("userLabel", "私用スマホ")]).await;
    assert!(l.has(DEVICE_TAKEN), "{}", l.body());
    assert_eq!(devices(&idp, &f).len(), 1);
    complete_totp_enrolment(&mut l, "仕事用スマホ").await;
    assert!(l.code().is_some(), "{}", l.body());
    let names: Vec<String> = devices(&idp, &f).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, vec!["私用スマホ".to_string(), "仕事用スマホ".to_string()]);

    // The picker shows both names.
    time_passes(&idp);
    let mut l = login(&idp, &f).await;
    assert!(l.has(OTP_TITLE), "{}", l.body());
    let picker = radios(&l.page, "device");
    let labels: Vec<&str> = picker.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(labels, vec!["私用スマホ", "仕事用スマホ"], "{}", l.body());
    let (personal_id, work_id) = (picker[0].0.clone(), picker[1].0.clone());

    // The personal phone's code with the work phone chosen: refused.
    away_from_step_boundary().await;
    l.submit(&[("device", &work_id), ("otp", &personal.now())]).await;
    assert!(l.has(OTP_WRONG), "{}", l.body());
    l.assert_no_code("code of another device");
    // A device id that is not the member's: refused as well.
    l.submit(&[("device", "no-such-device"), ("otp", &personal.now())]).await;
    assert!(l.has(OTP_WRONG), "{}", l.body());
    l.assert_no_code("unknown device");
    // The work phone's code with the work phone chosen: accepted.
    l.submit(&[("device", &work_id), ("otp", &work.now())]).await;
    assert_amr(&l.id_token_claims().await, &["pwd", "otp", "mfa"], "2");

    // And the personal phone with its own code, in another login.
    time_passes(&idp);
    away_from_step_boundary().await;
    let mut l = login(&idp, &f).await;
    l.submit(&[("device", &personal_id), ("otp", &personal.now())]).await;
    assert!(l.code().is_some(), "{}", l.body());
});

dual_backend_test!(wrong_codes_lock_the_second_factor_but_not_the_password, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let totp = enrol_totp(&idp, &f, "スマホ", None).await;
    // Fewer password failures allowed than second-factor failures: a shared counter would lock
    // the password below.
    set_realm(&idp, &f, &["mfa.max_failures=3", "brute_force.max_failures=2"]);
    time_passes(&idp);
    let codes_before = count_codes(&idp);

    let mut l = login(&idp, &f).await;
    assert!(l.has(OTP_TITLE), "{}", l.body());
    away_from_step_boundary().await;
    let wrong: String = totp.now().chars().map(|c| char::from(b'0' + (c as u8 - b'0' + 5) % 10)).collect();
    for i in 1..=2 {
        l.submit(&[("otp", &wrong)]).await;
        assert!(l.has(OTP_WRONG) && !l.has(LOCKED), "failure {i}: {}", l.body());
    }
    l.submit(&[("otp", &wrong)]).await;
    assert!(l.has(LOCKED), "the third failure locks: {}", l.body());
    // Locked: even the right code is refused (and not used up).
    pass_otp(&mut l, &totp).await;
    assert!(l.has(LOCKED), "{}", l.body());
    l.assert_no_code("right code while locked");

    // The password counter was not touched: the member still passes the password step…
    let counters = failure_counters(&idp);
    assert!(
        !counters.iter().any(|(k, n)| k == &f.username && *n > 0),
        "second-factor failures counted on the password: {counters:?}"
    );
    assert!(counters.iter().any(|(_, n)| *n == 3), "the second-factor counter: {counters:?}");
    let mut again = login(&idp, &f).await;
    assert!(!again.has(PASSWORD_LOCKED), "the password got locked: {}", again.body());
    assert!(again.has(OTP_TITLE), "{}", again.body());
    // …but the second factor stays locked in a new login too.
    pass_otp(&mut again, &totp).await;
    assert!(again.has(LOCKED), "{}", again.body());
    again.assert_no_code("right code while locked, new login");
    assert_eq!(count_codes(&idp), codes_before, "no code while the second factor is locked");
});

dual_backend_test!(the_same_code_sent_by_two_logins_at_once_is_accepted_once, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let totp = enrol_totp(&idp, &f, "スマホ", None).await;
    time_passes(&idp);
    let mut a = login(&idp, &f).await;
    let mut b = login(&idp, &f).await;
    assert!(a.has(OTP_TITLE) && b.has(OTP_TITLE));
    away_from_step_boundary().await;
    let code = totp.now();
    let codes_before = count_codes(&idp);
    let answer = [("otp", code.as_str())];
    tokio::join!(a.submit(&answer), b.submit(&answer));
    assert!(a.page.status < 500 && b.page.status < 500, "{} {}", a.page.status, b.page.status);
    let accepted = [a.code(), b.code()].iter().filter(|c| c.is_some()).count();
    assert_eq!(accepted, 1, "one code, two logins: {:?} / {:?}", a.page.location, b.page.location);
    assert_eq!(count_codes(&idp), codes_before + 1);
});
