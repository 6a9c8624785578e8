package events_test

import (
	"context"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// TestSeed loads sample events twice into each engine and checks that the second load adds
// to the first, that every event lies in the year after now and shows its organizer's name,
// and that the searches by word, tag and place (the indexes the SQLite triggers keep) find
// exactly the events that match.
func TestSeed(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			var s *events.SQLStore
			if engine == "sqlite" {
				s = openStore(t)
			} else {
				s = openPostgres(t, pgtest.URL(t, events.PostgresSchemas()...))
			}
			ctx := context.Background()
			svc := newService(t, s)
			// Batches of 40: each seed of 150 stores four, which PostgreSQL shares between
			// its loading connections.
			events.SetSeedBatch(t, 40)
			var progress []int
			for i, seed := range []uint64{1, 2} {
				if err := s.Seed(ctx, events.NewSample(seed, testNow), 150, func(n int) { progress = append(progress, n) }); err != nil {
					t.Fatalf("seed %d: %v", i+1, err)
				}
			}
			if want := []int{40, 80, 120, 150, 40, 80, 120, 150}; engine == "sqlite" && !slices.Equal(progress, want) ||
				engine == "postgres" && (len(progress) != 8 || progress[3] != 150 || progress[7] != 150) {
				t.Errorf("progress %v; want four batches a seed, ending at 150", progress)
			}
			if engine == "sqlite" {
				checkSeedTerms(t, s)
			}
			all := searchAll(t, svc, "")
			if len(all) != 300 {
				t.Fatalf("found %d events after two seeds of 150, want 300", len(all))
			}
			for _, e := range all {
				if !e.StartsAt.After(testNow) || e.StartsAt.After(testNow.AddDate(1, 0, 2)) {
					t.Errorf("event %s starts at %s, not in the year after %s", e.ID, e.StartsAt, testNow)
				}
				if e.Organizer.DisplayName == "" {
					t.Errorf("event %s of %s shows no organizer name", e.ID, e.OrganizerID)
				}
				if _, err := time.LoadLocation(e.Timezone); err != nil {
					t.Errorf("event %s: time zone %q: %v", e.ID, e.Timezone, err)
				}
			}
			for query, match := range map[string]func(events.Event) bool{
				"q=music": func(e events.Event) bool {
					return slices.ContainsFunc(strings.FieldsFunc(strings.ToLower(e.Title+" "+e.Description+" "+strings.Join(e.Tags, " ")),
						func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') }),
						func(w string) bool { return strings.HasPrefix(w, "music") })
				},
				"tag=free":     func(e events.Event) bool { return slices.Contains(e.Tags, "free") },
				"category=art": func(e events.Event) bool { return e.Category != nil && *e.Category == "art" },
				"near=51.5074,-0.1278&radius_km=50": func(e events.Event) bool {
					return e.Location != nil && e.Location.Lat != nil && strings.HasSuffix(e.Location.Address, ", London")
				},
			} {
				var want []string
				for _, e := range all {
					if match(e) {
						want = append(want, e.ID)
					}
				}
				var got []string
				for _, e := range searchAll(t, svc, query) {
					got = append(got, e.ID)
				}
				slices.Sort(want)
				slices.Sort(got)
				if len(want) == 0 || !slices.Equal(got, want) {
					t.Errorf("%s found %d events, want the %d that match", query, len(got), len(want))
				}
			}
		})
	}
}

// checkSeedTerms checks that fts_terms, which wordMatch reads, holds every term of the words of
// the full-text index after a seed.
func checkSeedTerms(t *testing.T, s *events.SQLStore) {
	t.Helper()
	ctx := context.Background()
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE VIRTUAL TABLE temp.seed_terms USING fts5vocab (main, events_fts, col)`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `DROP TABLE temp.seed_terms`) //nolint:errcheck // the connection is closed next
	var terms, missing int
	err = conn.QueryRowContext(ctx, `SELECT count(DISTINCT term), count(DISTINCT term) FILTER (WHERE term NOT IN (SELECT term FROM fts_terms))
		FROM temp.seed_terms WHERE col <> 'facets'`).Scan(&terms, &missing)
	if err != nil {
		t.Fatal(err)
	}
	if terms < 100 || missing != 0 {
		t.Errorf("the index holds %d terms, %d of them missing from fts_terms; want 100 or more, and none missing", terms, missing)
	}
}

// TestSeedWhileTheServiceWrites seeds a SQLite database while another connection pool on the
// same file, as EventPost running in another process, creates events: both succeed, and every
// event of both is found.
func TestSeedWhileTheServiceWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	ctx := context.Background()
	open := func() *events.SQLStore {
		s, err := events.Open(ctx, database.SQLite, path, logging.Discard())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	seeder, running := open(), open()
	svc := newService(t, running)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	created := 0
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Starts on the quarter hour, as the sample events' do: they share seq ranges.
			start := testNow.Add(time.Duration(1+i%500) * 15 * time.Minute).Format(time.RFC3339)
			if _, err := svc.Create(ctx, "organizer", events.EventInput{Title: ptr("Created meanwhile"), StartsAt: &start}); err != nil {
				t.Errorf("create while seeding: %v", err)
				return
			}
			created++
			// A service writes when its users do, with gaps, however busy. Two connections
			// that both write without pause take SQLite's lock from each other by chance
			// (its busy handler polls, in no order), and the seed would wait for its turn
			// for minutes.
			time.Sleep(10 * time.Millisecond)
		}
	})
	// Six seeds of 100: each stores its events with one statement, which holds the write lock
	// for seconds under the race detector on a loaded machine; the service's writers wait up
	// to 10 s for it.
	for range 6 {
		if err := seeder.Seed(ctx, events.NewSample(uint64(time.Now().UnixNano()), testNow), 100, nil); err != nil {
			t.Errorf("seed: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	if created == 0 {
		t.Error("no event was created while seeding")
	}
	if got, want := len(searchAll(t, svc, "")), 600+created; got != want {
		t.Errorf("found %d events, want 600 seeded and %d created", got, want)
	}
	if got := len(searchAll(t, svc, "q=meanwhile")); got != created {
		t.Errorf("q=meanwhile found %d events, want the %d created", got, created)
	}
}

// searchAll returns every event the query (URL parameters) finds, page after page.
func searchAll(t *testing.T, svc *events.Service, query string) []events.Event {
	t.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	v.Set("limit", "100")
	var out []events.Event
	for {
		q, err := events.ParseSearchQuery(v)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		res, err := svc.Search(context.Background(), q)
		if err != nil {
			t.Fatalf("search %s: %v", query, err)
		}
		out = append(out, res.Items...)
		if res.NextCursor == nil {
			return out
		}
		v.Set("cursor", *res.NextCursor)
	}
}
