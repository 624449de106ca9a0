//! Load → step → persist → next page, for the login flow. Handlers call these; nothing here
//! knows about HTTP.

use chrono::Duration;

use super::login::{self, Effect, LoginEvent, LoginState};
use super::session;
use crate::error::Result;
use crate::oidc::authorize::{AuthRequest, ResponseMode};
use crate::oidc::claims::granted_scopes;
use crate::oidc::error::{OAuthCode, OAuthError};
use crate::realm::{Realm, validate};
use crate::security::brute_force;
use crate::security::hasher::{HashProfile, Verdict};
use crate::state::AppState;
use crate::store::flows::FlowRow;
use crate::store::grants::{CodeRow, GrantRow};
use crate::store::sessions::SessionRow;
use crate::store::{self, AnyConnection, StoreError, write_tx};
use kenpo_shared::secret::Secret;

/// The answer to the client: where to send the browser and with which parameters.
#[derive(Debug, Clone)]
pub struct AuthResponse {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub params: Vec<(String, String)>,
}

impl AuthResponse {
    pub fn success(issuer: &str, req: &AuthRequest, code: String) -> Self {
        let mut params = vec![("code".to_string(), code)];
        if let Some(s) = &req.state {
            params.push(("state".into(), s.clone()));
        }
        params.push(("iss".into(), issuer.to_string()));
        AuthResponse { redirect_uri: req.redirect_uri.clone(), mode: req.response_mode, params }
    }

    pub fn error(issuer: &str, redirect_uri: &str, mode: ResponseMode, state: Option<&str>, e: &OAuthError) -> Self {
        let mut params = vec![("error".to_string(), e.code.as_str().to_string()), ("error_description".into(), e.description.clone())];
        if let Some(s) = state {
            params.push(("state".into(), s.to_string()));
        }
        params.push(("iss".into(), issuer.to_string()));
        AuthResponse { redirect_uri: redirect_uri.to_string(), mode, params }
    }

    /// The redirect URL for response_mode=query.
    pub fn location(&self) -> String {
        let sep = if self.redirect_uri.contains('?') { '&' } else { '?' };
        let q = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&self.params).finish();
        format!("{}{sep}{q}", self.redirect_uri)
    }
}

pub enum AuthorizeOutcome {
    Respond(AuthResponse),
    /// A login page is needed: the flow cookie token to set.
    Login { flow_token: String },
}

/// A new SSO session to hand to the browser.
pub struct NewSession {
    pub token: String,
    pub max_age: Option<i64>,
}

/// Starts an authorization: answers at once from a live SSO session when the request allows,
/// otherwise creates a login flow.
pub async fn authorize(st: &AppState, realm: &Realm, req: AuthRequest, session_token: Option<String>) -> Result<AuthorizeOutcome> {
    let issuer = st.issuer(realm);
    let now = store::now();
    let session = match session_token {
        Some(t) => {
            let (id, rid) = (kenpo_shared::crypto::token_hash(&t), realm.id.clone());
            st.store.run(move |c| store::sessions::find_live(c, &id, &rid, now)).await?
        }
        None => None,
    };
    let fresh_enough = |s: &SessionRow| req.max_age.is_none_or(|m| (now - s.auth_time).num_seconds() <= m);
    let reusable = session.filter(|s| fresh_enough(s) && !req.prompt_login());
    if let Some(s) = reusable {
        let realm2 = realm.clone();
        let req2 = req.clone();
        let code = st
            .store
            .run(move |c| {
                write_tx(c, |c| {
                    let now = store::now();
                    let expiry = session::next_expiry(&realm2, s.remember_me, s.created_at, now);
                    store::sessions::touch(c, &s.id, now, expiry)?;
                    issue_code(c, &realm2, &req2, &s, now)
                })
            })
            .await?;
        return Ok(AuthorizeOutcome::Respond(AuthResponse::success(&issuer, &req, code)));
    }
    if req.prompt_none() {
        let e = OAuthError::new(OAuthCode::LoginRequired, "the member is not signed in");
        return Ok(AuthorizeOutcome::Respond(AuthResponse::error(&issuer, &req.redirect_uri, req.response_mode, req.state.as_deref(), &e)));
    }
    let reauth = req.prompt_login() || req.max_age.is_some();
    let token = kenpo_shared::crypto::random_token(32);
    let row = FlowRow {
        id: kenpo_shared::crypto::token_hash(&token),
        realm_id: realm.id.clone(),
        client_request: store::to_json(&req),
        state: store::to_json(&LoginState::start(reauth)),
        version: 0,
        created_at: now,
        updated_at: now,
        expires_at: now + Duration::minutes(realm.settings.login.flow_minutes),
    };
    st.store.run(move |c| store::flows::insert(c, &row)).await?;
    Ok(AuthorizeOutcome::Login { flow_token: token })
}

