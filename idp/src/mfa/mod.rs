//! Second factors (SPEC §5), pure domain code: `totp` (authenticator apps, RFC 6238: secrets,
//! codes, the otpauth URI and its QR code), `codes` (e-mail OTPs and recovery codes), `sealed`
//! (secrets at rest). The login step and enrolment that use them live in `flows`.

pub mod codes;
pub mod passkey;
pub mod totp;
