//! The login page (SPEC §3, §9, §14) as a member's browser sees it: language, fields, headers,
//! and what happens with bad or hostile input, expired or missing flows, double submits and
//! password guessing. Every bad input must get a clear page (never a 500), change nothing,
//! and leave the member able to log in.

use base64::Engine;
use diesel::prelude::*;
use kenpo_e2e::browser::{Page, html_unescape, query_map};
use kenpo_e2e::{Browser, Fixture, TestIdp, dual_backend_test};
use kenpo_idp::store::schema;
use reqwest::cookie::CookieStore;
use sha2::Digest;

const INVALID: &str = "無効なユーザIDまたはパスワードです。";
const LOCKED: &str = "アカウントがロックされました";
const CSRF_REFUSED: &str = "画面の有効期限が切れたか、不正な操作が行われました。";
const FLOW_MISSING: &str = "ログインの手続きが見つからないか、有効期限が切れました。";
const FLOW_EXPIRED: &str = "ログイン画面の有効期限が切れました。";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// An authorization request built by hand, as any relying party would send it.
struct AuthRequest {
    url: String,
    state: String,
}

fn authorize_request(idp: &TestIdp, f: &Fixture, extra: &[(&str, &str)]) -> AuthRequest {
    let state = uuid::Uuid::new_v4().simple().to_string();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let verifier = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut u = url::Url::parse(&format!("{}/protocol/openid-connect/auth", idp.issuer(&f.realm))).expect("url");
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &f.client_id)
        .append_pair("redirect_uri", &f.redirect_uri)
        .append_pair("scope", "openid")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        u.query_pairs_mut().append_pair(k, v);
    }
    AuthRequest { url: u.to_string(), state }
}

fn absolute(base: &str, location: &str) -> String {
    url::Url::parse(base).and_then(|b| b.join(location)).map(|u| u.to_string()).expect("absolute URL")
}

fn login_url(idp: &TestIdp, f: &Fixture) -> String {
    format!("{}/login-actions/authenticate", idp.issuer(&f.realm))
}

/// Starts a login: the authorization request, then the login page it redirects to (both with
/// `headers`). Returns the login page.
async fn open_login_with(browser: &Browser, idp: &TestIdp, req: &AuthRequest, headers: &[(&str, &str)]) -> Page {
    let first = browser.get_with(&req.url, headers).await;
    assert_eq!(first.status, 302, "authorization request: {}", first.body);
    let location = first.location.clone().expect("redirect to the login page");
    let login = absolute(&first.url, &location);
    assert!(login.starts_with(&idp.base_url), "login page outside the IdP: {login}");
    let page = browser.get_with(&login, headers).await;
    assert_eq!(page.status, 200, "login page: {}", page.body);
    assert!(page.form().is_some(), "no form on the login page: {}", page.body);
    page
}

async fn open_login(browser: &Browser, idp: &TestIdp, f: &Fixture) -> (Page, AuthRequest) {
    let req = authorize_request(idp, f, &[]);
    let page = open_login_with(browser, idp, &req, &[]).await;
    (page, req)
}

/// The page's form fields (hidden ones included).
fn fields(page: &Page) -> Vec<(String, String)> {
    page.form().map(|(_, f)| f).unwrap_or_default()
}

fn csrf(page: &Page) -> String {
    fields(page).into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v).expect("a csrf field")
}

/// POSTs a raw (already encoded) form body to the login endpoint.
async fn post_raw(browser: &Browser, url: &str, body: Vec<u8>) -> Page {
    let r = browser
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("POST");
    page_of(url, r).await
}

async fn page_of(url: &str, r: reqwest::Response) -> Page {
    let status = r.status().as_u16();
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = r.text().await.unwrap_or_default();
    Page { status, url: url.to_string(), location, body }
}

/// POSTs these fields (in this order, repeated names allowed) to the login endpoint.
async fn post_fields(browser: &Browser, url: &str, fields: &[(&str, &str)]) -> Page {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    post_raw(browser, url, body.into_bytes()).await
}

/// The text of the page's alert (notice or error message).
fn alert(page: &Page) -> Option<String> {
    let i = page.body.find("role=\"alert\">")? + "role=\"alert\">".len();
    let j = page.body[i..].find("</p>")? + i;
    Some(page.body[i..j].to_string())
}

