-- +goose Up
-- Each tag of an event paired with its map cell ("chess 814318"), for searches that name tags
-- and a place: one GIN probe per tag reads the few events that hold the tag in the cells
-- around the circle, where a BitmapAnd of the tag's index (every event with the tag, ~10,000
-- rows for a rare tag of 1,000,000 events) and the cells' index (65,000-72,000 rows for a
-- city) cost as much as those lists, window after window (docs/benchmarks.md, "combined_sparse
-- at 1,000,000 events"). The cell is computed as the column cell computes it (a generated
-- column may not read another).
-- +goose StatementBegin
CREATE FUNCTION event_tag_cells(tags text[], lat double precision, lon double precision) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT CASE WHEN lat IS NULL OR lon IS NULL THEN '{}'::text[] ELSE ARRAY(
            SELECT t || ' ' || (floor((lat + 90) / 0.25)::integer * 1440 + floor((lon + 180) / 0.25)::integer)::text
            FROM unnest(tags) AS t) END
    $$;
-- +goose StatementEnd
ALTER TABLE events ADD COLUMN tag_cells text[] GENERATED ALWAYS AS (event_tag_cells(tags, lat, lon)) STORED;
CREATE INDEX events_tag_cells ON events USING gin (tag_cells);

-- +goose Down
DROP INDEX events_tag_cells;
ALTER TABLE events DROP COLUMN tag_cells;
DROP FUNCTION event_tag_cells(text[], double precision, double precision);
