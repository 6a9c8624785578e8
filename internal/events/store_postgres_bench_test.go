package events

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

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

// seededPostgres returns a store on a new database, dropped when tb ends, holding n events
// made by the benchmarks' generator, vacuumed and analyzed. The events start within the year
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
	if err := seedPostgres(ctx, s, newEventGen(1, now), n); err != nil {
		tb.Fatalf("seed: %v", err)
	}
	tb.Logf("seeded %d events in %v", n, time.Since(start).Round(time.Millisecond))
	return s, now
}

// seedPostgres stores n events from g: it copies them (COPY) into a temporary table, moves
// them into events with one INSERT … SELECT that computes the columns the store computes in
// SQL, then vacuums and analyzes events.
func seedPostgres(ctx context.Context, s *SQLStore, g *eventGen, n int) error {
	cols, err := s.writeColumns(Event{})
	if err != nil {
		return err
	}
	names, exprs := []string{"id"}, []string{"id"}
	for _, c := range cols {
		names = append(names, c.name)
		exprs = append(exprs, strings.Replace(c.expr, "?", c.name, 1))
	}
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, stmt := range []string{
		`CREATE TEMP TABLE seed (LIKE events INCLUDING DEFAULTS)`,
		`ALTER TABLE seed DROP COLUMN search, ADD COLUMN search text`, // the text to_tsvector reads
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	err = conn.Raw(func(driverConn any) error {
		i := 0
		_, err := driverConn.(*stdlib.Conn).Conn().CopyFrom(ctx, pgx.Identifier{"seed"}, names,
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == n {
					return nil, nil
				}
				i++
				e := g.event()
				cols, err := s.writeColumns(e)
				if err != nil {
					return nil, err
				}
				row := []any{e.ID}
				for _, c := range cols {
					row = append(row, c.arg)
				}
				return row, nil
			}))
		return err
	})
	if err != nil {
		return err
	}
	for _, stmt := range []string{
		`INSERT INTO events (` + strings.Join(names, ", ") + `) SELECT ` + strings.Join(exprs, ", ") + ` FROM seed`,
		`DROP TABLE seed`,
		`VACUUM ANALYZE events`,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}
