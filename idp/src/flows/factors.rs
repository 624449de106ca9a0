//! The second-factor step of the login (SPEC §5): which factors a member is offered, and the
//! check of each — authenticator-app code, e-mail code, recovery code. Passkeys are checked in
//! `flows::passkeys`. Every wrong answer counts toward the member's second-factor lockout,
//! kept apart from the password counter (SPEC §9), so a stranger who knows the password cannot
//! guess the second factor slowly, and one who doesn't cannot lock the second factor at all.

use chrono::Duration;

use super::login::{self, Effect, Factor, LoginEvent, LoginState};
use super::service::{self, Flow, SubmitOutcome, TxWork};
use crate::error::Result;
use crate::mfa::codes;
use crate::mfa::totp::{self, TotpPolicy, TotpSecret};
use crate::realm::Realm;
use crate::realm::settings::{BruteForceSettings, MfaSettings};
use crate::security::brute_force;
use crate::state::AppState;
use crate::store::factors::{self as fstore, CredentialRow, EmailOtpRow, KIND_EMAIL, KIND_OTP, KIND_PASSKEY};
use crate::store::users::UserRow;
use crate::store::{self, AnyConnection, StoreError, write_tx};
use kenpo_shared::i18n::Locale;

pub enum FactorOutcome {
    /// Verified (or the flow moved on meanwhile): continue as the flow says.
    Flow(SubmitOutcome),
    /// Show the factor page again with this message (catalog key); nothing else changed.
    Message(&'static str),
}

/// The factors a member can prove, in the order offered: the method chosen at first login
/// first, then passkey, authenticator app, e-mail; recovery codes last and never alone.
pub fn offered(mfa: &MfaSettings, user: &UserRow, creds: &[CredentialRow], unused_recovery_codes: i64) -> Vec<Factor> {
    let choice = user.mfa_choice.as_deref();
    let has = |kind: &str| creds.iter().any(|c| c.kind == kind);
    let mut v = Vec::new();
    if has(KIND_PASSKEY) {
        v.push(Factor::Passkey);
    }
    if has(KIND_OTP) {
        v.push(Factor::Otp);
    }
    // A realm can switch e-mail codes off (standards rate them weakest); an address that is
    // not verified (changed since) receives none.
    if has(KIND_EMAIL) && mfa.enabled().contains(&"email") && user.email_verified && user.email.is_some() {
        v.push(Factor::Email);
    }
    if let Some(pos) = choice.and_then(Factor::parse).and_then(|c| v.iter().position(|f| *f == c)) {
        let chosen = v.remove(pos);
        v.insert(0, chosen);
    }
    if !v.is_empty() && mfa.recovery_codes && unused_recovery_codes > 0 {
        v.push(Factor::RecoveryCode);
    }
    v
}

/// The member's unused recovery codes, as far as a login needs them. Where the realm does not
/// offer recovery codes, `offered` and `enrolments_due` answer the same for any count (test
/// `recovery_code_count_matters_only_where_offered`), so the count is not read: one query less
/// per login.
pub fn recovery_codes_for_login(
    c: &mut AnyConnection,
    realm_offers_codes: bool,
    user_id: &str,
) -> Result<i64, StoreError> {
    if realm_offers_codes { fstore::unused_recovery_codes(c, user_id) } else { Ok(0) }
}

/// Every factor the member has enrolled, whatever the realm currently offers.
pub fn enrolled(creds: &[CredentialRow], unused_recovery_codes: i64) -> Vec<Factor> {
    let mut v: Vec<Factor> = creds
        .iter()
        .filter_map(|c| match c.kind.as_str() {
            KIND_PASSKEY => Some(Factor::Passkey),
            KIND_OTP => Some(Factor::Otp),
            KIND_EMAIL => Some(Factor::Email),
            _ => None,
        })
        .collect();
    if unused_recovery_codes > 0 {
        v.push(Factor::RecoveryCode);
    }
    v.sort();
    v.dedup();
    v
}

/// Enrolments due at login: the method chosen at first login until it is enrolled; a choice
/// first when a second factor is demanded and the member has none; new recovery codes when
/// the realm offers them and none are left.
/// `demanded`: the realm requires MFA or the client asked for it (`acr_values=2`).
pub fn enrolments_due(
    mfa: &MfaSettings,
    user: &UserRow,
    enrolled: &[Factor],
    demanded: bool,
) -> Vec<login::RequiredAction> {
    let mut v = Vec::new();
    let choice = user.mfa_choice.as_deref().and_then(Factor::parse).filter(|f| mfa.enabled().contains(&f.as_str()));
    match choice {
        Some(c) if !enrolled.contains(&c) => v.push(c.enrolment()),
        None if demanded && enrolled.iter().all(|f| *f == Factor::RecoveryCode) => {
            v.push(login::RequiredAction::ChooseUserIdAndMfa)
        }
        _ => {}
    }
    let will_have_factor = enrolled.iter().any(|f| *f != Factor::RecoveryCode) || !v.is_empty();
    if mfa.recovery_codes && will_have_factor && !enrolled.contains(&Factor::RecoveryCode) {
        v.push(login::RequiredAction::ConfigureRecoveryCodes);
    }
    v
}

/// The brute-force policy of second factors: the realm's waits, the MFA cap.
pub fn factor_lockout(realm: &Realm) -> BruteForceSettings {
    BruteForceSettings { max_failures: realm.settings.mfa.max_failures, ..realm.settings.brute_force.clone() }
}

/// Second-factor failures are counted under a key no typed user ID can produce.
pub fn lockout_key(user_id: &str) -> String {
    format!("\u{1}mfa:{user_id}")
}

fn member_id(flow: &Flow, factor: Factor) -> Option<String> {
    match &flow.state {
        LoginState::SecondFactor { user_id, factor: f, .. } if *f == factor => Some(user_id.clone()),
        _ => None,
    }
}

/// The member who may answer `factor` now: None (as the outcome to give) when the flow is on
/// another step or the member's second factor is locked.
async fn answering(
    st: &AppState,
    realm: &Realm,
    flow: &Flow,
    factor: Factor,
) -> Result<std::result::Result<String, FactorOutcome>> {
    let Some(user_id) = member_id(flow, factor) else {
        return Ok(Err(FactorOutcome::Flow(SubmitOutcome::Stale)));
    };
    if is_locked(st, realm, &user_id).await? {
        return Ok(Err(FactorOutcome::Message("factor.locked")));
    }
    Ok(Ok(user_id))
}

pub async fn is_locked(st: &AppState, realm: &Realm, user_id: &str) -> Result<bool> {
    let (rid, key) = (realm.id.clone(), lockout_key(user_id));
    let rec = st.store.run(move |c| store::failures::get(c, &rid, &key)).await?;
    Ok(brute_force::is_locked(rec.as_ref(), &factor_lockout(realm), store::now()))
}

/// Persists a verified or rejected factor with its counter effects and an audit event.
pub async fn conclude(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    event: LoginEvent,
    ip: Option<String>,
) -> Result<FactorOutcome> {
    let Some(user_id) = flow.state.user_id().map(str::to_string) else {
        return Ok(FactorOutcome::Flow(SubmitOutcome::Stale));
    };
    let factor = match &flow.state {
        LoginState::SecondFactor { factor, .. } => *factor,
        _ => return Ok(FactorOutcome::Flow(SubmitOutcome::Stale)),
    };
    let Ok((next, effects)) = login::step(&flow.state, event) else {
        return Ok(FactorOutcome::Flow(SubmitOutcome::Stale));
    };
    let rejected = effects.contains(&Effect::RecordFactorFailure);
    let (realm_id, key, bf) = (realm.id.clone(), lockout_key(&user_id), factor_lockout(realm));
    let ip2 = ip.clone();
    let client_id = flow.request.client_id.clone();
    let locked_now = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let locked_flag = locked_now.clone();
    let work: TxWork = Box::new(move |c, now| {
        for e in &effects {
            match e {
                Effect::RecordFactorFailure => {
                    let rec = store::failures::get(c, &realm_id, &key)?;
                    let updated = brute_force::after_failure(rec.as_ref(), &bf, now);
                    store::failures::put(c, &realm_id, &key, &updated)?;
                    let is_locked = brute_force::is_locked(Some(&updated), &bf, now);
                    locked_flag.store(is_locked, std::sync::atomic::Ordering::Relaxed);
                    store::audit::record(
                        c,
                        store::audit::Event {
                            realm_id: Some(&realm_id),
                            kind: "second_factor_failed",
                            user_id: Some(&user_id),
                            client_id: Some(&client_id),
                            ip: ip2.as_deref(),
                            detail: serde_json::json!({ "factor": factor.as_str(), "locked": is_locked }),
                        },
                    )?;
                }
                Effect::ClearFactorFailures => store::failures::clear(c, &realm_id, &key)?,
                _ => {}
            }
        }
        Ok(())
    });
    let outcome = service::advance(st, realm, flow, next, work, ip).await?;
    if rejected {
        return Ok(match outcome {
            SubmitOutcome::Page(_) if locked_now.load(std::sync::atomic::Ordering::Relaxed) => {
                FactorOutcome::Message("factor.locked")
            }
            SubmitOutcome::Page(_) => FactorOutcome::Message(wrong_message(factor)),
            other => FactorOutcome::Flow(other),
        });
    }
    Ok(FactorOutcome::Flow(outcome))
}

fn wrong_message(factor: Factor) -> &'static str {
    match factor {
        Factor::Otp => "factor.otp.wrong",
        Factor::Email => "factor.email.wrong",
        Factor::RecoveryCode => "factor.recovery.wrong",
        Factor::Passkey => "factor.passkey.failed",
    }
}

