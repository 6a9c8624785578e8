package httpx_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/inputtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

// TestPathsWithDotOrEmptySegmentsAnswerProblems: a path with "." or ".." segments (also
// percent-encoded) or with empty segments is answered 404 problem+json, by every method,
// where a ServeMux redirects it with an HTML body; a path that Options.UI reports, as sent
// and cleaned, is still left to the mux, and clean paths are served as before.
func TestPathsWithDotOrEmptySegmentsAnswerProblems(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<p>the UI</p>")
	})
	ui := func(path string) bool { return !strings.HasPrefix(path, "/api/") && path != "/healthz" }
	srv := httptest.NewServer(httpx.Wrap(mux, httpx.Options{Log: logging.Discard(), Registry: prometheus.NewRegistry(), UI: ui}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()

	for _, tt := range []struct{ method, target string }{
		{"GET", "/api/v1/things/../../etc/passwd"},
		{"GET", "/api/v1/things/%2e%2e/%2E%2E/etc/passwd"},
		{"GET", "/api/v1/things/1/."},
		{"GET", "/api//v1/things/1"},
		{"GET", "/api/v1/./things/1"},
		{"HEAD", "/api/v1/things/../things/1"},
		{"POST", "/api/v1/things/1/.."},
		{"DELETE", "/api/v1//things/1"},
		{"GET", "/x/../api/v1/things/1"}, // a UI path as sent, the API's once cleaned
		{"GET", "/api/../x"},             // the API's as sent, a UI path once cleaned
		{"GET", "//healthz"},
	} {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			resp, body := inputtest.RawRequest(t, addr, tt.method, tt.target)
			if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != problem.ContentType {
				t.Fatalf("%d %s, want 404 %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), problem.ContentType, body)
			}
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("Location %q, want none", loc)
			}
			if resp.Header.Get(httpx.HeaderRequestID) == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v lack the request ID or nosniff of every answer", resp.Header)
			}
			if tt.method == http.MethodHead {
				return
			}
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(body, &p); err != nil || p.Status != http.StatusNotFound || !strings.Contains(p.Detail, `".."`) {
				t.Errorf("body %s (%v), want a 404 problem saying why", body, err)
			}
		})
	}

	t.Run("clean paths are served", func(t *testing.T) {
		// Dots in the query are no part of the path.
		resp, body := inputtest.RawRequest(t, addr, "GET", "/api/v1/things/1?q=/../x")
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"id":"1"`) {
			t.Errorf("%d %s, want 200 with the thing", resp.StatusCode, body)
		}
	})

	t.Run("UI paths are left to the mux", func(t *testing.T) {
		for _, target := range []string{"//login", "/events/./x"} {
			resp, body := inputtest.RawRequest(t, addr, "GET", target)
			if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") == "" {
				t.Errorf("%s: %d Location %q, want the mux's redirect\n%s", target, resp.StatusCode, resp.Header.Get("Location"), body)
			}
		}
	})
}