/// A clear answer: one of the expected statuses (never 5xx) and a rendered page.
fn assert_clear(page: &Page, what: &str) {
    assert!(
        matches!(page.status, 200 | 400 | 403),
        "{what}: expected a clear page (200/400/403), got {}:\n{}",
        page.status,
        page.body
    );
    assert!(page.body.contains("<html"), "{what}: not a page:\n{}", page.body);
    assert!(alert(page).is_some(), "{what}: the page tells the member nothing:\n{}", page.body);
}

/// No authorization code left the IdP with this answer.
fn assert_no_code(page: &Page, what: &str) {
    let code = page.location.as_deref().map(query_map).and_then(|q| q.get("code").cloned());
    assert!(code.is_none(), "{what}: an authorization code was issued: {:?}", page.location);
    assert!(!page.body.contains("name=\"code\""), "{what}: a code was posted back: {}", page.body);
}

fn assert_code(page: &Page, f: &Fixture, state: &str, what: &str) -> String {
    assert_eq!(page.status, 302, "{what}: expected the redirect to the client:\n{}", page.body);
    let location = page.location.clone().unwrap_or_default();
    assert!(location.starts_with(&f.redirect_uri), "{what}: redirect elsewhere: {location}");
    let q = query_map(&location);
    assert_eq!(q.get("state").map(String::as_str), Some(state), "{what}: state");
    q.get("code").cloned().unwrap_or_else(|| panic!("{what}: no code in {location}"))
}

fn count(idp: &TestIdp, table: &'static str) -> i64 {
    idp.state
        .store
        .run_sync(move |c| {
            Ok(match table {
                "sso_sessions" => schema::sso_sessions::table.count().get_result(c)?,
                "auth_codes" => schema::auth_codes::table.count().get_result(c)?,
                "users" => schema::users::table.count().get_result(c)?,
                "auth_flows" => schema::auth_flows::table.count().get_result(c)?,
                other => unreachable!("{other}"),
            })
        })
        .expect("count")
}

fn assert_nothing_issued(idp: &TestIdp, what: &str) {
    assert_eq!(count(idp, "sso_sessions"), 0, "{what}: an SSO session was created");
    assert_eq!(count(idp, "auth_codes"), 0, "{what}: an authorization code was created");
}

/// The member logs in through this (still valid) login page and gets a code.
async fn assert_member_logs_in(browser: &Browser, page: &Page, f: &Fixture, req: &AuthRequest, what: &str) {
    let done = browser.submit_login(page, &f.username, &f.password, &[]).await;
    assert_code(&done, f, &req.state, &format!("{what}: then the right password"));
}

// ---------------------------------------------------------------------------------------------
// The page itself
// ---------------------------------------------------------------------------------------------

dual_backend_test!(login_page_is_japanese_by_default_with_the_expected_fields, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, _) = open_login(&browser, &idp, &f).await;
    assert!(page.body.contains("<html lang=\"ja\">"), "{}", page.body);
    for text in ["ログイン", "ユーザID", "パスワード", "ログイン状態の保存"] {
        assert!(page.body.contains(text), "missing 「{text}」:\n{}", page.body);
    }
    assert!(page.body.contains("name=\"username\""), "no username field");
    assert!(page.body.contains("name=\"password\" type=\"password\""), "no password field of type password");
    assert!(page.body.contains("type=\"hidden\" name=\"csrf\""), "no hidden csrf field");
    assert!(csrf(&page).len() >= 16, "csrf token too short: {:?}", csrf(&page));
    let (action, _) = page.form().expect("form");
    assert_eq!(action, login_url(&idp, &f));
});

dual_backend_test!(login_page_is_english_with_ui_locales_en, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let req = authorize_request(&idp, &f, &[("ui_locales", "en")]);
    let page = open_login_with(&browser, &idp, &req, &[]).await;
    assert!(page.body.contains("<html lang=\"en\">"), "{}", page.body);
    for text in ["Sign in", "User ID", "Password", "Keep me signed in"] {
        assert!(page.body.contains(text), "missing \"{text}\":\n{}", page.body);
    }
    assert!(!page.body.contains("ログイン状態の保存"), "Japanese label on the English page");
    // The language stays with the flow: the answer to a wrong password is English too.
    let again = browser.submit_login(&page, &f.username, "Wrong-Password-1", &[]).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(alert(&again).as_deref(), Some("Invalid user ID or password."));
});

