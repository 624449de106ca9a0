//! The protocol operations one virtual user performs: discovery, token grants, userinfo,
//! introspection and the full browser login (authorization code + PKCE through the HTML form).
//! Every function returns `Err` for anything but the expected success, so callers can count
//! failures honestly.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use url::Url;

use crate::conn::{Conn, Resp};
use crate::html;

/// The endpoints of one issuer.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub issuer: String,
    pub discovery: Url,
    pub authorization: Url,
    pub token: Url,
    pub jwks: Url,
    pub userinfo: Option<Url>,
    pub introspection: Option<Url>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    userinfo_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
}

fn endpoint(name: &str, v: &str) -> Result<Url> {
    Url::parse(v).with_context(|| format!("discovery: bad {name} {v:?}"))
}

impl Endpoints {
    /// Read `{issuer}/.well-known/openid-configuration`.
    pub async fn discover(conn: &mut Conn, issuer: &str) -> Result<Self> {
        let discovery = Url::parse(&format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')))
            .with_context(|| format!("bad issuer URL {issuer}"))?;
        let r = conn.send(Method::GET, &discovery, &[], None, &format!("GET {discovery}")).await?;
        if r.status != StatusCode::OK {
            bail!("GET {discovery}: HTTP {}", r.status);
        }
        let d: Discovery =
            serde_json::from_slice(&r.body).with_context(|| format!("discovery document at {discovery}"))?;
        if d.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            bail!("discovery at {discovery} names issuer {:?}, expected {issuer:?}", d.issuer);
        }
        Ok(Endpoints {
            issuer: d.issuer,
            discovery,
            authorization: endpoint("authorization_endpoint", &d.authorization_endpoint)?,
            token: endpoint("token_endpoint", &d.token_endpoint)?,
            jwks: endpoint("jwks_uri", &d.jwks_uri)?,
            userinfo: d.userinfo_endpoint.as_deref().map(|u| endpoint("userinfo_endpoint", u)).transpose()?,
            introspection: d
                .introspection_endpoint
                .as_deref()
                .map(|u| endpoint("introspection_endpoint", u))
                .transpose()?,
        })
    }
}

/// A confidential client using `client_secret_basic`.
#[derive(Debug, Clone)]
pub struct ClientCreds {
    pub id: String,
    basic: HeaderValue,
}

impl ClientCreds {
    pub fn new(id: &str, secret: &str) -> Result<Self> {
        // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let raw = format!("{}:{}", enc(id), enc(secret));
        let basic = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(raw)))?;
        Ok(ClientCreds { id: id.to_owned(), basic })
    }
}

/// The members the driver logs in as.
#[derive(Debug, Clone)]
pub struct Users {
    pub list: Vec<(String, String)>,
}

impl Users {
    /// The `i`-th member, round robin.
    pub fn get(&self, i: usize) -> Option<(&str, &str)> {
        if self.list.is_empty() {
            return None;
        }
        self.list.get(i % self.list.len()).map(|(u, p)| (u.as_str(), p.as_str()))
    }
}

/// Everything needed to talk to one issuer as one client.
#[derive(Debug, Clone)]
pub struct Target {
    pub ep: Endpoints,
    /// Per-request timeout.
    pub timeout: std::time::Duration,
    pub client: ClientCreds,
    pub users: Arc<Users>,
    pub redirect_uri: Url,
    /// Scope of the W5/W6 login flows.
    pub scope: String,
    /// Scope of the logins that obtain refresh/access tokens for W4 and W9.
    pub token_scope: String,
    /// Scope sent with client_credentials (none when empty).
    pub cc_scope: String,
    /// Form pages (login, identify, consent, ...) submitted at most per flow.
    pub max_forms: usize,
}

/// Tokens from a token endpoint response.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

