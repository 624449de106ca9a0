//! Sign-in, notice, results, logout, expiry and refusals, as a member's browser sees them.

use std::time::{Duration, Instant};

use kenpo_e2e::browser::{Page, html_unescape};
use kenpo_e2e::portal::{Card, TestPortal, add_member_with_card};
use kenpo_e2e::{Browser, TestIdp, dual_backend_test};

const LOGIN_BUTTON: &str = "Login with OpenID Connect";
const LOGOUT_CONFIRM: &str = "ログアウトしてもよろしいですか？";

/// The table row of one item on the results page.
fn row<'a>(page: &'a Page, item: &str) -> &'a str {
    let marker = format!("data-item=\"{item}\"");
    let start = page.body.find(&marker).unwrap_or_else(|| panic!("no row for {item}: {}", page.body));
    let end = page.body[start..].find("</tr>").map(|e| start + e).unwrap_or(page.body.len());
    &page.body[start..end]
}

fn assert_row(page: &Page, item: &str, value: &str, band: Option<&str>) {
    let r = row(page, item);
    assert!(r.contains(&format!("<td class=\"value\">{value} ")), "{item}: value {value} in {r}");
    match band {
        Some(b) => assert!(
            r.contains(&format!("\">{b}</span>")) && r.contains(&format!("band-{}", b.to_lowercase())),
            "{item}: band {b} in {r}"
        ),
        None => assert!(!r.contains("class=\"badge"), "{item}: no band in {r}"),
    }
}

/// Posts the page's first form (hidden fields included).
async fn submit(b: &Browser, page: &Page) -> Page {
    let (action, fields) = page.form().expect("a form");
    b.post_form(&action, &fields).await
}

/// Logs the fixture member in on the way to the results and accepts the notice.
async fn login_to_results(portal: &TestPortal, b: &Browser, user: &str, password: &str) -> Page {
    let notice = portal.login_via(b, "/login?next=%2Fresults", user, password).await;
    assert!(notice.url.ends_with("/results/notice"), "{} {}", notice.url, notice.body);
    assert!(
        notice.body.contains("健診結果に関する注意事項") && notice.body.contains("健診結果を見る"),
        "{}",
        notice.body
    );
    let accepted = submit(b, &notice).await;
    assert_eq!(accepted.status, 302, "{}", accepted.body);
    portal.open(b, "/results").await
}

dual_backend_test!(portal_login_notice_results_trend_and_logout, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let portal = TestPortal::start(&db, &idp, &f);
    let b = Browser::new();

    let top = portal.open(&b, "/").await;
    assert_eq!(top.status, 200);
    assert!(top.body.contains("ログイン") && top.body.contains(LOGIN_BUTTON), "{}", top.body);

    // Top page → "Login with OpenID Connect" → IdP → callback → signed in, name in the header.
    let home = portal.login_via(&b, "/login", &f.username, &f.password).await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.url.ends_with('/'), "{}", home.url);
    assert!(home.body.contains("健保 太郎"), "member name in the header: {}", home.body);
    assert!(home.body.contains("プロフィール変更") && home.body.contains("ログイン方法変更"));
    assert!(html_unescape(&home.body).contains(&format!("{}/account/personal-info", idp.issuer(&f.realm))));

    // Results: the notice first, once.
    let first = portal.open(&b, "/results").await;
    let results = if first.url.ends_with("/results/notice") {
        let accepted = submit(&b, &first).await;
        assert_eq!(accepted.location.as_deref(), Some("/results"));
        portal.open(&b, "/results").await
    } else {
        // A sign-in older than max_age goes back to the IdP; ours is fresh.
        panic!("expected the notice first: {} {}", first.url, first.body);
    };
    assert_eq!(results.status, 200, "{}", results.body);
    assert!(results.body.contains("特定健診結果") && results.body.contains("2025-06-17"), "{}", results.body);
    assert_row(&results, "sbp", "142", Some("C"));
    assert_row(&results, "dbp", "91", Some("C"));
    assert_row(&results, "hba1c", "5.8", Some("B"));
    assert_row(&results, "ldl", "146", Some("C"));
    assert_row(&results, "hdl", "45", Some("A"));
    assert_row(&results, "bmi", "25.4", Some("C"));
    assert_row(&results, "waist", "88.2", Some("C"));
    assert_row(&results, "urine_protein", "(±)", Some("B"));
    assert_row(&results, "height", "170.1", None);
    assert!(row(&results, "sbp").contains("≤ 129"), "reference range shown");
    for y in 2021..=2024 {
        assert!(results.body.contains(&format!("href=\"/results?year={y}\"")), "year picker lists {y}");
    }
    let again = portal.open(&b, "/results").await;
    assert!(!again.url.ends_with("/notice"), "acceptance remembered");

    // Year picker.
    let y2021 = portal.open(&b, "/results?year=2021").await;
    assert!(y2021.body.contains("2021-06-15"));
    assert_row(&y2021, "sbp", "124", Some("A"));
    assert_row(&y2021, "ggt", "35", Some("A"));

    // Trend chart per item: server-rendered SVG across the years.
    let trend = portal.open(&b, "/results/items/sbp").await;
    assert_eq!(trend.status, 200, "{}", trend.body);
    assert!(trend.body.contains("<svg") && trend.body.contains("viewBox"), "{}", trend.body);
    assert_eq!(trend.body.matches("<circle").count(), 5);
    assert!(trend.body.contains(">142 C</text>"));
    assert_eq!(portal.open(&b, "/results/items/nope").await.status, 404);

    // Logout: confirmation → local session ended → the IdP → back to the top page.
    let confirm = portal.open(&b, "/logout").await;
    assert!(confirm.body.contains(LOGOUT_CONFIRM), "{}", confirm.body);
    let out = submit(&b, &confirm).await;
    assert_eq!(out.status, 302);
    let end_session = out.location.clone().expect("to the IdP");
    assert!(
        end_session.starts_with(&format!("{}/protocol/openid-connect/logout", idp.issuer(&f.realm))),
        "{end_session}"
    );
    assert!(end_session.contains("id_token_hint="));
    let back = b.follow(b.get(&end_session).await, &format!("{}/", idp.base_url)).await;
    let landing = back.location.clone().expect("back to the portal");
    assert!(landing.starts_with(&format!("{}/", portal.base_url)), "{landing}");
    let top = portal.open(&b, &landing[portal.base_url.len()..]).await;
    assert!(top.body.contains("ログイン") && top.body.contains(LOGIN_BUTTON), "{}", top.body);
    assert!(!top.body.contains("健保 太郎"));

    // Both sessions ended: the portal sends to login, and the IdP asks for the password again.
    let r = b.get(&portal.url("/results")).await;
    assert_eq!(r.status, 302);
    assert!(r.location.as_deref().unwrap_or("").starts_with("/login"), "{:?}", r.location);
    let to_idp = b.follow(r, &format!("{}/", portal.base_url)).await;
    let idp_page = b.follow(b.get(to_idp.location.as_deref().expect("IdP")).await, &format!("{}/", idp.base_url)).await;
    assert_eq!(idp_page.status, 200, "the IdP shows its login form again");
    assert!(idp_page.body.contains("name=\"password\""));
});

