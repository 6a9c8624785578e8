package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/inputtest"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

// TestDotSegmentPathsAnswerProblems sends paths with dot or empty segments to the gateway, as
// raw request lines: every one that is an API path as sent or once cleaned is answered 404
// problem+json and reaches no service, with a web UI or without; only UI paths are left to
// the UI (which may redirect them), and without a UI nothing is.
func TestDotSegmentPathsAnswerProblems(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<p>the UI at "+r.URL.Path+"</p>")
	})
	api := []string{
		"/api/v1/events/../../etc/passwd",
		"/api/v1/events/%2e%2e/%2e%2e/etc/passwd",
		"/api/v1/events/x/..",
		"/api/v1//events",
		"/api/v1/./events",
		"/api/v1/notifications/../accounts/me",
		"/.well-known/../.well-known/jwks.json",
		"/internal/../api/v1/events",
		"/web/../api/v1/openapi.json",
		"//api/v1/events",
		"/api/../healthz",
		"/healthz/.",
	}
	for _, withUI := range []bool{false, true} {
		t.Run(fmt.Sprintf("ui=%v", withUI), func(t *testing.T) {
			s := setup{}
			if withUI {
				s.ui = ui
			}
			h := newHarness(t, s)
			srv := httptest.NewServer(h.gw.Handler())
			t.Cleanup(srv.Close)
			addr := srv.Listener.Addr().String()
			for _, target := range api {
				for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete} {
					resp, raw := inputtest.RawRequest(t, addr, method, target)
					body := string(raw)
					if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != problem.ContentType ||
						resp.Header.Get("Location") != "" {
						t.Errorf("%s %s: %d %s Location %q, want 404 problem+json\n%s", method, target,
							resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Location"), body)
					}
				}
			}
			if n := h.events.hits.Load() + h.auth.hits.Load() + h.notifications.hits.Load(); n != 0 {
				t.Errorf("%d requests reached a service", n)
			}
			resp, raw := inputtest.RawRequest(t, addr, http.MethodGet, "//events/./x")
			body := string(raw)
			if withUI && (resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/events/x") {
				t.Errorf("a UI path: %d Location %q, want the redirect to its clean form\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			if !withUI && (resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != problem.ContentType) {
				t.Errorf("without a UI: %d %s, want 404 problem+json\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		})
	}
}