/// The member's devices of one kind (for the picker).
pub async fn devices(st: &AppState, user_id: &str, kind: &'static str) -> Result<Vec<CredentialRow>> {
    let uid = user_id.to_string();
    let all = st.store.run(move |c| fstore::for_user(c, &uid)).await?;
    Ok(all.into_iter().filter(|c| c.kind == kind).collect())
}

/// The associated data that binds a sealed OTP secret to its row.
pub fn otp_aad(credential_id: &str) -> Vec<u8> {
    format!("otp-secret:{credential_id}").into_bytes()
}

/// Opens a device's secret and policy.
pub fn open_otp(st: &AppState, cred: &CredentialRow) -> Result<(TotpSecret, TotpPolicy)> {
    let sealed = cred.secret_enc.as_deref().ok_or_else(|| StoreError::Corrupt("OTP device without secret".into()))?;
    let bytes = st
        .sealer
        .open(&otp_aad(&cred.id), sealed)
        .map_err(|_| StoreError::Corrupt("OTP secret does not open with the master key".into()))?;
    let secret = TotpSecret::from_bytes(bytes).map_err(|_| StoreError::Corrupt("OTP secret too short".into()))?;
    let policy: TotpPolicy = store::from_json("OTP policy", &cred.data)?;
    Ok((secret, policy))
}

