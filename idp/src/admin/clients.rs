use super::AdminError;
use crate::oidc::client_auth::secret_hash;
use crate::oidc::jose::JwkSet;
use crate::store::clients::{AuthMethod, Client};
use crate::store::{self, Store};

#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub realm: String,
    pub client_id: String,
    pub redirect_uris: Vec<String>,
    pub secret: Option<String>,
    pub public: bool,
    /// JWK set (JSON text) for private_key_jwt.
    pub jwks: Option<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub signing_alg: Option<String>,
    /// client_secret_post instead of basic (both work; this is what discovery-driven RPs pick).
    pub secret_post: bool,
}

/// Redirect URIs must be absolute, without fragment; plain http only for loopback hosts
/// (RFC 8252 §7.3, and development).
fn check_uri(field: &str, uri: &str) -> Result<(), (String, String)> {
    let err = |m: &str| (field.to_string(), format!("{uri}: {m}"));
    let u = url::Url::parse(uri).map_err(|_| err("not an absolute URL"))?;
    if u.fragment().is_some() {
        return Err(err("must not contain a fragment (#)"));
    }
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(err("http is allowed only for localhost; use https")),
        // Private-use schemes for native apps (RFC 8252 §7.1) contain a dot.
        s if s.contains('.') => Ok(()),
        _ => Err(err("unsupported scheme")),
    }
}

pub fn create(store: &Store, new: NewClient) -> Result<Client, AdminError> {
    let mut errors = Vec::new();
    let id_ok = (1..=255).contains(&new.client_id.len())
        && new.client_id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if !id_ok {
        errors.push(("client-id".to_string(), "1-255 characters of a-z A-Z 0-9 - _ . :".to_string()));
    }
    if new.redirect_uris.is_empty() {
        errors.push(("redirect-uri".into(), "at least one is required".into()));
    }
    for u in &new.redirect_uris {
        if let Err(e) = check_uri("redirect-uri", u) {
            errors.push(e);
        }
    }
    for u in &new.post_logout_redirect_uris {
        if let Err(e) = check_uri("post-logout-redirect-uri", u) {
            errors.push(e);
        }
    }
    if let Some(u) = &new.backchannel_logout_uri
        && let Err(e) = check_uri("backchannel-logout-uri", u)
    {
        errors.push(e);
    }
    let kinds = [new.secret.is_some(), new.public, new.jwks.is_some()].iter().filter(|b| **b).count();
    if kinds != 1 {
        errors.push(("secret/public/jwks".into(), "give exactly one of --secret, --public, --jwks".into()));
    }
    if let Some(s) = &new.secret
        && (s.len() < 16 || s.len() > 512 || !s.chars().all(|c| c.is_ascii_graphic()))
    {
        errors.push(("secret".into(), "16-512 printable ASCII characters (use a random string)".into()));
    }
    if let Some(j) = &new.jwks {
        match serde_json::from_str::<JwkSet>(j) {
            Ok(set) if !set.keys.is_empty() && set.keys.iter().all(|k| k.kty == "RSA" || k.kty == "EC") => {}
            _ => errors.push(("jwks".into(), "a JSON JWK set with at least one RSA or EC public key".into())),
        }
    }
    let alg = new.signing_alg.clone().unwrap_or_default();
    if !alg.is_empty() && alg != "RS256" && alg != "ES256" {
        errors.push(("signing-alg".into(), "RS256 or ES256".into()));
    }
    if !errors.is_empty() {
        return Err(AdminError::Invalid(errors));
    }
    let realm = super::realms::find(store, &new.realm)?;
    let auth_method = match (&new.secret, new.public, new.secret_post) {
        (Some(_), _, false) => AuthMethod::ClientSecretBasic,
        (Some(_), _, true) => AuthMethod::ClientSecretPost,
        (None, true, _) => AuthMethod::None,
        _ => AuthMethod::PrivateKeyJwt,
    };
    let mut grant_types = vec!["authorization_code".to_string(), "refresh_token".to_string()];
    if !new.public {
        grant_types.push("client_credentials".into());
    }
    let client = Client {
        id: store::new_id(),
        realm_id: realm.id.clone(),
        client_id: new.client_id.clone(),
        public: new.public,
        auth_method,
        secret_hash: new.secret.as_deref().map(secret_hash),
        jwks: new.jwks.clone(),
        redirect_uris: new.redirect_uris.clone(),
        post_logout_redirect_uris: new.post_logout_redirect_uris.clone(),
        backchannel_logout_uri: new.backchannel_logout_uri.clone(),
        signing_alg: if alg.is_empty() { realm.settings.tokens.default_signing_alg.clone() } else { alg },
        grant_types,
        require_pkce: new.public,
    };
    store.run_sync(|c| store::clients::insert(c, &client)).map_err(|e| match e {
        store::StoreError::Conflict(_) => {
            AdminError::Exists(format!("client {} in realm {}", new.client_id, new.realm))
        }
        other => other.into(),
    })?;
    Ok(client)
}
