package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/outbox"
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
func (s *SQLStore) SetAttendance(ctx context.Context, eventID, accountID string, status AttendanceStatus, announce AttendanceAnnouncer) (Attendance, error) {
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
		changed := cur != status && (status != Going || cur != Waitlisted)
		var promoted []AttendanceChange
		if changed {
			if promoted, err = s.writeAttendance(ctx, tx, e, accountID, cur, status); err != nil {
				return err
			}
		}
		a, err = scanAttendance(tx.QueryRowContext(ctx, s.Rebind(`SELECT `+attendanceColumns+`
			FROM attendance a WHERE a.event_id = ? AND a.account_id = ?`), eventID, accountID))
		if err != nil || !changed {
			return err
		}
		own := AttendanceChange{AccountID: accountID, Status: a.Status}
		if a.Position != nil {
			own.Position = *a.Position
		}
		_, err = s.attendanceChanged(ctx, tx, e, append([]AttendanceChange{own}, promoted...), announce)
		return err
	})
	if err != nil {
		return Attendance{}, fmt.Errorf("attend event %s: %w", eventID, err)
	}
	return a, nil
}

// writeAttendance replaces accountID's attendance of e, cur ("" for none), with one asking for
// status, in tx, which holds e locked: going becomes waitlisted when e is full, and a place
// that going leaves goes to the first waitlisted, whose promotion it returns.
func (s *SQLStore) writeAttendance(ctx context.Context, tx *sql.Tx, e Event, accountID string, cur, status AttendanceStatus) ([]AttendanceChange, error) {
	if _, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM attendance WHERE event_id = ? AND account_id = ?`),
		e.ID, accountID); err != nil {
		return nil, err
	}
	if status == Going && e.Capacity != nil {
		n, err := s.goingCount(ctx, tx, e.ID)
		if err != nil {
			return nil, err
		}
		if n >= *e.Capacity {
			status = Waitlisted
		}
	}
	if _, err := tx.ExecContext(ctx, s.Rebind(`INSERT INTO attendance (event_id, account_id, status) VALUES (?, ?, ?)`),
		e.ID, accountID, string(status)); err != nil {
		return nil, err
	}
	if cur == Going {
		return s.promote(ctx, tx, e)
	}
	return nil, nil
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

// promote gives the free places of e, in tx, which holds e locked, to the first waitlisted
// people, in the order they arrived (all of them when e has no capacity), and returns their
// promotions, each with the store's copy of the account.
func (s *SQLStore) promote(ctx context.Context, tx *sql.Tx, e Event) ([]AttendanceChange, error) {
	query := `SELECT seq, account_id FROM attendance WHERE event_id = ? AND status = 'waitlisted' ORDER BY seq`
	args := []any{e.ID}
	if e.Capacity != nil {
		n, err := s.goingCount(ctx, tx, e.ID)
		if err != nil || n >= *e.Capacity {
			return nil, err
		}
		query += ` LIMIT ?`
		args = append(args, *e.Capacity-n)
	}
	type waiting struct {
		seq     int64
		account string
	}
	rows, err := tx.QueryContext(ctx, s.Rebind(query), args...)
	if err != nil {
		return nil, err
	}
	first, err := database.Collect(rows, func(r database.Scanner) (waiting, error) {
		var w waiting
		err := r.Scan(&w.seq, &w.account)
		return w, err
	})
	if err != nil {
		return nil, err
	}
	promoted := make([]AttendanceChange, 0, len(first))
	for _, w := range first {
		if _, err := tx.ExecContext(ctx, s.Rebind(`UPDATE attendance SET status = 'going' WHERE seq = ?`), w.seq); err != nil {
			return nil, err
		}
		c, err := s.contact(ctx, tx, w.account)
		if err != nil {
			return nil, err
		}
		promoted = append(promoted, AttendanceChange{AccountID: w.account, Status: Going, Promoted: true, Contact: c})
	}
	return promoted, nil
}

// contact returns the store's copy of the account with the given ID, or nil when it has none.
func (s *SQLStore) contact(ctx context.Context, tx *sql.Tx, accountID string) (*Contact, error) {
	var c Contact
	err := tx.QueryRowContext(ctx, s.Rebind(`SELECT email, email_verified, display_name FROM accounts WHERE account_id = ?`),
		accountID).Scan(&c.Email, &c.EmailVerified, &c.DisplayName)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// attendanceChanged records, in tx, which holds e locked, that changes were made to e's
// attendance: it counts the event's attendances again, raises its attendance version, and
// adds to the outbox the messages announce makes of the changes with the new version, which
// it returns.
func (s *SQLStore) attendanceChanged(ctx context.Context, tx *sql.Tx, e Event, changes []AttendanceChange, announce AttendanceAnnouncer) (int64, error) {
	if err := s.recount(ctx, tx, e.ID); err != nil {
		return 0, err
	}
	var version int64
	if err := tx.QueryRowContext(ctx, s.Rebind(`UPDATE events SET attendance_version = attendance_version + 1
		WHERE id = ? RETURNING attendance_version`), e.ID).Scan(&version); err != nil {
		return 0, err
	}
	if announce == nil || len(changes) == 0 {
		return version, nil
	}
	msgs, err := announce(e, version, changes)
	if err != nil {
		return 0, err
	}
	return version, outbox.Add(ctx, tx, s.Dialect(), msgs...)
}

// RemoveAttendance implements Store.
func (s *SQLStore) RemoveAttendance(ctx context.Context, eventID, accountID string, announce AttendanceAnnouncer) (string, error) {
	var promoted string
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		promoted = ""
		e, err := s.getEvent(ctx, tx, eventID, true)
		if err != nil {
			return err
		}
		changes, err := s.removeAttendance(ctx, tx, e, accountID)
		if err != nil || len(changes) == 0 {
			return err
		}
		if len(changes) > 1 {
			promoted = changes[1].AccountID
		}
		_, err = s.attendanceChanged(ctx, tx, e, changes, announce)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("leave event %s: %w", eventID, err)
	}
	return promoted, nil
}

// removeAttendance removes accountID's attendance of e, in tx, which holds e locked, and
// returns the changes: none when it had none, else its own (to no status) and the promotions
// of the waitlisted people who take the place it left.
func (s *SQLStore) removeAttendance(ctx context.Context, tx *sql.Tx, e Event, accountID string) ([]AttendanceChange, error) {
	cur, err := s.attendanceStatus(ctx, tx, e.ID, accountID)
	if err != nil || cur == "" {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM attendance WHERE event_id = ? AND account_id = ?`),
		e.ID, accountID); err != nil {
		return nil, err
	}
	changes := []AttendanceChange{{AccountID: accountID}}
	if cur == Going {
		promoted, err := s.promote(ctx, tx, e)
		if err != nil {
			return nil, err
		}
		changes = append(changes, promoted...)
	}
	return changes, nil
}

// removeAccountAttendance removes every attendance of accountID, in tx, event by event (each
// locked in turn, in the order of their IDs), giving the places it leaves to the waitlisted,
// and adds the messages announce makes of each event's changes to the outbox.
func (s *SQLStore) removeAccountAttendance(ctx context.Context, tx *sql.Tx, accountID string, announce AttendanceAnnouncer) error {
	ids, err := queryStrings(ctx, tx, s.Rebind(`SELECT event_id FROM attendance WHERE account_id = ? ORDER BY event_id`), accountID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		e, err := s.getEvent(ctx, tx, id, true)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		changes, err := s.removeAttendance(ctx, tx, e, accountID)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			continue
		}
		if _, err := s.attendanceChanged(ctx, tx, e, changes, announce); err != nil {
			return err
		}
	}
	return nil
}

// queryStrings runs a query of one text column in tx and returns its values, the rows closed.
func queryStrings(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return database.Collect(rows, func(r database.Scanner) (string, error) {
		var v string
		err := r.Scan(&v)
		return v, err
	})
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
