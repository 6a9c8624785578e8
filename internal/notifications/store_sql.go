package notifications

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/idempotency"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// SQLStore is the notifications Store: in the embedded mode (the default) over a SQLite
// database, in the distributed mode in the notifications service's own PostgreSQL database,
// which any number of replicas may share: each due reminder is claimed by exactly one of them
// (see ClaimDue). Its SQL is what SQLite and PostgreSQL both accept (placeholders rebound for
// the dialect, times as unix microseconds, ON CONFLICT upserts). The dialects differ only in
// locking: a SQLite write transaction holds the database's write lock from its start, so it
// needs no row locks; in PostgreSQL, transactions that read rows to change them lock those
// rows (FOR UPDATE), and ClaimDue skips the rows another claimer holds (FOR UPDATE SKIP
// LOCKED).
type SQLStore struct{ database.Store }

// Row-locking clauses appended to a SELECT.
type lock int

const (
	noLock     lock = iota // a plain read
	forUpdate              // lock the rows read until the transaction ends, waiting for other holders
	skipLocked             // lock the rows read, leaving out those another transaction holds
)

// clause returns the clause that makes a SELECT lock its rows as l says, in dialect d (in
// SQLite: nothing). of names the tables or aliases whose rows are locked; "" means all.
func (l lock) clause(d database.Dialect, of string) string {
	if d != database.Postgres || l == noLock {
		return ""
	}
	c := " FOR UPDATE"
	if of != "" {
		c += " OF " + of
	}
	if l == skipLocked {
		c += " SKIP LOCKED"
	}
	return c
}

// queryer is what reads need: a database or a transaction.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// selectReminders selects reminders with their event's snapshot; scanReminder reads them.
const selectReminders = `SELECT r.id, r.account_id, r.event_id, r.email, r.send_at, r.minutes_before, r.note,
	r.status, r.created_at, r.sent_at, r.last_error, r.trace_parent, r.from_default, e.body
FROM reminders r JOIN event_snapshots e ON e.id = r.event_id`

// The scheduler's and consumers' frequent queries, named so that the PostgreSQL plan test
// explains the very SQL the store runs.
const (
	// dueQuery selects the scheduled reminders due at a time, earliest first, up to a limit.
	dueQuery = selectReminders + `
WHERE r.status = 'scheduled' AND r.send_at <= ? ORDER BY r.send_at, r.id LIMIT ?`
	// eventRemindersQuery selects an event's reminders in a state, by ID.
	eventRemindersQuery = selectReminders + ` WHERE r.event_id = ? AND r.status = ? ORDER BY r.id`
	// nextSendAtQuery takes the minimum of each state apart, so that each uses its partial index.
	nextSendAtQuery = `SELECT MIN(t) FROM (
	SELECT MIN(send_at) AS t FROM reminders WHERE status = 'scheduled'
	UNION ALL SELECT MIN(send_at) FROM reminders WHERE status = 'awaiting_consent') AS m`
	countScheduledQuery = `SELECT COUNT(*) FROM reminders WHERE status = 'scheduled'`
)

