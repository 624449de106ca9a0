//! No user enumeration at the login form: an unknown user ID and a wrong password get the same
//! status and the same page, 「無効なユーザIDまたはパスワードです。」.

use crate::common::*;
use kenpo_e2e::browser::Page;
use kenpo_e2e::{Browser, Fixture, TestIdp, dual_backend_test};

/// One login attempt in a fresh browser: the response to the credentials POST.
async fn attempt(idp: &TestIdp, f: &Fixture, username: &str, password: &str) -> Page {
    let rp1 = rp(idp, f).await;
    let browser = Browser::new();
    let a = rp1.authorize(&["profile"], &[]);
    let page = open(&browser, idp, &a.url).await;
    assert!(is_login_page(&page));
    browser.submit_login(&page, username, password, &[]).await
}

/// The body with what legitimately differs between two attempts masked: the CSRF token (per
/// flow) and the user ID typed (echoed back into the form).
fn normalized(page: &Page, typed: &str) -> String {
    let mut body = page.body.clone();
    if let Some((_, fields)) = page.form() {
        for (k, v) in fields {
            if k == "csrf" && !v.is_empty() {
                body = body.replace(&v, "CSRF");
            }
        }
    }
    body.replace(&format!("value=\"{typed}\""), "value=\"TYPED\"")
}

dual_backend_test!(unknown_user_and_wrong_password_get_the_same_answer, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let unknown = attempt(&idp, &f, "nobody99", &f.password).await;
    let wrong = attempt(&idp, &f, &f.username, "Wrong-Horse-42").await;
    let malformed = attempt(&idp, &f, "ab", "Wrong-Horse-42").await;

    for (what, p) in [("unknown user", &unknown), ("wrong password", &wrong), ("malformed user ID", &malformed)] {
        assert_eq!(p.status, 200, "{what}: {}", p.body);
        assert_eq!(p.location, None, "{what}");
        assert!(p.body.contains(INVALID_CREDENTIALS), "{what}: {}", p.body);
        assert!(is_login_page(p), "{what}: the form is shown again");
    }
    assert_eq!(unknown.status, wrong.status);
    let (u, w, m) = (normalized(&unknown, "nobody99"), normalized(&wrong, &f.username), normalized(&malformed, "ab"));
    assert_eq!(u, w, "unknown user and wrong password must give the same page");
    assert_eq!(u, m, "a malformed user ID must give the same page as well");

    // And the right password still gets in (neither attempt locked the account).
    let ok = attempt(&idp, &f, &f.username, &f.password).await;
    assert_eq!(ok.status, 302, "{}", ok.body);
});
