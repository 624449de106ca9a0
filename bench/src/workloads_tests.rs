//! Workload tests against tiny local HTTP servers (std threads writing raw HTTP/1.1).

use super::*;
use crate::flows::{ClientCreds, Endpoints, Users};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use url::Url;

struct Req {
    method: String,
    url: Url,
    headers: HashMap<String, String>,
    body: String,
}

impl Req {
    fn query(&self, k: &str) -> Option<String> {
        self.url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned())
    }
    fn form(&self, k: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes()).find(|(n, _)| n == k).map(|(_, v)| v.into_owned())
    }
}

type Handler = Arc<dyn Fn(&Req) -> String + Send + Sync>;

fn resp(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut s = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.push_str(body);
    s
}

/// Serve `handler` on 127.0.0.1:<random port>, keep-alive, one thread per connection.
fn serve(handler: Handler) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let handler = handler.clone();
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or("").to_owned();
                    let target = parts.next().unwrap_or("/").to_owned();
                    let mut headers = HashMap::new();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                        }
                    }
                    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let mut body = vec![0u8; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let req = Req {
                        method,
                        url: Url::parse(&format!("http://{addr}{target}")).unwrap(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    let out = handler(&req);
                    if writer.write_all(out.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn target(addr: SocketAddr) -> Arc<Target> {
    let base = format!("http://{addr}");
    let u = |p: &str| Url::parse(&format!("{base}{p}")).unwrap();
    Arc::new(Target {
        ep: Endpoints {
            issuer: base.clone(),
            discovery: u("/.well-known/openid-configuration"),
            authorization: u("/auth"),
            token: u("/token"),
            jwks: u("/jwks"),
            userinfo: Some(u("/userinfo")),
            introspection: Some(u("/introspect")),
        },
        timeout: Duration::from_secs(5),
        client: ClientCreds::new("bench-client", "bench-secret").unwrap(),
        users: Arc::new(Users { list: vec![("bench00001".into(), "right-password-1".into())] }),
        redirect_uri: Url::parse("http://127.0.0.1:9/cb").unwrap(),
        scope: "openid".into(),
        token_scope: "openid offline_access".into(),
        cc_scope: String::new(),
        max_forms: 4,
    })
}

const LOGIN_PAGE: &str = r#"<html><body><form method="post"
  action="login?flow=F1&amp;step=pw"><input type="hidden" name="csrf" value="tok123">
  <input type="text" name="username"><input type="password" name="password">
  <button type="submit">Sign in</button></form></body></html>"#;

/// A fake IdP with a cookie, a CSRF token and a relative form action. With `deny`, the
/// password POST answers with an `error=access_denied` redirect whatever the password.
fn fake_idp(deny: bool) -> Handler {
    let refreshes = Arc::new(AtomicUsize::new(0));
    Arc::new(move |r: &Req| match (r.method.as_str(), r.url.path()) {
        ("GET", "/auth") => {
            let state = r.query("state").unwrap_or_default();
            let cookie = format!("flow={state}; Path=/; HttpOnly");
            resp("302 Found", &[("Location", "/login?flow=F1"), ("Set-Cookie", &cookie)], "")
        }
        ("GET", "/login") => resp("200 OK", &[("Content-Type", "text/html")], LOGIN_PAGE),
        ("POST", "/login") => {
            let state = r.headers.get("cookie").and_then(|c| c.strip_prefix("flow=")).unwrap_or("").to_owned();
            let csrf_ok = r.form("csrf").as_deref() == Some("tok123")
                && r.query("step").as_deref() == Some("pw")
                && r.form("username").as_deref() == Some("bench00001");
            if deny {
                let loc = format!("http://127.0.0.1:9/cb?error=access_denied&state={state}");
                resp("302 Found", &[("Location", &loc)], "")
            } else if csrf_ok && r.form("password").as_deref() == Some("right-password-1") {
                let loc = format!("http://127.0.0.1:9/cb?code=C0DE&state={state}");
                resp("302 Found", &[("Location", &loc)], "")
            } else {
                resp("200 OK", &[("Content-Type", "text/html")], LOGIN_PAGE)
            }
        }
        ("POST", "/token") => {
            let basic_ok = r.headers.get("authorization").is_some_and(|a| a.starts_with("Basic "));
            let body = match r.form("grant_type").as_deref() {
                Some("authorization_code") if basic_ok && r.form("code").as_deref() == Some("C0DE") => {
                    r#"{"access_token":"at","id_token":"a.b.c","refresh_token":"rt-0"}"#.to_owned()
                }
                Some("refresh_token") if basic_ok => {
                    let n = refreshes.fetch_add(1, Ordering::Relaxed) + 1;
                    format!(r#"{{"access_token":"at","refresh_token":"rt-{n}"}}"#)
                }
                _ => return resp("400 Bad Request", &[], r#"{"error":"invalid_grant"}"#),
            };
            resp("200 OK", &[("Content-Type", "application/json")], &body)
        }
        _ => resp("404 Not Found", &[], "not found"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_counted_never_as_successes() {
    let addr = serve(Arc::new(|_r: &Req| resp("500 Internal Server Error", &[], "oops")));
    let t = target(addr);
    for kind in [Kind::Discovery, Kind::Jwks, Kind::ClientCredentials] {
        let tally = run(kind, t.clone(), 4, Duration::from_secs(1), Judge::default()).await;
        assert_eq!(tally.ok(), 0, "{kind:?}");
        assert!(tally.errors > 0, "{kind:?}");
        assert!(tally.error_kinds.keys().any(|k| k.contains("HTTP 500")), "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_is_an_error() {
    let addr = serve(Arc::new(|_r: &Req| resp("200 OK", &[], "{}")));
    let t = target(addr);
    let tally = run(Kind::Discovery, t.clone(), 2, Duration::from_secs(1), Judge::default()).await;
    assert_eq!(tally.ok(), 0);
    assert!(tally.errors > 0);
    let tally = run(Kind::ClientCredentials, t, 2, Duration::from_secs(1), Judge::default()).await;
    assert_eq!(tally.ok(), 0);
    assert!(tally.errors > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_error_redirect_is_counted_as_error() {
    let t = target(serve(fake_idp(true)));
    let tally = run(Kind::Login, t.clone(), 4, Duration::from_secs(1), Judge::default()).await;
    assert_eq!(tally.ok(), 0);
    assert!(tally.errors > 0);
    assert!(tally.error_kinds.keys().any(|k| k.contains("access_denied")));
    // W4 cannot even obtain its tokens: every attempt is an error.
    let tally = run(Kind::Refresh, t, 2, Duration::from_secs(1), Judge::default()).await;
    assert_eq!(tally.ok(), 0);
    assert!(tally.errors > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_flow_succeeds_and_wrong_password_fails() {
    let t = target(serve(fake_idp(false)));
    let tokens = flows::login(&t, &mut crate::conn::Conn::new(Duration::from_secs(5)), 0, "openid").await.unwrap();
    assert_eq!(tokens.refresh_token.as_deref(), Some("rt-0"));

    let mut wrong = (*t).clone();
    wrong.users = Arc::new(Users { list: vec![("bench00001".into(), "wrong-password".into())] });
    let err = flows::login(&wrong, &mut crate::conn::Conn::new(Duration::from_secs(5)), 0, "openid").await.unwrap_err();
    assert!(format!("{err:#}").contains("wrong credentials"), "{err:#}");
    let tally = run(Kind::Login, Arc::new(wrong), 2, Duration::from_millis(500), Judge::default()).await;
    assert_eq!(tally.ok(), 0);
    assert!(tally.errors > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_uses_the_rotated_token() {
    let t = target(serve(fake_idp(false)));
    let judge = Judge { expect_rotation: true };
    let tally = run(Kind::Refresh, t, 2, Duration::from_millis(500), judge).await;
    assert_eq!(tally.errors, 0, "{:?}", tally.error_kinds);
    assert_eq!(tally.notes.get("refresh tokens rotated").copied(), Some(tally.ok()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_ops_stops_the_cell_after_exactly_that_many_operations() {
    let t = target(serve(fake_idp(false)));
    let mut p = prepare(Kind::Login, t.clone(), 4, Judge::default()).await;
    p.max_ops = Some(25);
    let tally = measure(p, Duration::from_secs(30)).await;
    assert_eq!((tally.ok(), tally.errors), (25, 0), "{:?}", tally.error_kinds);
    // W4 logs in before the clock (not counted) and then refreshes exactly max_ops times.
    let mut p = prepare(Kind::Refresh, t, 3, Judge { expect_rotation: true }).await;
    p.max_ops = Some(10);
    let tally = measure(p, Duration::from_secs(30)).await;
    assert_eq!((tally.ok(), tally.errors), (10, 0), "{:?}", tally.error_kinds);
}