dual_backend_test!(portal_expired_session_offers_login_again, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let portal = TestPortal::start(&db, &idp, &f);
    let b = Browser::new();
    let results = login_to_results(&portal, &b, &f.username, &f.password).await;
    assert_eq!(results.status, 200);

    portal.sql("UPDATE portal_sessions SET expires_at = '2001-01-01 00:00:00'");
    let expired = portal.open(&b, "/results").await;
    assert_eq!(expired.status, 200, "a page, not an error: {}", expired.body);
    assert!(
        expired.body.contains("セッションの有効期限が切れました") && expired.body.contains(LOGIN_BUTTON),
        "{}",
        expired.body
    );
    let body = html_unescape(&expired.body);
    let login_href =
        body.split("href=\"").find(|s| s.starts_with("/login")).and_then(|s| s.split('"').next()).expect("login link");
    assert_eq!(login_href, "/login?next=%2Fresults");
    // The IdP session is still alive: straight back, no password.
    let again = portal.login_via(&b, login_href, &f.username, &f.password).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_row(&again, "sbp", "142", Some("C"));
});

dual_backend_test!(portal_old_sign_in_goes_back_to_the_idp_with_max_age, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let portal = TestPortal::start(&db, &idp, &f);
    let b = Browser::new();
    login_to_results(&portal, &b, &f.username, &f.password).await;
    portal.sql("UPDATE portal_sessions SET auth_time = '2001-01-01 00:00:00'");
    let r = portal.open(&b, "/results").await;
    let idp_url = r.location.clone().expect("to the IdP");
    assert!(idp_url.contains("max_age=900"), "{idp_url}");
    let results = portal.login_at_idp(&b, &idp_url, &f.username, &f.password).await;
    assert_eq!(results.status, 200, "{}", results.body);
    assert_row(&results, "hba1c", "5.8", Some("B"));
});

dual_backend_test!(portal_requires_a_second_factor_when_configured, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let portal = TestPortal::start_with(&db, &idp, &f, |c| {
        c.results.require_second_factor = true;
        c.results.acr_values = "1".into();
    });
    let b = Browser::new();
    portal.login_via(&b, "/login", &f.username, &f.password).await;
    let page = portal.open(&b, "/results").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("ログイン方法変更"));
    let step_up = b.get(&portal.url("/login?next=%2Fresults")).await;
    let to_idp = step_up.location.unwrap_or_default();
    assert!(to_idp.contains("acr_values=1") && to_idp.contains("max_age=900"), "{to_idp}");
    assert!(page.body.contains("2段階認証"), "{}", page.body);
    assert!(!page.body.contains("data-item"));
});

