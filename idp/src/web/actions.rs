//! Required-action pages (SPEC §4): each reachable only while it is the flow's current step.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::extract::{self, client_ip, cookie_value};
use super::login::{current_flow, finish_step, see_other};
use crate::error::IdpError;
use crate::flows::actions::{self, ActionOutcome, LinkOutcome};
use crate::flows::enrol;
use crate::flows::factors::EmailCodeState;
use crate::flows::login::{Page, RequiredAction};
use crate::flows::service::{self, Flow};
use crate::flows::session::FLOW_COOKIE;
use crate::realm::Realm;
use crate::realm::validate::FieldError;
use crate::state::AppState;
use crate::store;
use kenpo_shared::i18n::Locale;
use kenpo_shared::secret::Secret;

type Res = Result<HttpResponse, IdpError>;

pub fn action_path(realm: &Realm) -> String {
    format!("/realms/{}/login-actions/required-action", realm.name)
}

macro_rules! flow_or_page {
    ($st:expr, $req:expr, $realm:expr) => {
        match current_flow(&$st, &$req, &$realm).await? {
            Ok(f) => f,
            Err(page) => return Ok(page),
        }
    };
}

macro_rules! realm_page {
    ($st:expr, $req:expr, $name:expr) => {
        match extract::realm(&$st, &$req, &$name).await? {
            Ok(r) => r,
            Err(page) => return Ok(page),
        }
    };
}

#[derive(Serialize)]
struct ActionPage {
    action: String,
    csrf: String,
    errors: Vec<String>,
    email: String,
    sent: bool,
    notice: Option<String>,
    username: String,
    terms_body: String,
    terms_version: i32,
    /// (value, label, checked) for each second-factor method the realm enables.
    methods: Vec<(String, String, bool)>,
    totp: Option<TotpView>,
    recovery_codes: Vec<String>,
    /// Passkey registration options (JSON) for the WebAuthn ceremony.
    passkey_options: String,
    /// 「パスキー」, the prefilled device name of a new passkey.
    passkey_default_name: String,
    /// The device name the member typed, shown again with an error.
    device_label: String,
}

#[derive(Serialize)]
struct TotpView {
    qr_svg: String,
    secret: String,
    algorithm: &'static str,
    digits: u32,
    period: u64,
}

fn messages(st: &AppState, locale: Locale, realm: &Realm, errors: &[FieldError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| {
            let mut text = st.pages.message(locale, e.key());
            for (k, v) in e.params(&realm.settings.password.policy) {
                text = text.replace(&format!("{{{k}}}"), &v);
            }
            text
        })
        .collect()
}

