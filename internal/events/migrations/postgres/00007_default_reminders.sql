-- +goose Up
-- The reminders (minutes before the start, a JSON array of up to 3 distinct integers) that a
-- person who becomes going gets, in the notifications service, from attendance.changed.
ALTER TABLE events ADD COLUMN default_reminders text NOT NULL DEFAULT '[]';

-- Rises by one in every transaction that changes an attendance of the event (the event's row
-- is locked there): the version attendance.changed carries, by which consumers ignore an
-- announcement older than the one they hold.
ALTER TABLE events ADD COLUMN attendance_version bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE events DROP COLUMN attendance_version;
ALTER TABLE events DROP COLUMN default_reminders;
