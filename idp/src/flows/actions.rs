//! Required actions (SPEC §4): the member's input for the current action is checked here,
//! turned into `ActionDone`, and persisted with its side effects through `service::advance`.

use chrono::Duration;

use super::login::{self, LoginEvent, LoginState, Page, RequiredAction};
use super::service::{self, Flow, SubmitOutcome, TxWork};
use super::session;
use crate::error::Result;
use crate::oidc::tokens::Signer;
use crate::realm::Realm;
use crate::realm::validate::{self, FieldError};
use crate::security::hasher::{HashProfile, Verdict};
use crate::state::AppState;
use crate::store::users::UserRow;
use crate::store::verifications::VerificationRow;
use crate::store::{self, StoreError, write_tx};
use kenpo_shared::i18n::Locale;
use kenpo_shared::secret::Secret;

pub enum ActionOutcome {
    /// The action is done (or the flow moved on meanwhile): continue as the flow says.
    Flow(SubmitOutcome),
    /// Input breaks a rule: show the page again with these messages; nothing changed.
    Invalid(Vec<FieldError>),
    /// The verification mail is queued; the page now waits for the click.
    EmailSent(Flow),
    /// "I clicked it" before the link was used.
    NotYetVerified(Flow),
    /// A message for the page that is not about one field's format (wrong birthdate, locked).
    Message(&'static str),
}

async fn member(st: &AppState, flow: &Flow) -> Result<UserRow> {
    let uid = flow.state.user_id().unwrap_or_default().to_string();
    st.store
        .run(move |c| store::users::find(c, &uid))
        .await?
        .filter(UserRow::is_active)
        .ok_or_else(|| StoreError::Stale.into())
}

fn done(flow: &Flow, action: RequiredAction) -> Result<LoginState> {
    Ok(login::step(&flow.state, LoginEvent::ActionDone(action)).map_err(|_| StoreError::Stale)?.0)
}

/// 「生年月日の入力」: YYYYMMDD (full-width digits normalised) compared with the record. Wrong
/// tries count toward the same lockout as wrong passwords: this check sits on top of a
/// union-issued temporary password and must not be guessable either.
pub async fn verify_birthdate(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    input: &str,
    ip: Option<String>,
) -> Result<ActionOutcome> {
    let date = match validate::parse_birthdate(input) {
        Ok(d) => d.format("%Y-%m-%d").to_string(),
        Err(e) => return Ok(ActionOutcome::Invalid(vec![e])),
    };
    let user = member(st, &flow).await?;
    let key = validate::username_lookup_key(&user.username);
    let (rid, k2) = (realm.id.clone(), key.clone());
    let record = st.store.run(move |c| store::failures::get(c, &rid, &k2)).await?;
    let bf = realm.settings.brute_force.clone();
    if crate::security::brute_force::is_locked(record.as_ref(), &bf, store::now()) {
        return Ok(ActionOutcome::Message("login.notice.locked"));
    }
    let (realm_id, uid) = (realm.id.clone(), user.id.clone());
    if user.birthdate.as_deref() != Some(date.as_str()) {
        let locked = st
            .store
            .run(move |c| {
                write_tx(c, |c| {
                    let now = store::now();
                    let rec = store::failures::get(c, &realm_id, &key)?;
                    let updated = crate::security::brute_force::after_failure(rec.as_ref(), &bf, now);
                    store::failures::put(c, &realm_id, &key, &updated)?;
                    store::audit::record(
                        c,
                        store::audit::Event {
                            realm_id: Some(&realm_id),
                            kind: "birthdate_failed",
                            user_id: Some(&uid),
                            ip: ip.as_deref(),
                            detail: serde_json::json!({ "locked": updated.locked_until.is_some() }),
                            ..Default::default()
                        },
                    )?;
                    Ok(crate::security::brute_force::is_locked(Some(&updated), &bf, now))
                })
            })
            .await?;
        return Ok(ActionOutcome::Message(if locked { "login.notice.locked" } else { "action.birthdate.mismatch" }));
    }
    let next = done(&flow, RequiredAction::VerifyBirthdate)?;
    let work: TxWork = Box::new(move |c, _| {
        store::failures::clear(c, &realm_id, &key)?;
        store::users::complete_action(c, &uid, RequiredAction::VerifyBirthdate.as_str())
    });
    Ok(ActionOutcome::Flow(service::advance(st, realm, flow, next, work, ip).await?))
}

/// 「利用規約」: 「同意する」 records the acceptance of the current version; 「同意しない」 ends the
/// login and tells the client `access_denied`.
pub async fn answer_terms(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    agree: bool,
    version: Option<i32>,
    ip: Option<String>,
) -> Result<ActionOutcome> {
    let user = member(st, &flow).await?;
    if !agree {
        let next = login::step(&flow.state, LoginEvent::Declined(RequiredAction::TermsAndConditions))
            .map_err(|_| StoreError::Stale)?
            .0;
        return Ok(ActionOutcome::Flow(service::advance(st, realm, flow, next, Box::new(|_, _| Ok(())), ip).await?));
    }
    let rid = realm.id.clone();
    let current = st.store.run(move |c| store::terms::current(c, &rid)).await?;
    // The form names the version it showed: a version published meanwhile is shown first.
    let Some(terms) = current.filter(|t| version == Some(t.version)) else {
        return Ok(ActionOutcome::Message("action.terms.changed"));
    };
    let next = done(&flow, RequiredAction::TermsAndConditions)?;
    let (uid, realm_id) = (user.id.clone(), realm.id.clone());
    let work: TxWork = Box::new(move |c, now| {
        store::terms::accept(c, &uid, terms.version, now)?;
        store::users::complete_action(c, &uid, RequiredAction::TermsAndConditions.as_str())?;
        store::audit::record(
            c,
            store::audit::Event {
                realm_id: Some(&realm_id),
                kind: "terms_accepted",
                user_id: Some(&uid),
                detail: serde_json::json!({ "version": terms.version }),
                ..Default::default()
            },
        )
    });
    Ok(ActionOutcome::Flow(service::advance(st, realm, flow, next, work, ip).await?))
}

/// 「ユーザIDの変更・認証方法の設定」: an optional new user ID (SPEC §2 rules, unique in the realm)
/// and the second-factor method, among those the realm enables. Enrolment of the method is
/// a later step; the choice is recorded.
pub async fn choose_user_id_and_mfa(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    new_user_id: &str,
    method: &str,
    ip: Option<String>,
) -> Result<ActionOutcome> {
    let user = member(st, &flow).await?;
    let mut errors = Vec::new();
    let wanted = if new_user_id.trim().is_empty() {
        None
    } else {
        match validate::normalize_username(new_user_id) {
            Ok(u) if u == user.username => None,
            Ok(u) => Some(u),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    };
    if !errors.is_empty() {
        return Ok(ActionOutcome::Invalid(errors));
    }
    if !realm.settings.mfa.enabled().contains(&method) {
        return Ok(ActionOutcome::Message("action.choose.method_required"));
    }
    if let Some(u) = wanted.clone() {
        let rid = realm.id.clone();
        if st.store.run(move |c| store::users::find_by_username(c, &rid, &u)).await?.is_some() {
            return Ok(ActionOutcome::Invalid(vec![FieldError::UsernameTaken]));
        }
    }
    // The chosen method is enrolled at the end of this login (SPEC §4 step 6), unless the
    // member has it already; recovery codes follow when the realm offers them.
    let uid = user.id.clone();
    let (creds, unused) = st
        .store
        .run(move |c| Ok((store::factors::for_user(c, &uid)?, store::factors::unused_recovery_codes(c, &uid)?)))
        .await?;
    let enrolled = super::factors::enrolled(&creds, unused);
    let chosen = super::login::Factor::parse(method).filter(|f| !enrolled.contains(f));
    let mut then: Vec<RequiredAction> = chosen.map(|f| f.enrolment()).into_iter().collect();
    // E-mail codes go to a verified address only: verify it first when it is not.
    if chosen == Some(super::login::Factor::Email) && !(user.email_verified && user.email.is_some()) {
        then.push(RequiredAction::VerifyEmail);
    }
    if realm.settings.mfa.recovery_codes && !enrolled.contains(&super::login::Factor::RecoveryCode) {
        then.push(RequiredAction::ConfigureRecoveryCodes);
    }
    let next = login::step(&flow.state, LoginEvent::ActionDoneThen(RequiredAction::ChooseUserIdAndMfa, then))
        .map_err(|_| StoreError::Stale)?
        .0;
    let (uid, realm_id, method) = (user.id.clone(), realm.id.clone(), method.to_string());
    let old = user.username.clone();
    let work: TxWork = Box::new(move |c, _| {
        if let Some(u) = &wanted {
            // The unique index decides between two members racing for the same ID.
            store::users::set_username(c, &uid, u)?;
        }
        store::users::set_mfa_choice(c, &uid, &method)?;
        store::users::complete_action(c, &uid, RequiredAction::ChooseUserIdAndMfa.as_str())?;
        store::audit::record(
            c,
            store::audit::Event {
                realm_id: Some(&realm_id),
                kind: "first_login_choices",
                user_id: Some(&uid),
                detail: serde_json::json!({ "user_id_changed": wanted.is_some(), "from": old, "mfa": method }),
                ..Default::default()
            },
        )
    });
    match service::advance(st, realm, flow, next, work, ip).await {
        Err(crate::error::IdpError::Store(StoreError::Conflict(_))) => {
            Ok(ActionOutcome::Invalid(vec![FieldError::UsernameTaken]))
        }
        other => Ok(ActionOutcome::Flow(other?)),
    }
}

/// 「パスワードの更新」: new password twice, the realm's policy, not the current one; optionally
/// signs the member out of every other session (default on).
pub async fn update_password(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    new: Secret,
    confirmation: Secret,
    sign_out_others: bool,
    ip: Option<String>,
) -> Result<ActionOutcome> {
    let user = member(st, &flow).await?;
    let policy = &realm.settings.password.policy;
    let mut errors = match validate::validate_password(policy, &user.username, new.expose()) {
        Ok(_) => Vec::new(),
        Err(e) => e,
    };
    if let Err(e) = validate::password_confirmation_matches(new.expose(), confirmation.expose()) {
        errors.push(e);
    }
    let profile = HashProfile::parse(&realm.settings.password.hash);
    if errors.is_empty() {
        let same = st.hasher.verify(profile, user.password_hash.clone(), new.clone()).await?;
        if let Err(e) = validate::password_differs(new.expose(), matches!(same, Verdict::Match { .. })) {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return Ok(ActionOutcome::Invalid(errors));
    }
    let normalized = validate::validate_password(policy, &user.username, new.expose()).unwrap_or_default();
    let hash = st.hasher.hash(profile, Secret::new(normalized)).await?;
    let next = done(&flow, RequiredAction::UpdatePassword)?;
    let keys = st.keys.for_realm(&st.store, &realm.id).await?;
    let issuer = st.issuer(realm);
    let tokens = realm.settings.tokens.clone();
    let realm_id = realm.id.clone();
    let work: TxWork = Box::new(move |c, now| {
        store::users::set_password_hash(c, &user.id, &hash, false, now)?;
        store::users::complete_action(c, &user.id, RequiredAction::UpdatePassword.as_str())?;
        let mut ended = 0;
        if sign_out_others {
            let signer = Signer { issuer: &issuer, keys: &keys, settings: &tokens };
            for s in store::sessions::for_user(c, &user.id)? {
                session::end_session(c, &signer, &s, now)?;
                ended += 1;
            }
        }
        store::audit::record(
            c,
            store::audit::Event {
                realm_id: Some(&realm_id),
                kind: "password_updated",
                user_id: Some(&user.id),
                detail: serde_json::json!({ "required_action": true, "other_sessions_ended": ended }),
                ..Default::default()
            },
        )
    });
    let outcome = service::advance(st, realm, flow, next, work, ip).await?;
    st.backchannel_wakeup.notify_one();
    Ok(ActionOutcome::Flow(outcome))
}

/// 「メールアドレスの更新」, first half: the member keeps or changes the address. An address that
/// is already verified and unchanged completes the action; otherwise a single-use link is
/// mailed (through the outbox, in the same transaction) and the page waits for the click.
pub async fn submit_email(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    input: &str,
    locale: Locale,
    ip: Option<String>,
) -> Result<ActionOutcome> {
    let email = match validate::normalize_email(input) {
        Ok(e) => validate::email_uniqueness_key(&e),
        Err(errors) => return Ok(ActionOutcome::Invalid(errors)),
    };
    let user = member(st, &flow).await?;
    let (rid, uid, e2) = (realm.id.clone(), user.id.clone(), email.clone());
    if st.store.run(move |c| store::users::email_taken(c, &rid, &e2, Some(&uid))).await? {
        return Ok(ActionOutcome::Invalid(vec![FieldError::EmailInUse]));
    }
    if user.email_verified && user.email.as_deref() == Some(email.as_str()) {
        let next = done(&flow, RequiredAction::VerifyEmail)?;
        let uid = user.id.clone();
        let work: TxWork =
            Box::new(move |c, _| store::users::complete_action(c, &uid, RequiredAction::VerifyEmail.as_str()));
        return Ok(ActionOutcome::Flow(service::advance(st, realm, flow, next, work, ip).await?));
    }
    let token = kenpo_shared::crypto::random_token(32);
    let link = format!("{}/login-actions/verify-email?key={token}", st.issuer(realm));
    let minutes = realm.settings.login.email_link_minutes;
    let subject = st.pages.message(locale, "mail.verify_email.subject").replace("{realm}", &realm.display_name);
    let body = st
        .pages
        .message(locale, "mail.verify_email.body")
        .replace("{realm}", &realm.display_name)
        .replace("{link}", &link)
        .replace("{hours}", &(minutes / 60).max(1).to_string());
    let from = crate::mail::realm_sender(&st.config.mail, realm);
    let (realm_id, uid) = (realm.id.clone(), user.id.clone());
    let state = flow.state.clone();
    let work: TxWork = Box::new(move |c, now| {
        store::users::update_email(c, &uid, &email, false)?;
        store::verifications::expire_for_user(c, &uid, now)?;
        store::verifications::insert(
            c,
            &VerificationRow {
                token_hash: kenpo_shared::crypto::token_hash(&token),
                realm_id: realm_id.clone(),
                user_id: uid.clone(),
                email: email.clone(),
                created_at: now,
                expires_at: now + Duration::minutes(minutes),
                used_at: None,
            },
        )?;
        store::mail::enqueue(
            c,
            store::mail::NewMail {
                realm_id: &realm_id,
                kind: "verify_email",
                to: &email,
                from: &from,
                subject: &subject,
                body_text: &body,
            },
            now,
        )?;
        store::audit::record(
            c,
            store::audit::Event {
                realm_id: Some(&realm_id),
                kind: "verify_email_sent",
                user_id: Some(&uid),
                ..Default::default()
            },
        )
    });
    // The state stays on this step; saving it bumps the version so older forms are stale.
    let outcome = service::advance(st, realm, flow, state, work, ip).await?;
    st.mail_wakeup.notify_one();
    Ok(match outcome {
        SubmitOutcome::Page(f) => ActionOutcome::EmailSent(f),
        other => ActionOutcome::Flow(other),
    })
}

/// 「メールアドレスの更新」, second half: the member says they clicked the link.
pub async fn confirm_email(st: &AppState, realm: &Realm, flow: Flow, ip: Option<String>) -> Result<ActionOutcome> {
    let user = member(st, &flow).await?;
    if !(user.email_verified && user.email.is_some()) {
        return Ok(ActionOutcome::NotYetVerified(flow));
    }
    let next = done(&flow, RequiredAction::VerifyEmail)?;
    let uid = user.id.clone();
    let work: TxWork =
        Box::new(move |c, _| store::users::complete_action(c, &uid, RequiredAction::VerifyEmail.as_str()));
    Ok(ActionOutcome::Flow(service::advance(st, realm, flow, next, work, ip).await?))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Verified,
    /// Unknown, used, expired, replaced by a newer link, or the address changed since.
    Invalid,
    /// Opened in a browser whose login flow belongs to another member.
    OtherMember,
}

/// The link in the verification mail.
pub async fn verify_link(st: &AppState, realm: &Realm, token: &str, flow: Option<&Flow>) -> Result<LinkOutcome> {
    let hash = kenpo_shared::crypto::token_hash(token);
    let h2 = hash.clone();
    let Some(row) = st.store.run(move |c| store::verifications::find(c, &h2)).await? else {
        return Ok(LinkOutcome::Invalid);
    };
    if row.realm_id != realm.id {
        return Ok(LinkOutcome::Invalid);
    }
    if let Some(uid) = flow.and_then(|f| f.state.user_id())
        && uid != row.user_id
    {
        return Ok(LinkOutcome::OtherMember);
    }
    let realm_id = realm.id.clone();
    let ok = st
        .store
        .run(move |c| {
            let r = write_tx(c, |c| {
                let now = store::now();
                if row.used_at.is_some() || row.expires_at <= now || !store::verifications::use_once(c, &hash, now)? {
                    return Err(StoreError::Stale);
                }
                if !store::users::mark_email_verified(c, &row.user_id, &row.email)? {
                    return Err(StoreError::Stale);
                }
                store::audit::record(
                    c,
                    store::audit::Event {
                        realm_id: Some(&realm_id),
                        kind: "email_verified",
                        user_id: Some(&row.user_id),
                        ..Default::default()
                    },
                )
            });
            match r {
                Ok(()) => Ok(true),
                Err(StoreError::Stale) => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await?;
    Ok(if ok { LinkOutcome::Verified } else { LinkOutcome::Invalid })
}

/// The page for an action state, for the handlers' guard.
pub fn expects(flow: &Flow, action: RequiredAction) -> bool {
    flow.state.page() == Page::Action(action)
}