async fn render(
    st: &AppState,
    req: &HttpRequest,
    realm: &Realm,
    flow: &Flow,
    errors: Vec<String>,
    notice: Option<&str>,
    typed_label: &str,
) -> Res {
    let locale = extract::locale(req, flow.request.ui_locales.as_deref());
    let Page::Action(action) = flow.state.page() else {
        return Ok(see_other(&super::login::login_path(realm)));
    };
    let (uid, rid) = (flow.state.user_id().unwrap_or_default().to_string(), realm.id.clone());
    let (user, terms) = st
        .store
        .run(move |c| {
            let user = store::users::find(c, &uid)?;
            let terms =
                if action == RequiredAction::TermsAndConditions { store::terms::current(c, &rid)? } else { None };
            Ok((user, terms))
        })
        .await?;
    let chosen = user.as_ref().and_then(|u| u.mfa_choice.clone());
    let methods = realm
        .settings
        .mfa
        .enabled()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let checked = chosen.as_deref().map_or(i == 0, |c| c == *m);
            (m.to_string(), st.pages.message(locale, &format!("action.choose.methods.{m}")), checked)
        })
        .collect();
    let (mut totp, mut recovery_codes, mut passkey_options) = (None, Vec::new(), String::new());
    let mut notice = notice.map(str::to_string);
    if let Some(user) = user.as_ref() {
        match action {
            RequiredAction::ConfigureTotp => {
                let v = enrol::totp_enrolment(st, realm, flow, user).await?;
                totp = Some(TotpView {
                    qr_svg: v.qr_svg,
                    secret: v.secret_grouped,
                    algorithm: v.algorithm,
                    digits: v.digits,
                    period: v.period,
                });
            }
            RequiredAction::ConfigureEmailOtp => {
                // The first visit sends the code; a reload shows the page for the code already sent.
                match enrol::email_enrolment_code(st, realm, flow, user, locale, false).await? {
                    EmailCodeState::TooSoon => notice = Some("factor.email.too_soon".into()),
                    EmailCodeState::Spent if notice.is_none() => notice = Some("factor.email.expired".into()),
                    _ => {}
                }
            }
            RequiredAction::ConfigureRecoveryCodes => recovery_codes = enrol::recovery_codes(st, flow, user).await?,
            RequiredAction::WebauthnRegister => {
                passkey_options = crate::flows::passkeys::registration_options(st, realm, flow, user).await?;
            }
            _ => {}
        }
    }
    let page = ActionPage {
        action: action_path(realm),
        csrf: kenpo_shared::csrf::token(&st.csrf_key, "login", &flow.id),
        errors,
        email: user.as_ref().and_then(|u| u.email.clone()).unwrap_or_default(),
        sent: matches!(notice.as_deref(), Some("action.verify_email.sent" | "action.verify_email.not_yet")),
        notice: notice.map(|k| st.pages.message(locale, &k)),
        username: user.as_ref().map(|u| u.username.clone()).unwrap_or_default(),
        terms_body: terms.as_ref().map(|t| t.body.clone()).unwrap_or_default(),
        terms_version: terms.as_ref().map(|t| t.version).unwrap_or(0),
        methods,
        totp,
        recovery_codes,
        passkey_options,
        passkey_default_name: st.pages.message(locale, "enrol.passkey.default_name"),
        device_label: typed_label.trim().chars().take(200).collect(),
    };
    let template = match action {
        RequiredAction::VerifyBirthdate => "required_birthdate.html",
        RequiredAction::TermsAndConditions => "required_terms.html",
        RequiredAction::ChooseUserIdAndMfa => "required_choose.html",
        RequiredAction::UpdatePassword => "required_update_password.html",
        RequiredAction::VerifyEmail => "required_verify_email.html",
        RequiredAction::ConfigureTotp => "required_configure_totp.html",
        RequiredAction::WebauthnRegister => "required_webauthn.html",
        RequiredAction::ConfigureEmailOtp => "required_email_otp.html",
        RequiredAction::ConfigureRecoveryCodes => "required_recovery_codes.html",
    };
    Ok(st.pages.render(StatusCode::OK, template, locale, Some(realm), &page))
}

