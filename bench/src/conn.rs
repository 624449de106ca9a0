//! One HTTP/1.1 keep-alive connection per virtual user, straight on hyper: no pool, no
//! redirect or cookie machinery, so the driver spends as little CPU per request as it can
//! (about 20 % less than a pooled `reqwest` client). Plain http only.

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use url::Url;

/// Whether the URL's host is a loopback address (or `localhost`): load stays on this machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// A response read to its end.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A lazily opened connection to one `host:port`; reopened when the server closes it or
/// when a request goes to another `host:port`.
pub struct Conn {
    timeout: Duration,
    authority: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(timeout: Duration) -> Self {
        Conn { timeout, authority: String::new(), sender: None }
    }

    async fn open(&mut self, authority: &str) -> Result<()> {
        let stream = tokio::net::TcpStream::connect(authority).await.with_context(|| format!("connect {authority}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // The connection ends when the server closes it or the sender is dropped;
            // a failure shows up on the request that was in flight.
            let _ = conn.await;
        });
        authority.clone_into(&mut self.authority);
        self.sender = Some(sender);
        Ok(())
    }

    /// Send one request and read the whole response. `what` prefixes error messages.
    pub async fn send(
        &mut self,
        method: Method,
        url: &Url,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<String>,
        what: &str,
    ) -> Result<Resp> {
        match tokio::time::timeout(self.timeout, self.send_inner(method, url, headers, body)).await {
            Ok(r) => r.with_context(|| format!("{what}: network error")),
            Err(_) => {
                self.sender = None;
                bail!("{what}: timed out after {:?}", self.timeout)
            }
        }
    }

    async fn send_inner(
        &mut self,
        method: Method,
        url: &Url,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<String>,
    ) -> Result<Resp> {
        if url.scheme() != "http" {
            bail!("only http:// URLs are supported, not {}", url.scheme());
        }
        if !is_loopback(url) {
            bail!("refusing to send load to {}: loopback only", url.host_str().unwrap_or("?"));
        }
        let host = url.host_str().context("URL without host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let connect_to = format!("{host}:{port}");
        let reusable = self.authority == connect_to && self.sender.as_ref().is_some_and(|s| !s.is_closed());
        if !reusable {
            self.sender = None;
            self.open(&connect_to).await?;
        }
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let mut builder = Request::builder().method(method).uri(path).header(header::HOST, authority);
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        let req = builder.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let sender = self.sender.as_mut().context("no connection")?;
        if sender.ready().await.is_err() {
            // Closed while idle (before anything was sent): open a new one once.
            self.sender = None;
            self.open(&connect_to).await?;
        }
        let sender = self.sender.as_mut().context("no connection")?;
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(anyhow!(e));
            }
        };
        let status = resp.status();
        let (parts, body) = resp.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.sender = None;
                return Err(anyhow!(e).context("reading body"));
            }
        };
        Ok(Resp { status, headers: parts.headers, body })
    }
}
