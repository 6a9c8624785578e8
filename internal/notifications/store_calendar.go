package notifications

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/database"
)

// The queries of the calendar feed, named so that the PostgreSQL plan test explains the very
// SQL the store runs.
const (
	// feedEventsFrom selects the events of an account's feed (arguments: the account twice,
	// then the deletion cutoff): those it is going to or holds a pending reminder for, and
	// those deleted after the cutoff that it was going to or had a reminder for (a deletion
	// cancels the pending ones). Each arm starts from the account's own rows (the primary
	// key of attendances, reminders_account), so a feed costs what it shows, not what the
	// tables hold.
	feedEventsFrom = ` FROM event_snapshots e JOIN (
	SELECT m.event_id, MAX(m.live) AS live FROM (
		SELECT event_id, 1 AS live FROM attendances WHERE account_id = ? AND status = 'going'
		UNION ALL
		SELECT event_id, CASE WHEN status = 'cancelled' THEN 0 ELSE 1 END FROM reminders
		WHERE account_id = ? AND status IN ('scheduled', 'awaiting_consent', 'cancelled')
	) m GROUP BY m.event_id
) f ON f.event_id = e.id
WHERE (e.deleted_at IS NULL AND f.live = 1) OR e.deleted_at > ?`
	// feedRemindersFrom selects an account's pending reminders (argument: the account).
	feedRemindersFrom = ` FROM reminders WHERE account_id = ? AND status IN ('scheduled', 'awaiting_consent')`

	// feedStateQuery is CalendarState's one query: the events' versions, then the reminders'.
	feedStateQuery = `SELECT 'e', e.id, e.id, e.updated_at, e.deleted_at, ''` + feedEventsFrom + `
UNION ALL
SELECT 'r', id, event_id, send_at, NULL, status` + feedRemindersFrom
	feedEventsQuery    = `SELECT e.body, e.deleted_at` + feedEventsFrom + ` ORDER BY e.starts_at, e.id`
	feedRemindersQuery = `SELECT id, event_id, send_at, minutes_before, note, status` + feedRemindersFrom +
		` ORDER BY event_id, send_at, id`
	feedOwnerQuery = `SELECT f.account_id, COALESCE(a.display_name, '') FROM calendar_feeds f
LEFT JOIN accounts a ON a.account_id = f.account_id WHERE f.token = ?`
)

// CalendarToken implements Store.
func (s *SQLStore) CalendarToken(ctx context.Context, accountID, token string, now time.Time) (string, error) {
	var stored string
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.Rebind(`INSERT INTO calendar_feeds (account_id, token, created_at)
VALUES (?, ?, ?) ON CONFLICT (account_id) DO NOTHING`), accountID, token, database.Micros(now)); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, s.Rebind(`SELECT token FROM calendar_feeds WHERE account_id = ?`), accountID).Scan(&stored)
	})
	if err != nil {
		return "", fmt.Errorf("calendar feed of %s: %w", accountID, err)
	}
	return stored, nil
}

// RotateCalendarToken implements Store.
func (s *SQLStore) RotateCalendarToken(ctx context.Context, accountID, token string, now time.Time) error {
	if _, err := s.DB().ExecContext(ctx, s.Rebind(`INSERT INTO calendar_feeds (account_id, token, created_at)
VALUES (?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET token = excluded.token, created_at = excluded.created_at`),
		accountID, token, database.Micros(now)); err != nil {
		return fmt.Errorf("rotate calendar feed of %s: %w", accountID, err)
	}
	return nil
}

// CalendarOwner implements Store.
func (s *SQLStore) CalendarOwner(ctx context.Context, token string) (FeedOwner, error) {
	var o FeedOwner
	err := s.DB().QueryRowContext(ctx, s.Rebind(feedOwnerQuery), token).Scan(&o.AccountID, &o.DisplayName)
	if errors.Is(err, sql.ErrNoRows) {
		return FeedOwner{}, ErrFeedNotFound
	}
	if err != nil {
		return FeedOwner{}, fmt.Errorf("calendar feed: %w", err)
	}
	return o, nil
}

