-- +goose Up
-- Every search is one SELECT … ORDER BY starts_at, id LIMIT n over this table: the planner
-- picks, from the statistics, which index below to drive it by (see PostgresStore.Search).
CREATE TABLE events (
    id               text COLLATE "C" PRIMARY KEY, -- byte order, as the Go side compares cursors
    organizer_id     text COLLATE "C" NOT NULL,
    title            text             NOT NULL,
    description      text             NOT NULL,
    starts_at        timestamptz      NOT NULL,
    ends_at          timestamptz,
    timezone         text             NOT NULL,
    location_name    text,                       -- NULL when the event has no location
    location_address text,
    lat              double precision,
    lon              double precision,
    online_url       text,
    category         text,
    category_key     text COLLATE "C",           -- the category lower-cased (by the store, in Go)
    tags             text[]           NOT NULL,
    capacity         bigint,
    created_at       timestamptz      NOT NULL,
    updated_at       timestamptz      NOT NULL,
    -- The words of title, description and tags, split, lower-cased and stripped of diacritics
    -- by the store (searchText), parsed with the 'simple' configuration: no stemming and no
    -- stop words, so every language is searched alike, by word prefixes.
    search           tsvector         NOT NULL,
    -- The cell of a grid of 0.25° (cellSize) that the place lies in, numbered row by row from
    -- (-90°, -180°). Distance searches name the cells around the circle: the statistics of this
    -- one column tell the planner how many events a place holds, which those of lat and lon,
    -- taken as independent, badly underestimate for a city.
    cell             integer GENERATED ALWAYS AS
                         (floor((lat + 90) / 0.25)::integer * 1440 + floor((lon + 180) / 0.25)::integer) STORED,
    CONSTRAINT events_coordinates CHECK ((lat IS NULL) = (lon IS NULL))
);
ALTER TABLE events ALTER COLUMN cell SET STATISTICS 1000;
-- Time order and keyset paging: (starts_at, id) > (cursor).
CREATE INDEX events_starts ON events (starts_at, id);
CREATE INDEX events_category ON events (category_key, starts_at, id) WHERE category_key IS NOT NULL;
CREATE INDEX events_organizer ON events (organizer_id, starts_at, id);
CREATE INDEX events_tags ON events USING gin (tags);
CREATE INDEX events_search ON events USING gin (search);
-- Places: the cells around a circle, or the bounding box of a circle too small or too large
-- for cells (a latitude band, then longitudes within it).
CREATE INDEX events_cell ON events (cell) WHERE cell IS NOT NULL;
CREATE INDEX events_place ON events (lat, lon) WHERE lat IS NOT NULL;

-- +goose Down
DROP TABLE events;
