//! OpenID Connect Back-Channel Logout 1.0, receiving side: the IdP posts a signed logout token
//! when a member's IdP session ends, and the portal ends that member's portal sessions.
//!
//! `openidconnect` has no logout-token type, so the JWT is checked here with its JWK types:
//! the signature with the IdP's published key (RS256 or ES256 only, never `none`), then `iss`,
//! `aud` (our client id), `iat`/`exp`, the back-channel `events` member, `sid` or `sub`, and
//! the absence of `nonce` (§2.6).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use openidconnect::JsonWebKey;
use openidconnect::core::CoreJwsSigningAlgorithm;
use serde_json::Value;

use super::{OidcError, Rp};

pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What a verified logout token says: which IdP session (or which member) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    pub sid: Option<String>,
    pub sub: Option<String>,
}

fn bad(msg: &str) -> OidcError {
    OidcError::LogoutToken(msg.to_string())
}

fn decode_json(part: &str) -> Result<Value, OidcError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| bad("not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| bad("not JSON"))
}

impl Rp {
    pub async fn verify_logout_token(&self, token: &str) -> Result<LogoutClaims, OidcError> {
        let parts: Vec<&str> = token.trim().split('.').collect();
        let [h, p, s] = parts.as_slice() else { return Err(bad("not a signed JWT")) };
        let header = decode_json(h)?;
        let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
        if !matches!(alg_name, "RS256" | "ES256") {
            return Err(bad("algorithm not accepted"));
        }
        let alg: CoreJwsSigningAlgorithm =
            serde_json::from_value(Value::String(alg_name.into())).map_err(|_| bad("algorithm"))?;
        if let Some(typ) = header.get("typ").and_then(Value::as_str)
            && !typ.eq_ignore_ascii_case("logout+jwt")
            && !typ.eq_ignore_ascii_case("JWT")
        {
            return Err(bad("typ is not logout+jwt"));
        }
        let kid = header.get("kid").and_then(Value::as_str).map(str::to_string);
        let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad("signature is not base64url"))?;
        let message = format!("{h}.{p}");
        let mut verified = false;
        for refresh in [false, true] {
            let meta = self.metadata(refresh).await?;
            let candidates = meta.jwks().keys().iter().filter(|k| match (&kid, k.key_id()) {
                (Some(want), Some(have)) => have.as_str() == want,
                (Some(_), None) => false,
                (None, _) => true,
            });
            if candidates.clone().any(|k| k.verify_signature(&alg, message.as_bytes(), &signature).is_ok()) {
                verified = true;
                break;
            }
            if candidates.count() > 0 {
                break; // the key is known and the signature is wrong: no point re-fetching
            }
        }
        if !verified {
            return Err(bad("signature does not verify with the IdP's keys"));
        }
        check_claims(&decode_json(p)?, self.issuer(), self.client_id(), Utc::now().timestamp())
    }
}

/// The claim rules of §2.4 and §2.6, on an already verified payload. Pure.
pub fn check_claims(c: &Value, issuer: &str, client_id: &str, now: i64) -> Result<LogoutClaims, OidcError> {
    if c.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(bad("iss is not our issuer"));
    }
    let aud_ok = match c.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err(bad("aud is not this client"));
    }
    let iat = c.get("iat").and_then(Value::as_i64).ok_or_else(|| bad("iat missing"))?;
    if iat > now + 60 {
        return Err(bad("iat is in the future"));
    }
    if let Some(exp) = c.get("exp").and_then(Value::as_i64) {
        if exp < now - 60 {
            return Err(bad("expired"));
        }
    } else if iat < now - 600 {
        return Err(bad("too old"));
    }
    if c.get("nonce").is_some() {
        return Err(bad("a logout token must not carry a nonce"));
    }
    if !c.get("events").and_then(Value::as_object).is_some_and(|e| e.get(EVENT).is_some_and(Value::is_object)) {
        return Err(bad("events lacks the back-channel logout event"));
    }
    let sid = c.get("sid").and_then(Value::as_str).map(str::to_string);
    let sub = c.get("sub").and_then(Value::as_str).map(str::to_string);
    if sid.is_none() && sub.is_none() {
        return Err(bad("neither sid nor sub"));
    }
    Ok(LogoutClaims { sid, sub })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({ "iss": "https://id/realms/k", "aud": "portal", "iat": 1000, "exp": 1120, "jti": "j", "sub": "u1", "sid": "s1",
                "events": { EVENT: {} } })
    }

    #[test]
    fn a_good_logout_token_names_the_session() {
        assert_eq!(
            check_claims(&good(), "https://id/realms/k", "portal", 1010).ok(),
            Some(LogoutClaims { sid: Some("s1".into()), sub: Some("u1".into()) })
        );
        let mut arr = good();
        arr["aud"] = json!(["other", "portal"]);
        assert!(check_claims(&arr, "https://id/realms/k", "portal", 1010).is_ok());
    }

    #[test]
    fn each_rule_refuses() {
        type Tweak = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Tweak)> = vec![
            ("iss", Box::new(|v| v["iss"] = json!("https://evil"))),
            ("aud", Box::new(|v| v["aud"] = json!("other"))),
            ("nonce", Box::new(|v| v["nonce"] = json!("n"))),
            ("events", Box::new(|v| v["events"] = json!({}))),
            ("events type", Box::new(|v| v["events"] = json!({ EVENT: "x" }))),
            (
                "sid/sub",
                Box::new(|v| {
                    if let Some(o) = v.as_object_mut() {
                        o.remove("sid");
                        o.remove("sub");
                    }
                }),
            ),
            ("exp", Box::new(|v| v["exp"] = json!(900))),
            ("iat future", Box::new(|v| v["iat"] = json!(5000))),
        ];
        for (name, tweak) in cases {
            let mut v = good();
            tweak(&mut v);
            assert!(check_claims(&v, "https://id/realms/k", "portal", 1010).is_err(), "{name}");
        }
    }
}
