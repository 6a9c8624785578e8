-- +goose Up
-- One row per password-reset (or unlock) link, kept until it expires; only the SHA-256 of its
-- token is stored.
CREATE TABLE password_resets (
    hash       TEXT    PRIMARY KEY,
    account_id TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX password_resets_account ON password_resets (account_id);
CREATE INDEX password_resets_expires ON password_resets (expires_at);

-- +goose Down
DROP TABLE password_resets;
