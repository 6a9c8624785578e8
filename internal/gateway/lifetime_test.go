package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

func TestTokenLifetimeIsBounded(t *testing.T) {
	tests := []struct {
		name     string
		lifetime time.Duration // Config.AccessTokenLifetime; 0: the default
		iat      func(now time.Time) time.Time
		exp      func(now time.Time) time.Time
		wantOK   bool
	}{
		{
			name: "the default lifetime", wantOK: true,
			iat: func(now time.Time) time.Time { return now },
			exp: func(now time.Time) time.Time { return now.Add(authtoken.MaxTTL) },
		},
		{
			name: "a second over the default lifetime",
			iat:  func(now time.Time) time.Time { return now },
			exp:  func(now time.Time) time.Time { return now.Add(authtoken.MaxTTL + time.Second) },
		},
		{
			name: "a year-long token",
			iat:  func(now time.Time) time.Time { return now },
			exp:  func(now time.Time) time.Time { return now.Add(365 * 24 * time.Hour) },
		},
		{
			name: "issued long ago, expiring soon",
			iat:  func(now time.Time) time.Time { return now.Add(-time.Hour) },
			exp:  func(now time.Time) time.Time { return now.Add(time.Minute) },
		},
		{
			name: "no issued-at",
			exp:  func(now time.Time) time.Time { return now.Add(time.Minute) },
		},
		{
			name: "a shorter configured lifetime", lifetime: 5 * time.Minute, wantOK: true,
			iat: func(now time.Time) time.Time { return now },
			exp: func(now time.Time) time.Time { return now.Add(5 * time.Minute) },
		},
		{
			name: "over a shorter configured lifetime", lifetime: 5 * time.Minute,
			iat: func(now time.Time) time.Time { return now },
			exp: func(now time.Time) time.Time { return now.Add(authtoken.MaxTTL) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{cfg: func(c *Config) {
				if tt.lifetime != 0 {
					c.AccessTokenLifetime = tt.lifetime
				}
			}})
			c := claims("acc-1", "sess-1")
			now := time.Now()
			c.IssuedAt = nil
			if tt.iat != nil {
				c.IssuedAt = jwtDate(tt.iat(now))
			}
			c.ExpiresAt = jwtDate(tt.exp(now))
			before := value(h.gw.metrics.tokenFailures.WithLabelValues("lifetime"))
			rec := h.get("/api/v1/notifications", sign(t, c, testKID, h.priv))
			if tt.wantOK {
				if rec.Code != http.StatusOK {
					t.Fatalf("status %d, want 200; body %s", rec.Code, rec.Body)
				}
				return
			}
			if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "lifetime") {
				t.Fatalf("status %d %s, want 401 about the lifetime", rec.Code, rec.Body)
			}
			if got := value(h.gw.metrics.tokenFailures.WithLabelValues("lifetime")); got != before+1 {
				t.Errorf("failures with reason lifetime: %v, want %v", got, before+1)
			}
			if h.notifications.hits.Load() != 0 {
				t.Error("the request reached the service")
			}
		})
	}
}

func TestConfigRefusesAnAccessTokenLifetimeOutOfRange(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Minute, authtoken.MaxTTL + time.Second} {
		cfg := DefaultConfig()
		cfg.AccessTokenLifetime = d
		if _, err := New(cfg, Deps{Resolver: discovery.Static{}, Log: logging.Discard()}); err == nil || !strings.Contains(err.Error(), "lifetime") {
			t.Errorf("New with an access token lifetime of %v = %v, want an error about it", d, err)
		}
	}
}
