package events

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// BenchmarkSeed measures Seed into a new database of each engine, EVENTPOST_BENCH_SEED_EVENTS
// events (default 100,000) per operation, and reports events stored per second, and the
// seconds spent after the last batch (merging the full-text index, ANALYZE):
//
//	go test -run '^$' -bench BenchmarkSeed -benchtime 1x ./internal/events/
func BenchmarkSeed(b *testing.B) {
	n := 100_000
	if v := os.Getenv("EVENTPOST_BENCH_SEED_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("EVENTPOST_BENCH_SEED_EVENTS: %v", err)
		}
	}
	ctx := context.Background()
	open := map[string]func(b *testing.B) *SQLStore{
		"sqlite": func(b *testing.B) *SQLStore {
			s, err := Open(ctx, database.SQLite, filepath.Join(b.TempDir(), "events.db"), logging.Discard())
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"postgres": func(b *testing.B) *SQLStore {
			s, err := Open(ctx, database.Postgres, pgtest.URL(b, postgresSchemas()...), logging.Discard())
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			var took, finish time.Duration
			for b.Loop() {
				b.StopTimer()
				s := open[engine](b)
				b.StartTimer()
				start := time.Now()
				var stored time.Time
				if err := s.Seed(ctx, NewSample(1, time.Now()), n, func(int) { stored = time.Now() }); err != nil {
					b.Fatal(err)
				}
				took += time.Since(start)
				finish += time.Since(stored)
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/took.Seconds(), "events/s")
			b.ReportMetric(finish.Seconds()/float64(b.N), "finish-s")
		})
	}
}
