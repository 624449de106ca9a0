//! Load → step → persist → next page, for the login flow. Handlers call these; nothing here
//! knows about HTTP.

use chrono::Duration;

use super::factors;
use super::login::{self, Effect, LoginEvent, LoginState, RequiredAction};
use super::pending;
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
        let mut params = vec![
            ("error".to_string(), e.code.as_str().to_string()),
            ("error_description".into(), e.description.clone()),
        ];
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
    Login {
        flow_token: String,
    },
}

/// A new SSO session to hand to the browser.
pub struct NewSession {
    pub token: String,
    pub max_age: Option<i64>,
}

/// Starts an authorization: answers at once from a live SSO session when the request allows,
/// otherwise creates a login flow.
pub async fn authorize(
    st: &AppState,
    realm: &Realm,
    req: AuthRequest,
    session_token: Option<String>,
) -> Result<AuthorizeOutcome> {
    let issuer = st.issuer(realm);
    let now = store::now();
    let session = match session_token {
        Some(t) => {
            let (id, rid) = (kenpo_shared::crypto::token_hash(&t), realm.id.clone());
            st.store.run(move |c| store::sessions::find_live(c, &id, &rid, now)).await?
        }
        None => None,
    };
    // max_age=0 means "authenticate now" (OIDC Core §3.1.2.1), whatever the clock resolution.
    let fresh_enough = |s: &SessionRow| req.max_age.is_none_or(|m| m > 0 && (now - s.auth_time).num_seconds() <= m);
    // A client that asks for a second factor (acr_values=2) does not get a one-factor session.
    let strong_enough = |s: &SessionRow| !req.wants_mfa() || s.acr == "2";
    let had_session = session.is_some();
    let reusable = session.filter(|s| fresh_enough(s) && strong_enough(s) && !req.prompt_login());
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
        return Ok(AuthorizeOutcome::Respond(AuthResponse::error(
            &issuer,
            &req.redirect_uri,
            req.response_mode,
            req.state.as_deref(),
            &e,
        )));
    }
    // 「続行する際には再度認証してください。」 only when the member is in fact signed in already.
    let reauth = had_session && (req.prompt_login() || req.max_age.is_some());
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
    // Kept in the cookie until the first step (`pending.rs`); stored now only when too large.
    if let Some(sealed) = pending::seal(&st.sealer, &token, &row) {
        return Ok(AuthorizeOutcome::Login { flow_token: sealed });
    }
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
    /// The SSO session this browser already has (hash of its cookie), if any: a login that
    /// completes in the same browser re-authenticates it instead of starting a second one.
    pub browser_session: Option<String>,
    /// Set while the flow lives only in its sealed cookie (`pending.rs`): the row its first
    /// step stores, and that row's token.
    pub pending: Option<pending::Pending>,
    /// A new value for the flow cookie, to send with this response: the stored flow's token,
    /// after a sealed flow took its first step.
    pub new_cookie: Option<String>,
}

pub async fn load_flow(st: &AppState, realm: &Realm, flow_token: Option<&str>) -> Result<Option<Flow>> {
    let Some(token) = flow_token else { return Ok(None) };
    if pending::is_sealed(token) {
        let Some(p) = pending::open(&st.sealer, &realm.id, token) else { return Ok(None) };
        let flow = flow_of(&p.row)?;
        return Ok(Some(Flow { pending: Some(p), ..flow }));
    }
    let id = kenpo_shared::crypto::token_hash(token);
    let row = st.store.run(move |c| store::flows::find(c, &id)).await?;
    // A record without a request is a sealed flow that finished (`finish_flow`).
    let Some(row) = row.filter(|r| r.realm_id == realm.id && !r.client_request.is_empty()) else {
        return Ok(None);
    };
    Ok(Some(flow_of(&row)?))
}

fn flow_of(row: &FlowRow) -> Result<Flow> {
    Ok(Flow {
        expired: row.expires_at <= store::now(),
        request: store::from_json("flow request", &row.client_request)?,
        state: store::from_json("flow state", &row.state)?,
        id: row.id.clone(),
        version: row.version,
        browser_session: None,
        pending: None,
        new_cookie: None,
    })
}

