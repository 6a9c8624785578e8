package mailer_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/mailer/storetest"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// openPostgres opens a store on the database at url, closed when t ends.
func openPostgres(t testing.TB, url string) *mailer.SQLStore {
	t.Helper()
	s, err := mailer.Open(context.Background(), database.Postgres, url, logging.Discard())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPostgresStore runs the contract suite with each test on a new database copied from
// the migrated template. Its concurrent tests claim through several connections at once,
// which is what several replicas are to PostgreSQL.
func TestPostgresStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) mailer.Store {
		return openPostgres(t, pgtest.URL(t, mailer.PostgresSchemas()...))
	})
}

// TestPostgresMigrationsFromEmpty opens the store on an empty database with two replicas at
// once: every migration is applied exactly once, a later start applies nothing and finds the
// data in place.
func TestPostgresMigrationsFromEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := func(ctx context.Context, url string, log *slog.Logger) (io.Closer, error) {
		return mailer.Open(ctx, database.Postgres, url, log)
	}
	url := pgtest.MigrateFromEmpty(t, mailer.PostgresSchemas(), open)

	s := openPostgres(t, url)
	c := mailer.Claim{Key: "k", Kind: messages.EmailReminder, Token: "a", At: time.Now(), Lease: time.Minute}
	if _, err := s.Claim(ctx, c); err != nil {
		t.Fatalf("store on the migrated database: %v", err)
	}
	s.Close()

	s = pgtest.Reopen(t, url, open).(*mailer.SQLStore)
	if rec, err := s.Get(ctx, "k"); err != nil || rec.ClaimToken != "a" {
		t.Errorf("after reopen: %+v, %v; want the claim of a", rec, err)
	}
}

// TestPostgresSentMessagesVacuumEarly: every mail updates its row two or three times, so the
// table is vacuumed after 2 % of it changed, not autovacuum's default 20 % (issue 17).
func TestPostgresSentMessagesVacuumEarly(t *testing.T) {
	s := openPostgres(t, pgtest.URL(t, mailer.PostgresSchemas()...))
	const want = "autovacuum_vacuum_scale_factor=0.02"
	if got := pgtest.TableOptions(t, s.DB(), "sent_messages"); !strings.Contains(","+got+",", ","+want+",") {
		t.Errorf("sent_messages has storage parameters %q, want %s", got, want)
	}
}
