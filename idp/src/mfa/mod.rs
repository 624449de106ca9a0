//! Second factors. `totp` is the authenticator-app OTP (RFC 6238) domain: secrets, codes,
//! the otpauth URI and its QR code; enrolment and the login step build on it.

pub mod totp;
