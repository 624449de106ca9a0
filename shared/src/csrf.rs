//! CSRF tokens bound to a server-side record (an auth flow or an SSO session): the token is an
//! HMAC of that record's identifier under a server key. A form from another flow, an old flow or
//! another browser does not verify, and nothing needs to be stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub fn token(key: &[u8], purpose: &str, binding: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(key, purpose, binding))
}

pub fn verify(key: &[u8], purpose: &str, binding: &str, presented: &str) -> bool {
    let Ok(given) = URL_SAFE_NO_PAD.decode(presented.trim()) else {
        return false;
    };
    crate::crypto::ct_eq(&given, &mac(key, purpose, binding))
}

fn mac(key: &[u8], purpose: &str, binding: &str) -> Vec<u8> {
    let mut m = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this arm cannot be taken.
        Err(_) => return Vec::new(),
    };
    m.update(purpose.as_bytes());
    m.update(&[0]);
    m.update(binding.as_bytes());
    m.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_verifies_only_for_its_binding_and_purpose() {
        let k = b"0123456789abcdef0123456789abcdef";
        let t = token(k, "login", "flow-1");
        assert!(verify(k, "login", "flow-1", &t));
        assert!(!verify(k, "login", "flow-2", &t));
        assert!(!verify(k, "logout", "flow-1", &t));
        assert!(!verify(b"other-key-other-key-other-key!!!", "login", "flow-1", &t));
        assert!(!verify(k, "login", "flow-1", ""));
        assert!(!verify(k, "login", "flow-1", "%%%"));
    }
}
