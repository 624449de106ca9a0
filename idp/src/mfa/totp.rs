//! Authenticator-app OTP (TOTP, RFC 6238) — SPEC §5.
//!
//! Pure functions: secret generation, the `otpauth://` key URI (Keycloak-compatible), its QR code
//! as SVG, code generation and verification with clock drift (± `look_around` steps) and replay
//! protection (a time step is accepted once per device; the caller stores the returned step with a
//! conditional update so concurrent submissions of the same code cannot both win).
//!
//! Defaults follow Keycloak's `OTPPolicy.DEFAULT_POLICY` (TOTP, HmacSHA1, 6 digits, look-around 1,
//! 30 s). Keycloak-generated secrets are 20 ASCII characters whose bytes are the HMAC key; they are
//! accepted by [`TotpSecret::from_bytes`] as-is.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Largest accepted `look_around` (steps each side). RFC 6238 recommends 1; anything large makes
/// guessing easier and verification slower, so a policy beyond this is refused as invalid.
pub const MAX_LOOK_AROUND: u64 = 10;

/// Length of generated secrets in bytes (160 bits, RFC 4226 §4 recommendation).
pub const GENERATED_SECRET_LEN: usize = 20;

/// Shortest accepted secret in bytes (128 bits, RFC 4226 §4 requirement).
pub const MIN_SECRET_LEN: usize = 16;

/// HMAC algorithm of a TOTP policy. Serialised as in the key URI (`SHA1`, `SHA256`, `SHA512`);
/// Keycloak's names (`HmacSHA1`, …) are accepted on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OtpAlgorithm {
    #[serde(rename = "SHA1", alias = "HmacSHA1")]
    Sha1,
    #[serde(rename = "SHA256", alias = "HmacSHA256")]
    Sha256,
    #[serde(rename = "SHA512", alias = "HmacSHA512")]
    Sha512,
}

impl OtpAlgorithm {
    /// The name used in the `otpauth://` URI and on the enrolment page (`SHA1`, …).
    pub fn uri_name(self) -> &'static str {
        match self {
            OtpAlgorithm::Sha1 => "SHA1",
            OtpAlgorithm::Sha256 => "SHA256",
            OtpAlgorithm::Sha512 => "SHA512",
        }
    }

    /// Parses Keycloak's `otpPolicyAlgorithm` / credential `algorithm` (`HmacSHA1`, …) or the URI
    /// name (`SHA1`, …), case-insensitively.
    pub fn from_keycloak(name: &str) -> Option<OtpAlgorithm> {
        let n = name.trim();
        let n = if n.len() > 4 && n[..4].eq_ignore_ascii_case("hmac") { &n[4..] } else { n };
        if n.eq_ignore_ascii_case("SHA1") {
            Some(OtpAlgorithm::Sha1)
        } else if n.eq_ignore_ascii_case("SHA256") {
            Some(OtpAlgorithm::Sha256)
        } else if n.eq_ignore_ascii_case("SHA512") {
            Some(OtpAlgorithm::Sha512)
        } else {
            None
        }
    }

    fn to_lib(self) -> totp_rs::Algorithm {
        match self {
            OtpAlgorithm::Sha1 => totp_rs::Algorithm::SHA1,
            OtpAlgorithm::Sha256 => totp_rs::Algorithm::SHA256,
            OtpAlgorithm::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

/// A realm's TOTP policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpPolicy {
    /// HMAC algorithm (default SHA1).
    pub algorithm: OtpAlgorithm,
    /// Number of digits: 6 (default) or 8 (7 is accepted too, as RFC 4226 allows 6–8).
    pub digits: u32,
    /// Step length in seconds (default 30).
    pub period: u64,
    /// Steps accepted on each side of the current one for clock drift (default 1 ⇒ 90 s window).
    pub look_around: u64,
}

impl Default for TotpPolicy {
    fn default() -> Self {
        TotpPolicy { algorithm: OtpAlgorithm::Sha1, digits: 6, period: 30, look_around: 1 }
    }
}

/// A TOTP shared secret (the raw HMAC key bytes). `Debug` never shows the bytes.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TotpSecret(<{} bytes redacted>)", self.0.len())
    }
}

