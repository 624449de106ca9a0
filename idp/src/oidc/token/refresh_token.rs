//! `grant_type=refresh_token` with rotation: every use returns a new refresh token and spends
//! the old one. Presenting a spent token means a copy exists somewhere, so the whole family
//! (the grant) is revoked (OAuth 2.0 Security BCP §4.14.2).

use std::collections::HashMap;

use chrono::Duration;

use crate::oidc::error::OAuthError;
use crate::oidc::tokens::{Signer, TokenResponse};
use crate::realm::Realm;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::grants::{GrantRow, RefreshUse};
use crate::store::users::UserRow;
use crate::store::{self, StoreError, write_tx};

enum Outcome {
    Issued { grant: GrantRow, user: UserRow, refresh: String },
    Refused(&'static str),
}

pub async fn exchange(
    st: &AppState,
    realm: &Realm,
    client: &Client,
    signer: &Signer<'_>,
    params: &HashMap<String, String>,
) -> Result<TokenResponse, OAuthError> {
    let presented =
        params.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let hash = kenpo_shared::crypto::token_hash(presented);
    let client_pk = client.id.clone();
    let ttl = Duration::minutes(realm.settings.tokens.refresh_token_minutes);

    let outcome = st
        .store
        .run(move |c| {
            let r = write_tx(c, |c| {
                let now = store::now();
                let (grant, user) = match store::grants::rotate_refresh(c, &hash, now)? {
                    RefreshUse::Unknown => return Ok(Outcome::Refused("refresh token is invalid")),
                    RefreshUse::Expired => return Ok(Outcome::Refused("refresh token expired")),
                    RefreshUse::Reused(grant) if grant.client_id == client_pk => {
                        store::grants::revoke_grant(c, &grant.id, now)?;
                        store::audit::record(
                            c,
                            store::audit::Event {
                                realm_id: Some(&grant.realm_id),
                                kind: "refresh_token_reused",
                                user_id: grant.user_id.as_deref(),
                                client_id: Some(&grant.client_id),
                                ..Default::default()
                            },
                        )?;
                        return Ok(Outcome::Refused("refresh token was already used"));
                    }
                    RefreshUse::Reused(_) => return Ok(Outcome::Refused("refresh token is invalid")),
                    RefreshUse::Rotated(grant, user) => (grant, user),
                };
                // Another client's token: undo the rotation (roll back) and refuse.
                if grant.client_id != client_pk {
                    return Err(StoreError::Stale);
                }
                if grant.revoked_at.is_some() {
                    return Ok(Outcome::Refused("grant was revoked"));
                }
                let user = match user {
                    Some(u) if u.is_active() => u,
                    _ => return Ok(Outcome::Refused("account is not active")),
                };
                let refresh = kenpo_shared::crypto::random_token(32);
                store::grants::insert_refresh(
                    c,
                    &kenpo_shared::crypto::token_hash(&refresh),
                    &grant.id,
                    now,
                    now + ttl,
                )?;
                Ok(Outcome::Issued { grant, user, refresh })
            });
            match r {
                Err(StoreError::Stale) => Ok(Outcome::Refused("refresh token is invalid")),
                other => other,
            }
        })
        .await?;

    match outcome {
        Outcome::Refused(why) => Err(OAuthError::invalid_grant(why)),
        Outcome::Issued { grant, user, refresh } => {
            signer.member_response(client, grant, &user, Some(refresh), ttl.num_seconds())
        }
    }
}
