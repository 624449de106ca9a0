//! The portal as an OpenID Connect relying party, built on the `openidconnect` crate. It knows
//! the IdP only through its issuer URL: endpoints and keys come from discovery, re-fetched
//! after a while and at once when a token names a key we do not have (key rotation).
//!
//! Login: authorization code + PKCE (S256) + `state` + `nonce`; the ID token is fully
//! verified (signature, issuer, audience, expiry, nonce, `at_hash`, and `auth_time` against
//! `max_age` when one was asked). Logout: RP-initiated logout with `id_token_hint`.

pub mod backchannel;
pub mod session;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdToken, IdTokenFields, IssuerUrl,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

use crate::config::PortalConfig;

/// The claims the portal needs besides the standard ones: the IdP session id (for
/// back-channel logout) and the insurance card (scope `insurance`) results are matched by.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KenpoClaims {
    pub sid: Option<String>,
    pub insurer_number: Option<String>,
    pub card_symbol: Option<String>,
    pub card_number: Option<String>,
}
impl AdditionalClaims for KenpoClaims {}

type KenpoIdTokenFields = IdTokenFields<
    KenpoClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type KenpoTokenResponse = StandardTokenResponse<KenpoIdTokenFields, CoreTokenType>;
pub type KenpoIdToken =
    IdToken<KenpoClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;
type RpClient = Client<
    KenpoClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    KenpoTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;
