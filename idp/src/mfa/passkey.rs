//! Passkeys (WebAuthn Level 3): registration and authentication ceremonies — SPEC §5.
//!
//! Pure domain code over `webauthn-rs-core`: no database, no HTTP, no clock reads of ours. The
//! caller stores two things: the member's passkeys ([`StoredPasskey`]) and, between `start_*` and
//! `finish_*`, the ceremony state string. That string holds the challenge and the user-verification
//! policy, so it **must stay server-side** (session store or database row bound to the browser
//! session) and be used once: a client that could edit it could downgrade UV or replay a challenge.
//! Its expiry is the caller's too — `webauthn-rs-core` only tells the browser a timeout
//! ([`CEREMONY_TIMEOUT`]); it does not enforce one.
//!
//! Why the core crate and not the `webauthn-rs` wrapper: the wrapper hard-codes UV = required and
//! resident key = discouraged for passkeys, while Kenpo takes both from the realm policy. The
//! invariants the wrapper upholds are kept here: the RP ID is the host of the one allowed origin,
//! attestation is `none` (no attestation CA list, so no device trust decisions), the algorithm set
//! is webauthn-rs's `secure_algs` (ES256, ES384, RS256), subdomain and any-port origins are refused,
//! and the sign counter is checked (`require_valid_counter_value`, the core's default).
//!
//! Credential IDs must be unique across all members: the caller enforces that with a unique index
//! on [`NewPasskey::credential_id`] (WebAuthn §7.1 step 26).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use url::Url;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AuthenticationResult, AuthenticationState, COSEAlgorithm, CredProtect, Credential,
    CredentialProtectionPolicy, PublicKeyCredential, RegisterPublicKeyCredential, RegistrationState,
    RequestRegistrationExtensions, UserVerificationPolicy,
};

/// Timeout the browser is told to give the user (WebAuthn `timeout`). Five minutes, as
/// webauthn-rs's default: enough to find a security key or a phone for the hybrid transport.
/// The server-side expiry of the ceremony state is the caller's and should not be shorter.
pub const CEREMONY_TIMEOUT: Duration = Duration::from_secs(300);

/// Version of the ceremony-state envelope; a state written by another version is refused.
const STATE_VERSION: u8 = 1;

/// User-verification policy of a realm (PIN or biometrics on the authenticator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserVerification {
    /// The UV flag must be set at registration and at every authentication. With UV a passkey is
    /// two factors on its own (possession + PIN/biometric).
    Required,
    /// UV is asked for but not demanded, so security keys without a PIN still work. A passkey that
    /// *did* verify the user at registration is then held to it forever (webauthn-rs-core keeps
    /// the registration-time UV per credential), which closes the downgrade in which an attacker
    /// presents the key without its PIN.
    Preferred,
    /// UV is not asked for. Authenticators may still do it; it is not checked.
    Discouraged,
}

impl UserVerification {
    /// The WebAuthn / configuration spelling: `required`, `preferred`, `discouraged`.
    pub fn as_str(self) -> &'static str {
        match self {
            UserVerification::Required => "required",
            UserVerification::Preferred => "preferred",
            UserVerification::Discouraged => "discouraged",
        }
    }

    fn to_core(self) -> UserVerificationPolicy {
        match self {
            UserVerification::Required => UserVerificationPolicy::Required,
            UserVerification::Preferred => UserVerificationPolicy::Preferred,
            UserVerification::Discouraged => UserVerificationPolicy::Discouraged_DO_NOT_USE,
        }
    }
}

impl FromStr for UserVerification {
    type Err = PasskeyError;

    /// Parses the realm setting, case-insensitively and ignoring surrounding blanks.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        [UserVerification::Required, UserVerification::Preferred, UserVerification::Discouraged]
            .into_iter()
            .find(|uv| uv.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| PasskeyError::Internal(format!("unknown user verification policy {s:?}")))
    }
}

impl fmt::Display for UserVerification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a ceremony needs to know about the relying party and the realm's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyPolicy {
    /// WebAuthn RP ID: the host name of the public URL. Credentials are scoped to it, so changing
    /// the public host makes every registered passkey unusable.
    pub rp_id: String,
    /// Name shown by the browser / authenticator during registration.
    pub rp_name: String,
    /// The only origin accepted in `clientDataJSON` (`scheme://host[:port]`).
    pub origin: Url,
    /// Realm UV policy.
    pub user_verification: UserVerification,
    /// Require a discoverable credential (resident key) at registration, so that the passkey can
    /// later log in without a user name (passwordless, conditional UI).
    pub discoverable: bool,
}

impl PasskeyPolicy {
    /// Derives the RP ID and origin from the IdP's public URL (any path is ignored).
    ///
    /// Refused, because browsers refuse WebAuthn there anyway and a silent misconfiguration is
    /// worse than a startup error: a scheme other than `https` (plain `http` only for `localhost`
    /// and `*.localhost`, which browsers treat as secure contexts), and a host that is an IP address
    /// (an RP ID must be a domain).
    pub fn from_public_url(
        public_url: &str,
        rp_name: &str,
        user_verification: UserVerification,
        discoverable: bool,
    ) -> Result<Self, PasskeyError> {
        let url = Url::parse(public_url.trim())
            .map_err(|e| PasskeyError::Internal(format!("public URL {public_url:?} is not a URL: {e}")))?;
        let domain = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            _ => {
                return Err(PasskeyError::Internal(format!(
                    "public URL {public_url:?} has no domain name; WebAuthn needs one as RP ID"
                )));
            }
        };
        let localhost = domain == "localhost" || domain.ends_with(".localhost");
        match url.scheme() {
            "https" => {}
            "http" if localhost => {}
            other => {
                return Err(PasskeyError::Internal(format!(
                    "public URL scheme {other:?} cannot host passkeys (https is required)"
                )));
            }
        }
        let origin = Url::parse(&url.origin().ascii_serialization())
            .map_err(|e| PasskeyError::Internal(format!("origin of {public_url:?}: {e}")))?;
        let rp_name = rp_name.trim();
        Ok(PasskeyPolicy {
            rp_id: domain.clone(),
            rp_name: if rp_name.is_empty() { domain } else { rp_name.to_owned() },
            origin,
            user_verification,
            discoverable,
        })
    }

    fn core(&self) -> WebauthnCore {
        WebauthnCore::new_unsafe_experts_only(
            &self.rp_name,
            &self.rp_id,
            vec![self.origin.clone()],
            CEREMONY_TIMEOUT,
            Some(false),
            Some(false),
        )
    }
}

