//! The authorization endpoint and the login pages.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::extract::{self, client_ip, cookie_value, realm_cookie, removal_cookie};
use crate::error::IdpError;
use crate::flows::login::{LoginState, Notice, Page};
use crate::flows::service::{self, AuthResponse, AuthorizeOutcome, Flow, SubmitOutcome};
use crate::flows::session::{FLOW_COOKIE, SESSION_COOKIE};
use crate::oidc::authorize::{self, AuthRequest, AuthorizeError, ResponseMode};
use crate::realm::Realm;
use crate::state::AppState;
use kenpo_shared::secret::Secret;

type Res = Result<HttpResponse, IdpError>;

macro_rules! realm_page {
    ($st:expr, $req:expr, $name:expr) => {
        match extract::realm(&$st, &$req, &$name).await? {
            Ok(r) => r,
            Err(page) => return Ok(page),
        }
    };
}

pub async fn authorize_get(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> Res {
    let params = extract::query_map(&req);
    authorize(st, req, path.into_inner(), params).await
}

/// OIDC Core §3.1.2.1: the authorization endpoint accepts POST (form) as well as GET.
pub async fn authorize_post(
    st: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Res {
    match extract::form_map(&body) {
        Ok(params) => authorize(st, req, path.into_inner(), params).await,
        Err(_) => {
            Ok(st.pages.error(StatusCode::BAD_REQUEST, extract::locale(&req, None), None, "error.bad_request", None))
        }
    }
}

async fn authorize(
    st: web::Data<AppState>,
    req: HttpRequest,
    realm_name: String,
    params: HashMap<String, String>,
) -> Res {
    let realm = realm_page!(st, req, realm_name);
    let locale = extract::locale(&req, params.get("ui_locales").map(String::as_str));
    let client = match authorize::client_id_of(&params) {
        Ok(id) => st.client(&realm.id, id).await?,
        Err(_) => None,
    };
    let auth_req = match authorize::validate(&params, client.as_deref(), realm.settings.tokens.pkce_required_for_all) {
        Ok(r) => r,
        Err(AuthorizeError::Page(key)) => {
            return Ok(st.pages.error(StatusCode::BAD_REQUEST, locale, Some(&realm), key, None));
        }
        Err(AuthorizeError::Redirect { redirect_uri, state, mode, error }) => {
            let resp = AuthResponse::error(&st.issuer(&realm), &redirect_uri, mode, state.as_deref(), &error);
            return Ok(respond(&st, &realm, locale, &resp));
        }
    };
    let session = cookie_value(&req, SESSION_COOKIE);
    match service::authorize(&st, &realm, auth_req, session).await? {
        AuthorizeOutcome::Respond(resp) => Ok(respond(&st, &realm, locale, &resp)),
        AuthorizeOutcome::Login { flow_token } => Ok(HttpResponse::Found()
            .cookie(realm_cookie(&st, &realm, FLOW_COOKIE, flow_token, None))
            .insert_header(("Location", login_path(&realm)))
            .insert_header(("Cache-Control", "no-store"))
            .finish()),
    }
}

pub(super) fn login_path(realm: &Realm) -> String {
    format!("/realms/{}/login-actions/authenticate", realm.name)
}

/// Sends the browser back to the client: a redirect, or an auto-submitting form (form_post).
pub(super) fn respond(
    st: &AppState,
    realm: &Realm,
    locale: kenpo_shared::i18n::Locale,
    resp: &AuthResponse,
) -> HttpResponse {
    match resp.mode {
        ResponseMode::Query => HttpResponse::Found()
            .insert_header(("Location", resp.location()))
            .insert_header(("Cache-Control", "no-store"))
            .finish(),
        ResponseMode::FormPost => {
            #[derive(Serialize)]
            struct FormPost<'a> {
                action: &'a str,
                params: &'a [(String, String)],
            }
            st.pages.render(
                StatusCode::OK,
                "form_post.html",
                locale,
                Some(realm),
                &FormPost { action: &resp.redirect_uri, params: &resp.params },
            )
        }
    }
}

#[derive(Serialize)]
struct LoginPage {
    action: String,
    csrf: String,
    username: String,
    notice: Option<String>,
    remember_me_enabled: bool,
    back_url: Option<String>,
    /// WebAuthn options (JSON) for passwordless sign-in with a passkey offered in the user-ID
    /// field's autofill (conditional UI); empty when the realm does not allow it.
    passkey_options: String,
}

fn back_url(realm: &Realm, request: Option<&AuthRequest>) -> Option<String> {
    if !realm.settings.login.portal_url.is_empty() {
        return Some(realm.settings.login.portal_url.clone());
    }
    let u = url::Url::parse(&request?.redirect_uri).ok()?;
    Some(format!("{}/", u.origin().ascii_serialization()))
}

async fn render_login(
    st: &AppState,
    req: &HttpRequest,
    realm: &Realm,
    flow: &Flow,
    username: &str,
    status: StatusCode,
) -> Res {
    // Each view starts a new passwordless ceremony (the previous challenge is replaced).
    let passkey_options = match &flow.state {
        LoginState::Credentials { .. } => {
            crate::flows::passkeys::passwordless_options(st, realm, flow).await?.unwrap_or_default()
        }
        _ => String::new(),
    };
    let locale = extract::locale(req, flow.request.ui_locales.as_deref());
    let notice = match &flow.state {
        LoginState::Credentials { notice } => *notice,
        LoginState::SecondFactor { .. }
        | LoginState::RequiredActions { .. }
        | LoginState::Complete { .. }
        | LoginState::Denied { .. } => None,
    };
    let prefill =
        if username.is_empty() { flow.request.login_hint.clone().unwrap_or_default() } else { username.to_string() };
    let page = LoginPage {
        action: login_path(realm),
        csrf: kenpo_shared::csrf::token(&st.csrf_key, "login", &flow.id),
        username: prefill.chars().take(255).collect(),
        notice: notice.map(|n| st.pages.message(locale, notice_key(n))),
        remember_me_enabled: realm.settings.login.remember_me_enabled,
        back_url: back_url(realm, Some(&flow.request)),
        passkey_options,
    };
    Ok(st.pages.render(status, "login.html", locale, Some(realm), &page))
}

fn notice_key(n: Notice) -> &'static str {
    match n {
        Notice::InvalidCredentials => "login.notice.invalid_credentials",
        Notice::Locked => "login.notice.locked",
        Notice::Reauthenticate => "login.notice.reauthenticate",
    }
}

