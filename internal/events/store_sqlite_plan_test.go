package events

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/sqlitetest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// TestSearchQueryPlans checks with EXPLAIN QUERY PLAN that no search reads a whole table and
// that searches which walk an index in the result order do not sort.
func TestSearchQueryPlans(t *testing.T) {
	s, err := Open(context.Background(), database.SQLite, filepath.Join(t.TempDir(), "events.db"), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	after := &Cursor{Time: from, ID: "x"}
	near := &Circle{Lat: 51.5, Lon: -0.12, RadiusKM: 25}
	tests := []struct {
		name      string
		query     string
		mayOrder  bool // a temporary B-tree may sort the rows
		wantIndex string
	}{
		{name: "list", wantIndex: "events_starts", query: first(orderedQuery(SearchQuery{From: &from, After: after}, driveTime, 21))},
		{name: "time range", wantIndex: "events_starts", query: first(orderedQuery(SearchQuery{From: &from, To: &to}, driveTime, 21))},
		{name: "category", wantIndex: "events_category", query: first(orderedQuery(SearchQuery{From: &from, Category: "music", After: after}, driveCategory, 21))},
		{name: "organizer", wantIndex: "events_organizer", query: first(orderedQuery(SearchQuery{From: &from, OrganizerID: "o", After: after}, driveOrganizer, 21))},
		{name: "tag", wantIndex: "PRIMARY KEY (tag=?", query: first(orderedQuery(SearchQuery{From: &from, Tags: []string{"a", "b"}, After: after}, driveTag, 21))},
		{name: "words and facets", wantIndex: "events_fts VIRTUAL TABLE", query: first(textQuery(SearchQuery{
			From: &from, To: &to, Words: []string{"jazz"}, Tags: []string{"a"}, Category: "c", OrganizerID: "o", Near: near, After: after}, []string{prefixMatch("jazz")}))},
		{name: "expanded words", wantIndex: "events_fts VIRTUAL TABLE", query: first(textQuery(SearchQuery{
			From: &from, Words: []string{"music", "jazz"}, After: after}, []string{`("music" OR "musical")`, `("jazz")`}))},
		{name: "terms of a word", wantIndex: "fts_terms USING PRIMARY KEY (term>? AND term<?)", query: termsQuery},
		{name: "first window", wantIndex: "events_starts", query: firstWindowQuery},
		{name: "span of the cells near", wantIndex: "events_fts VIRTUAL TABLE", query: nearSpanQuery},
		{name: "near", wantIndex: "events_geo VIRTUAL TABLE", mayOrder: true, query: first(nearWindowQuery(SearchQuery{From: &from, Near: near}, 1, 2, false, 21))},
		{name: "near the antimeridian", wantIndex: "events_geo VIRTUAL TABLE", mayOrder: true,
			query: first(nearWindowQuery(SearchQuery{From: &from, Near: &Circle{Lat: -18, Lon: 179.9, RadiusKM: 50}}, 1, 2, true, 21))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := explain(t, s, tt.query)
			for _, line := range plan {
				if strings.HasPrefix(line, "SCAN ") && !strings.Contains(line, "VIRTUAL TABLE INDEX") && line != "SCAN CONSTANT ROW" {
					t.Errorf("full scan %q in plan:\n%s", line, strings.Join(plan, "\n"))
				}
				if strings.Contains(line, "TEMP B-TREE") && !tt.mayOrder {
					t.Errorf("sort %q in plan:\n%s", line, strings.Join(plan, "\n"))
				}
			}
			if !strings.Contains(strings.Join(plan, "\n"), tt.wantIndex) {
				t.Errorf("plan does not use %s:\n%s", tt.wantIndex, strings.Join(plan, "\n"))
			}
		})
	}
}

func first(query string, _ []any) string { return query }

func explain(t *testing.T, s *SQLStore, query string) []string {
	t.Helper()
	n := strings.Count(query, "?")
	args := make([]any, n)
	for i := range args {
		args[i] = 1
	}
	return sqlitetest.Plan(t, s.DB(), query, args...)
}