impl TotpSecret {
    /// A fresh 160-bit secret from the operating system's CSPRNG.
    pub fn generate() -> TotpSecret {
        let mut bytes = vec![0u8; GENERATED_SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        TotpSecret(bytes)
    }

    /// Wraps existing key bytes (at least 128 bits). For Keycloak-imported credentials without
    /// `secretEncoding` the key is the UTF-8 bytes of `value` (20 ASCII characters).
    pub fn from_bytes(b: Vec<u8>) -> Result<TotpSecret, TotpError> {
        if b.len() < MIN_SECRET_LEN {
            return Err(TotpError::BadSecret);
        }
        Ok(TotpSecret(b))
    }

    /// Decodes a Base32 secret (RFC 4648; case, spaces and `=` padding ignored) — for Keycloak
    /// credentials with `"secretEncoding":"BASE32"`.
    pub fn from_base32(s: &str) -> Result<TotpSecret, TotpError> {
        let cleaned: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=' && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if cleaned.is_empty() {
            return Err(TotpError::BadSecret);
        }
        let secret = totp_rs::Secret::try_from_base32(&cleaned).map_err(|_| TotpError::BadSecret)?;
        TotpSecret::from_bytes(secret.as_ref().to_vec())
    }

    /// The raw key bytes (for encrypted storage).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 Base32 without padding (as in the key URI).
    pub fn base32(&self) -> String {
        totp_rs::Secret::from(self.0.as_slice()).to_base32()
    }

    /// Base32 in groups of four separated by spaces (「スキャンできませんか？」): `NQZX CVTI PFJX …`.
    pub fn base32_grouped(&self) -> String {
        let b32 = self.base32();
        let mut out = String::with_capacity(b32.len() + b32.len() / 4);
        for (i, c) in b32.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }
}

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    /// The submitted code is not exactly `digits` digits (after normalisation).
    #[error("malformed one-time code")]
    Malformed,
    /// The secret is too short or cannot be decoded.
    #[error("invalid OTP secret")]
    BadSecret,
    /// The QR code could not be produced (e.g. data too long).
    #[error("QR code generation failed: {0}")]
    Qr(String),
    /// Invalid policy or another internal failure.
    #[error("TOTP internal error: {0}")]
    Internal(String),
}

/// Percent-encodes like Java's `URLEncoder.encode(s, UTF_8)` followed by `+` → `%20`, which is what
/// Keycloak does for the key URI: `A–Z a–z 0–9 . - * _` are kept, everything else is `%XX` of its
/// UTF-8 bytes (a space becomes `%20`).
fn url_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*' | b'_') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// `otpauth://totp/{issuer}:{account}?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`, issuer
/// and account percent-encoded (UTF-8; `:` in the issuer replaced by a space; spaces as `%20`), as
/// Keycloak does — issuer = realm display name, account = user ID.
pub fn otpauth_uri(secret: &TotpSecret, policy: &TotpPolicy, issuer: &str, account: &str) -> String {
    let issuer = url_encode(&issuer.replace(':', " "));
    let account = url_encode(account);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm={alg}&digits={digits}&period={period}",
        secret = secret.base32(),
        alg = policy.algorithm.uri_name(),
        digits = policy.digits,
        period = policy.period,
    )
}

/// The QR code of `uri` as a standalone SVG document (XML declaration + `<svg>`), black on white,
/// with the standard 4-module quiet zone, at least 200×200 px. Error correction level M.
pub fn qr_svg(uri: &str) -> Result<String, TotpError> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| TotpError::Qr(e.to_string()))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

