//! A software WebAuthn authenticator for Kenpo's tests: ES256 (P-256), attestation `none`, a
//! hand-written CBOR encoder, and responses in exactly the JSON shape `static/js/webauthn.js`
//! posts (`encodeCredential`).
//!
//! It exists so that there is one such authenticator, not two: the passkey unit tests in
//! `idp/src/mfa/passkey.rs` and the end-to-end harness (`kenpo-e2e`) both drive the real ceremony
//! code with it. It is dev-only: a dev-dependency of `kenpo-idp` and a dependency of the test
//! harness, never linked into the binaries. It must not depend on `kenpo-idp` (whose unit tests
//! use it) or any other Kenpo crate.
//!
//! [`Authenticator`] is the device; its public fields are the knobs a test turns to misbehave
//! (another origin or RP ID, a counter that goes back, no user verification). The free functions
//! are its parts, for tests that forge what no device would send.

#![allow(clippy::expect_used, reason = "a test authenticator: failing loudly is what a test wants")]

mod cbor;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use cbor::Cbor;

/// Authenticator data flags (WebAuthn §6.1): user present.
pub const FLAG_UP: u8 = 0x01;
/// User verified (PIN or biometrics).
pub const FLAG_UV: u8 = 0x04;
/// Backup eligible (a syncable passkey).
pub const FLAG_BE: u8 = 0x08;
/// Backed up.
pub const FLAG_BS: u8 = 0x10;
/// Attested credential data follows (registration only).
pub const FLAG_AT: u8 = 0x40;

/// One credential on one authenticator.
pub struct Authenticator {
    key: EcdsaKeyPair,
    pub cred_id: Vec<u8>,
    /// `None`: no counter (always 0, like synced passkeys). `Some(n)`: incremented before each
    /// signature by [`Authenticator::assert`].
    pub counter: Option<u32>,
    /// Set the UV flag (PIN / biometrics done).
    pub uv: bool,
    /// Backup eligible and backed up (a synced passkey).
    pub synced: bool,
    /// Discoverable: the user handle is returned at login. Set at registration when the options
    /// ask for a resident key (see `resident_if_preferred`).
    pub resident: bool,
    /// Whether `residentKey: "preferred"` makes the credential discoverable, as platform passkey
    /// providers do (the default), or only `"required"` does.
    pub resident_if_preferred: bool,
    /// The user handle from the registration options.
    pub user_handle: Vec<u8>,
    /// What the "browser" puts in `clientDataJSON.origin`.
    pub origin: String,
    /// The RP ID whose hash goes into the authenticator data.
    pub rp_id: String,
}

impl Authenticator {
    /// A hardware-style key (counter from 0, UV) for the site at `origin`
    /// (`https://id.example:8443`); the RP ID is the origin's host.
    pub fn new(origin: &str) -> Authenticator {
        let mut cred_id = vec![0u8; 16];
        aws_lc_rs::rand::fill(&mut cred_id).expect("system randomness");
        let origin = origin.trim_end_matches('/');
        Authenticator {
            key: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("P-256 key generation"),
            cred_id,
            counter: Some(0),
            uv: true,
            synced: false,
            resident: false,
            resident_if_preferred: true,
            user_handle: Vec::new(),
            rp_id: host_of(origin).to_string(),
            origin: origin.to_string(),
        }
    }

    /// A synced, discoverable platform passkey (no counter), as iCloud Keychain or Google
    /// Password Manager create.
    pub fn synced(origin: &str) -> Authenticator {
        Authenticator { counter: None, synced: true, resident: true, ..Authenticator::new(origin) }
    }

    /// The credential ID as the browser's `credential.id` (base64url).
    pub fn credential_id(&self) -> String {
        b64(&self.cred_id)
    }

    /// The flags this authenticator sets on every response (plus [`FLAG_AT`] at registration).
    pub fn flags(&self) -> u8 {
        let uv = if self.uv { FLAG_UV } else { 0 };
        let synced = if self.synced { FLAG_BE | FLAG_BS } else { 0 };
        FLAG_UP | uv | synced
    }

