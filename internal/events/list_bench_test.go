package events

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
	"github.com/eventpost/eventpost/internal/platform/svcauth/svcauthtest"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// BenchmarkListEventsHTTP measures GET /api/v1/events?limit=20 (the first page of upcoming
// events, as the home page asks for it) through the service's handler over the 100,000
// stored events of benchStore, signed as the gateway signs it: parsing, the search, the
// organizers' names and the JSON of 20 events. Run at two commits, it gives the cost of what
// one adds to the list (docs/benchmarks.md, "Attendance counts on the list").
func BenchmarkListEventsHTTP(b *testing.B) {
	store, _, now := benchStore(b)
	keys := svcauthtest.New()
	svc, err := New(DefaultConfig(), Deps{
		Common:   svcdeps.Common{Log: logging.Discard(), Registry: newRegistry(), Now: func() time.Time { return now }},
		Store:    store,
		Verifier: keys.Verifier("events", "gateway"),
	})
	if err != nil {
		b.Fatal(err)
	}
	h := svc.Handler()
	var durations []time.Duration
	bytes := 0
	for b.Loop() {
		start := time.Now()
		req := httptest.NewRequest(http.MethodGet, "/api/v1/events?limit=20", nil)
		keys.Sign(req, "gateway", "events", svcauth.Claims{})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET /api/v1/events: %d %s", rec.Code, rec.Body)
		}
		durations = append(durations, time.Since(start))
		bytes += rec.Body.Len()
	}
	reportPercentiles(b, durations)
	b.ReportMetric(float64(bytes)/float64(len(durations)), "body-bytes/op")
}
