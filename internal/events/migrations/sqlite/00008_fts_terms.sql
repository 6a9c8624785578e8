-- +goose Up
-- The terms of the full-text index, one row per occurrence, in the order of the terms: a
-- search that seeks the first term at or after a string reads no posting list, so that it can
-- list the terms that begin with a word (see wordMatch) and match them exactly, which reads
-- their posting lists only as far as it needs, where a prefix query longer than the prefix
-- indexes merges all of them first. It stores nothing.
CREATE VIRTUAL TABLE events_fts_terms USING fts5vocab (events_fts, instance);

-- +goose Down
DROP TABLE events_fts_terms;
