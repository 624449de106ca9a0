//! Minimal JOSE for the IdP: compact JWS signing/verification (RS256, ES256),
//! JWK export, at-rest encryption of secrets (AES-256-GCM) and the OIDC
//! `at_hash` / `c_hash` helper.
//!
//! Signing goes straight to aws-lc-rs with the private key parsed once at
//! load time (`SigningKey`), because tokens are signed per request on hot
//! paths and re-parsing an RSA key per call costs more than the signature.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// JWS algorithms this IdP signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Hash, Eq, Serialize, Deserialize)]
pub enum Alg {
    RS256,
    ES256,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
        }
    }

    /// Exact, case-sensitive match (JWA names are case-sensitive).
    pub fn parse(s: &str) -> Option<Alg> {
        match s {
            "RS256" => Some(Alg::RS256),
            "ES256" => Some(Alg::ES256),
            _ => None,
        }
    }

    fn kty(self) -> &'static str {
        match self {
            Alg::RS256 => "RSA",
            Alg::ES256 => "EC",
        }
    }
}

impl std::fmt::Display for Alg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JoseError {
    #[error("key generation failed")]
    KeyGen,
    #[error("invalid key: {0}")]
    BadKey(String),
    #[error("signing failed")]
    Sign,
    #[error("malformed token or input: {0}")]
    Malformed(String),
    #[error("signature verification failed")]
    BadSignature,
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlg(String),
    /// No key in the supplied set fits the token's `kid`/`alg`.
    #[error("no matching key for token")]
    NoMatchingKey,
    #[error("json serialization failed: {0}")]
    Json(#[from] serde_json::Error),
    /// AEAD / RNG failure (including authentication failure when opening a sealed blob).
    #[error("cryptographic operation failed")]
    Crypto,
}

// ---------------------------------------------------------------------------
// JWK
// ---------------------------------------------------------------------------

/// A JSON Web Key (public parts only; unknown members are ignored on input).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

// ---------------------------------------------------------------------------
// Signing keys
// ---------------------------------------------------------------------------

enum KeyInner {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A private signing key, parsed once. Not Debug-printable beyond kid/alg.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    inner: KeyInner,
    /// Public JWK, computed once at construction.
    jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct JwsHeader<'a> {
    alg: &'static str,
    kid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    typ: Option<&'a str>,
}

impl SigningKey {
    /// Generates a fresh key: RSA 2048 for RS256, P-256 for ES256.
    pub fn generate(alg: Alg, kid: String) -> Result<SigningKey, JoseError> {
        let inner = match alg {
            Alg::RS256 => KeyInner::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| JoseError::KeyGen)?),
            Alg::ES256 => {
                KeyInner::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| JoseError::KeyGen)?)
            }
        };
        Self::from_inner(alg, kid, inner)
    }

    /// Parses an unencrypted PKCS#8 v1 DER private key of the kind `alg` needs.
    pub fn from_pkcs8(alg: Alg, kid: String, der: &[u8]) -> Result<SigningKey, JoseError> {
        let inner = match alg {
            Alg::RS256 => KeyInner::Rsa(RsaKeyPair::from_pkcs8(der).map_err(|e| JoseError::BadKey(e.to_string()))?),
            Alg::ES256 => KeyInner::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|e| JoseError::BadKey(e.to_string()))?,
            ),
        };
        Self::from_inner(alg, kid, inner)
    }

    fn from_inner(alg: Alg, kid: String, inner: KeyInner) -> Result<SigningKey, JoseError> {
        let mut jwk = Jwk {
            kty: alg.kty().to_owned(),
            kid: Some(kid.clone()),
            alg: Some(alg.as_str().to_owned()),
            use_: Some("sig".to_owned()),
            n: None,
            e: None,
            crv: None,
            x: None,
            y: None,
        };
        match &inner {
            KeyInner::Rsa(kp) => {
                // RFC 8017 RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
                let (n, e) = parse_rsa_public_key_der(kp.public_key().as_ref())?;
                if n.len() < 256 {
                    return Err(JoseError::BadKey("RSA modulus shorter than 2048 bits".into()));
                }
                jwk.n = Some(b64(n));
                jwk.e = Some(b64(e));
            }
            KeyInner::Ec(kp) => {
                // Uncompressed SEC1 point: 0x04 || X(32) || Y(32)
                let point = kp.public_key().as_ref();
                let (x, y) = match point {
                    [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
                    _ => {
                        return Err(JoseError::BadKey("unexpected EC public key encoding".into()));
                    }
                };
                jwk.crv = Some("P-256".to_owned());
                jwk.x = Some(b64(x));
                jwk.y = Some(b64(y));
            }
        }
        Ok(SigningKey { kid, alg, inner, jwk })
    }

    /// Exports the private key as unencrypted PKCS#8 v1 DER (seal it before storing).
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, JoseError> {
        match &self.inner {
            KeyInner::Rsa(kp) => {
                let der: Pkcs8V1Der<'static> =
                    AsDer::<Pkcs8V1Der<'static>>::as_der(kp).map_err(|_| JoseError::Crypto)?;
                Ok(der.as_ref().to_vec())
            }
            KeyInner::Ec(kp) => {
                let doc = kp.to_pkcs8v1().map_err(|_| JoseError::Crypto)?;
                Ok(doc.as_ref().to_vec())
            }
        }
    }

    /// The public half as a JWK with `kid`, `alg` and `"use":"sig"`.
    pub fn public_jwk(&self) -> Jwk {
        self.jwk.clone()
    }

    /// Signs `claims` as a compact JWS with header `{"alg","kid","typ"?}`.
    /// ES256 signatures are in the JOSE fixed `r||s` (64-byte) form.
    pub fn sign_jwt<T: Serialize>(&self, claims: &T, typ: Option<&str>) -> Result<String, JoseError> {
        let header = serde_json::to_vec(&JwsHeader { alg: self.alg.as_str(), kid: &self.kid, typ })?;
        let payload = serde_json::to_vec(claims)?;

        let mut out = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 8 + self.signature_len() * 4 / 3);
        URL_SAFE_NO_PAD.encode_string(&header, &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut out);

        let sig = self.sign_bytes(out.as_bytes())?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&sig, &mut out);
        Ok(out)
    }

    fn signature_len(&self) -> usize {
        match &self.inner {
            KeyInner::Rsa(kp) => kp.public_modulus_len(),
            KeyInner::Ec(_) => 64,
        }
    }

    fn sign_bytes(&self, msg: &[u8]) -> Result<Vec<u8>, JoseError> {
        // aws-lc-rs ignores the rng argument for both key types; it is required by the API.
        let rng = SystemRandom::new();
        match &self.inner {
            KeyInner::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut sig).map_err(|_| JoseError::Sign)?;
                Ok(sig)
            }
            KeyInner::Ec(kp) => {
                let sig = kp.sign(&rng, msg).map_err(|_| JoseError::Sign)?;
                Ok(sig.as_ref().to_vec())
            }
        }
    }
}

