-- +goose Up
-- Times become unix microseconds (bigint), as the other services and the SQLite store keep
-- them: one encoding in Go for both dialects. timestamptz holds microseconds, so no precision
-- is lost: since PostgreSQL 14, extract(epoch …) is numeric, exact. The rewrite rebuilds the
-- indexes on starts_at (events_starts, events_category, events_organizer) as B-trees on
-- bigint; no generated column, function or trigger reads these columns.
ALTER TABLE events
    ALTER COLUMN starts_at  TYPE bigint USING (extract(epoch FROM starts_at)  * 1000000)::bigint,
    ALTER COLUMN ends_at    TYPE bigint USING (extract(epoch FROM ends_at)    * 1000000)::bigint,
    ALTER COLUMN created_at TYPE bigint USING (extract(epoch FROM created_at) * 1000000)::bigint,
    ALTER COLUMN updated_at TYPE bigint USING (extract(epoch FROM updated_at) * 1000000)::bigint;
-- Changing a column's type drops its statistics; the planner needs those of starts_at.
ANALYZE events;

-- +goose Down
-- Whole seconds and the microseconds apart, so that times centuries away stay exact.
ALTER TABLE events
    ALTER COLUMN starts_at  TYPE timestamptz USING timestamptz 'epoch'
        + (starts_at / 1000000) * interval '1 second' + (starts_at % 1000000) * interval '1 microsecond',
    ALTER COLUMN ends_at    TYPE timestamptz USING timestamptz 'epoch'
        + (ends_at / 1000000) * interval '1 second' + (ends_at % 1000000) * interval '1 microsecond',
    ALTER COLUMN created_at TYPE timestamptz USING timestamptz 'epoch'
        + (created_at / 1000000) * interval '1 second' + (created_at % 1000000) * interval '1 microsecond',
    ALTER COLUMN updated_at TYPE timestamptz USING timestamptz 'epoch'
        + (updated_at / 1000000) * interval '1 second' + (updated_at % 1000000) * interval '1 microsecond';
ANALYZE events;
