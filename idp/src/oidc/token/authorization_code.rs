//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6). A code is single use,
//! bound to its client and redirect URI, and lives `tokens.code_seconds`. A replayed code
//! revokes everything issued from it; a wrong `code_verifier` burns the code all the same.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;

use crate::oidc::error::OAuthError;
use crate::oidc::tokens::{Signer, TokenResponse};
use crate::realm::Realm;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::grants::{CodeUse, GrantRow};
use crate::store::users::UserRow;
use crate::store::{self, write_tx};

enum Outcome {
    Issued { grant: GrantRow, user: UserRow, refresh: Option<String> },
    Refused(&'static str),
}

pub async fn exchange(
    st: &AppState,
    realm: &Realm,
    client: &Client,
    signer: &Signer<'_>,
    params: &HashMap<String, String>,
) -> Result<TokenResponse, OAuthError> {
    let code = params.get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let redirect_uri =
        params.get("redirect_uri").cloned().ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
    let verifier = params.get("code_verifier").cloned();
    let code_hash = kenpo_shared::crypto::token_hash(code);
    let client_pk = client.id.clone();
    let refresh_ttl = Duration::minutes(realm.settings.tokens.refresh_token_minutes);
    let issue_refresh = client.allows_grant("refresh_token");

    let outcome = st
        .store
        .run(move |c| {
            write_tx(c, |c| {
                let now = store::now();
                let (code, grant, user) = match store::grants::use_code(c, &code_hash, now)? {
                    CodeUse::Unknown => return Ok(Outcome::Refused("code is invalid")),
                    CodeUse::Replayed(grant) => {
                        store::grants::revoke_grant(c, &grant.id, now)?;
                        store::audit::record(
                            c,
                            store::audit::Event {
                                realm_id: Some(&grant.realm_id),
                                kind: "code_replayed",
                                user_id: grant.user_id.as_deref(),
                                client_id: Some(&grant.client_id),
                                ..Default::default()
                            },
                        )?;
                        return Ok(Outcome::Refused("code was already used"));
                    }
                    CodeUse::Fresh(code, grant, user) => (code, grant, user),
                };
                // From here on the code is spent whatever happens: the transaction commits.
                if grant.client_id != client_pk {
                    return Ok(Outcome::Refused("code was issued to another client"));
                }
                if code.expires_at <= now {
                    return Ok(Outcome::Refused("code expired"));
                }
                if code.redirect_uri != redirect_uri {
                    return Ok(Outcome::Refused("redirect_uri does not match"));
                }
                if !pkce_ok(code.code_challenge.as_deref(), verifier.as_deref()) {
                    return Ok(Outcome::Refused("code_verifier does not match"));
                }
                if grant.revoked_at.is_some() {
                    return Ok(Outcome::Refused("grant was revoked"));
                }
                let user = match user {
                    Some(u) if u.is_active() => u,
                    _ => return Ok(Outcome::Refused("account is not active")),
                };
                let refresh = if issue_refresh {
                    let token = kenpo_shared::crypto::random_token(32);
                    store::grants::insert_refresh(
                        c,
                        &kenpo_shared::crypto::token_hash(&token),
                        &grant.id,
                        now,
                        now + refresh_ttl,
                    )?;
                    Some(token)
                } else {
                    None
                };
                if let Some(sid) = &grant.session_id {
                    store::sessions::add_client(c, sid, &grant.client_id, now)?;
                }
                Ok(Outcome::Issued { grant, user, refresh })
            })
        })
        .await?;

    match outcome {
        Outcome::Refused(why) => Err(OAuthError::invalid_grant(why)),
        Outcome::Issued { grant, user, refresh } => {
            signer.member_response(client, grant, &user, refresh, refresh_ttl.num_seconds())
        }
    }
}

/// RFC 7636 §4.6 with S256 only. A verifier without a challenge is refused too: it means the
/// request and the exchange disagree about PKCE.
pub fn pkce_ok(challenge: Option<&str>, verifier: Option<&str>) -> bool {
    match (challenge, verifier) {
        (None, None) => true,
        (Some(ch), Some(v)) => {
            let well_formed =
                (43..=128).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
            well_formed
                && kenpo_shared::crypto::ct_eq(
                    URL_SAFE_NO_PAD.encode(kenpo_shared::crypto::sha256(v.as_bytes())).as_bytes(),
                    ch.as_bytes(),
                )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pkce_rfc7636_appendix_b() {
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let ch = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(super::pkce_ok(Some(ch), Some(v)));
        assert!(!super::pkce_ok(Some(ch), Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK")));
        assert!(!super::pkce_ok(Some(ch), None));
        assert!(!super::pkce_ok(None, Some(v)));
        assert!(super::pkce_ok(None, None));
    }
}