/// Minimal DER reader: one TLV at the start of `input`; returns (tag, contents, rest).
fn der_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), JoseError> {
    let bad = || JoseError::BadKey("malformed DER public key".into());
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(bad());
        }
        let (len_bytes, r) = rest.split_at_checked(n).ok_or_else(bad)?;
        rest = r;
        len_bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let (content, rest) = rest.split_at_checked(len).ok_or_else(bad)?;
    Ok((tag, content, rest))
}

/// Parses RFC 8017 `RSAPublicKey` into big-endian (n, e) without leading zeros.
fn parse_rsa_public_key_der(der: &[u8]) -> Result<(&[u8], &[u8]), JoseError> {
    let bad = || JoseError::BadKey("malformed RSAPublicKey".into());
    let (tag, seq, _) = der_tlv(der)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (tag_n, n, rest) = der_tlv(seq)?;
    let (tag_e, e, _) = der_tlv(rest)?;
    if tag_n != 0x02 || tag_e != 0x02 {
        return Err(bad());
    }
    let n = strip_leading_zeros(n);
    let e = strip_leading_zeros(e);
    if n.is_empty() || e.is_empty() {
        return Err(bad());
    }
    Ok((n, e))
}

fn strip_leading_zeros(mut b: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = b {
        b = rest;
    }
    b
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

struct Parts<'a> {
    header_b64: &'a str,
    payload_b64: &'a str,
    sig_b64: &'a str,
}

fn split_compact(token: &str) -> Result<Parts<'_>, JoseError> {
    let mut it = token.split('.');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => {
            Ok(Parts { header_b64: h, payload_b64: p, sig_b64: s })
        }
        _ => Err(JoseError::Malformed("not a compact JWS (3 parts)".into())),
    }
}

fn decode_json_object(part_b64: &str, what: &str) -> Result<serde_json::Value, JoseError> {
    let bytes = URL_SAFE_NO_PAD.decode(part_b64).map_err(|_| JoseError::Malformed(format!("{what}: bad base64url")))?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| JoseError::Malformed(format!("{what}: bad JSON")))?;
    if !v.is_object() {
        return Err(JoseError::Malformed(format!("{what}: not a JSON object")));
    }
    Ok(v)
}