/// A flow as the pages see it.
#[derive(Debug, Clone)]
pub struct Flow {
    pub id: String,
    pub version: i64,
    pub request: AuthRequest,
    pub state: LoginState,
    pub expired: bool,
}

pub async fn load_flow(st: &AppState, realm: &Realm, flow_token: Option<&str>) -> Result<Option<Flow>> {
    let Some(token) = flow_token else { return Ok(None) };
    let id = kenpo_shared::crypto::token_hash(token);
    let row = st.store.run(move |c| store::flows::find(c, &id)).await?;
    let Some(row) = row.filter(|r| r.realm_id == realm.id) else { return Ok(None) };
    Ok(Some(Flow {
        expired: row.expires_at <= store::now(),
        request: store::from_json("flow request", &row.client_request)?,
        state: store::from_json("flow state", &row.state)?,
        id: row.id,
        version: row.version,
    }))
}

pub enum SubmitOutcome {
    /// Show the flow's current page again (with its notice).
    Page(Flow),
    /// Done: start the SSO session and answer the client.
    Done { response: AuthResponse, session: NewSession },
    /// Someone else advanced or finished this flow meanwhile (double submit, second tab).
    Stale,
}

/// The member submitted user ID and password.
pub async fn submit_credentials(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    username: &str,
    password: Secret,
    remember_me: bool,
    ip: Option<String>,
) -> Result<SubmitOutcome> {
    let profile = HashProfile::parse(&realm.settings.password.hash);
    // Counters are per submitted ID (normalised when it can be), existing or not.
    let normalized = validate::normalize_username(username).ok();
    let key = normalized.clone().unwrap_or_else(|| username.trim().to_lowercase().chars().take(64).collect());
    let (rid, k2, uname) = (realm.id.clone(), key.clone(), normalized.clone());
    let (record, user) = st
        .store
        .run(move |c| {
            let rec = store::failures::get(c, &rid, &k2)?;
            let user = match uname {
                Some(u) => store::users::find_by_username(c, &rid, &u)?,
                None => None,
            };
            Ok((rec, user))
        })
        .await?;
    let now = store::now();
    let event = if brute_force::is_locked(record.as_ref(), &realm.settings.brute_force, now) {
        LoginEvent::Locked
    } else {
        let stored = user.as_ref().filter(|u| u.is_active()).and_then(|u| u.password_hash.clone());
        let stored_copy = stored.clone();
        match st.hasher.verify(profile, stored, password.clone()).await? {
            Verdict::Match { needs_rehash } => {
                if let (true, Some(u), Some(old)) = (needs_rehash, user.as_ref(), stored_copy) {
                    rehash_later(st, profile, u.id.clone(), old, password);
                }
                LoginEvent::PasswordVerified { user_id: user.as_ref().map(|u| u.id.clone()).unwrap_or_default(), remember_me }
            }
            Verdict::Mismatch => LoginEvent::PasswordRejected,
        }
    };
    let (next, effects) = login::step(&flow.state, event).map_err(|_| StoreError::Stale)?;
    let realm2 = realm.clone();
    let bf = realm.settings.brute_force.clone();
    let flow2 = flow.clone();
    let next2 = next.clone();
    let user_id = user.as_ref().map(|u| u.id.clone());
    let persisted = st
        .store
        .run(move |c| {
            write_tx(c, |c| {
                let now = store::now();
                for e in &effects {
                    match e {
                        Effect::RecordFailure => {
                            let rec = store::failures::get(c, &realm2.id, &key)?;
                            let updated = brute_force::after_failure(rec.as_ref(), &bf, now);
                            store::failures::put(c, &realm2.id, &key, &updated)?;
                            store::audit::record(c, store::audit::Event {
                                realm_id: Some(&realm2.id),
                                kind: "login_failed",
                                user_id: user_id.as_deref(),
                                client_id: Some(&flow2.request.client_id),
                                ip: ip.as_deref(),
                                detail: serde_json::json!({ "locked": updated.locked_until.is_some() }),
                            })?;
                        }
                        Effect::ClearFailures => store::failures::clear(c, &realm2.id, &key)?,
                        Effect::StartSession => {}
                    }
                }
                match &next2 {
                    LoginState::Complete { user_id, amr, remember_me } => {
                        store::flows::finish(c, &flow2.id, flow2.version)?;
                        let (token, row) = session::new_session(&realm2, user_id, amr, *remember_me, now);
                        store::sessions::insert(c, &row)?;
                        let code = issue_code(c, &realm2, &flow2.request, &row, now)?;
                        store::audit::record(c, store::audit::Event {
                            realm_id: Some(&realm2.id),
                            kind: "login",
                            user_id: Some(user_id),
                            client_id: Some(&flow2.request.client_id),
                            ip: ip.as_deref(),
                            detail: serde_json::json!({ "amr": amr }),
                        })?;
                        Ok(Some((token, code, *remember_me)))
                    }
                    _ => {
                        store::flows::save(c, &flow2.id, flow2.version, &store::to_json(&next2), now)?;
                        Ok(None)
                    }
                }
            })
        })
        .await;
    match persisted {
        Err(StoreError::Stale) => Ok(SubmitOutcome::Stale),
        Err(e) => Err(e.into()),
        Ok(Some((token, code, remember))) => Ok(SubmitOutcome::Done {
            response: AuthResponse::success(&st.issuer(realm), &flow.request, code),
            session: NewSession { token, max_age: session::cookie_max_age(realm, remember) },
        }),
        Ok(None) => Ok(SubmitOutcome::Page(Flow { state: next, version: flow.version + 1, ..flow })),
    }
}

