ALTER TABLE users DROP COLUMN mfa_choice;
DROP TABLE terms_acceptances;
DROP TABLE terms_versions;