/// Does `jwk` fit `alg` (kty/crv, and `alg`/`use` when the JWK states them)?
fn jwk_fits(jwk: &Jwk, alg: Alg) -> bool {
    if jwk.kty != alg.kty() {
        return false;
    }
    if jwk.alg.as_deref().is_some_and(|a| a != alg.as_str()) {
        return false;
    }
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return false;
    }
    match alg {
        Alg::RS256 => jwk.n.is_some() && jwk.e.is_some(),
        Alg::ES256 => jwk.crv.as_deref() == Some("P-256") && jwk.x.is_some() && jwk.y.is_some(),
    }
}

fn decode_b64_field(v: Option<&str>) -> Option<Vec<u8>> {
    v.and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
}

/// Verifies `sig` over `msg` with `jwk`. `Ok(false)` for a bad signature or an unusable key.
fn verify_with_jwk(jwk: &Jwk, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
    match alg {
        Alg::RS256 => {
            let (Some(n), Some(e)) = (decode_b64_field(jwk.n.as_deref()), decode_b64_field(jwk.e.as_deref())) else {
                return false;
            };
            let n = strip_leading_zeros(&n);
            let e = strip_leading_zeros(&e);
            if n.is_empty() || e.is_empty() {
                return false;
            }
            RsaPublicKeyComponents { n, e }.verify(&RSA_PKCS1_2048_8192_SHA256, msg, sig).is_ok()
        }
        Alg::ES256 => {
            let (Some(x), Some(y)) = (decode_b64_field(jwk.x.as_deref()), decode_b64_field(jwk.y.as_deref())) else {
                return false;
            };
            if x.len() != 32 || y.len() != 32 || sig.len() != 64 {
                return false;
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(msg, sig).is_ok()
        }
    }
}

/// Splits and verifies a compact JWS against `keys`.
///
/// Only RS256 and ES256 are accepted; `none` and everything else give
/// `UnsupportedAlg`. A header with `crit` is rejected (we understand no
/// extensions). Key choice: keys must fit the header `alg` (kty, crv, and the
/// JWK's own `alg`/`use` when present). If the header has a `kid`, only keys
/// with that `kid` are tried — or, if none carries it, keys without any
/// `kid`; a key with a different `kid` is never used. Without a header `kid`
/// every fitting key is tried.
///
/// Returns `(header, claims)`. Does NOT check `exp`, `aud`, `iss` etc.
pub fn verify_jwt(token: &str, keys: &[Jwk]) -> Result<(serde_json::Value, serde_json::Value), JoseError> {
    let parts = split_compact(token)?;
    let header = decode_json_object(parts.header_b64, "header")?;

    let alg_str = header
        .get("alg")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| JoseError::Malformed("header: missing alg".into()))?;
    let alg = Alg::parse(alg_str).ok_or_else(|| JoseError::UnsupportedAlg(alg_str.to_owned()))?;
    if header.get("crit").is_some() {
        return Err(JoseError::Malformed("header: unsupported crit".into()));
    }
    let header_kid = match header.get("kid") {
        None => None,
        Some(serde_json::Value::String(k)) => Some(k.as_str()),
        Some(_) => return Err(JoseError::Malformed("header: kid is not a string".into())),
    };

    let sig =
        URL_SAFE_NO_PAD.decode(parts.sig_b64).map_err(|_| JoseError::Malformed("signature: bad base64url".into()))?;
    if sig.is_empty() {
        return Err(JoseError::BadSignature);
    }

    let fitting = keys.iter().filter(|k| jwk_fits(k, alg));
    let candidates: Vec<&Jwk> = match header_kid {
        Some(kid) => {
            let by_kid: Vec<&Jwk> = fitting.clone().filter(|k| k.kid.as_deref() == Some(kid)).collect();
            if by_kid.is_empty() { fitting.filter(|k| k.kid.is_none()).collect() } else { by_kid }
        }
        None => fitting.collect(),
    };
    if candidates.is_empty() {
        return Err(JoseError::NoMatchingKey);
    }

    // Signing input is the ASCII of "<header_b64>.<payload_b64>" exactly as received.
    let signed_len = parts.header_b64.len() + 1 + parts.payload_b64.len();
    let msg = token.as_bytes().get(..signed_len).ok_or_else(|| JoseError::Malformed("token".into()))?;

    if !candidates.iter().any(|k| verify_with_jwk(k, alg, msg, &sig)) {
        return Err(JoseError::BadSignature);
    }

    let claims = decode_json_object(parts.payload_b64, "claims")?;
    Ok((header, claims))
}