dual_backend_test!(login_page_is_english_with_accept_language_en, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let req = authorize_request(&idp, &f, &[]);
    let page = open_login_with(&browser, &idp, &req, &[("Accept-Language", "en")]).await;
    assert!(page.body.contains("<html lang=\"en\">"), "{}", page.body);
    for text in ["Sign in", "User ID", "Password", "Keep me signed in"] {
        assert!(page.body.contains(text), "missing \"{text}\":\n{}", page.body);
    }
    let ja = browser.get_with(&login_url(&idp, &f), &[("Accept-Language", "ja,en;q=0.5")]).await;
    assert!(ja.body.contains("ログイン状態の保存"), "Accept-Language ja first should give Japanese");
});

dual_backend_test!(login_pages_are_not_cached_and_cannot_be_framed, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let req = authorize_request(&idp, &f, &[]);
    let _ = open_login_with(&browser, &idp, &req, &[]).await;
    let check = |what: &str, h: &reqwest::header::HeaderMap| {
        let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(get("cache-control").contains("no-store"), "{what}: Cache-Control {:?}", get("cache-control"));
        assert_eq!(get("x-frame-options"), "DENY", "{what}: X-Frame-Options");
        let csp = get("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: Content-Security-Policy {csp:?}");
    };
    let r = browser.http.get(login_url(&idp, &f)).send().await.expect("GET login");
    assert_eq!(r.status().as_u16(), 200);
    check("login page", r.headers());
    let r = browser
        .http
        .post(login_url(&idp, &f))
        .form(&[("csrf", "nope"), ("username", "member01"), ("password", "x")])
        .send()
        .await
        .expect("POST login");
    check("refused login POST", r.headers());
    let r = Browser::new().http.get(login_url(&idp, &f)).send().await.expect("GET without flow");
    check("login page without a flow", r.headers());
});

// ---------------------------------------------------------------------------------------------
// Bad input: a clear page, nothing changed, the member can still log in
// ---------------------------------------------------------------------------------------------

dual_backend_test!(missing_csrf_is_refused_and_changes_nothing, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, req) = open_login(&browser, &idp, &f).await;
    let url = login_url(&idp, &f);
    for (what, body) in [
        ("no csrf field", vec![("username", f.username.as_str()), ("password", f.password.as_str())]),
        ("empty csrf", vec![("csrf", ""), ("username", f.username.as_str()), ("password", f.password.as_str())]),
        (
            "forged csrf",
            vec![
                ("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                ("username", &f.username),
                ("password", &f.password),
            ],
        ),
    ] {
        let r = post_fields(&browser, &url, &body).await;
        assert_clear(&r, what);
        assert_eq!(r.status, 403, "{what}: {}", r.body);
        assert!(alert(&r).is_some_and(|a| a.contains(CSRF_REFUSED)), "{what}: {}", r.body);
        assert_no_code(&r, what);
    }
    assert_nothing_issued(&idp, "missing csrf");
    assert_member_logs_in(&browser, &page, &f, &req, "missing csrf").await;
});

dual_backend_test!(csrf_token_of_another_flow_is_refused, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let (alice, bob) = (Browser::new(), Browser::new());
    let (page_a, req_a) = open_login(&alice, &idp, &f).await;
    let (page_b, req_b) = open_login(&bob, &idp, &f).await;
    let (token_a, token_b) = (csrf(&page_a), csrf(&page_b));
    assert_ne!(token_a, token_b, "two flows share a csrf token");
    let url = login_url(&idp, &f);
    for (browser, token, what) in [(&alice, &token_b, "A with B's token"), (&bob, &token_a, "B with A's token")] {
        let r =
            post_fields(browser, &url, &[("csrf", token), ("username", &f.username), ("password", &f.password)]).await;
        assert_clear(&r, what);
        assert_eq!(r.status, 403, "{what}: {}", r.body);
        assert_no_code(&r, what);
    }
    assert_nothing_issued(&idp, "swapped csrf tokens");
    assert_member_logs_in(&alice, &page_a, &f, &req_a, "swapped csrf (A)").await;
    assert_member_logs_in(&bob, &page_b, &f, &req_b, "swapped csrf (B)").await;
});

