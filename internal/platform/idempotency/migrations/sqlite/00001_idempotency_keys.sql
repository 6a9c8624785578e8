-- +goose Up
-- The responses to creating POSTs made with an Idempotency-Key, kept 24 hours so that a retry
-- is answered from here instead of creating again (see internal/platform/idempotency).
-- status is NULL while the request that claimed the key is in flight; owner is that
-- request's random token. Times are unix microseconds.
CREATE TABLE idempotency_keys (
    scope       TEXT    NOT NULL,
    idem_key    TEXT    NOT NULL,
    fingerprint BLOB    NOT NULL,
    owner       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    status      INTEGER,
    header      TEXT,
    body        BLOB,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
