//! Enrolling second factors as required actions (SPEC §4 step 6, §5): an authenticator app,
//! the e-mail address as an OTP channel, and recovery codes. Passkeys are in
//! `flows::passkeys`. What is pending (a generated secret, codes not yet confirmed) is kept
//! sealed in `mfa_challenges`, bound to the login flow, so a reload shows the same QR code and
//! nothing is stored on the account until the member proves it works.

use chrono::NaiveDateTime;

use super::actions::ActionOutcome;
use super::factors::{self, EmailCodeCheck, EmailCodeState};
use super::login::{self, LoginEvent, RequiredAction};
use super::service::{self, Flow, TxWork};
use super::session;
use crate::error::Result;
use crate::mfa::{codes, totp};
use crate::oidc::tokens::Signer;
use crate::realm::Realm;
use crate::state::AppState;
use crate::store::factors::{self as fstore, CredentialRow, KIND_EMAIL, KIND_OTP};
use crate::store::users::UserRow;
use crate::store::{self, AnyConnection, StoreError, write_tx};
use kenpo_shared::i18n::Locale;

/// Longest device name, in characters.
pub const DEVICE_NAME_MAX: usize = 64;

const OTP_ENROL: &str = "otp_enrol";
const RECOVERY_ENROL: &str = "recovery_enrol";

fn challenge_id(flow: &Flow, purpose: &str) -> String {
    format!("{}:{purpose}", flow.id)
}

fn expects(flow: &Flow, action: RequiredAction) -> Option<String> {
    match &flow.state {
        login::LoginState::RequiredActions { user_id, pending, .. } if pending.first() == Some(&action) => {
            Some(user_id.clone())
        }
        _ => None,
    }
}

fn done(flow: &Flow, action: RequiredAction) -> Result<login::LoginState> {
    Ok(login::step(&flow.state, LoginEvent::ActionDone(action)).map_err(|_| StoreError::Stale)?.0)
}

/// 「デバイス名」: required, at most 64 characters, no control characters, trimmed.
pub fn device_name(input: &str) -> std::result::Result<String, &'static str> {
    let name = input.trim();
    if name.is_empty() {
        return Err("factor.device.empty");
    }
    if name.chars().count() > DEVICE_NAME_MAX {
        return Err("factor.device.too_long");
    }
    if name.chars().any(char::is_control) {
        return Err("factor.device.invalid");
    }
    Ok(name.to_string())
}

fn seal(st: &AppState, id: &str, plain: &[u8]) -> Result<Vec<u8>, StoreError> {
    st.sealer.seal(id.as_bytes(), plain).map_err(|e| StoreError::Corrupt(format!("sealing: {e}")))
}

fn open(st: &AppState, id: &str, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
    st.sealer.open(id.as_bytes(), sealed).map_err(|_| StoreError::Corrupt("sealed state does not open".into()))
}

