//! Helpers shared by the protocol tests: the relying party (the `openidconnect` crate), logging
//! in with the cookie-jar browser, raw HTTP for the requests a real RP refuses to send, JWT and
//! JWKS utilities, and a tiny HTTP receiver for back-channel logout.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kenpo_e2e::browser::{Page, query_map};
use kenpo_e2e::{Browser, Fixture, TestIdp};
use kenpo_idp::admin::clients::NewClient;
use kenpo_idp::oidc::jose;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreIdToken, CoreIdTokenClaims, CoreTokenResponse,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IntrospectionUrl, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadataWithLogout, RedirectUrl, RequestTokenError, RevocationUrl, Scope, StandardErrorResponse,
    TokenResponse,
};

pub const INVALID_CREDENTIALS: &str = "無効なユーザIDまたはパスワードです。";
pub const REAUTHENTICATE: &str = "続行する際には再度認証してください。";
pub const LOGOUT_CONFIRM: &str = "ログアウトしてもよろしいですか？";

/// The client type after discovery plus the introspection and revocation endpoints.
pub type RpClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointSet, EndpointSet, EndpointMaybeSet, EndpointMaybeSet>;

pub type TokenError = RequestTokenError<
    openidconnect::HttpClientError<openidconnect::reqwest::Error>,
    StandardErrorResponse<CoreErrorResponseType>,
>;

pub fn http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("http")
}

/// A relying party configured from discovery, as a Keycloak-configured RP would be.
pub struct Rp {
    pub client: RpClient,
    pub http: openidconnect::reqwest::Client,
    pub end_session: Option<EndSessionUrl>,
    pub client_id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

/// One authorization request as the RP built it.
pub struct AuthzRequest {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

pub async fn rp(idp: &TestIdp, f: &Fixture) -> Rp {
    rp_for(idp, &f.realm, &f.client_id, Some(&f.client_secret), &f.redirect_uri).await
}

pub async fn rp_for(idp: &TestIdp, realm: &str, client_id: &str, secret: Option<&str>, redirect_uri: &str) -> Rp {
    let http = http();
    let meta = ProviderMetadataWithLogout::discover_async(IssuerUrl::new(idp.issuer(realm)).expect("issuer"), &http)
        .await
        .expect("discovery");
    let end_session = meta.additional_metadata().end_session_endpoint.clone();
    let base = format!("{}/protocol/openid-connect", idp.issuer(realm));
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(client_id.to_string()),
        secret.map(|s| ClientSecret::new(s.to_string())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri.to_string()).expect("redirect uri"))
    .set_introspection_url(IntrospectionUrl::new(format!("{base}/token/introspect")).expect("introspection url"))
    .set_revocation_url(RevocationUrl::new(format!("{base}/revoke")).expect("revocation url"));
    Rp {
        client,
        http,
        end_session,
        client_id: client_id.to_string(),
        secret: secret.map(str::to_string),
        redirect_uri: redirect_uri.to_string(),
    }
}

impl Rp {
    /// An authorization URL with PKCE (S256), state and nonce, `openid` plus `scopes`, and any
    /// extra parameters (prompt, max_age, ...).
    pub fn authorize(&self, scopes: &[&str], extra: &[(&str, &str)]) -> AuthzRequest {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = self
            .client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for s in scopes {
            req = req.add_scope(Scope::new(s.to_string()));
        }
        for (k, v) in extra {
            req = req.add_extra_param(k.to_string(), v.to_string());
        }
        let (url, state, nonce) = req.url();
        AuthzRequest { url: url.to_string(), state, nonce, verifier }
    }

