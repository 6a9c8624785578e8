-- +goose Up
-- Issue 10: reminders to other people need their consent, and an account's own address must
-- be confirmed before mail goes to it.

-- The accounts service's accounts as account.changed announces them: whether the owner's
-- address is confirmed, and the name mails show. An announcement whose version is not higher
-- than the stored one is ignored; account.deleted removes the row.
CREATE TABLE accounts (
    account_id     TEXT    PRIMARY KEY,
    email          TEXT    NOT NULL,
    email_verified INTEGER NOT NULL,
    display_name   TEXT    NOT NULL,
    version        INTEGER NOT NULL
);

-- The addresses an account reminds, one row per (account, address): email is the address
-- lowercased (addressKey). token is a random secret (32 bytes, base64url) kept in plain text:
-- it only ever accepts, declines or unsubscribes this one pair, and mails must carry it.
-- requested_at is set when a consent request was mailed (the daily quota counts them);
-- decided_at when the address (or, for its own address, the account) last decided.
CREATE TABLE recipients (
    account_id   TEXT    NOT NULL,
    email        TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'accepted', 'declined')),
    token        TEXT    NOT NULL UNIQUE,
    requested_at INTEGER,
    decided_at   INTEGER,
    PRIMARY KEY (account_id, email)
);
CREATE INDEX recipients_requests ON recipients (account_id, requested_at) WHERE requested_at IS NOT NULL;

-- A reminder to someone else waits for their consent. SQLite cannot change a CHECK
-- constraint, so the table is rebuilt.
CREATE TABLE reminders_v3 (
    id             TEXT    PRIMARY KEY,
    account_id     TEXT    NOT NULL,
    event_id       TEXT    NOT NULL REFERENCES event_snapshots (id),
    email          TEXT    NOT NULL,
    send_at        INTEGER NOT NULL,
    minutes_before INTEGER,
    note           TEXT    NOT NULL,
    status         TEXT    NOT NULL
        CHECK (status IN ('scheduled', 'awaiting_consent', 'sending', 'sent', 'failed', 'cancelled')),
    created_at     INTEGER NOT NULL,
    sent_at        INTEGER,
    last_error     TEXT,
    trace_parent   TEXT
);
INSERT INTO reminders_v3 (id, account_id, event_id, email, send_at, minutes_before, note, status, created_at,
    sent_at, last_error, trace_parent)
SELECT id, account_id, event_id, email, send_at, minutes_before, note, status, created_at, sent_at, last_error,
    trace_parent FROM reminders;
DROP TABLE reminders;
ALTER TABLE reminders_v3 RENAME TO reminders;
CREATE INDEX reminders_account ON reminders (account_id, send_at, id);
CREATE INDEX reminders_event ON reminders (event_id, status);
CREATE INDEX reminders_due ON reminders (send_at, id) WHERE status = 'scheduled';
CREATE INDEX reminders_awaiting ON reminders (send_at, id) WHERE status = 'awaiting_consent';

-- +goose Down
UPDATE reminders SET status = 'cancelled' WHERE status = 'awaiting_consent';
CREATE TABLE reminders_v2 (
    id             TEXT    PRIMARY KEY,
    account_id     TEXT    NOT NULL,
    event_id       TEXT    NOT NULL REFERENCES event_snapshots (id),
    email          TEXT    NOT NULL,
    send_at        INTEGER NOT NULL,
    minutes_before INTEGER,
    note           TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('scheduled', 'sending', 'sent', 'failed', 'cancelled')),
    created_at     INTEGER NOT NULL,
    sent_at        INTEGER,
    last_error     TEXT,
    trace_parent   TEXT
);
INSERT INTO reminders_v2 SELECT id, account_id, event_id, email, send_at, minutes_before, note, status, created_at,
    sent_at, last_error, trace_parent FROM reminders;
DROP TABLE reminders;
ALTER TABLE reminders_v2 RENAME TO reminders;
CREATE INDEX reminders_account ON reminders (account_id, send_at, id);
CREATE INDEX reminders_event ON reminders (event_id, status);
CREATE INDEX reminders_due ON reminders (send_at, id) WHERE status = 'scheduled';
DROP TABLE recipients;
DROP TABLE accounts;
