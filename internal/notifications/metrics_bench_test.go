package notifications_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/metrics"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// pendingAtScale is how many scheduled reminders BenchmarkMetricsScrape holds.
const pendingAtScale = 1_000_000

// BenchmarkMetricsScrape measures GET /metrics of the notifications service over 1,000,000
// scheduled reminders (1,000 events), in SQLite and PostgreSQL: "refreshed" is the service as
// it is, whose notifications_reminders_scheduled gauge a scrape only reads;
// "count-per-scrape" is the same handler with the gauge as it was before issue 17 beside it,
// a GaugeFunc running the count on every scrape. The rows are loaded with one INSERT … SELECT.
//
//	EVENTPOST_INTEGRATION=1 go test -run '^$' -bench MetricsScrape -benchtime 2s ./internal/notifications/
func BenchmarkMetricsScrape(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		st, err := notifications.Open(context.Background(), database.SQLite, filepath.Join(b.TempDir(), "n.db"), logging.Discard())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		seedPending(b, st.DB(), database.SQLite, pendingAtScale)
		benchScrape(b, st)
	})
	b.Run("postgres", func(b *testing.B) {
		st := openPostgres(b, newPostgresURL(b))
		seedPending(b, st.DB(), database.Postgres, pendingAtScale)
		benchScrape(b, st)
	})
}

// seedPending loads n scheduled reminders, due from an hour from now, over 1,000 events, in
// one statement per table.
func seedPending(b *testing.B, db *sql.DB, d database.Dialect, n int) {
	b.Helper()
	start := time.Now()
	series := func(n string) string { // the rows 1..n as g(i)
		if d == database.Postgres {
			return `generate_series(1, ` + n + `) AS g(i)`
		}
		return `g`
	}
	with := func(n string) string {
		if d == database.Postgres {
			return ``
		}
		return `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ` + n + `) `
	}
	due := time.Now().Add(time.Hour)
	stmts := []struct {
		q    string
		args []any
	}{
		{with("1000") + `INSERT INTO event_snapshots (id, organizer_id, starts_at, updated_at, body)
			SELECT 'ev-' || i, 'org', ?, 0, '{}' FROM ` + series("1000"), []any{database.Micros(due.Add(24 * time.Hour))}},
		{with("?") + `INSERT INTO reminders (id, account_id, event_id, email, send_at, note, status, created_at)
			SELECT 'rem-' || i, 'acct-' || (i % 10000), 'ev-' || (i % 1000 + 1), 'someone@example.com',
				CAST(? AS BIGINT) + i, '', 'scheduled', 0 FROM ` + series("?"), []any{n, database.Micros(due)}},
		{`ANALYZE`, nil},
	}
	if d == database.Postgres { // the placeholder of n comes after send_at's
		stmts[1].args = []any{database.Micros(due), n}
		stmts[2].q = `VACUUM ANALYZE`
	}
	for _, st := range stmts {
		if _, err := db.ExecContext(context.Background(), d.Rebind(st.q), st.args...); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	b.Logf("%s: %d scheduled reminders loaded in %v", d, n, time.Since(start).Round(time.Millisecond))
}

// benchScrape runs the service over st and measures its /metrics, refreshed and counted per
// scrape.
func benchScrape(b *testing.B, st *notifications.SQLStore) {
	reg := metrics.NewRegistry(true)
	cfg := notifications.DefaultConfig()
	cfg.PollInterval = time.Hour // no scheduler pass during the measurement
	svc, err := notifications.New(cfg, notifications.Deps{
		Common: svcdeps.Common{Outbox: &countingNotifier{}, Log: logging.Discard(), Registry: reg},
		Store:  st, Events: &fakeEvents{events: map[string]messages.Event{}},
		Verifier: keys.Verifier("notifications", "gateway"),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	h := svc.Handler()
	scrape := func(b *testing.B) string {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		signAsGateway(req, nobody)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("GET /metrics: %d", w.Code)
		}
		return w.Body.String()
	}
	const want = "notifications_reminders_scheduled 1e+06\n"
	for deadline := time.Now().Add(time.Minute); !strings.Contains(scrape(b), want); {
		if time.Now().After(deadline) {
			b.Fatalf("no %q after a minute", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	run := func(b *testing.B, want string) {
		b.ReportAllocs()
		for b.Loop() {
			if body := scrape(b); !strings.Contains(body, want) {
				b.Fatalf("no %q in the scrape", want)
			}
		}
	}
	b.Run("refreshed", func(b *testing.B) { run(b, want) })
	b.Run("count-per-scrape", func(b *testing.B) {
		perScrape := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "bench_reminders_scheduled_per_scrape", Help: "The gauge as it was: a count per scrape.",
		}, func() float64 {
			n, err := st.CountScheduled(context.Background())
			if err != nil {
				return -1
			}
			return float64(n)
		})
		reg.MustRegister(perScrape)
		defer reg.Unregister(perScrape)
		run(b, "bench_reminders_scheduled_per_scrape 1e+06\n")
	})
}