    pub async fn exchange(&self, code: &str, verifier: &PkceCodeVerifier) -> Result<CoreTokenResponse, TokenError> {
        self.client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .expect("token endpoint")
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
            .request_async(&self.http)
            .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<CoreTokenResponse, TokenError> {
        let rt = openidconnect::RefreshToken::new(refresh_token.to_string());
        self.client.exchange_refresh_token(&rt).expect("token endpoint").request_async(&self.http).await
    }

    /// Verifies an ID token as this RP (signature against the JWKS, iss, aud, exp) with the nonce
    /// it sent, or without one when `nonce` is None (a refreshed ID token may omit it).
    pub fn verify_id_token(&self, id_token: &CoreIdToken, nonce: Option<&Nonce>) -> CoreIdTokenClaims {
        let verifier = self.client.id_token_verifier();
        match nonce {
            Some(n) => id_token.claims(&verifier, n).expect("ID token verifies").clone(),
            None => {
                id_token.claims(&verifier, |_: Option<&Nonce>| Ok::<(), String>(())).expect("ID token verifies").clone()
            }
        }
    }
}

/// The OAuth error code of a failed token request made with openidconnect.
pub fn oauth_error(e: &TokenError) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => r.error().as_ref().to_string(),
        other => format!("not an OAuth error response: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Browser side
// ---------------------------------------------------------------------------------------------

/// GETs `url` in the browser and follows redirects inside the IdP; stops at a redirect leaving it.
pub async fn open(browser: &Browser, idp: &TestIdp, url: &str) -> Page {
    browser.follow(browser.get(url).await, &idp.base_url).await
}

/// True when the page is the login form.
pub fn is_login_page(page: &Page) -> bool {
    page.status == 200 && page.body.contains("name=\"password\"") && page.body.contains("name=\"username\"")
}

/// Opens `url`, expects the login page, signs in as the fixture's member and returns the
/// redirect back to the relying party.
pub async fn login_at(browser: &Browser, idp: &TestIdp, f: &Fixture, url: &str) -> Page {
    let page = open(browser, idp, url).await;
    assert!(is_login_page(&page), "expected the login page, got {} {:?}: {}", page.status, page.location, page.body);
    let done = browser.submit_login(&page, &f.username, &f.password, &[]).await;
    let done = browser.follow(done, &idp.base_url).await;
    assert_eq!(done.status, 302, "login did not return to the client: {}", done.body);
    done
}

/// The query of a redirect to the relying party (asserts that it is one, to `redirect_uri`).
pub fn callback(page: &Page, redirect_uri: &str) -> HashMap<String, String> {
    assert_eq!(page.status, 302, "expected a redirect to the client, got: {}", page.body);
    let loc = page.location.clone().expect("Location");
    assert!(loc.starts_with(&format!("{redirect_uri}?")), "redirect to {loc}, expected {redirect_uri}");
    query_map(&loc)
}

/// A member signed in at an RP: the browser (with its SSO cookie), the RP, the code used and
/// the token response.
pub struct SignedIn {
    pub browser: Browser,
    pub rp: Rp,
    pub code: String,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
    pub tokens: CoreTokenResponse,
}

impl SignedIn {
    pub fn access_token(&self) -> String {
        self.tokens.access_token().secret().clone()
    }
    pub fn refresh_token(&self) -> String {
        self.tokens.refresh_token().expect("refresh token").secret().clone()
    }
    pub fn id_token(&self) -> &CoreIdToken {
        self.tokens.id_token().expect("id token")
    }
    pub fn raw_id_token(&self) -> String {
        self.id_token().to_string()
    }
    pub fn claims(&self) -> CoreIdTokenClaims {
        self.rp.verify_id_token(self.id_token(), Some(&self.nonce))
    }
    pub fn sid(&self) -> String {
        jwt_claims(&self.raw_id_token())["sid"].as_str().expect("sid in the ID token").to_string()
    }
}

/// The whole code flow for the fixture's client with scopes `profile email`, in a new browser.
pub async fn sign_in(idp: &TestIdp, f: &Fixture) -> SignedIn {
    sign_in_with(idp, f, rp(idp, f).await, Browser::new(), &["profile", "email"]).await
}

/// The whole code flow: authorize, log in, code, exchange with PKCE, ID token verified.
pub async fn sign_in_with(idp: &TestIdp, f: &Fixture, rp: Rp, browser: Browser, scopes: &[&str]) -> SignedIn {
    let a = rp.authorize(scopes, &[]);
    let done = login_at(&browser, idp, f, &a.url).await;
    let q = callback(&done, &rp.redirect_uri);
    assert_eq!(q.get("state"), Some(a.state.secret()));
    assert_eq!(q.get("iss").map(String::as_str), Some(idp.issuer(&f.realm).as_str()));
    let code = q.get("code").expect("code").clone();
    let tokens = rp.exchange(&code, &a.verifier).await.expect("token response");
    let s = SignedIn { browser, rp, code, nonce: a.nonce, verifier: a.verifier, tokens };
    s.claims();
    s
}

/// Authorizes in a browser that has an SSO session: the code must come back without a login page.
pub async fn code_without_login(
    browser: &Browser,
    idp: &TestIdp,
    rp: &Rp,
    extra: &[(&str, &str)],
) -> (String, AuthzRequest) {
    let a = rp.authorize(&["profile", "email"], extra);
    let page = open(browser, idp, &a.url).await;
    assert!(!is_login_page(&page), "the login page was shown although the member has an SSO session");
    let q = callback(&page, &rp.redirect_uri);
    assert_eq!(q.get("state"), Some(a.state.secret()));
    let code = q.get("code").unwrap_or_else(|| panic!("no code in the redirect: {q:?}")).clone();
    (code, a)
}

/// A second client in the fixture's realm, for the same member. Returns a fixture for it.
pub fn add_client(idp: &TestIdp, f: &Fixture, client_id: &str, tweak: impl FnOnce(&mut NewClient)) -> Fixture {
    let secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
    let redirect_uri = format!("http://127.0.0.1:9/{client_id}/callback");
    let mut c = NewClient {
        realm: f.realm.clone(),
        client_id: client_id.into(),
        redirect_uris: vec![redirect_uri.clone()],
        secret: Some(secret.clone()),
        post_logout_redirect_uris: vec![format!("http://127.0.0.1:9/{client_id}/bye")],
        ..Default::default()
    };
    tweak(&mut c);
    kenpo_idp::admin::clients::create(&idp.state.store, c).expect("second client");
    Fixture { client_id: client_id.into(), client_secret: secret, redirect_uri, ..f.clone() }
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
    /// The OAuth `error` of a JSON error body.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_else(|| panic!("no error in: {}", self.body)).to_string()
    }
}

fn raw_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

pub fn url_enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn endpoint(idp: &TestIdp, realm: &str, path: &str) -> String {
    format!("{}/protocol/openid-connect/{path}", idp.issuer(realm))
}

async fn to_resp(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap_or_default();
    Resp { status, headers, body }
}

/// POSTs a form, with HTTP Basic client credentials when given.
pub async fn post_form(url: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Resp {
    let mut rb = raw_client().post(url).form(form);
    if let Some((id, secret)) = basic {
        rb = rb.basic_auth(id, Some(secret));
    }
    to_resp(rb.send().await.expect("POST")).await
}

/// GET with an optional bearer token.
pub async fn get_bearer(url: &str, token: Option<&str>) -> Resp {
    let mut rb = raw_client().get(url);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    to_resp(rb.send().await.expect("GET")).await
}

pub async fn get(url: &str) -> Resp {
    get_bearer(url, None).await
}

/// A token request authenticated as the fixture's client with client_secret_basic.
pub async fn token_raw(idp: &TestIdp, f: &Fixture, form: &[(&str, &str)]) -> Resp {
    post_form(&endpoint(idp, &f.realm, "token"), form, Some((&f.client_id, &f.client_secret))).await
}

pub async fn refresh_raw(idp: &TestIdp, f: &Fixture, refresh_token: &str) -> Resp {
    token_raw(idp, f, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
}

/// Introspection as the fixture's client; asserts a 200 and returns the JSON.
pub async fn introspect(idp: &TestIdp, f: &Fixture, token: &str) -> serde_json::Value {
    let r = post_form(
        &endpoint(idp, &f.realm, "token/introspect"),
        &[("token", token)],
        Some((&f.client_id, &f.client_secret)),
    )
    .await;
    assert_eq!(r.status, 200, "introspection: {}", r.body);
    r.json()
}

pub async fn userinfo(idp: &TestIdp, realm: &str, token: Option<&str>) -> Resp {
    get_bearer(&endpoint(idp, realm, "userinfo"), token).await
}

/// Runs raw SQL on the IdP's database (both backends).
pub async fn sql(idp: &TestIdp, stmt: &str) {
    let stmt = stmt.to_string();
    idp.state.store.run(move |c| c.execute_raw(&stmt)).await.expect("SQL");
}

// ---------------------------------------------------------------------------------------------
// JWT
// ---------------------------------------------------------------------------------------------

pub fn jwt_header(token: &str) -> serde_json::Value {
    jose::decode_unverified(token).expect("a JWT").0
}

pub fn jwt_claims(token: &str) -> serde_json::Value {
    jose::decode_unverified(token).expect("a JWT").1
}

/// The realm's JWKS fetched over HTTP, as an RP gets it.
pub async fn realm_jwks(idp: &TestIdp, realm: &str) -> Vec<jose::Jwk> {
    let r = get(&endpoint(idp, realm, "certs")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str::<jose::JwkSet>(&r.body).expect("a JWK set").keys
}

/// Verifies a JWT against the realm's published keys; returns (header, claims).
pub async fn verify_with_realm_keys(idp: &TestIdp, realm: &str, token: &str) -> (serde_json::Value, serde_json::Value) {
    let keys = realm_jwks(idp, realm).await;
    jose::verify_jwt(token, &keys).unwrap_or_else(|e| panic!("JWT does not verify against the realm JWKS: {e}"))
}

pub fn now_epoch() -> i64 {
    chrono::Utc::now().timestamp()
}

// ---------------------------------------------------------------------------------------------
// Back-channel logout receiver
// ---------------------------------------------------------------------------------------------

/// A minimal HTTP server on 127.0.0.1:<port>: every request body is recorded, every request
/// answered 200.
pub struct Receiver {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
    /// (request line + headers, body) of every request so far.
    pub fn received(&self) -> Vec<(String, String)> {
        self.requests.lock().expect("lock").clone()
    }
}

pub async fn receiver() -> Receiver {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
    let port = listener.local_addr().expect("addr").port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let store = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let store = store.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let len = head
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break (head, String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string());
                    }
                };
                store.lock().expect("lock").push((head, body));
                let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Receiver { port, requests }
}

/// A localhost port with nothing listening on it (bound, then released).
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Sleeps a little between polls of something asynchronous (bounded loops only).
pub async fn pause() {
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}
