package events

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/sqlitetest"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/svcauth/svcauthtest"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// benchEvents is how many events the search benchmarks store unless
// EVENTPOST_BENCH_EVENTS says otherwise (the SQLite ones only).
const benchEvents = 100_000

// sqliteBenchEvents returns how many events the SQLite search benchmarks store:
// EVENTPOST_BENCH_EVENTS, or benchEvents.
func sqliteBenchEvents() (int, error) {
	s := os.Getenv("EVENTPOST_BENCH_EVENTS")
	if s == "" {
		return benchEvents, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("EVENTPOST_BENCH_EVENTS=%q: want a positive number", s)
	}
	return n, nil
}

// benchFixture is a store seeded with sqliteBenchEvents() realistic events, shared by the
// benchmarks of one test binary run. Set EVENTPOST_BENCH_DIR to keep (and reuse) it across
// runs: the file is named after the number of events, so one directory holds several sizes.
var benchFixture struct {
	once  sync.Once
	dir   string // removed by TestMain unless kept
	keep  bool
	store *SQLStore
	ids   []string
	now   time.Time
	err   error
}

func benchStore(b *testing.B) (*SQLStore, []string, time.Time) {
	b.Helper()
	f := &benchFixture
	f.once.Do(func() {
		f.dir, f.keep = os.Getenv("EVENTPOST_BENCH_DIR"), true
		if f.dir == "" {
			f.dir, f.err = os.MkdirTemp("", "events-bench-")
			f.keep = false
			if f.err != nil {
				return
			}
		}
		var n int
		if n, f.err = sqliteBenchEvents(); f.err != nil {
			return
		}
		name := "events-bench.db"
		if n != benchEvents {
			name = fmt.Sprintf("events-bench-%d.db", n)
		}
		f.store, f.ids, f.now, f.err = openBenchStore(context.Background(), filepath.Join(f.dir, name), n)
	})
	if f.err != nil {
		b.Fatal(f.err)
	}
	return f.store, f.ids, f.now
}

