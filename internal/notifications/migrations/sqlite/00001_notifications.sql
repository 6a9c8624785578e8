-- +goose Up
-- The snapshot of each reminded event, as the last event.changed (or the events service)
-- told it. body is the messages.Event JSON; the columns beside it are what queries need.
CREATE TABLE event_snapshots (
    id           TEXT    PRIMARY KEY,
    organizer_id TEXT    NOT NULL,
    starts_at    INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    body         TEXT    NOT NULL
);

-- Times are unix microseconds.
CREATE TABLE reminders (
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
    last_error     TEXT
);
CREATE INDEX reminders_account ON reminders (account_id, send_at, id);
CREATE INDEX reminders_event ON reminders (event_id, status);
CREATE INDEX reminders_due ON reminders (send_at, id) WHERE status = 'scheduled';

-- +goose Down
DROP TABLE reminders;
DROP TABLE event_snapshots;
