package app

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// TestReadConfigInProcessTransport: the in-process transport is on unless
// EVENTPOST_INPROCESS_TRANSPORT says false.
func TestReadConfigInProcessTransport(t *testing.T) {
	for v, want := range map[string]bool{"": true, "true": true, "false": false} {
		cfg, err := ReadConfig(func(k string) string {
			if k == "EVENTPOST_INPROCESS_TRANSPORT" {
				return v
			}
			return ""
		}, "")
		if err != nil || cfg.InProcessTransport != want {
			t.Errorf("EVENTPOST_INPROCESS_TRANSPORT=%q: %v, %v; want %v", v, cfg.InProcessTransport, err, want)
		}
	}
}

// TestAllInOneGatewayCallsInProcess: with the in-process transport, the gateway's calls reach
// the handler the transport holds for the service's address (here a stand-in for the events
// service), not the service's listener, which still answers its own callers; without it
// there is no such transport.
func TestAllInOneGatewayCallsInProcess(t *testing.T) {
	for _, inProcess := range []bool{true, false} {
		cfg := Config{
			HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), PublicURL: "http://eventpost.test",
			MailFrom: "EventPost <no-reply@eventpost.test>", RateLimit: 1000, RateBurst: 1000,
			ShutdownTimeout: 5 * time.Second, InProcessTransport: inProcess,
		}
		sys, err := Start(context.Background(), cfg, logging.Discard())
		if err != nil {
			t.Fatal(err)
		}
		if !inProcess {
			if sys.inProcess != nil {
				t.Error("sockets configured, but the system has an in-process transport")
			}
			if err := sys.Stop(); err != nil {
				t.Error(err)
			}
			continue
		}
		events := strings.TrimPrefix(sys.ServiceURLs[discovery.Events], "http://")
		sys.inProcess.Handle(events, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Stand-In", r.URL.Path)
			_, _ = io.WriteString(w, `{"stand_in":true}`)
		}))
		resp, err := http.Get(sys.URL + "/api/v1/events/0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d11")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Stand-In") != "/api/v1/events/0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d11" || !strings.Contains(string(body), "stand_in") {
			t.Errorf("through the gateway: %d %v %s; want the stand-in's answer", resp.StatusCode, resp.Header, body)
		}
		resp, err = http.Get(sys.ServiceURLs[discovery.Events] + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("the events listener's /healthz answered %d", resp.StatusCode)
		}
		if err := sys.Stop(); err != nil {
			t.Error(err)
		}
	}
}
