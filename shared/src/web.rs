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
