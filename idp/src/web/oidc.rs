//! Protocol endpoints: discovery, JWKS, token, userinfo, introspection, revocation.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use std::sync::Arc;

use super::extract;
use crate::error::IdpError;
use crate::oidc::error::{OAuthCode, OAuthError};
use crate::oidc::{discovery, introspect, token};
use crate::state::AppState;

type Res = Result<HttpResponse, IdpError>;

/// Realm lookup for JSON endpoints: unknown realms get a JSON 404.
macro_rules! realm_or_404 {
    ($st:expr, $name:expr) => {
        match $st.realm(&$name).await? {
            Some(r) => r,
            None => return Ok(HttpResponse::NotFound().json(serde_json::json!({ "error": "realm not found" }))),
        }
    };
}

pub async fn discovery_get(st: web::Data<AppState>, path: web::Path<String>) -> Res {
    let name = path.into_inner();
    if let Some(doc) = st.discovery.get(&name) {
        return Ok(json_bytes(doc.as_ref().clone(), "public, max-age=60"));
    }
    let realm = realm_or_404!(st, name);
    let doc =
        serde_json::to_vec(&discovery::document(&st.issuer(&realm))).map_err(|e| IdpError::Render(e.to_string()))?;
    st.discovery.put(name, Arc::new(doc.clone()));
    Ok(json_bytes(doc, "public, max-age=60"))
}

pub async fn certs_get(st: web::Data<AppState>, path: web::Path<String>) -> Res {
    let realm = realm_or_404!(st, path.into_inner());
    let keys = st.keys.for_realm(&st.store, &realm.id).await?;
    Ok(json_bytes(keys.jwks_json.to_vec(), "public, max-age=300"))
}

fn json_bytes(body: Vec<u8>, cache: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").insert_header(("Cache-Control", cache)).body(body)
}

/// RFC 6749 §5.1/5.2: JSON, no-store, and WWW-Authenticate for failed client authentication.
fn oauth_json<T: serde::Serialize>(r: Result<T, OAuthError>, auth_scheme: &str) -> HttpResponse {
    match r {
        Ok(body) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Pragma", "no-cache"))
            .json(body),
        Err(e) => {
            let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let mut b = HttpResponse::build(status);
            b.insert_header(("Cache-Control", "no-store"));
            if status == StatusCode::UNAUTHORIZED {
                b.insert_header((
                    "WWW-Authenticate",
                    format!("{auth_scheme} realm=\"kenpo\", error=\"{}\"", e.code.as_str()),
                ));
            }
            b.json(e.body())
        }
    }
}

fn authorization(req: &HttpRequest) -> Option<String> {
    req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn form_or_error(body: &web::Bytes) -> Result<std::collections::HashMap<String, String>, OAuthError> {
    extract::form_map(body).map_err(OAuthError::invalid_request)
}

pub async fn token_post(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> Res {
    let realm = realm_or_404!(st, path.into_inner());
    let r = match form_or_error(&body) {
        Ok(params) => token::exchange(&st, &realm, params, authorization(&req).as_deref()).await,
        Err(e) => Err(e),
    };
    Ok(oauth_json(r, "Basic"))
}

pub async fn introspect_post(
    st: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Res {
    let realm = realm_or_404!(st, path.into_inner());
    let r = match form_or_error(&body) {
        Ok(params) => introspect::introspect(&st, &realm, params, authorization(&req).as_deref()).await,
        Err(e) => Err(e),
    };
    Ok(oauth_json(r, "Basic"))
}

pub async fn revoke_post(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> Res {
    let realm = realm_or_404!(st, path.into_inner());
    let r = match form_or_error(&body) {
        Ok(params) => introspect::revoke(&st, &realm, params, authorization(&req).as_deref()).await,
        Err(e) => Err(e),
    };
    Ok(match r {
        Ok(()) => HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).finish(),
        Err(e) => oauth_json::<()>(Err(e), "Basic"),
    })
}

/// Userinfo by GET or POST; the token in the Authorization header (RFC 6750 §2.1) or, for
/// POST, the form body (§2.2).
pub async fn userinfo(st: web::Data<AppState>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> Res {
    let realm = realm_or_404!(st, path.into_inner());
    let from_header = authorization(&req).and_then(|h| h.strip_prefix("Bearer ").map(|t| t.trim().to_string()));
    let from_body = extract::form_map(&body).ok().and_then(|m| m.get("access_token").cloned());
    let token = from_header.or(from_body);
    if token.is_none() {
        // RFC 6750 §3.1: a request without credentials gets the challenge without an error code.
        return Ok(HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer realm=\"kenpo\""))
            .insert_header(("Cache-Control", "no-store"))
            .finish());
    }
    let r = introspect::userinfo(&st, &realm, token.as_deref()).await;
    Ok(match r {
        Ok(v) => HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(v),
        Err(e) => {
            let status =
                if e.code == OAuthCode::InvalidToken { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
            HttpResponse::build(status)
                .insert_header(("WWW-Authenticate", format!("Bearer realm=\"kenpo\", error=\"{}\"", e.code.as_str())))
                .insert_header(("Cache-Control", "no-store"))
                .json(e.body())
        }
    })
}
