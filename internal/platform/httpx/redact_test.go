package httpx_test

import (
	"testing"

	"github.com/eventpost/eventpost/internal/platform/httpx"
)

func TestLoggedPathHidesLinkTokens(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/consents/abc_DEF-123":    "/api/v1/consents/REDACTED",
		"/api/v1/unsubscribe/abc_DEF-123": "/api/v1/unsubscribe/REDACTED",
		"/consent/abc":                    "/consent/REDACTED",
		"/unsubscribe/abc":                "/unsubscribe/REDACTED",
		"/unsubscribe/":                   "/unsubscribe/",
		"/api/v1/calendars/abc_DEF-123":   "/api/v1/calendars/REDACTED",
		"/api/v1/accounts/me/calendar":    "/api/v1/accounts/me/calendar",
		"/api/v1/events/123":              "/api/v1/events/123",
		"/api/v1/notifications":           "/api/v1/notifications",
		"/consents":                       "/consents",
	} {
		if got := httpx.LoggedPath(path); got != want {
			t.Errorf("LoggedPath(%q) = %q, want %q", path, got, want)
		}
	}
}