pub async fn action_get(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> Res {
    let realm = realm_page!(st, req, path.into_inner());
    let flow = flow_or_page!(st, req, realm);
    match flow.state.page() {
        Page::Action(_) => render(&st, &req, &realm, &flow, vec![], None, "").await,
        _ => Ok(see_other(&super::login::login_path(&realm))),
    }
}

pub async fn action_post(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> Res {
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
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let ip = client_ip(&req);
    let outcome = match flow.state.page() {
        Page::Action(RequiredAction::VerifyBirthdate) => {
            actions::verify_birthdate(&st, &realm, flow.clone(), field("birthdate"), ip).await?
        }
        Page::Action(RequiredAction::TermsAndConditions) => {
            let version = field("terms_version").parse::<i32>().ok();
            actions::answer_terms(&st, &realm, flow.clone(), field("answer") == "agree", version, ip).await?
        }
        Page::Action(RequiredAction::ChooseUserIdAndMfa) => {
            actions::choose_user_id_and_mfa(&st, &realm, flow.clone(), field("user_id"), field("method"), ip).await?
        }
        Page::Action(RequiredAction::UpdatePassword) => {
            let sign_out = field("logout-sessions") == "on";
            actions::update_password(
                &st,
                &realm,
                flow.clone(),
                Secret::new(field("password-new")),
                Secret::new(field("password-confirm")),
                sign_out,
                ip,
            )
            .await?
        }
        Page::Action(RequiredAction::VerifyEmail) => match field("op") {
            "continue" => actions::confirm_email(&st, &realm, flow.clone(), ip).await?,
            _ => actions::submit_email(&st, &realm, flow.clone(), field("email"), locale, ip).await?,
        },
        Page::Action(RequiredAction::ConfigureTotp) => {
            let sign_out = field("logout-sessions") == "on";
            enrol::submit_totp(&st, &realm, flow.clone(), field("totp"), field("userLabel"), sign_out, ip).await?
        }
        Page::Action(RequiredAction::ConfigureEmailOtp) => match field("op") {
            "resend" => {
                let uid = flow.state.user_id().unwrap_or_default().to_string();
                let Some(user) = st.store.run(move |c| store::users::find(c, &uid)).await? else {
                    return Ok(see_other(&super::login::login_path(&realm)));
                };
                let notice = match enrol::email_enrolment_code(&st, &realm, &flow, &user, locale, true).await? {
                    EmailCodeState::TooSoon => "factor.email.too_soon",
                    EmailCodeState::Sent | EmailCodeState::Spent => "factor.email.resent",
                };
                return render(&st, &req, &realm, &flow, vec![], Some(notice), "").await;
            }
            _ => enrol::submit_email_enrolment(&st, &realm, flow.clone(), field("otp"), ip).await?,
        },
        Page::Action(RequiredAction::ConfigureRecoveryCodes) => {
            enrol::confirm_recovery_codes(&st, &realm, flow.clone(), field("saved") == "on", ip).await?
        }
        Page::Action(RequiredAction::WebauthnRegister) => {
            crate::flows::passkeys::submit_registration(
                &st,
                &realm,
                flow.clone(),
                field("credential"),
                field("error"),
                field("userLabel"),
                ip,
            )
            .await?
        }
        // The form belongs to a step the flow is no longer on.
        _ => return Ok(see_other(&super::login::login_path(&realm))),
    };
    match outcome {
        ActionOutcome::Flow(o) => Ok(finish_step(&st, &realm, locale, o)),
        ActionOutcome::Invalid(errors) => {
            let msgs = messages(&st, locale, &realm, &errors);
            render(&st, &req, &realm, &flow, msgs, None, "").await
        }
        ActionOutcome::EmailSent(f) => {
            render(&st, &req, &realm, &f, vec![], Some("action.verify_email.sent"), "").await
        }
        ActionOutcome::NotYetVerified(f) => {
            render(&st, &req, &realm, &f, vec![], Some("action.verify_email.not_yet"), "").await
        }
        ActionOutcome::Message(key) => {
            let msg = st.pages.message(locale, key);
            render(&st, &req, &realm, &flow, vec![msg], None, field("userLabel")).await
        }
    }
}

/// The link from the verification mail. Works in any browser; refuses a link that is used,
/// expired, replaced, or opened where another member's login is in progress.
pub async fn verify_email_get(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> Res {
    let realm = realm_page!(st, req, path.into_inner());
    let key = extract::query_map(&req).get("key").cloned().unwrap_or_default();
    let flow = service::load_flow(&st, &realm, cookie_value(&req, FLOW_COOKIE).as_deref()).await?;
    let locale = extract::locale(&req, flow.as_ref().and_then(|f| f.request.ui_locales.as_deref()));
    let outcome = if key.is_empty() || key.len() > 128 {
        LinkOutcome::Invalid
    } else {
        actions::verify_link(&st, &realm, &key, flow.as_ref()).await?
    };
    let (status, ok, msg) = match outcome {
        LinkOutcome::Verified => (StatusCode::OK, true, "verify_link.ok"),
        LinkOutcome::Invalid => (StatusCode::BAD_REQUEST, false, "verify_link.invalid"),
        LinkOutcome::OtherMember => (StatusCode::BAD_REQUEST, false, "verify_link.other_member"),
    };
    #[derive(Serialize)]
    struct Info {
        title: String,
        message: String,
        ok: bool,
    }
    let page =
        Info { title: st.pages.message(locale, "verify_link.title"), message: st.pages.message(locale, msg), ok };
    Ok(st.pages.render(status, "info.html", locale, Some(&realm), &page))
}