// CalendarState implements Store.
func (s *SQLStore) CalendarState(ctx context.Context, accountID string, deletedSince time.Time) (FeedState, error) {
	rows, err := s.DB().QueryContext(ctx, s.Rebind(feedStateQuery), accountID, accountID, database.Micros(deletedSince), accountID)
	if err != nil {
		return FeedState{}, fmt.Errorf("calendar state of %s: %w", accountID, err)
	}
	defer rows.Close()
	var st FeedState
	for rows.Next() {
		var (
			kind, id, eventID, status string
			at                        int64
			deleted                   sql.NullInt64
		)
		if err := rows.Scan(&kind, &id, &eventID, &at, &deleted, &status); err != nil {
			return FeedState{}, fmt.Errorf("calendar state of %s: %w", accountID, err)
		}
		if kind == "e" {
			st.Events = append(st.Events, FeedEvent{
				Event:     messages.Event{ID: id, UpdatedAt: database.FromMicros(at)},
				DeletedAt: database.FromNullMicros(deleted),
			})
			continue
		}
		st.Reminders = append(st.Reminders, FeedReminder{ID: id, EventID: eventID, SendAt: database.FromMicros(at), Status: Status(status)})
	}
	if err := rows.Err(); err != nil {
		return FeedState{}, fmt.Errorf("calendar state of %s: %w", accountID, err)
	}
	st.sort()
	return st, nil
}

// CalendarEvents implements Store.
func (s *SQLStore) CalendarEvents(ctx context.Context, accountID string, deletedSince time.Time) ([]FeedEvent, []FeedReminder, error) {
	rows, err := s.DB().QueryContext(ctx, s.Rebind(feedEventsQuery), accountID, accountID, database.Micros(deletedSince))
	if err != nil {
		return nil, nil, fmt.Errorf("calendar events of %s: %w", accountID, err)
	}
	events, err := database.Collect(rows, func(sc database.Scanner) (FeedEvent, error) {
		var (
			body    string
			deleted sql.NullInt64
		)
		if err := sc.Scan(&body, &deleted); err != nil {
			return FeedEvent{}, err
		}
		ev, err := decodeSnapshot(body)
		return FeedEvent{Event: ev, DeletedAt: database.FromNullMicros(deleted)}, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("calendar events of %s: %w", accountID, err)
	}
	rows, err = s.DB().QueryContext(ctx, s.Rebind(feedRemindersQuery), accountID)
	if err != nil {
		return nil, nil, fmt.Errorf("calendar reminders of %s: %w", accountID, err)
	}
	rems, err := database.Collect(rows, func(sc database.Scanner) (FeedReminder, error) {
		var (
			r       FeedReminder
			sendAt  int64
			minutes sql.NullInt64
			status  string
		)
		if err := sc.Scan(&r.ID, &r.EventID, &sendAt, &minutes, &r.Note, &status); err != nil {
			return FeedReminder{}, err
		}
		r.SendAt, r.Status = database.FromMicros(sendAt), Status(status)
		if minutes.Valid {
			m := int(minutes.Int64)
			r.MinutesBefore = &m
		}
		return r, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("calendar reminders of %s: %w", accountID, err)
	}
	return events, rems, nil
}

func (t sqlTx) DeleteAccountCalendar(ctx context.Context, accountID string) error {
	for _, q := range []string{`DELETE FROM calendar_feeds WHERE account_id = ?`, `DELETE FROM attendances WHERE account_id = ?`} {
		if _, err := t.tx.ExecContext(ctx, t.d.Rebind(q), accountID); err != nil {
			return fmt.Errorf("delete calendar of %s: %w", accountID, err)
		}
	}
	return nil
}

func (t sqlTx) MarkSnapshotDeleted(ctx context.Context, eventID string, at time.Time) error {
	if _, err := t.tx.ExecContext(ctx, t.d.Rebind(`UPDATE event_snapshots SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`),
		database.Micros(at), eventID); err != nil {
		return fmt.Errorf("mark snapshot %s deleted: %w", eventID, err)
	}
	return nil
}