/// A registered passkey as the caller stores it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    /// Credential ID, base64url without padding (as in the browser's `credential.id`).
    pub credential_id: String,
    /// Opaque serialised credential (public key, sign counter, UV and backup flags, transports).
    /// Replace it with [`PasskeyUse::new_data`] after each authentication that returns one.
    pub data: String,
}

impl fmt::Debug for StoredPasskey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredPasskey")
            .field("credential_id", &self.credential_id)
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .finish()
    }
}

/// A passkey that has just been registered; the caller stores it with the member.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPasskey {
    /// Credential ID, base64url without padding. Must be unique across members.
    pub credential_id: String,
    /// Opaque serialised credential, to store as [`StoredPasskey::data`].
    pub data: String,
    /// Sign counter reported at registration; 0 for authenticators without a counter (synced
    /// passkeys).
    pub sign_count: u32,
    /// The authenticator verified the user (PIN/biometric) at registration.
    pub user_verified: bool,
    /// The private key may leave the device (synced passkey: iCloud Keychain, Google Password
    /// Manager, …) rather than being bound to one piece of hardware.
    pub backup_eligible: bool,
}

impl fmt::Debug for NewPasskey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewPasskey")
            .field("credential_id", &self.credential_id)
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .field("sign_count", &self.sign_count)
            .field("user_verified", &self.user_verified)
            .field("backup_eligible", &self.backup_eligible)
            .finish()
    }
}

/// A successful authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyUse {
    /// The passkey that was used.
    pub credential_id: String,
    /// Updated credential (new sign counter, backup flags) to store in place of
    /// [`StoredPasskey::data`]; `None` when nothing changed (the usual case for synced passkeys).
    /// Save it with a compare-and-swap on the old value, or two concurrent logins could both pass
    /// the counter check.
    pub new_data: Option<String>,
    /// Sign counter of this assertion (0 for authenticators without a counter).
    pub sign_count: u32,
    /// The UV flag was set in this assertion.
    pub user_verified: bool,
}

impl fmt::Debug for PasskeyUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyUse")
            .field("credential_id", &self.credential_id)
            .field("new_data", &self.new_data.as_ref().map(|d| format!("<{} bytes>", d.len())))
            .field("sign_count", &self.sign_count)
            .field("user_verified", &self.user_verified)
            .finish()
    }
}

/// Why a ceremony failed. Messages name the failed check only, never keys or challenges.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyError {
    /// The browser's response does not verify: malformed, wrong challenge (another ceremony's
    /// state), wrong origin or RP ID, bad signature, UV missing when required, credential
    /// excluded at registration, … The string says which check failed, for the audit log; show the
    /// member only a generic 「セキュリティキー・エラー」.
    #[error("passkey response refused: {0}")]
    Invalid(String),
    /// The sign counter did not increase although the authenticator uses one: two copies of the
    /// private key may exist (cloned authenticator). Refused; the caller must audit it and should
    /// tell the member.
    #[error("passkey sign counter did not increase: possible cloned authenticator")]
    CounterRegression,
    /// The response names a credential that is not among the member's passkeys (or was not offered
    /// in this ceremony).
    #[error("unknown passkey")]
    UnknownCredential,
    /// A server-side problem: configuration, unreadable stored credential or ceremony state.
    #[error("passkey internal error: {0}")]
    Internal(String),
}

impl From<WebauthnError> for PasskeyError {
    fn from(e: WebauthnError) -> Self {
        match e {
            WebauthnError::CredentialPossibleCompromise => PasskeyError::CounterRegression,
            WebauthnError::CredentialNotFound => PasskeyError::UnknownCredential,
            WebauthnError::Configuration
            | WebauthnError::InvalidUsername
            | WebauthnError::MissingAttestationCaList
            | WebauthnError::InconsistentUserVerificationPolicy
            | WebauthnError::ChallengePersistenceError
            | WebauthnError::CredentialPersistenceError
            | WebauthnError::CredentialRetrievalError => PasskeyError::Internal(e.to_string()),
            other => PasskeyError::Invalid(other.to_string()),
        }
    }
}

/// What travels between `start_*` and `finish_*` (as JSON text). The RP ID is kept so that a
/// state written under another configuration is refused rather than half-checked.
#[derive(Serialize, Deserialize)]
struct StateEnvelope {
    v: u8,
    rp_id: String,
    ceremony: Ceremony,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Ceremony {
    /// `excluded` repeats the member's credential IDs only to name that refusal plainly in the
    /// error (the core reports it as an unrequested algorithm).
    Registration {
        state: RegistrationState,
        excluded: Vec<String>,
    },
    /// The credential list inside `state` is emptied to keep the stored state small; `allowed`
    /// keeps the IDs offered, and the credentials themselves are taken fresh from the caller at
    /// finish (current counters, not a snapshot from when the ceremony started).
    Authentication {
        state: AuthenticationState,
        allowed: Vec<String>,
    },
    Discoverable {
        state: AuthenticationState,
    },
}

impl StateEnvelope {
    fn new(policy: &PasskeyPolicy, ceremony: Ceremony) -> Self {
        StateEnvelope { v: STATE_VERSION, rp_id: policy.rp_id.clone(), ceremony }
    }

    fn encode(&self) -> Result<String, PasskeyError> {
        serde_json::to_string(self).map_err(|e| PasskeyError::Internal(format!("ceremony state: {e}")))
    }