fn http_error(what: &str, r: &Resp) -> anyhow::Error {
    let snippet =
        |s: &str, n: usize| -> String { s.chars().take(n).map(|c| if c.is_control() { ' ' } else { c }).collect() };
    let detail = match serde_json::from_slice::<OAuthErrorBody>(&r.body) {
        Ok(OAuthErrorBody { error: Some(e), error_description }) => match error_description {
            Some(d) => format!("{e} ({})", snippet(&d, 80)),
            None => e,
        },
        _ => snippet(&String::from_utf8_lossy(&r.body), 80),
    };
    anyhow!("{what}: HTTP {} {detail}", r.status.as_u16())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// W1: the discovery document, 200 with an `issuer` member.
pub async fn get_discovery(t: &Target, conn: &mut Conn) -> Result<()> {
    let r = conn.send(Method::GET, &t.ep.discovery, &[], None, "discovery").await?;
    if r.status != StatusCode::OK {
        return Err(http_error("discovery", &r));
    }
    if !contains(&r.body, b"\"issuer\"") {
        bail!("discovery: body without issuer");
    }
    Ok(())
}

/// W2: the JWKS, 200 with a `keys` member.
pub async fn get_jwks(t: &Target, conn: &mut Conn) -> Result<()> {
    let r = conn.send(Method::GET, &t.ep.jwks, &[], None, "jwks").await?;
    if r.status != StatusCode::OK {
        return Err(http_error("jwks", &r));
    }
    if !contains(&r.body, b"\"keys\"") {
        bail!("jwks: body without keys");
    }
    Ok(())
}

const FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// Headers of a form POST authenticated with the client's Basic credentials.
fn basic_form_headers(t: &Target) -> [(HeaderName, HeaderValue); 2] {
    [(header::AUTHORIZATION, t.client.basic.clone()), (header::CONTENT_TYPE, FORM)]
}

async fn token_request(t: &Target, conn: &mut Conn, what: &str, form: &[(&str, &str)]) -> Result<Tokens> {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let r = conn.send(Method::POST, &t.ep.token, &basic_form_headers(t), Some(body), what).await?;
    if r.status != StatusCode::OK {
        return Err(http_error(what, &r));
    }
    let tokens: Tokens = serde_json::from_slice(&r.body).with_context(|| format!("{what}: body is not JSON"))?;
    if tokens.access_token.as_deref().is_none_or(str::is_empty) {
        bail!("{what}: response without access_token");
    }
    Ok(tokens)
}

/// W3: one client_credentials grant.
pub async fn client_credentials(t: &Target, conn: &mut Conn) -> Result<Tokens> {
    let mut form = vec![("grant_type", "client_credentials")];
    if !t.cc_scope.is_empty() {
        form.push(("scope", t.cc_scope.as_str()));
    }
    token_request(t, conn, "client_credentials", &form).await
}

/// W4: one refresh_token grant; returns the new tokens.
pub async fn refresh(t: &Target, conn: &mut Conn, refresh_token: &str) -> Result<Tokens> {
    token_request(t, conn, "refresh_token", &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
}

/// W9: introspection of an access token, expected active.
pub async fn introspect(t: &Target, conn: &mut Conn, access_token: &str) -> Result<()> {
    let url = t.ep.introspection.as_ref().context("discovery has no introspection_endpoint")?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", access_token)
        .append_pair("token_type_hint", "access_token")
        .finish();
    let r = conn.send(Method::POST, url, &basic_form_headers(t), Some(body), "introspection").await?;
    if r.status != StatusCode::OK {
        return Err(http_error("introspection", &r));
    }
    #[derive(Deserialize)]
    struct Active {
        active: bool,
    }
    let a: Active = serde_json::from_slice(&r.body).context("introspection: body without `active`")?;
    if !a.active {
        bail!("introspection: token reported inactive");
    }
    Ok(())
}

/// W9: userinfo with a bearer token, expected 200 with `sub`.
pub async fn userinfo(t: &Target, conn: &mut Conn, access_token: &str) -> Result<()> {
    let url = t.ep.userinfo.as_ref().context("discovery has no userinfo_endpoint")?;
    let bearer = HeaderValue::from_str(&format!("Bearer {access_token}")).context("access token unfit for a header")?;
    let r = conn.send(Method::GET, url, &[(header::AUTHORIZATION, bearer)], None, "userinfo").await?;
    if r.status != StatusCode::OK {
        return Err(http_error("userinfo", &r));
    }
    #[derive(Deserialize)]
    struct Sub {
        sub: String,
    }
    let s: Sub = serde_json::from_slice(&r.body).context("userinfo: body without `sub`")?;
    if s.sub.is_empty() {
        bail!("userinfo: empty sub");
    }
    Ok(())
}

/// A minimal cookie jar for one host: names and values, paths and domains ignored.
#[derive(Debug, Default)]
pub struct Jar {
    cookies: Vec<(String, String)>,
}

impl Jar {
    pub fn store(&mut self, headers: &HeaderMap) {
        for line in headers.get_all(header::SET_COOKIE) {
            let Ok(line) = line.to_str() else { continue };
            let mut parts = line.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            let expired = parts.any(|a| {
                let a = a.trim().to_ascii_lowercase();
                a.strip_prefix("max-age=").is_some_and(|v| v.trim().parse::<i64>().is_ok_and(|n| n <= 0))
                    || (a.starts_with("expires=") && a.contains("1970"))
            });
            self.cookies.retain(|(k, _)| k != name);
            if !expired && !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    pub fn header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        let pairs: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Some(pairs.join("; "))
    }
}

fn random_b64(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

/// W5/W6: one full browser login with a fresh cookie jar, then the code exchange.
/// `user` selects the member (round robin), `scope` the requested scope.
pub async fn login(t: &Target, conn: &mut Conn, user: usize, scope: &str) -> Result<Tokens> {
    let (username, password) = t.users.get(user).context("no members configured")?;
    let mut jar = Jar::default();
    let verifier = random_b64(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_b64(12);
    let mut url = t.ep.authorization.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &t.client.id)
        .append_pair("redirect_uri", t.redirect_uri.as_str())
        .append_pair("scope", scope)
        .append_pair("state", &state)
        .append_pair("nonce", &random_b64(12))
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let mut r = page_request(conn, &mut jar, Method::GET, &url, None).await?;
    let mut forms = 0usize;
    let mut password_sent = false;
    let mut code = None;
    for _hop in 0..30 {
        if r.status.is_redirection() {
            let loc = r
                .headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .with_context(|| format!("redirect without Location at {}", url.path()))?;
            let next = url.join(loc).with_context(|| format!("bad Location {loc:?}"))?;
            if same_endpoint(&next, &t.redirect_uri) {
                code = Some(authorization_response(&next, &state, &t.ep.issuer)?);
                break;
            }
            url = next;
            r = page_request(conn, &mut jar, Method::GET, &url, None).await?;
        } else if r.status == StatusCode::OK {
            let text = String::from_utf8_lossy(&r.body);
            let page_forms = html::parse_forms(&text, &url);
            let mut form = if let Some(f) = html::login_form(&page_forms) {
                if password_sent {
                    bail!(
                        "login form shown again after the password was submitted (wrong credentials?) at {}",
                        url.path()
                    );
                }
                let mut f = f.clone();
                if let Some(u) = f.username_field.clone() {
                    f.set(&u, username);
                }
                if let Some(p) = f.password_field.clone() {
                    f.set(&p, password);
                }
                password_sent = true;
                f
            } else if let Some(f) = page_forms.iter().find(|f| f.method == "post") {
                // An identifier-first page, or a consent/continue page after the password.
                let mut f = f.clone();
                if !password_sent && let Some(u) = f.username_field.clone() {
                    f.set(&u, username);
                }
                f
            } else {
                bail!("page without a login form and without a code at {}", url.path());
            };
            forms += 1;
            if forms > t.max_forms {
                bail!("more than {} form pages in one login", t.max_forms);
            }
            url = form.action.clone();
            r = if form.method == "post" {
                page_request(conn, &mut jar, Method::POST, &url, Some(form.encoded())).await?
            } else {
                form.action.set_query(Some(&form.encoded()));
                url = form.action.clone();
                page_request(conn, &mut jar, Method::GET, &url, None).await?
            };
        } else {
            return Err(http_error(&format!("login page {}", url.path()), &r));
        }
    }
    let code = code.context("too many redirects and pages without reaching the redirect_uri")?;
    let tokens = token_request(
        t,
        conn,
        "authorization_code",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", t.redirect_uri.as_str()),
            ("code_verifier", &verifier),
        ],
    )
    .await?;
    if scope.split(' ').any(|s| s == "openid") && tokens.id_token.as_deref().is_none_or(str::is_empty) {
        bail!("authorization_code: response without id_token");
    }
    Ok(tokens)
}

async fn page_request(conn: &mut Conn, jar: &mut Jar, method: Method, url: &Url, body: Option<String>) -> Result<Resp> {
    let mut headers = Vec::with_capacity(2);
    if let Some(c) = jar.header() {
        headers.push((header::COOKIE, HeaderValue::from_str(&c).context("cookie unfit for a header")?));
    }
    if body.is_some() {
        headers.push((header::CONTENT_TYPE, FORM));
    }
    let r = conn.send(method, url, &headers, body, &format!("login page {}", url.path())).await?;
    jar.store(&r.headers);
    Ok(r)
}

/// Check the redirect back to the client and return its code.
fn authorization_response(loc: &Url, state: &str, issuer: &str) -> Result<String> {
    let mut code = None;
    let mut got_state = None;
    let mut error = None;
    let mut description = None;
    let mut iss = None;
    for (k, v) in loc.query_pairs() {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => got_state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            "iss" => iss = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(e) = error {
        bail!("authorization error: {e} {}", description.unwrap_or_default());
    }
    if got_state.as_deref() != Some(state) {
        bail!("state mismatch in the authorization response");
    }
    if let Some(i) = iss
        && i.trim_end_matches('/') != issuer.trim_end_matches('/')
    {
        bail!("iss {i:?} in the authorization response differs from the issuer");
    }
    code.filter(|c| !c.is_empty()).context("redirect to redirect_uri without a code")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_urlencoded_then_base64() {
        let c = ClientCreds::new("a b", "s:cret").unwrap();
        let v = c.basic.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let raw = String::from_utf8(STANDARD.decode(v).unwrap()).unwrap();
        assert_eq!(raw, "a+b:s%3Acret");
    }

    #[test]
    fn jar_keeps_replaces_and_expires() {
        let mut jar = Jar::default();
        let mut h = HeaderMap::new();
        h.append(header::SET_COOKIE, HeaderValue::from_static("a=1; Path=/; HttpOnly"));
        h.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
        jar.store(&h);
        assert_eq!(jar.header().as_deref(), Some("a=1; b=2"));
        let mut h = HeaderMap::new();
        h.append(header::SET_COOKIE, HeaderValue::from_static("a=3"));
        h.append(header::SET_COOKIE, HeaderValue::from_static("b=x; Max-Age=0"));
        jar.store(&h);
        assert_eq!(jar.header().as_deref(), Some("a=3"));
    }

    #[test]
    fn authorization_response_checks() {
        let ok = Url::parse("http://127.0.0.1:9/cb?code=C&state=S&iss=http%3A%2F%2Fidp").unwrap();
        assert_eq!(authorization_response(&ok, "S", "http://idp").unwrap(), "C");
        assert!(authorization_response(&ok, "T", "http://idp").is_err());
        assert!(authorization_response(&ok, "S", "http://other").is_err());
        let err = Url::parse("http://127.0.0.1:9/cb?error=access_denied&state=S").unwrap();
        let msg = authorization_response(&err, "S", "http://idp").unwrap_err().to_string();
        assert!(msg.contains("access_denied"));
        let none = Url::parse("http://127.0.0.1:9/cb?state=S").unwrap();
        assert!(authorization_response(&none, "S", "http://idp").is_err());
    }
}
