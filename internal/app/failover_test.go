package app_test

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// TestEventsReplicaKilledLosesNoGET runs two events replicas behind the gateway, found through
// Consul, under a steady stream of GET /api/v1/events/{id}, kills one with SIGKILL, and prints
// how many requests failed. A GET that fails before any answer is retried on the other
// replica, so the target is none beyond those in flight at the kill.
func TestEventsReplicaKilledLosesNoGET(t *testing.T) {
	smtp := smtptest.Start(t)
	cluster, c, _ := startCluster(t, smtp, map[string]int{discovery.Events: 2, discovery.Notifications: 1, discovery.Mailer: 1})
	token, _ := c.signUpAndLogIn("failover@example.com", "Failover")
	ev := c.must(201, "POST", "/api/v1/events", token, map[string]any{"title": "Failover", "starts_at": rfc3339(time.Now().Add(time.Hour))})
	url := cluster.URL + "/api/v1/events/" + ev["id"].(string)

	const workers = 4
	var ok, failed atomic.Int64
	var mu sync.Mutex
	reasons := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second}
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := hc.Get(url)
				reason := ""
				if err != nil {
					reason = err.Error()
				} else {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						reason = resp.Status
					}
				}
				if reason == "" {
					ok.Add(1)
					continue
				}
				failed.Add(1)
				mu.Lock()
				reasons[reason]++
				mu.Unlock()
			}
		})
	}

	time.Sleep(2 * time.Second)
	before := ok.Load()
	victim := replica(t, cluster, discovery.Events, 0)
	if err := cluster.Kill(victim); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	time.Sleep(4 * time.Second) // past Consul's 1 s check and the watch's update
	close(stop)
	wg.Wait()

	t.Logf("GETs: %d answered (%d before the kill, %d in the %s after), %d failed; events-1 killed with SIGKILL",
		ok.Load(), before, ok.Load()-before, time.Since(killedAt).Round(time.Second), failed.Load())
	for r, n := range reasons {
		t.Logf("  failed %d×: %s", n, r)
	}
	if failed.Load() > workers {
		t.Errorf("%d GETs failed; want none beyond the %d that may have been in flight", failed.Load(), workers)
	}
	if ok.Load() == before {
		t.Error("no GET answered after the kill")
	}
}
