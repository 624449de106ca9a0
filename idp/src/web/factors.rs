//! The second-factor page of the login (SPEC §5): 「ワンタイムパスワードの入力」 with the device
//! picker, 「ワンタイムパスワード (OTP) メール認証」, recovery codes, and the passkey step.
//! Reachable only while the flow is on that step; every POST carries the flow's CSRF token.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::extract::{self, client_ip};
use super::login::{current_flow, finish_step, login_path, see_other};
use crate::error::IdpError;
use crate::flows::factors::{self, EmailCodeState, FactorOutcome};
use crate::flows::login::{Factor, LoginState, Page};
use crate::flows::service::{Flow, SubmitOutcome};
use crate::realm::Realm;
use crate::state::AppState;
use crate::store;
use crate::store::factors::KIND_OTP;
use kenpo_shared::i18n::Locale;

type Res = Result<HttpResponse, IdpError>;

pub fn factor_path(realm: &Realm) -> String {
    format!("/realms/{}/login-actions/second-factor", realm.name)
}

macro_rules! realm_page {
    ($st:expr, $req:expr, $name:expr) => {
        match extract::realm(&$st, &$req, &$name).await? {
            Ok(r) => r,
            Err(page) => return Ok(page),
        }
    };
}

macro_rules! flow_or_page {
    ($st:expr, $req:expr, $realm:expr) => {
        match current_flow(&$st, &$req, &$realm).await? {
            Ok(f) => f,
            Err(page) => return Ok(page),
        }
    };
}

#[derive(Serialize)]
struct FactorPage {
    action: String,
    csrf: String,
    errors: Vec<String>,
    notice: Option<String>,
    /// (id, name, checked) of the member's authenticator apps; shown when there are several.
    devices: Vec<(String, String, bool)>,
    /// (factor, label) of the member's other factors (「別の方法を試す」).
    others: Vec<(String, String)>,
    /// The address the e-mail code went to, partly hidden.
    email_hint: String,
    /// WebAuthn request options for the passkey step (JSON), empty otherwise.
    passkey_options: String,
}

/// `t***@example.jp`: enough for the member to recognise, little for a shoulder.
pub fn mask_email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

pub(super) async fn render(
    st: &AppState,
    req: &HttpRequest,
    realm: &Realm,
    flow: &Flow,
    errors: Vec<String>,
    notice: Option<&str>,
) -> Res {
    let locale = extract::locale(req, flow.request.ui_locales.as_deref());
    let LoginState::SecondFactor { user_id, factor, offered, .. } = &flow.state else {
        return Ok(see_other(&login_path(realm)));
    };
    let uid = user_id.clone();
    let Some(user) = st.store.run(move |c| store::users::find(c, &uid)).await? else {
        return Ok(see_other(&login_path(realm)));
    };
    let mut notice = notice.map(str::to_string);
    let mut passkey_options = String::new();
    let template = match factor {
        Factor::Otp => "factor_otp.html",
        Factor::Email => {
            // The first visit sends the code; reloads show the page for the code already sent.
            match factors::send_email_code(st, realm, flow, &user, locale, false).await? {
                EmailCodeState::TooSoon => notice = Some("factor.email.too_soon".into()),
                EmailCodeState::Spent if notice.is_none() => notice = Some("factor.email.expired".into()),
                _ => {}
            }
            "factor_email.html"
        }
        Factor::RecoveryCode => "factor_recovery.html",
        Factor::Passkey => {
            passkey_options = crate::flows::passkeys::login_options(st, realm, flow, &user).await?;
            "factor_passkey.html"
        }
    };
    let devices = if *factor == Factor::Otp {
        let list = factors::devices(st, user_id, KIND_OTP).await?;
        let unnamed = st.pages.message(locale, "factor.otp.unnamed");
        list.iter()
            .enumerate()
            .map(|(i, d)| {
                let name = if d.label.is_empty() { unnamed.clone() } else { d.label.clone() };
                (d.id.clone(), name, i == 0)
            })
            .collect()
    } else {
        Vec::new()
    };
    let others = offered
        .iter()
        .filter(|f| *f != factor)
        .map(|f| (f.as_str().to_string(), st.pages.message(locale, &format!("factor.switch.{}", f.as_str()))))
        .collect();
    let page = FactorPage {
        action: factor_path(realm),
        csrf: kenpo_shared::csrf::token(&st.csrf_key, "login", &flow.id),
        errors,
        notice: notice.map(|k| st.pages.message(locale, &k)),
        devices,
        others,
        email_hint: user.email.as_deref().map(mask_email).unwrap_or_default(),
        passkey_options,
    };
    Ok(st.pages.render(StatusCode::OK, template, locale, Some(realm), &page))
}

