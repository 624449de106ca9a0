//! The second-factor step cannot be skipped, answered by another flow, or replayed (SPEC §3,
//! §5): whatever a browser sends, the client gets no code without the factor. And a realm that
//! requires MFA sends a member without a factor through choosing and enrolling one first.

use super::*;
use kenpo_e2e::{Browser, TestIdp, dual_backend_test};
use kenpo_idp::flows::session::FLOW_COOKIE;
use reqwest::cookie::CookieStore;

fn login_form_url(idp: &TestIdp, realm: &str) -> String {
    format!("{}/realms/{realm}/login-actions/authenticate", idp.base_url)
}

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The browser's `KENPO_FLOW=…` cookie for the realm, as a Cookie header value.
fn flow_cookie(browser: &Browser, idp: &TestIdp, realm: &str) -> String {
    let url = url::Url::parse(&factor_url(idp, realm)).expect("url");
    let header = browser.jar.cookies(&url).expect("cookies");
    let header = header.to_str().expect("ascii");
    header
        .split("; ")
        .find(|c| c.starts_with(&format!("{FLOW_COOKIE}=")))
        .unwrap_or_else(|| panic!("no flow cookie in {header}"))
        .to_string()
}

async fn post_with_cookie(url: &str, cookie: &str, data: &[(String, String)]) -> (u16, Option<String>, String) {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = client.post(url).header("cookie", cookie).form(data).send().await.expect("POST");
    let status = r.status().as_u16();
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    (status, location, r.text().await.unwrap_or_default())
}

fn no_code_in(location: &Option<String>) -> bool {
    location.as_deref().is_none_or(|l| !query_map(l).contains_key("code"))
}

dual_backend_test!(the_second_factor_step_cannot_be_skipped_or_answered_with_another_form, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let totp = enrol_totp(&idp, &f, "スマホ", None).await;
    // A required action waits behind the factor.
    require(&idp, &f, "UPDATE_PASSWORD");
    time_passes(&idp);
    let codes_before = count_codes(&idp);

    let mut l = login(&idp, &f).await;
    assert!(l.has(OTP_TITLE), "{}", l.body());
    let csrf = l.csrf();

    // The required-action page is not reachable yet: back to the factor.
    l.get(&action_url(&idp, &f.realm)).await;
    assert!(l.has(OTP_TITLE) && !l.has("パスワードの更新"), "{}", l.body());
    l.assert_no_code("GET required-action");
    // Nor can its form be posted: the password stays as it was.
    let action = action_url(&idp, &f.realm);
    l.post(
        &action,
        &fields(&[("csrf", &csrf), ("password-new", "Skipped-Ahead-77"), ("password-confirm", "Skipped-Ahead-77")]),
    )
    .await;
    assert!(l.has(OTP_TITLE), "{}", l.body());
    l.assert_no_code("POST required-action");
    // The login form again (the password once more) does not skip the factor.
    let login_url = login_form_url(&idp, &f.realm);
    l.post(&login_url, &fields(&[("csrf", &csrf), ("username", &f.username), ("password", &f.password)])).await;
    assert!(l.has(OTP_TITLE), "{}", l.body());
    l.assert_no_code("POST of the login form");
    // An old form for another factor is refused before its answer is looked at…
    away_from_step_boundary().await;
    let code = totp.now();
    let factor = factor_url(&idp, &f.realm);
    l.post(&factor, &fields(&[("csrf", &csrf), ("factor", "email"), ("otp", &code)])).await;
    assert!(l.has(OTP_TITLE), "{}", l.body());
    l.assert_no_code("form of another factor");
    l.post(&factor, &fields(&[("csrf", &csrf), ("factor", "recovery"), ("code", "AAAA-BBBB-CCCC")])).await;
    l.assert_no_code("recovery form while on the app");
    // …and a wrong CSRF token is refused outright.
    let forged = l.browser.post_form(&factor, &fields(&[("csrf", "forged"), ("factor", "otp"), ("otp", &code)])).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(no_code_in(&forged.location));
    let missing = l.browser.post_form(&factor, &fields(&[("factor", "otp"), ("otp", &code)])).await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert_eq!(count_codes(&idp), codes_before, "a code was issued without the factor");

    // The refused forms used nothing up: the same code now passes, then the pending action.
    l.get(&factor).await;
    l.submit(&[("otp", &code)]).await;
    assert!(l.has("パスワードの更新"), "the pending action follows the factor: {}", l.body());
    l.assert_no_code("pending action");
    l.submit(&[("password-new", "Brand-New-Pass-9"), ("password-confirm", "Brand-New-Pass-9")]).await;
    assert_amr(&l.id_token_claims().await, &["pwd", "otp", "mfa"], "2");
});

