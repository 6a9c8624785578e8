package events

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"testing/fstest"
	"time"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// TestPostgresTimesMigration stores events in the first schema, which kept times as
// timestamptz, opens the store, which migrates them to unix microseconds, and checks that
// every time is kept to the microsecond (before 1970 and centuries away included), that
// searches find them in order, and that the later migrations give them sequence 0.
func TestPostgresTimesMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first, err := migrations.ReadFile("migrations/postgres/00001_events.sql")
	if err != nil {
		t.Fatal(err)
	}
	url := pgtest.URL(t, database.Schema{
		FS:  fstest.MapFS{"migrations/postgres/00001_events.sql": {Data: first}},
		Dir: "migrations/postgres",
	})
	times := []time.Time{ // in start order
		time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(1900, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2026, 12, 3, 16, 19, 57, 123456000, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
	}
	old, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	for i, at := range times {
		var ends *time.Time
		if i%2 == 0 {
			e := at.Add(time.Microsecond)
			ends = &e
		}
		_, err := old.ExecContext(ctx, `INSERT INTO events (id, organizer_id, title, description, starts_at, ends_at,
			timezone, tags, created_at, updated_at, search) VALUES ($1, 'o', 't', '', $2, $3, 'UTC', '{}', $4, $5, '')`,
			fmt.Sprintf("e%d", i), at, ends, at.Add(-time.Microsecond), at.Add(time.Second))
		if err != nil {
			t.Fatalf("insert into the first schema: %v", err)
		}
	}
	old.Close()

	s, err := Open(ctx, database.Postgres, url, logging.Discard())
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer s.Close()
	for i, at := range times {
		e, err := s.Get(ctx, fmt.Sprintf("e%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if !e.StartsAt.Equal(at) || !e.CreatedAt.Equal(at.Add(-time.Microsecond)) || !e.UpdatedAt.Equal(at.Add(time.Second)) {
			t.Errorf("event %d: starts %v, created %v, updated %v; want %v, a µs before, a second after",
				i, e.StartsAt, e.CreatedAt, e.UpdatedAt, at)
		}
		if e.Sequence != 0 {
			t.Errorf("event %d: sequence %d after the migration, want 0", i, e.Sequence)
		}
		if (e.EndsAt != nil) != (i%2 == 0) || e.EndsAt != nil && !e.EndsAt.Equal(at.Add(time.Microsecond)) {
			t.Errorf("event %d: ends %v, want a µs after %v or none", i, e.EndsAt, at)
		}
	}
	from := times[1]
	page, err := s.Search(ctx, SearchQuery{From: &from, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Events {
		got = append(got, e.ID)
	}
	if want := []string{"e1", "e2", "e3", "e4"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("search from %v: %v, want %v", from, got, want)
	}
}
