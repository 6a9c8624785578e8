package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/discovery"
)

// BenchmarkVerifyAccessToken verifies a real Ed25519-signed access token with the gateway's
// verifier: "checked" checks it every time (signature, claims, cached key lookup), as with
// TokenCacheSize 0; "remembered" takes it from the verified-token cache, as every request
// after a token's first does.
func BenchmarkVerifyAccessToken(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"checked", 0}, {"remembered", DefaultConfig().TokenCacheSize}} {
		b.Run(bc.name, func(b *testing.B) {
			h := newHarness(b, setup{})
			v := newVerifier(h.gw.keys, 0, time.Now, bc.size)
			tok := h.token("0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d11", "0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d12")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// eventJSON is a typical event as the events service answers it.
const eventJSON = `{"id":"0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d11","organizer_id":"0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d12",` +
	`"title":"Jazz night","description":"Live jazz by the river.","starts_at":"2027-03-01T18:30:00Z",` +
	`"ends_at":"2027-03-01T22:00:00Z","timezone":"Europe/Paris","location":{"name":"Le Quai","address":"1 quai de Seine, Paris",` +
	`"lat":48.8566,"lon":2.3522},"online_url":null,"category":"music","tags":["jazz","live"],"capacity":80,` +
	`"created_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:00Z"}`

// BenchmarkProxyGetEvent serves GET /api/v1/events/{id} through the gateway's handler to an
// upstream over loopback HTTP.
func BenchmarkProxyGetEvent(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, eventJSON)
	}))
	b.Cleanup(upstream.Close)
	h := newHarness(b, setup{resolver: func(s discovery.Static) { s[discovery.Events] = []string{upstream.URL} }})
	handler := h.gw.Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/events/0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d11", nil))
		if rec.Code != http.StatusOK || rec.Body.Len() != len(eventJSON) {
			b.Fatalf("status %d, %d bytes", rec.Code, rec.Body.Len())
		}
	}
}
