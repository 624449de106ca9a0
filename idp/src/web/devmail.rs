//! `/dev/mail`: the development mailbox (registered only in dev mode). Lists what the IdP
//! "sent", newest first, so links can be clicked without a mail server.

use actix_web::{HttpResponse, web};

use crate::error::IdpError;
use crate::state::AppState;
use crate::store;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/dev/mail", web::get().to(mailbox));
}

async fn mailbox(st: web::Data<AppState>) -> Result<HttpResponse, IdpError> {
    let mails = st.store.run(|c| store::mail::recent(c, 50)).await?;
    let mut html = String::from(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>Dev mailbox</title><link rel=\"stylesheet\" href=\"/static/kenpo.css\"></head><body><main class=\"card\"><h1>Dev mailbox</h1>",
    );
    if mails.is_empty() {
        html.push_str("<p>No mail yet.</p>");
    }
    for m in mails {
        html.push_str(&format!(
            "<article><h2>{}</h2><p>To: {} — {}</p><pre style=\"white-space:pre-wrap\">{}</pre></article><hr>",
            escape(&m.subject),
            escape(&m.to_address),
            m.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            linkify(&escape(&m.body_text))
        ));
    }
    html.push_str("</main></body></html>");
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(html))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Makes http(s) URLs clickable (input already escaped).
fn linkify(s: &str) -> String {
    s.split_inclusive(char::is_whitespace)
        .map(|w| {
            let t = w.trim_end();
            if t.starts_with("http://") || t.starts_with("https://") {
                format!("<a href=\"{t}\">{t}</a>{}", &w[t.len()..])
            } else {
                w.to_string()
            }
        })
        .collect()
}