pub fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

/// 「ワンタイムパスワードの入力」: the code of the chosen device (the first when there is one).
pub async fn submit_otp(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    device: Option<&str>,
    code: &str,
    ip: Option<String>,
) -> Result<FactorOutcome> {
    let user_id = match answering(st, realm, &flow, Factor::Otp).await? {
        Ok(id) => id,
        Err(outcome) => return Ok(outcome),
    };
    let mine = devices(st, &user_id, KIND_OTP).await?;
    // A device that is not the member's is treated like a wrong code (and counted).
    let chosen = match device {
        Some(id) => mine.iter().find(|c| c.id == id),
        None => mine.first(),
    };
    let step = match chosen {
        Some(cred) => {
            let (secret, policy) = open_otp(st, cred)?;
            match totp::verify(&secret, &policy, code, unix_now(), None) {
                Ok(Some(step)) => Some((cred.id.clone(), step)),
                Ok(None) | Err(totp::TotpError::Malformed) => None,
                Err(e) => return Err(StoreError::Corrupt(format!("OTP check: {e}")).into()),
            }
        }
        None => None,
    };
    let accepted = match step {
        Some((id, step)) => {
            let step = i64::try_from(step).unwrap_or(i64::MAX);
            // Once per device and time step, decided by one conditional update.
            st.store.run(move |c| write_tx(c, |c| fstore::use_otp_step(c, &id, step, store::now()))).await?
        }
        None => false,
    };
    let event = if accepted { LoginEvent::FactorVerified(Factor::Otp) } else { LoginEvent::FactorRejected };
    conclude(st, realm, flow, event, ip).await
}

/// 「リカバリーコード」: one of the member's unused codes, used up by this login.
pub async fn submit_recovery_code(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    input: &str,
    ip: Option<String>,
) -> Result<FactorOutcome> {
    let user_id = match answering(st, realm, &flow, Factor::RecoveryCode).await? {
        Ok(id) => id,
        Err(outcome) => return Ok(outcome),
    };
    let accepted = match codes::normalise_recovery_code(input) {
        Some(code) => {
            let hash = codes::recovery_code_hash(&user_id, &code);
            let uid = user_id.clone();
            st.store.run(move |c| write_tx(c, |c| fstore::use_recovery_code(c, &uid, &hash, store::now()))).await?
        }
        None => false,
    };
    let event = if accepted { LoginEvent::FactorVerified(Factor::RecoveryCode) } else { LoginEvent::FactorRejected };
    conclude(st, realm, flow, event, ip).await
}

