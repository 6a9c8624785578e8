package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/eventpost/eventpost/internal/platform/database"
)

// attendanceColumns are the columns scanAttendance reads, from the attendance row a: the
// waitlist position counts the waitlisted rows of the event up to a.
const attendanceColumns = `a.seq, a.event_id, a.account_id, a.status,
	CASE WHEN a.status = 'waitlisted' THEN (SELECT count(*) FROM attendance w
		WHERE w.event_id = a.event_id AND w.status = 'waitlisted' AND w.seq <= a.seq) END`

func scanAttendance(r database.Scanner) (Attendance, error) {
	var (
		a   Attendance
		pos sql.NullInt64
	)
	if err := r.Scan(&a.Seq, &a.EventID, &a.AccountID, &a.Status, &pos); err != nil {
		return Attendance{}, err
	}
	if pos.Valid {
		p := int(pos.Int64)
		a.Position = &p
	}
	return a, nil
}

// SetAttendance implements Store.
func (s *SQLStore) SetAttendance(ctx context.Context, eventID, accountID string, status AttendanceStatus) (Attendance, error) {
	var a Attendance
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		e, err := s.getEvent(ctx, tx, eventID, true)
		if err != nil {
			return err
		}
		cur, err := s.attendanceStatus(ctx, tx, eventID, accountID)
		if err != nil {
			return err
		}
		if cur != status && (status != Going || cur != Waitlisted) {
			if err := s.writeAttendance(ctx, tx, e, accountID, cur, status); err != nil {
				return err
			}
			if err := s.recount(ctx, tx, eventID); err != nil {
				return err
			}
		}
		a, err = scanAttendance(tx.QueryRowContext(ctx, s.Rebind(`SELECT `+attendanceColumns+`
			FROM attendance a WHERE a.event_id = ? AND a.account_id = ?`), eventID, accountID))
		return err
	})
	if err != nil {
		return Attendance{}, fmt.Errorf("attend event %s: %w", eventID, err)
	}
	return a, nil
}

// writeAttendance replaces accountID's attendance of e, cur ("" for none), with one asking for
// status, in tx, which holds e locked: going becomes waitlisted when e is full, and a place
// that going leaves goes to the first waitlisted.
func (s *SQLStore) writeAttendance(ctx context.Context, tx *sql.Tx, e Event, accountID string, cur, status AttendanceStatus) error {
	if _, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM attendance WHERE event_id = ? AND account_id = ?`),
		e.ID, accountID); err != nil {
		return err
	}
	if status == Going && e.Capacity != nil {
		n, err := s.goingCount(ctx, tx, e.ID)
		if err != nil {
			return err
		}
		if n >= *e.Capacity {
			status = Waitlisted
		}
	}
	if _, err := tx.ExecContext(ctx, s.Rebind(`INSERT INTO attendance (event_id, account_id, status) VALUES (?, ?, ?)`),
		e.ID, accountID, string(status)); err != nil {
		return err
	}
	if cur == Going {
		_, err := s.promote(ctx, tx, e)
		return err
	}
	return nil
}

// attendanceStatus returns accountID's status for the event, or "" for none.
func (s *SQLStore) attendanceStatus(ctx context.Context, tx *sql.Tx, eventID, accountID string) (AttendanceStatus, error) {
	var st AttendanceStatus
	err := tx.QueryRowContext(ctx, s.Rebind(`SELECT status FROM attendance WHERE event_id = ? AND account_id = ?`),
		eventID, accountID).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return st, err
}

func (s *SQLStore) goingCount(ctx context.Context, tx *sql.Tx, eventID string) (int64, error) {
	var n int64
	err := tx.QueryRowContext(ctx, s.Rebind(`SELECT count(*) FROM attendance WHERE event_id = ? AND status = 'going'`),
		eventID).Scan(&n)
	return n, err
}

// promote gives a free place of e, if there is one, to the first waitlisted person, and
// returns their account ID ("" for none).
func (s *SQLStore) promote(ctx context.Context, tx *sql.Tx, e Event) (string, error) {
	if e.Capacity == nil {
		return "", nil
	}
	n, err := s.goingCount(ctx, tx, e.ID)
	if err != nil || n >= *e.Capacity {
		return "", err
	}
	var (
		seq     int64
		account string
	)
	err = tx.QueryRowContext(ctx, s.Rebind(`SELECT seq, account_id FROM attendance
		WHERE event_id = ? AND status = 'waitlisted' ORDER BY seq LIMIT 1`), e.ID).Scan(&seq, &account)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	_, err = tx.ExecContext(ctx, s.Rebind(`UPDATE attendance SET status = 'going' WHERE seq = ?`), seq)
	return account, err
}

// RemoveAttendance implements Store.
func (s *SQLStore) RemoveAttendance(ctx context.Context, eventID, accountID string) (string, error) {
	var promoted string
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		e, err := s.getEvent(ctx, tx, eventID, true)
		if err != nil {
			return err
		}
		cur, err := s.attendanceStatus(ctx, tx, eventID, accountID)
		if err != nil || cur == "" {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM attendance WHERE event_id = ? AND account_id = ?`),
			eventID, accountID); err != nil {
			return err
		}
		if cur == Going {
			if promoted, err = s.promote(ctx, tx, e); err != nil {
				return err
			}
		}
		return s.recount(ctx, tx, eventID)
	})
	if err != nil {
		return "", fmt.Errorf("leave event %s: %w", eventID, err)
	}
	return promoted, nil
}

// AccountAttendance implements Store.
func (s *SQLStore) AccountAttendance(ctx context.Context, accountID string, after int64, limit int) ([]Attendance, error) {
	rows, err := s.DB().QueryContext(ctx, s.Rebind(`SELECT `+attendanceColumns+` FROM attendance a
		WHERE a.account_id = ? AND a.seq > ? ORDER BY a.seq LIMIT ?`), accountID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list attendance of %s: %w", accountID, err)
	}
	return database.Collect(rows, scanAttendance)
}

// EventAttendance implements Store.
func (s *SQLStore) EventAttendance(ctx context.Context, eventID string, after int64, limit int) ([]Attendance, error) {
	rows, err := s.DB().QueryContext(ctx, s.Rebind(`SELECT `+attendanceColumns+` FROM attendance a
		WHERE a.event_id = ? AND a.seq > ? ORDER BY a.seq LIMIT ?`), eventID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list attendance of event %s: %w", eventID, err)
	}
	return database.Collect(rows, scanAttendance)
}

// deleteAttendance deletes every attendance of the event with the given ID, in tx.
func (s *SQLStore) deleteAttendance(ctx context.Context, tx *sql.Tx, eventID string) error {
	_, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM attendance WHERE event_id = ?`), eventID)
	return err
}

// recount stores on the event's row how many of its attendances are going and interested,
// in tx, which holds the event locked.
func (s *SQLStore) recount(ctx context.Context, tx *sql.Tx, eventID string) error {
	_, err := tx.ExecContext(ctx, s.Rebind(`UPDATE events SET
		going_count = (SELECT count(*) FROM attendance WHERE event_id = ? AND status = 'going'),
		interested_count = (SELECT count(*) FROM attendance WHERE event_id = ? AND status = 'interested')
		WHERE id = ?`), eventID, eventID, eventID)
	return err
}
