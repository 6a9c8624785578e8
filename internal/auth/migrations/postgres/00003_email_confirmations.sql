-- +goose Up
-- Whether the account's address is confirmed (accounts from before: not yet), the address it
-- is changing to until that one is confirmed, when the last confirmation link was sent on
-- request (the resend limit), and a version that rises with every change of the account.
ALTER TABLE accounts ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN pending_email TEXT;
ALTER TABLE accounts ADD COLUMN confirm_sent_at BIGINT;
ALTER TABLE accounts ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- One row per email-confirmation link, kept until it expires; only the SHA-256 of its token
-- is stored. email is the address it confirms, email_key that address lower-cased.
CREATE TABLE email_confirmations (
    hash       TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    email      TEXT   NOT NULL,
    email_key  TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX email_confirmations_account ON email_confirmations (account_id);
CREATE INDEX email_confirmations_expires ON email_confirmations (expires_at);

-- +goose Down
DROP TABLE email_confirmations;
ALTER TABLE accounts DROP COLUMN version;
ALTER TABLE accounts DROP COLUMN confirm_sent_at;
ALTER TABLE accounts DROP COLUMN pending_email;
ALTER TABLE accounts DROP COLUMN email_verified;
