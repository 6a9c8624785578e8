-- +goose Up
-- Issue 17: GET /api/v1/notifications pages by (send_at, id). An account's reminders in one
-- state, in the list's order: a page filtered by status is read from here and stops at the
-- page's end, however many reminders in other states the account holds. The unfiltered
-- list reads reminders_account (account_id, send_at, id) the same way.
CREATE INDEX reminders_account_status ON reminders (account_id, status, send_at, id);

-- +goose Down
DROP INDEX reminders_account_status;
