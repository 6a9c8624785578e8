-- +goose Up
-- The tombstones of deleted events: the event as its last event.deleted message showed it (a
-- messages.Event as JSON) and when it was deleted (unix microseconds), so that the .ics export
-- answers its cancellation for a while (Config.DeletedRetention) instead of 404. The service
-- prunes them by deleted_at.
CREATE TABLE deleted_events (
    id         TEXT    PRIMARY KEY,
    event      TEXT    NOT NULL,
    deleted_at INTEGER NOT NULL
);
CREATE INDEX deleted_events_deleted_at ON deleted_events (deleted_at);

-- +goose Down
DROP TABLE deleted_events;