/// Reads the flow's pending value for `purpose`, creating it with `make` the first time.
async fn pending_value(
    st: &AppState,
    flow: &Flow,
    user_id: &str,
    purpose: &'static str,
    make: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>> {
    let id = challenge_id(flow, purpose);
    let id2 = id.clone();
    if let Some(sealed) = st.store.run(move |c| fstore::peek_challenge(c, &id2, purpose, store::now())).await? {
        return Ok(open(st, &id, &sealed)?);
    }
    let plain = make();
    let sealed = seal(st, &id, &plain)?;
    let (uid, expires) = (user_id.to_string(), flow_expiry(flow));
    let id2 = id.clone();
    st.store
        .run(move |c| {
            write_tx(c, |c| {
                // Two tabs racing: the first value written wins, and both show it.
                match fstore::peek_challenge(c, &id2, purpose, store::now())? {
                    Some(existing) => Ok(existing),
                    None => {
                        fstore::put_challenge(c, &id2, Some(&uid), purpose, &sealed, store::now(), expires)?;
                        Ok(sealed)
                    }
                }
            })
        })
        .await
        .map_err(Into::into)
        .and_then(|sealed| Ok(open(st, &id, &sealed)?))
}

fn flow_expiry(_flow: &Flow) -> NaiveDateTime {
    // Pending enrolment state lives as long as a login flow may (the sweeper removes it after).
    store::now() + chrono::Duration::hours(1)
}

// --- authenticator app ----------------------------------------------------------------------

/// What the 「ワンタイムパスワードの設定」 page shows.
pub struct TotpEnrolment {
    pub qr_svg: String,
    /// The secret in Base32, in groups of four (「スキャンできませんか？」).
    pub secret_grouped: String,
    pub algorithm: &'static str,
    pub digits: u32,
    pub period: u64,
}

pub async fn totp_enrolment(st: &AppState, realm: &Realm, flow: &Flow, user: &UserRow) -> Result<TotpEnrolment> {
    let bytes =
        pending_value(st, flow, &user.id, OTP_ENROL, || totp::TotpSecret::generate().as_bytes().to_vec()).await?;
    let secret = totp::TotpSecret::from_bytes(bytes).map_err(|_| StoreError::Corrupt("pending OTP secret".into()))?;
    let policy = realm.settings.mfa.totp_policy();
    let uri = totp::otpauth_uri(&secret, &policy, &realm.display_name, &user.username);
    Ok(TotpEnrolment {
        qr_svg: totp::qr_svg(&uri).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        secret_grouped: secret.base32_grouped(),
        algorithm: policy.algorithm.uri_name(),
        digits: policy.digits,
        period: policy.period,
    })
}

/// The member typed the app's code and named the device: the device is stored (secret sealed,
/// the code's time step marked used so it cannot log in again) and the action completes.
pub async fn submit_totp(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    code: &str,
    label: &str,
    sign_out_others: bool,
    ip: Option<String>,
) -> Result<ActionOutcome> {
    let Some(user_id) = expects(&flow, RequiredAction::ConfigureTotp) else {
        return Ok(ActionOutcome::Flow(service::SubmitOutcome::Stale));
    };
    let label = match device_name(label) {
        Ok(l) => l,
        Err(key) => return Ok(ActionOutcome::Message(key)),
    };
    let (uid, l2) = (user_id.clone(), label.clone());
    if st.store.run(move |c| fstore::label_taken(c, &uid, &l2)).await? {
        return Ok(ActionOutcome::Message("factor.device.taken"));
    }
    let id = challenge_id(&flow, OTP_ENROL);
    let id2 = id.clone();
    let Some(sealed) = st.store.run(move |c| fstore::peek_challenge(c, &id2, OTP_ENROL, store::now())).await? else {
        return Ok(ActionOutcome::Message("factor.otp.setup_expired"));
    };
    let secret = totp::TotpSecret::from_bytes(open(st, &id, &sealed)?)
        .map_err(|_| StoreError::Corrupt("pending OTP secret".into()))?;
    let policy = realm.settings.mfa.totp_policy();
    let step = match totp::verify(&secret, &policy, code, factors::unix_now(), None) {
        Ok(Some(step)) => i64::try_from(step).unwrap_or(i64::MAX),
        // 「認証コードが異なります」: wrong, or typed after the code changed.
        Ok(None) | Err(totp::TotpError::Malformed) => return Ok(ActionOutcome::Message("factor.otp.setup_wrong")),
        Err(e) => return Err(StoreError::Corrupt(e.to_string()).into()),
    };
    let cred_id = store::new_id();
    let secret_enc = st
        .sealer
        .seal(&factors::otp_aad(&cred_id), secret.as_bytes())
        .map_err(|e| StoreError::Corrupt(format!("sealing: {e}")))?;
    let next = done(&flow, RequiredAction::ConfigureTotp)?;
    let keys = if sign_out_others { Some(st.keys.for_realm(&st.store, &realm.id).await?) } else { None };
    let (issuer, tokens, realm_id) = (st.issuer(realm), realm.settings.tokens.clone(), realm.id.clone());
    let work: TxWork = Box::new(move |c, now| {
        if fstore::take_challenge(c, &id, OTP_ENROL, now)?.is_none() {
            return Err(StoreError::Stale);
        }
        let row = CredentialRow {
            id: cred_id.clone(),
            realm_id: realm_id.clone(),
            user_id: user_id.clone(),
            kind: KIND_OTP.into(),
            label: label.clone(),
            secret_enc: Some(secret_enc),
            data: store::to_json(&policy),
            credential_key: None,
            last_used_step: Some(step),
            created_at: now,
            last_used_at: Some(now),
        };
        fstore::insert_credential(c, &row)?;
        let ended = match &keys {
            Some(keys) => sign_out_everywhere(c, &Signer { issuer: &issuer, keys, settings: &tokens }, &user_id, now)?,
            None => 0,
        };
        store::users::complete_action(c, &user_id, RequiredAction::ConfigureTotp.as_str())?;
        audit_enrolled(c, &realm_id, &user_id, KIND_OTP, &label, ended)
    });
    finish(st, realm, flow, next, work, ip, "factor.device.taken").await
}

/// Ends every session of the member (「全てのデバイスからサインアウトする」), with back-channel
/// notices; the login in progress gets a new session when it completes.
fn sign_out_everywhere(
    c: &mut AnyConnection,
    signer: &Signer<'_>,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let mut ended = 0;
    for s in store::sessions::for_user(c, user_id)? {
        session::end_session(c, signer, &s, now)?;
        ended += 1;
    }
    Ok(ended)
}

fn audit_enrolled(
    c: &mut AnyConnection,
    realm_id: &str,
    user_id: &str,
    kind: &str,
    label: &str,
    sessions_ended: usize,
) -> Result<(), StoreError> {
    store::audit::record(
        c,
        store::audit::Event {
            realm_id: Some(realm_id),
            kind: "second_factor_enrolled",
            user_id: Some(user_id),
            detail: serde_json::json!({ "kind": kind, "label": label, "other_sessions_ended": sessions_ended }),
            ..Default::default()
        },
    )
}

/// Persists the step; a unique-index conflict (two tabs naming two devices alike) becomes
/// `conflict_message`, and a vanished pending state (used by another tab) a stale flow.
async fn finish(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    next: login::LoginState,
    work: TxWork,
    ip: Option<String>,
    conflict_message: &'static str,
) -> Result<ActionOutcome> {
    let outcome = match service::advance(st, realm, flow, next, work, ip).await {
        Err(crate::error::IdpError::Store(StoreError::Conflict(_))) => {
            return Ok(ActionOutcome::Message(conflict_message));
        }
        other => other?,
    };
    st.backchannel_wakeup.notify_one();
    Ok(ActionOutcome::Flow(outcome))
}

// --- e-mail as an OTP channel ---------------------------------------------------------------

/// Sends (or re-sends) the confirmation code for the e-mail OTP enrolment.
pub async fn email_enrolment_code(
    st: &AppState,
    realm: &Realm,
    flow: &Flow,
    user: &UserRow,
    locale: Locale,
    resend: bool,
) -> Result<EmailCodeState> {
    factors::send_email_code(st, realm, flow, user, locale, resend).await
}

/// The member typed the mailed code: the address becomes their e-mail OTP channel.
pub async fn submit_email_enrolment(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    input: &str,
    ip: Option<String>,
) -> Result<ActionOutcome> {
    let Some(user_id) = expects(&flow, RequiredAction::ConfigureEmailOtp) else {
        return Ok(ActionOutcome::Flow(service::SubmitOutcome::Stale));
    };
    match factors::check_email_code(st, realm, &flow.id, &user_id, input).await? {
        EmailCodeCheck::Accepted => {}
        EmailCodeCheck::Wrong => return Ok(ActionOutcome::Message("factor.email.wrong")),
        EmailCodeCheck::Expired => return Ok(ActionOutcome::Message("factor.email.expired")),
    }
    let next = done(&flow, RequiredAction::ConfigureEmailOtp)?;
    let realm_id = realm.id.clone();
    let work: TxWork = Box::new(move |c, now| {
        let existing = fstore::for_user(c, &user_id)?;
        if !existing.iter().any(|cr| cr.kind == KIND_EMAIL) {
            fstore::insert_credential(
                c,
                &CredentialRow {
                    id: store::new_id(),
                    realm_id: realm_id.clone(),
                    user_id: user_id.clone(),
                    kind: KIND_EMAIL.into(),
                    label: String::new(),
                    secret_enc: None,
                    data: "{}".into(),
                    credential_key: None,
                    last_used_step: None,
                    created_at: now,
                    last_used_at: Some(now),
                },
            )?;
        }
        store::users::complete_action(c, &user_id, RequiredAction::ConfigureEmailOtp.as_str())?;
        audit_enrolled(c, &realm_id, &user_id, KIND_EMAIL, "", 0)
    });
    finish(st, realm, flow, next, work, ip, "factor.email.expired").await
}

// --- recovery codes -------------------------------------------------------------------------

/// The codes to show (the same on every reload until confirmed).
pub async fn recovery_codes(st: &AppState, flow: &Flow, user: &UserRow) -> Result<Vec<String>> {
    let bytes =
        pending_value(st, flow, &user.id, RECOVERY_ENROL, || codes::recovery_codes().join("\n").into_bytes()).await?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::Corrupt("pending recovery codes".into()))?;
    Ok(text.lines().map(str::to_string).collect())
}

