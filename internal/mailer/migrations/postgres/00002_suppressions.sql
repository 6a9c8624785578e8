-- +goose Up
-- Addresses the SMTP server rejected permanently (a 5xx reply to the recipient): no email is
-- attempted to them again. The address is lower-cased; reason is the server's reply; at is
-- when it came, in unix microseconds.
CREATE TABLE suppressions (
    address TEXT COLLATE "C" PRIMARY KEY CHECK (address = lower(address)),
    reason  TEXT   NOT NULL,
    at      BIGINT NOT NULL
);

-- +goose Down
DROP TABLE suppressions;
