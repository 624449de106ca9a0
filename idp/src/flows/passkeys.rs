//! Passkeys in the login (SPEC §5 生体認証): registration as a required action, the passkey
//! step after the password, and passwordless sign-in (realm option). The WebAuthn checks are
//! in `mfa::passkey`; here: the challenge kept sealed server-side and taken once, the device
//! name rules, storage, audit, and the login state machine.

use super::actions::ActionOutcome;
use super::enrol::device_name;
use super::factors::{self, FactorOutcome};
use super::login::{self, Factor, LoginEvent, RequiredAction};
use super::service::{self, Flow, SubmitOutcome, TxWork};
use crate::error::Result;
use crate::mfa::passkey::{self, PasskeyError, PasskeyPolicy, StoredPasskey, UserVerification};
use crate::realm::Realm;
use crate::state::AppState;
use crate::store::factors::{self as fstore, CredentialRow, KIND_PASSKEY};
use crate::store::users::UserRow;
use crate::store::{self, StoreError, write_tx};

const REGISTER: &str = "passkey_register";
const LOGIN: &str = "passkey_login";
const PASSWORDLESS: &str = "passkey_passwordless";

/// The realm's WebAuthn relying party: RP ID and origin from the public URL (a domain name;
/// `localhost` in development), the display name as RP name, and the realm's policies.
pub fn policy(st: &AppState, realm: &Realm) -> Result<PasskeyPolicy> {
    let settings = &realm.settings.mfa.passkey;
    let uv: UserVerification = settings.user_verification.parse().unwrap_or(UserVerification::Preferred);
    PasskeyPolicy::from_public_url(&st.config.trimmed_public_url(), &realm.display_name, uv, settings.passwordless)
        .map_err(|e| StoreError::Corrupt(e.to_string()).into())
}

fn challenge_id(flow: &Flow, purpose: &str) -> String {
    format!("{}:{purpose}", flow.id)
}

