//! The login flow, pure: no I/O, no clock reads, no crypto. The service verifies credentials,
//! second factors and required-action input outside, turns the result into an event, and
//! persists what `step` returns.
//!
//! ```text
//!                 PasswordRejected / Locked (stays, with a message)
//!                 ┌────┐
//!                 ▼    │
//!  (authorize) ─▶ Credentials ──PasswordVerified{factors=[]}──────────────┐
//!                  │   │                                                  │
//!                  │   └──PasswordVerified{factors=[f,…]}──▶ SecondFactor │ FactorRejected /
//!                  │                                          │  ▲   ▲   │ SwitchFactor (stays)
//!                  │                                          │  └───┘   │
//!                  │                                FactorVerified(f)    │
//!                  │                                          ▼          ▼
//!                  └─PasskeyVerified (passwordless)──▶ RequiredActions{pending} ──▶ Complete
//!                                                      (skipped when none pending)
//! ```
//! The second factor comes right after the password, so nothing else about the account is
//! shown or changed before it. Required actions run in the fixed order of SPEC §4, one at a
//! time; an action can only be completed when it is the first pending one, so no page can be
//! skipped by URL or by an old form. Enrolling a second factor is a required action at the end
//! of that order (SPEC §4 step 6).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum LoginState {
    /// Asking for user ID and password. `notice` is the message to show with the form.
    Credentials { notice: Option<Notice> },
    /// Password verified; the member proves one of their second factors (`offered`, in the
    /// order shown; `factor` is the one asked for now).
    SecondFactor {
        user_id: String,
        remember_me: bool,
        pending: Vec<RequiredAction>,
        factor: Factor,
        offered: Vec<Factor>,
    },
    /// Authenticated; these actions must be done before the client gets a code.
    RequiredActions { user_id: String, amr: Vec<String>, remember_me: bool, pending: Vec<RequiredAction> },
    /// Authenticated: the service creates the SSO session and sends the member to the client.
    Complete { user_id: String, amr: Vec<String>, remember_me: bool },
    /// The member declined the terms of use: the client gets `access_denied`, no session.
    Denied { user_id: String },
}

/// A second factor a member can prove at login (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// 生体認証: a WebAuthn credential.
    Passkey,
    /// An authenticator app (TOTP).
    Otp,
    /// A code sent to the verified e-mail address.
    Email,
    /// One of the single-use recovery codes.
    RecoveryCode,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Passkey => "passkey",
            Factor::Otp => "otp",
            Factor::Email => "email",
            Factor::RecoveryCode => "recovery",
        }
    }

    pub fn parse(s: &str) -> Option<Factor> {
        [Factor::Passkey, Factor::Otp, Factor::Email, Factor::RecoveryCode].into_iter().find(|f| f.as_str() == s)
    }

    /// The `amr` value (RFC 8176) the factor adds to `pwd`. Recovery codes have no registered
    /// value; `rc` says plainly what was used so a relying party can tell.
    pub fn amr(self) -> &'static str {
        match self {
            Factor::Passkey => "hwk",
            Factor::Otp => "otp",
            Factor::Email => "mail",
            Factor::RecoveryCode => "rc",
        }
    }

    /// The required action that enrols this factor.
    pub fn enrolment(self) -> RequiredAction {
        match self {
            Factor::Passkey => RequiredAction::WebauthnRegister,
            Factor::Otp => RequiredAction::ConfigureTotp,
            Factor::Email => RequiredAction::ConfigureEmailOtp,
            Factor::RecoveryCode => RequiredAction::ConfigureRecoveryCodes,
        }
    }
}

