-- +goose Up
-- The calendar SEQUENCE of the event (RFC 5545 3.8.7.4): the service raises it whenever a
-- field a calendar shows changes, so that calendars replace their copy. A constant default
-- adds the column without rewriting the table.
ALTER TABLE events ADD COLUMN sequence integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE events DROP COLUMN sequence;
