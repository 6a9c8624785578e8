-- +goose Up
-- The W3C traceparent of the request that created each reminder, so that the scheduler's
-- claim and the email it queues continue that request's trace. NULL for reminders made before.
ALTER TABLE reminders ADD COLUMN trace_parent TEXT;

-- +goose Down
ALTER TABLE reminders DROP COLUMN trace_parent;
