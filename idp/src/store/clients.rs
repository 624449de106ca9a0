use diesel::prelude::*;
use serde::Serialize;

use super::schema::clients;
use super::{AnyConnection, StoreError, from_json, to_json};

/// How a client proves who it is at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }
    pub fn parse(s: &str) -> Option<AuthMethod> {
        [Self::ClientSecretBasic, Self::ClientSecretPost, Self::PrivateKeyJwt, Self::None]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// A relying party registered in a realm.
#[derive(Debug, Clone)]
pub struct Client {
    /// Internal id (foreign keys point here).
    pub id: String,
    pub realm_id: String,
    /// The OAuth `client_id`.
    pub client_id: String,
    pub public: bool,
    /// A confidential client with a secret may use basic or post; this is the registered one.
    pub auth_method: AuthMethod,
    pub secret_hash: Option<String>,
    pub jwks: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub signing_alg: String,
    pub grant_types: Vec<String>,
    pub require_pkce: bool,
}

impl Client {
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = clients)]
struct ClientRow {
    id: String,
    realm_id: String,
    client_id: String,
    kind: String,
    auth_method: String,
    secret_hash: Option<String>,
    jwks: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    backchannel_logout_uri: Option<String>,
    signing_alg: String,
    grant_types: String,
    require_pkce: bool,
    created_at: chrono::NaiveDateTime,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Client, StoreError> {
        Ok(Client {
            auth_method: AuthMethod::parse(&r.auth_method)
                .ok_or_else(|| StoreError::Corrupt(format!("client auth method {}", r.auth_method)))?,
            redirect_uris: from_json("redirect_uris", &r.redirect_uris)?,
            post_logout_redirect_uris: from_json("post_logout_redirect_uris", &r.post_logout_redirect_uris)?,
            grant_types: from_json("grant_types", &r.grant_types)?,
            public: r.kind == "public",
            id: r.id,
            realm_id: r.realm_id,
            client_id: r.client_id,
            secret_hash: r.secret_hash,
            jwks: r.jwks,
            backchannel_logout_uri: r.backchannel_logout_uri,
            signing_alg: r.signing_alg,
            require_pkce: r.require_pkce,
        })
    }
}

pub fn insert(c: &mut AnyConnection, client: &Client) -> Result<(), StoreError> {
    let row = ClientRow {
        id: client.id.clone(),
        realm_id: client.realm_id.clone(),
        client_id: client.client_id.clone(),
        kind: if client.public { "public" } else { "confidential" }.into(),
        auth_method: client.auth_method.as_str().into(),
        secret_hash: client.secret_hash.clone(),
        jwks: client.jwks.clone(),
        redirect_uris: to_json(&client.redirect_uris),
        post_logout_redirect_uris: to_json(&client.post_logout_redirect_uris),
        backchannel_logout_uri: client.backchannel_logout_uri.clone(),
        signing_alg: client.signing_alg.clone(),
        grant_types: to_json(&client.grant_types),
        require_pkce: client.require_pkce,
        created_at: super::now(),
    };
    diesel::insert_into(clients::table).values(&row).execute(c)?;
    Ok(())
}

pub fn find(c: &mut AnyConnection, realm_id: &str, client_id: &str) -> Result<Option<Client>, StoreError> {
    clients::table
        .filter(clients::realm_id.eq(realm_id))
        .filter(clients::client_id.eq(client_id))
        .select(ClientRow::as_select())
        .first(c)
        .optional()?
        .map(Client::try_from)
        .transpose()
}

pub fn find_by_id(c: &mut AnyConnection, id: &str) -> Result<Option<Client>, StoreError> {
    clients::table.find(id).select(ClientRow::as_select()).first(c).optional()?.map(Client::try_from).transpose()
}

pub fn list(c: &mut AnyConnection, realm_id: &str) -> Result<Vec<Client>, StoreError> {
    clients::table
        .filter(clients::realm_id.eq(realm_id))
        .order(clients::client_id.asc())
        .select(ClientRow::as_select())
        .load(c)?
        .into_iter()
        .map(Client::try_from)
        .collect()
}