/// Builds the `totp-rs` generator for a policy (validating it); skew is handled here, not there.
fn generator(secret: &TotpSecret, policy: &TotpPolicy) -> Result<totp_rs::Totp, TotpError> {
    let digits = u8::try_from(policy.digits)
        .ok()
        .filter(|d| (6..=8).contains(d))
        .ok_or_else(|| TotpError::Internal(format!("invalid OTP digits {}", policy.digits)))?;
    if policy.period == 0 {
        return Err(TotpError::Internal("invalid OTP period 0".into()));
    }
    if policy.look_around > MAX_LOOK_AROUND {
        return Err(TotpError::Internal(format!("OTP look-around {} exceeds {MAX_LOOK_AROUND}", policy.look_around)));
    }
    if secret.0.len() < MIN_SECRET_LEN {
        return Err(TotpError::BadSecret);
    }
    totp_rs::Builder::new()
        .with_algorithm(policy.algorithm.to_lib())
        .with_digits(digits)
        .with_skew(0)
        .with_step_duration(policy.period)
        .with_secret(secret.0.clone())
        .build()
        .map_err(|e| TotpError::Internal(e.to_string()))
}

/// The code for a given unix time (for tests and the enrolment check).
pub fn code_at(secret: &TotpSecret, policy: &TotpPolicy, unix_time: u64) -> Result<String, TotpError> {
    Ok(generator(secret, policy)?.generate(unix_time).to_string())
}

/// Normalises user input: trims, removes whitespace (ASCII and full-width spaces) and maps
/// full-width digits `０`–`９` to ASCII. Returns `Malformed` unless exactly `digits` ASCII digits
/// remain.
fn normalise_code(code: &str, digits: u32) -> Result<String, TotpError> {
    let mut out = String::with_capacity(code.len());
    for c in code.trim().chars() {
        match c {
            c if c.is_whitespace() => {}
            '0'..='9' => out.push(c),
            '\u{FF10}'..='\u{FF19}' => {
                let d = u32::from(c) - 0xFF10;
                match char::from_digit(d, 10) {
                    Some(a) => out.push(a),
                    None => return Err(TotpError::Malformed),
                }
            }
            _ => return Err(TotpError::Malformed),
        }
    }
    if u32::try_from(out.len()).ok() != Some(digits) {
        return Err(TotpError::Malformed);
    }
    Ok(out)
}

