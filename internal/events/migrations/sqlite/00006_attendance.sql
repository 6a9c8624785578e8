-- +goose Up
-- Who is going to, interested in or waitlisted for which event. seq is the order of arrival:
-- a row is written anew whenever its status changes, and the changes of one event are
-- serialized (a SQLite write transaction holds the whole database), so the waitlist is the
-- waitlisted rows of an event in seq order.
CREATE TABLE attendance (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('going', 'interested', 'waitlisted')),
    UNIQUE (event_id, account_id)
);
CREATE INDEX attendance_event ON attendance (event_id, status, seq);
CREATE INDEX attendance_account ON attendance (account_id, seq);

-- How many of an event's attendances are going and interested, kept by the transactions that
-- change them, so that a list of events counts nothing.
ALTER TABLE events ADD COLUMN going_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN interested_count INTEGER NOT NULL DEFAULT 0;

-- The service's copy of the accounts, from auth's account.changed messages (a row keeps the
-- highest version seen): organizers' and attendees' display names, and the address the
-- promoted person of a waitlist is told at, when confirmed. account.deleted removes the row.
CREATE TABLE accounts (
    account_id     TEXT    PRIMARY KEY,
    email          TEXT    NOT NULL,
    email_verified INTEGER NOT NULL,
    display_name   TEXT    NOT NULL,
    version        INTEGER NOT NULL
);

-- +goose Down
DROP TABLE accounts;
ALTER TABLE events DROP COLUMN interested_count;
ALTER TABLE events DROP COLUMN going_count;
DROP TABLE attendance;