/// Ends `flow` inside the step's transaction: a stored flow is deleted at the version that was
/// read; a sealed one is recorded as finished (its key taken: a second submit conflicts).
/// Either way a second submit of the same page becomes `Stale`.
fn finish_flow(
    c: &mut AnyConnection,
    flow: &Flow,
    last: &LoginState,
    now: chrono::NaiveDateTime,
) -> Result<(), StoreError> {
    match &flow.pending {
        // Only the key matters until the sweep removes it: no request (`load_flow` reads such a
        // record as no flow), which keeps a login's database bytes near what they were.
        Some(p) => insert_pending(c, &FlowRow { client_request: String::new(), ..p.row.clone() }, last, now),
        None => store::flows::finish(c, &flow.id, flow.version),
    }
}

/// Stores a sealed flow (`row`, as opened from its cookie) with the state its first step
/// reached, at version 1; a row already under that key makes this step `Stale`.
fn insert_pending(
    c: &mut AnyConnection,
    row: &FlowRow,
    state: &LoginState,
    now: chrono::NaiveDateTime,
) -> Result<(), StoreError> {
    let row = FlowRow { state: store::to_json(state), version: 1, updated_at: now, ..row.clone() };
    store::flows::insert(c, &row).map_err(|e| if e.is_conflict() { StoreError::Stale } else { e })
}

pub enum SubmitOutcome {
    /// Show the flow's current page again (with its notice).
    Page(Flow),
    /// Done: answer the client; `session` is the new SSO session cookie (None when an existing
    /// session was re-authenticated).
    Done { response: AuthResponse, session: Option<NewSession> },
    /// Someone else advanced or finished this flow meanwhile (double submit, second tab).
    Stale,
    /// The member refused (the terms of use): the client gets `access_denied`.
    Denied { response: AuthResponse },
}

/// How a persisted step ended the flow.
enum Finished {
    /// A code for the client; the new session cookie unless an existing session was re-used.
    Code(Option<(String, bool)>, String),
    Denied,
}

/// Work that must commit in the same transaction as the flow's next state.
pub type TxWork = Box<dyn FnOnce(&mut AnyConnection, chrono::NaiveDateTime) -> Result<(), StoreError> + Send>;

