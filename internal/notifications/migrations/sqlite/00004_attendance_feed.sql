-- +goose Up
-- Issue 11: reminders that follow attendance, and a personal calendar feed.

-- The events service's attendances as attendance.changed announces them, one row per
-- (account, event): status 'none' keeps the version of an attendance that ended, so that an
-- older announcement delivered late is ignored. An announcement whose version is not higher
-- than the stored one is ignored. The feed lists the events an account is going to.
CREATE TABLE attendances (
    account_id TEXT    NOT NULL,
    event_id   TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('going', 'interested', 'waitlisted', 'none')),
    version    INTEGER NOT NULL,
    PRIMARY KEY (account_id, event_id)
);
CREATE INDEX attendances_going ON attendances (account_id, event_id) WHERE status = 'going';
-- Who else goes to an event (an event's snapshot stays while someone goes to it).
CREATE INDEX attendances_event_going ON attendances (event_id) WHERE status = 'going';

-- from_default is 1 on a reminder made from its event's default reminders when its owner
-- went, until the owner changes it: leaving the event cancels only those still at 1.
ALTER TABLE reminders ADD COLUMN from_default INTEGER NOT NULL DEFAULT 0;

-- When event.deleted told of the event (unix microseconds); NULL while it exists. The feed
-- shows a deleted event as cancelled for 30 days.
ALTER TABLE event_snapshots ADD COLUMN deleted_at INTEGER;

-- Each account's calendar feed: token is the secret of its URL (32 random bytes, base64url),
-- kept in plain text because GET /api/v1/accounts/me/calendar shows the URL again; it only
-- ever reads that one feed. Rotating replaces it.
CREATE TABLE calendar_feeds (
    account_id TEXT    PRIMARY KEY,
    token      TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE calendar_feeds;
ALTER TABLE event_snapshots DROP COLUMN deleted_at;
ALTER TABLE reminders DROP COLUMN from_default;
DROP TABLE attendances;