    fn decode(policy: &PasskeyPolicy, state: &str) -> Result<Ceremony, PasskeyError> {
        let env: StateEnvelope = serde_json::from_str(state)
            .map_err(|e| PasskeyError::Internal(format!("ceremony state unreadable: {e}")))?;
        if env.v != STATE_VERSION {
            return Err(PasskeyError::Internal(format!("ceremony state version {} unsupported", env.v)));
        }
        if env.rp_id != policy.rp_id {
            return Err(PasskeyError::Invalid("ceremony state was issued for another RP ID".into()));
        }
        Ok(env.ceremony)
    }
}

/// Starts registering a passkey for a member.
///
/// `user_handle` is the member's WebAuthn user handle (their UUID bytes): it is stored in
/// discoverable credentials and comes back at passwordless login, so it must be stable and must
/// not contain personal data. `existing` are the member's current passkeys: their IDs go into
/// `excludeCredentials`, so the browser refuses to register the same authenticator twice, and the
/// server refuses it too if a client ignores that.
///
/// Returns the `PublicKeyCredentialCreationOptions` for `navigator.credentials.create` (binary
/// members as base64url strings; `webauthn.js` decodes them) and the state to keep server-side.
pub fn start_registration(
    policy: &PasskeyPolicy,
    user_handle: &[u8; 16],
    user_name: &str,
    display_name: &str,
    existing: &[StoredPasskey],
) -> Result<(serde_json::Value, String), PasskeyError> {
    let exclude = existing.iter().map(|p| decode_credential_id(&p.credential_id)).collect::<Result<Vec<_>, _>>()?;
    let excluded = existing.iter().map(|p| p.credential_id.clone()).collect();
    let display_name = if display_name.trim().is_empty() { user_name } else { display_name };
    // credProtect: under UV = required, ask the authenticator not to use (or even reveal) the
    // credential without UV. Not enforced: authenticators that lack the extension would fail
    // registration, and the UV flag is checked at every authentication anyway.
    let cred_protect = (policy.user_verification == UserVerification::Required).then_some(CredProtect {
        credential_protection_policy: CredentialProtectionPolicy::UserVerificationRequired,
        enforce_credential_protection_policy: Some(false),
    });
    let extensions = RequestRegistrationExtensions {
        cred_protect,
        uvm: None,
        // Lets the browser report whether a resident key was created (unsigned, informative only).
        cred_props: Some(true),
        min_pin_length: None,
        hmac_create_secret: None,
    };
    let core = policy.core();
    let builder = core
        .new_challenge_register_builder(user_handle, user_name, display_name)?
        .attestation(AttestationConveyancePreference::None)
        .credential_algorithms(COSEAlgorithm::secure_algs())
        .require_resident_key(policy.discoverable)
        .authenticator_attachment(None)
        .user_verification_policy(policy.user_verification.to_core())
        // Synced passkeys are the point of passkeys; attestation is not collected to judge devices.
        .reject_synchronised_authenticators(false)
        .exclude_credentials(if exclude.is_empty() { None } else { Some(exclude) })
        .hints(None)
        .extensions(Some(extensions));
    let (ccr, state) = core.generate_challenge_register(builder)?;
    let mut options = options_json(&ccr.public_key)?;
    if !policy.discoverable {
        // The core can only say "required" or "discouraged". A passkey should be discoverable
        // whenever the authenticator can make it so: with "discouraged" some authenticators make
        // a device-bound, non-discoverable credential (Android did so instead of a synced
        // passkey), which a later switch of the realm to passwordless could never use. Not
        // checked at finish (the core ignores it; credProps is unsigned anyway).
        options["authenticatorSelection"]["residentKey"] = "preferred".into();
    }
    let state = StateEnvelope::new(policy, Ceremony::Registration { state, excluded }).encode()?;
    Ok((options, state))
}

/// Finishes a registration: verifies the browser's response (`RegisterPublicKeyCredential` JSON as
/// posted by `webauthn.js`) against the state from [`start_registration`].
///
/// Checks: type `webauthn.create`, the challenge, the origin, the RP ID hash, user presence, UV per
/// policy, the attestation (`none` or self/packed — not chained to any CA), the key algorithm, and
/// that the credential is not one of the excluded ones.
pub fn finish_registration(
    policy: &PasskeyPolicy,
    state: &str,
    response_json: &str,
) -> Result<NewPasskey, PasskeyError> {
    let Ceremony::Registration { state, excluded } = StateEnvelope::decode(policy, state)? else {
        return Err(PasskeyError::Internal("ceremony state is not a registration".into()));
    };
    let reg: RegisterPublicKeyCredential = serde_json::from_str(response_json)
        .map_err(|e| PasskeyError::Invalid(format!("registration response malformed: {e}")))?;
    let cred = policy.core().register_credential(&reg, &state, None).map_err(|e| match e {
        WebauthnError::CredentialAlteredAlgFromRequest
            if excluded.iter().any(|id| same_credential_id(id, &reg.raw_id)) =>
        {
            PasskeyError::Invalid("credential is already registered (excluded)".into())
        }
        other => other.into(),
    })?;
    Ok(NewPasskey {
        credential_id: URL_SAFE_NO_PAD.encode(&cred.cred_id),
        data: encode_credential(&cred)?,
        sign_count: cred.counter,
        user_verified: cred.user_verified,
        backup_eligible: cred.backup_eligible,
    })
}

/// Starts an authentication with the passkeys of a member who is already identified (second
/// factor after the password). An empty `creds` is refused with [`PasskeyError::UnknownCredential`]:
/// an empty `allowCredentials` would silently turn this into a discoverable ceremony.
pub fn start_authentication(
    policy: &PasskeyPolicy,
    creds: &[StoredPasskey],
) -> Result<(serde_json::Value, String), PasskeyError> {
    if creds.is_empty() {
        return Err(PasskeyError::UnknownCredential);
    }
    let parsed = creds.iter().map(decode_stored).collect::<Result<Vec<_>, _>>()?;
    let allowed = creds.iter().map(|c| c.credential_id.clone()).collect();
    let core = policy.core();
    let builder = core
        .new_challenge_authenticate_builder(parsed, Some(policy.user_verification.to_core()))?
        .extensions(None)
        // A credential may become backup-eligible (an OS upgrade syncing it); never the reverse.
        .allow_backup_eligible_upgrade(true)
        .hints(None);
    let (rcr, mut state) = core.generate_challenge_authenticate(builder)?;
    state.set_allowed_credentials(Vec::new());
    let options = options_json(&rcr.public_key)?;
    let state = StateEnvelope::new(policy, Ceremony::Authentication { state, allowed }).encode()?;
    Ok((options, state))
}

/// Starts a passwordless authentication (empty `allowCredentials`): the browser offers the
/// discoverable passkeys it holds for this RP, in a dialog or in the user-name field's autofill
/// (conditional UI, `mediation: "conditional"`, set by `webauthn.js`).
///
/// UV is always **required** here whatever the realm policy: the passkey replaces both the user
/// name and the password, so without PIN/biometric a stolen security key alone would log in.
pub fn start_discoverable_authentication(policy: &PasskeyPolicy) -> Result<(serde_json::Value, String), PasskeyError> {
    let core = policy.core();
    let builder = core
        .new_challenge_authenticate_builder(Vec::new(), Some(UserVerificationPolicy::Required))?
        .extensions(None)
        .allow_backup_eligible_upgrade(true)
        .hints(None);
    let (rcr, state) = core.generate_challenge_authenticate(builder)?;
    let options = options_json(&rcr.public_key)?;
    let state = StateEnvelope::new(policy, Ceremony::Discoverable { state }).encode()?;
    Ok((options, state))
}

/// Reads the user handle and credential ID from a passwordless response, so that the caller can
/// look the member up and pass their passkeys to [`finish_authentication`]. Nothing is verified
/// here (the user handle is not even signed): it is only a lookup key.
pub fn discoverable_user_handle(response_json: &str) -> Result<(Vec<u8>, String), PasskeyError> {
    let rsp: PublicKeyCredential = serde_json::from_str(response_json)
        .map_err(|e| PasskeyError::Invalid(format!("authentication response malformed: {e}")))?;
    match rsp.response.user_handle {
        Some(handle) if !handle.is_empty() => Ok((handle, URL_SAFE_NO_PAD.encode(&rsp.raw_id))),
        _ => Err(PasskeyError::Invalid("response carries no user handle (not a discoverable credential)".into())),
    }
}

/// Finishes an authentication (either kind): verifies the browser's response (`PublicKeyCredential`
/// JSON) against the state and the member's current passkeys.
///
/// Checks: the credential was offered (member flow) and belongs to `creds`; type `webauthn.get`,
/// the challenge, the origin, the RP ID hash, user presence, UV (per the ceremony's policy, and
/// always when the passkey verified the user at registration under `preferred` or registered under
/// `required`), backup-eligibility consistency, the signature, and the sign counter: when either
/// the stored or the new counter is non-zero the new one must be greater, otherwise
/// [`PasskeyError::CounterRegression`]. A counter that stays 0 (synced passkeys) passes.
pub fn finish_authentication(
    policy: &PasskeyPolicy,
    state: &str,
    response_json: &str,
    creds: &[StoredPasskey],
) -> Result<PasskeyUse, PasskeyError> {
    let (state, allowed) = match StateEnvelope::decode(policy, state)? {
        Ceremony::Authentication { state, allowed } => (state, Some(allowed)),
        Ceremony::Discoverable { state } => (state, None),
        Ceremony::Registration { .. } => {
            return Err(PasskeyError::Internal("ceremony state is not an authentication".into()));
        }
    };
    let rsp: PublicKeyCredential = serde_json::from_str(response_json)
        .map_err(|e| PasskeyError::Invalid(format!("authentication response malformed: {e}")))?;
    let credential_id = URL_SAFE_NO_PAD.encode(&rsp.raw_id);
    if let Some(allowed) = &allowed
        && !allowed.iter().any(|id| same_credential_id(id, &rsp.raw_id))
    {
        return Err(PasskeyError::UnknownCredential);
    }
    let stored = creds
        .iter()
        .find(|c| same_credential_id(&c.credential_id, &rsp.raw_id))
        .ok_or(PasskeyError::UnknownCredential)?;
    let mut cred = decode_stored(stored)?;
    let result = policy.core().authenticate_single_credential(&rsp, &state, &cred)?;
    let new_data = if update_credential(&mut cred, &result) { Some(encode_credential(&cred)?) } else { None };
    Ok(PasskeyUse { credential_id, new_data, sign_count: result.counter(), user_verified: result.user_verified() })
}

/// Applies an authentication result to the stored credential, as webauthn-rs's
/// `Passkey::update_credential` does: a higher counter, a changed backup state, or backup
/// eligibility appearing. Returns whether anything changed.
fn update_credential(cred: &mut Credential, res: &AuthenticationResult) -> bool {
    let mut changed = false;
    if res.counter() > cred.counter {
        cred.counter = res.counter();
        changed = true;
    }
    if res.backup_state() != cred.backup_state {
        cred.backup_state = res.backup_state();
        changed = true;
    }
    if res.backup_eligible() && !cred.backup_eligible {
        cred.backup_eligible = true;
        changed = true;
    }
    changed
}

fn decode_credential_id(id: &str) -> Result<Vec<u8>, PasskeyError> {
    URL_SAFE_NO_PAD
        .decode(id.trim_end_matches('='))
        .map_err(|_| PasskeyError::Internal(format!("stored credential ID {id:?} is not base64url")))
}

fn same_credential_id(stored: &str, raw: &[u8]) -> bool {
    decode_credential_id(stored).is_ok_and(|id| id == raw)
}

fn decode_stored(stored: &StoredPasskey) -> Result<Credential, PasskeyError> {
    let cred: Credential = serde_json::from_str(&stored.data)
        .map_err(|e| PasskeyError::Internal(format!("stored passkey {} unreadable: {e}", stored.credential_id)))?;
    if !same_credential_id(&stored.credential_id, &cred.cred_id) {
        return Err(PasskeyError::Internal(format!(
            "stored passkey {} holds another credential ID",
            stored.credential_id
        )));
    }
    Ok(cred)
}

fn encode_credential(cred: &Credential) -> Result<String, PasskeyError> {
    serde_json::to_string(cred).map_err(|e| PasskeyError::Internal(format!("passkey serialisation: {e}")))
}

/// Serialises browser options, dropping `null` members: the browser's WebIDL dictionaries reject
/// `null` for enum members such as `authenticatorAttachment`.
fn options_json<T: Serialize>(options: &T) -> Result<serde_json::Value, PasskeyError> {
    let mut value =
        serde_json::to_value(options).map_err(|e| PasskeyError::Internal(format!("ceremony options: {e}")))?;
    strip_nulls(&mut value);
    Ok(value)
}

fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! The software authenticator of `kenpo-testkit` (ES256, attestation `none`) drives the real
    //! ceremony code. Its responses are in exactly the shape `static/js/webauthn.js` posts, so
    //! every test also checks that shape.

