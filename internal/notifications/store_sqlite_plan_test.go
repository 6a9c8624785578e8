package notifications

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/sqlitetest"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/paging"
)

// openSQLitePlanStore opens an empty SQLite store, closed when t ends.
func openSQLitePlanStore(t *testing.T) *SQLStore {
	t.Helper()
	s, err := Open(context.Background(), database.SQLite, filepath.Join(t.TempDir(), "n.db"), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSQLiteEventRemindersNeedNoSort: the reminders of an event in a state, which every
// change and cancellation of the event reads in ID order, come from reminders_event in that
// order — no temporary B-tree sorts them (issue 17).
func TestSQLiteEventRemindersNeedNoSort(t *testing.T) {
	s := openSQLitePlanStore(t)
	q := eventRemindersQuery + forUpdate.clause(database.SQLite, "r")
	got := strings.Join(sqlitetest.Plan(t, s.DB(), q, "ev-1", string(StatusScheduled)), "\n")
	t.Logf("plan:\n%s", got)
	if strings.Contains(got, "TEMP B-TREE") {
		t.Errorf("the reminders of an event are sorted:\n%s", got)
	}
	if !strings.Contains(got, "USING INDEX reminders_event (event_id=? AND status=?)") {
		t.Errorf("the reminders of an event are not read from reminders_event:\n%s", got)
	}
}

// TestSQLiteListQueryPlans checks with EXPLAIN QUERY PLAN that a page of an account's
// reminders is searched in an index of the account's reminders that gives the list's order:
// no scan of the table, no sort, the cursor a range of the index, so that a page costs what
// it returns, not what the account holds.
func TestSQLiteListQueryPlans(t *testing.T) {
	s := openSQLitePlanStore(t)
	after := &paging.Key{Time: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), ID: "x"}
	tests := []struct {
		name string
		f    ListFilter
		want string
	}{
		{"first page", ListFilter{AccountID: "a", Limit: 51}, "USING INDEX reminders_account (account_id=?)"},
		{"after a cursor", ListFilter{AccountID: "a", After: after, Limit: 51},
			"USING INDEX reminders_account (account_id=? AND (send_at,id)>(?,?))"},
		{"by status", ListFilter{AccountID: "a", Status: StatusScheduled, Limit: 51},
			"USING INDEX reminders_account_status (account_id=? AND status=?)"},
		{"by status after a cursor", ListFilter{AccountID: "a", Status: StatusSent, After: after, Limit: 51},
			"USING INDEX reminders_account_status (account_id=? AND status=? AND (send_at,id)>(?,?))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query, args := listQuery(tt.f)
			plan := sqlitetest.Plan(t, s.DB(), query, args...)
			all := strings.Join(plan, "\n")
			for _, line := range plan {
				if strings.HasPrefix(line, "SCAN ") || strings.Contains(line, "TEMP B-TREE") {
					t.Errorf("%q in plan:\n%s", line, all)
				}
			}
			if !strings.Contains(all, "SEARCH r "+tt.want) {
				t.Errorf("plan does not search r %s:\n%s", tt.want, all)
			}
		})
	}
}
