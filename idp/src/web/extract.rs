//! Request helpers shared by the handlers: realm lookup, locale, forms, cookies.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};

use kenpo_shared::i18n::Locale;

use crate::error::IdpError;
use crate::realm::Realm;
use crate::state::AppState;

/// The realm named in the path, or the localized "not found" page.
pub async fn realm(st: &AppState, req: &HttpRequest, name: &str) -> Result<Result<Arc<Realm>, HttpResponse>, IdpError> {
    if crate::realm::validate_realm_name(name).is_err() {
        return Ok(Err(st.pages.error(StatusCode::NOT_FOUND, locale(req, None), None, "error.realm_unknown", None)));
    }
    Ok(match st.realm(name).await? {
        Some(r) => Ok(r),
        None => Err(st.pages.error(StatusCode::NOT_FOUND, locale(req, None), None, "error.realm_unknown", None)),
    })
}

/// `ui_locales` (from the query or the stored request) first, then Accept-Language, then ja.
pub fn locale(req: &HttpRequest, ui_locales: Option<&str>) -> Locale {
    let query_ui = query_map(req).get("ui_locales").cloned();
    let ui = ui_locales.map(str::to_string).or(query_ui);
    let accept = req.headers().get("accept-language").and_then(|v| v.to_str().ok());
    Locale::negotiate(ui.as_deref(), accept)
}

/// Query parameters. A parameter containing NUL is dropped: no legitimate value has one, and
/// PostgreSQL cannot store it.
pub fn query_map(req: &HttpRequest) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .filter(|(k, v)| !k.contains('\0') && !v.contains('\0'))
        .collect()
}

/// Parses a form body. Invalid UTF-8 is replaced, never a panic; a parameter given twice is
/// refused (RFC 6749 §3.1: parameters must not be included more than once), and so is a NUL
/// character anywhere (no legitimate value has one, and PostgreSQL cannot store it).
pub fn form_map(body: &web::Bytes) -> Result<HashMap<String, String>, &'static str> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if k.contains('\0') || v.contains('\0') {
            return Err("a parameter contains a NUL character");
        }
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err("a parameter was repeated");
        }
    }
    Ok(out)
}

/// A cookie's value; empty or longer than a browser keeps (4 KiB) counts as absent. A sealed
/// login flow (`flows/pending.rs`) is up to 3,500 bytes; the other cookies are short tokens.
pub fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name).map(|c| c.value().to_string()).filter(|v| !v.is_empty() && v.len() <= 4096)
}

/// A cookie scoped to the realm's path, HttpOnly, SameSite=Lax, Secure outside plain-http dev.
pub fn realm_cookie(
    st: &AppState,
    realm: &Realm,
    name: &'static str,
    value: String,
    max_age: Option<i64>,
) -> Cookie<'static> {
    let mut c = Cookie::build(name, value)
        .path(format!("/realms/{}/", realm.name))
        .http_only(true)
        .secure(st.secure_cookies())
        .same_site(SameSite::Lax)
        .finish();
    if let Some(secs) = max_age {
        c.set_max_age(CookieDuration::seconds(secs));
    }
    c
}

pub fn removal_cookie(st: &AppState, realm: &Realm, name: &'static str) -> Cookie<'static> {
    let mut c = realm_cookie(st, realm, name, String::new(), None);
    c.make_removal();
    c
}

pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}
