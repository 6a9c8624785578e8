package auth_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/auth"
	"github.com/eventpost/eventpost/internal/auth/storetest"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// openPostgres opens a store on a new database copied from the migrated template; the
// database is dropped when t ends.
func openPostgres(t testing.TB, url string) *auth.SQLStore {
	t.Helper()
	s, err := auth.Open(context.Background(), database.Postgres, url, logging.Discard())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) auth.Store {
		return openPostgres(t, pgtest.URL(t, auth.PostgresSchemas()...))
	})
}

// TestPostgresMigrationsFromEmpty opens the store on an empty database with two replicas at
// once: every migration is applied exactly once, a later start applies nothing and finds the
// data in place.
func TestPostgresMigrationsFromEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := func(ctx context.Context, url string, log *slog.Logger) (io.Closer, error) {
		return auth.Open(ctx, database.Postgres, url, log)
	}
	url := pgtest.MigrateFromEmpty(t, auth.PostgresSchemas(), open)

	s := openPostgres(t, url)
	seq, err := s.RevokeSession(ctx, "s1", testBase)
	if err != nil {
		t.Fatalf("store on the migrated database: %v", err)
	}
	s.Close()

	s = pgtest.Reopen(t, url, open).(*auth.SQLStore)
	feed, err := s.Revocations(ctx, 0, testBase.Add(-time.Second))
	if err != nil || feed.LastSeq != seq {
		t.Errorf("after reopen: last seq %d, %v; want %d", feed.LastSeq, err, seq)
	}
}

func TestPostgresAccountsFromBeforeAreUnconfirmed(t *testing.T) {
	t.Parallel()
	checkAccountsFromBefore(t, openPostgres(t, pgtest.URL(t, auth.PostgresSchemas()...)))
}