/// The member picks another of their factors.
pub async fn switch(st: &AppState, realm: &Realm, flow: Flow, to: Factor, ip: Option<String>) -> Result<SubmitOutcome> {
    match login::step(&flow.state, LoginEvent::SwitchFactor(to)) {
        Ok((next, _)) => service::advance(st, realm, flow, next, Box::new(|_, _| Ok(())), ip).await,
        Err(_) => Ok(SubmitOutcome::Stale),
    }
}

// --- e-mail codes ---------------------------------------------------------------------------

/// What the e-mail code page shows about the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailCodeState {
    /// A code was sent (now or earlier) and is waiting.
    Sent,
    /// 「再送信」 was pressed too soon after the last mail.
    TooSoon,
    /// The code sent earlier expired or its tries are spent: the page says to press 「再送信」.
    Spent,
}

/// Sends the flow's e-mail code unless this flow has an unused one already, live or not
/// (`resend` asks for a new one, at most once per `resend_seconds`). The code and its mail
/// commit in one transaction.
pub async fn send_email_code(
    st: &AppState,
    realm: &Realm,
    flow: &Flow,
    user: &UserRow,
    locale: Locale,
    resend: bool,
) -> Result<EmailCodeState> {
    let Some(address) = user.email.clone().filter(|_| user.email_verified) else {
        return Err(StoreError::Stale.into());
    };
    let settings = realm.settings.mfa.email_otp.clone();
    let code = codes::email_code();
    let minutes = settings.code_minutes;
    let subject = st.pages.message(locale, "mail.email_otp.subject").replace("{realm}", &realm.display_name);
    let body = st
        .pages
        .message(locale, "mail.email_otp.body")
        .replace("{realm}", &realm.display_name)
        .replace("{code}", &code)
        .replace("{minutes}", &minutes.to_string());
    let from = crate::mail::realm_sender(&st.config.mail, realm);
    let (flow_id, uid, realm_id) = (flow.id.clone(), user.id.clone(), realm.id.clone());
    let sent = st
        .store
        .run(move |c| {
            write_tx(c, |c| {
                let now = store::now();
                if let Some(existing) = fstore::email_otp(c, &flow_id)? {
                    // Only 「再送信」 replaces a code this flow sent and has not used: a page shown
                    // again after the code expired or its tries were spent sends nothing (the
                    // member is told to press 「再送信」), so a spent code never silently mails
                    // a new one past the resend throttle.
                    if !resend && existing.user_id == uid && existing.used_at.is_none() {
                        let spent = existing.expires_at <= now || i64::from(existing.tries) >= settings.max_tries;
                        return Ok(if spent { EmailCodeState::Spent } else { EmailCodeState::Sent });
                    }
                    if resend && existing.sent_at + Duration::seconds(settings.resend_seconds) > now {
                        return Ok(EmailCodeState::TooSoon);
                    }
                }
                put_code(c, &flow_id, &uid, &code, now, minutes)?;
                store::mail::enqueue(
                    c,
                    store::mail::NewMail {
                        realm_id: &realm_id,
                        kind: "email_otp",
                        to: &address,
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
                        kind: "email_otp_sent",
                        user_id: Some(&uid),
                        detail: serde_json::json!({ "resend": resend }),
                        ..Default::default()
                    },
                )?;
                Ok(EmailCodeState::Sent)
            })
        })
        .await?;
    st.mail_wakeup.notify_one();
    Ok(sent)
}

fn put_code(
    c: &mut AnyConnection,
    flow_id: &str,
    user_id: &str,
    code: &str,
    now: chrono::NaiveDateTime,
    minutes: i64,
) -> Result<(), StoreError> {
    fstore::put_email_otp(
        c,
        &EmailOtpRow {
            flow_id: flow_id.to_string(),
            user_id: user_id.to_string(),
            code_hash: codes::email_code_hash(flow_id, code),
            tries: 0,
            sent_at: now,
            expires_at: now + Duration::minutes(minutes),
            used_at: None,
        },
    )
}