    use super::*;
    use kenpo_testkit::{Authenticator, b64, unb64};
    use serde_json::{Value, json};

    const PUBLIC_URL: &str = "https://id.kenpo.example/realms/kenpo";
    const ORIGIN: &str = "https://id.kenpo.example";
    const RP_ID: &str = "id.kenpo.example";
    const USER: [u8; 16] = *b"\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef";

    fn policy(uv: UserVerification) -> PasskeyPolicy {
        PasskeyPolicy::from_public_url(PUBLIC_URL, "健保 ID", uv, false).unwrap()
    }

    /// A security key for [`ORIGIN`] that makes a discoverable credential only when the options
    /// require one: under a non-discoverable policy ("preferred") the credential stays plain.
    fn soft_key() -> Authenticator {
        let mut key = Authenticator::new(ORIGIN);
        key.resident_if_preferred = false;
        key
    }

    /// A synced, discoverable passkey for [`ORIGIN`] (counter always 0).
    fn synced_key() -> Authenticator {
        Authenticator::synced(ORIGIN)
    }

    /// `rsp` with its binary member `response.{member}` changed after signing.
    fn tampered(rsp: &str, member: &str, tamper: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut rsp: Value = serde_json::from_str(rsp).unwrap();
        let mut bytes = unb64(&rsp["response"][member]);
        tamper(&mut bytes);
        rsp["response"][member] = json!(b64(&bytes));
        rsp.to_string()
    }

