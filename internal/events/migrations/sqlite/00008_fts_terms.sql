-- +goose Up
-- Every term that the words of an event's title, description and tags have given the
-- full-text index (the facets' tokens aside), kept when its events go: wordMatch reads the
-- terms that begin with a word here, in a few rows, and matches them exactly, which reads their
-- posting lists only as far as a search needs, where a prefix query longer than the prefix
-- indexes merges all of them first. The full-text index cannot list them as cheaply: to step
-- from one term to the next it reads the posting list between them.
CREATE TABLE fts_terms (
    term TEXT PRIMARY KEY
) WITHOUT ROWID;

-- A full-text table that holds one event at a time, only while a trigger splits it into terms
-- with the tokenizer of events_fts; events_fts_tokens_vocab lists them.
CREATE VIRTUAL TABLE events_fts_tokens USING fts5 (
    title, description, tags,
    content = '', detail = none,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE events_fts_tokens_vocab USING fts5vocab (events_fts_tokens, row);

-- +goose StatementBegin
CREATE TRIGGER events_terms_after_insert AFTER INSERT ON events BEGIN
    INSERT INTO events_fts_tokens (rowid, title, description, tags)
        VALUES (1, NEW.title, NEW.description, (SELECT group_concat(value, ' ') FROM json_each(NEW.tags)));
    INSERT OR IGNORE INTO fts_terms (term) SELECT term FROM events_fts_tokens_vocab;
    INSERT INTO events_fts_tokens (events_fts_tokens) VALUES ('delete-all');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER events_terms_after_update AFTER UPDATE OF title, description, tags ON events BEGIN
    INSERT INTO events_fts_tokens (rowid, title, description, tags)
        VALUES (1, NEW.title, NEW.description, (SELECT group_concat(value, ' ') FROM json_each(NEW.tags)));
    INSERT OR IGNORE INTO fts_terms (term) SELECT term FROM events_fts_tokens_vocab;
    INSERT INTO events_fts_tokens (events_fts_tokens) VALUES ('delete-all');
END;
-- +goose StatementEnd

-- The terms of the events stored so far: one pass over the index.
CREATE VIRTUAL TABLE temp.events_fts_columns USING fts5vocab (main, events_fts, col);
INSERT OR IGNORE INTO fts_terms (term) SELECT term FROM temp.events_fts_columns WHERE col <> 'facets';
DROP TABLE temp.events_fts_columns;

-- +goose Down
DROP TRIGGER events_terms_after_update;
DROP TRIGGER events_terms_after_insert;
DROP TABLE events_fts_tokens_vocab;
DROP TABLE events_fts_tokens;
DROP TABLE fts_terms;
