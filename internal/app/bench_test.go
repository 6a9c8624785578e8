package app_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/app"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// BenchmarkGetEventThroughGateway measures GET /api/v1/events/{id} end to end: client →
// gateway → events service → SQLite and back, over loopback, in the all-in-one system.
func BenchmarkGetEventThroughGateway(b *testing.B) {
	cfg := app.Config{
		HTTPAddr: "127.0.0.1:0", DataDir: b.TempDir(), PublicURL: "http://eventpost.test",
		MailFrom: "EventPost <no-reply@eventpost.test>", RateLimit: 1e9, RateBurst: 1e9, ShutdownTimeout: 5 * time.Second,
	}
	sys, err := app.Start(context.Background(), cfg, logging.Discard())
	if err != nil {
		b.Fatal(err)
	}
	defer sys.Stop()
	c := newClient(b, sys.URL)
	c.waitReady()
	token, _ := c.signUpAndLogIn("bench@example.com", "Bench")
	ev := c.must(201, "POST", "/api/v1/events", token, map[string]any{"title": "Benchmark", "starts_at": rfc3339(time.Now().Add(time.Hour))})
	url := sys.URL + "/api/v1/events/" + ev["id"].(string)

	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := hc.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