    fn stored(p: &NewPasskey) -> StoredPasskey {
        StoredPasskey { credential_id: p.credential_id.clone(), data: p.data.clone() }
    }

    /// Registers `auth` for [`USER`] and returns what the caller would store.
    fn enrol(p: &PasskeyPolicy, auth: &mut Authenticator, existing: &[StoredPasskey]) -> StoredPasskey {
        let (options, state) = start_registration(p, &USER, "taro@example.jp", "山田 太郎", existing).unwrap();
        let response = auth.register(&options).unwrap();
        stored(&finish_registration(p, &state, &response).unwrap())
    }

    fn login(p: &PasskeyPolicy, auth: &mut Authenticator, creds: &[StoredPasskey]) -> Result<PasskeyUse, PasskeyError> {
        let (options, state) = start_authentication(p, creds).unwrap();
        finish_authentication(p, &state, &auth.assert(&options), creds)
    }

    fn assert_invalid(result: Result<impl fmt::Debug, PasskeyError>, needle: &str) {
        match result {
            Err(PasskeyError::Invalid(reason)) => {
                assert!(reason.contains(needle), "refused for {reason:?}, expected a reason containing {needle:?}")
            }
            other => panic!("expected Invalid({needle}), got {other:?}"),
        }
    }

    #[test]
    fn policy_from_public_url() {
        let p = PasskeyPolicy::from_public_url(
            "https://ID.Kenpo.example:8443/base/",
            " ",
            UserVerification::Required,
            true,
        )
        .unwrap();
        assert_eq!(p.rp_id, "id.kenpo.example");
        assert_eq!(p.rp_name, "id.kenpo.example");
        assert_eq!(p.origin.as_str(), "https://id.kenpo.example:8443/");
        assert!(p.discoverable);
        let local = PasskeyPolicy::from_public_url("http://localhost:8080", "dev", UserVerification::Preferred, false);
        assert_eq!(local.unwrap().origin.as_str(), "http://localhost:8080/");
        for bad in
            ["http://id.kenpo.example", "https://127.0.0.1:8443", "https://[::1]/", "not a url", "ftp://x.example"]
        {
            assert!(
                matches!(
                    PasskeyPolicy::from_public_url(bad, "x", UserVerification::Required, false),
                    Err(PasskeyError::Internal(_))
                ),
                "{bad} accepted"
            );
        }
        assert_eq!("Required".parse::<UserVerification>().unwrap(), UserVerification::Required);
        assert_eq!(" preferred ".parse::<UserVerification>().unwrap(), UserVerification::Preferred);
        assert_eq!("discouraged".parse::<UserVerification>().unwrap(), UserVerification::Discouraged);
        assert!("always".parse::<UserVerification>().is_err());
    }

