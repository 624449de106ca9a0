//! The logout endpoint and its confirmation page 「ログアウトしてもよろしいですか？」.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::extract::{self, cookie_value, removal_cookie};
use crate::error::IdpError;
use crate::flows::session::SESSION_COOKIE;
use crate::oidc::logout::{self, LogoutRequest};
use crate::realm::Realm;
use crate::state::AppState;
use crate::store::{self, sessions::SessionRow};

type Res = Result<HttpResponse, IdpError>;

/// The parameters carried through the confirmation form.
const CARRIED: &[&str] = &["id_token_hint", "post_logout_redirect_uri", "state", "client_id", "ui_locales"];

pub async fn logout_get(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> Res {
    let params = extract::query_map(&req);
    logout(st, req, path.into_inner(), params, false).await
}

pub async fn logout_post(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> Res {
    let Ok(params) = extract::form_map(&body) else {
        return Ok(st.pages.error(
            StatusCode::BAD_REQUEST,
            extract::locale(&req, None),
            None,
            "error.bad_request",
            None,
        ));
    };
    let confirmed = params.contains_key("csrf");
    logout(st, req, path.into_inner(), params, confirmed).await
}

async fn logout(
    st: web::Data<AppState>,
    req: HttpRequest,
    realm_name: String,
    params: HashMap<String, String>,
    confirmed: bool,
) -> Res {
    let realm = match extract::realm(&st, &req, &realm_name).await? {
        Ok(r) => r,
        Err(page) => return Ok(page),
    };
    let locale = extract::locale(&req, params.get("ui_locales").map(String::as_str));
    let lr = match logout::parse(&st, &realm, &params).await? {
        Ok(lr) => lr,
        Err(_) => {
            return Ok(st.pages.error(
                StatusCode::BAD_REQUEST,
                locale,
                Some(&realm),
                "error.logout_redirect_invalid",
                None,
            ));
        }
    };
    let session = current_session(&st, &req, &realm).await?;
    let Some(session) = session else {
        return Ok(finished(&st, &realm, locale, &lr));
    };
    let csrf_ok =
        params.get("csrf").is_some_and(|t| kenpo_shared::csrf::verify(&st.csrf_key, "logout", &session.id, t));
    if confirmed && !csrf_ok {
        return Ok(st.pages.error(StatusCode::FORBIDDEN, locale, Some(&realm), "error.csrf", None));
    }
    // A valid id_token_hint for this very session proves the RP sent the member: no question.
    let proven = lr.hinted_sid.as_deref() == Some(session.sid.as_str());
    if !(confirmed || proven) {
        #[derive(Serialize)]
        struct Confirm {
            action: String,
            csrf: String,
            carry: Vec<(String, String)>,
        }
        let carry = CARRIED.iter().filter_map(|k| params.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
        let page = Confirm {
            action: format!("/realms/{}/protocol/openid-connect/logout", realm.name),
            csrf: kenpo_shared::csrf::token(&st.csrf_key, "logout", &session.id),
            carry,
        };
        return Ok(st.pages.render(StatusCode::OK, "logout_confirm.html", locale, Some(&realm), &page));
    }
    logout::end(&st, &realm, session).await?;
    Ok(finished(&st, &realm, locale, &lr))
}

async fn current_session(st: &AppState, req: &HttpRequest, realm: &Realm) -> Result<Option<SessionRow>, IdpError> {
    let Some(token) = cookie_value(req, SESSION_COOKIE) else { return Ok(None) };
    let (id, rid, now) = (kenpo_shared::crypto::token_hash(&token), realm.id.clone(), store::now());
    Ok(st.store.run(move |c| store::sessions::find_live(c, &id, &rid, now)).await?)
}

fn finished(st: &AppState, realm: &Realm, locale: kenpo_shared::i18n::Locale, lr: &LogoutRequest) -> HttpResponse {
    let mut resp = match logout::redirect_location(lr) {
        Some(loc) => {
            HttpResponse::Found().insert_header(("Location", loc)).insert_header(("Cache-Control", "no-store")).finish()
        }
        None => {
            #[derive(Serialize)]
            struct Done {
                back_url: Option<String>,
            }
            let back = Some(realm.settings.login.portal_url.clone()).filter(|u| !u.is_empty());
            st.pages.render(StatusCode::OK, "logged_out.html", locale, Some(realm), &Done { back_url: back })
        }
    };
    let _ = resp.add_cookie(&removal_cookie(st, realm, SESSION_COOKIE));
    resp
}
