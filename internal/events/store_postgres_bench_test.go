package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
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
//
// With EVENTPOST_BENCH_PG_URL it runs on that database instead, seeding it once with
// EVENTPOST_BENCH_PG_EVENTS events (default benchEvents) if it holds no seed yet, so that
// databases of several sizes can be measured in turn without seeding each run (see
// benchPostgres).
func BenchmarkPostgresSearch(b *testing.B) {
	s, now := benchPostgres(b)
	svc := benchService(b, s, now)
	for _, shape := range pgBenchShapes(b, s, now) {
		b.Run(shape.name, func(b *testing.B) {
			searchLoop(b, svc, shape.values)
		})
	}
}

// BenchmarkPostgresSearchEachQuery is BenchmarkPostgresSearch with each query of a shape
// measured on its own, as <shape>/<n> (n counts the shape's queries from 0, in benchShapes'
// order): which query makes a shape slow.
//
//	go test -run '^$' -bench 'BenchmarkPostgresSearchEachQuery/combined_sparse/' -benchtime 100x ./internal/events/
func BenchmarkPostgresSearchEachQuery(b *testing.B) {
	s, now := benchPostgres(b)
	svc := benchService(b, s, now)
	for _, shape := range pgBenchShapes(b, s, now) {
		for i, v := range shape.values {
			b.Run(fmt.Sprintf("%s/%d", shape.name, i), func(b *testing.B) {
				searchLoop(b, svc, []url.Values{v})
			})
		}
	}
}

// benchClients is how many searches BenchmarkPostgresSearchParallel runs at once, each on its
// own connection.
const benchClients = 16

// BenchmarkPostgresSearchParallel runs the searches of every query shape from benchClients
// goroutines at once, each query of the shape in turn, over as many connections, and reports
// the searches per second:
//
//	go test -run '^$' -bench 'BenchmarkPostgresSearchParallel/combined' -benchtime 3s ./internal/events/
func BenchmarkPostgresSearchParallel(b *testing.B) {
	s, now := benchPostgres(b)
	s.DB().SetMaxOpenConns(benchClients)
	svc := benchService(b, s, now)
	ctx := context.Background()
	for _, shape := range pgBenchShapes(b, s, now) {
		b.Run(shape.name, func(b *testing.B) {
			var next atomic.Uint64
			b.SetParallelism(max(1, (benchClients+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					q, err := ParseSearchQuery(shape.values[next.Add(1)%uint64(len(shape.values))])
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := svc.Search(ctx, q); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// pgBenchShape is a shape of benchShapes with its queries' parameters.
type pgBenchShape struct {
	name   string
	values []url.Values
}

// pgBenchShapes returns the shapes of benchShapes, their queries made for the events seeded
// after now in s.
func pgBenchShapes(b *testing.B, s *SQLStore, now time.Time) []pgBenchShape {
	b.Helper()
	var organizer string
	if err := s.DB().QueryRowContext(context.Background(), `SELECT organizer_id FROM events GROUP BY organizer_id ORDER BY count(*) DESC LIMIT 1`).Scan(&organizer); err != nil {
		b.Fatal(err)
	}
	out := make([]pgBenchShape, 0, len(benchShapes))
	for _, shape := range benchShapes {
		sh := pgBenchShape{name: shape.name}
		for _, raw := range shape.queries {
			v, err := benchQuery(raw, now, organizer)
			if err != nil {
				b.Fatal(err)
			}
			sh.values = append(sh.values, v)
		}
		out = append(out, sh)
	}
	return out
}

// benchPostgres returns the store the PostgreSQL benchmarks search, and the time the events
// were seeded after: the database EVENTPOST_BENCH_PG_URL names, kept, or else a new one
// holding benchEvents events, dropped when tb ends.
func benchPostgres(tb testing.TB) (*SQLStore, time.Time) {
	tb.Helper()
	dsn := os.Getenv("EVENTPOST_BENCH_PG_URL")
	if dsn == "" {
		return seededPostgres(tb, benchEvents)
	}
	n := benchEvents
	if v := os.Getenv("EVENTPOST_BENCH_PG_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			tb.Fatalf("EVENTPOST_BENCH_PG_EVENTS=%q: want a positive number of events", v)
		}
	}
	s, now, err := openBenchPostgres(context.Background(), dsn, n)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, now
}

// openBenchPostgres opens the database at dsn, seeding it with n sample events first if it
// holds no seed yet (no row in bench_seed). It returns the time the seed was made at, which
// the benchmarks use as the current time.
func openBenchPostgres(ctx context.Context, dsn string, n int) (*SQLStore, time.Time, error) {
	s, err := Open(ctx, database.Postgres, dsn, logging.Discard())
	if err != nil {
		return nil, time.Time{}, err
	}
	now, err := benchSeedTime(ctx, s, n)
	if err != nil {
		s.Close()
		return nil, time.Time{}, err
	}
	return s, now, nil
}

func benchSeedTime(ctx context.Context, s *SQLStore, n int) (time.Time, error) {
	db := s.DB()
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS bench_seed (now bigint NOT NULL, events bigint NOT NULL)`); err != nil {
		return time.Time{}, err
	}
	var nowMicro int64
	err := db.QueryRowContext(ctx, `SELECT now FROM bench_seed`).Scan(&nowMicro)
	if errors.Is(err, sql.ErrNoRows) {
		now := time.Now().UTC().Truncate(time.Hour)
		if err := s.Seed(ctx, NewSample(1, now), n, nil); err != nil {
			return time.Time{}, err
		}
		nowMicro = now.UnixMicro()
		_, err = db.ExecContext(ctx, `INSERT INTO bench_seed (now, events) VALUES ($1, $2)`, nowMicro, n)
	}
	if err != nil {
		return time.Time{}, err
	}
	return database.FromMicros(nowMicro), nil
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