/// Decodes header and claims WITHOUT verifying the signature. Only for
/// reading e.g. `iss`/`sub`/`kid` to choose keys; never trust the result.
pub fn decode_unverified(token: &str) -> Result<(serde_json::Value, serde_json::Value), JoseError> {
    let parts = split_compact(token)?;
    let header = decode_json_object(parts.header_b64, "header")?;
    let claims = decode_json_object(parts.payload_b64, "claims")?;
    Ok((header, claims))
}

// ---------------------------------------------------------------------------
// Secrets at rest
// ---------------------------------------------------------------------------

const TAG_LEN: usize = 16;

/// AES-256-GCM with a 32-byte master key. Output is `nonce(12) || ciphertext || tag(16)`;
/// the nonce is random per seal. `aad` binds a blob to its row (e.g. the kid).
pub struct SecretBox {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox { .. }")
    }
}

impl SecretBox {
    pub fn new(master_key: &[u8; 32]) -> Result<SecretBox, JoseError> {
        let unbound = UnboundKey::new(&AES_256_GCM, master_key).map_err(|_| JoseError::Crypto)?;
        Ok(SecretBox { key: LessSafeKey::new(unbound), rng: SystemRandom::new() })
    }

    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, JoseError> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce_bytes).map_err(|_| JoseError::Crypto)?;
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce_bytes);
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(aad), &mut in_out)
            .map_err(|_| JoseError::Crypto)?;
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    /// Fails with `Crypto` on a wrong key, wrong `aad` or any tampering.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, JoseError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(JoseError::Malformed("sealed blob too short".into()));
        }
        let (nonce_bytes, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce_bytes).map_err(|_| JoseError::Crypto)?;
        let mut in_out = ct.to_vec();
        let plain_len =
            self.key.open_in_place(nonce, Aad::from(aad), &mut in_out).map_err(|_| JoseError::Crypto)?.len();
        in_out.truncate(plain_len);
        Ok(in_out)
    }
}

// ---------------------------------------------------------------------------
// at_hash / c_hash
// ---------------------------------------------------------------------------