/// Moves a member's hash to the realm's current parameters after a successful login, off the
/// request path (the member does not wait for a second hash).
fn rehash_later(st: &AppState, profile: HashProfile, user_id: String, old: String, password: Secret) {
    let st = st.clone();
    actix_web::rt::spawn(async move {
        if let Ok(new) = st.hasher.hash(profile, password).await {
            let r = st.store.run(move |c| store::users::upgrade_password_hash(c, &user_id, &old, &new)).await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "password rehash not saved");
            }
        }
    });
}

/// Writes a grant and its authorization code; returns the code (only its hash is stored).
pub fn issue_code(c: &mut AnyConnection, realm: &Realm, req: &AuthRequest, session: &SessionRow, now: chrono::NaiveDateTime) -> Result<String, StoreError> {
    let code = kenpo_shared::crypto::random_token(32);
    let grant = GrantRow {
        id: store::new_id(),
        realm_id: realm.id.clone(),
        client_id: req.client_pk.clone(),
        user_id: Some(session.user_id.clone()),
        session_id: Some(session.id.clone()),
        sid: Some(session.sid.clone()),
        scope: granted_scopes(&req.scope).join(" "),
        nonce: req.nonce.clone(),
        auth_time: Some(session.auth_time),
        amr: session.amr.clone(),
        acr: session.acr.clone(),
        created_at: now,
        revoked_at: None,
    };
    let code_row = CodeRow {
        code_hash: kenpo_shared::crypto::token_hash(&code),
        grant_id: grant.id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        code_challenge_method: req.code_challenge_method.clone(),
        created_at: now,
        expires_at: now + Duration::seconds(realm.settings.tokens.code_seconds),
        used_at: None,
    };
    store::grants::insert_grant_with_code(c, &grant, &code_row)?;
    Ok(code)
}
