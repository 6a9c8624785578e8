-- +goose Up
-- Every mail updates its row twice (claimed, then settled) and every renewal of a claim once
-- more: vacuum after 2 % of the table (and at least 1,000 rows) has changed, not 20 %.
ALTER TABLE sent_messages SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);

-- +goose Down
ALTER TABLE sent_messages RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