dual_backend_test!(over_long_username_and_password_get_a_clear_answer, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, req) = open_login(&browser, &idp, &f).await;
    let long = "a".repeat(10_000);
    let long_member = format!("{}{}", f.username, "x".repeat(10_000));
    for (what, username, password) in [
        ("10,000-character user ID", long.as_str(), f.password.as_str()),
        ("user ID followed by 10,000 characters", long_member.as_str(), f.password.as_str()),
        ("10,000-character password", f.username.as_str(), long.as_str()),
        ("both 10,000 characters", long.as_str(), long.as_str()),
    ] {
        let r = browser.submit_login(&page, username, password, &[]).await;
        assert_clear(&r, what);
        assert_no_code(&r, what);
        assert!(!r.body.contains(&"a".repeat(1_000)), "{what}: the over-long input is echoed in full");
    }
    assert_nothing_issued(&idp, "over-long input");
    assert_member_logs_in(&browser, &page, &f, &req, "over-long input").await;
});

dual_backend_test!(empty_or_missing_fields_get_a_clear_answer, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, req) = open_login(&browser, &idp, &f).await;
    let token = csrf(&page);
    let url = login_url(&idp, &f);
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("empty user ID", vec![("csrf", &token), ("username", ""), ("password", &f.password)]),
        ("blank user ID", vec![("csrf", &token), ("username", "   \u{3000} "), ("password", &f.password)]),
        ("empty password", vec![("csrf", &token), ("username", &f.username), ("password", "")]),
        ("both empty", vec![("csrf", &token), ("username", ""), ("password", "")]),
        ("no user ID field", vec![("csrf", &token), ("password", &f.password)]),
        ("no password field", vec![("csrf", &token), ("username", &f.username)]),
        ("only the csrf field", vec![("csrf", &token)]),
    ];
    for (what, body) in cases {
        let r = post_fields(&browser, &url, &body).await;
        assert_clear(&r, what);
        assert_no_code(&r, what);
    }
    let empty = post_raw(&browser, &url, Vec::new()).await;
    assert_clear(&empty, "empty body");
    assert_no_code(&empty, "empty body");
    assert_nothing_issued(&idp, "empty fields");
    assert_member_logs_in(&browser, &page, &f, &req, "empty fields").await;
});

dual_backend_test!(control_characters_in_the_user_id_get_a_clear_answer, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, req) = open_login(&browser, &idp, &f).await;
    let u = &f.username;
    let cases = [
        "mem\r\nber01".to_string(),
        "mem\tber01".to_string(),
        format!("\u{1b}[31m{u}"),
        format!("{u}\u{7f}"),
        format!("{u}\u{202e}"),
        format!("{u}\u{200b}"),
        "\u{1}\u{2}\u{3}".to_string(),
    ];
    for typed in &cases {
        let what = format!("user ID {typed:?}");
        let r = browser.submit_login(&page, typed, &f.password, &[]).await;
        assert_clear(&r, &what);
        assert_no_code(&r, &what);
    }
    assert_nothing_issued(&idp, "control characters");
    assert_member_logs_in(&browser, &page, &f, &req, "control characters").await;
});

dual_backend_test!(nul_in_the_user_id_or_password_gets_a_clear_answer, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, req) = open_login(&browser, &idp, &f).await;
    let u = &f.username;
    for typed in [format!("{u}\u{0}"), format!("\u{0}{u}"), "mem\u{0}ber01".to_string(), "\u{0}".to_string()] {
        // Either "invalid user ID or password" or "the input could not be processed".
        let what = format!("user ID {typed:?}");
        let r = browser.submit_login(&page, &typed, &f.password, &[]).await;
        assert_clear(&r, &what);
        assert_no_code(&r, &what);
    }
    let r = browser.submit_login(&page, u, &format!("{}\u{0}", f.password), &[]).await;
    assert_clear(&r, "NUL after the right password");
    assert_no_code(&r, "NUL after the right password");
    assert_nothing_issued(&idp, "NUL");
    assert_member_logs_in(&browser, &page, &f, &req, "NUL").await;
});

