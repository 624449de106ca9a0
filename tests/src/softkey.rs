//! A software passkey for HTTP-level tests: ES256, attestation `none`, hand-written CBOR. It
//! reads the options JSON a page carries in `data-options` and returns the credential JSON in the
//! exact shape `idp/static/webauthn.js` posts (`encodeCredential`). Adapted from the test
//! authenticator in `idp/src/mfa/passkey.rs`; its public fields are the knobs a test turns to
//! misbehave (another origin, a counter that goes back, no user verification).

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::browser::Page;

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;

/// One credential on one authenticator.
pub struct SoftKey {
    key: EcdsaKeyPair,
    pub cred_id: Vec<u8>,
    /// `None`: no counter (always 0, like synced passkeys). `Some(n)`: incremented before each
    /// signature.
    pub counter: Option<u32>,
    /// Set the UV flag (PIN / biometrics done).
    pub uv: bool,
    /// Backup eligible and backed up (a synced passkey).
    pub synced: bool,
    /// Discoverable: the user handle is returned at login. Set by `register` when the options
    /// require or prefer a resident key.
    pub resident: bool,
    /// The user handle from the registration options.
    pub user_handle: Vec<u8>,
    /// What the "browser" puts in `clientDataJSON.origin`.
    pub origin: String,
    /// The RP ID whose hash goes into the authenticator data.
    pub rp_id: String,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(value.as_str().unwrap_or_default().trim_end_matches('=')).expect("base64url in options")
}

/// Parses options as found in `data-options` (bare, or webauthn-rs's `{"publicKey": …}`).
fn parse_options(options: &str) -> Value {
    let mut v: Value = serde_json::from_str(options).expect("WebAuthn options are JSON");
    match v.get_mut("publicKey") {
        Some(pk) => pk.take(),
        None => v,
    }
}

/// The options of the page's `<form data-webauthn="{mode}">` (register, login, conditional).
pub fn page_options(page: &Page, mode: &str) -> Option<String> {
    page.form_attr(&format!("data-webauthn=\"{mode}\""), "data-options").filter(|o| !o.is_empty())
}