/// Enrolling a factor during the login proves it (a code from the new app, a passkey
/// ceremony, a mailed code), so the login counts as multi-factor from then on — as Keycloak
/// counts an OTP set up inside its OTP step. Recovery codes prove nothing and add nothing.
fn after_enrolment(amr: &[String], done: RequiredAction) -> Vec<String> {
    let factor = match done {
        RequiredAction::ConfigureTotp => Factor::Otp,
        RequiredAction::WebauthnRegister => Factor::Passkey,
        RequiredAction::ConfigureEmailOtp => Factor::Email,
        _ => return amr.to_vec(),
    };
    if amr.iter().any(|a| a == "mfa") { amr.to_vec() } else { amr_with(factor) }
}

/// `amr` after a password and a second factor.
pub fn amr_with(factor: Factor) -> Vec<String> {
    vec!["pwd".into(), factor.amr().into(), "mfa".into()]
}

/// What the credentials page says above the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// 「無効なユーザIDまたはパスワードです。」 — the same for unknown user and wrong password.
    InvalidCredentials,
    /// Too many failures for this user ID: temporarily locked.
    Locked,
    /// The client asked for a fresh login (prompt=login, max_age): 「続行する際には再度認証してください。」
    Reauthenticate,
}

/// Actions a member must complete before reaching a client, in the order they run (SPEC §4).
/// Stored on the user by their Keycloak-compatible names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RequiredAction {
    /// 「生年月日の入力」: an extra check on top of the union-issued temporary password.
    VerifyBirthdate,
    /// 「利用規約」: the realm's current terms, accepted again after each new version.
    TermsAndConditions,
    /// 「ユーザIDの変更・認証方法の設定」: optional new user ID, and the second-factor method.
    ChooseUserIdAndMfa,
    UpdatePassword,
    VerifyEmail,
    /// 「ワンタイムパスワードの設定」: enrol an authenticator app (SPEC §4 step 6).
    ConfigureTotp,
    /// 「セキュリティキーの登録」: enrol a passkey.
    WebauthnRegister,
    /// Confirm the e-mail address as an OTP channel with a first code.
    ConfigureEmailOtp,
    /// Show a new set of recovery codes once (realm option).
    ConfigureRecoveryCodes,
}

impl RequiredAction {
    pub const ALL: [RequiredAction; 9] = [
        RequiredAction::VerifyBirthdate,
        RequiredAction::TermsAndConditions,
        RequiredAction::ChooseUserIdAndMfa,
        RequiredAction::UpdatePassword,
        RequiredAction::VerifyEmail,
        RequiredAction::ConfigureTotp,
        RequiredAction::WebauthnRegister,
        RequiredAction::ConfigureEmailOtp,
        RequiredAction::ConfigureRecoveryCodes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequiredAction::VerifyBirthdate => "VERIFY_BIRTHDATE",
            RequiredAction::TermsAndConditions => "TERMS_AND_CONDITIONS",
            RequiredAction::ChooseUserIdAndMfa => "CHOOSE_USER_ID_AND_MFA",
            RequiredAction::UpdatePassword => "UPDATE_PASSWORD",
            RequiredAction::VerifyEmail => "VERIFY_EMAIL",
            RequiredAction::ConfigureTotp => "CONFIGURE_TOTP",
            RequiredAction::WebauthnRegister => "WEBAUTHN_REGISTER",
            RequiredAction::ConfigureEmailOtp => "CONFIGURE_EMAIL_OTP",
            RequiredAction::ConfigureRecoveryCodes => "CONFIGURE_RECOVERY_AUTHN_CODES",
        }
    }

    /// By name, case-insensitive; Keycloak's spellings (`webauthn-register`) are accepted.
    pub fn parse(s: &str) -> Option<RequiredAction> {
        let name = s.trim().replace('-', "_");
        Self::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(&name))
    }

    /// Whether this action enrols a second factor.
    pub fn is_enrolment(self) -> bool {
        self >= RequiredAction::ConfigureTotp
    }

    /// Sorted into the order of SPEC §4, without duplicates.
    pub fn ordered(actions: impl IntoIterator<Item = RequiredAction>) -> Vec<RequiredAction> {
        let mut v: Vec<RequiredAction> = actions.into_iter().collect();
        v.sort();
        v.dedup();
        v
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginEvent {
    /// `factors`: the second factors the member has, in the order to offer them; empty when
    /// the member has none (the login then needs the password only).
    PasswordVerified {
        user_id: String,
        remember_me: bool,
        pending: Vec<RequiredAction>,
        factors: Vec<Factor>,
    },
    PasswordRejected,
    Locked,
    /// Passwordless: a discoverable passkey with user verification stood in for both factors.
    PasskeyVerified {
        user_id: String,
        remember_me: bool,
        pending: Vec<RequiredAction>,
        amr: Vec<String>,
    },
    FactorVerified(Factor),
    FactorRejected,
    /// The member asks for another of their factors (「別の方法を試す」).
    SwitchFactor(Factor),
    ActionDone(RequiredAction),
    /// The action is done and it calls for later ones (a chosen method's enrolment).
    ActionDoneThen(RequiredAction, Vec<RequiredAction>),
    /// The member refused the current action (only the terms of use can be refused).
    Declined(RequiredAction),
}

/// Side effects the service carries out in the same transaction as the new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    RecordFailure,
    ClearFailures,
    /// A wrong second factor: counted apart from passwords (SPEC §9).
    RecordFactorFailure,
    ClearFactorFailures,
    StartSession,
}

