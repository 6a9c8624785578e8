package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/discovery"
)

// TestSecurityHeadersOnEveryRoute walks every route of the table, anonymously and with a
// token where the route takes one, and checks the headers of the answer: nosniff always;
// Cache-Control no-store on every answer that may carry a token or personal data (all but
// anonymous reads), also when the service set another Cache-Control; HSTS when configured.
func TestSecurityHeadersOnEveryRoute(t *testing.T) {
	const hsts = "max-age=31536000; includeSubDomains"
	for _, withHSTS := range []bool{false, true} {
		h := newHarness(t, setup{cfg: func(c *Config) {
			if withHSTS {
				c.HSTS = hsts
			}
		}})
		for _, rt := range Routes() {
			for _, authenticated := range []bool{false, true} {
				if authenticated && rt.Auth == AuthNone || !authenticated && rt.Auth == AuthRequired {
					continue
				}
				name := rt.Pattern()
				if authenticated {
					name += " with a token"
				}
				t.Run(name, func(t *testing.T) {
					req := httptest.NewRequest(rt.Method, concrete(rt.Path), strings.NewReader(`{"x":1}`))
					req.Header.Set("Content-Type", "application/json")
					if authenticated {
						req.Header.Set("Authorization", "Bearer "+h.token("acc-h-"+rt.Pattern(), "sess-h-"+rt.Pattern()))
					}
					rec := h.do(req)
					if rec.Code >= 400 && !(rt.Service == discovery.Gateway && rec.Code == http.StatusServiceUnavailable) {
						t.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
					hdr := rec.Header()
					if got := hdr.Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
						t.Errorf("X-Content-Type-Options %q, want one nosniff", got)
					}
					wantNoStore := authenticated || rt.Method != http.MethodGet
					if got := hdr.Get("Cache-Control"); wantNoStore && got != "no-store" {
						t.Errorf("Cache-Control %q, want no-store", got)
					}
					if got := hdr.Get("Strict-Transport-Security"); withHSTS && got != hsts || !withHSTS && got != "" {
						t.Errorf("Strict-Transport-Security %q (configured: %v)", got, withHSTS)
					}
				})
			}
		}
	}
}

// TestServiceCacheControlIsOverriddenForPrivateAnswers: a service's own Cache-Control does
// not make an authenticated answer cacheable.
func TestServiceCacheControlIsOverriddenForPrivateAnswers(t *testing.T) {
	h := newHarness(t, setup{})
	h.events.setHeader("Cache-Control", "public, max-age=600")
	h.notifications.setHeader("Cache-Control", "public, max-age=600")
	anon := h.get("/api/v1/events/x", "")
	if got := anon.Header().Get("Cache-Control"); got != "public, max-age=600" {
		t.Errorf("anonymous read: Cache-Control %q, want the service's", got)
	}
	rec := h.get("/api/v1/notifications/x", h.token("acc-1", "sess-1"))
	if got := rec.Header().Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
		t.Errorf("authenticated read: Cache-Control %q, want only no-store", got)
	}
}