dual_backend_test!(portal_refuses_a_tampered_state, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let portal = TestPortal::start(&db, &idp, &f);
    let b = Browser::new();
    let to_idp = b.follow(b.get(&portal.url("/login")).await, &format!("{}/", portal.base_url)).await;
    let idp_root = format!("{}/", idp.base_url);
    let login = b.follow(b.get(to_idp.location.as_deref().expect("IdP")).await, &idp_root).await;
    let done = b.follow(b.submit_login(&login, &f.username, &f.password, &[]).await, &idp_root).await;
    let callback = done.location.clone().expect("callback");
    let mut u = url::Url::parse(&callback).expect("url");
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let nv = if k == "state" { format!("{v}x") } else { v.into_owned() };
            (k.into_owned(), nv)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    let refused = b.get(u.as_str()).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("ログインできませんでした") && refused.body.contains(LOGIN_BUTTON),
        "{}",
        refused.body
    );
    // Not signed in, and the genuine callback no longer works either (the attempt is spent).
    assert_eq!(b.get(&portal.url("/results")).await.location.as_deref().map(|l| l.starts_with("/login")), Some(true));
    assert_eq!(b.get(&callback).await.status, 400);
});

dual_backend_test!(portal_refuses_a_tampered_nonce, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let portal = TestPortal::start(&db, &idp, &f);
    let b = Browser::new();
    let to_idp = b.follow(b.get(&portal.url("/login")).await, &format!("{}/", portal.base_url)).await;
    let mut u = url::Url::parse(to_idp.location.as_deref().expect("IdP")).expect("url");
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let nv = if k == "nonce" { "attacker-nonce".to_string() } else { v.into_owned() };
            (k.into_owned(), nv)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    let refused = portal.login_at_idp(&b, u.as_str(), &f.username, &f.password).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("ログインできませんでした"), "{}", refused.body);
    assert!(!b.get(&portal.url("/")).await.body.contains("健保 太郎"));
});

dual_backend_test!(portal_second_member_never_sees_the_first_members_results, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let portal = TestPortal::start(&db, &idp, &f);
    let card = Card { insurer_number: "06139999", card_symbol: "1234", card_number: "57", birthdate: "19850101" };
    add_member_with_card(&idp, &f, "member02", "Second-Member-77", &card);

    // Member 2 has no results yet: a clear page, none of member 1's values.
    let b2 = Browser::new();
    let none = login_to_results(&portal, &b2, "member02", "Second-Member-77").await;
    assert_eq!(none.status, 200, "{}", none.body);
    assert!(none.body.contains("2〜3ヶ月"), "{}", none.body);
    assert!(!none.body.contains("data-item") && !none.body.contains("142"));
    assert!(!portal.open(&b2, "/results/items/sbp").await.body.contains("142"));

    // Member 2's own results arrive; each member sees only their own.
    let file = "insurer_number,card_symbol,card_number,birthdate,checkup_date,item_code,value,unit\n06139999,1234,57,1985-01-01,2025-05-10,sbp,111,mmHg\n";
    kenpo_portal::admin::import_results(&portal.state.store, &portal.state.reference, file.as_bytes()).expect("import");
    let own = portal.open(&b2, "/results").await;
    assert_row(&own, "sbp", "111", Some("A"));
    assert!(!own.body.contains("2025-06-17") && !own.body.contains("data-item=\"hba1c\""), "{}", own.body);

    let b1 = Browser::new();
    let first = login_to_results(&portal, &b1, &f.username, &f.password).await;
    assert_row(&first, "sbp", "142", Some("C"));
    assert!(!first.body.contains("111"));
});

dual_backend_test!(portal_backchannel_logout_ends_the_portal_session, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let portal = TestPortal::start(&db, &idp, &f);
    let b = Browser::new();
    login_to_results(&portal, &b, &f.username, &f.password).await;

    // Log out at the IdP directly (another app, or the IdP's own page).
    let idp_root = format!("{}/", idp.base_url);
    let confirm =
        b.follow(b.get(&format!("{}/protocol/openid-connect/logout", idp.issuer(&f.realm))).await, &idp_root).await;
    assert!(confirm.body.contains(LOGOUT_CONFIRM), "{}", confirm.body);
    submit(&b, &confirm).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = portal.open(&b, "/results").await;
        if page.body.contains("セッションの有効期限が切れました") {
            break;
        }
        assert!(Instant::now() < deadline, "portal session still alive: {}", page.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
});

