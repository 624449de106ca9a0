//! Every realm policy with its default (SPEC §1-§3, §9, §10). Settings are stored as one JSON
//! document; `set` addresses any leaf by its dotted key (`password.min_length=12`), parses the
//! value as the leaf's type and re-validates the whole document, so a bad value changes nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::validate::PasswordPolicy;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RealmSettings {
    pub password: PasswordSettings,
    pub session: SessionSettings,
    pub tokens: TokenSettings,
    pub login: LoginSettings,
    pub brute_force: BruteForceSettings,
    pub theme: ThemeSettings,
    pub mfa: MfaSettings,
    pub mail: RealmMailSettings,
}

/// The realm's own sender, e.g. `"〇〇健保組合 <no-reply@kenpo.example.jp>"`; empty uses the
/// deployment's `mail.from`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RealmMailSettings {
    pub from: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfaSettings {
    /// Second-factor methods members may choose, comma-separated: passkey, otp, email.
    pub methods: String,
    /// Every member needs a second factor before reaching any client: one without is asked to
    /// choose and enrol one at login (SPEC §4 step 6).
    pub required: bool,
    /// Ten single-use recovery codes, shown once after a factor is enrolled.
    pub recovery_codes: bool,
    /// Wrong second-factor codes before the second factor locks (its own counter, SPEC §9);
    /// waits grow as for passwords (`brute_force.wait_increment_seconds`, capped likewise).
    pub max_failures: i32,
    pub otp: OtpSettings,
    pub passkey: PasskeySettings,
    pub email_otp: EmailOtpSettings,
}

impl Default for MfaSettings {
    fn default() -> Self {
        MfaSettings {
            methods: "passkey,otp,email".into(),
            required: false,
            recovery_codes: false,
            max_failures: 5,
            otp: OtpSettings::default(),
            passkey: PasskeySettings::default(),
            email_otp: EmailOtpSettings::default(),
        }
    }
}

/// Authenticator-app policy (Keycloak's OTP policy; defaults are its defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtpSettings {
    /// SHA1, SHA256 or SHA512 (most apps support only SHA1).
    pub algorithm: String,
    /// 6 or 8.
    pub digits: i64,
    /// Seconds per code.
    pub period: i64,
}

