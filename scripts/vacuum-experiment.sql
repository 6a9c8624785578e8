-- The vacuum experiment of docs/benchmarks.md ("Churn-proof PostgreSQL tables", issue 17):
-- psql -f this file on a server with autovacuum on, wait a few autovacuum naptimes, then
-- EXPLAIN (ANALYZE, BUFFERS) the empty claim on each table (the command is in that section).
-- Two copies of the scheduler's queue: reminders with the reminders_due partial index, one
-- with autovacuum's defaults, one with the settings of migration 00006.
DROP TABLE IF EXISTS r_default, r_tuned;
CREATE TABLE r_default (id TEXT COLLATE "C" PRIMARY KEY, status TEXT NOT NULL, send_at BIGINT NOT NULL, note TEXT NOT NULL);
CREATE TABLE r_tuned   (LIKE r_default INCLUDING ALL);
ALTER TABLE r_tuned SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);
CREATE INDEX r_default_due ON r_default (send_at, id) WHERE status = 'scheduled';
CREATE INDEX r_tuned_due ON r_tuned (send_at, id) WHERE status = 'scheduled';
-- 1,000,000 pending reminders due next year, and 100,000 due now.
INSERT INTO r_default SELECT 'p' || lpad(i::text, 8, '0'), 'scheduled', 2000000000000000 + i, 'x' FROM generate_series(1, 1000000) i;
INSERT INTO r_default SELECT 'd' || lpad(i::text, 8, '0'), 'scheduled', 1000000000000000 + i, 'x' FROM generate_series(1, 100000) i;
INSERT INTO r_tuned SELECT * FROM r_default;
VACUUM ANALYZE r_default;
VACUUM ANALYZE r_tuned;
-- 100,000 sends: the due reminders leave the queue in claims of 100, as the scheduler's do.
DO $$
BEGIN
  FOR b IN 0..999 LOOP
    UPDATE r_default SET status = 'sent' WHERE id IN (SELECT id FROM r_default WHERE status = 'scheduled' AND send_at <= 1500000000000000 ORDER BY send_at, id LIMIT 100);
    UPDATE r_tuned   SET status = 'sent' WHERE id IN (SELECT id FROM r_tuned   WHERE status = 'scheduled' AND send_at <= 1500000000000000 ORDER BY send_at, id LIMIT 100);
    COMMIT;
  END LOOP;
END $$;
