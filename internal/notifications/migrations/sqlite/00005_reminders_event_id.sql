-- +goose Up
-- Issue 17: the reminders of an event in a state are read in ID order on every change and
-- cancellation of the event. reminders is a rowid table, so (event_id, status) ends in the
-- rowid, not id, and SQLite sorted them in a temporary B-tree; with id in the index they
-- come out in order. (PostgreSQL's reminders_event has had id from the start.)
DROP INDEX reminders_event;
CREATE INDEX reminders_event ON reminders (event_id, status, id);

-- +goose Down
DROP INDEX reminders_event;
CREATE INDEX reminders_event ON reminders (event_id, status);