impl Default for OtpSettings {
    fn default() -> Self {
        OtpSettings { algorithm: "SHA1".into(), digits: 6, period: 30 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeySettings {
    /// required, preferred or discouraged (WebAuthn user verification: face, fingerprint, PIN).
    pub user_verification: String,
    /// Members may sign in with a passkey alone (discoverable credential, offered in the user-ID
    /// field's autofill).
    pub passwordless: bool,
    /// Seconds a ceremony's challenge stays valid.
    pub challenge_seconds: i64,
}

impl Default for PasskeySettings {
    fn default() -> Self {
        PasskeySettings { user_verification: "preferred".into(), passwordless: false, challenge_seconds: 300 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailOtpSettings {
    /// Minutes a mailed code stays valid.
    pub code_minutes: i64,
    /// Tries per code; the code is void after that and a new one must be sent.
    pub max_tries: i64,
    /// Seconds before 「再送信」 sends another code.
    pub resend_seconds: i64,
}

impl Default for EmailOtpSettings {
    fn default() -> Self {
        EmailOtpSettings { code_minutes: 5, max_tries: 5, resend_seconds: 60 }
    }
}

impl MfaSettings {
    /// The realm's TOTP policy (validated by `check`; ±1 step for clock drift, as Keycloak).
    pub fn totp_policy(&self) -> crate::mfa::totp::TotpPolicy {
        use crate::mfa::totp::{OtpAlgorithm, TotpPolicy};
        TotpPolicy {
            algorithm: OtpAlgorithm::from_keycloak(&self.otp.algorithm).unwrap_or(OtpAlgorithm::Sha1),
            digits: u32::try_from(self.otp.digits).unwrap_or(6),
            period: u64::try_from(self.otp.period).unwrap_or(30),
            look_around: 1,
        }
    }

    pub const KNOWN: [&'static str; 3] = ["passkey", "otp", "email"];

    pub fn enabled(&self) -> Vec<&str> {
        let listed: Vec<&str> = self.methods.split(',').map(str::trim).collect();
        Self::KNOWN.into_iter().filter(|m| listed.contains(m)).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordSettings {
    #[serde(flatten)]
    pub policy: PasswordPolicy,
    /// Hash profile for new hashes: `argon2id` (OWASP: m=19 MiB, t=2) or `argon2id-min`
    /// (protocol benchmarks only). Stored hashes carry their own parameters and are upgraded at
    /// the next successful login when they differ.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// An SSO session ends after this long without use…
    pub idle_minutes: i64,
    /// …and at the latest this long after login.
    pub max_hours: i64,
    /// "ログイン状態の保存" extends both to this many days.
    pub remember_me_days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    pub access_token_seconds: i64,
    pub id_token_seconds: i64,
    pub refresh_token_minutes: i64,
    /// Authorization codes live at most this long (RFC 6749 recommends ≤ 10 minutes; we use 60 s).
    pub code_seconds: i64,
    /// Default signing algorithm for new clients: RS256 or ES256.
    pub default_signing_alg: String,
    /// PKCE for confidential clients too (it is always required for public clients).
    pub pkce_required_for_all: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginSettings {
    /// How long a login page may sit before the member has to start again.
    pub flow_minutes: i64,
    pub remember_me_enabled: bool,
    /// Where 「ポータルに戻る」 leads when the client gave no better place.
    pub portal_url: String,
    /// How long an e-mail verification link stays valid.
    pub email_link_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BruteForceSettings {
    /// On by default (Keycloak ships it off). Counted per submitted user ID, existing or not.
    pub enabled: bool,
    pub max_failures: i32,
    pub wait_increment_seconds: i64,
    pub max_wait_seconds: i64,
    pub failure_reset_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThemeSettings {
    pub primary_color: String,
    pub logo_url: String,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings { idle_minutes: 30, max_hours: 10, remember_me_days: 30 }
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            access_token_seconds: 300,
            id_token_seconds: 300,
            refresh_token_minutes: 30,
            code_seconds: 60,
            default_signing_alg: "RS256".into(),
            pkce_required_for_all: false,
        }
    }
}

impl Default for LoginSettings {
    fn default() -> Self {
        LoginSettings {
            flow_minutes: 30,
            remember_me_enabled: true,
            portal_url: String::new(),
            email_link_minutes: 1440,
        }
    }
}

impl Default for BruteForceSettings {
    fn default() -> Self {
        BruteForceSettings {
            enabled: true,
            max_failures: 10,
            wait_increment_seconds: 60,
            max_wait_seconds: 900,
            failure_reset_seconds: 43_200,
        }
    }
}

impl Default for ThemeSettings {
    fn default() -> Self {
        ThemeSettings { primary_color: "#1d5fa8".into(), logo_url: String::new() }
    }
}

impl Default for PasswordSettings {
    fn default() -> Self {
        PasswordSettings { policy: PasswordPolicy::default(), hash: "argon2id".into() }
    }
}

impl RealmSettings {
    pub fn from_json(s: &str) -> Result<Self, String> {
        let parsed: RealmSettings = serde_json::from_str(s).map_err(|e| e.to_string())?;
        parsed.check()?;
        Ok(parsed)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Every policy as `(key, value)`, sorted, for `realm show`.
    pub fn entries(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Ok(v) = serde_json::to_value(self) {
            flatten("", &v, &mut out);
        }
        out.sort();
        out
    }

    /// Sets one policy. Unknown keys, values of the wrong type and values that break a rule
    /// are refused with a message naming the key; `self` is unchanged on error.
    pub fn set(&mut self, key: &str, raw: &str) -> Result<(), String> {
        let mut doc = serde_json::to_value(&*self).map_err(|e| e.to_string())?;
        let slot = key
            .split('.')
            .try_fold(&mut doc, |node, part| node.get_mut(part))
            .filter(|v| !v.is_object())
            .ok_or_else(|| format!("{key}: unknown setting (see `realm show` for the list)"))?;
        *slot = match slot {
            Value::Bool(_) => Value::Bool(parse_bool(raw).ok_or_else(|| format!("{key}: expected true or false"))?),
            Value::Number(_) => {
                Value::from(raw.trim().parse::<i64>().map_err(|_| format!("{key}: expected a whole number"))?)
            }
            _ => Value::String(raw.to_string()),
        };
        let updated: RealmSettings = serde_json::from_value(doc).map_err(|e| format!("{key}: {e}"))?;
        updated.check().map_err(|e| format!("{key}: {e}"))?;
        *self = updated;
        Ok(())
    }

    /// Rules that involve more than one value or a closed set of words.
    pub fn check(&self) -> Result<(), String> {
        let p = &self.password.policy;
        if p.min_length < 1 || p.max_length > 1024 || p.min_length > p.max_length {
            return Err("password lengths must satisfy 1 ≤ min_length ≤ max_length ≤ 1024".into());
        }
        if !matches!(self.password.hash.as_str(), "argon2id" | "argon2id-min") {
            return Err("password.hash must be argon2id or argon2id-min".into());
        }
        if !matches!(self.tokens.default_signing_alg.as_str(), "RS256" | "ES256") {
            return Err("tokens.default_signing_alg must be RS256 or ES256".into());
        }
        let positive = [
            ("session.idle_minutes", self.session.idle_minutes),
            ("session.max_hours", self.session.max_hours),
            ("session.remember_me_days", self.session.remember_me_days),
            ("tokens.access_token_seconds", self.tokens.access_token_seconds),
            ("tokens.id_token_seconds", self.tokens.id_token_seconds),
            ("tokens.refresh_token_minutes", self.tokens.refresh_token_minutes),
            ("tokens.code_seconds", self.tokens.code_seconds),
            ("login.flow_minutes", self.login.flow_minutes),
            ("login.email_link_minutes", self.login.email_link_minutes),
            ("brute_force.max_failures", i64::from(self.brute_force.max_failures)),
            ("brute_force.wait_increment_seconds", self.brute_force.wait_increment_seconds),
            ("brute_force.max_wait_seconds", self.brute_force.max_wait_seconds),
            ("brute_force.failure_reset_seconds", self.brute_force.failure_reset_seconds),
            ("mfa.max_failures", i64::from(self.mfa.max_failures)),
            ("mfa.otp.period", self.mfa.otp.period),
            ("mfa.passkey.challenge_seconds", self.mfa.passkey.challenge_seconds),
            ("mfa.email_otp.code_minutes", self.mfa.email_otp.code_minutes),
            ("mfa.email_otp.max_tries", self.mfa.email_otp.max_tries),
            ("mfa.email_otp.resend_seconds", self.mfa.email_otp.resend_seconds),
        ];
        if let Some((k, _)) = positive.iter().find(|(_, v)| *v <= 0) {
            return Err(format!("{k} must be greater than 0"));
        }
        if self.tokens.code_seconds > 600 {
            return Err("tokens.code_seconds must be at most 600".into());
        }
        if self.mfa.methods.split(',').map(str::trim).any(|m| !MfaSettings::KNOWN.contains(&m))
            || self.mfa.enabled().is_empty()
        {
            return Err("mfa.methods must list one or more of passkey, otp, email (comma-separated)".into());
        }
        if crate::mfa::totp::OtpAlgorithm::from_keycloak(&self.mfa.otp.algorithm).is_none() {
            return Err("mfa.otp.algorithm must be SHA1, SHA256 or SHA512".into());
        }
        if !matches!(self.mfa.otp.digits, 6 | 8) {
            return Err("mfa.otp.digits must be 6 or 8".into());
        }
        if self.mfa.otp.period > 300 {
            return Err("mfa.otp.period must be at most 300 seconds".into());
        }
        if !matches!(self.mfa.passkey.user_verification.as_str(), "required" | "preferred" | "discouraged") {
            return Err("mfa.passkey.user_verification must be required, preferred or discouraged".into());
        }
        if self.mfa.email_otp.code_minutes > 60 || self.mfa.email_otp.max_tries > 10 {
            return Err("mfa.email_otp: codes live at most 60 minutes and allow at most 10 tries".into());
        }
        let from = self.mail.from.trim();
        if !from.is_empty() && (!from.contains('@') || from.chars().any(char::is_control) || from.len() > 320) {
            return Err(
                "mail.from must be an address like no-reply@example.jp or \"Name <no-reply@example.jp>\"".into()
            );
        }
        let color = &self.theme.primary_color;
        if !(color.len() == 7 && color.starts_with('#') && color[1..].chars().all(|c| c.is_ascii_hexdigit())) {
            return Err("theme.primary_color must look like #1d5fa8".into());
        }
        for (k, u) in [("login.portal_url", &self.login.portal_url), ("theme.logo_url", &self.theme.logo_url)] {
            if !u.is_empty() && !u.starts_with("https://") && !u.starts_with("http://") {
                return Err(format!("{k} must be an http(s) URL or empty"));
            }
        }
        Ok(())
    }
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Some(true),
        "false" | "off" | "no" | "0" => Some(false),
        _ => None,
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_changes_one_policy_and_refuses_bad_values_without_change() {
        let mut s = RealmSettings::default();
        assert!(s.set("password.min_length", "12").is_ok());
        assert_eq!(s.password.policy.min_length, 12);
        let before = s.clone();
        for (k, v) in [
            ("password.min_length", "abc"),
            ("password.min_length", "100"),
            ("password.nope", "1"),
            ("password", "1"),
            ("brute_force.enabled", "maybe"),
            ("tokens.default_signing_alg", "HS256"),
            ("session.idle_minutes", "0"),
            ("theme.primary_color", "red"),
        ] {
            assert!(s.set(k, v).is_err(), "{k}={v} should be refused");
            assert_eq!(s, before, "{k}={v} changed settings");
        }
        assert!(s.set("brute_force.enabled", "off").is_ok());
        assert!(!s.brute_force.enabled);
    }

    #[test]
    fn entries_list_every_leaf_and_round_trip() {
        let s = RealmSettings::default();
        let e = s.entries();
        assert!(e.iter().any(|(k, v)| k == "password.min_length" && v == "8"));
        assert!(e.iter().any(|(k, v)| k == "password.hash" && v == "argon2id"));
        assert!(e.iter().any(|(k, _)| k == "brute_force.max_failures"));
        assert_eq!(RealmSettings::from_json(&s.to_json()), Ok(s));
    }
}
