-- +goose Up
-- Times are unix microseconds (BIGINT), as in the SQLite schema and the outbox, so that one
-- implementation of the store serves both databases. Identifiers and keys compare byte by
-- byte (COLLATE "C"), whatever the database's collation.

CREATE TABLE accounts (
    id            TEXT COLLATE "C" PRIMARY KEY,
    email         TEXT   NOT NULL,
    -- The lower-cased address: unique among accounts.
    email_key     TEXT COLLATE "C" NOT NULL UNIQUE,
    display_name  TEXT   NOT NULL,
    -- argon2id in PHC format.
    password_hash TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

-- One row per refresh token issued and not yet expired, keyed by the hex SHA-256 of the token;
-- used tokens are kept until they expire so that their reuse is recognised.
CREATE TABLE refresh_tokens (
    hash       TEXT COLLATE "C" PRIMARY KEY,
    session_id TEXT COLLATE "C" NOT NULL,
    account_id TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_account ON refresh_tokens (account_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- The revocation feed. seq is issued under a transaction-level advisory lock (see
-- store_sql.go), so that revocations commit, and become visible, in seq order.
CREATE TABLE revocations (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id TEXT COLLATE "C",
    account_id TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    CHECK (num_nonnulls(session_id, account_id) = 1)
);
CREATE INDEX revocations_expires ON revocations (expires_at);

-- key is a hash naming an account (by email) or a client address.
CREATE TABLE login_failures (
    key TEXT COLLATE "C" NOT NULL,
    at  BIGINT NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);
CREATE INDEX login_failures_at ON login_failures (at);

-- Ed25519 signing keys, by their RFC 7638 thumbprint; seed is the 32-byte private seed.
CREATE TABLE signing_keys (
    id         TEXT COLLATE "C" PRIMARY KEY,
    seed       BYTEA  NOT NULL CHECK (octet_length(seed) = 32),
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE signing_keys;
DROP TABLE login_failures;
DROP TABLE revocations;
DROP TABLE refresh_tokens;
DROP TABLE accounts;
