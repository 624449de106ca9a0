//! Top page, login, callback, logout and back-channel logout.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::extract::{self, cookie, cookie_value, removal, viewer};
use crate::error::PortalError;
use crate::oidc_client::session::{
    self, Callback, CallbackParams, Current, LOGIN_COOKIE, LOGIN_MINUTES, Refusal, SESSION_COOKIE,
};
use crate::state::AppState;

type Res = Result<HttpResponse, PortalError>;

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct LoginLink {
    login_url: String,
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::Found().insert_header(("Location", to)).insert_header(("Cache-Control", "no-store")).finish()
}

/// The page for a browser whose session has ended: log in again, never an error dump.
pub fn expired_page(st: &AppState, req: &HttpRequest, return_to: &str) -> HttpResponse {
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("next", return_to).finish();
    let page = LoginLink { login_url: format!("/login?{q}") };
    let mut resp = st.pages.render(StatusCode::OK, "expired.html", extract::locale(req), &viewer(st, None), &page);
    let _ = resp.add_removal_cookie(&removal(st, SESSION_COOKIE));
    resp
}

pub async fn index_get(st: web::Data<AppState>, req: HttpRequest) -> Res {
    let locale = extract::locale(&req);
    match session::current(&st, cookie_value(&req, SESSION_COOKIE)).await? {
        Current::SignedIn(s) => {
            Ok(st.pages.render(StatusCode::OK, "home.html", locale, &viewer(&st, Some(&s)), &Empty {}))
        }
        Current::Expired => Ok(expired_page(&st, &req, "/")),
        Current::Anonymous => Ok(st.pages.render(
            StatusCode::OK,
            "index.html",
            locale,
            &viewer(&st, None),
            &LoginLink { login_url: "/login".into() },
        )),
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// "Login with OpenID Connect": to the IdP, with a fresh state, nonce and PKCE verifier.
/// Results need a recent sign-in, so a login on the way to them carries `max_age`.
pub async fn login_get(st: web::Data<AppState>, req: HttpRequest, q: web::Query<LoginQuery>) -> Res {
    let return_to = session::safe_return_to(q.next.as_deref());
    let max_age = return_to.starts_with("/results").then_some(st.config.results.max_age_seconds);
    let locale = extract::locale(&req);
    let (token, url) = session::start_login(&st, return_to, max_age, locale.code()).await?;
    let mut resp = redirect(&url);
    let _ = resp.add_cookie(&cookie(&st, LOGIN_COOKIE, token, Some(LOGIN_MINUTES * 60)));
    Ok(resp)
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub async fn callback_get(st: web::Data<AppState>, req: HttpRequest, q: web::Query<CallbackQuery>) -> Res {
    let q = q.into_inner();
    let params = CallbackParams { code: q.code, state: q.state, error: q.error };
    let outcome =
        session::complete_login(&st, cookie_value(&req, LOGIN_COOKIE), cookie_value(&req, SESSION_COOKIE), params)
            .await?;
    let mut resp = match outcome {
        Callback::SignedIn { session_token, return_to } => {
            let mut r = redirect(&return_to);
            let _ = r.add_cookie(&cookie(&st, SESSION_COOKIE, session_token, None));
            r
        }
        Callback::Refused(why) => {
            #[derive(Serialize)]
            struct Failed {
                message: String,
                login_url: &'static str,
            }
            let key = match why {
                Refusal::NoLogin => "login.failed.no_login",
                Refusal::StateMismatch | Refusal::Rejected => "login.failed.rejected",
                Refusal::IdpError => "login.failed.idp_error",
            };
            let locale = extract::locale(&req);
            let page = Failed { message: st.pages.message(locale, key), login_url: "/login" };
            st.pages.render(StatusCode::BAD_REQUEST, "login_failed.html", locale, &viewer(&st, None), &page)
        }
    };
    let _ = resp.add_removal_cookie(&removal(&st, LOGIN_COOKIE));
    Ok(resp)
}

#[derive(Serialize)]
struct Confirm {
    csrf: String,
}

/// 「ログアウトしてもよろしいですか？」
pub async fn logout_get(st: web::Data<AppState>, req: HttpRequest) -> Res {
    match session::current(&st, cookie_value(&req, SESSION_COOKIE)).await? {
        Current::SignedIn(s) => {
            let page = Confirm { csrf: s.csrf.clone() };
            Ok(st.pages.render(
                StatusCode::OK,
                "logout_confirm.html",
                extract::locale(&req),
                &viewer(&st, Some(&s)),
                &page,
            ))
        }
        _ => Ok(redirect("/")),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// Ends the portal session, then RP-initiated logout at the IdP, which sends the browser
/// back to the top page.
pub async fn logout_post(st: web::Data<AppState>, req: HttpRequest, form: web::Form<CsrfForm>) -> Res {
    let Current::SignedIn(s) = session::current(&st, cookie_value(&req, SESSION_COOKIE)).await? else {
        let mut r = redirect("/");
        let _ = r.add_removal_cookie(&removal(&st, SESSION_COOKIE));
        return Ok(r);
    };
    if !session::csrf_ok(&s, &form.csrf) {
        return Ok(st.pages.error(StatusCode::FORBIDDEN, extract::locale(&req), &viewer(&st, Some(&s)), "error.csrf"));
    }
    let next = session::logout(&st, &s).await?;
    let mut r = redirect(next.as_deref().unwrap_or("/"));
    let _ = r.add_removal_cookie(&removal(&st, SESSION_COOKIE));
    Ok(r)
}

#[derive(Deserialize)]
pub struct BackchannelForm {
    #[serde(default)]
    logout_token: String,
}

/// OpenID Connect Back-Channel Logout: 200 when the token verifies (even if no session
/// matched), 400 otherwise (§2.8).
pub async fn backchannel_logout_post(st: web::Data<AppState>, form: web::Form<BackchannelForm>) -> Res {
    let resp = |status: StatusCode, body: &'static str| {
        HttpResponse::build(status)
            .insert_header(("Cache-Control", "no-store"))
            .content_type("application/json")
            .body(body)
    };
    match session::backchannel_logout(&st, &form.logout_token).await? {
        Ok(n) => {
            tracing::info!(sessions = n, "back-channel logout");
            Ok(resp(StatusCode::OK, "{}"))
        }
        Err(e) => {
            tracing::warn!(error = %e, "back-channel logout refused");
            Ok(resp(StatusCode::BAD_REQUEST, r#"{"error":"invalid_request"}"#))
        }
    }
}
