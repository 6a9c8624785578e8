-- +goose Up
-- The sent-message log: one row per idempotency key, claimed while sending ('sending'),
-- then settled ('sent' with the Message-ID, or 'failed' with the reason).
CREATE TABLE sent_messages (
    idempotency_key TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('sending', 'sent', 'failed')),
    claim_token     TEXT,
    claimed_at      INTEGER NOT NULL,
    message_id      TEXT    NOT NULL DEFAULT '',
    error           TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    completed_at    INTEGER
);

-- +goose Down
DROP TABLE sent_messages;