    /// An ES256 signature (ASN.1 DER) over `data` with the credential's private key.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.key.sign(&SystemRandom::new(), data).expect("ECDSA signing").as_ref().to_vec()
    }

    /// `navigator.credentials.create` through `webauthn.js`. Errs with the DOMException name a
    /// real authenticator raises when it already holds an excluded credential.
    pub fn register(&mut self, options: &(impl Options + ?Sized)) -> Result<String, &'static str> {
        let o = options.public_key();
        let excluded =
            o["excludeCredentials"].as_array().into_iter().flatten().any(|c| unb64(&c["id"]) == self.cred_id);
        if excluded {
            return Err("InvalidStateError");
        }
        Ok(self.register_unchecked(&o))
    }

    /// Like [`Authenticator::register`] but ignoring `excludeCredentials`, as a hostile client
    /// would.
    pub fn register_unchecked(&mut self, options: &(impl Options + ?Sized)) -> String {
        let o = options.public_key();
        self.user_handle = unb64(&o["user"]["id"]);
        let rk = o["authenticatorSelection"]["residentKey"].as_str();
        self.resident |= rk == Some("required") || (self.resident_if_preferred && rk == Some("preferred"));
        let client_data = client_data("webauthn.create", challenge(&o), &self.origin);
        let auth_data = authenticator_data(&self.rp_id, self.flags() | FLAG_AT, self.count(), &self.attested_data());
        registration_json(&self.cred_id, &client_data, &attestation_object(auth_data), self.resident)
    }

    /// `navigator.credentials.get` through `webauthn.js` (the counter moves on first).
    pub fn assert(&mut self, options: &(impl Options + ?Sized)) -> String {
        if let Some(c) = self.counter.as_mut() {
            *c += 1;
        }
        self.assert_without_counting(options)
    }

    /// An assertion at the current counter value (a clone of the key that has fallen behind).
    pub fn assert_without_counting(&self, options: &(impl Options + ?Sized)) -> String {
        let client_data = client_data("webauthn.get", challenge(&options.public_key()), &self.origin);
        let auth_data = authenticator_data(&self.rp_id, self.flags(), self.count(), &[]);
        let mut signed = auth_data.clone();
        signed.extend(digest(&SHA256, &client_data).as_ref());
        let user_handle = self.resident.then_some(self.user_handle.as_slice());
        assertion_json(&self.cred_id, &client_data, &auth_data, &self.sign(&signed), user_handle)
    }

    fn count(&self) -> u32 {
        self.counter.unwrap_or(0)
    }

    /// Attested credential data: AAGUID (zeros, as with attestation `none`), the credential ID
    /// with its length, and the public key.
    fn attested_data(&self) -> Vec<u8> {
        let mut acd = vec![0u8; 16];
        acd.extend(u16::try_from(self.cred_id.len()).expect("credential ID under 64 KiB").to_be_bytes());
        acd.extend(&self.cred_id);
        acd.extend(self.cose_public_key());
        acd
    }

    /// The public key as a COSE_Key (RFC 9053): EC2, ES256, P-256, x and y.
    fn cose_public_key(&self) -> Vec<u8> {
        let point = self.key.public_key().as_ref();
        assert_eq!(point.len(), 65, "uncompressed P-256 point");
        Cbor::Map(vec![
            (Cbor::Int(1), Cbor::Int(2)),  // kty: EC2
            (Cbor::Int(3), Cbor::Int(-7)), // alg: ES256
            (Cbor::Int(-1), Cbor::Int(1)), // crv: P-256
            (Cbor::Int(-2), Cbor::Bytes(point[1..33].to_vec())),
            (Cbor::Int(-3), Cbor::Bytes(point[33..].to_vec())),
        ])
        .encode()
    }
}

/// Ceremony options as tests hold them: parsed, or the JSON text a page carries; bare, or in
/// webauthn-rs's `{"publicKey": …}` wrapper.
pub trait Options {
    /// The `PublicKeyCredential*Options` object itself.
    fn public_key(&self) -> Value;
}

