-- +goose Up
-- The outbox is a queue: every row is inserted, then deleted once published, so the table is
-- small and its dead rows are all there is to vacuum. Vacuum after every 1,000 of them rather
-- than after 20 % of a table that is nearly empty between bursts (the default lets the dead
-- rows of a burst stay until the next burst doubles them). The inbox only grows between
-- prunes: the default suits it.
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);

-- +goose Down
ALTER TABLE outbox RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
