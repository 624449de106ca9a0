//! A headless Chromium driven over the Chrome DevTools Protocol (CDP), for end-to-end tests that
//! need a real browser: JavaScript, real form submission and WebAuthn through a virtual
//! authenticator (passkeys without a security key or a human).
//!
//! ```ignore
//! let chrome = Chrome::launch().await?;
//! let page = chrome.new_page().await?;
//! let authenticator = page.add_virtual_authenticator(VirtualAuthenticator::default()).await?;
//! page.goto(&format!("http://localhost:{port}/login")).await?;
//! page.fill("#username", "alice").await?;
//! page.click("button[type=submit]").await?;
//! page.wait_for("location.pathname === '/done'", "the done page").await?;
//! ```
//!
//! **WebAuthn needs a secure context and a valid RP ID.** Load pages from
//! `http://localhost:<port>` (plain HTTP on `localhost` counts as secure). An IP address such as
//! `127.0.0.1` is not a valid RP ID, so `navigator.credentials` calls made from
//! `http://127.0.0.1:<port>` fail with a `SecurityError`.
//!
//! The browser: `$KENPO_CHROMIUM`, else `/usr/bin/chromium`, else `chromium` on `PATH`. When none
//! exists and we are root with `apt-get`, [`Chrome::launch`] installs Debian's `chromium` package
//! once (a file lock keeps parallel tests from racing). Every [`Chrome`] is its own process with
//! its own throwaway profile directory, so tests running in parallel share nothing; the process
//! is killed and the directory removed on drop.
//!
//! The CDP client is deliberately small: one websocket to the browser, one task that reads it and
//! hands answers to their callers by `id` and events to subscribers, pages attached with
//! `flatten: true` (their commands carry a `sessionId`). Every call has a timeout whose error
//! names the CDP method; a closed connection gives errors, never panics.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// How long one CDP call may take before it is reported as hung.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Page::goto`] waits for the page's `load` event.
const LOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Page::wait_for`] polls.
const WAIT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long [`Chrome::launch`] waits for the browser to open its DevTools port.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Finding (and if need be installing) the browser
// ---------------------------------------------------------------------------------------------

const INSTALL_HINT: &str = "Chromium is not installed: install Debian's `chromium` package \
     (`apt-get install -y chromium`, as root) or point KENPO_CHROMIUM at a Chromium/Chrome binary";

fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KENPO_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let default = Path::new("/usr/bin/chromium");
    if default.is_file() {
        return Some(default.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("chromium")).find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.trim_ascii() == b"0").unwrap_or(false)
}

/// Installs `chromium` with apt-get, at most once per machine at a time: the first test takes a
/// file lock and installs, the others wait for the lock and then find the binary.
fn install_chromium() -> Result<PathBuf> {
    static ATTEMPTED: Mutex<bool> = Mutex::new(false);
    let mut attempted = ATTEMPTED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = find_binary() {
        return Ok(p);
    }
    if *attempted {
        bail!("{INSTALL_HINT} (installing it with apt-get failed earlier in this run)");
    }
    *attempted = true;
    if !is_root() || !Path::new("/usr/bin/apt-get").exists() {
        bail!("{INSTALL_HINT}");
    }
    let lock_path = std::env::temp_dir().join("kenpo-chromium-install.lock");
    let lock = std::fs::File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("locking {}", lock_path.display()))?;
    if let Some(p) = find_binary() {
        return Ok(p);
    }
    eprintln!("chrome: Chromium is missing; installing Debian's `chromium` package with apt-get");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(["-o", "DPkg::Lock::Timeout=600"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
    };
    let mut out = apt(&["install", "-y", "-qq", "chromium"]);
    if !out.as_ref().is_ok_and(|o| o.status.success()) {
        // A fresh machine often has no package lists yet.
        let _ = apt(&["update", "-qq"]);
        out = apt(&["install", "-y", "-qq", "chromium"]);
    }
    let _ = lock.unlock();
    match (out, find_binary()) {
        (_, Some(p)) => Ok(p),
        (Ok(o), None) => bail!("{INSTALL_HINT}; `apt-get install -y chromium` failed: {}", tail(&o.stderr, 1500)),
        (Err(e), None) => bail!("{INSTALL_HINT}; running apt-get failed: {e}"),
    }
}

fn tail(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    match s.char_indices().rev().nth(max) {
        Some((i, _)) => format!("…{}", &s[i..]),
        None => s.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// The CDP connection
// ---------------------------------------------------------------------------------------------

/// A CDP event: `method` such as `Page.lifecycleEvent`, its `params`, and the session of the page
/// it comes from (`None` for browser-level events).
#[derive(Clone, Debug)]
pub struct Event {
    pub method: String,
    pub params: Value,
    pub session_id: Option<String>,
}

type Answer = std::result::Result<Value, String>;

struct Conn {
    out: mpsc::UnboundedSender<String>,
    /// Callers waiting for an answer, by message id; `None` once the connection is closed.
    pending: Mutex<Option<HashMap<u64, oneshot::Sender<Answer>>>>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Event>>>,
    next_id: AtomicU64,
    closed_reason: Mutex<Option<String>>,
}

impl Conn {
    fn closed_error(&self, method: &str) -> anyhow::Error {
        let reason = self.closed_reason.lock().unwrap_or_else(|e| e.into_inner()).clone();
        anyhow!("CDP {method}: the DevTools connection is closed ({})", reason.as_deref().unwrap_or("browser gone"))
    }

    async fn call(&self, method: &str, params: Value, session_id: Option<&str>, timeout: Duration) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session_id {
            msg["sessionId"] = json!(s);
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let Some(pending) = pending.as_mut() else { return Err(self.closed_error(method)) };
            pending.insert(id, tx);
        }
        if self.out.send(msg.to_string()).is_err() {
            self.forget(id);
            return Err(self.closed_error(method));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(error))) => bail!("CDP {method} failed: {error}"),
            Ok(Err(_)) => Err(self.closed_error(method)),
            Err(_) => {
                self.forget(id);
                bail!("CDP {method}: no answer from the browser within {}s", timeout.as_secs())
            }
        }
    }

    fn forget(&self, id: u64) {
        if let Some(p) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            p.remove(&id);
        }
    }

    fn subscribe(&self) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
        rx
    }

    fn dispatch(&self, text: &str) {
        let Ok(mut msg) = serde_json::from_str::<Value>(text) else { return };
        if let Some(id) = msg.get("id").and_then(Value::as_u64) {
            let waiter = self.pending.lock().unwrap_or_else(|e| e.into_inner()).as_mut().and_then(|p| p.remove(&id));
            if let Some(waiter) = waiter {
                let answer = match msg.get("error") {
                    Some(e) => {
                        let mut m = e.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_string();
                        if let Some(data) = e.get("data").and_then(Value::as_str) {
                            m = format!("{m} ({data})");
                        }
                        Err(m)
                    }
                    None => Ok(msg.get_mut("result").map(Value::take).unwrap_or(Value::Null)),
                };
                let _ = waiter.send(answer);
            }
        } else if let Some(method) = msg.get("method").and_then(Value::as_str) {
            let event = Event {
                method: method.to_string(),
                params: msg.get("params").cloned().unwrap_or(Value::Null),
                session_id: msg.get("sessionId").and_then(Value::as_str).map(str::to_string),
            };
            self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).retain(|s| s.send(event.clone()).is_ok());
        }
    }

    /// Fails every waiting and future call with `reason`.
    fn shut(&self, reason: String) {
        *self.closed_reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.clone());
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        for (_, waiter) in pending.into_iter().flatten() {
            let _ = waiter.send(Err(format!("the DevTools connection closed: {reason}")));
        }
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The one task that owns the websocket: writes what callers queue, reads and dispatches the rest.
async fn run_socket(mut ws: Socket, mut outgoing: mpsc::UnboundedReceiver<String>, conn: Arc<Conn>) {
    let reason = loop {
        tokio::select! {
            msg = outgoing.recv() => match msg {
                Some(text) => {
                    if let Err(e) = ws.send(Message::text(text)).await {
                        break format!("websocket write failed: {e}");
                    }
                }
                None => {
                    let _ = ws.close(None).await;
                    break "the client went away".to_string();
                }
            },
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => conn.dispatch(text.as_str()),
                Some(Ok(Message::Close(_))) | None => break "the browser closed it".to_string(),
                Some(Ok(_)) => {}
                Some(Err(e)) => break format!("websocket read failed: {e}"),
            },
        }
    };
    conn.shut(reason);
}

// ---------------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------------

/// A headless Chromium process and one DevTools connection to it. Killed on drop.
pub struct Chrome {
    conn: Arc<Conn>,
    child: Child,
    socket_task: tokio::task::JoinHandle<()>,
    dir: Option<tempfile::TempDir>,
}

impl Chrome {
    /// Starts a headless Chromium with a fresh profile and connects to it.
    pub async fn launch() -> Result<Chrome> {
        let binary = match find_binary() {
            Some(p) => p,
            None => tokio::task::spawn_blocking(install_chromium).await.context("installing Chromium")??,
        };
        if !binary.is_file() {
            bail!("{INSTALL_HINT} ({} does not exist)", binary.display());
        }
        let dir = tempfile::Builder::new().prefix("kenpo-chrome-").tempdir().context("creating a profile dir")?;
        let profile = dir.path().join("profile");
        let log_path = dir.path().join("chrome.log");
        let log = std::fs::File::create(&log_path).context("creating the browser log")?;
        let mut child = Command::new(&binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--password-store=basic",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("browser log")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;

        let port_file = profile.join("DevToolsActivePort");
        let started = Instant::now();
        let ws_url = loop {
            // Line 1: the port; line 2: the browser target's path. Written once the port is open.
            if let Ok(s) = std::fs::read_to_string(&port_file)
                && let Some((port, path)) = s.split_once('\n')
                && path.trim().starts_with("/devtools/browser/")
            {
                break format!("ws://127.0.0.1:{}{}", port.trim(), path.trim());
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || started.elapsed() > LAUNCH_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                let mut log = Vec::new();
                let _ = std::fs::File::open(&log_path).and_then(|mut f| f.read_to_end(&mut log));
                let what = match exited {
                    Some(status) => format!("exited ({status})"),
                    None => format!("did not open its DevTools port within {}s", LAUNCH_TIMEOUT.as_secs()),
                };
                bail!("{} {what}; its output:\n{}", binary.display(), tail(&log, 3000));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };

        let connected = tokio::time::timeout(CALL_TIMEOUT, tokio_tungstenite::connect_async(ws_url.as_str())).await;
        let ws = match connected {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("connecting to the browser at {ws_url}: {e}")
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("connecting to the browser at {ws_url}: timed out")
            }
        };
        let (out, outgoing) = mpsc::unbounded_channel();
        let conn = Arc::new(Conn {
            out,
            pending: Mutex::new(Some(HashMap::new())),
            subscribers: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            closed_reason: Mutex::new(None),
        });
        let socket_task = tokio::spawn(run_socket(ws, outgoing, conn.clone()));
        Ok(Chrome { conn, child, socket_task, dir: Some(dir) })
    }

    /// Opens a new tab on `about:blank`, attached with its own CDP session.
    pub async fn new_page(&self) -> Result<Page> {
        let target = self.call("Target.createTarget", json!({ "url": "about:blank" })).await?;
        let target_id = target["targetId"].as_str().context("Target.createTarget: no targetId")?.to_string();
        let attached = self.call("Target.attachToTarget", json!({ "targetId": target_id, "flatten": true })).await?;
        let session_id = attached["sessionId"].as_str().context("Target.attachToTarget: no sessionId")?.to_string();
        let page = Page { conn: self.conn.clone(), session_id, target_id };
        page.cdp("Page.enable", json!({})).await?;
        page.cdp("Page.setLifecycleEventsEnabled", json!({ "enabled": true })).await?;
        Ok(page)
    }

    /// A browser-level CDP call (no session).
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.conn.call(method, params, None, CALL_TIMEOUT).await
    }

    /// The browser's product and version, e.g. `Chrome/131.0.6778.85`.
    pub async fn version(&self) -> Result<String> {
        let v = self.call("Browser.getVersion", json!({})).await?;
        Ok(v["product"].as_str().unwrap_or_default().to_string())
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        self.socket_task.abort();
        self.conn.shut("the browser was shut down".to_string());
        // SIGKILL the browser; its zygote, renderer and utility processes exit with it.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            if dir.close().is_err() {
                // A helper process may still be writing into the profile for a moment.
                for _ in 0..10 {
                    std::thread::sleep(Duration::from_millis(50));
                    if std::fs::remove_dir_all(&path).is_ok() || !path.exists() {
                        break;
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------------

/// The options of a virtual WebAuthn authenticator. The default is a platform passkey
/// authenticator: CTAP2, internal transport, resident keys, user verification that succeeds,
/// and user presence answered automatically.
#[derive(Clone, Debug)]
pub struct VirtualAuthenticator {
    /// `"ctap2"` or `"u2f"`.
    pub protocol: String,
    /// `"internal"`, `"usb"`, `"nfc"`, `"ble"` or `"hybrid"`.
    pub transport: String,
    pub has_resident_key: bool,
    pub has_user_verification: bool,
    /// Whether user verification (the "fingerprint") succeeds; see [`Page::set_user_verified`].
    pub is_user_verified: bool,
    /// Whether user presence is simulated (no one needs to "touch" the authenticator).
    pub automatic_presence_simulation: bool,
}

impl Default for VirtualAuthenticator {
    fn default() -> Self {
        VirtualAuthenticator {
            protocol: "ctap2".to_string(),
            transport: "internal".to_string(),
            has_resident_key: true,
            has_user_verification: true,
            is_user_verified: true,
            automatic_presence_simulation: true,
        }
    }
}

/// One tab of a [`Chrome`]. Cheap to clone; every clone drives the same tab.
#[derive(Clone)]
pub struct Page {
    conn: Arc<Conn>,
    session_id: String,
    target_id: String,
}

/// Encodes `s` as a JavaScript string literal.
fn js_str(s: &str) -> String {
    Value::from(s).to_string()
}

impl Page {
    /// A CDP call in this page's session.
    pub async fn cdp(&self, method: &str, params: Value) -> Result<Value> {
        self.conn.call(method, params, Some(&self.session_id), CALL_TIMEOUT).await
    }

    /// Subscribes to every CDP event of the browser; filter on [`Event::session_id`] ==
    /// [`Page::session_id`] for this page's.
    pub fn events(&self) -> mpsc::UnboundedReceiver<Event> {
        self.conn.subscribe()
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    pub fn target_id(&self) -> &str {
        &self.target_id
    }

    /// Navigates to `url` and waits for the new document's `load` event. Fails on network errors
    /// (connection refused, …) but not on HTTP error statuses: check the page's text.
    pub async fn goto(&self, url: &str) -> Result<()> {
        let mut events = self.events();
        let nav = self.cdp("Page.navigate", json!({ "url": url })).await?;
        if let Some(err) = nav["errorText"].as_str().filter(|e| !e.is_empty()) {
            bail!("loading {url}: {err}");
        }
        // A same-document navigation (only the #fragment changes) has no loader and no load event.
        let Some(loader_id) = nav["loaderId"].as_str() else { return Ok(()) };
        let frame_id = nav["frameId"].as_str().unwrap_or_default();
        let deadline = tokio::time::Instant::now() + LOAD_TIMEOUT;
        loop {
            let event = match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) => event,
                Ok(None) => return Err(self.conn.closed_error("Page.navigate")),
                Err(_) => bail!("loading {url}: no load event within {}s", LOAD_TIMEOUT.as_secs()),
            };
            if event.session_id.as_deref() == Some(&self.session_id)
                && event.method == "Page.lifecycleEvent"
                && event.params["name"] == "load"
                && event.params["loaderId"] == loader_id
                && event.params["frameId"] == frame_id
            {
                return Ok(());
            }
        }
    }

    /// Evaluates `js` (an expression; a promise is awaited) in the page and returns its value as
    /// JSON (`null` for `undefined`; DOM objects come back as `{}`, so return plain data). A thrown
    /// exception or rejected promise is an error carrying its message.
    pub async fn eval(&self, js: &str) -> Result<Value> {
        let params = json!({
            "expression": js,
            "awaitPromise": true,
            "returnByValue": true,
            "userGesture": true,
        });
        let mut r = self.cdp("Runtime.evaluate", params).await?;
        if let Some(details) = r.get("exceptionDetails") {
            let exception = &details["exception"];
            let message = exception["description"]
                .as_str()
                .map(str::to_string)
                .or_else(|| exception.get("value").map(|v| v.to_string()))
                .or_else(|| details["text"].as_str().map(str::to_string))
                .unwrap_or_else(|| details.to_string());
            bail!("JavaScript error: {message}\n  in: {}", short(js, 300));
        }
        let result = &mut r["result"];
        if let Some(v) = result.get_mut("value") {
            return Ok(v.take());
        }
        Ok(result.get("unserializableValue").cloned().unwrap_or(Value::Null))
    }

    /// Polls the JavaScript expression `js_condition` until it is truthy (errors, e.g. during a
    /// navigation, count as "not yet"). After 20 s: an error naming `what`, the current URL and
    /// the page's text.
    pub async fn wait_for(&self, js_condition: &str, what: &str) -> Result<()> {
        let started = Instant::now();
        let expr = format!("!!({js_condition})");
        loop {
            let last_error = match self.eval(&expr).await {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(_) => None,
                Err(e) => Some(e),
            };
            if started.elapsed() > WAIT_TIMEOUT {
                let url = self.url().await.unwrap_or_else(|e| format!("(unknown: {e})"));
                let text = self.text().await.unwrap_or_else(|e| format!("(unknown: {e})"));
                let mut msg = format!(
                    "timed out after {}s waiting for {what} ({js_condition})\n  URL: {url}\n  page text: {}",
                    WAIT_TIMEOUT.as_secs(),
                    short(&text, 2000)
                );
                if let Some(e) = last_error {
                    msg.push_str(&format!("\n  last error: {e:#}"));
                }
                bail!(msg);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sets the value of the form field matching the CSS `selector` as typing would, firing
    /// `input` and `change`.
    pub async fn fill(&self, selector: &str, value: &str) -> Result<()> {
        let js = format!(
            "(() => {{ const sel = {sel}; const el = document.querySelector(sel);
                if (!el) throw new Error('no element matches ' + sel);
                el.focus(); el.value = {val};
                el.dispatchEvent(new Event('input', {{ bubbles: true }}));
                el.dispatchEvent(new Event('change', {{ bubbles: true }}));
                return true; }})()",
            sel = js_str(selector),
            val = js_str(value),
        );
        self.eval(&js).await.with_context(|| format!("filling {selector}"))?;
        Ok(())
    }

    /// Clicks the element matching the CSS `selector` with real mouse events at its centre, after
    /// scrolling it into view. Fails when it is missing, invisible or covered by another element.
    pub async fn click(&self, selector: &str) -> Result<()> {
        let js = format!(
            "(() => {{ const sel = {sel}; const el = document.querySelector(sel);
                if (!el) throw new Error('no element matches ' + sel);
                el.scrollIntoView({{ block: 'center', inline: 'center' }});
                const r = el.getBoundingClientRect();
                if (r.width === 0 || r.height === 0) throw new Error(sel + ' is not visible');
                const x = r.left + r.width / 2, y = r.top + r.height / 2;
                const hit = document.elementFromPoint(x, y);
                if (hit && hit !== el && !el.contains(hit))
                    throw new Error(sel + ' is covered by ' + hit.outerHTML.slice(0, 120));
                return {{ x, y }}; }})()",
            sel = js_str(selector),
        );
        let at = self.eval(&js).await.with_context(|| format!("clicking {selector}"))?;
        let (x, y) = (at["x"].as_f64().unwrap_or_default(), at["y"].as_f64().unwrap_or_default());
        for (kind, buttons) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 0)] {
            let mut params = json!({ "type": kind, "x": x, "y": y, "buttons": buttons });
            if kind != "mouseMoved" {
                params["button"] = json!("left");
                params["clickCount"] = json!(1);
            }
            self.cdp("Input.dispatchMouseEvent", params).await.with_context(|| format!("clicking {selector}"))?;
        }
        Ok(())
    }

    /// The page's current URL.
    pub async fn url(&self) -> Result<String> {
        Ok(self.eval("location.href").await?.as_str().unwrap_or_default().to_string())
    }

    /// The page's visible text (`document.body.innerText`).
    pub async fn text(&self) -> Result<String> {
        let v = self.eval("document.body ? document.body.innerText : ''").await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Enables WebAuthn emulation for this page and adds a virtual authenticator; returns its id.
    pub async fn add_virtual_authenticator(&self, opts: VirtualAuthenticator) -> Result<String> {
        self.cdp("WebAuthn.enable", json!({ "enableUI": false })).await?;
        let options = json!({
            "protocol": opts.protocol,
            "ctap2Version": "ctap2_1",
            "transport": opts.transport,
            "hasResidentKey": opts.has_resident_key,
            "hasUserVerification": opts.has_user_verification,
            "isUserVerified": opts.is_user_verified,
            "automaticPresenceSimulation": opts.automatic_presence_simulation,
        });
        let r = self.cdp("WebAuthn.addVirtualAuthenticator", json!({ "options": options })).await?;
        Ok(r["authenticatorId"].as_str().context("WebAuthn.addVirtualAuthenticator: no authenticatorId")?.to_string())
    }

    /// The credentials stored in a virtual authenticator (`WebAuthn.getCredentials`): objects with
    /// `credentialId` (standard base64), `isResidentCredential`, `rpId`, `userHandle`,
    /// `signCount`, `privateKey`.
    pub async fn credentials(&self, authenticator_id: &str) -> Result<Vec<Value>> {
        let mut r = self.cdp("WebAuthn.getCredentials", json!({ "authenticatorId": authenticator_id })).await?;
        match r["credentials"].take() {
            Value::Array(list) => Ok(list),
            other => bail!("WebAuthn.getCredentials: unexpected answer {other}"),
        }
    }

    /// Makes the authenticator's user verification succeed (`true`) or fail (`false`).
    pub async fn set_user_verified(&self, authenticator_id: &str, yes: bool) -> Result<()> {
        let params = json!({ "authenticatorId": authenticator_id, "isUserVerified": yes });
        self.cdp("WebAuthn.setUserVerified", params).await?;
        Ok(())
    }
}

fn short(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
