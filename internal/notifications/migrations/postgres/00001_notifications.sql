-- +goose Up
-- Times are unix microseconds (BIGINT), as in the SQLite schema and the outbox, so that one
-- implementation of the store serves both databases. Identifiers compare byte by byte
-- (COLLATE "C"), whatever the database's collation: reminders are listed by ID.

-- The snapshot of each reminded event, as the last event.changed (or the events service)
-- told it. body is the messages.Event JSON; the columns beside it are what queries need.
CREATE TABLE event_snapshots (
    id           TEXT COLLATE "C" PRIMARY KEY,
    organizer_id TEXT COLLATE "C" NOT NULL,
    starts_at    BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    body         JSONB  NOT NULL
);

CREATE TABLE reminders (
    id             TEXT COLLATE "C" PRIMARY KEY,
    account_id     TEXT COLLATE "C" NOT NULL,
    event_id       TEXT COLLATE "C" NOT NULL REFERENCES event_snapshots (id),
    email          TEXT    NOT NULL,
    send_at        BIGINT  NOT NULL,
    minutes_before INTEGER,
    note           TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('scheduled', 'sending', 'sent', 'failed', 'cancelled')),
    created_at     BIGINT  NOT NULL,
    sent_at        BIGINT,
    last_error     TEXT
);
-- An account's reminders, soonest first (ListReminders) and DeleteAccountReminders.
CREATE INDEX reminders_account ON reminders (account_id, send_at, id);
-- An event's reminders by state (the consumers of event.changed and event.deleted).
CREATE INDEX reminders_event ON reminders (event_id, status, id);
-- The scheduler's queue: only scheduled reminders, in the order ClaimDue takes them; it also
-- answers NextSendAt and CountScheduled.
CREATE INDEX reminders_due ON reminders (send_at, id) WHERE status = 'scheduled';

-- +goose Down
DROP TABLE reminders;
DROP TABLE event_snapshots;
