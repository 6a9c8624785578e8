-- +goose Up
-- Issue 10: reminders to other people need their consent, and an account's own address must
-- be confirmed before mail goes to it.

-- The accounts service's accounts as account.changed announces them: whether the owner's
-- address is confirmed, and the name mails show. An announcement whose version is not higher
-- than the stored one is ignored; account.deleted removes the row.
CREATE TABLE accounts (
    account_id     TEXT COLLATE "C" PRIMARY KEY,
    email          TEXT    NOT NULL,
    email_verified BOOLEAN NOT NULL,
    display_name   TEXT    NOT NULL,
    version        BIGINT  NOT NULL
);

-- The addresses an account reminds, one row per (account, address): email is the address
-- lowercased (addressKey). token is a random secret (32 bytes, base64url) kept in plain text:
-- it only ever accepts, declines or unsubscribes this one pair, and mails must carry it.
-- requested_at is set when a consent request was mailed (the daily quota counts them);
-- decided_at when the address (or, for its own address, the account) last decided.
CREATE TABLE recipients (
    account_id   TEXT COLLATE "C" NOT NULL,
    email        TEXT COLLATE "C" NOT NULL,
    state        TEXT   NOT NULL CHECK (state IN ('pending', 'accepted', 'declined')),
    token        TEXT COLLATE "C" NOT NULL UNIQUE,
    requested_at BIGINT,
    decided_at   BIGINT,
    PRIMARY KEY (account_id, email)
);
-- The consent requests of an account in a window (the quota).
CREATE INDEX recipients_requests ON recipients (account_id, requested_at) WHERE requested_at IS NOT NULL;

-- A reminder to someone else waits for their consent.
ALTER TABLE reminders DROP CONSTRAINT reminders_status_check;
ALTER TABLE reminders ADD CONSTRAINT reminders_status_check
    CHECK (status IN ('scheduled', 'awaiting_consent', 'sending', 'sent', 'failed', 'cancelled'));
-- The reminders awaiting consent, by send_at: the scheduler cancels them when it comes.
CREATE INDEX reminders_awaiting ON reminders (send_at, id) WHERE status = 'awaiting_consent';

-- +goose Down
DROP INDEX reminders_awaiting;
UPDATE reminders SET status = 'cancelled' WHERE status = 'awaiting_consent';
ALTER TABLE reminders DROP CONSTRAINT reminders_status_check;
ALTER TABLE reminders ADD CONSTRAINT reminders_status_check
    CHECK (status IN ('scheduled', 'sending', 'sent', 'failed', 'cancelled'));
DROP TABLE recipients;
DROP TABLE accounts;