dual_backend_test!(non_utf8_form_body_gets_a_clear_answer, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, req) = open_login(&browser, &idp, &f).await;
    let token = csrf(&page);
    let url = login_url(&idp, &f);
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut raw_bytes = format!("csrf={}&username=", enc(&token)).into_bytes();
    raw_bytes.extend_from_slice(&[0xFF, 0xFE, 0xC3]);
    raw_bytes.extend_from_slice(format!("&password={}", enc(&f.password)).as_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "percent-encoded FF FE user ID",
            format!("csrf={}&username=%FF%FE&password={}", enc(&token), enc(&f.password)).into_bytes(),
        ),
        (
            "right user ID with invalid UTF-8 appended",
            format!("csrf={}&username={}%FF&password={}", enc(&token), enc(&f.username), enc(&f.password)).into_bytes(),
        ),
        (
            "invalid UTF-8 password",
            format!("csrf={}&username={}&password=%FF%FE", enc(&token), enc(&f.username)).into_bytes(),
        ),
        ("raw bytes FF FE C3 in the body", raw_bytes),
        ("invalid UTF-8 in a field name", format!("csrf={}&%FF%FE=1&username=x&password=y", enc(&token)).into_bytes()),
    ];
    for (what, body) in cases {
        let r = post_raw(&browser, &url, body).await;
        assert_clear(&r, what);
        assert_no_code(&r, what);
    }
    assert_nothing_issued(&idp, "non-UTF-8 input");
    assert_member_logs_in(&browser, &page, &f, &req, "non-UTF-8 input").await;
});

dual_backend_test!(sql_metacharacters_are_just_wrong_credentials, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, req) = open_login(&browser, &idp, &f).await;
    let members_before = count(&idp, "users");
    let cases = [
        ("' OR 1=1 --", f.password.as_str()),
        ("' OR '1'='1", "' OR '1'='1"),
        ("member01' --", "anything"),
        ("member01'; DROP TABLE users; --", "x"),
        ("\" OR \"\"=\"", "x"),
        ("member01", "' OR 1=1 --"),
        ("%", "%"),
        ("member0_", f.password.as_str()),
        ("member0%", f.password.as_str()),
    ];
    for (username, password) in cases {
        let what = format!("{username:?} / {password:?}");
        let r = browser.submit_login(&page, username, password, &[]).await;
        assert_clear(&r, &what);
        assert_no_code(&r, &what);
        assert_eq!(alert(&r).as_deref(), Some(INVALID), "{what}");
    }
    assert_eq!(count(&idp, "users"), members_before, "members changed");
    assert_nothing_issued(&idp, "SQL metacharacters");
    assert_member_logs_in(&browser, &page, &f, &req, "SQL metacharacters").await;
});

dual_backend_test!(html_in_the_user_id_comes_back_escaped, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, req) = open_login(&browser, &idp, &f).await;
    for typed in [
        "<script>alert(1)</script>",
        "\"><script>alert(1)</script>",
        "' onfocus='alert(1)",
        "<img src=x onerror=alert(1)>",
    ] {
        let r = browser.submit_login(&page, typed, "Wrong-Password-1", &[]).await;
        assert_clear(&r, typed);
        assert_no_code(&r, typed);
        assert_eq!(r.status, 200, "{typed}: the form should come back");
        assert!(!r.body.contains("<script>alert(1)</script>"), "{typed}: raw script in the page:\n{}", r.body);
        assert!(!r.body.contains("<img src=x"), "{typed}: raw tag in the page");
        assert!(!r.body.contains("onfocus='alert"), "{typed}: attribute breakout");
        // The member sees what they typed, escaped, in the user ID field.
        let shown = fields(&r).into_iter().find(|(k, _)| k == "username").map(|(_, v)| v);
        assert_eq!(shown.as_deref(), Some(typed), "{typed}: the user ID field does not show the input");
    }
    let r = browser.submit_login(&page, "<script>alert(1)</script>", "Wrong-Password-1", &[]).await;
    assert!(r.body.contains("value=\"&lt;script&gt;alert(1)&lt;"), "the tag is not HTML-escaped:\n{}", r.body);
    assert_nothing_issued(&idp, "HTML input");
    assert_member_logs_in(&browser, &page, &f, &req, "HTML input").await;
});