pub async fn factor_get(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> Res {
    let realm = realm_page!(st, req, path.into_inner());
    let flow = flow_or_page!(st, req, realm);
    match flow.state.page() {
        Page::SecondFactor(_) => render(&st, &req, &realm, &flow, vec![], None).await,
        _ => Ok(see_other(&login_path(&realm))),
    }
}

pub async fn factor_post(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> Res {
    let realm = realm_page!(st, req, path.into_inner());
    let flow = flow_or_page!(st, req, realm);
    let locale = extract::locale(&req, flow.request.ui_locales.as_deref());
    let restart = format!("/realms/{}/login-actions/restart", realm.name);
    let Ok(form) = extract::form_map(&body) else {
        return Ok(st.pages.error(StatusCode::BAD_REQUEST, locale, Some(&realm), "error.bad_request", Some(&restart)));
    };
    if !form.get("csrf").is_some_and(|t| kenpo_shared::csrf::verify(&st.csrf_key, "login", &flow.id, t)) {
        return Ok(st.pages.error(StatusCode::FORBIDDEN, locale, Some(&realm), "error.csrf", Some(&restart)));
    }
    let Page::SecondFactor(factor) = flow.state.page() else {
        // The form belongs to a step the flow is no longer on.
        return Ok(see_other(&login_path(&realm)));
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let ip = client_ip(&req);
    // The form names the factor it was shown for: an old page cannot answer a newer step.
    if Factor::parse(field("factor")) != Some(factor) && field("op") != "switch" {
        return Ok(see_other(&factor_path(&realm)));
    }
    let outcome = match (field("op"), factor) {
        ("switch", _) => match Factor::parse(field("to")) {
            Some(to) => FactorOutcome::Flow(factors::switch(&st, &realm, flow.clone(), to, ip).await?),
            None => FactorOutcome::Flow(SubmitOutcome::Stale),
        },
        ("resend", Factor::Email) => {
            let uid = flow.state.user_id().unwrap_or_default().to_string();
            let Some(user) = st.store.run(move |c| store::users::find(c, &uid)).await? else {
                return Ok(see_other(&login_path(&realm)));
            };
            let notice = match factors::send_email_code(&st, &realm, &flow, &user, locale, true).await? {
                EmailCodeState::TooSoon => "factor.email.too_soon",
                EmailCodeState::Sent | EmailCodeState::Spent => "factor.email.resent",
            };
            return render(&st, &req, &realm, &flow, vec![], Some(notice)).await;
        }
        (_, Factor::Otp) => {
            let device = form.get("device").map(String::as_str);
            factors::submit_otp(&st, &realm, flow.clone(), device, field("otp"), ip).await?
        }
        (_, Factor::Email) => factors::submit_email_code(&st, &realm, flow.clone(), field("otp"), ip).await?,
        (_, Factor::RecoveryCode) => {
            factors::submit_recovery_code(&st, &realm, flow.clone(), field("code"), ip).await?
        }
        (_, Factor::Passkey) => {
            crate::flows::passkeys::submit_login(&st, &realm, flow.clone(), field("credential"), field("error"), ip)
                .await?
        }
    };
    respond(&st, &req, &realm, &flow, locale, outcome).await
}

async fn respond(
    st: &AppState,
    req: &HttpRequest,
    realm: &Realm,
    flow: &Flow,
    locale: Locale,
    outcome: FactorOutcome,
) -> Res {
    match outcome {
        FactorOutcome::Flow(o) => Ok(finish_step(st, realm, locale, o)),
        FactorOutcome::Message(key) => {
            // Reload the flow: a rejected attempt saved it again (its version moved on).
            let fresh = match current_flow(st, req, realm).await? {
                Ok(f) => f,
                Err(page) => return Ok(page),
            };
            let shown = if matches!(fresh.state, LoginState::SecondFactor { .. }) { fresh } else { flow.clone() };
            let msg = st.pages.message(locale, key);
            render(st, req, realm, &shown, vec![msg], None).await
        }
    }
}