/// Which page a state shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Credentials,
    SecondFactor(Factor),
    Action(RequiredAction),
    /// No page: redirect to the client.
    ReturnToClient,
    /// No page: redirect to the client with `error=access_denied`.
    Denied,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event not allowed in this state")]
pub struct InvalidTransition;

impl LoginState {
    pub fn start(reauthenticate: bool) -> LoginState {
        LoginState::Credentials { notice: reauthenticate.then_some(Notice::Reauthenticate) }
    }

    pub fn page(&self) -> Page {
        match self {
            LoginState::Credentials { .. } => Page::Credentials,
            LoginState::SecondFactor { factor, .. } => Page::SecondFactor(*factor),
            LoginState::RequiredActions { pending, .. } => {
                pending.first().map(|a| Page::Action(*a)).unwrap_or(Page::ReturnToClient)
            }
            LoginState::Complete { .. } => Page::ReturnToClient,
            LoginState::Denied { .. } => Page::Denied,
        }
    }

    /// The authenticated member, once there is one.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            LoginState::Credentials { .. } => None,
            LoginState::SecondFactor { user_id, .. }
            | LoginState::RequiredActions { user_id, .. }
            | LoginState::Complete { user_id, .. }
            | LoginState::Denied { user_id } => Some(user_id),
        }
    }
}

fn after_authentication(
    user_id: String,
    amr: Vec<String>,
    remember_me: bool,
    pending: Vec<RequiredAction>,
) -> LoginState {
    if pending.is_empty() {
        LoginState::Complete { user_id, amr, remember_me }
    } else {
        LoginState::RequiredActions { user_id, amr, remember_me, pending: RequiredAction::ordered(pending) }
    }
}

fn finish_step(next: LoginState, mut effects: Vec<Effect>) -> (LoginState, Vec<Effect>) {
    if matches!(next, LoginState::Complete { .. }) {
        effects.push(Effect::StartSession);
    }
    (next, effects)
}