/// 「保存しました」: the shown codes replace any earlier set; only their hashes are kept.
pub async fn confirm_recovery_codes(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    saved: bool,
    ip: Option<String>,
) -> Result<ActionOutcome> {
    let Some(user_id) = expects(&flow, RequiredAction::ConfigureRecoveryCodes) else {
        return Ok(ActionOutcome::Flow(service::SubmitOutcome::Stale));
    };
    if !saved {
        return Ok(ActionOutcome::Message("factor.recovery.confirm_required"));
    }
    let id = challenge_id(&flow, RECOVERY_ENROL);
    let next = done(&flow, RequiredAction::ConfigureRecoveryCodes)?;
    let realm_id = realm.id.clone();
    let sealer = st.sealer.clone();
    let work: TxWork = Box::new(move |c, now| {
        let Some(sealed) = fstore::take_challenge(c, &id, RECOVERY_ENROL, now)? else {
            return Err(StoreError::Stale);
        };
        let plain = sealer.open(id.as_bytes(), &sealed).map_err(|_| StoreError::Corrupt("recovery codes".into()))?;
        let text = String::from_utf8(plain).map_err(|_| StoreError::Corrupt("recovery codes".into()))?;
        let hashes: Vec<String> = text
            .lines()
            .filter_map(codes::normalise_recovery_code)
            .map(|code| codes::recovery_code_hash(&user_id, &code))
            .collect();
        fstore::replace_recovery_codes(c, &user_id, &hashes, now)?;
        store::users::complete_action(c, &user_id, RequiredAction::ConfigureRecoveryCodes.as_str())?;
        store::audit::record(
            c,
            store::audit::Event {
                realm_id: Some(&realm_id),
                kind: "recovery_codes_created",
                user_id: Some(&user_id),
                detail: serde_json::json!({ "count": hashes.len() }),
                ..Default::default()
            },
        )
    });
    finish(st, realm, flow, next, work, ip, "factor.recovery.confirm_required").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names() {
        assert_eq!(device_name("  仕事用スマホ "), Ok("仕事用スマホ".to_string()));
        assert_eq!(device_name("   "), Err("factor.device.empty"));
        assert_eq!(device_name(&"あ".repeat(65)), Err("factor.device.too_long"));
        assert_eq!(device_name(&"あ".repeat(64)), Ok("あ".repeat(64)));
        assert_eq!(device_name("a\u{7}b"), Err("factor.device.invalid"));
    }
}
