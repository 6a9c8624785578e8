package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/eventpost/eventpost/internal/platform/database"
)

// seqShift makes room in seq for the events that start in the same second.
const seqShift = 24

// secFloor returns the unix second that the time us (in unix microseconds) falls in.
func secFloor(us int64) int64 {
	s := us / 1_000_000
	if us%1_000_000 < 0 {
		s--
	}
	return s
}

// nextSeq returns a free seq for an event that starts at t.
func nextSeq(ctx context.Context, tx *sql.Tx, t time.Time) (int64, error) {
	base := secFloor(database.Micros(t)) << seqShift
	var last int64
	err := tx.QueryRowContext(ctx, `SELECT seq FROM events WHERE seq >= ? AND seq < ? ORDER BY seq DESC LIMIT 1`,
		base, base+1<<seqShift).Scan(&last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return base, nil
	case err != nil:
		return 0, err
	case last+1 >= base+1<<seqShift:
		return 0, fmt.Errorf("too many events start at %s", t.Format(time.RFC3339))
	}
	return last + 1, nil
}