impl SoftKey {
    /// A hardware-style key (counter starting at 0, UV) for the IdP at `origin`
    /// (`http://localhost:1234`); the RP ID is the origin's host.
    pub fn new(origin: &str) -> SoftKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).expect("key");
        let cred_id: [u8; 16] = kenpo_shared::crypto::random_bytes();
        let origin = origin.trim_end_matches('/').to_string();
        let rp_id = url::Url::parse(&origin).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
        SoftKey {
            key,
            cred_id: cred_id.to_vec(),
            counter: Some(0),
            uv: true,
            synced: false,
            resident: false,
            user_handle: Vec::new(),
            origin,
            rp_id,
        }
    }

    /// A synced, discoverable platform passkey (no counter), as iCloud Keychain or Google
    /// Password Manager create.
    pub fn synced(origin: &str) -> SoftKey {
        SoftKey { counter: None, synced: true, resident: true, ..SoftKey::new(origin) }
    }

    /// The credential ID as the browser's `credential.id` (base64url).
    pub fn credential_id(&self) -> String {
        b64(&self.cred_id)
    }

    fn flags(&self) -> u8 {
        let mut f = FLAG_UP;
        if self.uv {
            f |= FLAG_UV;
        }
        if self.synced {
            f |= FLAG_BE | FLAG_BS;
        }
        f
    }

    fn client_data(&self, type_: &str, challenge: &Value) -> Vec<u8> {
        json!({
            "type": type_,
            "challenge": challenge.as_str().expect("challenge"),
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    fn auth_data(&self, flags: u8, attested: Option<Vec<u8>>) -> Vec<u8> {
        let mut ad = digest(&SHA256, self.rp_id.as_bytes()).as_ref().to_vec();
        ad.push(flags);
        ad.extend(self.counter.unwrap_or(0).to_be_bytes());
        if let Some(acd) = attested {
            ad.extend(acd);
        }
        ad
    }

    fn cose_public_key(&self) -> Vec<u8> {
        let point = self.key.public_key().as_ref();
        assert_eq!(point.len(), 65, "uncompressed P-256 point");
        let mut out = Vec::new();
        cbor(
            &Cbor::Map(vec![
                (Cbor::Int(1), Cbor::Int(2)),  // kty: EC2
                (Cbor::Int(3), Cbor::Int(-7)), // alg: ES256
                (Cbor::Int(-1), Cbor::Int(1)), // crv: P-256
                (Cbor::Int(-2), Cbor::Bytes(point[1..33].to_vec())),
                (Cbor::Int(-3), Cbor::Bytes(point[33..].to_vec())),
            ]),
            &mut out,
        );
        out
    }

    /// `navigator.credentials.create` through `webauthn.js`. Errs with the DOMException name a
    /// real authenticator raises when it already holds an excluded credential.
    pub fn register(&mut self, options: &str) -> Result<String, &'static str> {
        let o = parse_options(options);
        let excluded =
            o["excludeCredentials"].as_array().into_iter().flatten().any(|c| unb64(&c["id"]) == self.cred_id);
        if excluded {
            return Err("InvalidStateError");
        }
        Ok(self.register_unchecked(options))
    }

    /// Like [`SoftKey::register`] but ignoring `excludeCredentials`, as a hostile client would.
    pub fn register_unchecked(&mut self, options: &str) -> String {
        let o = parse_options(options);
        self.user_handle = unb64(&o["user"]["id"]);
        // As platform passkey providers do: discoverable whenever asked for or preferred.
        let rk = o["authenticatorSelection"]["residentKey"].as_str().unwrap_or_default();
        self.resident = self.resident || rk == "required" || rk == "preferred";
        let client_data = self.client_data("webauthn.create", &o["challenge"]);
        let mut acd = vec![0u8; 16]; // AAGUID: zeros, as with attestation "none"
        acd.extend(u16::try_from(self.cred_id.len()).expect("short id").to_be_bytes());
        acd.extend(&self.cred_id);
        acd.extend(self.cose_public_key());
        let auth_data = self.auth_data(self.flags() | FLAG_AT, Some(acd));
        let mut att_obj = Vec::new();
        cbor(
            &Cbor::Map(vec![
                (Cbor::Text("fmt"), Cbor::Text("none")),
                (Cbor::Text("attStmt"), Cbor::Map(vec![])),
                (Cbor::Text("authData"), Cbor::Bytes(auth_data)),
            ]),
            &mut att_obj,
        );
        json!({
            "id": b64(&self.cred_id),
            "rawId": b64(&self.cred_id),
            "type": "public-key",
            "authenticatorAttachment": "cross-platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&att_obj),
                "transports": ["usb", "nfc"],
            },
            "clientExtensionResults": { "credProps": { "rk": self.resident } },
        })
        .to_string()
    }

    /// `navigator.credentials.get` through `webauthn.js` (the counter moves on first).
    pub fn assert(&mut self, options: &str) -> String {
        if let Some(c) = self.counter.as_mut() {
            *c += 1;
        }
        self.assert_without_counting(options)
    }

    /// An assertion at the current counter value (a clone of the key that has fallen behind).
    pub fn assert_without_counting(&self, options: &str) -> String {
        let o = parse_options(options);
        let client_data = self.client_data("webauthn.get", &o["challenge"]);
        let auth_data = self.auth_data(self.flags(), None);
        let mut signed = auth_data.clone();
        signed.extend(digest(&SHA256, &client_data).as_ref());
        let sig = self.key.sign(&SystemRandom::new(), &signed).expect("sign");
        json!({
            "id": b64(&self.cred_id),
            "rawId": b64(&self.cred_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(sig.as_ref()),
                "userHandle": self.resident.then(|| b64(&self.user_handle)),
            },
            "clientExtensionResults": {},
        })
        .to_string()
    }
}

// ---- minimal CBOR (RFC 8949) encoder: just what an attestation object needs ----

enum Cbor {
    Int(i64),
    Bytes(Vec<u8>),
    Text(&'static str),
    Map(Vec<(Cbor, Cbor)>),
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if let Ok(small) = u8::try_from(n) {
        if small < 24 {
            out.push(m | small);
        } else {
            out.extend([m | 24, small]);
        }
    } else if let Ok(n16) = u16::try_from(n) {
        out.push(m | 25);
        out.extend(n16.to_be_bytes());
    } else {
        out.push(m | 26);
        out.extend(u32::try_from(n).expect("CBOR length").to_be_bytes());
    }
}

fn cbor(value: &Cbor, out: &mut Vec<u8>) {
    match value {
        Cbor::Int(i) if *i >= 0 => cbor_head(out, 0, i.unsigned_abs()),
        Cbor::Int(i) => cbor_head(out, 1, (-1 - *i).unsigned_abs()),
        Cbor::Bytes(b) => {
            cbor_head(out, 2, b.len() as u64);
            out.extend(b);
        }
        Cbor::Text(t) => {
            cbor_head(out, 3, t.len() as u64);
            out.extend(t.as_bytes());
        }
        Cbor::Map(entries) => {
            cbor_head(out, 5, entries.len() as u64);
            for (k, v) in entries {
                cbor(k, out);
                cbor(v, out);
            }
        }
    }
}
