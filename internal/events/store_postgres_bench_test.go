package events

import (
	"context"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// BenchmarkPostgresSearch measures every query shape of BenchmarkSearch over benchEvents
// events in PostgreSQL (EVENTPOST_TEST_POSTGRES_URL, see pgtest), and reports the median and
// 95th percentile latency of one search:
//
//	go test -run '^$' -bench 'BenchmarkSearch$|BenchmarkPostgresSearch' -benchtime 1000x ./internal/events/
func BenchmarkPostgresSearch(b *testing.B) {
	s, now := seededPostgres(b, benchEvents)
	benchSearch(b, s, s.DB(), now)
}

// seededPostgres returns a store on a new database, dropped when tb ends, holding n sample
// events (Seed), vacuumed and analyzed. The events start within the year
// after the time it returns.
func seededPostgres(tb testing.TB, n int) (*SQLStore, time.Time) {
	tb.Helper()
	ctx := context.Background()
	s, err := Open(ctx, database.Postgres, pgtest.URL(tb, postgresSchemas()...), logging.Discard())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	now := time.Now().UTC().Truncate(time.Hour)
	start := time.Now()
	if err := s.Seed(ctx, NewSample(1, now), n, nil); err != nil {
		tb.Fatalf("seed: %v", err)
	}
	tb.Logf("seeded %d events in %v", n, time.Since(start).Round(time.Millisecond))
	return s, now
}