/// OIDC `at_hash`/`c_hash`: base64url of the left half of SHA-256 over the
/// ASCII token (SHA-256 for both RS256 and ES256).
pub fn half_hash(token: &str) -> String {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let bytes = d.as_ref();
    URL_SAFE_NO_PAD.encode(bytes.get(..bytes.len() / 2).unwrap_or(bytes))
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> serde_json::Value {
        json!({
            "iss": "https://idp.example",
            "sub": "user-1",
            "aud": "client-1",
            "exp": 4_000_000_000u64,
            "iat": 1_700_000_000u64,
        })
    }

    fn jwt_verify_independently(token: &str, jwk: &Jwk, alg: jsonwebtoken::Algorithm) {
        // Via the JWK JSON (their Jwk type) ...
        let their_jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(serde_json::to_value(jwk).unwrap()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&their_jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(alg);
        v.set_audience(&["client-1"]);
        v.set_issuer(&["https://idp.example"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).unwrap();
        assert_eq!(data.claims, claims());
        assert_eq!(data.header.kid.as_deref(), jwk.kid.as_deref());
        // ... and via raw components.
        let key2 = match alg {
            jsonwebtoken::Algorithm::RS256 => {
                jsonwebtoken::DecodingKey::from_rsa_components(jwk.n.as_deref().unwrap(), jwk.e.as_deref().unwrap())
                    .unwrap()
            }
            jsonwebtoken::Algorithm::ES256 => {
                jsonwebtoken::DecodingKey::from_ec_components(jwk.x.as_deref().unwrap(), jwk.y.as_deref().unwrap())
                    .unwrap()
            }
            other => panic!("unexpected {other:?}"),
        };
        jsonwebtoken::decode::<serde_json::Value>(token, &key2, &v).unwrap();
    }

    fn sign_and_check(alg: Alg, jalg: jsonwebtoken::Algorithm) {
        let key = SigningKey::generate(alg, "k1".into()).unwrap();
        let token = key.sign_jwt(&claims(), Some("JWT")).unwrap();
        assert_eq!(token.split('.').count(), 3);
        assert!(!token.contains('='));
        let jwk = key.public_jwk();
        let (h, c) = verify_jwt(&token, std::slice::from_ref(&jwk)).unwrap();
        assert_eq!(h, json!({"alg": alg.as_str(), "kid": "k1", "typ": "JWT"}));
        assert_eq!(c, claims());
        jwt_verify_independently(&token, &jwk, jalg);
    }

    #[test]
    fn rs256_sign_verify_both_ways() {
        sign_and_check(Alg::RS256, jsonwebtoken::Algorithm::RS256);
    }

    #[test]
    fn es256_sign_verify_both_ways() {
        sign_and_check(Alg::ES256, jsonwebtoken::Algorithm::ES256);
    }

    #[test]
    fn es256_signature_is_fixed_64_bytes() {
        let key = SigningKey::generate(Alg::ES256, "e".into()).unwrap();
        for _ in 0..20 {
            let t = key.sign_jwt(&claims(), None).unwrap();
            let sig = URL_SAFE_NO_PAD.decode(t.rsplit('.').next().unwrap()).unwrap();
            assert_eq!(sig.len(), 64);
        }
    }

    #[test]
    fn rs256_signature_is_256_bytes_and_deterministic() {
        let key = SigningKey::generate(Alg::RS256, "r".into()).unwrap();
        let a = key.sign_jwt(&claims(), None).unwrap();
        let b = key.sign_jwt(&claims(), None).unwrap();
        assert_eq!(a, b, "PKCS#1 v1.5 is deterministic");
        let sig = URL_SAFE_NO_PAD.decode(a.rsplit('.').next().unwrap()).unwrap();
        assert_eq!(sig.len(), 256);
    }

    #[test]
    fn header_without_typ() {
        let key = SigningKey::generate(Alg::ES256, "k".into()).unwrap();
        let t = key.sign_jwt(&claims(), None).unwrap();
        let (h, _) = decode_unverified(&t).unwrap();
        assert_eq!(h, json!({"alg": "ES256", "kid": "k"}));
    }

    #[test]
    fn public_jwk_shapes() {
        let r = SigningKey::generate(Alg::RS256, "r1".into()).unwrap().public_jwk();
        let v = serde_json::to_value(&r).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["alg", "e", "kid", "kty", "n", "use"]);
        assert_eq!(v["kty"], "RSA");
        assert_eq!(v["alg"], "RS256");
        assert_eq!(v["use"], "sig");
        assert_eq!(v["e"], "AQAB");
        assert_eq!(URL_SAFE_NO_PAD.decode(r.n.as_deref().unwrap()).unwrap().len(), 256);

        let e = SigningKey::generate(Alg::ES256, "e1".into()).unwrap().public_jwk();
        let v = serde_json::to_value(&e).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
        assert_eq!(v["kty"], "EC");
        assert_eq!(v["crv"], "P-256");
        assert_eq!(v["alg"], "ES256");
        assert_eq!(URL_SAFE_NO_PAD.decode(e.x.as_deref().unwrap()).unwrap().len(), 32);
        assert_eq!(URL_SAFE_NO_PAD.decode(e.y.as_deref().unwrap()).unwrap().len(), 32);

        // JwkSet round trip, unknown members ignored.
        let set = JwkSet { keys: vec![r.clone(), e.clone()] };
        let s = serde_json::to_string(&set).unwrap();
        let back: JwkSet = serde_json::from_str(&s).unwrap();
        assert_eq!(back.keys, vec![r, e]);
        let with_extra: Jwk =
            serde_json::from_value(json!({"kty":"EC","crv":"P-256","x":"a","y":"b","x5c":["zz"]})).unwrap();
        assert_eq!(with_extra.kid, None);
    }

    #[test]
    fn pkcs8_round_trip() {
        for alg in [Alg::RS256, Alg::ES256] {
            let k = SigningKey::generate(alg, "orig".into()).unwrap();
            let der = k.to_pkcs8().unwrap();
            let k2 = SigningKey::from_pkcs8(alg, "orig".into(), &der).unwrap();
            assert_eq!(k.public_jwk(), k2.public_jwk());
            assert_eq!(k2.to_pkcs8().unwrap(), der);
            let t = k2.sign_jwt(&claims(), Some("JWT")).unwrap();
            verify_jwt(&t, &[k.public_jwk()]).unwrap();
            let jalg = match alg {
                Alg::RS256 => jsonwebtoken::Algorithm::RS256,
                Alg::ES256 => jsonwebtoken::Algorithm::ES256,
            };
            jwt_verify_independently(&t, &k.public_jwk(), jalg);
        }
    }

    #[test]
    fn from_pkcs8_rejects_wrong_kind_and_garbage() {
        let rsa_der = SigningKey::generate(Alg::RS256, "r".into()).unwrap().to_pkcs8().unwrap();
        let ec_der = SigningKey::generate(Alg::ES256, "e".into()).unwrap().to_pkcs8().unwrap();
        assert!(matches!(SigningKey::from_pkcs8(Alg::ES256, "x".into(), &rsa_der), Err(JoseError::BadKey(_))));
        assert!(matches!(SigningKey::from_pkcs8(Alg::RS256, "x".into(), &ec_der), Err(JoseError::BadKey(_))));
        assert!(matches!(SigningKey::from_pkcs8(Alg::RS256, "x".into(), b"not a key"), Err(JoseError::BadKey(_))));
    }

    fn tamper_payload(token: &str) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut c = claims();
        c["sub"] = json!("admin");
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        parts.join(".")
    }

    fn tamper_signature(token: &str) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut sig = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
        sig[10] ^= 0x01;
        parts[2] = URL_SAFE_NO_PAD.encode(sig);
        parts.join(".")
    }

    #[test]
    fn tampering_rejected() {
        for alg in [Alg::RS256, Alg::ES256] {
            let k = SigningKey::generate(alg, "k".into()).unwrap();
            let jwk = k.public_jwk();
            let t = k.sign_jwt(&claims(), None).unwrap();
            assert!(matches!(
                verify_jwt(&tamper_payload(&t), std::slice::from_ref(&jwk)),
                Err(JoseError::BadSignature)
            ));
            assert!(matches!(
                verify_jwt(&tamper_signature(&t), std::slice::from_ref(&jwk)),
                Err(JoseError::BadSignature)
            ));
            // Empty / truncated signature.
            let (head, _) = t.rsplit_once('.').unwrap();
            assert!(verify_jwt(&format!("{head}."), std::slice::from_ref(&jwk)).is_err());
            assert!(verify_jwt(&t[..t.len() - 4], std::slice::from_ref(&jwk)).is_err());
            // Padding / junk is malformed.
            assert!(matches!(verify_jwt(&format!("{t}="), std::slice::from_ref(&jwk)), Err(JoseError::Malformed(_))));
            assert!(matches!(verify_jwt(&format!("{t}.x"), std::slice::from_ref(&jwk)), Err(JoseError::Malformed(_))));
            assert!(matches!(verify_jwt("abc", &[jwk]), Err(JoseError::Malformed(_))));
        }
    }

    #[test]
    fn wrong_key_rejected() {
        let a = SigningKey::generate(Alg::ES256, "same".into()).unwrap();
        let b = SigningKey::generate(Alg::ES256, "same".into()).unwrap();
        let t = a.sign_jwt(&claims(), None).unwrap();
        assert!(matches!(verify_jwt(&t, &[b.public_jwk()]), Err(JoseError::BadSignature)));
        // An RSA key can't verify an ES256 token.
        let r = SigningKey::generate(Alg::RS256, "same".into()).unwrap();
        assert!(matches!(verify_jwt(&t, &[r.public_jwk()]), Err(JoseError::NoMatchingKey)));
        assert!(matches!(verify_jwt(&t, &[]), Err(JoseError::NoMatchingKey)));
    }

    #[test]
    fn alg_none_and_others_rejected() {
        let k = SigningKey::generate(Alg::RS256, "k".into()).unwrap();
        let jwk = k.public_jwk();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
        for alg in ["none", "None", "HS256", "RS384", "PS256", "ES384", "rs256", "EdDSA"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"k"}}"#));
            for sig in ["", "AAAA"] {
                let t = format!("{header}.{payload}.{sig}");
                assert!(
                    matches!(verify_jwt(&t, std::slice::from_ref(&jwk)), Err(JoseError::UnsupportedAlg(ref a)) if a == alg),
                    "alg {alg} sig {sig:?}"
                );
            }
        }
        // Missing alg.
        let header = URL_SAFE_NO_PAD.encode(r#"{"kid":"k"}"#);
        assert!(matches!(verify_jwt(&format!("{header}.{payload}.AAAA"), &[jwk]), Err(JoseError::Malformed(_))));
    }

    #[test]
    fn hs256_with_public_key_as_secret_rejected() {
        // Classic key-confusion attempt: HS256 keyed with the public JWK's bytes.
        let k = SigningKey::generate(Alg::RS256, "k".into()).unwrap();
        let jwk = k.public_jwk();
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("k".into());
        let t = jsonwebtoken::encode(
            &h,
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(jwk.n.as_deref().unwrap().as_bytes()),
        )
        .unwrap();
        assert!(matches!(verify_jwt(&t, &[jwk]), Err(JoseError::UnsupportedAlg(_))));
    }

    #[test]
    fn crit_header_rejected() {
        let k = SigningKey::generate(Alg::ES256, "k".into()).unwrap();
        // Hand-build a correctly signed token whose header carries crit.
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","kid":"k","crit":["exp"],"exp":1}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
        let input = format!("{header}.{payload}");
        let sig = URL_SAFE_NO_PAD.encode(k.sign_bytes(input.as_bytes()).unwrap());
        let t = format!("{input}.{sig}");
        assert!(matches!(verify_jwt(&t, &[k.public_jwk()]), Err(JoseError::Malformed(_))));
    }

    #[test]
    fn kid_selection() {
        let k1 = SigningKey::generate(Alg::ES256, "k1".into()).unwrap();
        let k2 = SigningKey::generate(Alg::ES256, "k2".into()).unwrap();
        let k3 = SigningKey::generate(Alg::RS256, "k3".into()).unwrap();
        let set = vec![k3.public_jwk(), k1.public_jwk(), k2.public_jwk()];

        let t2 = k2.sign_jwt(&claims(), None).unwrap();
        let (h, _) = verify_jwt(&t2, &set).unwrap();
        assert_eq!(h["kid"], "k2");
        let t3 = k3.sign_jwt(&claims(), None).unwrap();
        verify_jwt(&t3, &set).unwrap();

        // Wrong kid: token signed by k1 but header says k2 → k2 tried, fails.
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","kid":"k2"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
        let input = format!("{header}.{payload}");
        let sig = URL_SAFE_NO_PAD.encode(k1.sign_bytes(input.as_bytes()).unwrap());
        assert!(matches!(verify_jwt(&format!("{input}.{sig}"), &set), Err(JoseError::BadSignature)));

        // Unknown kid → no key, even though k1 (different kid) would verify.
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","kid":"nope"}"#);
        let input = format!("{header}.{payload}");
        let sig = URL_SAFE_NO_PAD.encode(k1.sign_bytes(input.as_bytes()).unwrap());
        let t = format!("{input}.{sig}");
        assert!(matches!(verify_jwt(&t, &set), Err(JoseError::NoMatchingKey)));
        // ... but a kid-less JWK that fits is tried.
        let mut anon = k1.public_jwk();
        anon.kid = None;
        verify_jwt(&t, &[k2.public_jwk(), anon]).unwrap();

        // No kid in header: every fitting key is tried.
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256"}"#);
        let input = format!("{header}.{payload}");
        let sig = URL_SAFE_NO_PAD.encode(k1.sign_bytes(input.as_bytes()).unwrap());
        verify_jwt(&format!("{input}.{sig}"), &set).unwrap();

        // A JWK declaring another alg or use=enc is never used.
        let mut enc = k2.public_jwk();
        enc.use_ = Some("enc".into());
        assert!(matches!(verify_jwt(&t2, &[enc]), Err(JoseError::NoMatchingKey)));
        let mut other_alg = k2.public_jwk();
        other_alg.alg = Some("ES384".into());
        assert!(matches!(verify_jwt(&t2, &[other_alg]), Err(JoseError::NoMatchingKey)));
    }

    #[test]
    fn verifies_tokens_from_jsonwebtoken() {
        // Interop the other way: a token signed by jsonwebtoken verifies with our code.
        let k = SigningKey::generate(Alg::ES256, "ext".into()).unwrap();
        let der = k.to_pkcs8().unwrap();
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = Some("ext".into());
        let t = jsonwebtoken::encode(&h, &claims(), &jsonwebtoken::EncodingKey::from_ec_der(&der)).unwrap();
        let (_, c) = verify_jwt(&t, &[k.public_jwk()]).unwrap();
        assert_eq!(c, claims());

        let k = SigningKey::generate(Alg::RS256, "ext".into()).unwrap();
        let der = k.to_pkcs8().unwrap();
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some("ext".into());
        // jsonwebtoken's from_rsa_der wants PKCS#1 RSAPrivateKey; PKCS#8 wraps it in an
        // OCTET STRING at the end of the PrivateKeyInfo SEQUENCE.
        let (_, pki, _) = der_tlv(&der).unwrap();
        let (_, _version, rest) = der_tlv(pki).unwrap();
        let (_, _algid, rest) = der_tlv(rest).unwrap();
        let (tag, pkcs1, _) = der_tlv(rest).unwrap();
        assert_eq!(tag, 0x04);
        let t = jsonwebtoken::encode(&h, &claims(), &jsonwebtoken::EncodingKey::from_rsa_der(pkcs1)).unwrap();
        let (_, c) = verify_jwt(&t, &[k.public_jwk()]).unwrap();
        assert_eq!(c, claims());
    }

    #[test]
    fn decode_unverified_reads_without_keys() {
        let k = SigningKey::generate(Alg::ES256, "k".into()).unwrap();
        let t = k.sign_jwt(&claims(), Some("at+jwt")).unwrap();
        let (h, c) = decode_unverified(&tamper_signature(&t)).unwrap();
        assert_eq!(h["typ"], "at+jwt");
        assert_eq!(c["iss"], "https://idp.example");
        assert!(decode_unverified("a.b").is_err());
        assert!(decode_unverified("!!.??.x").is_err());
        // Non-object claims are rejected.
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256"}"#);
        let p = URL_SAFE_NO_PAD.encode("[1,2]");
        assert!(matches!(decode_unverified(&format!("{h}.{p}.")), Err(JoseError::Malformed(_))));
    }

    #[test]
    fn alg_parse_and_serde() {
        assert_eq!(Alg::parse("RS256"), Some(Alg::RS256));
        assert_eq!(Alg::parse("ES256"), Some(Alg::ES256));
        assert_eq!(Alg::parse("none"), None);
        assert_eq!(Alg::parse("es256"), None);
        assert_eq!(Alg::RS256.as_str(), "RS256");
        assert_eq!(serde_json::to_string(&Alg::ES256).unwrap(), r#""ES256""#);
        assert_eq!(serde_json::from_str::<Alg>(r#""RS256""#).unwrap(), Alg::RS256);
    }

    #[test]
    fn debug_does_not_leak_key_material() {
        let k = SigningKey::generate(Alg::ES256, "dbg".into()).unwrap();
        let s = format!("{k:?}");
        assert!(s.contains("dbg") && s.contains("ES256"));
        assert!(!s.contains(k.public_jwk().x.as_deref().unwrap()));
        fn send_sync<T: Send + Sync>() {}
        send_sync::<SigningKey>();
        send_sync::<SecretBox>();
    }

    #[test]
    fn secret_box_round_trip_and_failures() {
        let sb = SecretBox::new(&[7u8; 32]).unwrap();
        let msg = b"-----pkcs8 bytes-----";
        let sealed = sb.seal(b"kid-1", msg).unwrap();
        assert_eq!(sealed.len(), 12 + msg.len() + 16);
        assert_eq!(sb.open(b"kid-1", &sealed).unwrap(), msg);
        // Random nonce: two seals differ.
        assert_ne!(sb.seal(b"kid-1", msg).unwrap(), sealed);
        // Empty plaintext works.
        let e = sb.seal(b"", b"").unwrap();
        assert_eq!(sb.open(b"", &e).unwrap(), b"");
        // Wrong aad (swapped row).
        assert!(matches!(sb.open(b"kid-2", &sealed), Err(JoseError::Crypto)));
        // Tampering anywhere: nonce, ciphertext, tag.
        for i in [0, 12, sealed.len() - 1] {
            let mut t = sealed.clone();
            t[i] ^= 0x80;
            assert!(matches!(sb.open(b"kid-1", &t), Err(JoseError::Crypto)), "byte {i}");
        }
        // Truncated.
        assert!(sb.open(b"kid-1", &sealed[..sealed.len() - 1]).is_err());
        assert!(matches!(sb.open(b"kid-1", &sealed[..27]), Err(JoseError::Malformed(_))));
        // Wrong master key.
        let other = SecretBox::new(&[8u8; 32]).unwrap();
        assert!(matches!(other.open(b"kid-1", &sealed), Err(JoseError::Crypto)));
    }

    #[test]
    fn sealed_pkcs8_restores_signing_key() {
        let sb = SecretBox::new(&[1u8; 32]).unwrap();
        let k = SigningKey::generate(Alg::RS256, "kid-9".into()).unwrap();
        let blob = sb.seal(k.kid.as_bytes(), &k.to_pkcs8().unwrap()).unwrap();
        let der = sb.open(b"kid-9", &blob).unwrap();
        let k2 = SigningKey::from_pkcs8(Alg::RS256, "kid-9".into(), &der).unwrap();
        let t = k2.sign_jwt(&claims(), None).unwrap();
        verify_jwt(&t, &[k.public_jwk()]).unwrap();
    }

    #[test]
    fn half_hash_spec_vectors() {
        // OpenID Connect Core 1.0, Appendix A.3 / A.4 (RS256 → SHA-256):
        //   access_token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" → at_hash "77QmUPtjPfzWtF2AnpK9RQ"
        //   code "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk" → c_hash "LDktKdoQak3Pk0cnXxCltA"
        assert_eq!(half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
        assert_eq!(half_hash("Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"), "LDktKdoQak3Pk0cnXxCltA");
        // 16 bytes → 22 base64url chars.
        assert_eq!(half_hash("").len(), 22);
    }
}
