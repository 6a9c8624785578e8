-- +goose Up
-- The sent-message log: one row per idempotency key, claimed while sending ('sending'),
-- then settled ('sent' with the Message-ID, or 'failed' with the reason). Times are unix
-- microseconds (BIGINT), as in the SQLite schema and the outbox, so that one implementation
-- of the store serves both databases. Keys compare byte by byte (COLLATE "C"): a key that
-- differs only in case is another key, whatever the database's collation.
CREATE TABLE sent_messages (
    idempotency_key TEXT COLLATE "C" PRIMARY KEY,
    kind            TEXT   NOT NULL,
    state           TEXT   NOT NULL CHECK (state IN ('sending', 'sent', 'failed')),
    claim_token     TEXT,
    claimed_at      BIGINT NOT NULL,
    message_id      TEXT   NOT NULL DEFAULT '',
    error           TEXT   NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    completed_at    BIGINT,
    -- A claim is held while sending, and only then.
    CHECK ((state = 'sending') = (claim_token IS NOT NULL)),
    CHECK ((state = 'sending') = (completed_at IS NULL))
);

-- +goose Down
DROP TABLE sent_messages;