dual_backend_test!(another_flow_cannot_answer_and_a_finished_flow_cannot_be_replayed, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let totp = enrol_totp(&idp, &f, "スマホ", None).await;
    time_passes(&idp);
    let codes_before = count_codes(&idp);
    let factor = factor_url(&idp, &f.realm);

    // Two browsers at the factor step: A's form (its CSRF token) does not work with B's flow.
    let mut a = login(&idp, &f).await;
    let mut b = login(&idp, &f).await;
    assert!(a.has(OTP_TITLE) && b.has(OTP_TITLE));
    let (csrf_a, cookie_a) = (a.csrf(), flow_cookie(&a.browser, &idp, &f.realm));
    away_from_step_boundary().await;
    let code = totp.now();
    let answer_a = fields(&[("csrf", &csrf_a), ("factor", "otp"), ("otp", &code)]);
    let cross = b.browser.post_form(&factor, &answer_a).await;
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert!(no_code_in(&cross.location));
    // B's CSRF token with A's flow cookie: refused too.
    let answer_b = fields(&[("csrf", &b.csrf()), ("factor", "otp"), ("otp", &code)]);
    let (status, location, _) = post_with_cookie(&factor, &cookie_a, &answer_b).await;
    assert_eq!(status, 403);
    assert!(no_code_in(&location));
    assert_eq!(count_codes(&idp), codes_before);

    // No flow at all: a clear error page.
    let stranger = Browser::new();
    let page = stranger.get(&factor).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains(FLOW_MISSING), "{}", page.body);
    let page = stranger.post_form(&factor, &answer_a).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(no_code_in(&page.location));

    // A completes with its own form.
    a.submit(&[("otp", &code)]).await;
    assert!(a.code().is_some(), "{}", a.body());
    let codes_after = count_codes(&idp);
    // Replaying the answer: from the same browser (the flow cookie is gone)…
    let again = a.browser.post_form(&factor, &answer_a).await;
    assert!(again.status < 500 && no_code_in(&again.location), "{} {:?}", again.status, again.location);
    // …and with the flow cookie kept from before.
    let (status, location, body) = post_with_cookie(&factor, &cookie_a, &answer_a).await;
    assert!(status < 500, "{status} {body}");
    assert!(no_code_in(&location), "replay yielded a code: {location:?}");
    let page = a.browser.get(&factor).await;
    assert!(no_code_in(&page.location));
    assert_eq!(count_codes(&idp), codes_after, "a replay issued a code");

    // B still needs its own factor; A's (used) code does not do it.
    b.submit(&[("otp", &code)]).await;
    assert!(b.has(OTP_WRONG), "{}", b.body());
    b.assert_no_code("B with A's used code");
});

dual_backend_test!(a_realm_requiring_mfa_makes_a_member_without_a_factor_enrol_first, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    set_realm(&idp, &f, &["mfa.required=true"]);

    let mut l = login(&idp, &f).await;
    assert!(l.has(CHOOSE_TITLE), "{}", l.body());
    l.assert_no_code("after the password");
    // No way around it: the factor URL and a new authorization lead back here, prompt=none fails.
    l.get(&factor_url(&idp, &f.realm)).await;
    assert!(l.has(CHOOSE_TITLE), "{}", l.body());
    l.assert_no_code("second-factor URL");
    let silent = l.browser.get(&format!("{}&prompt=none", l.req.url)).await;
    assert_eq!(
        query_map(silent.location.as_deref().unwrap_or_default()).get("error").map(String::as_str),
        Some("login_required")
    );
    assert_eq!(count_codes(&idp), 0);

    // The member chooses the app, then closes the browser on the enrolment page.
    l.submit(&[("user_id", ""), ("method", "otp")]).await;
    assert!(l.has(ENROL_OTP_TITLE), "{}", l.body());
    l.assert_no_code("enrolment page");
    assert_eq!(user(&idp, &f).mfa_choice.as_deref(), Some("otp"));

    // Next login: straight to the enrolment of the chosen method (not the choice again).
    let mut l = login(&idp, &f).await;
    assert!(l.has(ENROL_OTP_TITLE) && !l.has(CHOOSE_TITLE), "{}", l.body());
    l.assert_no_code("enrolment still due");
    assert_eq!(count_codes(&idp), 0, "a code before a factor was enrolled");
    let totp = complete_totp_enrolment(&mut l, "スマホ").await;
    assert!(l.code().is_some(), "{}", l.body());

    // From now on the app is asked for.
    time_passes(&idp);
    let mut l = login(&idp, &f).await;
    assert!(l.has(OTP_TITLE), "{}", l.body());
    pass_otp(&mut l, &totp).await;
    assert_amr(&l.id_token_claims().await, &["pwd", "otp", "mfa"], "2");
});
