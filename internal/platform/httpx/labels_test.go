package httpx_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
	"github.com/eventpost/eventpost/internal/platform/svcauth/svcauthtest"
)

// series counts the time series reg holds.
func series(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		n += len(f.GetMetric())
	}
	return n
}

// TestRandomRequestsAddNoMetricSeries: requests with methods and paths never seen before,
// answered or refused, leave the number of metric series as it was, for the gateway's kind of
// handler (no verifier) and a service's (every call verified).
func TestRandomRequestsAddNoMetricSeries(t *testing.T) {
	keys := svcauthtest.New()
	for _, verified := range []bool{false, true} {
		t.Run(fmt.Sprintf("verified=%v", verified), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			mux := http.NewServeMux()
			mux.HandleFunc("GET /api/v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
				httpx.WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
			})
			o := httpx.Options{Log: logging.Discard(), Registry: reg}
			if verified {
				o.Verifier = keys.Verifier("things", "gateway")
			}
			h := httpx.Wrap(mux, o)
			rng := rand.New(rand.NewPCG(1, 2))
			send := func() {
				method := fmt.Sprintf("M%08X", rng.Uint32())
				path := fmt.Sprintf("/%x/%x", rng.Uint64(), rng.Uint64())
				if rng.IntN(2) == 0 {
					path = fmt.Sprintf("/api/v1/things/%x", rng.Uint64())
				}
				req := httptest.NewRequest(method, path, nil)
				if verified && rng.IntN(2) == 0 {
					keys.Sign(req, "gateway", "things", svcauth.Claims{AccountID: "a", ClientIP: path})
				}
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
			for range 100 { // every kind of answer once: each adds its series
				send()
			}
			before := series(t, reg)
			for range 1000 {
				send()
			}
			if after := series(t, reg); after != before {
				t.Errorf("1,000 random requests took the series from %d to %d", before, after)
			}
		})
	}
}
