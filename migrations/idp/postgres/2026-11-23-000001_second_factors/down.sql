DROP TABLE mfa_challenges;
DROP TABLE email_otps;
DROP TABLE recovery_codes;
DROP TABLE user_credentials;
