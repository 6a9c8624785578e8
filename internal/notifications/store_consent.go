package notifications

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/database"
)

func (t sqlTx) KeepSnapshot(ctx context.Context, ev messages.Event) error {
	return upsertSnapshot(ctx, t.tx, t.d, ev, true)
}

func (t sqlTx) InsertReminder(ctx context.Context, r Reminder) error {
	return insertReminders(ctx, t.tx, t.d, r)
}

// reminderColumns are the columns insertReminders writes, as many as reminderValues returns.
const reminderColumns = `id, account_id, event_id, email, send_at, minutes_before, note, status, created_at, sent_at,
	last_error, trace_parent, from_default`

// reminderValues returns the values of r's columns (reminderColumns).
func reminderValues(r Reminder) []any {
	var minutes any
	if r.MinutesBefore != nil {
		minutes = *r.MinutesBefore
	}
	return []any{r.ID, r.AccountID, r.EventID, r.Email, database.Micros(r.SendAt), minutes, r.Note, string(r.Status),
		database.Micros(r.CreatedAt), database.NullMicros(r.SentAt), nullString(r.LastError), nullString(r.TraceParent),
		r.FromDefault}
}

// insertReminders inserts rs with one statement; the snapshot of each must be stored.
func insertReminders(ctx context.Context, tx *sql.Tx, d database.Dialect, rs ...Reminder) error {
	if len(rs) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO reminders (` + reminderColumns + `) VALUES `)
	args := make([]any, 0, 13*len(rs))
	for i, r := range rs {
		if r.Event.ID != r.EventID {
			return fmt.Errorf("create reminder %s: snapshot of event %q, reminder of %q", r.ID, r.Event.ID, r.EventID)
		}
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		args = append(args, reminderValues(r)...)
	}
	if _, err := tx.ExecContext(ctx, d.Rebind(q.String()), args...); err != nil {
		if len(rs) == 1 {
			return fmt.Errorf("create reminder %s: %w", rs[0].ID, err)
		}
		return fmt.Errorf("create %d reminders: %w", len(rs), err)
	}
	return nil
}

func (t sqlTx) SameTimeReminders(ctx context.Context, accountID, eventID string, sendAt time.Time) ([]Reminder, error) {
	rs, err := queryReminders(ctx, t.tx, t.d.Rebind(selectReminders+`
WHERE r.account_id = ? AND r.send_at = ? AND r.event_id = ? AND r.status <> 'cancelled' ORDER BY r.id`),
		accountID, database.Micros(sendAt), eventID)
	if err != nil {
		return nil, fmt.Errorf("reminders of %s at the same time: %w", accountID, err)
	}
	return rs, nil
}

func (t sqlTx) AccountReminders(ctx context.Context, accountID string, status Status) ([]Reminder, error) {
	rs, err := queryReminders(ctx, t.tx, t.d.Rebind(selectReminders+`
WHERE r.account_id = ? AND r.status = ? ORDER BY r.id`+forUpdate.clause(t.d, "r")), accountID, string(status))
	if err != nil {
		return nil, fmt.Errorf("reminders of %s: %w", accountID, err)
	}
	return rs, nil
}

func (t sqlTx) CountPending(ctx context.Context, accountID string) (int, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, t.d.Rebind(`SELECT COUNT(*) FROM reminders
WHERE account_id = ? AND status IN ('scheduled', 'awaiting_consent')`), accountID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count reminders of %s: %w", accountID, err)
	}
	return n, nil
}

func (t sqlTx) Account(ctx context.Context, id string, lock bool) (Account, error) {
	l := noLock
	if lock {
		l = forUpdate
	}
	a := Account{ID: id}
	err := t.tx.QueryRowContext(ctx, t.d.Rebind(`SELECT email, email_verified, display_name, version
FROM accounts WHERE account_id = ?`+l.clause(t.d, "")), id).Scan(&a.Email, &a.EmailVerified, &a.DisplayName, &a.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("account %s: %w", id, ErrAccountUnknown)
	}
	if err != nil {
		return Account{}, fmt.Errorf("account %s: %w", id, err)
	}
	return a, nil
}

func (t sqlTx) PutAccount(ctx context.Context, a Account) (bool, error) {
	n, err := database.Exec(ctx, t.tx, t.d.Rebind(`INSERT INTO accounts (account_id, email, email_verified, display_name, version)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (account_id) DO UPDATE SET email = excluded.email, email_verified = excluded.email_verified,
	display_name = excluded.display_name, version = excluded.version
WHERE excluded.version > accounts.version`), a.ID, a.Email, a.EmailVerified, a.DisplayName, a.Version)
	if err != nil {
		return false, fmt.Errorf("account %s: %w", a.ID, err)
	}
	return n == 1, nil
}

func (t sqlTx) DeleteAccount(ctx context.Context, id string) error {
	for _, q := range []string{`DELETE FROM recipients WHERE account_id = ?`, `DELETE FROM accounts WHERE account_id = ?`} {
		if _, err := t.tx.ExecContext(ctx, t.d.Rebind(q), id); err != nil {
			return fmt.Errorf("delete account %s: %w", id, err)
		}
	}
	return nil
}

const selectRecipients = `SELECT account_id, email, state, token, requested_at, decided_at FROM recipients`

func scanRecipient(sc database.Scanner) (Recipient, error) {
	var (
		r                      Recipient
		state                  string
		requestedAt, decidedAt sql.NullInt64
	)
	if err := sc.Scan(&r.AccountID, &r.Email, &state, &r.Token, &requestedAt, &decidedAt); err != nil {
		return Recipient{}, err
	}
	r.State = ConsentState(state)
	r.RequestedAt = database.FromNullMicros(requestedAt)
	r.DecidedAt = database.FromNullMicros(decidedAt)
	return r, nil
}

func (t sqlTx) getRecipient(ctx context.Context, where string, l lock, args ...any) (Recipient, error) {
	r, err := scanRecipient(t.tx.QueryRowContext(ctx, t.d.Rebind(selectRecipients+` WHERE `+where+l.clause(t.d, "")), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Recipient{}, ErrConsentNotFound
	}
	if err != nil {
		return Recipient{}, fmt.Errorf("recipient: %w", err)
	}
	return r, nil
}

func (t sqlTx) Recipient(ctx context.Context, accountID, email string, lock bool) (Recipient, error) {
	l := noLock
	if lock {
		l = forUpdate
	}
	return t.getRecipient(ctx, `account_id = ? AND email = ?`, l, accountID, email)
}

func (t sqlTx) RecipientByToken(ctx context.Context, token string) (Recipient, error) {
	// The token is looked up by the database's index, not compared in Go: a timing
	// difference could at most tell how much of a guessed token's prefix some token shares.
	return t.getRecipient(ctx, `token = ?`, forUpdate, token)
}

func (t sqlTx) AddRecipient(ctx context.Context, r Recipient) (Recipient, error) {
	if _, err := t.tx.ExecContext(ctx, t.d.Rebind(`INSERT INTO recipients
	(account_id, email, state, token, requested_at, decided_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (account_id, email) DO NOTHING`), r.AccountID, r.Email, string(r.State), r.Token,
		database.NullMicros(r.RequestedAt), database.NullMicros(r.DecidedAt)); err != nil {
		return Recipient{}, fmt.Errorf("add recipient: %w", err)
	}
	return t.Recipient(ctx, r.AccountID, r.Email, false)
}

func (t sqlTx) DecideRecipient(ctx context.Context, accountID, email string, state ConsentState, at time.Time) error {
	if _, err := t.tx.ExecContext(ctx, t.d.Rebind(`UPDATE recipients SET state = ?, decided_at = ?
WHERE account_id = ? AND email = ?`), string(state), database.Micros(at), accountID, email); err != nil {
		return fmt.Errorf("decide recipient: %w", err)
	}
	return nil
}

func (t sqlTx) ConsentRequests(ctx context.Context, accountID string, since time.Time) (int, time.Time, error) {
	var (
		n        int
		earliest sql.NullInt64
	)
	err := t.tx.QueryRowContext(ctx, t.d.Rebind(`SELECT COUNT(*), MIN(requested_at) FROM recipients
WHERE account_id = ? AND requested_at > ?`), accountID, database.Micros(since)).Scan(&n, &earliest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("consent requests of %s: %w", accountID, err)
	}
	var at time.Time
	if earliest.Valid {
		at = database.FromMicros(earliest.Int64)
	}
	return n, at, nil
}