/// Persists `next` for `flow` in one transaction with `work`: a finished flow becomes an SSO
/// session plus a code for the client; any other state is saved at the version that was read
/// (a concurrent submit makes this one `Stale`, and `work` is rolled back with it).
pub async fn advance(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    next: LoginState,
    work: TxWork,
    ip: Option<String>,
) -> Result<SubmitOutcome> {
    // Ending another member's session (below) signs logout tokens: load the keys outside the
    // transaction, and only when that can happen.
    let keys = match (&next, &flow.browser_session) {
        (LoginState::Complete { .. }, Some(_)) => Some(st.keys.for_realm(&st.store, &realm.id).await?),
        _ => None,
    };
    let issuer = st.issuer(realm);
    let issuer_tx = issuer.clone();
    let realm2 = realm.clone();
    let flow2 = flow.clone();
    let next2 = next.clone();
    let persisted = st
        .store
        .run(move |c| {
            write_tx(c, |c| {
                let now = store::now();
                work(c, now)?;
                if let LoginState::Denied { user_id } = &next2 {
                    finish_flow(c, &flow2, &next2, now)?;
                    store::audit::record(
                        c,
                        store::audit::Event {
                            realm_id: Some(&realm2.id),
                            kind: "terms_declined",
                            user_id: Some(user_id),
                            client_id: Some(&flow2.request.client_id),
                            ip: ip.as_deref(),
                            ..Default::default()
                        },
                    )?;
                    return Ok(Some(Finished::Denied));
                }
                let LoginState::Complete { user_id, amr, remember_me } = &next2 else {
                    match &flow2.pending {
                        Some(p) => insert_pending(c, &p.row, &next2, now)?,
                        None => store::flows::save(c, &flow2.id, flow2.version, &store::to_json(&next2), now)?,
                    }
                    return Ok(None);
                };
                finish_flow(c, &flow2, &next2, now)?;
                let existing = match &flow2.browser_session {
                    Some(h) => store::sessions::find_live(c, h, &realm2.id, now)?,
                    None => None,
                };
                let (cookie, session_row) = match existing {
                    // Re-authentication (prompt=login, max_age): the same session, a fresh auth_time,
                    // so that logout still ends everything issued before.
                    Some(s) if &s.user_id == user_id => {
                        let (_, fresh) =
                            session::new_session(&realm2, user_id, amr, *remember_me || s.remember_me, now);
                        let updated = store::sessions::SessionRow {
                            id: s.id.clone(),
                            sid: s.sid.clone(),
                            created_at: s.created_at,
                            ..fresh
                        };
                        store::sessions::reauthenticate(c, &updated)?;
                        (None, updated)
                    }
                    other => {
                        if let (Some(old), Some(keys)) = (other, keys.as_ref()) {
                            // Another member signs in on this browser: the previous member's session ends.
                            let signer = crate::oidc::tokens::Signer {
                                issuer: &issuer_tx,
                                keys,
                                settings: &realm2.settings.tokens,
                            };
                            session::end_session(c, &signer, &old, now)?;
                        }
                        let (token, row) = session::new_session(&realm2, user_id, amr, *remember_me, now);
                        store::sessions::insert(c, &row)?;
                        (Some((token, *remember_me)), row)
                    }
                };
                let code = issue_code(c, &realm2, &flow2.request, &session_row, now)?;
                store::audit::record(
                    c,
                    store::audit::Event {
                        realm_id: Some(&realm2.id),
                        kind: "login",
                        user_id: Some(user_id),
                        client_id: Some(&flow2.request.client_id),
                        ip: ip.as_deref(),
                        detail: serde_json::json!({ "amr": amr, "reauthentication": cookie.is_none() }),
                    },
                )?;
                Ok(Some(Finished::Code(cookie, code)))
            })
        })
        .await;
    match persisted {
        Err(StoreError::Stale) => Ok(SubmitOutcome::Stale),
        Err(e) => Err(e.into()),
        Ok(Some(Finished::Denied)) => {
            let e = OAuthError::new(OAuthCode::AccessDenied, "the member declined the terms of use");
            let req = &flow.request;
            Ok(SubmitOutcome::Denied {
                response: AuthResponse::error(&issuer, &req.redirect_uri, req.response_mode, req.state.as_deref(), &e),
            })
        }
        Ok(Some(Finished::Code(cookie, code))) => Ok(SubmitOutcome::Done {
            response: AuthResponse::success(&st.issuer(realm), &flow.request, code),
            session: cookie
                .map(|(token, remember)| NewSession { token, max_age: session::cookie_max_age(realm, remember) }),
        }),
        Ok(None) => {
            // A sealed flow is stored now: the browser gets the stored flow's token.
            let new_cookie = flow.pending.as_ref().map(|p| p.token.clone());
            Ok(SubmitOutcome::Page(Flow { state: next, version: flow.version + 1, pending: None, new_cookie, ..flow }))
        }
    }
}

