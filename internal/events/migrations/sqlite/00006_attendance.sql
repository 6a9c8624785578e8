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

-- +goose Down
DROP TABLE attendance;
