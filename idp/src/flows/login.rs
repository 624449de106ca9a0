//! The login flow, pure: no I/O, no clock reads, no crypto. The service verifies credentials
//! and required-action input outside, turns the result into an event, and persists what
//! `step` returns.
//!
//! ```text
//!                 PasswordRejected / Locked (stays, with a message)
//!                 ┌────┐
//!                 ▼    │
//!  (authorize) ─▶ Credentials ──PasswordVerified{pending=[]}──────────────────────▶ Complete
//!                      │                                                             ▲
//!                      └──PasswordVerified{pending=[a,…]}──▶ RequiredActions ──ActionDone(last)
//!                                                             │   ▲
//!                                                             └───┘ ActionDone(first of pending)
//! ```
//! Required actions run in the fixed order of SPEC §4, one at a time; an action can only be
//! completed when it is the first pending one, so no page can be skipped by URL or by an old
//! form. Second factors (SPEC §5) will slot in between Credentials and RequiredActions.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum LoginState {
    /// Asking for user ID and password. `notice` is the message to show with the form.
    Credentials { notice: Option<Notice> },
    /// Authenticated; these actions must be done before the client gets a code.
    RequiredActions { user_id: String, amr: Vec<String>, remember_me: bool, pending: Vec<RequiredAction> },
    /// Authenticated: the service creates the SSO session and sends the member to the client.
    Complete { user_id: String, amr: Vec<String>, remember_me: bool },
    /// The member declined the terms of use: the client gets `access_denied`, no session.
    Denied { user_id: String },
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
}

impl RequiredAction {
    pub const ALL: [RequiredAction; 5] = [
        RequiredAction::VerifyBirthdate,
        RequiredAction::TermsAndConditions,
        RequiredAction::ChooseUserIdAndMfa,
        RequiredAction::UpdatePassword,
        RequiredAction::VerifyEmail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequiredAction::VerifyBirthdate => "VERIFY_BIRTHDATE",
            RequiredAction::TermsAndConditions => "TERMS_AND_CONDITIONS",
            RequiredAction::ChooseUserIdAndMfa => "CHOOSE_USER_ID_AND_MFA",
            RequiredAction::UpdatePassword => "UPDATE_PASSWORD",
            RequiredAction::VerifyEmail => "VERIFY_EMAIL",
        }
    }

    pub fn parse(s: &str) -> Option<RequiredAction> {
        Self::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
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
    PasswordVerified {
        user_id: String,
        remember_me: bool,
        pending: Vec<RequiredAction>,
    },
    PasswordRejected,
    Locked,
    ActionDone(RequiredAction),
    /// The member refused the current action (only the terms of use can be refused).
    Declined(RequiredAction),
}

/// Side effects the service carries out in the same transaction as the new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    RecordFailure,
    ClearFailures,
    StartSession,
}

/// Which page a state shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Credentials,
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
            LoginState::RequiredActions { user_id, .. }
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

pub fn step(state: &LoginState, event: LoginEvent) -> Result<(LoginState, Vec<Effect>), InvalidTransition> {
    match (state, event) {
        (LoginState::Credentials { .. }, LoginEvent::PasswordVerified { user_id, remember_me, pending }) => {
            let next = after_authentication(user_id, vec!["pwd".into()], remember_me, pending);
            let mut effects = vec![Effect::ClearFailures];
            if matches!(next, LoginState::Complete { .. }) {
                effects.push(Effect::StartSession);
            }
            Ok((next, effects))
        }
        (LoginState::Credentials { .. }, LoginEvent::PasswordRejected) => {
            Ok((LoginState::Credentials { notice: Some(Notice::InvalidCredentials) }, vec![Effect::RecordFailure]))
        }
        (LoginState::Credentials { .. }, LoginEvent::Locked) => {
            Ok((LoginState::Credentials { notice: Some(Notice::Locked) }, vec![]))
        }
        (LoginState::RequiredActions { user_id, amr, remember_me, pending }, LoginEvent::ActionDone(done))
            if pending.first() == Some(&done) =>
        {
            let rest = pending[1..].to_vec();
            let next = after_authentication(user_id.clone(), amr.clone(), *remember_me, rest);
            let effects = if matches!(next, LoginState::Complete { .. }) { vec![Effect::StartSession] } else { vec![] };
            Ok((next, effects))
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
            LoginEvent::PasswordVerified { user_id: "u".into(), remember_me: true, pending: vec![] },
            LoginEvent::PasswordVerified {
                user_id: "u".into(),
                remember_me: false,
                pending: vec![VerifyEmail, UpdatePassword],
            },
            LoginEvent::PasswordRejected,
            LoginEvent::Locked,
            LoginEvent::ActionDone(UpdatePassword),
            LoginEvent::ActionDone(VerifyEmail),
            LoginEvent::ActionDone(TermsAndConditions),
            LoginEvent::Declined(TermsAndConditions),
            LoginEvent::Declined(UpdatePassword),
        ]
    }

    fn states() -> Vec<LoginState> {
        vec![
            LoginState::start(false),
            LoginState::start(true),
            LoginState::Credentials { notice: Some(Notice::InvalidCredentials) },
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
                    (LoginState::Credentials { .. }, LoginEvent::PasswordVerified { pending, .. }, Ok((next, fx))) => {
                        assert_eq!(fx.first(), Some(&Effect::ClearFailures));
                        if pending.is_empty() {
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
                        LoginEvent::ActionDone(_) | LoginEvent::Declined(_),
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
                        LoginState::RequiredActions { .. },
                        LoginEvent::PasswordVerified { .. } | LoginEvent::PasswordRejected | LoginEvent::Locked,
                        Err(InvalidTransition),
                    ) => {}
                    (LoginState::Complete { .. } | LoginState::Denied { .. }, _, Err(InvalidTransition)) => {}
                    (s, e, r) => unreachable!("unexpected: {s:?} + {e:?} -> {r:?}"),
                }
            }
        }
    }

    #[test]
    fn complete_only_after_password_and_every_action() {
        let (s, _) = step(
            &LoginState::start(false),
            LoginEvent::PasswordVerified {
                user_id: "u".into(),
                remember_me: false,
                pending: vec![VerifyEmail, UpdatePassword],
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
                TermsAndConditions
            ]),
            RequiredAction::ALL.to_vec()
        );
        for s in states() {
            let j = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(serde_json::from_str::<LoginState>(&j).ok(), Some(s));
        }
    }
}
