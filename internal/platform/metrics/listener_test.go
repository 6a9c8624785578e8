package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/metrics"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

// counterIn returns a registry holding one counter named name.
func counterIn(t *testing.T, name string) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "A test counter."})
	c.Inc()
	reg.MustRegister(c)
	return reg
}

// TestListenerHandler: the process's registry at /metrics, each service's at
// /metrics/<service> and no other's there; 404 problems for every other path (the probes
// included: they stay on the main listener), 405 for other methods.
func TestListenerHandler(t *testing.T) {
	h := metrics.ListenerHandler(counterIn(t, "process_things_total"), map[string]*prometheus.Registry{
		"auth":   counterIn(t, "auth_things_total"),
		"events": counterIn(t, "events_things_total"),
	})
	serve := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}
	for path, want := range map[string]string{
		"/metrics": "process_things_total 1", "/metrics/auth": "auth_things_total 1", "/metrics/events": "events_things_total 1",
	} {
		rec := serve(http.MethodGet, path)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("GET %s: %d %q, want 200 text/plain", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		body := rec.Body.String()
		if !strings.Contains(body, want) {
			t.Errorf("GET %s: no %q in %q", path, want, body)
		}
		if n := strings.Count(body, "_things_total 1"); n != 1 {
			t.Errorf("GET %s: %d registries' series, want 1: %q", path, n, body)
		}
		if rec := serve(http.MethodHead, path); rec.Code != http.StatusOK {
			t.Errorf("HEAD %s: %d, want 200", path, rec.Code)
		}
	}
	for _, path := range []string{"/", "/healthz", "/readyz", "/metrics/", "/metrics/mailer", "/metrics/auth/x", "/metricsauth"} {
		rec := serve(http.MethodGet, path)
		if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != problem.ContentType {
			t.Errorf("GET %s: %d %q, want a 404 problem", path, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	rec := serve(http.MethodPost, "/metrics")
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" || rec.Header().Get("Content-Type") != problem.ContentType {
		t.Errorf("POST /metrics: %d, Allow %q, %q; want a 405 problem allowing GET, HEAD", rec.Code, rec.Header().Get("Allow"), rec.Header().Get("Content-Type"))
	}
}

// TestObserveOnNil: a nil *HTTP records nothing and does not panic (WithoutMetrics's 404s).
func TestObserveOnNil(t *testing.T) {
	var m *metrics.HTTP
	m.Observe("GET /metrics", http.MethodGet, http.StatusNotFound, time.Millisecond)
}

// TestWithProfiles: the runtime's profiles under /debug/pprof/, every other path left to
// the metrics handler.
func TestWithProfiles(t *testing.T) {
	h := metrics.WithProfiles(metrics.ListenerHandler(counterIn(t, "process_things_total"), nil))
	serve := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	for path, want := range map[string]string{
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/goroutine?debug=1": "goroutine profile: total",
		"/debug/pprof/heap?debug=1":      "heap profile:",
		"/metrics":                       "process_things_total 1",
	} {
		if rec := serve(path); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s: %d, no %q in %.200q", path, rec.Code, want, rec.Body.String())
		}
	}
	if rec := serve("/debug/pprof/profile?seconds=1"); rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), "\x1f\x8b") {
		t.Errorf("GET a CPU profile: %d, %d bytes, want a gzipped profile", rec.Code, rec.Body.Len())
	}
	if rec := serve("/healthz"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /healthz: %d, want the metrics handler's 404", rec.Code)
	}
}