/// The result of checking a typed e-mail code against the flow's live code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailCodeCheck {
    Accepted,
    Wrong,
    /// No live code: expired, used, or its tries are spent — a new one must be sent.
    Expired,
}

/// Checks (and on success uses up) the flow's e-mail code; every try counts against the code.
pub async fn check_email_code(
    st: &AppState,
    realm: &Realm,
    flow_id: &str,
    user_id: &str,
    input: &str,
) -> Result<EmailCodeCheck> {
    let max_tries = i32::try_from(realm.settings.mfa.email_otp.max_tries).unwrap_or(5);
    let typed = codes::normalise_email_code(input);
    let (fid, uid) = (flow_id.to_string(), user_id.to_string());
    Ok(st
        .store
        .run(move |c| {
            write_tx(c, |c| {
                let now = store::now();
                let Some(row) = fstore::email_otp(c, &fid)? else { return Ok(EmailCodeCheck::Expired) };
                if row.user_id != uid || row.used_at.is_some() || row.expires_at <= now {
                    return Ok(EmailCodeCheck::Expired);
                }
                if !fstore::count_email_otp_try(c, &fid, max_tries)? {
                    return Ok(EmailCodeCheck::Expired);
                }
                let right = typed.as_deref().is_some_and(|t| {
                    kenpo_shared::crypto::ct_eq(codes::email_code_hash(&fid, t).as_bytes(), row.code_hash.as_bytes())
                });
                if right && fstore::use_email_otp(c, &fid, now)? {
                    Ok(EmailCodeCheck::Accepted)
                } else {
                    Ok(EmailCodeCheck::Wrong)
                }
            })
        })
        .await?)
}

/// 「ワンタイムパスワード (OTP) メール認証」 at login.
pub async fn submit_email_code(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    input: &str,
    ip: Option<String>,
) -> Result<FactorOutcome> {
    let user_id = match answering(st, realm, &flow, Factor::Email).await? {
        Ok(id) => id,
        Err(outcome) => return Ok(outcome),
    };
    match check_email_code(st, realm, &flow.id, &user_id, input).await? {
        EmailCodeCheck::Accepted => conclude(st, realm, flow, LoginEvent::FactorVerified(Factor::Email), ip).await,
        EmailCodeCheck::Wrong => conclude(st, realm, flow, LoginEvent::FactorRejected, ip).await,
        EmailCodeCheck::Expired => Ok(FactorOutcome::Message("factor.email.expired")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(choice: Option<&str>) -> UserRow {
        UserRow { mfa_choice: choice.map(str::to_string), ..UserRow::example() }
    }

    fn credential(kind: &str) -> CredentialRow {
        CredentialRow {
            id: format!("c-{kind}"),
            realm_id: "r".into(),
            user_id: "u1".into(),
            kind: kind.into(),
            label: String::new(),
            secret_enc: None,
            data: "{}".into(),
            credential_key: None,
            last_used_step: None,
            created_at: chrono::NaiveDateTime::default(),
            last_used_at: None,
        }
    }

    /// What `recovery_codes_for_login` relies on: with recovery codes off, the number of codes
    /// a member has left changes neither the factors offered nor the enrolments asked for, for
    /// any mix of factors, chosen method and demand; with them on, it does.
    #[test]
    fn recovery_code_count_matters_only_where_offered() {
        let kinds: [&[&str]; 5] = [&[], &[KIND_OTP], &[KIND_PASSKEY], &[KIND_EMAIL], &[KIND_OTP, KIND_PASSKEY]];
        for recovery_codes in [false, true] {
            let mut differs = false;
            for required in [false, true] {
                let mfa = MfaSettings { recovery_codes, required, ..MfaSettings::default() };
                for held in kinds {
                    let creds: Vec<CredentialRow> = held.iter().map(|k| credential(k)).collect();
                    for choice in [None, Some("otp"), Some("passkey"), Some("email")] {
                        let user = member(choice);
                        let answer = |left: i64| {
                            (
                                offered(&mfa, &user, &creds, left),
                                enrolments_due(&mfa, &user, &enrolled(&creds, left), required),
                            )
                        };
                        if answer(0) != answer(3) {
                            assert!(recovery_codes, "count mattered with codes off: {held:?} {choice:?} {required}");
                            differs = true;
                        }
                    }
                }
            }
            assert_eq!(differs, recovery_codes, "the count matters exactly when the realm offers codes");
        }
    }
}
