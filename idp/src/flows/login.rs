//! The login flow, pure: no I/O, no clock reads, no crypto. The service verifies credentials
//! outside, turns the result into an event, and persists what `step` returns.
//!
//! ```text
//!                 PasswordRejected / Locked (stays, with a message)
//!                 ┌────┐
//!                 ▼    │
//!  (authorize) ─▶ Credentials ──PasswordVerified──▶ Complete ──(code issued, flow deleted)
//! ```
//! Later steps (second factor, required actions) slot in between Credentials and Complete;
//! every page is reachable only from the state whose `page()` it is.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum LoginState {
    /// Asking for user ID and password. `notice` is the message to show with the form.
    Credentials { notice: Option<Notice> },
    /// Authenticated: the service creates the SSO session and sends the member to the client.
    Complete { user_id: String, amr: Vec<String>, remember_me: bool },
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginEvent {
    PasswordVerified { user_id: String, remember_me: bool },
    PasswordRejected,
    Locked,
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
    /// No page: redirect to the client.
    ReturnToClient,
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
            LoginState::Complete { .. } => Page::ReturnToClient,
        }
    }
}

pub fn step(state: &LoginState, event: LoginEvent) -> Result<(LoginState, Vec<Effect>), InvalidTransition> {
    match (state, event) {
        (LoginState::Credentials { .. }, LoginEvent::PasswordVerified { user_id, remember_me }) => Ok((
            LoginState::Complete { user_id, amr: vec!["pwd".into()], remember_me },
            vec![Effect::ClearFailures, Effect::StartSession],
        )),
        (LoginState::Credentials { .. }, LoginEvent::PasswordRejected) => {
            Ok((LoginState::Credentials { notice: Some(Notice::InvalidCredentials) }, vec![Effect::RecordFailure]))
        }
        (LoginState::Credentials { .. }, LoginEvent::Locked) => {
            Ok((LoginState::Credentials { notice: Some(Notice::Locked) }, vec![]))
        }
        (LoginState::Complete { .. }, _) => Err(InvalidTransition),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<LoginEvent> {
        vec![
            LoginEvent::PasswordVerified { user_id: "u".into(), remember_me: true },
            LoginEvent::PasswordRejected,
            LoginEvent::Locked,
        ]
    }

    fn states() -> Vec<LoginState> {
        vec![
            LoginState::start(false),
            LoginState::start(true),
            LoginState::Credentials { notice: Some(Notice::InvalidCredentials) },
            LoginState::Complete { user_id: "u".into(), amr: vec!["pwd".into()], remember_me: false },
        ]
    }

    /// Every (state, event) pair: either a listed transition or InvalidTransition.
    #[test]
    fn transition_table_is_exhaustive() {
        for s in states() {
            for e in events() {
                let r = step(&s, e.clone());
                match (&s, &e, r) {
                    (LoginState::Credentials { .. }, LoginEvent::PasswordVerified { .. }, Ok((LoginState::Complete { amr, remember_me, .. }, fx))) => {
                        assert_eq!(amr, vec!["pwd".to_string()]);
                        assert!(remember_me);
                        assert_eq!(fx, vec![Effect::ClearFailures, Effect::StartSession]);
                    }
                    (LoginState::Credentials { .. }, LoginEvent::PasswordRejected, Ok((LoginState::Credentials { notice: Some(Notice::InvalidCredentials) }, fx))) => {
                        assert_eq!(fx, vec![Effect::RecordFailure]);
                    }
                    (LoginState::Credentials { .. }, LoginEvent::Locked, Ok((LoginState::Credentials { notice: Some(Notice::Locked) }, fx))) => {
                        assert!(fx.is_empty());
                    }
                    (LoginState::Complete { .. }, _, Err(InvalidTransition)) => {}
                    (s, e, r) => unreachable!("unexpected: {s:?} + {e:?} -> {r:?}"),
                }
            }
        }
    }

    #[test]
    fn complete_only_after_password_verified() {
        let mut s = LoginState::start(false);
        for e in [LoginEvent::PasswordRejected, LoginEvent::Locked, LoginEvent::PasswordRejected] {
            s = step(&s, e).map(|(s, _)| s).unwrap_or(s);
            assert_eq!(s.page(), Page::Credentials);
        }
        let (done, _) = step(&s, LoginEvent::PasswordVerified { user_id: "u".into(), remember_me: false }).unwrap_or((s, vec![]));
        assert_eq!(done.page(), Page::ReturnToClient);
    }

    #[test]
    fn state_round_trips_as_json() {
        for s in states() {
            let j = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(serde_json::from_str::<LoginState>(&j).ok(), Some(s));
        }
    }
}
