-- +goose Up
-- seq orders the rows by start time: (unix second of starts_at << 24) + n, n telling apart the
-- events that start in the same second. The full-text and spatial indexes are keyed by it, so
-- a rowid range there is a time range. It changes when the start moves to another second.
CREATE TABLE events (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    organizer_id     TEXT    NOT NULL,
    title            TEXT    NOT NULL,
    description      TEXT    NOT NULL,
    starts_at        INTEGER NOT NULL, -- unix microseconds, like every time here
    ends_at          INTEGER,
    timezone         TEXT    NOT NULL,
    location_name    TEXT,             -- NULL when the event has no location
    location_address TEXT,
    lat              REAL,
    lon              REAL,
    online_url       TEXT,
    category         TEXT,
    category_key     TEXT,             -- lower-cased category, for case-insensitive search
    tags             TEXT    NOT NULL, -- JSON array of strings
    capacity         INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX events_starts ON events (starts_at, id);
CREATE INDEX events_category ON events (category_key, starts_at, id) WHERE category_key IS NOT NULL;
CREATE INDEX events_organizer ON events (organizer_id, starts_at, id);

CREATE TABLE event_tags (
    tag       TEXT    NOT NULL,
    starts_at INTEGER NOT NULL,
    event_id  TEXT    NOT NULL,
    PRIMARY KEY (tag, starts_at, event_id)
) WITHOUT ROWID;

-- Words of title, description and tags, and facets: one token per organizer, category, tag
-- and map cell (at three sizes, see cellLevels) of the event, so that a search combining
-- several filters intersects their lists here. rowid = events.seq, in the order of the start
-- times. Prefix indexes serve short prefix queries such as "ja"*.
CREATE VIRTUAL TABLE events_fts USING fts5 (
    title, description, tags, facets,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);

-- Where and (to the second, widened by one) when events with coordinates take place; seq =
-- events.seq.
CREATE VIRTUAL TABLE events_geo USING rtree (seq, min_lat, max_lat, min_lon, max_lon, min_start, max_start);

-- +goose StatementBegin
CREATE TRIGGER events_after_insert AFTER INSERT ON events BEGIN
    INSERT INTO events_fts (rowid, title, description, tags, facets)
        VALUES (NEW.seq, NEW.title, NEW.description, (SELECT group_concat(value, ' ') FROM json_each(NEW.tags)),
        (SELECT group_concat(token, ' ') FROM (
            SELECT 'o' || hex(NEW.organizer_id) AS token
            UNION ALL SELECT 'c' || hex(NEW.category_key) WHERE NEW.category_key IS NOT NULL
            UNION ALL SELECT 't' || hex(value) FROM json_each(NEW.tags)
            UNION ALL SELECT cell.level || CAST(floor((NEW.lat + 90) / cell.size) AS INTEGER) || 'x' || CAST(floor((NEW.lon + 180) / cell.size) AS INTEGER)
                FROM (SELECT 'ga' AS level, 0.25 AS size UNION ALL SELECT 'gb', 2.0 UNION ALL SELECT 'gc', 16.0) cell
                WHERE NEW.lat IS NOT NULL AND NEW.lon IS NOT NULL)));
    INSERT INTO event_tags (tag, starts_at, event_id)
        SELECT value, NEW.starts_at, NEW.id FROM json_each(NEW.tags);
    INSERT INTO events_geo (seq, min_lat, max_lat, min_lon, max_lon, min_start, max_start)
        SELECT NEW.seq, NEW.lat, NEW.lat, NEW.lon, NEW.lon, NEW.starts_at / 1000000 - 1, NEW.starts_at / 1000000 + 1
        WHERE NEW.lat IS NOT NULL AND NEW.lon IS NOT NULL;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER events_after_delete AFTER DELETE ON events BEGIN
    DELETE FROM events_fts WHERE rowid = OLD.seq;
    DELETE FROM event_tags
        WHERE tag IN (SELECT value FROM json_each(OLD.tags)) AND starts_at = OLD.starts_at AND event_id = OLD.id;
    DELETE FROM events_geo WHERE seq = OLD.seq;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER events_after_update AFTER UPDATE ON events BEGIN
    DELETE FROM events_fts WHERE rowid = OLD.seq;
    DELETE FROM event_tags
        WHERE tag IN (SELECT value FROM json_each(OLD.tags)) AND starts_at = OLD.starts_at AND event_id = OLD.id;
    DELETE FROM events_geo WHERE seq = OLD.seq;
    INSERT INTO events_fts (rowid, title, description, tags, facets)
        VALUES (NEW.seq, NEW.title, NEW.description, (SELECT group_concat(value, ' ') FROM json_each(NEW.tags)),
        (SELECT group_concat(token, ' ') FROM (
            SELECT 'o' || hex(NEW.organizer_id) AS token
            UNION ALL SELECT 'c' || hex(NEW.category_key) WHERE NEW.category_key IS NOT NULL
            UNION ALL SELECT 't' || hex(value) FROM json_each(NEW.tags)
            UNION ALL SELECT cell.level || CAST(floor((NEW.lat + 90) / cell.size) AS INTEGER) || 'x' || CAST(floor((NEW.lon + 180) / cell.size) AS INTEGER)
                FROM (SELECT 'ga' AS level, 0.25 AS size UNION ALL SELECT 'gb', 2.0 UNION ALL SELECT 'gc', 16.0) cell
                WHERE NEW.lat IS NOT NULL AND NEW.lon IS NOT NULL)));
    INSERT INTO event_tags (tag, starts_at, event_id)
        SELECT value, NEW.starts_at, NEW.id FROM json_each(NEW.tags);
    INSERT INTO events_geo (seq, min_lat, max_lat, min_lon, max_lon, min_start, max_start)
        SELECT NEW.seq, NEW.lat, NEW.lat, NEW.lon, NEW.lon, NEW.starts_at / 1000000 - 1, NEW.starts_at / 1000000 + 1
        WHERE NEW.lat IS NOT NULL AND NEW.lon IS NOT NULL;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER events_after_update;
DROP TRIGGER events_after_delete;
DROP TRIGGER events_after_insert;
DROP TABLE events_geo;
DROP TABLE events_fts;
DROP TABLE event_tags;
DROP TABLE events;
