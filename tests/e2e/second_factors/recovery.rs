//! Recovery codes (SPEC §5, realm option): ten codes shown once after a factor is enrolled,
//! confirmed by the member, stored hashed, each usable once in place of the second factor.

use super::*;
use kenpo_e2e::{TestIdp, dual_backend_test};

/// The codes listed on the 「リカバリーコードの保存」 page.
fn codes_on_page(page: &kenpo_e2e::browser::Page) -> Vec<String> {
    let list = page.body.split("class=\"recovery-codes\"").nth(1).expect("the list of codes");
    let list = list.split("</ol>").next().expect("end of list");
    list.split("<code>").skip(1).filter_map(|s| s.split("</code>").next()).map(str::to_string).collect()
}

fn stored_hashes(idp: &TestIdp) -> Vec<(String, bool)> {
    use schema::recovery_codes as rc;
    idp.state
        .store
        .run_sync(|c| Ok(rc::table.select((rc::code_hash, rc::used_at.is_not_null())).load::<(String, bool)>(c)?))
        .expect("recovery codes")
}

dual_backend_test!(recovery_codes_are_shown_once_stored_hashed_and_used_once, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    set_realm(&idp, &f, &["mfa.recovery_codes=true"]);
    require(&idp, &f, "CHOOSE_USER_ID_AND_MFA");
    let mut l = login(&idp, &f).await;
    l.submit(&[("user_id", ""), ("method", "otp")]).await;
    let totp = complete_totp_enrolment(&mut l, "スマホ").await;

    // After the app: ten codes.
    assert!(l.has(RECOVERY_ENROL_TITLE), "{}", l.body());
    l.assert_no_code("recovery codes page");
    let codes = codes_on_page(&l.page);
    assert_eq!(codes.len(), 10, "{codes:?}");
    let mut distinct = codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "codes repeat: {codes:?}");
    for c in &codes {
        let parts: Vec<&str> = c.split('-').collect();
        assert!(parts.len() == 3 && parts.iter().all(|p| p.len() == 4), "format XXXX-XXXX-XXXX: {c}");
    }
    // A reload shows the same codes.
    l.get(&action_url(&idp, &f.realm)).await;
    assert_eq!(codes_on_page(&l.page), codes);

    // Without 「保存しました」 ticked: a message, nothing stored.
    l.submit(&[]).await;
    assert!(l.has(RECOVERY_CONFIRM), "{}", l.body());
    l.assert_no_code("codes not confirmed");
    assert!(stored_hashes(&idp).is_empty(), "codes stored before the member confirmed");
    l.submit(&[("saved", "on")]).await;
    assert!(l.code().is_some(), "{}", l.body());

    // Stored as hashes only.
    let stored = stored_hashes(&idp);
    assert_eq!(stored.len(), 10);
    for (hash, used) in &stored {
        assert!(!used);
        for c in &codes {
            let bare = c.replace('-', "");
            assert!(!hash.contains(&bare) && !hash.contains(c.as_str()), "plaintext code in the table: {hash}");
        }
    }

    // A later login: the app page offers the recovery codes; one of them logs in.
    time_passes(&idp);
    let mut l = login(&idp, &f).await;
    assert!(l.has(OTP_TITLE) && l.has("リカバリーコードを使う"), "{}", l.body());
    l.switch_to("recovery").await;
    assert!(l.has(RECOVERY_TITLE), "{}", l.body());
    l.assert_no_code("switched to recovery");
    l.submit(&[("code", "AAAA-BBBB-CCCC")]).await;
    assert!(l.has(RECOVERY_WRONG), "{}", l.body());
    // Typed in lower case without hyphens: still the code.
    let typed = codes[0].replace('-', "").to_lowercase();
    l.submit(&[("code", &typed)]).await;
    assert_amr(&l.id_token_claims().await, &["pwd", "rc", "mfa"], "2");
    assert_eq!(stored_hashes(&idp).iter().filter(|(_, used)| *used).count(), 1);

    // The same code again: refused. Another one works.
    let mut l = login(&idp, &f).await;
    l.switch_to("recovery").await;
    l.submit(&[("code", &codes[0])]).await;
    assert!(l.has(RECOVERY_WRONG), "a used code was accepted: {}", l.body());
    l.assert_no_code("used recovery code");
    l.submit(&[("code", &codes[1])]).await;
    assert_amr(&l.id_token_claims().await, &["pwd", "rc", "mfa"], "2");
    assert_eq!(stored_hashes(&idp).iter().filter(|(_, used)| *used).count(), 2);

    // The app still works, and a member can go back from recovery to the app.
    time_passes(&idp);
    let mut l = login(&idp, &f).await;
    l.switch_to("recovery").await;
    assert!(l.has("認証アプリのワンタイムパスワードを使う"), "{}", l.body());
    l.switch_to("otp").await;
    pass_otp(&mut l, &totp).await;
    assert_amr(&l.id_token_claims().await, &["pwd", "otp", "mfa"], "2");
});

dual_backend_test!(recovery_codes_are_not_offered_when_the_realm_does_not_use_them, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let totp = enrol_totp(&idp, &f, "スマホ", None).await;
    assert!(stored_hashes(&idp).is_empty(), "no codes without the realm option");
    time_passes(&idp);
    let mut l = login(&idp, &f).await;
    assert!(l.has(OTP_TITLE) && !l.has("リカバリーコードを使う"), "{}", l.body());
    l.switch_to("recovery").await;
    assert!(l.has(OTP_TITLE) && !l.has(RECOVERY_TITLE), "{}", l.body());
    l.assert_no_code("forged switch to recovery");
    pass_otp(&mut l, &totp).await;
    assert!(l.code().is_some(), "{}", l.body());
});