    /// The options carry what webauthn.js decodes and what the policy asks for.
    #[test]
    fn registration_options_follow_policy() {
        let p = PasskeyPolicy { discoverable: true, ..policy(UserVerification::Required) };
        let (options, _) = start_registration(&p, &USER, "taro", "", &[]).unwrap();
        assert_eq!(options["rp"], json!({ "id": RP_ID, "name": "健保 ID" }));
        assert_eq!(unb64(&options["user"]["id"]), USER);
        assert_eq!(options["user"]["displayName"], "taro", "empty display name falls back to the user name");
        assert_eq!(unb64(&options["challenge"]).len(), 32);
        assert_eq!(options["attestation"], "none");
        assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(options["authenticatorSelection"]["requireResidentKey"], true);
        assert_eq!(options["authenticatorSelection"]["userVerification"], "required");
        assert_eq!(options["extensions"]["credentialProtectionPolicy"], "userVerificationRequired");
        assert_eq!(options["timeout"], 300_000);
        assert!(options.get("excludeCredentials").is_none());
        assert!(!options.to_string().contains("null"), "no nulls for the browser: {options}");

        let p = policy(UserVerification::Discouraged);
        let (options, _) = start_registration(&p, &USER, "taro", "Taro", &[]).unwrap();
        assert_eq!(options["authenticatorSelection"]["residentKey"], "preferred");
        assert_eq!(options["authenticatorSelection"]["requireResidentKey"], false);
        assert_eq!(options["authenticatorSelection"]["userVerification"], "discouraged");
        assert!(options["extensions"].get("credentialProtectionPolicy").is_none());
    }

    #[test]
    fn register_then_authenticate() {
        let p = policy(UserVerification::Required);
        let mut auth = soft_key();
        let (options, state) = start_registration(&p, &USER, "taro", "Taro", &[]).unwrap();
        let new = finish_registration(&p, &state, &auth.register(&options).unwrap()).unwrap();
        assert_eq!(new.credential_id, b64(&auth.cred_id));
        assert_eq!(new.sign_count, 0);
        assert!(new.user_verified);
        assert!(!new.backup_eligible);
        let creds = [stored(&new)];

        let (options, state) = start_authentication(&p, &creds).unwrap();
        assert_eq!(options["rpId"], RP_ID);
        assert_eq!(options["userVerification"], "required");
        assert_eq!(unb64(&options["allowCredentials"][0]["id"]), auth.cred_id);
        // Unattested transports are not kept (webauthn-rs-core trusts them only with attestation).
        assert!(options["allowCredentials"][0].get("transports").is_none());
        let used = finish_authentication(&p, &state, &auth.assert(&options), &creds).unwrap();
        assert_eq!(used.credential_id, new.credential_id);
        assert_eq!(used.sign_count, 1);
        assert!(used.user_verified);
        let updated = StoredPasskey { credential_id: used.credential_id, data: used.new_data.unwrap() };

        // The saved counter is what the next authentication is checked against.
        let used = login(&p, &mut auth, &[updated]).unwrap();
        assert_eq!(used.sign_count, 2);
        assert!(used.new_data.is_some());
    }

    #[test]
    fn second_registration_excludes_the_first_credential() {
        let p = policy(UserVerification::Required);
        let mut first = soft_key();
        let existing = [enrol(&p, &mut first, &[])];

        let (options, state) = start_registration(&p, &USER, "taro", "Taro", &existing).unwrap();
        assert_eq!(unb64(&options["excludeCredentials"][0]["id"]), first.cred_id);
        // The authenticator that holds the first credential refuses, as real ones do…
        assert_eq!(first.register(&options), Err("InvalidStateError"));
        // …and if a client re-registers it anyway, the server refuses too.
        assert_invalid(finish_registration(&p, &state, &first.register_unchecked(&options)), "already registered");

        let mut second = soft_key();
        let new = finish_registration(&p, &state, &second.register(&options).unwrap()).unwrap();
        assert_eq!(new.credential_id, b64(&second.cred_id));
    }

    #[test]
    fn counter_regression_is_refused() {
        let p = policy(UserVerification::Required);
        let mut auth = soft_key();
        let mut creds = vec![enrol(&p, &mut auth, &[])];
        for _ in 0..3 {
            let used = login(&p, &mut auth, &creds).unwrap();
            creds[0].data = used.new_data.unwrap();
        }
        // A clone of the key that is behind (counter 2 while 3 is stored)…
        auth.counter = Some(2);
        let (options, state) = start_authentication(&p, &creds).unwrap();
        let replay = auth.assert_without_counting(&options);
        assert_eq!(finish_authentication(&p, &state, &replay, &creds), Err(PasskeyError::CounterRegression));
        // …or at the same value (3 again) is refused as well.
        auth.counter = Some(3);
        let (options, state) = start_authentication(&p, &creds).unwrap();
        let same = auth.assert_without_counting(&options);
        assert_eq!(finish_authentication(&p, &state, &same, &creds), Err(PasskeyError::CounterRegression));
        // A counter dropping to 0 after it has been used is a regression too.
        auth.counter = Some(0);
        let (options, state) = start_authentication(&p, &creds).unwrap();
        let zero = auth.assert_without_counting(&options);
        assert_eq!(finish_authentication(&p, &state, &zero, &creds), Err(PasskeyError::CounterRegression));
        // The genuine authenticator, moving on, still works.
        auth.counter = Some(3);
        assert_eq!(login(&p, &mut auth, &creds).unwrap().sign_count, 4);
    }

    /// Synced passkeys report counter 0 forever; that is not a regression and needs no update.
    #[test]
    fn synced_passkey_with_counter_zero_passes() {
        let p = policy(UserVerification::Required);
        let mut auth = synced_key();
        let (options, state) = start_registration(&p, &USER, "taro", "Taro", &[]).unwrap();
        let new = finish_registration(&p, &state, &auth.register(&options).unwrap()).unwrap();
        assert!(new.backup_eligible);
        assert_eq!(new.sign_count, 0);
        let creds = [stored(&new)];
        for _ in 0..3 {
            let used = login(&p, &mut auth, &creds).unwrap();
            assert_eq!(used.sign_count, 0);
            assert_eq!(used.new_data, None);
        }
    }

