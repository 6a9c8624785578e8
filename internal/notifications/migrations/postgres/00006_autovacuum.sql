-- +goose Up
-- A reminder changes state once or twice in its life (scheduled → sending → sent), and each
-- change leaves a dead entry in reminders_due, the partial index every claim reads from its
-- head. With the default settings autovacuum waits for 20 % of the table to change (200,000
-- rows at 1M), so the claims' cost grows with the sends since the last vacuum. Vacuum after
-- 1 % (and at least 1,000 rows) instead, and keep the statistics as current.
ALTER TABLE reminders SET (
    autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000
);

-- +goose Down
ALTER TABLE reminders RESET (
    autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,
    autovacuum_analyze_scale_factor, autovacuum_analyze_threshold
);