/// Constant-time comparison of two equal-length byte strings (length is not secret).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies `code` at `now` within ± `look_around` steps.
///
/// `last_used_step` is the highest time step already accepted for this device (`None` if never);
/// a code whose step is `<= last_used_step` is refused (replay). Returns `Ok(Some(step))` with the
/// matched time step — the caller stores it as the new `last_used_step` with a conditional update
/// (`… WHERE last_used_step IS NULL OR last_used_step < $step`) so concurrent submissions of the
/// same code cannot both win. `Ok(None)` = wrong or replayed code. Input is normalised (trim,
/// spaces removed, full-width digits → ASCII); anything that is not exactly `digits` digits is
/// `Err(TotpError::Malformed)`.
pub fn verify(
    secret: &TotpSecret,
    policy: &TotpPolicy,
    code: &str,
    now: u64,
    last_used_step: Option<u64>,
) -> Result<Option<u64>, TotpError> {
    let code = normalise_code(code, policy.digits)?;
    let totp = generator(secret, policy)?;
    let current = now / policy.period;
    let first = current.saturating_sub(policy.look_around);
    let last = current.saturating_add(policy.look_around);
    // Check every step in the window (no early exit) and keep the highest match, so a rare
    // collision inside the window marks the later step as used.
    let mut matched: Option<u64> = None;
    for step in first..=last {
        if last_used_step.is_some_and(|used| step <= used) {
            continue;
        }
        let Some(t) = step.checked_mul(policy.period) else { continue };
        let expected = totp.generate(t).to_string();
        if ct_eq(expected.as_bytes(), code.as_bytes()) {
            matched = Some(step);
        }
    }
    Ok(matched)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    fn policy(algorithm: OtpAlgorithm, digits: u32) -> TotpPolicy {
        TotpPolicy { algorithm, digits, ..TotpPolicy::default() }
    }

    #[test]
    fn default_policy_matches_keycloak() {
        let p = TotpPolicy::default();
        assert_eq!(p.algorithm, OtpAlgorithm::Sha1);
        assert_eq!((p.digits, p.period, p.look_around), (6, 30, 1));
    }

    #[test]
    fn rfc6238_appendix_b_vectors() {
        // (time, SHA1, SHA256, SHA512) — RFC 6238 Appendix B, 8 digits.
        let vectors: &[(u64, &str, &str, &str)] = &[
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ];
        let s1 = TotpSecret::from_bytes(SEED_SHA1.to_vec()).unwrap();
        let s256 = TotpSecret::from_bytes(SEED_SHA256.to_vec()).unwrap();
        let s512 = TotpSecret::from_bytes(SEED_SHA512.to_vec()).unwrap();
        for &(t, c1, c256, c512) in vectors {
            assert_eq!(code_at(&s1, &policy(OtpAlgorithm::Sha1, 8), t).unwrap(), c1, "SHA1 t={t}");
            assert_eq!(code_at(&s256, &policy(OtpAlgorithm::Sha256, 8), t).unwrap(), c256, "SHA256 t={t}");
            assert_eq!(code_at(&s512, &policy(OtpAlgorithm::Sha512, 8), t).unwrap(), c512, "SHA512 t={t}");
            // And each verifies at its own time, returning the step.
            assert_eq!(verify(&s1, &policy(OtpAlgorithm::Sha1, 8), c1, t, None).unwrap(), Some(t / 30));
        }
    }

    /// RFC 4226 HOTP computed by hand (HMAC-SHA1, dynamic truncation).
    fn hotp_sha1(key: &[u8], counter: u64, digits: u32) -> String {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
        mac.update(&counter.to_be_bytes());
        let h = mac.finalize().into_bytes();
        let off = usize::from(h[19] & 0x0f);
        let bin = (u32::from(h[off] & 0x7f) << 24)
            | (u32::from(h[off + 1]) << 16)
            | (u32::from(h[off + 2]) << 8)
            | u32::from(h[off + 3]);
        format!("{:0width$}", bin % 10u32.pow(digits), width = digits as usize)
    }

    #[test]
    fn independent_hotp_check() {
        // RFC 4226 Appendix D sanity check of the hand-written HOTP itself.
        assert_eq!(hotp_sha1(SEED_SHA1, 0, 6), "755224");
        assert_eq!(hotp_sha1(SEED_SHA1, 9, 6), "520489");
        let secret = TotpSecret::generate();
        let p = TotpPolicy::default();
        for t in [0u64, 29, 30, 59, 1_700_000_000, 1_700_000_015, 4_102_444_800] {
            assert_eq!(code_at(&secret, &p, t).unwrap(), hotp_sha1(secret.as_bytes(), t / 30, 6), "t={t}");
        }
        // Keycloak-style 20-ASCII-character secret, bytes used as the key.
        let kc = TotpSecret::from_bytes(b"aB3dE5fG7hJ9kL1mN3pQ".to_vec()).unwrap();
        let t = 1_712_345_678;
        assert_eq!(code_at(&kc, &p, t).unwrap(), hotp_sha1(kc.as_bytes(), t / 30, 6));
    }

    #[test]
    fn drift_window() {
        let secret = TotpSecret::generate();
        let p = TotpPolicy::default();
        let now = 1_700_000_010u64;
        let step = now / 30;
        let code_for = |s: u64| code_at(&secret, &p, s * 30).unwrap();
        assert_eq!(verify(&secret, &p, &code_for(step), now, None).unwrap(), Some(step));
        assert_eq!(verify(&secret, &p, &code_for(step - 1), now, None).unwrap(), Some(step - 1));
        assert_eq!(verify(&secret, &p, &code_for(step + 1), now, None).unwrap(), Some(step + 1));
        // Two steps away: refused (unless by chance equal to a code inside the window).
        for far in [step - 2, step + 2] {
            let c = code_for(far);
            let inside = (step - 1..=step + 1).any(|s| code_for(s) == c);
            if !inside {
                assert_eq!(verify(&secret, &p, &c, now, None).unwrap(), None, "step {far}");
            }
        }
        // look_around 0: only the current step.
        let strict = TotpPolicy { look_around: 0, ..TotpPolicy::default() };
        let prev = code_for(step - 1);
        if prev != code_for(step) {
            assert_eq!(verify(&secret, &strict, &prev, now, None).unwrap(), None);
        }
    }

    #[test]
    fn replay_refused() {
        let secret = TotpSecret::from_bytes(SEED_SHA1.to_vec()).unwrap();
        let p = TotpPolicy::default();
        let now = 1_234_567_890u64;
        let step = now / 30;
        let code = code_at(&secret, &p, now).unwrap();
        assert_eq!(verify(&secret, &p, &code, now, None).unwrap(), Some(step));
        assert_eq!(verify(&secret, &p, &code, now, Some(step - 1)).unwrap(), Some(step));
        // Same step already used: refused.
        assert_eq!(verify(&secret, &p, &code, now, Some(step)).unwrap(), None);
        // A later step already used: earlier codes refused too.
        assert_eq!(verify(&secret, &p, &code, now, Some(step + 1)).unwrap(), None);
        let prev = code_at(&secret, &p, now - 30).unwrap();
        assert_eq!(verify(&secret, &p, &prev, now, Some(step)).unwrap(), None);
        // The next step still works after the current one was used.
        let next = code_at(&secret, &p, now + 30).unwrap();
        assert_eq!(verify(&secret, &p, &next, now, Some(step)).unwrap(), Some(step + 1));
    }

    #[test]
    fn input_normalisation() {
        let secret = TotpSecret::from_bytes(SEED_SHA1.to_vec()).unwrap();
        let p = TotpPolicy::default();
        let now = 1_111_111_111u64;
        let code = code_at(&secret, &p, now).unwrap(); // "050471"
        let full_width: String =
            code.chars().map(|c| char::from_u32(0xFF10 + c.to_digit(10).unwrap()).unwrap()).collect();
        let spaced = format!("  {} {}\t", &code[..3], &code[3..]);
        let ideographic = format!("{}\u{3000}{}", &code[..3], &code[3..]);
        for input in [full_width.as_str(), spaced.as_str(), ideographic.as_str()] {
            assert_eq!(verify(&secret, &p, input, now, None).unwrap(), Some(now / 30), "{input:?}");
        }
        assert_eq!(normalise_code("１２３４５６", 6).unwrap(), "123456");
        assert_eq!(normalise_code(" 123 456 ", 6).unwrap(), "123456");
    }

    #[test]
    fn malformed_codes() {
        let secret = TotpSecret::generate();
        let p = TotpPolicy::default();
        for bad in ["12345", "abcdef", "1234567", "", "12345a", "+12345", "１２３４５", "12-456"] {
            assert!(matches!(verify(&secret, &p, bad, 1_700_000_000, None), Err(TotpError::Malformed)), "{bad:?}");
        }
        // 8-digit policy refuses 6 digits.
        let p8 = policy(OtpAlgorithm::Sha1, 8);
        assert!(matches!(verify(&secret, &p8, "123456", 0, None), Err(TotpError::Malformed)));
    }

    #[test]
    fn invalid_policy_is_internal_error() {
        let secret = TotpSecret::generate();
        let bad_digits = policy(OtpAlgorithm::Sha1, 10);
        assert!(matches!(code_at(&secret, &bad_digits, 0), Err(TotpError::Internal(_))));
        let zero_period = TotpPolicy { period: 0, ..TotpPolicy::default() };
        assert!(matches!(verify(&secret, &zero_period, "123456", 0, None), Err(TotpError::Internal(_))));
    }

    #[test]
    fn secrets() {
        let s = TotpSecret::generate();
        assert_eq!(s.as_bytes().len(), 20);
        assert_ne!(s.as_bytes(), TotpSecret::generate().as_bytes());
        assert!(!format!("{s:?}").contains(&format!("{:?}", s.as_bytes())));
        assert!(!format!("{s:?}").contains(&s.base32()));
        assert!(matches!(TotpSecret::from_bytes(vec![0; 15]), Err(TotpError::BadSecret)));
        assert!(TotpSecret::from_bytes(vec![0; 16]).is_ok());
        assert!(TotpSecret::from_bytes(SEED_SHA512.to_vec()).is_ok());
    }

    #[test]
    fn base32_and_grouping() {
        let s = TotpSecret::from_bytes(SEED_SHA1.to_vec()).unwrap();
        assert_eq!(s.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(s.base32_grouped(), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
        // 16 bytes → 26 chars, no padding; last group shorter.
        let s16 = TotpSecret::from_bytes(vec![0xff; 16]).unwrap();
        assert_eq!(s16.base32().len(), 26);
        assert!(!s16.base32().contains('='));
        assert!(s16.base32_grouped().ends_with(" 74"));
        // Round trip through from_base32 (lower case, grouped input accepted).
        let g = TotpSecret::generate();
        let back = TotpSecret::from_base32(&g.base32_grouped().to_lowercase()).unwrap();
        assert_eq!(back.as_bytes(), g.as_bytes());
        assert!(matches!(TotpSecret::from_base32("GEZD"), Err(TotpError::BadSecret)));
        assert!(matches!(TotpSecret::from_base32("!!!!"), Err(TotpError::BadSecret)));
    }

    #[test]
    fn otpauth_uri_keycloak_style() {
        let s = TotpSecret::from_bytes(SEED_SHA1.to_vec()).unwrap();
        let uri = otpauth_uri(&s, &TotpPolicy::default(), "デモ健保組合", "demo0001");
        let enc = "%E3%83%87%E3%83%A2%E5%81%A5%E4%BF%9D%E7%B5%84%E5%90%88";
        assert_eq!(
            uri,
            format!(
                "otpauth://totp/{enc}:demo0001?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer={enc}&algorithm=SHA1&digits=6&period=30"
            )
        );
        assert_eq!(uri.matches(enc).count(), 2);
        // `:` in the issuer becomes a space, spaces are %20 (never +), account is encoded too.
        let p = TotpPolicy { algorithm: OtpAlgorithm::Sha256, digits: 8, period: 60, look_around: 1 };
        let uri = otpauth_uri(&s, &p, "Kenpo: Demo", "a b+c@example.jp");
        assert!(uri.starts_with("otpauth://totp/Kenpo%20%20Demo:a%20b%2Bc%40example.jp?"), "{uri}");
        assert!(uri.contains("&issuer=Kenpo%20%20Demo&"));
        assert!(uri.ends_with("&algorithm=SHA256&digits=8&period=60"));
        assert!(!uri.contains('+'));
    }

    #[test]
    fn qr_svg_document() {
        let s = TotpSecret::generate();
        let uri = otpauth_uri(&s, &TotpPolicy::default(), "デモ健保組合", "demo0001");
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"));
        assert!(svg.contains("<svg"));
        assert!(svg.contains("#000000") && svg.contains("#ffffff"));
        // Width attribute at least 200 px.
        let w: u32 =
            svg.split("width=\"").nth(1).and_then(|r| r.split('"').next()).and_then(|v| v.parse().ok()).unwrap();
        assert!(w >= 200, "width {w}");
        // Too long for any QR version.
        assert!(matches!(qr_svg(&"x".repeat(8000)), Err(TotpError::Qr(_))));
    }

    #[test]
    fn algorithm_names() {
        assert_eq!(OtpAlgorithm::from_keycloak("HmacSHA1"), Some(OtpAlgorithm::Sha1));
        assert_eq!(OtpAlgorithm::from_keycloak("HmacSHA256"), Some(OtpAlgorithm::Sha256));
        assert_eq!(OtpAlgorithm::from_keycloak("sha512"), Some(OtpAlgorithm::Sha512));
        assert_eq!(OtpAlgorithm::from_keycloak("MD5"), None);
        assert_eq!(serde_json::to_string(&OtpAlgorithm::Sha256).unwrap(), "\"SHA256\"");
        let a: OtpAlgorithm = serde_json::from_str("\"HmacSHA512\"").unwrap();
        assert_eq!(a, OtpAlgorithm::Sha512);
        let p: TotpPolicy =
            serde_json::from_str(r#"{"algorithm":"HmacSHA1","digits":6,"period":30,"look_around":1}"#).unwrap();
        assert_eq!(p, TotpPolicy::default());
    }
}