impl Options for Value {
    fn public_key(&self) -> Value {
        self.get("publicKey").unwrap_or(self).clone()
    }
}

impl Options for str {
    fn public_key(&self) -> Value {
        serde_json::from_str::<Value>(self).expect("WebAuthn options are JSON").public_key()
    }
}

impl Options for String {
    fn public_key(&self) -> Value {
        self.as_str().public_key()
    }
}

fn challenge(options: &Value) -> &str {
    options["challenge"].as_str().expect("options carry a challenge")
}

/// The host of `scheme://host[:port][/…]`: the RP ID a browser derives from the origin. (No IPv6
/// literals: WebAuthn needs a domain anyway.)
fn host_of(origin: &str) -> &str {
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    authority.split([':', '/']).next().unwrap_or_default()
}

/// Base64url without padding, as `webauthn.js` encodes binary members.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a base64url JSON string (padding tolerated), such as an ID in ceremony options.
pub fn unb64(value: &Value) -> Vec<u8> {
    let text = value.as_str().expect("a base64url string");
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).expect("valid base64url")
}

/// `clientDataJSON` as the browser writes it; `type_` is `webauthn.create` or `webauthn.get`.
pub fn client_data(type_: &str, challenge: &str, origin: &str) -> Vec<u8> {
    json!({ "type": type_, "challenge": challenge, "origin": origin, "crossOrigin": false }).to_string().into_bytes()
}

/// Authenticator data: SHA-256 of the RP ID, flags, the big-endian sign counter, then
/// `attested` (attested credential data at registration, empty at login).
pub fn authenticator_data(rp_id: &str, flags: u8, counter: u32, attested: &[u8]) -> Vec<u8> {
    let mut ad = digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec();
    ad.push(flags);
    ad.extend(counter.to_be_bytes());
    ad.extend(attested);
    ad
}

/// The attestation object of attestation format `none`: just the authenticator data.
pub fn attestation_object(auth_data: Vec<u8>) -> Vec<u8> {
    Cbor::Map(vec![
        (Cbor::Text("fmt"), Cbor::Text("none")),
        (Cbor::Text("attStmt"), Cbor::Map(vec![])),
        (Cbor::Text("authData"), Cbor::Bytes(auth_data)),
    ])
    .encode()
}

/// The JSON `webauthn.js` posts after `navigator.credentials.create`.
pub fn registration_json(raw_id: &[u8], client_data: &[u8], attestation_object: &[u8], rk: bool) -> String {
    json!({
        "id": b64(raw_id),
        "rawId": b64(raw_id),
        "type": "public-key",
        "authenticatorAttachment": "cross-platform",
        "response": {
            "clientDataJSON": b64(client_data),
            "attestationObject": b64(attestation_object),
            "transports": ["usb", "nfc"],
        },
        "clientExtensionResults": { "credProps": { "rk": rk } },
    })
    .to_string()
}

/// The JSON `webauthn.js` posts after `navigator.credentials.get`.
pub fn assertion_json(
    raw_id: &[u8],
    client_data: &[u8],
    auth_data: &[u8],
    signature: &[u8],
    user_handle: Option<&[u8]>,
) -> String {
    json!({
        "id": b64(raw_id),
        "rawId": b64(raw_id),
        "type": "public-key",
        "authenticatorAttachment": "platform",
        "response": {
            "clientDataJSON": b64(client_data),
            "authenticatorData": b64(auth_data),
            "signature": b64(signature),
            "userHandle": user_handle.map(b64),
        },
        "clientExtensionResults": {},
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rp_id_is_the_origin_host_and_options_unwrap_public_key() {
        assert_eq!(Authenticator::new("http://localhost:8080/").rp_id, "localhost");
        assert_eq!(Authenticator::new("https://id.kenpo.example").origin, "https://id.kenpo.example");
        let wrapped = r#"{"publicKey": {"challenge": "AQID"}}"#;
        assert_eq!(wrapped.public_key(), json!({ "challenge": "AQID" }));
        assert_eq!(json!({ "challenge": "AQID" }).public_key()["challenge"], "AQID");
    }
}