/// Stores a ceremony's state sealed, replacing an earlier one of the same flow and purpose.
async fn put_state(
    st: &AppState,
    realm: &Realm,
    id: String,
    user_id: Option<String>,
    purpose: &'static str,
    state: &str,
) -> Result<()> {
    let sealed = st.sealer.seal(id.as_bytes(), state.as_bytes()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let seconds = realm.settings.mfa.passkey.challenge_seconds;
    st.store
        .run(move |c| {
            write_tx(c, |c| {
                let now = store::now();
                fstore::put_challenge(
                    c,
                    &id,
                    user_id.as_deref(),
                    purpose,
                    &sealed,
                    now,
                    now + chrono::Duration::seconds(seconds),
                )
            })
        })
        .await?;
    Ok(())
}

/// Takes a ceremony's state: once only, and only before it expires.
async fn take_state(st: &AppState, id: String, purpose: &'static str) -> Result<Option<String>> {
    let id2 = id.clone();
    let sealed = st.store.run(move |c| write_tx(c, |c| fstore::take_challenge(c, &id2, purpose, store::now()))).await?;
    let Some(sealed) = sealed else { return Ok(None) };
    let plain = st.sealer.open(id.as_bytes(), &sealed).map_err(|_| StoreError::Corrupt("ceremony state".into()))?;
    Ok(Some(String::from_utf8(plain).map_err(|_| StoreError::Corrupt("ceremony state".into()))?))
}

fn stored(creds: &[CredentialRow]) -> Vec<StoredPasskey> {
    creds
        .iter()
        .filter(|c| c.kind == KIND_PASSKEY)
        .filter_map(|c| Some(StoredPasskey { credential_id: c.credential_key.clone()?, data: c.data.clone() }))
        .collect()
}

/// The WebAuthn user handle: the account id's 16 bytes (never the user ID, which can change).
fn user_handle(user: &UserRow) -> Result<[u8; 16]> {
    uuid::Uuid::parse_str(&user.id)
        .map(|u| *u.as_bytes())
        .map_err(|_| StoreError::Corrupt("account id is not a UUID".into()).into())
}

async fn credentials(st: &AppState, user_id: &str) -> Result<Vec<CredentialRow>> {
    let uid = user_id.to_string();
    Ok(st.store.run(move |c| fstore::for_user(c, &uid)).await?)
}

// --- registration ---------------------------------------------------------------------------

/// Options for 「セキュリティキーの登録」; each page view starts a new ceremony.
pub async fn registration_options(st: &AppState, realm: &Realm, flow: &Flow, user: &UserRow) -> Result<String> {
    let existing = stored(&credentials(st, &user.id).await?);
    let display = user.display_name().unwrap_or_else(|| user.username.clone());
    let (options, state) =
        passkey::start_registration(&policy(st, realm)?, &user_handle(user)?, &user.username, &display, &existing)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    put_state(st, realm, challenge_id(flow, REGISTER), Some(user.id.clone()), REGISTER, &state).await?;
    Ok(options.to_string())
}

/// The browser's answer to the registration ceremony, with the device name.
pub async fn submit_registration(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    credential: &str,
    browser_error: &str,
    label: &str,
    ip: Option<String>,
) -> Result<ActionOutcome> {
    let user_id = match &flow.state {
        login::LoginState::RequiredActions { user_id, pending, .. }
            if pending.first() == Some(&RequiredAction::WebauthnRegister) =>
        {
            user_id.clone()
        }
        _ => return Ok(ActionOutcome::Flow(SubmitOutcome::Stale)),
    };
    let label = match device_name(label) {
        Ok(l) => l,
        Err(key) => return Ok(ActionOutcome::Message(key)),
    };
    let (uid, l2) = (user_id.clone(), label.clone());
    if st.store.run(move |c| fstore::label_taken(c, &uid, &l2)).await? {
        return Ok(ActionOutcome::Message("factor.device.taken"));
    }
    // Cancelled or failed in the browser: the error page with 「再試行してください」.
    if !browser_error.is_empty() || credential.is_empty() || credential.len() > 64 * 1024 {
        return Ok(ActionOutcome::Message("factor.passkey.failed"));
    }
    let Some(state) = take_state(st, challenge_id(&flow, REGISTER), REGISTER).await? else {
        return Ok(ActionOutcome::Message("factor.passkey.failed"));
    };
    let new = match passkey::finish_registration(&policy(st, realm)?, &state, credential) {
        Ok(p) => p,
        Err(PasskeyError::Internal(e)) => return Err(StoreError::Corrupt(e).into()),
        Err(e) => {
            tracing::info!(reason = %e, "passkey registration refused");
            return Ok(ActionOutcome::Message("factor.passkey.failed"));
        }
    };
    // Credential IDs are unique (WebAuthn §7.1 step 26): an authenticator another member has
    // registered is refused as a failed ceremony, not as a device-name clash.
    let (rid, key) = (realm.id.clone(), new.credential_id.clone());
    if st.store.run(move |c| fstore::find_by_key(c, &rid, &key)).await?.is_some() {
        tracing::info!("passkey registration refused: credential already registered");
        return Ok(ActionOutcome::Message("factor.passkey.failed"));
    }
    let next = login::step(&flow.state, LoginEvent::ActionDone(RequiredAction::WebauthnRegister))
        .map_err(|_| StoreError::Stale)?
        .0;
    let realm_id = realm.id.clone();
    let work: TxWork = Box::new(move |c, now| {
        fstore::insert_credential(
            c,
            &CredentialRow {
                id: store::new_id(),
                realm_id: realm_id.clone(),
                user_id: user_id.clone(),
                kind: KIND_PASSKEY.into(),
                label: label.clone(),
                secret_enc: None,
                data: new.data.clone(),
                credential_key: Some(new.credential_id.clone()),
                last_used_step: None,
                created_at: now,
                last_used_at: Some(now),
            },
        )?;
        store::users::complete_action(c, &user_id, RequiredAction::WebauthnRegister.as_str())?;
        store::audit::record(
            c,
            store::audit::Event {
                realm_id: Some(&realm_id),
                kind: "second_factor_enrolled",
                user_id: Some(&user_id),
                detail: serde_json::json!({
                    "kind": KIND_PASSKEY, "label": label, "user_verified": new.user_verified,
                    "backup_eligible": new.backup_eligible,
                }),
                ..Default::default()
            },
        )
    });
    match service::advance(st, realm, flow, next, work, ip).await {
        // The same authenticator registered twice (credential IDs are unique), or a name race.
        Err(crate::error::IdpError::Store(StoreError::Conflict(_))) => {
            Ok(ActionOutcome::Message("factor.device.taken"))
        }
        other => Ok(ActionOutcome::Flow(other?)),
    }
}

// --- the passkey step after the password ----------------------------------------------------

/// Options for the passkey step; each page view starts a new ceremony.
pub async fn login_options(st: &AppState, realm: &Realm, flow: &Flow, user: &UserRow) -> Result<String> {
    let creds = stored(&credentials(st, &user.id).await?);
    let (options, state) =
        passkey::start_authentication(&policy(st, realm)?, &creds).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    put_state(st, realm, challenge_id(flow, LOGIN), Some(user.id.clone()), LOGIN, &state).await?;
    Ok(options.to_string())
}

/// The browser's answer to the passkey step.
pub async fn submit_login(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    credential: &str,
    browser_error: &str,
    ip: Option<String>,
) -> Result<FactorOutcome> {
    let user_id = match &flow.state {
        login::LoginState::SecondFactor { user_id, factor: Factor::Passkey, .. } => user_id.clone(),
        _ => return Ok(FactorOutcome::Flow(SubmitOutcome::Stale)),
    };
    if factors::is_locked(st, realm, &user_id).await? {
        return Ok(FactorOutcome::Message("factor.locked"));
    }
    // A cancelled ceremony is not a guess: nothing is counted.
    if !browser_error.is_empty() || credential.is_empty() || credential.len() > 64 * 1024 {
        return Ok(FactorOutcome::Message("factor.passkey.failed"));
    }
    let Some(state) = take_state(st, challenge_id(&flow, LOGIN), LOGIN).await? else {
        // Used or expired challenge (a replayed answer): refused.
        return factors::conclude(st, realm, flow, LoginEvent::FactorRejected, ip).await;
    };
    let rows = credentials(st, &user_id).await?;
    match passkey::finish_authentication(&policy(st, realm)?, &state, credential, &stored(&rows)) {
        Ok(used) => {
            record_use(st, &rows, &used).await?;
            factors::conclude(st, realm, flow, LoginEvent::FactorVerified(Factor::Passkey), ip).await
        }
        Err(PasskeyError::CounterRegression) => {
            audit_counter_regression(st, realm, &user_id, ip.clone()).await?;
            let outcome = factors::conclude(st, realm, flow, LoginEvent::FactorRejected, ip).await?;
            Ok(match outcome {
                FactorOutcome::Message("factor.passkey.failed") => FactorOutcome::Message("factor.passkey.counter"),
                other => other,
            })
        }
        Err(PasskeyError::Internal(e)) => Err(StoreError::Corrupt(e).into()),
        Err(e) => {
            tracing::info!(reason = %e, "passkey assertion refused");
            factors::conclude(st, realm, flow, LoginEvent::FactorRejected, ip).await
        }
    }
}

/// Saves the used passkey's new counter (compare-and-set on the state that was checked, so two
/// concurrent logins cannot leave the lower counter behind) and when it was last used.
async fn record_use(st: &AppState, rows: &[CredentialRow], used: &passkey::PasskeyUse) -> Result<()> {
    let Some(row) = rows.iter().find(|r| r.credential_key.as_deref() == Some(used.credential_id.as_str())) else {
        return Ok(());
    };
    let (id, old, new) = (row.id.clone(), row.data.clone(), used.new_data.clone());
    st.store
        .run(move |c| {
            write_tx(c, |c| match &new {
                Some(d) => fstore::update_passkey(c, &id, &old, d, store::now()).map(|_| ()),
                None => fstore::touch(c, &id, store::now()),
            })
        })
        .await?;
    Ok(())
}

/// A counter that went backwards may mean a cloned authenticator: the union must hear of it.
async fn audit_counter_regression(st: &AppState, realm: &Realm, user_id: &str, ip: Option<String>) -> Result<()> {
    let (rid, uid) = (realm.id.clone(), user_id.to_string());
    st.store
        .run(move |c| {
            write_tx(c, |c| {
                store::audit::record(
                    c,
                    store::audit::Event {
                        realm_id: Some(&rid),
                        kind: "passkey_counter_regression",
                        user_id: Some(&uid),
                        ip: ip.as_deref(),
                        ..Default::default()
                    },
                )
            })
        })
        .await?;
    tracing::warn!(user = %user_id, "passkey sign counter went backwards: possible cloned authenticator");
    Ok(())
}

// --- passwordless ---------------------------------------------------------------------------

/// Options for the login page's passkey autofill (conditional UI), when the realm allows
/// passwordless sign-in; None otherwise.
pub async fn passwordless_options(st: &AppState, realm: &Realm, flow: &Flow) -> Result<Option<String>> {
    if !realm.settings.mfa.passkey.passwordless {
        return Ok(None);
    }
    let (options, state) = passkey::start_discoverable_authentication(&policy(st, realm)?)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    put_state(st, realm, challenge_id(flow, PASSWORDLESS), None, PASSWORDLESS, &state).await?;
    Ok(Some(options.to_string()))
}

/// A discoverable passkey chosen on the login page: the member is found by the credential's
/// user handle, and the passkey (user-verified) stands for both factors.
pub async fn submit_passwordless(
    st: &AppState,
    realm: &Realm,
    flow: Flow,
    credential: &str,
    ip: Option<String>,
) -> Result<SubmitOutcome> {
    let refused = || {
        Ok(SubmitOutcome::Page(Flow {
            state: login::LoginState::Credentials { notice: Some(login::Notice::InvalidCredentials) },
            ..flow.clone()
        }))
    };
    if !realm.settings.mfa.passkey.passwordless || credential.is_empty() || credential.len() > 64 * 1024 {
        return refused();
    }
    let Some(state) = take_state(st, challenge_id(&flow, PASSWORDLESS), PASSWORDLESS).await? else {
        return refused();
    };
    let Ok((handle, _)) = passkey::discoverable_user_handle(credential) else { return refused() };
    let Ok(user_uuid) = uuid::Uuid::from_slice(&handle) else { return refused() };
    let uid = user_uuid.to_string();
    let rid = realm.id.clone();
    let offers_codes = realm.settings.mfa.recovery_codes;
    let loaded = st
        .store
        .run(move |c| {
            let Some(user) = store::users::find(c, &uid)?.filter(|u| u.realm_id == rid && u.is_active()) else {
                return Ok(None);
            };
            let creds = fstore::for_user(c, &user.id)?;
            let unused = super::factors::recovery_codes_for_login(c, offers_codes, &user.id)?;
            let terms = store::terms::due(c, &rid, &user.id)?;
            Ok(Some((user, creds, unused, terms)))
        })
        .await?;
    let Some((user, creds, unused, terms)) = loaded else { return refused() };
    let used = match passkey::finish_authentication(&policy(st, realm)?, &state, credential, &stored(&creds)) {
        Ok(u) => u,
        Err(PasskeyError::CounterRegression) => {
            audit_counter_regression(st, realm, &user.id, ip).await?;
            return refused();
        }
        Err(PasskeyError::Internal(e)) => return Err(StoreError::Corrupt(e).into()),
        Err(_) => return refused(),
    };
    record_use(st, &creds, &used).await?;
    let mut pending = service::pending_actions(&user, terms);
    let demanded = realm.settings.mfa.required || flow.request.wants_mfa();
    pending.extend(factors::enrolments_due(&realm.settings.mfa, &user, &factors::enrolled(&creds, unused), demanded));
    // A user-verified passkey is possession plus biometrics or PIN: two factors in one.
    let amr = if used.user_verified { vec!["hwk".into(), "user".into(), "mfa".into()] } else { vec!["hwk".into()] };
    let event = LoginEvent::PasskeyVerified { user_id: user.id.clone(), remember_me: false, pending, amr };
    let Ok((next, _)) = login::step(&flow.state, event) else { return Ok(SubmitOutcome::Stale) };
    service::advance(st, realm, flow, next, Box::new(|_, _| Ok(())), ip).await
}
