package notifications

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/eventpost/eventpost/internal/platform/database"
)

func (t sqlTx) Attendance(ctx context.Context, accountID, eventID string) (string, int64, bool, error) {
	var (
		status  string
		version int64
	)
	err := t.tx.QueryRowContext(ctx, t.d.Rebind(`SELECT status, version FROM attendances
WHERE account_id = ? AND event_id = ?`+forUpdate.clause(t.d, "")), accountID, eventID).Scan(&status, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, fmt.Errorf("attendance of %s at %s: %w", accountID, eventID, err)
	}
	return status, version, true, nil
}

func (t sqlTx) PutAttendance(ctx context.Context, accountID, eventID, status string, version int64) error {
	if _, err := t.tx.ExecContext(ctx, t.d.Rebind(`INSERT INTO attendances (account_id, event_id, status, version)
VALUES (?, ?, ?, ?)
ON CONFLICT (account_id, event_id) DO UPDATE SET status = excluded.status, version = excluded.version`),
		accountID, eventID, status, version); err != nil {
		return fmt.Errorf("attendance of %s at %s: %w", accountID, eventID, err)
	}
	return nil
}

func (t sqlTx) CancelDefaultReminders(ctx context.Context, accountID, eventID string) (int, error) {
	n, err := database.Exec(ctx, t.tx, t.d.Rebind(`UPDATE reminders SET status = 'cancelled'
WHERE account_id = ? AND event_id = ? AND from_default = ? AND status IN ('scheduled', 'awaiting_consent')`),
		accountID, eventID, true)
	if err != nil {
		return 0, fmt.Errorf("cancel default reminders of %s for %s: %w", accountID, eventID, err)
	}
	return int(n), nil
}
