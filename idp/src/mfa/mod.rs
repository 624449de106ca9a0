pub mod totp;