/// The flow behind the cookie, or the page that explains why there is none.
pub(super) async fn current_flow(
    st: &AppState,
    req: &HttpRequest,
    realm: &Realm,
) -> Result<Result<Flow, HttpResponse>, IdpError> {
    let token = cookie_value(req, FLOW_COOKIE);
    let flow = service::load_flow(st, realm, token.as_deref()).await?;
    Ok(match flow {
        None => Err(st.pages.error(
            StatusCode::BAD_REQUEST,
            extract::locale(req, None),
            Some(realm),
            "error.flow_missing",
            back_url(realm, None).as_deref(),
        )),
        Some(f) if f.expired => {
            let restart = format!("/realms/{}/login-actions/restart", realm.name);
            Err(st.pages.error(
                StatusCode::BAD_REQUEST,
                extract::locale(req, f.request.ui_locales.as_deref()),
                Some(realm),
                "error.flow_expired",
                Some(&restart),
            ))
        }
        Some(f) => Ok(Flow {
            browser_session: cookie_value(req, SESSION_COOKIE).map(|t| kenpo_shared::crypto::token_hash(&t)),
            ..f
        }),
    })
}

pub async fn login_get(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> Res {
    let realm = realm_page!(st, req, path.into_inner());
    let flow = match current_flow(&st, &req, &realm).await? {
        Ok(f) => f,
        Err(page) => return Ok(page),
    };
    match flow.state.page() {
        Page::Credentials => render_login(&st, &req, &realm, &flow, "", StatusCode::OK).await,
        Page::Action(_) => Ok(see_other(&super::actions::action_path(&realm))),
        Page::SecondFactor(_) => Ok(see_other(&super::factors::factor_path(&realm))),
        Page::ReturnToClient | Page::Denied => Ok(st.pages.error(
            StatusCode::BAD_REQUEST,
            extract::locale(&req, None),
            Some(&realm),
            "error.flow_missing",
            None,
        )),
    }
}

pub async fn login_post(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> Res {
    let realm = realm_page!(st, req, path.into_inner());
    let flow = match current_flow(&st, &req, &realm).await? {
        Ok(f) => f,
        Err(page) => return Ok(page),
    };
    let locale = extract::locale(&req, flow.request.ui_locales.as_deref());
    let restart = format!("/realms/{}/login-actions/restart", realm.name);
    let Ok(form) = extract::form_map(&body) else {
        return Ok(st.pages.error(StatusCode::BAD_REQUEST, locale, Some(&realm), "error.bad_request", Some(&restart)));
    };
    let csrf_ok = form.get("csrf").is_some_and(|t| kenpo_shared::csrf::verify(&st.csrf_key, "login", &flow.id, t));
    if !csrf_ok {
        return Ok(st.pages.error(StatusCode::FORBIDDEN, locale, Some(&realm), "error.csrf", Some(&restart)));
    }
    if flow.state.page() != Page::Credentials {
        // An old login form replayed after the password step: show where the flow really is.
        return Ok(see_other(&login_path(&realm)));
    }
    if form.get("op").is_some_and(|op| op == "passkey") {
        // Passwordless: a discoverable passkey picked in the user-ID field's autofill.
        let credential = form.get("credential").map(String::as_str).unwrap_or("");
        let outcome =
            crate::flows::passkeys::submit_passwordless(&st, &realm, flow, credential, client_ip(&req)).await?;
        return Ok(match outcome {
            SubmitOutcome::Page(flow) if flow.state.page() == Page::Credentials => {
                let page = render_login(&st, &req, &realm, &flow, "", StatusCode::OK).await?;
                with_new_flow_cookie(&st, &realm, page, &flow)
            }
            other => finish_step(&st, &realm, locale, other),
        });
    }
    let username = form.get("username").map(String::as_str).unwrap_or("");
    let password = form.get("password").map(String::as_str).unwrap_or("");
    let remember_me = realm.settings.login.remember_me_enabled && form.get("remember_me").is_some_and(|v| v == "on");
    if username.trim().is_empty() || password.is_empty() || username.len() > 255 || password.len() > 1024 {
        let shown = Flow { state: LoginState::Credentials { notice: Some(Notice::InvalidCredentials) }, ..flow };
        return render_login(&st, &req, &realm, &shown, username, StatusCode::OK).await;
    }
    let outcome =
        service::submit_credentials(&st, &realm, flow, username, Secret::new(password), remember_me, client_ip(&req))
            .await?;
    Ok(match outcome {
        SubmitOutcome::Page(flow) if flow.state.page() == Page::Credentials => {
            let page = render_login(&st, &req, &realm, &flow, username, StatusCode::OK).await?;
            with_new_flow_cookie(&st, &realm, page, &flow)
        }
        other => finish_step(&st, &realm, locale, other),
    })
}

/// Adds the flow cookie a step replaced (a sealed flow that is stored now) to the response.
fn with_new_flow_cookie(st: &AppState, realm: &Realm, mut response: HttpResponse, flow: &Flow) -> HttpResponse {
    if let Some(token) = &flow.new_cookie {
        let _ = response.add_cookie(&realm_cookie(st, realm, FLOW_COOKIE, token.clone(), None));
    }
    response
}

/// Where the browser goes after a flow step was persisted: the flow's current page, or the
/// client (with the new SSO session cookie) when the flow is complete.
pub(super) fn finish_step(
    st: &AppState,
    realm: &Realm,
    locale: kenpo_shared::i18n::Locale,
    outcome: SubmitOutcome,
) -> HttpResponse {
    match outcome {
        SubmitOutcome::Page(flow) => {
            let next = match flow.state.page() {
                Page::Action(_) => see_other(&super::actions::action_path(realm)),
                Page::SecondFactor(_) => see_other(&super::factors::factor_path(realm)),
                _ => see_other(&login_path(realm)),
            };
            with_new_flow_cookie(st, realm, next, &flow)
        }
        SubmitOutcome::Stale => see_other(&login_path(realm)),
        SubmitOutcome::Denied { response } => {
            let mut r = respond(st, realm, locale, &response);
            let _ = r.add_cookie(&removal_cookie(st, realm, FLOW_COOKIE));
            r
        }
        SubmitOutcome::Done { response, session } => {
            let mut r = respond(st, realm, locale, &response);
            if let Some(session) = session {
                let _ = r.add_cookie(&realm_cookie(st, realm, SESSION_COOKIE, session.token, session.max_age));
            }
            let _ = r.add_cookie(&removal_cookie(st, realm, FLOW_COOKIE));
            r
        }
    }
}

/// "Start again" after an expired login page: a new flow for the same client request.
pub async fn restart_get(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> Res {
    let realm = realm_page!(st, req, path.into_inner());
    let token = cookie_value(&req, FLOW_COOKIE);
    let Some(old) = service::load_flow(&st, &realm, token.as_deref()).await? else {
        return Ok(st.pages.error(
            StatusCode::BAD_REQUEST,
            extract::locale(&req, None),
            Some(&realm),
            "error.flow_missing",
            back_url(&realm, None).as_deref(),
        ));
    };
    let locale = extract::locale(&req, old.request.ui_locales.as_deref());
    let session = cookie_value(&req, SESSION_COOKIE);
    match service::authorize(&st, &realm, old.request, session).await? {
        AuthorizeOutcome::Respond(resp) => Ok(respond(&st, &realm, locale, &resp)),
        AuthorizeOutcome::Login { flow_token } => Ok(HttpResponse::Found()
            .cookie(realm_cookie(&st, &realm, FLOW_COOKIE, flow_token, None))
            .insert_header(("Location", login_path(&realm)))
            .finish()),
    }
}

pub(super) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("Location", location.to_string())).finish()
}
