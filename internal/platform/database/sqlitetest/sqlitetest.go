// Package sqlitetest holds what tests of SQLite stores share.
package sqlitetest

import (
	"context"
	"database/sql"
	"testing"
)

// Plan returns the detail lines of SQLite's EXPLAIN QUERY PLAN of query with args in db,
// such as "SEARCH r USING INDEX reminders_account (account_id=?)".
func Plan(t testing.TB, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, query)
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
	return plan
}