pub fn step(state: &LoginState, event: LoginEvent) -> Result<(LoginState, Vec<Effect>), InvalidTransition> {
    match (state, event) {
        (LoginState::Credentials { .. }, LoginEvent::PasswordVerified { user_id, remember_me, pending, factors }) => {
            let next = match factors.first() {
                Some(first) => LoginState::SecondFactor {
                    user_id,
                    remember_me,
                    pending: RequiredAction::ordered(pending),
                    factor: *first,
                    offered: factors,
                },
                None => after_authentication(user_id, vec!["pwd".into()], remember_me, pending),
            };
            Ok(finish_step(next, vec![Effect::ClearFailures]))
        }
        (LoginState::Credentials { .. }, LoginEvent::PasskeyVerified { user_id, remember_me, pending, amr }) => {
            Ok(finish_step(after_authentication(user_id, amr, remember_me, pending), vec![]))
        }
        (LoginState::Credentials { .. }, LoginEvent::PasswordRejected) => {
            Ok((LoginState::Credentials { notice: Some(Notice::InvalidCredentials) }, vec![Effect::RecordFailure]))
        }
        (LoginState::Credentials { .. }, LoginEvent::Locked) => {
            Ok((LoginState::Credentials { notice: Some(Notice::Locked) }, vec![]))
        }
        (LoginState::SecondFactor { user_id, remember_me, pending, factor, .. }, LoginEvent::FactorVerified(f))
            if *factor == f =>
        {
            let next = after_authentication(user_id.clone(), amr_with(f), *remember_me, pending.clone());
            Ok(finish_step(next, vec![Effect::ClearFactorFailures]))
        }
        (LoginState::SecondFactor { .. }, LoginEvent::FactorRejected) => {
            Ok((state.clone(), vec![Effect::RecordFactorFailure]))
        }
        (LoginState::SecondFactor { user_id, remember_me, pending, offered, .. }, LoginEvent::SwitchFactor(f))
            if offered.contains(&f) =>
        {
            let next = LoginState::SecondFactor {
                user_id: user_id.clone(),
                remember_me: *remember_me,
                pending: pending.clone(),
                factor: f,
                offered: offered.clone(),
            };
            Ok((next, vec![]))
        }
        (LoginState::RequiredActions { user_id, amr, remember_me, pending }, LoginEvent::ActionDone(done))
            if pending.first() == Some(&done) =>
        {
            let amr = after_enrolment(amr, done);
            let next = after_authentication(user_id.clone(), amr, *remember_me, pending[1..].to_vec());
            Ok(finish_step(next, vec![]))
        }
        (
            LoginState::RequiredActions { user_id, amr, remember_me, pending },
            LoginEvent::ActionDoneThen(done, then),
        ) if pending.first() == Some(&done) && then.iter().all(|a| *a > done) => {
            let rest = pending[1..].iter().copied().chain(then).collect();
            Ok(finish_step(after_authentication(user_id.clone(), amr.clone(), *remember_me, rest), vec![]))
        }
        (
            LoginState::RequiredActions { user_id, pending, .. },
            LoginEvent::Declined(RequiredAction::TermsAndConditions),
        ) if pending.first() == Some(&RequiredAction::TermsAndConditions) => {
            Ok((LoginState::Denied { user_id: user_id.clone() }, vec![]))
        }
        _ => Err(InvalidTransition),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequiredAction::*;

    fn events() -> Vec<LoginEvent> {
        vec![
            LoginEvent::PasswordVerified { user_id: "u".into(), remember_me: true, pending: vec![], factors: vec![] },
            LoginEvent::PasswordVerified {
                user_id: "u".into(),
                remember_me: false,
                pending: vec![VerifyEmail, UpdatePassword],
                factors: vec![],
            },
            LoginEvent::PasswordVerified {
                user_id: "u".into(),
                remember_me: false,
                pending: vec![VerifyEmail],
                factors: vec![Factor::Otp, Factor::RecoveryCode],
            },
            LoginEvent::PasskeyVerified {
                user_id: "u".into(),
                remember_me: false,
                pending: vec![],
                amr: vec!["hwk".into(), "mfa".into()],
            },
            LoginEvent::PasswordRejected,
            LoginEvent::Locked,
            LoginEvent::FactorVerified(Factor::Otp),
            LoginEvent::FactorVerified(Factor::Passkey),
            LoginEvent::FactorRejected,
            LoginEvent::SwitchFactor(Factor::RecoveryCode),
            LoginEvent::SwitchFactor(Factor::Email),
            LoginEvent::ActionDone(UpdatePassword),
            LoginEvent::ActionDone(VerifyEmail),
            LoginEvent::ActionDone(TermsAndConditions),
            LoginEvent::ActionDoneThen(ChooseUserIdAndMfa, vec![ConfigureTotp]),
            LoginEvent::ActionDoneThen(UpdatePassword, vec![VerifyBirthdate]),
            LoginEvent::Declined(TermsAndConditions),
            LoginEvent::Declined(UpdatePassword),
        ]
    }

    fn second_factor(factor: Factor, pending: Vec<RequiredAction>) -> LoginState {
        LoginState::SecondFactor {
            user_id: "u".into(),
            remember_me: false,
            pending,
            factor,
            offered: vec![Factor::Otp, Factor::RecoveryCode],
        }
    }

    fn states() -> Vec<LoginState> {
        vec![
            LoginState::start(false),
            LoginState::start(true),
            LoginState::Credentials { notice: Some(Notice::InvalidCredentials) },
            second_factor(Factor::Otp, vec![]),
            second_factor(Factor::RecoveryCode, vec![UpdatePassword]),
            LoginState::RequiredActions {
                user_id: "u".into(),
                amr: vec!["pwd".into()],
                remember_me: false,
                pending: vec![UpdatePassword, VerifyEmail],
            },
            LoginState::RequiredActions {
                user_id: "u".into(),
                amr: vec!["pwd".into()],
                remember_me: true,
                pending: vec![VerifyEmail],
            },
            LoginState::RequiredActions {
                user_id: "u".into(),
                amr: vec!["pwd".into()],
                remember_me: false,
                pending: vec![TermsAndConditions, UpdatePassword],
            },
            LoginState::RequiredActions {
                user_id: "u".into(),
                amr: vec!["pwd".into()],
                remember_me: false,
                pending: vec![ChooseUserIdAndMfa, UpdatePassword],
            },
            LoginState::Complete { user_id: "u".into(), amr: vec!["pwd".into()], remember_me: false },
            LoginState::Denied { user_id: "u".into() },
        ]
    }

    /// Every (state, event) pair: either one of the listed transitions or InvalidTransition.
    #[test]
    fn transition_table_is_exhaustive() {
        for s in states() {
            for e in events() {
                let r = step(&s, e.clone());
                match (&s, &e, r) {
                    (
                        LoginState::Credentials { .. },
                        LoginEvent::PasswordVerified { pending, factors, .. },
                        Ok((next, fx)),
                    ) => {
                        assert_eq!(fx.first(), Some(&Effect::ClearFailures));
                        if !factors.is_empty() {
                            // A member with a second factor proves it before anything else.
                            assert!(
                                matches!(next, LoginState::SecondFactor { factor: Factor::Otp, ref offered, .. } if offered == factors)
                            );
                            assert_eq!(fx, vec![Effect::ClearFailures]);
                        } else if pending.is_empty() {
                            assert!(
                                matches!(next, LoginState::Complete { ref amr, remember_me: true, .. } if amr == &vec!["pwd".to_string()])
                            );
                            assert_eq!(fx, vec![Effect::ClearFailures, Effect::StartSession]);
                        } else {
                            // Order is SPEC §4's, whatever order the user record listed.
                            assert!(
                                matches!(next, LoginState::RequiredActions { ref pending, .. } if pending == &vec![UpdatePassword, VerifyEmail])
                            );
                            assert_eq!(fx, vec![Effect::ClearFailures]);
                        }
                    }
                    (LoginState::Credentials { .. }, LoginEvent::PasskeyVerified { .. }, Ok((next, fx))) => {
                        assert!(
                            matches!(next, LoginState::Complete { ref amr, .. } if amr == &vec!["hwk".to_string(), "mfa".to_string()])
                        );
                        assert_eq!(fx, vec![Effect::StartSession]);
                    }
                    (
                        LoginState::Credentials { .. },
                        LoginEvent::PasswordRejected,
                        Ok((LoginState::Credentials { notice: Some(Notice::InvalidCredentials) }, fx)),
                    ) => {
                        assert_eq!(fx, vec![Effect::RecordFailure]);
                    }
                    (
                        LoginState::Credentials { .. },
                        LoginEvent::Locked,
                        Ok((LoginState::Credentials { notice: Some(Notice::Locked) }, fx)),
                    ) => {
                        assert!(fx.is_empty());
                    }
                    (
                        LoginState::Credentials { .. },
                        LoginEvent::ActionDone(_)
                        | LoginEvent::ActionDoneThen(..)
                        | LoginEvent::Declined(_)
                        | LoginEvent::FactorVerified(_)
                        | LoginEvent::FactorRejected
                        | LoginEvent::SwitchFactor(_),
                        Err(InvalidTransition),
                    ) => {}
                    (
                        LoginState::SecondFactor { factor, pending, .. },
                        LoginEvent::FactorVerified(f),
                        Ok((next, fx)),
                    ) => {
                        assert_eq!(factor, f, "only the factor asked for can be verified");
                        let amr = amr_with(*f);
                        if pending.is_empty() {
                            assert!(matches!(next, LoginState::Complete { amr: ref a, .. } if a == &amr));
                            assert_eq!(fx, vec![Effect::ClearFactorFailures, Effect::StartSession]);
                        } else {
                            assert!(
                                matches!(next, LoginState::RequiredActions { amr: ref a, pending: ref p, .. } if a == &amr && p == pending)
                            );
                            assert_eq!(fx, vec![Effect::ClearFactorFailures]);
                        }
                    }
                    (
                        LoginState::SecondFactor { factor, .. },
                        LoginEvent::FactorVerified(f),
                        Err(InvalidTransition),
                    ) => {
                        assert_ne!(factor, f);
                    }
                    (LoginState::SecondFactor { .. }, LoginEvent::FactorRejected, Ok((next, fx))) => {
                        assert_eq!(&next, &s, "a wrong factor changes nothing but the counter");
                        assert_eq!(fx, vec![Effect::RecordFactorFailure]);
                    }
                    (LoginState::SecondFactor { offered, .. }, LoginEvent::SwitchFactor(f), Ok((next, fx))) => {
                        assert!(offered.contains(f), "only a factor the member has can be chosen");
                        assert_eq!(next.page(), Page::SecondFactor(*f));
                        assert!(fx.is_empty());
                    }
                    (LoginState::SecondFactor { offered, .. }, LoginEvent::SwitchFactor(f), Err(InvalidTransition)) => {
                        assert!(!offered.contains(f));
                    }
                    (
                        LoginState::SecondFactor { .. },
                        LoginEvent::PasswordVerified { .. }
                        | LoginEvent::PasskeyVerified { .. }
                        | LoginEvent::PasswordRejected
                        | LoginEvent::Locked
                        | LoginEvent::ActionDone(_)
                        | LoginEvent::ActionDoneThen(..)
                        | LoginEvent::Declined(_),
                        Err(InvalidTransition),
                    ) => {}
                    (
                        LoginState::RequiredActions { pending, .. },
                        LoginEvent::Declined(a),
                        Ok((LoginState::Denied { .. }, fx)),
                    ) => {
                        assert_eq!(*a, TermsAndConditions, "only the terms can be declined");
                        assert_eq!(pending.first(), Some(&TermsAndConditions));
                        assert!(fx.is_empty());
                    }
                    (LoginState::RequiredActions { pending, .. }, LoginEvent::Declined(a), Err(InvalidTransition)) => {
                        assert!(*a != TermsAndConditions || pending.first() != Some(&TermsAndConditions));
                    }
                    (LoginState::RequiredActions { pending, .. }, LoginEvent::ActionDone(a), Ok((next, fx))) => {
                        assert_eq!(pending.first(), Some(a), "only the first pending action can complete");
                        if pending.len() == 1 {
                            assert!(matches!(next, LoginState::Complete { .. }));
                            assert_eq!(fx, vec![Effect::StartSession]);
                        } else {
                            assert!(
                                matches!(next, LoginState::RequiredActions { pending: ref p, .. } if p.as_slice() == &pending[1..])
                            );
                            assert!(fx.is_empty());
                        }
                    }
                    (
                        LoginState::RequiredActions { pending, .. },
                        LoginEvent::ActionDone(a),
                        Err(InvalidTransition),
                    ) => {
                        assert_ne!(pending.first(), Some(a));
                    }
                    (
                        LoginState::RequiredActions { pending, .. },
                        LoginEvent::ActionDoneThen(a, then),
                        Ok((next, fx)),
                    ) => {
                        assert_eq!(pending.first(), Some(a));
                        let mut expected: Vec<RequiredAction> = pending[1..].to_vec();
                        expected.extend(then.iter().copied());
                        assert!(
                            matches!(next, LoginState::RequiredActions { pending: ref p, .. } if p == &RequiredAction::ordered(expected))
                        );
                        assert!(fx.is_empty());
                    }
                    (
                        LoginState::RequiredActions { pending, .. },
                        LoginEvent::ActionDoneThen(a, then),
                        Err(InvalidTransition),
                    ) => {
                        // Not the current action, or it would add an action that comes earlier.
                        assert!(pending.first() != Some(a) || then.iter().any(|t| t <= a));
                    }
                    (
                        LoginState::RequiredActions { .. },
                        LoginEvent::PasswordVerified { .. }
                        | LoginEvent::PasskeyVerified { .. }
                        | LoginEvent::PasswordRejected
                        | LoginEvent::Locked
                        | LoginEvent::FactorVerified(_)
                        | LoginEvent::FactorRejected
                        | LoginEvent::SwitchFactor(_),
                        Err(InvalidTransition),
                    ) => {}
                    (LoginState::Complete { .. } | LoginState::Denied { .. }, _, Err(InvalidTransition)) => {}
                    (s, e, r) => unreachable!("unexpected: {s:?} + {e:?} -> {r:?}"),
                }
            }
        }
    }

    #[test]
    fn second_factor_comes_before_required_actions_and_sets_amr() {
        let (s, _) = step(
            &LoginState::start(false),
            LoginEvent::PasswordVerified {
                user_id: "u".into(),
                remember_me: false,
                pending: vec![TermsAndConditions],
                factors: vec![Factor::Passkey, Factor::Otp],
            },
        )
        .unwrap_or((LoginState::start(false), vec![]));
        assert_eq!(s.page(), Page::SecondFactor(Factor::Passkey));
        // The terms page cannot be reached before the factor.
        assert!(step(&s, LoginEvent::ActionDone(TermsAndConditions)).is_err());
        let (s, _) = step(&s, LoginEvent::SwitchFactor(Factor::Otp)).unwrap_or((s, vec![]));
        assert!(step(&s, LoginEvent::FactorVerified(Factor::Passkey)).is_err());
        let (s, _) = step(&s, LoginEvent::FactorVerified(Factor::Otp)).unwrap_or((s, vec![]));
        assert_eq!(s.page(), Page::Action(TermsAndConditions));
        let (s, fx) = step(&s, LoginEvent::ActionDone(TermsAndConditions)).unwrap_or((s, vec![]));
        assert_eq!(fx, vec![Effect::StartSession]);
        assert!(
            matches!(s, LoginState::Complete { ref amr, .. } if amr == &vec!["pwd".to_string(), "otp".to_string(), "mfa".to_string()])
        );
    }

    #[test]
    fn enrolling_during_login_makes_it_multi_factor() {
        let s = LoginState::RequiredActions {
            user_id: "u".into(),
            amr: vec!["pwd".into()],
            remember_me: false,
            pending: vec![ConfigureTotp, ConfigureRecoveryCodes],
        };
        let (s, _) = step(&s, LoginEvent::ActionDone(ConfigureTotp)).unwrap_or((s, vec![]));
        let (s, _) = step(&s, LoginEvent::ActionDone(ConfigureRecoveryCodes)).unwrap_or((s, vec![]));
        assert!(
            matches!(s, LoginState::Complete { ref amr, .. } if amr == &vec!["pwd".to_string(), "otp".to_string(), "mfa".to_string()])
        );
        let s = LoginState::RequiredActions {
            user_id: "u".into(),
            amr: vec!["pwd".into()],
            remember_me: false,
            pending: vec![ConfigureRecoveryCodes],
        };
        let (s, _) = step(&s, LoginEvent::ActionDone(ConfigureRecoveryCodes)).unwrap_or((s, vec![]));
        assert!(matches!(s, LoginState::Complete { ref amr, .. } if amr == &vec!["pwd".to_string()]));
    }

    #[test]
    fn choosing_a_method_adds_its_enrolment_last() {
        let s = LoginState::RequiredActions {
            user_id: "u".into(),
            amr: vec!["pwd".into()],
            remember_me: false,
            pending: vec![ChooseUserIdAndMfa, UpdatePassword, VerifyEmail],
        };
        let (s, _) =
            step(&s, LoginEvent::ActionDoneThen(ChooseUserIdAndMfa, vec![WebauthnRegister])).unwrap_or((s, vec![]));
        assert!(
            matches!(s, LoginState::RequiredActions { ref pending, .. } if pending == &vec![UpdatePassword, VerifyEmail, WebauthnRegister])
        );
    }

    #[test]
    fn complete_only_after_password_and_every_action() {
        let (s, _) = step(
            &LoginState::start(false),
            LoginEvent::PasswordVerified {
                user_id: "u".into(),
                remember_me: false,
                pending: vec![VerifyEmail, UpdatePassword],
                factors: vec![],
            },
        )
        .unwrap_or((LoginState::start(false), vec![]));
        assert_eq!(s.page(), Page::Action(UpdatePassword));
        // Skipping ahead to the e-mail step is refused.
        assert!(step(&s, LoginEvent::ActionDone(VerifyEmail)).is_err());
        let (s, _) = step(&s, LoginEvent::ActionDone(UpdatePassword)).unwrap_or((s, vec![]));
        assert_eq!(s.page(), Page::Action(VerifyEmail));
        let (s, _) = step(&s, LoginEvent::ActionDone(VerifyEmail)).unwrap_or((s, vec![]));
        assert_eq!(s.page(), Page::ReturnToClient);
    }

    #[test]
    fn actions_parse_by_keycloak_names_and_states_round_trip() {
        assert_eq!(RequiredAction::parse("update_password"), Some(UpdatePassword));
        assert_eq!(RequiredAction::parse("VERIFY_EMAIL"), Some(VerifyEmail));
        assert_eq!(RequiredAction::parse("nope"), None);
        for a in RequiredAction::ALL {
            assert_eq!(RequiredAction::parse(a.as_str()), Some(a));
        }
        // The enum order is SPEC §4's order.
        assert_eq!(
            RequiredAction::ordered([
                VerifyEmail,
                ChooseUserIdAndMfa,
                VerifyBirthdate,
                UpdatePassword,
                TermsAndConditions,
                ConfigureRecoveryCodes,
                ConfigureEmailOtp,
                WebauthnRegister,
                ConfigureTotp,
            ]),
            RequiredAction::ALL.to_vec()
        );
        assert_eq!(RequiredAction::parse("webauthn-register"), Some(WebauthnRegister));
        assert_eq!(RequiredAction::parse("CONFIGURE_TOTP"), Some(ConfigureTotp));
        for s in states() {
            let j = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(serde_json::from_str::<LoginState>(&j).ok(), Some(s));
        }
    }
}
