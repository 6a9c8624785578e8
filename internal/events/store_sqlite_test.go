package events_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/events/storetest"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

func TestSQLiteStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) events.Store {
		return openStore(t)
	})
}

// openStore opens a new SQLite store in a temporary directory, closed when t ends.
func openStore(t testing.TB) *events.SQLStore {
	t.Helper()
	s, err := events.Open(context.Background(), database.SQLite, filepath.Join(t.TempDir(), "events.db"), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenSQLiteTwiceKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	ctx := context.Background()
	s, err := events.Open(ctx, database.SQLite, path, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	svc := newService(t, s)
	e, err := svc.Create(ctx, "organizer", events.EventInput{Title: ptr("Kept"), StartsAt: ptr(testNow.Add(time.Hour).Format(time.RFC3339))})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = events.Open(ctx, database.SQLite, path, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Get(ctx, e.ID); err != nil || got.Title != "Kept" {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
}