dual_backend_test!(portal_backchannel_refuses_a_forged_token, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let portal = TestPortal::start(&db, &idp, &f);
    let b = Browser::new();
    login_to_results(&portal, &b, &f.username, &f.password).await;
    let forged = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4Iiwic2lkIjoieCJ9.";
    let r = b.post_form(&portal.url("/backchannel-logout"), &[("logout_token".into(), forged.into())]).await;
    assert_eq!(r.status, 400);
    let still = portal.open(&b, "/results").await;
    assert_eq!(still.status, 200);
    assert!(still.body.contains("data-item=\"sbp\""));
});

dual_backend_test!(portal_logout_without_csrf_is_refused_and_pages_speak_english, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let portal = TestPortal::start(&db, &idp, &f);
    let b = Browser::new();
    let en = b.get_with(&portal.url("/"), &[("Accept-Language", "en-US,en;q=0.9")]).await;
    assert!(
        en.body.contains("Log in") && en.body.contains(LOGIN_BUTTON) && en.body.contains("lang=\"en\""),
        "{}",
        en.body
    );
    portal.login_via(&b, "/login", &f.username, &f.password).await;
    let r = b.post_form(&portal.url("/logout"), &[("csrf".into(), "forged".into())]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let home = portal.open(&b, "/").await;
    assert!(home.body.contains("健保 太郎"), "still signed in");
    let en_results = b.get_with(&portal.url("/results/notice"), &[("Accept-Language", "en")]).await;
    assert!(en_results.body.contains("View checkup results"), "{}", en_results.body);
});

/// Fills the page's first form with `fields` over its own values and follows redirects
/// inside the IdP.
async fn idp_form(b: &Browser, idp: &TestIdp, page: &Page, fields: &[(&str, &str)]) -> Page {
    let (action, existing) = page.form().unwrap_or_else(|| panic!("no form on: {}", page.body));
    let mut data: Vec<(String, String)> =
        existing.into_iter().filter(|(k, _)| !fields.iter().any(|(f, _)| f == k)).collect();
    data.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    b.follow(b.post_form(&action, &data).await, &format!("{}/", idp.base_url)).await
}

// The portal's defaults: results are health data and need an MFA-level sign-in. A member who
// has no second factor yet is asked by the IdP to choose and enrol one on the way (acr_values=2),
// and reaches the results with it; nothing is shown before.
dual_backend_test!(portal_defaults_require_a_second_factor_and_the_idp_enrols_one, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let defaults = kenpo_portal::config::PortalConfig::default().results;
    let portal = TestPortal::start_with(&db, &idp, &f, |c| c.results = defaults);
    let b = Browser::new();
    let to_idp = b.follow(b.get(&portal.url("/login?next=%2Fresults")).await, &format!("{}/", portal.base_url)).await;
    let idp_url = to_idp.location.clone().expect("to the IdP");
    assert!(idp_url.contains("acr_values=2"), "{idp_url}");
    let idp_root = format!("{}/", idp.base_url);
    let login = b.follow(b.get(&idp_url).await, &idp_root).await;
    let choose = b.follow(b.submit_login(&login, &f.username, &f.password, &[]).await, &idp_root).await;
    assert!(choose.body.contains("ユーザIDの変更・認証方法の設定"), "{}", choose.body);
    assert!(choose.location.is_none(), "no way back to the portal before a second factor");
    let enrol = idp_form(&b, &idp, &choose, &[("user_id", ""), ("method", "otp")]).await;
    assert!(enrol.body.contains("ワンタイムパスワードの設定"), "{}", enrol.body);
    let secret = {
        let marker = "id=\"otp-secret\">";
        let start = enrol.body.find(marker).expect("secret") + marker.len();
        let end = enrol.body[start..].find('<').expect("end") + start;
        enrol.body[start..end].replace(' ', "")
    };
    let code = {
        use kenpo_idp::mfa::totp::{TotpPolicy, TotpSecret, code_at};
        let now = u64::try_from(chrono::Utc::now().timestamp()).expect("time");
        code_at(&TotpSecret::from_base32(&secret).expect("base32"), &TotpPolicy::default(), now).expect("code")
    };
    let back = idp_form(&b, &idp, &enrol, &[("totp", &code), ("userLabel", "スマホ")]).await;
    let callback = back.location.clone().unwrap_or_else(|| panic!("back to the portal: {}", back.body));
    assert!(callback.starts_with(&portal.base_url), "{callback}");
    let notice = b.follow(b.get(&callback).await, &format!("{}/", portal.base_url)).await;
    assert!(notice.url.ends_with("/results/notice"), "{} {}", notice.url, notice.body);
    let accepted = submit(&b, &notice).await;
    assert_eq!(accepted.status, 302, "{}", accepted.body);
    let results = portal.open(&b, "/results").await;
    assert_eq!(results.status, 200, "{}", results.body);
    assert_row(&results, "hba1c", "5.8", Some("B"));
});
