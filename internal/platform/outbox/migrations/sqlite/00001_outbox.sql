-- +goose Up
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    type            TEXT    NOT NULL,
    body            BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, seq);

CREATE TABLE inbox (
    message_id TEXT    PRIMARY KEY,
    handled_at INTEGER NOT NULL
);
CREATE INDEX inbox_handled_at ON inbox (handled_at);

-- +goose Down
DROP TABLE inbox;
DROP TABLE outbox;