dual_backend_test!(repeated_parameter_is_refused_and_changes_nothing, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    idp.add_member(&f, "member02", "Other-Horse-43", Some("member02@example.jp"));
    let browser = Browser::new();
    let (page, req) = open_login(&browser, &idp, &f).await;
    let token = csrf(&page);
    let url = login_url(&idp, &f);
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "user ID twice",
            vec![("csrf", &token), ("username", "member02"), ("username", &f.username), ("password", &f.password)],
        ),
        (
            "password twice",
            vec![("csrf", &token), ("username", &f.username), ("password", "wrong-one-1"), ("password", &f.password)],
        ),
        (
            "csrf twice",
            vec![("csrf", "forged"), ("csrf", &token), ("username", &f.username), ("password", &f.password)],
        ),
    ];
    for (what, body) in cases {
        let r = post_fields(&browser, &url, &body).await;
        assert_clear(&r, what);
        assert_no_code(&r, what);
    }
    assert_nothing_issued(&idp, "repeated parameters");
    assert_member_logs_in(&browser, &page, &f, &req, "repeated parameters").await;
});

// ---------------------------------------------------------------------------------------------
// Missing and expired flows
// ---------------------------------------------------------------------------------------------

dual_backend_test!(login_page_without_a_flow_says_start_again, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let url = login_url(&idp, &f);
    let fresh = Browser::new();
    let r = fresh.get(&url).await;
    assert_clear(&r, "GET without a flow cookie");
    assert!(alert(&r).is_some_and(|a| a.contains(FLOW_MISSING)), "{}", r.body);
    let r = post_fields(&fresh, &url, &[("csrf", "x"), ("username", &f.username), ("password", &f.password)]).await;
    assert_clear(&r, "POST without a flow cookie");
    assert_no_code(&r, "POST without a flow cookie");
    for cookie in [
        "KENPO_FLOW=not-a-flow".to_string(),
        format!("KENPO_FLOW={}", "A".repeat(500)),
        "KENPO_FLOW=".to_string(),
        format!("KENPO_FLOW=s1.{}", "A".repeat(200)), // looks sealed, is not
    ] {
        let r = fresh.http.get(&url).header("cookie", &cookie).send().await.expect("GET");
        let page = page_of(&url, r).await;
        assert_clear(&page, &format!("GET with cookie {}", &cookie[..cookie.len().min(30)]));
        assert!(alert(&page).is_some_and(|a| a.contains(FLOW_MISSING)), "{}", page.body);
    }
    let unknown_realm = fresh.get(&format!("{}/realms/nosuchrealm/login-actions/authenticate", idp.base_url)).await;
    assert!(matches!(unknown_realm.status, 400 | 404), "unknown realm: {}", unknown_realm.status);
    assert_nothing_issued(&idp, "no flow");
});

dual_backend_test!(expired_flow_shows_the_expired_page_and_restart_leads_to_a_fresh_login, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, req) = open_login(&browser, &idp, &f).await;
    // A new flow lives in its sealed cookie; a first step (here a wrong password) stores it,
    // so that the test can age the row.
    let page = browser.submit_login(&page, &f.username, "Wrong-Password-1", &[]).await;
    assert_eq!(count(&idp, "auth_flows"), 1, "the flow is stored after its first step");
    idp.state
        .store
        .run_sync(|c| c.execute_raw("UPDATE auth_flows SET expires_at = '2000-01-01 00:00:00'"))
        .expect("expire");

    let restart = format!("/realms/{}/login-actions/restart", f.realm);
    let expired = browser.get(&login_url(&idp, &f)).await;
    assert_clear(&expired, "GET on an expired flow");
    assert!(alert(&expired).is_some_and(|a| a.contains(FLOW_EXPIRED)), "{}", expired.body);
    assert!(
        html_unescape(&expired.body).contains(&format!("href=\"{restart}\"")),
        "no link to {restart}:\n{}",
        expired.body
    );

    let late = browser.submit_login(&page, &f.username, &f.password, &[]).await;
    assert_clear(&late, "the right password on an expired flow");
    assert_no_code(&late, "the right password on an expired flow");
    assert!(alert(&late).is_some_and(|a| a.contains(FLOW_EXPIRED)), "{}", late.body);
    assert_nothing_issued(&idp, "expired flow");

    let again = browser.get(&absolute(&idp.base_url, &restart)).await;
    assert_eq!(again.status, 302, "restart: {}", again.body);
    let login = absolute(&again.url, again.location.as_deref().expect("restart redirects"));
    assert_eq!(login, login_url(&idp, &f));
    let fresh = browser.get(&login).await;
    assert_eq!(fresh.status, 200, "fresh login page: {}", fresh.body);
    assert!(fresh.form().is_some() && alert(&fresh).is_none(), "not a fresh login page:\n{}", fresh.body);
    assert_member_logs_in(&browser, &fresh, &f, &req, "after restart").await;
});

