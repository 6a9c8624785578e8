package metrics_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/eventpost/eventpost/internal/platform/logging/logtest"
	"github.com/eventpost/eventpost/internal/platform/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeCount is a query that counts its calls: it returns n, or err when set.
type fakeCount struct {
	calls atomic.Int64
	n     atomic.Int64
	mu    sync.Mutex
	err   error
}

func (f *fakeCount) read(context.Context) (float64, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	return float64(f.n.Load()), nil
}

func (f *fakeCount) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// newRefreshed returns a registry holding a RefreshedGauge named things_pending over f, and
// the buffer its failures are logged to.
func newRefreshed(t *testing.T, f *fakeCount) (*prometheus.Registry, *metrics.RefreshedGauge, *logtest.Buffer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	var logs logtest.Buffer
	g := metrics.NewRefreshedGauge("things_pending", "Things waiting.", f.read, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err := reg.Register(g); err != nil {
		t.Fatal(err)
	}
	return reg, g, &logs
}

// scrape serves GET /metrics of reg and returns the body, failing t on any status but 200.
func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func wantSeries(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w+"\n") {
			t.Errorf("scrape lacks %q:\n%s", w, body)
		}
	}
}

// TestRefreshedGaugeScrapeRunsNoQuery: the gauge shows what the last refresh read, and
// scraping it, however often, never runs the query.
func TestRefreshedGaugeScrapeRunsNoQuery(t *testing.T) {
	f := &fakeCount{}
	reg, g, _ := newRefreshed(t, f)
	wantSeries(t, scrape(t, reg), "things_pending 0", "things_pending_refreshed_timestamp_seconds 0")
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("%d queries before any refresh, want 0", n)
	}
	f.n.Store(1_000_000)
	before := time.Now()
	if err := g.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		body := scrape(t, reg)
		wantSeries(t, body, "things_pending 1e+06", "things_pending_refresh_failures_total 0")
		if strings.Contains(body, "things_pending_refreshed_timestamp_seconds 0\n") {
			t.Errorf("no refresh time after a refresh:\n%s", body)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d queries after one refresh and 10 scrapes, want 1", n)
	}
	if ts := gaugeValue(t, reg, "things_pending_refreshed_timestamp_seconds"); ts < float64(before.Unix()) || ts > float64(time.Now().Unix()+1) {
		t.Errorf("refreshed at %v, want between %v and now", ts, before.Unix())
	}
}

// gaugeValue returns the value of the unlabelled series name in reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s", name)
	return 0
}

// TestRefreshedGaugeFailureKeepsLastValue: a failed refresh keeps the value and the time of
// the last good one, is counted and logged, and the scrape still answers 200.
func TestRefreshedGaugeFailureKeepsLastValue(t *testing.T) {
	f := &fakeCount{}
	reg, g, logs := newRefreshed(t, f)
	f.n.Store(42)
	if err := g.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	refreshed := gaugeValue(t, reg, "things_pending_refreshed_timestamp_seconds")
	f.fail(errors.New("database is closed"))
	f.n.Store(7)
	for range 2 {
		if err := g.Refresh(context.Background()); err == nil {
			t.Fatal("Refresh reported no error for a failed query")
		}
	}
	wantSeries(t, scrape(t, reg), "things_pending 42", "things_pending_refresh_failures_total 2")
	if got := gaugeValue(t, reg, "things_pending_refreshed_timestamp_seconds"); got != refreshed {
		t.Errorf("refresh time moved from %v to %v on failures", refreshed, got)
	}
	if n := logs.Count(`"msg":"refresh metric","metric":"things_pending","err":"database is closed"`); n != 2 {
		t.Errorf("%d failures logged, want 2:\n%s", n, logs)
	}
	f.fail(nil)
	if err := g.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantSeries(t, scrape(t, reg), "things_pending 7", "things_pending_refresh_failures_total 2")
}

// TestRefreshedGaugeCancelledRefreshIsNoFailure: a refresh cut short by a shutdown is
// neither counted nor logged.
func TestRefreshedGaugeCancelledRefreshIsNoFailure(t *testing.T) {
	f := &fakeCount{}
	reg, g, logs := newRefreshed(t, f)
	f.fail(context.Canceled)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Refresh(ctx); err == nil {
		t.Fatal("Refresh reported no error for a cancelled query")
	}
	wantSeries(t, scrape(t, reg), "things_pending_refresh_failures_total 0")
	if logs.String() != "" {
		t.Errorf("a cancelled refresh was logged: %s", logs)
	}
}

// TestRefreshedGaugeRunRefreshesAtStartAndOnTimer: Run refreshes at once, then every
// interval, and returns when its context ends, leaving no goroutine (goleak in TestMain).
func TestRefreshedGaugeRunRefreshesAtStartAndOnTimer(t *testing.T) {
	f := &fakeCount{}
	f.n.Store(3)
	reg, g, _ := newRefreshed(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, 10*time.Millisecond) }()
	waitFor(t, "the first refresh", func() bool { return f.calls.Load() >= 1 })
	if v := gaugeValue(t, reg, "things_pending"); v != 3 {
		t.Errorf("things_pending = %v after the first refresh, want 3", v)
	}
	f.n.Store(5)
	waitFor(t, "refreshes on the timer", func() bool { return gaugeValue(t, reg, "things_pending") == 5 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	calls := f.calls.Load()
	time.Sleep(50 * time.Millisecond)
	if n := f.calls.Load(); n != calls {
		t.Errorf("%d refreshes after Run returned", n-calls)
	}
}

// TestRefreshedGaugeRunWaitsForInterval: Run with a long interval refreshes once at
// start, not again, and still returns at once when its context ends.
func TestRefreshedGaugeRunWaitsForInterval(t *testing.T) {
	f := &fakeCount{}
	_, g, _ := newRefreshed(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, time.Hour) }()
	waitFor(t, "the first refresh", func() bool { return f.calls.Load() == 1 })
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d refreshes within the first hour, want 1", n)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
