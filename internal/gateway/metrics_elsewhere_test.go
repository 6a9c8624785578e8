package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMetricsElsewhere: with Config.MetricsElsewhere (EVENTPOST_METRICS_ADDR set), the
// gateway answers /metrics, and every path under /metrics/, with a 404 problem by every
// method — never the web UI, never a 405 — with the headers of every other answer; the
// probes still answer. Without it, /metrics serves the Prometheus text as before.
func TestMetricsElsewhere(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "ui:"+r.URL.Path)
	})
	const hsts = "max-age=31536000"
	for _, elsewhere := range []bool{false, true} {
		h := newHarness(t, setup{ui: ui, cfg: func(c *Config) { c.MetricsElsewhere, c.HSTS = elsewhere, hsts }})
		name := map[bool]string{false: "on the main listener", true: "elsewhere"}[elsewhere]
		t.Run(name, func(t *testing.T) {
			rec := h.get("/metrics", "")
			if !elsewhere {
				if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") ||
					!strings.Contains(rec.Body.String(), "gateway_rate_limited_total") {
					t.Fatalf("GET /metrics: %d %q, want the Prometheus text", rec.Code, rec.Header().Get("Content-Type"))
				}
				return
			}
			for _, tc := range []struct{ method, path string }{
				{http.MethodGet, "/metrics"},
				{http.MethodHead, "/metrics"},
				{http.MethodPost, "/metrics"},
				{"BREW", "/metrics"},
				{http.MethodGet, "/metrics/"},
				{http.MethodGet, "/metrics/auth"},
				{http.MethodGet, "/metrics?format=text"},
			} {
				rec := h.do(httptest.NewRequest(tc.method, tc.path, nil))
				if rec.Code != http.StatusNotFound {
					t.Errorf("%s %s: status %d, want 404; body %.80q", tc.method, tc.path, rec.Code, rec.Body)
					continue
				}
				if tc.method != http.MethodHead {
					assertProblem(t, rec, http.StatusNotFound)
				}
				if strings.Contains(rec.Body.String(), "ui:") || strings.Contains(rec.Body.String(), "gateway_") {
					t.Errorf("%s %s: body %.80q", tc.method, tc.path, rec.Body)
				}
				for k, want := range map[string]string{
					"Strict-Transport-Security": hsts, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
				} {
					if got := rec.Header().Get(k); got != want {
						t.Errorf("%s %s: %s %q, want %q", tc.method, tc.path, k, got, want)
					}
				}
				if rec.Header().Get("X-Request-Id") == "" {
					t.Errorf("%s %s: no X-Request-Id", tc.method, tc.path)
				}
			}
			for _, path := range []string{"/healthz", "/readyz", "/api/v1/openapi.json"} {
				if rec := h.get(path, ""); rec.Code != http.StatusOK {
					t.Errorf("GET %s: status %d, want 200", path, rec.Code)
				}
			}
			if rec := h.get("/metricsx", ""); rec.Body.String() != "ui:/metricsx" {
				t.Errorf("GET /metricsx: %d %q, want the web UI's answer", rec.Code, rec.Body)
			}
		})
	}
}
