//! The headless-Chromium harness itself, independent of the IdP: a tiny HTTP server on
//! localhost with a form, a real form submission, and a passkey registered and used through
//! the virtual WebAuthn authenticator.

use std::time::Instant;

use base64::Engine;
use kenpo_e2e::chrome::{Chrome, VirtualAuthenticator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const FORM: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>form</title></head><body>
<h1>Who are you?</h1>
<form method="post" action="/submit">
  <label>Name <input id="name" name="name" autocomplete="off"></label>
  <button id="go" type="submit">Send</button>
</form></body></html>"#;

/// Serves `FORM` at `/` and greets the submitted name at `POST /submit`. One request per
/// connection; enough for a browser.
async fn serve(listener: TcpListener) {
    while let Ok((sock, _)) = listener.accept().await {
        tokio::spawn(async move {
            let _ = answer(sock).await;
        });
    }
}

async fn answer(mut sock: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = &buf[head_end..];
    let mut parts = head.split_whitespace();
    let (status, page) = match (parts.next(), parts.next()) {
        (Some("GET"), Some("/")) => ("200 OK", FORM.to_string()),
        (Some("POST"), Some("/submit")) => {
            let name = url::form_urlencoded::parse(body).find(|(k, _)| k == "name").map(|(_, v)| v.into_owned());
            let name = name.unwrap_or_default().replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            (
                "200 OK",
                format!("<!doctype html><meta charset=utf-8><title>hello</title><p id=greeting>Hello, {name}!</p>"),
            )
        }
        _ => ("404 Not Found", "not found".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    sock.write_all(response.as_bytes()).await?;
    sock.shutdown().await
}

const CREATE: &str = r#"(async () => {
    const cred = await navigator.credentials.create({ publicKey: {
        rp: { id: "localhost", name: "t" },
        user: { id: new Uint8Array(16), name: "u", displayName: "u" },
        challenge: new Uint8Array(32),
        pubKeyCredParams: [{ type: "public-key", alg: -7 }],
        authenticatorSelection: { residentKey: "required", userVerification: "required" },
    } });
    return { id: cred.id, type: cred.type, attachment: cred.authenticatorAttachment };
})()"#;

fn get_js(id: &str) -> String {
    format!(
        r#"(async () => {{
    const b64 = {id:?}.replace(/-/g, "+").replace(/_/g, "/");
    const raw = Uint8Array.from(atob(b64 + "=".repeat((4 - b64.length % 4) % 4)), c => c.charCodeAt(0));
    const cred = await navigator.credentials.get({{ publicKey: {{
        rpId: "localhost",
        challenge: new Uint8Array(32).fill(7),
        allowCredentials: [{{ type: "public-key", id: raw }}],
        userVerification: "required",
    }} }});
    const flags = new Uint8Array(cred.response.authenticatorData)[32];
    return {{ id: cred.id, userVerified: (flags & 4) !== 0, signatureBytes: cred.response.signature.byteLength }};
}})()"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_submission_and_virtual_passkey() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(serve(listener));

    let started = Instant::now();
    let chrome = Chrome::launch().await.expect("launch Chromium");
    let page = chrome.new_page().await.expect("new page");
    println!("browser: {} ready in {:?}", chrome.version().await.expect("version"), started.elapsed());

    // A form, filled and submitted with a real click.
    page.goto(&format!("http://localhost:{port}/")).await.expect("open the form");
    assert!(page.text().await.expect("text").contains("Who are you?"));
    assert_eq!(page.eval("window.isSecureContext").await.expect("eval"), serde_json::json!(true));
    page.fill("#name", "Kenpo <テスト>").await.expect("fill");
    page.click("#go").await.expect("click");
    page.wait_for("location.pathname === '/submit' && document.readyState === 'complete'", "the greeting page")
        .await
        .expect("greeting");
    assert_eq!(page.url().await.expect("url"), format!("http://localhost:{port}/submit"));
    assert_eq!(page.text().await.expect("text").trim(), "Hello, Kenpo <テスト>!");

    // JavaScript errors are errors, with the message.
    let err = page.eval("(async () => { throw new TypeError('boom') })()").await.expect_err("must fail");
    assert!(format!("{err:#}").contains("TypeError: boom"), "{err:#}");
    let err = page.click("#nothing-here").await.expect_err("must fail");
    assert!(format!("{err:#}").contains("no element matches #nothing-here"), "{err:#}");

    // A passkey: registered, then used.
    let authenticator = page.add_virtual_authenticator(VirtualAuthenticator::default()).await.expect("authenticator");
    let created = page.eval(CREATE).await.expect("navigator.credentials.create");
    let id = created["id"].as_str().expect("credential id").to_string();
    assert_eq!(created["type"], "public-key");
    let before = page.credentials(&authenticator).await.expect("credentials");
    assert_eq!(before.len(), 1, "{before:?}");
    let count_before = before[0]["signCount"].as_u64().expect("signCount");

    let asserted = page.eval(&get_js(&id)).await.expect("navigator.credentials.get");
    assert_eq!(asserted["id"], id.as_str());
    assert_eq!(asserted["userVerified"], true);
    assert!(asserted["signatureBytes"].as_u64().unwrap_or(0) > 0);

    let after = page.credentials(&authenticator).await.expect("credentials");
    assert_eq!(after.len(), 1, "{after:?}");
    let cred = &after[0];
    assert!(cred["signCount"].as_u64().expect("signCount") > count_before, "{cred}");
    assert_eq!(cred["isResidentCredential"], true);
    assert_eq!(cred["rpId"], "localhost");
    let raw =
        base64::engine::general_purpose::STANDARD.decode(cred["credentialId"].as_str().expect("id")).expect("b64");
    assert_eq!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw), id);

    // A failed user verification makes the ceremony fail.
    page.set_user_verified(&authenticator, false).await.expect("setUserVerified");
    let err = page.eval(&get_js(&id)).await.expect_err("user verification failed: must be refused");
    assert!(format!("{err:#}").contains("NotAllowedError"), "{err:#}");

    // The browser going away gives errors, not panics or hangs.
    drop(chrome);
    let err = page.url().await.expect_err("browser gone");
    assert!(format!("{err:#}").contains("closed"), "{err:#}");
    println!("total {:?}", started.elapsed());
}