// listQuery returns the query of ListReminders(f) and its arguments: a keyset query that
// walks the index reminders_account (account_id, send_at, id) from f.After, in the order of
// the result, and stops after f.Limit rows.
func listQuery(f ListFilter) (string, []any) {
	var (
		where = []string{"r.account_id = ?"}
		args  = []any{f.AccountID}
	)
	if f.Status != "" {
		where = append(where, "r.status = ?")
		args = append(args, string(f.Status))
	}
	if f.EventID != "" {
		where = append(where, "r.event_id = ?")
		args = append(args, f.EventID)
	}
	if f.After != nil {
		where = append(where, "(r.send_at, r.id) > (?, ?)")
		args = append(args, database.Micros(f.After.Time), f.After.ID)
	}
	return selectReminders + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY r.send_at, r.id LIMIT ?`,
		append(args, f.Limit)
}

func scanReminder(sc database.Scanner) (Reminder, error) {
	var (
		r                Reminder
		sendAt, created  int64
		minutes, sentAt  sql.NullInt64
		lastError, tp    sql.NullString
		status, snapshot string
	)
	if err := sc.Scan(&r.ID, &r.AccountID, &r.EventID, &r.Email, &sendAt, &minutes, &r.Note,
		&status, &created, &sentAt, &lastError, &tp, &r.FromDefault, &snapshot); err != nil {
		return Reminder{}, err
	}
	r.SendAt = database.FromMicros(sendAt)
	r.CreatedAt = database.FromMicros(created)
	r.Status = Status(status)
	if minutes.Valid {
		m := int(minutes.Int64)
		r.MinutesBefore = &m
	}
	r.SentAt = database.FromNullMicros(sentAt)
	r.LastError = lastError.String
	r.TraceParent = tp.String
	ev, err := decodeSnapshot(snapshot)
	if err != nil {
		return Reminder{}, err
	}
	r.Event = ev
	return r, nil
}

func queryReminders(ctx context.Context, q queryer, query string, args ...any) ([]Reminder, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return database.Collect(rows, scanReminder)
}

// queryStrings runs a query of one text column and returns its values. The rows are closed
// when it returns, so that q, a transaction, can run the next statement.
func queryStrings(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return database.Collect(rows, func(r database.Scanner) (string, error) {
		var s string
		err := r.Scan(&s)
		return s, err
	})
}

func getReminder(ctx context.Context, q queryer, d database.Dialect, id string, l lock) (Reminder, error) {
	r, err := scanReminder(q.QueryRowContext(ctx, d.Rebind(selectReminders+` WHERE r.id = ?`+l.clause(d, "r")), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Reminder{}, fmt.Errorf("reminder %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Reminder{}, fmt.Errorf("reminder %s: %w", id, err)
	}
	return r, nil
}

func getSnapshot(ctx context.Context, q queryer, d database.Dialect, eventID string, l lock) (messages.Event, error) {
	var body string
	err := q.QueryRowContext(ctx, d.Rebind(`SELECT body FROM event_snapshots WHERE id = ?`+l.clause(d, "")), eventID).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return messages.Event{}, fmt.Errorf("snapshot %s: %w", eventID, ErrEventNotFound)
	}
	if err != nil {
		return messages.Event{}, fmt.Errorf("snapshot %s: %w", eventID, err)
	}
	ev, err := decodeSnapshot(body)
	if err != nil {
		return messages.Event{}, fmt.Errorf("snapshot %s: %w", eventID, err)
	}
	return ev, nil
}

// upsertSnapshot stores ev; with onlyNewer, a stored snapshot that is not older is kept.
func upsertSnapshot(ctx context.Context, q queryer, d database.Dialect, ev messages.Event, onlyNewer bool) error {
	ev = normalizeEvent(ev)
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", ev.ID, err)
	}
	query := `INSERT INTO event_snapshots (id, organizer_id, starts_at, updated_at, body) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET organizer_id = excluded.organizer_id, starts_at = excluded.starts_at,
	updated_at = excluded.updated_at, body = excluded.body`
	if onlyNewer {
		query += ` WHERE excluded.updated_at > event_snapshots.updated_at`
	}
	if _, err := q.ExecContext(ctx, d.Rebind(query), ev.ID, ev.OrganizerID, database.Micros(ev.StartsAt),
		database.Micros(ev.UpdatedAt), string(body)); err != nil {
		return fmt.Errorf("snapshot %s: %w", ev.ID, err)
	}
	return nil
}

func decodeSnapshot(body string) (messages.Event, error) {
	var ev messages.Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return messages.Event{}, fmt.Errorf("decode event snapshot: %w", err)
	}
	return normalizeEvent(ev), nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateReminder implements Store.
func (s *SQLStore) CreateReminder(ctx context.Context, r Reminder) error {
	return s.Update(ctx, func(tx Tx) error {
		// The upsert locks the snapshot row (PostgreSQL: even when it keeps it), so it is
		// locked before the reminder, in the same order as the consumers lock them.
		if err := tx.KeepSnapshot(ctx, r.Event); err != nil {
			return fmt.Errorf("create reminder %s: %w", r.ID, err)
		}
		return tx.InsertReminder(ctx, r)
	})
}

// Reminder implements Store.
func (s *SQLStore) Reminder(ctx context.Context, id string) (Reminder, error) {
	return getReminder(ctx, s.Prepared(), s.Dialect(), id, noLock)
}

// ListReminders implements Store.
func (s *SQLStore) ListReminders(ctx context.Context, f ListFilter) ([]Reminder, error) {
	if f.Limit < 1 {
		return nil, fmt.Errorf("list reminders: limit %d is below 1", f.Limit)
	}
	query, args := listQuery(f)
	rs, err := queryReminders(ctx, s.Prepared(), s.Rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list reminders: %w", err)
	}
	return rs, nil
}

// Snapshot implements Store.
func (s *SQLStore) Snapshot(ctx context.Context, eventID string) (messages.Event, error) {
	return getSnapshot(ctx, s.DB(), s.Dialect(), eventID, noLock)
}

// NextSendAt implements Store.
func (s *SQLStore) NextSendAt(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := s.DB().QueryRowContext(ctx, nextSendAtQuery).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("next send_at: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return database.FromMicros(next.Int64), true, nil
}

// CountScheduled implements Store.
func (s *SQLStore) CountScheduled(ctx context.Context) (int, error) {
	var n int
	if err := s.DB().QueryRowContext(ctx, countScheduledQuery).Scan(&n); err != nil {
		return 0, fmt.Errorf("count scheduled: %w", err)
	}
	return n, nil
}

// ClaimDue implements Store. In PostgreSQL the due reminders are selected FOR UPDATE SKIP
// LOCKED: each claimer (scheduler replica) locks the rows it takes and passes over the rows
// another claimer holds instead of waiting for them, so no reminder is claimed twice and
// claimers do not queue behind each other. A claimer that dies mid-claim loses its
// connection, which rolls its transaction back and frees its rows at once. In SQLite the
// write lock taken when the transaction begins makes claimers take turns.
func (s *SQLStore) ClaimDue(ctx context.Context, now time.Time, limit int, decide func(tx Tx, r Reminder) (Claim, error)) ([]Reminder, error) {
	var claimed []Reminder
	err := s.InTx(ctx, func(q *sql.Tx) error {
		due, err := queryReminders(ctx, q, s.Rebind(dueQuery+skipLocked.clause(s.Dialect(), "r")), database.Micros(now), limit)
		if err != nil || len(due) == 0 {
			return err
		}
		tx := sqlTx{tx: q, d: s.Dialect()}
		msgs := make([]broker.Message, 0, len(due))
		for i := range due {
			r := &due[i]
			c, err := decide(tx, *r)
			if err != nil {
				return fmt.Errorf("reminder %s: %w", r.ID, err)
			}
			to := StatusSending
			if c.Mail != nil {
				msgs = append(msgs, *c.Mail)
			} else {
				to = c.Status
			}
			ok, err := transition(ctx, q, s.Dialect(), r.ID, StatusScheduled, to, nil, c.LastError)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("reminder %s changed while claimed", r.ID)
			}
			r.Status, r.LastError = to, c.LastError
		}
		if err := outbox.Add(ctx, q, s.Dialect(), msgs...); err != nil {
			return err
		}
		claimed = due
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim due reminders: %w", err)
	}
	return claimed, nil
}

// CancelUnconsented implements Store.
func (s *SQLStore) CancelUnconsented(ctx context.Context, now time.Time) (int, error) {
	n, err := database.Exec(ctx, s.DB(), s.Rebind(`UPDATE reminders SET status = 'cancelled'
WHERE status = 'awaiting_consent' AND send_at <= ?`), database.Micros(now))
	if err != nil {
		return 0, fmt.Errorf("cancel unconsented reminders: %w", err)
	}
	return int(n), nil
}

// Update implements Store.
func (s *SQLStore) Update(ctx context.Context, fn func(tx Tx) error) error {
	return s.InTx(ctx, func(tx *sql.Tx) error { return fn(sqlTx{tx: tx, d: s.Dialect()}) })
}

// sqlTx is the Tx of a SQLStore. In PostgreSQL the reminders and snapshots it reads are
// locked (FOR UPDATE) until the transaction ends, since the service reads them to change
// them; snapshots are locked before reminders everywhere, so that transactions do not
// deadlock on them.
type sqlTx struct {
	tx *sql.Tx
	d  database.Dialect
}

func (t sqlTx) FirstDelivery(ctx context.Context, messageID string) (bool, error) {
	return outbox.FirstDelivery(ctx, t.tx, t.d, messageID)
}

func (t sqlTx) AddMessages(ctx context.Context, msgs ...broker.Message) error {
	return outbox.Add(ctx, t.tx, t.d, msgs...)
}

func (t sqlTx) Reminder(ctx context.Context, id string) (Reminder, error) {
	return getReminder(ctx, t.tx, t.d, id, forUpdate)
}

func (t sqlTx) EventReminders(ctx context.Context, eventID string, status Status) ([]Reminder, error) {
	// A reminder that another transaction changes meanwhile is waited for, then checked
	// again: one a scheduler claimed (now sending) is no longer returned as scheduled.
	rs, err := queryReminders(ctx, t.tx, t.d.Rebind(eventRemindersQuery+forUpdate.clause(t.d, "r")), eventID, string(status))
	if err != nil {
		return nil, fmt.Errorf("reminders of event %s: %w", eventID, err)
	}
	return rs, nil
}

func (t sqlTx) Snapshot(ctx context.Context, eventID string) (messages.Event, error) {
	return getSnapshot(ctx, t.tx, t.d, eventID, forUpdate)
}

func (t sqlTx) PutSnapshot(ctx context.Context, ev messages.Event) error {
	return upsertSnapshot(ctx, t.tx, t.d, ev, false)
}

func (t sqlTx) SetSendAt(ctx context.Context, id string, sendAt time.Time) error {
	if _, err := t.tx.ExecContext(ctx, t.d.Rebind(`UPDATE reminders SET send_at = ? WHERE id = ?`),
		database.Micros(sendAt), id); err != nil {
		return fmt.Errorf("move reminder %s: %w", id, err)
	}
	return nil
}

func (t sqlTx) Transition(ctx context.Context, id string, from, to Status, sentAt *time.Time, lastError string) (bool, error) {
	return transition(ctx, t.tx, t.d, id, from, to, sentAt, lastError)
}

// Transition implements Store: one statement, guarded by the reminder's current status.
func (s *SQLStore) Transition(ctx context.Context, id string, from, to Status, sentAt *time.Time, lastError string) (bool, error) {
	var changed bool
	err := s.Write(ctx, func(q database.Querier) (err error) {
		changed, err = transition(ctx, q, s.Dialect(), id, from, to, sentAt, lastError)
		return err
	})
	return changed, err
}

func transition(ctx context.Context, q outbox.Execer, d database.Dialect, id string, from, to Status, sentAt *time.Time, lastError string) (bool, error) {
	n, err := database.Exec(ctx, q, d.Rebind(
		`UPDATE reminders SET status = ?, sent_at = ?, last_error = ? WHERE id = ? AND status = ?`),
		string(to), database.NullMicros(sentAt), nullString(lastError), id, string(from))
	if err != nil {
		return false, fmt.Errorf("reminder %s %s → %s: %w", id, from, to, err)
	}
	return n == 1, nil
}

func (t sqlTx) DeleteReminder(ctx context.Context, id string) error {
	if _, err := t.tx.ExecContext(ctx, t.d.Rebind(`DELETE FROM reminders WHERE id = ?`), id); err != nil {
		return fmt.Errorf("delete reminder %s: %w", id, err)
	}
	return nil
}

func (t sqlTx) DeleteAccountReminders(ctx context.Context, accountID string) (int, error) {
	// The snapshots of the account's events are read (and locked, in order) first, before
	// the reminders: the order every transaction locks them in.
	events, err := queryStrings(ctx, t.tx, t.d.Rebind(`SELECT id FROM event_snapshots
WHERE id IN (SELECT event_id FROM reminders WHERE account_id = ?) ORDER BY id`+forUpdate.clause(t.d, "")), accountID)
	if err != nil {
		return 0, fmt.Errorf("delete reminders of %s: %w", accountID, err)
	}
	n, err := database.Exec(ctx, t.tx, t.d.Rebind(`DELETE FROM reminders WHERE account_id = ?`), accountID)
	if err != nil {
		return 0, fmt.Errorf("delete reminders of %s: %w", accountID, err)
	}
	for _, ev := range events {
		// A snapshot stays while a reminder or someone else going to the event needs it (the
		// calendar feed shows the events people go to).
		if _, err := t.tx.ExecContext(ctx, t.d.Rebind(`DELETE FROM event_snapshots WHERE id = ?
	AND NOT EXISTS (SELECT 1 FROM reminders WHERE event_id = ?)
	AND NOT EXISTS (SELECT 1 FROM attendances WHERE event_id = ? AND status = 'going' AND account_id <> ?)`),
			ev, ev, ev, accountID); err != nil {
			return 0, fmt.Errorf("delete reminders of %s: %w", accountID, err)
		}
	}
	return int(n), nil
}

//go:embed migrations
var migrations embed.FS

// storeDB is how the notifications database is kept: its own migrations (migrations/sqlite,
// migrations/postgres), then the outbox's.
var storeDB = outbox.Service("notifications", migrations).With(idempotency.Schema)

var _ Store = (*SQLStore)(nil)

// Open opens the notifications database of dialect d at dsn — a SQLite file path (the file is created if
// needed) or a PostgreSQL URL (postgres://user:pass@host:port/db) — and brings its schema,
// outbox and inbox included, up to date; PostgreSQL replicas starting at once take turns.
func Open(ctx context.Context, d database.Dialect, dsn string, log *slog.Logger) (*SQLStore, error) {
	return database.OpenStore[SQLStore](ctx, storeDB, d, dsn, log)
}