    #[test]
    fn wrong_origin_is_refused() {
        let p = policy(UserVerification::Required);
        let mut auth = soft_key();
        let creds = [enrol(&p, &mut auth, &[])];
        for origin in [
            "https://evil.example",
            "https://id.kenpo.example:8443",
            "http://id.kenpo.example",
            "https://x.id.kenpo.example",
        ] {
            auth.origin = origin.into();
            assert_invalid(login(&p, &mut auth, &creds), "origin");
            let (options, state) = start_registration(&p, &USER, "taro", "Taro", &[]).unwrap();
            let mut other = soft_key();
            other.origin = origin.into();
            assert_invalid(finish_registration(&p, &state, &other.register(&options).unwrap()), "origin");
        }
    }

    #[test]
    fn wrong_rp_id_hash_is_refused() {
        let p = policy(UserVerification::Required);
        let mut auth = soft_key();
        let creds = [enrol(&p, &mut auth, &[])];
        auth.rp_id = "kenpo.example".into();
        assert_invalid(login(&p, &mut auth, &creds), "relying party id hash");
        let (options, state) = start_registration(&p, &USER, "taro", "Taro", &[]).unwrap();
        let mut other = soft_key();
        other.rp_id = "evil.example".into();
        assert_invalid(finish_registration(&p, &state, &other.register(&options).unwrap()), "relying party id hash");
    }

    #[test]
    fn response_to_another_ceremony_is_refused() {
        let p = policy(UserVerification::Required);
        let mut auth = soft_key();
        let creds = [enrol(&p, &mut auth, &[])];
        let (options_a, _state_a) = start_authentication(&p, &creds).unwrap();
        let (_options_b, state_b) = start_authentication(&p, &creds).unwrap();
        assert_invalid(finish_authentication(&p, &state_b, &auth.assert(&options_a), &creds), "challenge");

        let (options_a, _state_a) = start_registration(&p, &USER, "taro", "Taro", &[]).unwrap();
        let (_options_b, state_b) = start_registration(&p, &USER, "taro", "Taro", &[]).unwrap();
        let mut other = soft_key();
        assert_invalid(finish_registration(&p, &state_b, &other.register(&options_a).unwrap()), "challenge");

        // A registration response is no assertion, and states do not cross ceremony kinds.
        let (options, reg_state) = start_registration(&p, &USER, "taro", "Taro", &[]).unwrap();
        let registration = soft_key().register(&options).unwrap();
        let (_, auth_state) = start_authentication(&p, &creds).unwrap();
        assert_invalid(finish_authentication(&p, &auth_state, &registration, &creds), "malformed");
        assert!(matches!(finish_registration(&p, &auth_state, &registration), Err(PasskeyError::Internal(_))));
        assert!(matches!(finish_authentication(&p, &reg_state, &registration, &creds), Err(PasskeyError::Internal(_))));
        // A state issued under another RP ID is refused.
        let moved =
            PasskeyPolicy::from_public_url("https://login.kenpo.example", "x", UserVerification::Required, false)
                .unwrap();
        let (options, state) = start_authentication(&p, &creds).unwrap();
        assert_invalid(finish_authentication(&moved, &state, &auth.assert(&options), &creds), "another RP ID");
    }

    #[test]
    fn missing_uv_refused_when_required_accepted_when_preferred() {
        // Required: refused at registration and at authentication.
        let p = policy(UserVerification::Required);
        let (options, state) = start_registration(&p, &USER, "taro", "Taro", &[]).unwrap();
        let mut no_pin = soft_key();
        no_pin.uv = false;
        assert_invalid(finish_registration(&p, &state, &no_pin.register(&options).unwrap()), "verified");
        let mut auth = soft_key();
        let creds = [enrol(&p, &mut auth, &[])];
        auth.uv = false;
        assert_invalid(login(&p, &mut auth, &creds), "verified");

        // Preferred: a security key without a PIN registers and authenticates.
        let p = policy(UserVerification::Preferred);
        let (options, state) = start_registration(&p, &USER, "taro", "Taro", &[]).unwrap();
        assert_eq!(options["authenticatorSelection"]["userVerification"], "preferred");
        let new = finish_registration(&p, &state, &no_pin.register(&options).unwrap()).unwrap();
        assert!(!new.user_verified);
        let used = login(&p, &mut no_pin, &[stored(&new)]).unwrap();
        assert!(!used.user_verified);

        // Preferred, but the passkey verified the user at registration: UV stays required for it
        // (no downgrade by presenting the key without its PIN).
        let mut with_pin = soft_key();
        let creds = [enrol(&p, &mut with_pin, &[])];
        with_pin.uv = false;
        assert_invalid(login(&p, &mut with_pin, &creds), "verified");
        // A passkey registered under Required keeps needing UV after the realm relaxes to Preferred.
        let mut strict = soft_key();
        let creds = [enrol(&policy(UserVerification::Required), &mut strict, &[])];
        strict.uv = false;
        assert_invalid(login(&p, &mut strict, &creds), "verified");
    }

    #[test]
    fn tampered_signature_is_refused() {
        let p = policy(UserVerification::Required);
        let mut auth = soft_key();
        let creds = [enrol(&p, &mut auth, &[])];
        // A bit flipped inside r (DER: 30 len 02 len r…): still well-formed, no longer valid.
        let (options, state) = start_authentication(&p, &creds).unwrap();
        let rsp = tampered(&auth.assert(&options), "signature", |sig| sig[8] ^= 0x01);
        assert_invalid(finish_authentication(&p, &state, &rsp, &creds), "Authentication has failed");
        // Tampered authenticator data (the counter changed after signing) fails the same way.
        let (options, state) = start_authentication(&p, &creds).unwrap();
        let rsp = tampered(&auth.assert(&options), "authenticatorData", |ad| ad[36] = ad[36].wrapping_add(7));
        assert_invalid(finish_authentication(&p, &state, &rsp, &creds), "Authentication has failed");
    }