// openBenchStore opens the seeded database at path, seeding it first if it is new. The
// events start within the year after the time recorded with the seed, which the benchmarks
// use as the current time.
func openBenchStore(ctx context.Context, path string, n int) (*SQLStore, []string, time.Time, error) {
	s, err := Open(ctx, database.SQLite, path, logging.Discard())
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	if _, err := s.DB().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS bench_seed (now INTEGER NOT NULL)`); err != nil {
		return nil, nil, time.Time{}, err
	}
	var nowMicro int64
	err = s.DB().QueryRowContext(ctx, `SELECT now FROM bench_seed`).Scan(&nowMicro)
	if err == sql.ErrNoRows {
		now := time.Now().UTC().Truncate(time.Hour)
		if err := s.Seed(ctx, NewSample(1, now), n, nil); err != nil {
			return nil, nil, time.Time{}, err
		}
		nowMicro = now.UnixMicro()
		_, err = s.DB().ExecContext(ctx, `INSERT INTO bench_seed (now) VALUES (?)`, nowMicro)
	}
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	rows, err := s.DB().QueryContext(ctx, `SELECT id FROM events`)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, nil, time.Time{}, err
		}
		ids = append(ids, id)
	}
	return s, ids, database.FromMicros(nowMicro), rows.Err()
}

// benchShapes are the query shapes of BenchmarkSearch; each is a list of query strings
// tried in turn.
var benchShapes = []struct {
	name    string
	queries []string
}{
	{"list", []string{""}},
	{"list_page_50", []string{"limit=100"}},
	{"q_common", []string{"q=friends", "q=music", "q=welcome", "q=evening", "q=night"}},
	{"q_rare", []string{"q=axolotl", "q=quokka", "q=theremin", "q=pulsar", "q=kakapo"}},
	{"q_prefix", []string{"q=jaz", "q=work", "q=tast", "q=sci", "q=ch"}},
	{"q_one_letter", []string{"q=a", "q=s", "q=m"}},
	{"q_two_words", []string{"q=live+jazz", "q=python+workshop", "q=wine+tasting"}},
	{"absent", []string{"q=zebra", "q=xylophonist", "tag=zebra", "category=zebra"}},
	{"tag", []string{"tag=free", "tag=jazz", "tag=networking", "tag=outdoors"}},
	{"two_tags", []string{"tag=free&tag=family", "tag=live-music&tag=jazz"}},
	{"category", []string{"category=music", "category=tech", "category=games"}},
	{"near_city", []string{"near=51.5074,-0.1278", "near=48.8566,2.3522", "near=40.7128,-74.006"}},
	{"near_small", []string{"near=-18.1248,178.4501", "near=45.764,4.8357&radius_km=10", "near=60.1699,24.9384"}},
	{"near_nobody", []string{"near=0,-30", "near=-60,100&radius_km=500"}},
	{"near_wide", []string{"near=48.8566,2.3522&radius_km=2000", "near=0,0&radius_km=20000"}},
	{"time_range", []string{"from=%s&to=%s"}},
	{"combined", []string{"q=jazz&category=music&near=48.8566,2.3522", "q=workshop&tag=beginners&near=51.5074,-0.1278&radius_km=50", "q=wine&category=food&tag=tasting"}},
	{"combined_sparse", []string{"q=friends&near=-18.1248,178.4501", "tag=free&category=games", "q=music&tag=chess&near=51.5074,-0.1278", "category=tech&near=0,-30"}},
	{"organizer", []string{"organizer_id=%o"}},
}

// BenchmarkSearch measures every query shape over benchEvents stored events and reports the
// median and 95th percentile latency of one search.
func BenchmarkSearch(b *testing.B) {
	store, _, now := benchStore(b)
	benchSearch(b, store, store.DB(), now)
}

// benchSearch runs the benchmark of every query shape on store, whose database is db, through
// the service at the time now.
func benchSearch(b *testing.B, store Store, db *sql.DB, now time.Time) {
	svc := benchService(b, store, now)
	ctx := context.Background()
	var organizer string
	if err := db.QueryRowContext(ctx, `SELECT organizer_id FROM events GROUP BY organizer_id ORDER BY count(*) DESC LIMIT 1`).Scan(&organizer); err != nil {
		b.Fatal(err)
	}
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			values := make([]url.Values, len(shape.queries))
			for i, raw := range shape.queries {
				v, err := benchQuery(raw, now, organizer)
				if err != nil {
					b.Fatal(err)
				}
				values[i] = v
			}
			searchLoop(b, svc, values)
		})
	}
}

// benchConnections is how many searches BenchmarkSearchParallel runs at once, as 16 clients
// would: the store's pool of 8 connections serves them.
const benchConnections = 16

// BenchmarkSearchParallel runs the searches of every shape from benchConnections goroutines
// at once and reports the searches per second.
func BenchmarkSearchParallel(b *testing.B) {
	store, _, now := benchStore(b)
	svc := benchService(b, store, now)
	ctx := context.Background()
	var organizer string
	if err := store.DB().QueryRowContext(ctx, `SELECT organizer_id FROM events GROUP BY organizer_id ORDER BY count(*) DESC LIMIT 1`).Scan(&organizer); err != nil {
		b.Fatal(err)
	}
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			queries := make([]SearchQuery, len(shape.queries))
			for i, raw := range shape.queries {
				v, err := benchQuery(raw, now, organizer)
				if err != nil {
					b.Fatal(err)
				}
				if queries[i], err = ParseSearchQuery(v); err != nil {
					b.Fatal(err)
				}
			}
			b.SetParallelism(max(1, benchConnections/runtime.GOMAXPROCS(0)))
			start := time.Now()
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := svc.Search(ctx, queries[int(next.Add(1))%len(queries)]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// BenchmarkSearchExplain logs SQLite's EXPLAIN QUERY PLAN of the statements that the first
// query of each shape of benchShapes runs over the benchmark's events (for docs/benchmarks.md);
// it measures nothing, and prints them on the standard output.
func BenchmarkSearchExplain(b *testing.B) {
	store, _, now := benchStore(b)
	ctx := context.Background()
	var organizer string
	if err := store.DB().QueryRowContext(ctx, `SELECT organizer_id FROM events GROUP BY organizer_id ORDER BY count(*) DESC LIMIT 1`).Scan(&organizer); err != nil {
		b.Fatal(err)
	}
	var out strings.Builder
	for _, shape := range benchShapes {
		for _, raw := range shape.queries {
			v, err := benchQuery(raw, now, organizer)
			if err != nil {
				b.Fatal(err)
			}
			q, err := ParseSearchQuery(v)
			if err != nil {
				b.Fatal(err)
			}
			if q.From == nil {
				q.From = &now
			}
			fmt.Fprintf(&out, "\n%s: %s\n", shape.name, v.Encode())
			for _, st := range searchStatements(b, store, q) {
				fmt.Fprintf(&out, "  %s\n    %s\n", st.what, strings.Join(sqlitetest.Plan(b, store.DB(), st.query, st.args...), "\n    "))
			}
		}
	}
	for b.Loop() {
	}
	fmt.Print(out.String()) // b.Log keeps only the first lines of a benchmark's log
}

// searchStatements returns the statements that searchSQLite runs for q (of searchNear, the
// first window's).
func searchStatements(b *testing.B, s *SQLStore, q SearchQuery) []struct {
	what, query string
	args        []any
} {
	type statement = struct {
		what, query string
		args        []any
	}
	ctx := context.Background()
	want := q.Limit + 1
	var out []statement
	switch d := searchDriver(q); d {
	case driveText:
		words := make([]string, len(q.Words))
		for i, w := range q.Words {
			if utf8.RuneCountInString(w) > maxPrefixIndex && asciiAlnum(w) {
				out = append(out, statement{"terms of " + w, termsQuery, []any{w, prefixEnd(w), maxWordTerms + 1}})
			}
			m, err := s.wordMatch(ctx, w)
			if err != nil {
				b.Fatal(err)
			}
			if m == "" {
				return out
			}
			words[i] = m
		}
		query, args := textQuery(q, words)
		out = append(out, statement{"full-text: " + args[0].(string), query, args})
	case driveNear:
		lo := database.Micros(*q.From)
		if cells := coveringCells(boundingBox(*q.Near)); len(cells) > 0 {
			out = append(out, statement{"span of the cells", nearSpanQuery,
				[]any{`facets : (` + strings.Join(cells, " OR ") + `)`, secFloor(lo) << seqShift, int64(math.MaxInt64)}})
		}
		width, err := s.firstWindow(ctx, lo)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, statement{"length of the first window", firstWindowQuery, []any{lo, windowEvents - 1}})
		query, args := nearWindowQuery(q, lo, lo+width, false, want)
		out = append(out, statement{"first window", query, args})
	default:
		query, args := orderedQuery(q, d, want)
		out = append(out, statement{"ordered", query, args})
	}
	return out
}

// benchQuery returns the query parameters of raw, one of benchShapes' queries: the first %s
// stands for a month after now, the second for two months after, %o for organizer.
func benchQuery(raw string, now time.Time, organizer string) (url.Values, error) {
	raw = strings.Replace(raw, "%s", url.QueryEscape(now.Add(30*24*time.Hour).Format(time.RFC3339)), 1)
	raw = strings.Replace(raw, "%s", url.QueryEscape(now.Add(60*24*time.Hour).Format(time.RFC3339)), 1)
	raw = strings.Replace(raw, "%o", organizer, 1)
	return url.ParseQuery(raw)
}

// BenchmarkGetEvent measures reading one event by ID.
func BenchmarkGetEvent(b *testing.B) {
	store, ids, now := benchStore(b)
	svc := benchService(b, store, now)
	ctx := context.Background()
	var durations []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := svc.Get(ctx, ids[(i*7919)%len(ids)]); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	reportPercentiles(b, durations)
}

// benchService returns a service on store whose clock stands at now.
func benchService(b *testing.B, store Store, now time.Time) *Service {
	b.Helper()
	svc, err := New(DefaultConfig(), Deps{
		Common:   svcdeps.Common{Log: logging.Discard(), Registry: newRegistry(), Now: func() time.Time { return now }},
		Store:    store,
		Verifier: svcauthtest.New().Verifier("events", "gateway"),
	})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// searchLoop runs b's loop as searches of the queries values, in turn, through svc, and
// reports the median and 95th percentile of their times and the events a search found.
func searchLoop(b *testing.B, svc *Service, values []url.Values) {
	ctx := context.Background()
	var durations []time.Duration
	items := 0
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		q, err := ParseSearchQuery(values[i%len(values)])
		if err != nil {
			b.Fatal(err)
		}
		res, err := svc.Search(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
		items += len(res.Items)
	}
	reportPercentiles(b, durations)
	b.ReportMetric(float64(items)/float64(len(durations)), "items/op")
}

// reportPercentiles reports the median, 95th and 99th percentile of d, in milliseconds.
func reportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	pct := func(p float64) float64 {
		i := min(int(math.Ceil(p*float64(len(d))))-1, len(d)-1)
		return float64(d[max(i, 0)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
