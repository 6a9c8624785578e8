-- +goose Up
CREATE TABLE outbox (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT      NOT NULL UNIQUE,
    type            TEXT      NOT NULL,
    body            BYTEA     NOT NULL,
    created_at      BIGINT    NOT NULL,
    attempts        INTEGER   NOT NULL DEFAULT 0,
    next_attempt_at BIGINT    NOT NULL,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, seq);

CREATE TABLE inbox (
    message_id TEXT   PRIMARY KEY,
    handled_at BIGINT NOT NULL
);
CREATE INDEX inbox_handled_at ON inbox (handled_at);

-- +goose Down
DROP TABLE inbox;
DROP TABLE outbox;
