package app_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/app"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// TestLauncherRestartsKilledReplicas runs the distributed system under the launcher's
// supervisor while 100 reminders fall due, one every 150 ms over 15 seconds, and kills one
// notifications replica and one email-sender replica with SIGKILL in the middle of it. The
// supervisor must start both again (a new process, ready), the gateway must keep answering,
// and every reminder must arrive. Duplicates and lateness are reported, not judged: how late
// a reminder claimed by the killed email-sender may be depends on the email-sender's claim
// lease.
func TestLauncherRestartsKilledReplicas(t *testing.T) {
	smtp := smtptest.Start(t)
	cluster, c, _ := startCluster(t, smtp, nil, loadEnv...)
	ctx, cancel := context.WithCancel(context.Background())
	supervised := make(chan struct{})
	go func() { cluster.Supervise(ctx); close(supervised) }()
	t.Cleanup(func() { cancel(); <-supervised }) // before startCluster's Stop

	const reminders, spread = 100, 15 * time.Second
	first := time.Now().Add(8 * time.Second)
	load := createReminders(t, c, reminders, 4, first, spread)

	token, _ := c.signUpAndLogIn("supervised@example.com", "Supervised")
	ev := c.must(201, "POST", "/api/v1/events", token, map[string]any{"title": "Supervised", "starts_at": rfc3339(time.Now().Add(time.Hour))})
	rem := c.must(201, "POST", "/api/v1/notifications", token, map[string]any{"event_id": ev["id"], "minutes_before": 10})
	gw := pollGateway(t, cluster.URL, token, "/api/v1/events/"+ev["id"].(string), "/api/v1/notifications/"+rem["id"].(string))

	time.Sleep(time.Until(first.Add(5 * time.Second))) // a third into the stream
	answeredBefore := gw.ok.Load()
	victims := []*app.Process{replica(t, cluster, discovery.Notifications, 0), replica(t, cluster, discovery.Mailer, 0)}
	oldPIDs := make([]int, len(victims))
	for i, p := range victims {
		oldPIDs[i] = p.PID()
		if err := cluster.Kill(p); err != nil {
			t.Fatal(err)
		}
	}
	killedAt := time.Now()
	for i, p := range victims {
		eventually(t, time.Minute, fmt.Sprintf("%s-%d to be restarted and ready", p.Service, p.Index+1), func() bool {
			return p.PID() != oldPIDs[i] && p.State() == app.StateReady
		})
		t.Logf("%s-%d: pid %d killed with SIGKILL; pid %d ready %s later", p.Service, p.Index+1, oldPIDs[i], p.PID(), time.Since(killedAt).Round(100*time.Millisecond))
	}

	d, lost, dups := awaitDeliveries(t, smtp, load, 3*time.Minute)
	gw.stop()
	if lost > 0 {
		t.Errorf("%d of %d reminders lost; want none", lost, reminders)
	}
	if len(d.late) > 0 {
		t.Logf("duplicates: %d (another Message-ID), %d retransmissions (same Message-ID); max lateness %s (expected within 10 s once the email-sender's claim lease is short)",
			dups, d.retransmissions, d.late[len(d.late)-1].Round(time.Millisecond))
	}

	t.Logf("gateway: %d GETs answered (%d before the kills), %d failed", gw.ok.Load(), answeredBefore, gw.failed.Load())
	for r, n := range gw.reasons() {
		t.Logf("  failed %d×: %s", n, r)
	}
	if gw.ok.Load() == answeredBefore {
		t.Error("the gateway answered no GET after the kills")
	}
	if gw.failed.Load() > 1 {
		t.Errorf("%d GETs through the gateway failed; want none beyond the one that may have been in flight at the kill", gw.failed.Load())
	}
}

// gatewayPoller GETs paths through the gateway, one after another, until stopped, and counts
// the answers (200) and the failures.
type gatewayPoller struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	failures   map[string]int // reason → count
	stop       func()
}

// pollGateway starts a gatewayPoller of base's paths with the bearer token, stopped at the
// latest when t ends.
func pollGateway(t testing.TB, base, token string, paths ...string) *gatewayPoller {
	g := &gatewayPoller{failures: map[string]int{}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second}
	wg.Go(func() {
		defer hc.CloseIdleConnections()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if reason := get(hc, base+paths[i%len(paths)], token); reason != "" {
				g.failed.Add(1)
				g.mu.Lock()
				g.failures[reason]++
				g.mu.Unlock()
				continue
			}
			g.ok.Add(1)
		}
	})
	g.stop = sync.OnceFunc(func() { close(done); wg.Wait() })
	t.Cleanup(g.stop)
	return g
}

// reasons returns why GETs failed, and how often.
func (g *gatewayPoller) reasons() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.failures)
}

// get GETs url with the bearer token and returns why it failed, "" for a 200.
func get(hc *http.Client, url, token string) string {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.Status
	}
	return ""
}