/// The actions due for a member at login: the ones recorded on the account, plus a password
/// change when the password is a temporary one.
pub fn pending_actions(user: &crate::store::users::UserRow, terms_due: bool) -> Vec<RequiredAction> {
    let mut v: Vec<RequiredAction> =
        user.required_actions().unwrap_or_default().iter().filter_map(|a| RequiredAction::parse(a)).collect();
    if user.temporary_password {
        v.push(RequiredAction::UpdatePassword);
    }
    if terms_due {
        v.push(RequiredAction::TermsAndConditions);
    }
    // A birthdate check needs a birthdate on record to compare with.
    if user.birthdate.is_none() {
        v.retain(|a| *a != RequiredAction::VerifyBirthdate);
    }
    RequiredAction::ordered(v)
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
    // Counters are per submitted ID, existing or not; lookups use the typed ID trimmed and
    // lowercased, without the format rules, so every wrong ID gets the same answer.
    let key: String = validate::username_lookup_key(username).chars().take(64).collect();
    let (rid, k2) = (realm.id.clone(), key.clone());
    let offers_codes = realm.settings.mfa.recovery_codes;
    let (record, user, terms, creds, unused_codes) = st
        .store
        .run(move |c| {
            let (rec, user) = store::failures::get_with_member(c, &rid, &k2)?;
            let (terms, creds, unused) = match &user {
                Some(u) => (
                    store::terms::due(c, &rid, &u.id)?,
                    store::factors::for_user(c, &u.id)?,
                    factors::recovery_codes_for_login(c, offers_codes, &u.id)?,
                ),
                None => (false, Vec::new(), 0),
            };
            Ok((rec, user, terms, creds, unused))
        })
        .await?;
    let now = store::now();
    let event = if brute_force::is_locked(record.as_ref(), &realm.settings.brute_force, now) {
        LoginEvent::Locked
    } else {
        let stored = user.as_ref().filter(|u| u.is_active()).and_then(|u| u.password_hash.clone());
        let stored_copy = stored.clone();
        match st.hasher.verify(profile, stored, password.clone()).await? {
            Verdict::Match { needs_rehash } => match user.as_ref() {
                Some(u) => {
                    if let (true, Some(old)) = (needs_rehash, stored_copy) {
                        rehash_later(st, profile, u.id.clone(), old, password);
                    }
                    let mfa = &realm.settings.mfa;
                    let mut pending = pending_actions(u, terms);
                    let demanded = mfa.required || flow.request.wants_mfa();
                    let enrolled = factors::enrolled(&creds, unused_codes);
                    pending.extend(factors::enrolments_due(mfa, u, &enrolled, demanded));
                    LoginEvent::PasswordVerified {
                        user_id: u.id.clone(),
                        remember_me,
                        pending,
                        factors: factors::offered(mfa, u, &creds, unused_codes),
                    }
                }
                None => LoginEvent::PasswordRejected,
            },
            Verdict::Mismatch => LoginEvent::PasswordRejected,
        }
    };
    let (next, effects) = login::step(&flow.state, event).map_err(|_| StoreError::Stale)?;
    let realm_id = realm.id.clone();
    let bf = realm.settings.brute_force.clone();
    let client_id = flow.request.client_id.clone();
    let user_id = user.as_ref().map(|u| u.id.clone());
    // Nothing to clear when there was no record (one statement less per login; a failure
    // recorded meanwhile by a concurrent wrong attempt stays counted).
    let had_failures = record.is_some();
    let ip2 = ip.clone();
    let work: TxWork = Box::new(move |c, now| {
        for e in &effects {
            match e {
                Effect::RecordFailure => {
                    let rec = store::failures::get(c, &realm_id, &key)?;
                    let updated = brute_force::after_failure(rec.as_ref(), &bf, now);
                    store::failures::put(c, &realm_id, &key, &updated)?;
                    store::audit::record(
                        c,
                        store::audit::Event {
                            realm_id: Some(&realm_id),
                            kind: "login_failed",
                            user_id: user_id.as_deref(),
                            client_id: Some(&client_id),
                            ip: ip2.as_deref(),
                            detail: serde_json::json!({ "locked": updated.locked_until.is_some() }),
                        },
                    )?;
                }
                Effect::ClearFailures if had_failures => store::failures::clear(c, &realm_id, &key)?,
                Effect::ClearFailures => {}
                Effect::StartSession | Effect::RecordFactorFailure | Effect::ClearFactorFailures => {}
            }
        }
        Ok(())
    });
    advance(st, realm, flow, next, work, ip).await
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
pub fn issue_code(
    c: &mut AnyConnection,
    realm: &Realm,
    req: &AuthRequest,
    session: &SessionRow,
    now: chrono::NaiveDateTime,
) -> Result<String, StoreError> {
    let code = kenpo_shared::crypto::random_token(32);
    let grant = GrantRow {
        id: store::new_ordered_id(),
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