// ---------------------------------------------------------------------------------------------
// Double submit
// ---------------------------------------------------------------------------------------------

dual_backend_test!(a_login_page_only_viewed_stores_nothing_and_a_login_stores_one_finished_flow, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, req) = open_login(&browser, &idp, &f).await;
    let again = browser.get(&login_url(&idp, &f)).await;
    assert!(again.form().is_some(), "the login page again: {}", again.body);
    assert_eq!(count(&idp, "auth_flows"), 0, "viewing the login page stores nothing");
    let done = browser.submit_login(&page, &f.username, &f.password, &[]).await;
    assert_code(&done, &f, &req.state, "login");
    assert_eq!(count(&idp, "auth_flows"), 1, "the finished flow is recorded once");
});

dual_backend_test!(double_submit_of_a_successful_form_yields_one_code, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, req) = open_login(&browser, &idp, &f).await;
    let url = login_url(&idp, &f);
    let flow_cookie = browser.jar.cookies(&url::Url::parse(&url).expect("url")).expect("flow cookie");

    let first = browser.submit_login(&page, &f.username, &f.password, &[]).await;
    assert_code(&first, &f, &req.state, "first submit");
    // The same form again from the same browser…
    let second = browser.submit_login(&page, &f.username, &f.password, &[]).await;
    assert!(second.status < 500, "second submit: {} {}", second.status, second.body);
    assert_no_code(&second, "second submit");
    // …and replayed with the flow cookie the browser had before the first answer.
    let (action, form) = page.form().expect("form");
    let mut data: Vec<(String, String)> =
        form.into_iter().filter(|(k, _)| k != "username" && k != "password").collect();
    data.push(("username".into(), f.username.clone()));
    data.push(("password".into(), f.password.clone()));
    let replay = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = replay.post(&action).header("cookie", flow_cookie).form(&data).send().await.expect("replay");
    let replayed = page_of(&action, r).await;
    assert!(replayed.status < 500, "replay: {} {}", replayed.status, replayed.body);
    assert_no_code(&replayed, "replayed submit");
    assert_eq!(count(&idp, "auth_codes"), 1, "more than one code for one flow");
    assert_eq!(count(&idp, "sso_sessions"), 1, "more than one session for one login");
});

dual_backend_test!(concurrent_double_submit_yields_one_code, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, req) = open_login(&browser, &idp, &f).await;
    let (a, b) = tokio::join!(
        browser.submit_login(&page, &f.username, &f.password, &[]),
        browser.submit_login(&page, &f.username, &f.password, &[]),
    );
    for (what, p) in [("first", &a), ("second", &b)] {
        assert!(p.status < 500, "{what} concurrent submit: {} {}", p.status, p.body);
    }
    let codes = [&a, &b]
        .iter()
        .filter(|p| p.location.as_deref().map(query_map).is_some_and(|q| q.contains_key("code")))
        .count();
    assert_eq!(codes, 1, "exactly one of two concurrent submits gets a code: {:?} / {:?}", a.location, b.location);
    let winner =
        if a.status == 302 && a.location.as_deref().is_some_and(|l| l.starts_with(&f.redirect_uri)) { &a } else { &b };
    assert_code(winner, &f, &req.state, "the winning submit");
    assert_eq!(count(&idp, "auth_codes"), 1, "codes in the database");
});