    #[test]
    fn unknown_credential() {
        let p = policy(UserVerification::Required);
        let mut mine = soft_key();
        let creds = [enrol(&p, &mut mine, &[])];
        // A credential of someone else, answering this member's challenge.
        let mut theirs = soft_key();
        let theirs_stored = enrol(&p, &mut theirs, &[]);
        let (options, state) = start_authentication(&p, &creds).unwrap();
        let rsp = theirs.assert(&options);
        assert_eq!(finish_authentication(&p, &state, &rsp, &creds), Err(PasskeyError::UnknownCredential));
        // Even if the caller passes it in: it was not offered in this ceremony.
        let both = [creds[0].clone(), theirs_stored];
        assert_eq!(finish_authentication(&p, &state, &rsp, &both), Err(PasskeyError::UnknownCredential));
        // Offered, but since deleted by the member.
        let rsp = mine.assert(&options);
        assert_eq!(finish_authentication(&p, &state, &rsp, &[]), Err(PasskeyError::UnknownCredential));
        // No passkeys at all: nothing to start.
        assert_eq!(start_authentication(&p, &[]).unwrap_err(), PasskeyError::UnknownCredential);
    }

    #[test]
    fn discoverable_flow_returns_the_user_handle() {
        let p = PasskeyPolicy { discoverable: true, ..policy(UserVerification::Preferred) };
        let mut auth = synced_key();
        let creds = [enrol(&p, &mut auth, &[])];

        let (options, state) = start_discoverable_authentication(&p).unwrap();
        assert!(options["allowCredentials"].as_array().is_none_or(|a| a.is_empty()), "{options}");
        assert_eq!(options["userVerification"], "required", "passwordless always requires UV");
        let rsp = auth.assert(&options);
        let (handle, credential_id) = discoverable_user_handle(&rsp).unwrap();
        assert_eq!(handle, USER);
        assert_eq!(credential_id, creds[0].credential_id);
        let used = finish_authentication(&p, &state, &rsp, &creds).unwrap();
        assert_eq!(used.credential_id, creds[0].credential_id);
        assert!(used.user_verified);

        // The handle pointed at a member who does not own this credential.
        let (options, state) = start_discoverable_authentication(&p).unwrap();
        let other = enrol(&p, &mut soft_key(), &[]);
        let result = finish_authentication(&p, &state, &auth.assert(&options), &[other]);
        assert_eq!(result, Err(PasskeyError::UnknownCredential));

        // Without UV, passwordless is refused even though the realm prefers only.
        let (options, state) = start_discoverable_authentication(&p).unwrap();
        auth.uv = false;
        assert_invalid(finish_authentication(&p, &state, &auth.assert(&options), &creds), "verified");

        // A non-discoverable credential returns no user handle.
        let mut plain = soft_key();
        enrol(&policy(UserVerification::Required), &mut plain, &[]);
        assert_invalid(discoverable_user_handle(&plain.assert(&options)), "user handle");
        assert_invalid(discoverable_user_handle("{}"), "malformed");
    }

    /// The state is a plain string: it survives storage (here: a copy through bytes) and is
    /// usable exactly as if it had stayed in memory. Also, Debug output hides credential data.
    #[test]
    fn state_round_trips_through_string_and_debug_hides_data() {
        let p = policy(UserVerification::Required);
        let mut auth = soft_key();
        let (options, state) = start_registration(&p, &USER, "taro", "Taro", &[]).unwrap();
        let stored_state = String::from_utf8(state.clone().into_bytes()).unwrap();
        let new = finish_registration(&p, &stored_state, &auth.register(&options).unwrap()).unwrap();
        let creds = [stored(&new)];
        let (options, state) = start_authentication(&p, &creds).unwrap();
        let state: String = serde_json::from_value(serde_json::to_value(&state).unwrap()).unwrap();
        assert!(state.len() < 1024, "authentication state stays small: {} bytes", state.len());
        let used = finish_authentication(&p, &state, &auth.assert(&options), &creds).unwrap();

        for debug in [format!("{:?}", creds[0]), format!("{new:?}"), format!("{used:?}")] {
            assert!(!debug.contains(&creds[0].data), "{debug}");
            assert!(!debug.contains("counter") && !debug.contains("EC_EC2"), "{debug}");
            assert!(debug.contains("bytes>"), "{debug}");
        }
        // Garbage is an internal error, not a verification failure.
        assert!(matches!(finish_authentication(&p, "{", "{}", &creds), Err(PasskeyError::Internal(_))));
    }

    /// A literal document in the exact shape `webauthn.js` produces (including members
    /// webauthn-rs ignores: authenticatorAttachment, unknown transports, null userHandle), parsed
    /// by the types `finish_*` deserialise.
    #[test]
    fn webauthn_js_shape_deserialises() {
        let registration = r#"{
            "id": "AQIDBA",
            "rawId": "AQIDBA",
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0",
                "attestationObject": "oGNmbXRkbm9uZQ",
                "transports": ["internal", "hybrid", "smart-card"]
            },
            "clientExtensionResults": { "credProps": { "rk": true } }
        }"#;
        let reg: RegisterPublicKeyCredential = serde_json::from_str(registration).unwrap();
        assert_eq!(reg.raw_id, [1, 2, 3, 4]);
        assert_eq!(reg.response.transports.as_ref().map(Vec::len), Some(3));
        assert_eq!(reg.extensions.cred_props.and_then(|c| c.rk), Some(true));

        let assertion = r#"{
            "id": "AQIDBA",
            "rawId": "AQIDBA",
            "type": "public-key",
            "authenticatorAttachment": null,
            "response": {
                "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0",
                "authenticatorData": "AAAA",
                "signature": "MEUCIQ",
                "userHandle": null
            },
            "clientExtensionResults": {}
        }"#;
        let rsp: PublicKeyCredential = serde_json::from_str(assertion).unwrap();
        assert_eq!(rsp.raw_id, [1, 2, 3, 4]);
        assert_eq!(rsp.response.user_handle, None);
        let with_handle = assertion.replace(r#""userHandle": null"#, r#""userHandle": "ASNFZ4mrze8BI0VniavN7w""#);
        let (handle, id) = discoverable_user_handle(&with_handle).unwrap();
        assert_eq!((handle.as_slice(), id.as_str()), (USER.as_slice(), "AQIDBA"));
    }
}
