package notifications_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/httpx"
)

func TestSetSchedule(t *testing.T) {
	e := realEnv(t, notifications.Config{PollInterval: 2 * time.Second, ClaimBatch: 50}, nil)
	runScheduler(t, e) // the setters race with a running scheduler (go test -race)
	tests := []struct {
		name      string
		set       func() error
		wantErr   bool
		wantPoll  time.Duration
		wantBatch int
	}{
		{"poll interval", func() error { return e.svc.SetPollInterval(time.Second) }, false, time.Second, 50},
		{"poll interval at its least", func() error { return e.svc.SetPollInterval(100 * time.Millisecond) }, false, 100 * time.Millisecond, 50},
		{"poll interval too short", func() error { return e.svc.SetPollInterval(99 * time.Millisecond) }, true, 100 * time.Millisecond, 50},
		{"poll interval too long", func() error { return e.svc.SetPollInterval(time.Minute + 1) }, true, 100 * time.Millisecond, 50},
		{"claim batch", func() error { return e.svc.SetClaimBatch(1000) }, false, 100 * time.Millisecond, 1000},
		{"claim batch zero", func() error { return e.svc.SetClaimBatch(0) }, true, 100 * time.Millisecond, 1000},
		{"claim batch too large", func() error { return e.svc.SetClaimBatch(1001) }, true, 100 * time.Millisecond, 1000},
		{"claim batch of one", func() error { return e.svc.SetClaimBatch(1) }, false, 100 * time.Millisecond, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.set(); (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if poll, batch := e.svc.Schedule(); poll != tt.wantPoll || batch != tt.wantBatch {
				t.Errorf("schedule %v, %d; want %v, %d", poll, batch, tt.wantPoll, tt.wantBatch)
			}
		})
	}
}

// TestSetPollIntervalAppliesAtOnce: a scheduler polling once a minute misses a reminder that
// another replica created; a shorter poll interval set while it sleeps wakes it to find it.
func TestSetPollIntervalAppliesAtOnce(t *testing.T) {
	store := openSQLite(t)
	e := realEnv(t, notifications.Config{PollInterval: time.Minute}, store)
	runScheduler(t, e)
	other := realEnv(t, notifications.Config{PollInterval: time.Minute}, store) // no scheduler
	id := other.create(t, alice, map[string]any{"event_id": "ev", "send_at": sendAtIn(500 * time.Millisecond)})
	time.Sleep(time.Second) // due now; e's scheduler sleeps for a minute
	if err := e.svc.SetPollInterval(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the reminder to be claimed", func() bool { return e.status(t, id) == notifications.StatusSending })
}

// TestHTTPEventSourceRetriesAnotherInstance: a lookup whose events instance refuses the
// connection is answered by another instance.
func TestHTTPEventSourceRetriesAnotherInstance(t *testing.T) {
	ev := testEvent("ev-1", now.Add(48*time.Hour))
	var hits atomic.Int64
	live := httptest.NewServer(asEvents(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		httpx.WriteJSON(w, http.StatusOK, ev)
	})))
	defer live.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	src := eventSource(dead.URL, live.URL)
	for i := range 6 {
		if _, err := src.Event(context.Background(), "ev-1"); err != nil {
			t.Fatalf("lookup %d: %v", i, err)
		}
	}
	if got := hits.Load(); got != 6 {
		t.Errorf("the live instance got %d lookups, want all 6", got)
	}
}
