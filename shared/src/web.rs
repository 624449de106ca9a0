//! HTTP bits both apps need: security headers on every response.

use actix_web::middleware::DefaultHeaders;

/// Headers for every response. Pages are plain server-rendered HTML: scripts only from our own
/// origin, no framing (clickjacking on the login page), no MIME sniffing, no referrer leaking
/// codes or state to third parties.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self' http: https:",
        ))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
}

/// The last-resort page when a template fails to render: logged once with its whole cause
/// chain, a short bilingual page for the member.
pub fn render_failure(e: &tera::Error) -> actix_web::HttpResponse {
    let mut detail = format!("{e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(&format!(": {s}"));
        source = s.source();
    }
    tracing::error!(error = %detail, "template rendering failed");
    actix_web::HttpResponse::InternalServerError()
        .content_type("text/html; charset=utf-8")
        .body("<!doctype html><p>エラーが発生しました。 / Something went wrong.</p>")
}

/// A bilingual error page that needs no template (for errors outside the normal page flow),
/// with a support code that is also logged for server errors.
pub struct FallbackPage<'a> {
    pub ja: &'a str,
    pub en: &'a str,
    pub stylesheet: &'a str,
    /// Extra HTML after the message (e.g. a link to the top page); static text only.
    pub extra_html: &'a str,
}

pub fn fallback_error_page(
    status: actix_web::http::StatusCode,
    error: &dyn std::fmt::Display,
    page: FallbackPage<'_>,
) -> actix_web::HttpResponse {
    let support = crate::crypto::random_token(6);
    if status.is_server_error() {
        tracing::error!(error = %error, support = %support, "request failed");
    }
    let FallbackPage { ja, en, stylesheet, extra_html } = page;
    actix_web::HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{ja}</title><link rel=\"stylesheet\" href=\"{stylesheet}\"></head>\
             <body><main class=\"card\"><h1>{ja}</h1><p lang=\"en\">{en}</p>{extra_html}<p class=\"muted\">サポートコード / Support code: {support}</p></main></body></html>"
        ))
}