pub type Metadata = ProviderMetadataWithLogout;

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The IdP cannot be reached or its discovery document is unusable.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// The IdP refused the code (expired, replayed, PKCE mismatch) or sent a bad response.
    #[error("token exchange refused: {0}")]
    Token(String),
    /// The ID token failed verification: wrong nonce, signature, issuer, audience, age …
    #[error("ID token rejected: {0}")]
    IdToken(String),
    #[error("logout token rejected: {0}")]
    LogoutToken(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl OidcError {
    /// True when the member's own login attempt was refused (a page saying so, with a way to
    /// log in again), as opposed to an outage.
    pub fn is_refusal(&self) -> bool {
        matches!(self, OidcError::Token(_) | OidcError::IdToken(_))
    }
}

/// A login just started: the URL to send the browser to and what the callback must check.
#[derive(Debug)]
pub struct Begin {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A verified sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub subject: String,
    pub name: String,
    pub sid: Option<String>,
    pub insurer_number: Option<String>,
    pub card_symbol: Option<String>,
    pub card_number: Option<String>,
    pub birthdate: Option<String>,
    pub amr: Vec<String>,
    pub auth_time: DateTime<Utc>,
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
}

/// Clock skew tolerated when comparing `auth_time` with `max_age`.
const SKEW_SECONDS: i64 = 60;

pub struct Rp {
    issuer: String,
    client_id: ClientId,
    client_secret: ClientSecret,
    scopes: Vec<String>,
    redirect_url: RedirectUrl,
    post_logout_url: String,
    ttl: Duration,
    http: openidconnect::reqwest::Client,
    cached: RwLock<Option<(Instant, Arc<Metadata>)>>,
}

impl Rp {
    pub fn new(cfg: &PortalConfig) -> Result<Rp, OidcError> {
        let base = cfg.base_url();
        let redirect_url =
            RedirectUrl::new(format!("{base}/callback")).map_err(|e| OidcError::Config(format!("public_url: {e}")))?;
        IssuerUrl::new(cfg.oidc.issuer.clone()).map_err(|e| OidcError::Config(format!("oidc.issuer: {e}")))?;
        // No redirects: a discovery or token endpoint that redirects is refused (SSRF).
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OidcError::Config(e.to_string()))?;
        Ok(Rp {
            issuer: cfg.oidc.issuer.trim_end_matches('/').to_string(),
            client_id: ClientId::new(cfg.oidc.client_id.clone()),
            client_secret: ClientSecret::new(cfg.oidc.client_secret.expose().to_string()),
            scopes: cfg.oidc.scopes.iter().filter(|s| *s != "openid").cloned().collect(),
            redirect_url,
            post_logout_url: format!("{base}/"),
            ttl: Duration::from_secs(cfg.oidc.discovery_ttl_seconds.max(1)),
            http,
            cached: RwLock::new(None),
        })
    }

    pub fn client_id(&self) -> &str {
        self.client_id.as_str()
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The discovery document with its JWKS; from the cache unless stale or `refresh`.
    pub async fn metadata(&self, refresh: bool) -> Result<Arc<Metadata>, OidcError> {
        if !refresh
            && let Ok(guard) = self.cached.read()
            && let Some((at, m)) = guard.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(self.issuer.clone()).map_err(|e| OidcError::Config(e.to_string()))?;
        let meta =
            Metadata::discover_async(issuer, &self.http).await.map_err(|e| OidcError::Unavailable(error_chain(&e)))?;
        let meta = Arc::new(meta);
        if let Ok(mut guard) = self.cached.write() {
            *guard = Some((Instant::now(), meta.clone()));
        }
        Ok(meta)
    }

    fn client(&self, meta: &Metadata) -> RpClient {
        Client::from_provider_metadata(meta.clone(), self.client_id.clone(), Some(self.client_secret.clone()))
            .set_redirect_uri(self.redirect_url.clone())
    }

    /// Starts a login. `max_age` asks the IdP for a sign-in at most that old, `acr_values`
    /// for an authentication level (both only on the way to results).
    pub async fn begin(
        &self,
        max_age: Option<i64>,
        acr_values: Option<&str>,
        ui_locale: &str,
    ) -> Result<Begin, OidcError> {
        let meta = self.metadata(false).await?;
        let client = self.client(&meta);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge)
            .add_extra_param("ui_locales", ui_locale.to_string());
        for s in &self.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        if let Some(m) = max_age {
            req = req.set_max_age(Duration::from_secs(m.max(0) as u64));
        }
        if let Some(acr) = acr_values.filter(|a| !a.is_empty()) {
            req = req.add_extra_param("acr_values", acr.to_string());
        }
        let (url, state, nonce) = req.url();
        Ok(Begin {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code and verifies the ID token. A key we do not know triggers one
    /// re-discovery (the IdP may have rotated keys); the code itself is used only once.
    pub async fn finish(
        &self,
        code: String,
        nonce: String,
        pkce_verifier: String,
        max_age: Option<i64>,
    ) -> Result<SignedIn, OidcError> {
        let meta = self.metadata(false).await?;
        let client = self.client(&meta);
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| OidcError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Token(error_chain(&e)))?;
        let id_token =
            token.id_token().ok_or_else(|| OidcError::Token("no id_token in the token response".into()))?.clone();
        let nonce = Nonce::new(nonce);
        let signed_in = match verify(&client, &id_token, &token, &nonce, max_age) {
            Ok(s) => s,
            Err(first) => {
                let fresh = self.metadata(true).await?;
                if fresh.jwks().keys().len() == meta.jwks().keys().len()
                    && fresh.jwks().keys().iter().all(|k| meta.jwks().keys().contains(k))
                {
                    return Err(first);
                }
                verify(&self.client(&fresh), &id_token, &token, &nonce, max_age)?
            }
        };
        Ok(signed_in)
    }

    /// Where to send the browser for RP-initiated logout, or `None` when the IdP has no
    /// end_session_endpoint (then the portal session alone ends).
    pub async fn end_session_url(&self, id_token: &str) -> Result<Option<String>, OidcError> {
        let meta = self.metadata(false).await?;
        let Some(endpoint) = meta.additional_metadata().end_session_endpoint.clone() else { return Ok(None) };
        let redirect =
            PostLogoutRedirectUrl::new(self.post_logout_url.clone()).map_err(|e| OidcError::Config(e.to_string()))?;
        let mut req =
            LogoutRequest::from(endpoint).set_client_id(self.client_id.clone()).set_post_logout_redirect_uri(redirect);
        if let Ok(hint) = id_token.parse::<KenpoIdToken>() {
            req = req.set_id_token_hint(&hint);
        }
        Ok(Some(req.http_get_url().to_string()))
    }
}

fn verify(
    client: &RpClient,
    id_token: &KenpoIdToken,
    token: &KenpoTokenResponse,
    nonce: &Nonce,
    max_age: Option<i64>,
) -> Result<SignedIn, OidcError> {
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, nonce).map_err(|e| OidcError::IdToken(error_chain(&e)))?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token.signing_alg().map_err(|e| OidcError::IdToken(e.to_string()))?;
        let key = id_token.signing_key(&verifier).map_err(|e| OidcError::IdToken(e.to_string()))?;
        let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
            .map_err(|e| OidcError::IdToken(e.to_string()))?;
        if actual != *expected {
            return Err(OidcError::IdToken("at_hash does not match the access token".into()));
        }
    }
    let auth_time = claims.auth_time().unwrap_or_else(|| claims.issue_time());
    if let Some(m) = max_age {
        let Some(at) = claims.auth_time() else {
            return Err(OidcError::IdToken("max_age was requested but auth_time is missing".into()));
        };
        if (Utc::now() - at).num_seconds() > m + SKEW_SECONDS {
            return Err(OidcError::IdToken("auth_time is older than max_age".into()));
        }
    }
    let extra = claims.additional_claims();
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_string())
        .or_else(|| claims.preferred_username().map(|u| u.as_str().to_string()))
        .unwrap_or_default();
    Ok(SignedIn {
        subject: claims.subject().as_str().to_string(),
        name,
        sid: extra.sid.clone(),
        insurer_number: extra.insurer_number.clone(),
        card_symbol: extra.card_symbol.clone(),
        card_number: extra.card_number.clone(),
        birthdate: claims.birthdate().map(|b| b.as_str().to_string()),
        amr: claims.auth_method_refs().map(|v| v.iter().map(|a| a.as_str().to_string()).collect()).unwrap_or_default(),
        auth_time,
        id_token: id_token.to_string(),
        access_token: token.access_token().secret().clone(),
        refresh_token: token.refresh_token().map(|r| r.secret().clone()),
    })
}

/// `amr` values that prove a factor beyond the password (RFC 8176).
pub const SECOND_FACTOR_AMR: &[&str] =
    &["mfa", "otp", "hwk", "swk", "sms", "tel", "fpt", "face", "iris", "retina", "vbm", "sc"];

pub fn has_second_factor(amr: &[String]) -> bool {
    amr.iter().any(|a| SECOND_FACTOR_AMR.contains(&a.as_str()))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_factor_needs_more_than_a_password() {
        assert!(!has_second_factor(&["pwd".into()]));
        assert!(!has_second_factor(&[]));
        assert!(has_second_factor(&["pwd".into(), "otp".into()]));
        assert!(has_second_factor(&["hwk".into()]));
    }

    #[test]
    fn rp_builds_from_the_dev_defaults() {
        let rp = Rp::new(&PortalConfig::default());
        assert!(rp.is_ok());
        if let Ok(rp) = rp {
            assert_eq!(rp.redirect_url.as_str(), "http://localhost:8081/callback");
            assert_eq!(rp.scopes, vec!["profile", "email", "insurance"]);
        }
    }
}
