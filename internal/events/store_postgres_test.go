package events_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/events/storetest"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// openPostgres opens a store on the database at url, closed when t ends.
func openPostgres(t testing.TB, url string) *events.SQLStore {
	t.Helper()
	s, err := events.Open(context.Background(), database.Postgres, url, logging.Discard())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) events.Store {
		return openPostgres(t, pgtest.URL(t, events.PostgresSchemas()...))
	})
}

// TestPostgresMigrationsFromEmpty opens the store on an empty database with two replicas at
// once: every migration is applied exactly once, and a later start applies nothing and finds
// the data in place.
func TestPostgresMigrationsFromEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := func(ctx context.Context, url string, log *slog.Logger) (io.Closer, error) {
		return events.Open(ctx, database.Postgres, url, log)
	}
	url := pgtest.MigrateFromEmpty(t, events.PostgresSchemas(), open)

	s := openPostgres(t, url)
	e := events.Event{
		ID: uuid.Must(uuid.NewV7()).String(), OrganizerID: "o", Title: "Kept", StartsAt: testNow,
		Timezone: "UTC", Tags: []string{"kept"}, CreatedAt: testNow, UpdatedAt: testNow,
	}
	if err := s.Create(ctx, e); err != nil {
		t.Fatalf("store on the migrated database: %v", err)
	}
	s.Close()

	s = pgtest.Reopen(t, url, open).(*events.SQLStore)
	if got, err := s.Get(ctx, e.ID); err != nil || got.Title != "Kept" {
		t.Errorf("after reopening: %+v, %v", got, err)
	}
}
