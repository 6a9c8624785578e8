package httpx_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
	"github.com/eventpost/eventpost/internal/platform/svcauth/svcauthtest"
)

// TestWithoutMetrics: a handler of Wrap behind WithoutMetrics answers /metrics, and paths
// under /metrics/, with a 404 problem by every method, before any caller check (a service's
// scrape needs no credentials, so neither does its 404), while the probes and the service's
// own routes answer as before; Wrap alone still serves /metrics.
func TestWithoutMetrics(t *testing.T) {
	keys := svcauthtest.New()
	for _, verified := range []bool{false, true} {
		for _, hidden := range []bool{false, true} {
			t.Run(fmt.Sprintf("verified=%v/hidden=%v", verified, hidden), func(t *testing.T) {
				reg := prometheus.NewRegistry()
				mux := http.NewServeMux()
				mux.HandleFunc("GET /api/v1/things", func(w http.ResponseWriter, r *http.Request) {
					httpx.WriteJSON(w, http.StatusOK, []string{})
				})
				o := httpx.Options{Log: logging.Discard(), Registry: reg}
				if verified {
					o.Verifier = keys.Verifier("things", "gateway")
				}
				h := httpx.Wrap(mux, o)
				if hidden {
					h = httpx.WithoutMetrics(h, logging.Discard())
				}
				serve := func(method, path string, sign bool) *httptest.ResponseRecorder {
					req := httptest.NewRequest(method, path, nil)
					if sign {
						keys.Sign(req, "gateway", "things", svcauth.Claims{})
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					return rec
				}

				rec := serve(http.MethodGet, "/metrics", false)
				if !hidden {
					if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") ||
						!strings.Contains(rec.Body.String(), "# TYPE promhttp_metric_handler_errors_total counter") {
						t.Fatalf("GET /metrics: %d %.80q, want the Prometheus text", rec.Code, rec.Body)
					}
					return
				}
				for _, tc := range []struct {
					method, path string
					sign         bool
				}{
					{http.MethodGet, "/metrics", false},
					{http.MethodGet, "/metrics", true},
					{http.MethodHead, "/metrics", false},
					{http.MethodPost, "/metrics", false},
					{"PURGE", "/metrics", false},
					{http.MethodGet, "/metrics/", false},
					{http.MethodGet, "/metrics/things", false},
					{http.MethodGet, "/%6Detrics", false},
				} {
					rec := serve(tc.method, tc.path, tc.sign)
					if rec.Code != http.StatusNotFound {
						t.Errorf("%s %s: status %d, want 404; body %.80q", tc.method, tc.path, rec.Code, rec.Body)
						continue
					}
					if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
						t.Errorf("%s %s: Content-Type %q, want %s", tc.method, tc.path, ct, problem.ContentType)
					}
					if tc.method != http.MethodHead {
						var body struct{ Status int }
						if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Status != http.StatusNotFound {
							t.Errorf("%s %s: body %q, want a 404 problem", tc.method, tc.path, rec.Body)
						}
					}
					if rec.Header().Get(httpx.HeaderRequestID) == "" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
						t.Errorf("%s %s: headers %v, want a request ID and nosniff", tc.method, tc.path, rec.Header())
					}
				}
				for _, path := range []string{"/healthz", "/readyz"} {
					if rec := serve(http.MethodGet, path, false); rec.Code != http.StatusOK {
						t.Errorf("GET %s: status %d, want 200", path, rec.Code)
					}
				}
				if rec := serve(http.MethodGet, "/api/v1/things", true); rec.Code != http.StatusOK {
					t.Errorf("GET /api/v1/things: status %d, want 200", rec.Code)
				}
				if verified {
					if rec := serve(http.MethodGet, "/api/v1/things", false); rec.Code != http.StatusUnauthorized {
						t.Errorf("GET /api/v1/things unsigned: status %d, want 401", rec.Code)
					}
				}
			})
		}
	}
}
