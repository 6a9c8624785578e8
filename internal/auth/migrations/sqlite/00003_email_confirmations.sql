-- +goose Up
-- Whether the account's address is confirmed (accounts from before: not yet), the address it
-- is changing to until that one is confirmed, when the last confirmation link was sent on
-- request (the resend limit), and a version that rises with every change of the account.
ALTER TABLE accounts ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN pending_email TEXT;
ALTER TABLE accounts ADD COLUMN confirm_sent_at INTEGER;
ALTER TABLE accounts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- One row per email-confirmation link, kept until it expires; only the SHA-256 of its token
-- is stored. email is the address it confirms, email_key that address lower-cased.
CREATE TABLE email_confirmations (
    hash       TEXT    PRIMARY KEY,
    account_id TEXT    NOT NULL,
    email      TEXT    NOT NULL,
    email_key  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX email_confirmations_account ON email_confirmations (account_id);
CREATE INDEX email_confirmations_expires ON email_confirmations (expires_at);

-- +goose Down
DROP TABLE email_confirmations;
ALTER TABLE accounts DROP COLUMN version;
ALTER TABLE accounts DROP COLUMN confirm_sent_at;
ALTER TABLE accounts DROP COLUMN pending_email;
ALTER TABLE accounts DROP COLUMN email_verified;