// ---------------------------------------------------------------------------------------------
// Brute force (SPEC §9): 10 failures lock the user ID, existing or not
// ---------------------------------------------------------------------------------------------

/// Ten wrong passwords for `username` in one flow; returns the page after the tenth.
async fn ten_failures(browser: &Browser, page: Page, username: &str) -> Page {
    let mut page = page;
    for i in 1..=10 {
        let next = browser.submit_login(&page, username, &format!("Wrong-Password-{i}"), &[]).await;
        assert_eq!(next.status, 200, "attempt {i}: {}", next.body);
        assert_no_code(&next, &format!("attempt {i}"));
        assert!(next.form().is_some(), "attempt {i}: no form");
        page = next;
    }
    page
}

dual_backend_test!(ten_wrong_passwords_lock_the_account_even_for_the_right_password, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let (page, _) = open_login(&browser, &idp, &f).await;
    let page = ten_failures(&browser, page, &f.username).await;
    let eleventh = browser.submit_login(&page, &f.username, &f.password, &[]).await;
    assert_clear(&eleventh, "11th attempt with the right password");
    assert_no_code(&eleventh, "11th attempt with the right password");
    assert!(alert(&eleventh).is_some_and(|a| a.contains(LOCKED)), "not the locked message:\n{}", eleventh.body);
    // A new flow does not unlock it either.
    let other = Browser::new();
    let (page, _) = open_login(&other, &idp, &f).await;
    let r = other.submit_login(&page, &f.username.to_uppercase(), &f.password, &[]).await;
    assert_no_code(&r, "right password in a new browser while locked");
    assert!(alert(&r).is_some_and(|a| a.contains(LOCKED)), "{}", r.body);
    assert_nothing_issued(&idp, "locked account");
});

dual_backend_test!(unknown_user_id_locks_exactly_like_a_real_one, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let real = Browser::new();
    let (page, _) = open_login(&real, &idp, &f).await;
    let page = ten_failures(&real, page, &f.username).await;
    let real_locked = real.submit_login(&page, &f.username, &f.password, &[]).await;

    let stranger = Browser::new();
    let (page, _) = open_login(&stranger, &idp, &f).await;
    let page = ten_failures(&stranger, page, "nobody0001").await;
    let unknown_locked = stranger.submit_login(&page, "nobody0001", "Any-Password-1", &[]).await;
    assert_clear(&unknown_locked, "11th attempt for an unknown user ID");
    assert_no_code(&unknown_locked, "unknown user ID");
    assert!(
        alert(&unknown_locked).is_some_and(|a| a.contains(LOCKED)),
        "unknown ID not locked:\n{}",
        unknown_locked.body
    );
    assert_eq!(unknown_locked.status, real_locked.status, "status differs between a real and an unknown user ID");
    assert_eq!(alert(&unknown_locked), alert(&real_locked), "message differs between a real and an unknown user ID");
});

dual_backend_test!(a_locked_user_id_does_not_affect_another_member, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    idp.add_member(&f, "member02", "Other-Horse-43", Some("member02@example.jp"));
    let attacker = Browser::new();
    let (page, _) = open_login(&attacker, &idp, &f).await;
    let page = ten_failures(&attacker, page, &f.username).await;
    let locked = attacker.submit_login(&page, &f.username, &f.password, &[]).await;
    assert!(alert(&locked).is_some_and(|a| a.contains(LOCKED)), "{}", locked.body);
    // The other member logs in, even from the attacker's flow and browser.
    let r = attacker.submit_login(&locked, "member02", "Other-Horse-43", &[]).await;
    assert_eq!(r.status, 302, "member02 was affected by member01's lock:\n{}", r.body);
    assert!(r.location.as_deref().map(query_map).is_some_and(|q| q.contains_key("code")), "{:?}", r.location);
    let other = Browser::new();
    let (page, req) = open_login(&other, &idp, &f).await;
    let done = other.submit_login(&page, "member02", "Other-Horse-43", &[]).await;
    assert_code(&done, &f, &req.state, "member02 in a fresh browser");
});
