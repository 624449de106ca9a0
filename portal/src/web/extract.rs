//! Request helpers shared by the handlers: locale, cookies, the viewer for the header.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};

use kenpo_shared::i18n::Locale;

use super::render::Viewer;
use crate::state::AppState;
use crate::store::sessions::SessionRow;

pub fn locale(req: &HttpRequest) -> Locale {
    let accept = req.headers().get("accept-language").and_then(|v| v.to_str().ok());
    Locale::negotiate(None, accept)
}

pub fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name).map(|c| c.value().to_string()).filter(|v| !v.is_empty() && v.len() <= 128)
}

/// HttpOnly, SameSite=Lax (the IdP's redirect back is a top-level GET), Secure outside
/// plain-http development.
pub fn cookie(st: &AppState, name: &'static str, value: String, max_age_secs: Option<i64>) -> Cookie<'static> {
    let mut c = Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(st.config.secure_cookies())
        .same_site(SameSite::Lax)
        .finish();
    if let Some(s) = max_age_secs {
        c.set_max_age(CookieDuration::seconds(s));
    }
    c
}

pub fn removal(st: &AppState, name: &'static str) -> Cookie<'static> {
    let mut c = cookie(st, name, String::new(), None);
    c.make_removal();
    c
}

pub fn viewer(st: &AppState, session: Option<&SessionRow>) -> Viewer {
    Viewer {
        name: session.map(|s| s.name.clone()).filter(|n| !n.is_empty()),
        profile_url: st.config.profile_url(),
        login_methods_url: st.config.login_methods_url(),
    }
}
