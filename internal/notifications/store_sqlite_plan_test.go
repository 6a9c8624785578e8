package notifications

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// TestSQLiteEventRemindersNeedNoSort: the reminders of an event in a state, which every
// change and cancellation of the event reads in ID order, come from reminders_event in that
// order — no temporary B-tree sorts them (issue 17).
func TestSQLiteEventRemindersNeedNoSort(t *testing.T) {
	s, err := Open(context.Background(), database.SQLite, filepath.Join(t.TempDir(), "n.db"), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := eventRemindersQuery + forUpdate.clause(database.SQLite, "r")
	rows, err := s.DB().QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, "ev-1", string(StatusScheduled))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(plan, "\n")
	t.Logf("plan:\n%s", got)
	if strings.Contains(got, "TEMP B-TREE") {
		t.Errorf("the reminders of an event are sorted:\n%s", got)
	}
	if !strings.Contains(got, "USING INDEX reminders_event (event_id=? AND status=?)") {
		t.Errorf("the reminders of an event are not read from reminders_event:\n%s", got)
	}
}
