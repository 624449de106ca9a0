//! The software passkey of the HTTP-level tests: [`kenpo_testkit::Authenticator`], the same one
//! the IdP's passkey unit tests use, fed with the options JSON a page carries in `data-options`.
//! Its answers are credential JSON in the exact shape `webauthn.js` posts; its public fields are
//! the knobs a test turns to misbehave (another origin, a counter that goes back, no user
//! verification).

use crate::browser::Page;

pub use kenpo_testkit::Authenticator as SoftKey;

/// The options of the page's `<form data-webauthn="{mode}">` (register, login, conditional).
pub fn page_options(page: &Page, mode: &str) -> Option<String> {
    page.form_attr(&format!("data-webauthn=\"{mode}\""), "data-options").filter(|o| !o.is_empty())
}
