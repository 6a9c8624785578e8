package notifications_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// runScheduler runs e's scheduler until the test ends.
func runScheduler(t *testing.T, e *env) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	})
}

func (e *env) status(t *testing.T, id string) notifications.Status {
	t.Helper()
	return e.reminder(t, id).Status
}

// realEnv is a service on the real clock with an event a day away.
func realEnv(t *testing.T, cfg notifications.Config, store *notifications.SQLStore) *env {
	e := newEnv(t, envOptions{cfg: cfg, realNow: true, store: store})
	e.events.put(testEvent("ev", time.Now().Add(24*time.Hour).Truncate(time.Second)))
	return e
}

func sendAtIn(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339Nano) }

func TestSchedulerClaimsADueReminderOnceAndOnTime(t *testing.T) {
	// The scheduled gauge is counted when Run starts, which may be after the reminder is
	// made, and then every MetricsRefresh: a short one brings it to 0 after the claim.
	e := realEnv(t, notifications.Config{MetricsRefresh: 50 * time.Millisecond}, nil)
	runScheduler(t, e)
	id := e.create(t, alice, map[string]any{"event_id": "ev", "send_at": sendAtIn(time.Second), "note": "bring cake"})
	r := e.reminder(t, id)

	waitFor(t, 10*time.Second, "the reminder to be claimed", func() bool { return e.status(t, id) == notifications.StatusSending })
	// Give the scheduler a few more passes: they must not claim it again.
	time.Sleep(1500 * time.Millisecond)

	got := emails(t, e.store)
	ev := r.Event
	want := []messages.EmailSend{{
		IdempotencyKey: id, Kind: messages.EmailReminder, To: alice.email, Name: displayName(alice), ReminderID: id,
		Event: &ev, Note: "bring cake", UnsubscribeToken: e.recipient(t, alice, alice.email).Token,
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outbox mismatch (-want +got):\n%s", diff)
	}
	if e.outbox.count() == 0 {
		t.Error("the outbox relay was not woken after the claim")
	}
	e.outbox.mu.Lock()
	lag := e.outbox.first.Sub(r.SendAt)
	e.outbox.mu.Unlock()
	// Not early; how late is a figure for the benchmarks and the lag metric, not an assertion
	// that a loaded CI machine could break.
	if lag < 0 {
		t.Errorf("handed over %v before send_at", -lag)
	}
	t.Logf("handed over %v after send_at", lag)
	metrics := func() string { return e.do(t, nobody, "GET", "/metrics", nil).Body.String() }
	waitFor(t, 10*time.Second, "the scheduled gauge to count no reminder", func() bool {
		return strings.Contains(metrics(), "notifications_reminders_scheduled 0")
	})
	body := metrics()
	for _, m := range []string{"notifications_reminders_claimed_total 1", "notifications_scheduler_lag_seconds_count 1",
		`notifications_emails_queued_total{kind="reminder"} 1`} {
		if !strings.Contains(body, m) {
			t.Errorf("metrics lack %q", m)
		}
	}
}

// TestScheduledGaugeIsRefreshedNotCountedPerScrape: Run counts the scheduled reminders at
// start and every Config.MetricsRefresh; /metrics only reads the last count, so it still
// answers with it once the database is closed, and counts the refreshes that failed.
func TestScheduledGaugeIsRefreshedNotCountedPerScrape(t *testing.T) {
	e := realEnv(t, notifications.Config{MetricsRefresh: 20 * time.Millisecond}, nil)
	scrape := func() string {
		w := e.do(t, nobody, "GET", "/metrics", nil)
		if w.Code != 200 {
			t.Fatalf("GET /metrics: %d %s", w.Code, w.Body)
		}
		return w.Body.String()
	}
	for range 2 {
		e.create(t, alice, map[string]any{"event_id": "ev", "send_at": sendAtIn(time.Hour)})
	}
	if body := scrape(); !strings.Contains(body, "notifications_reminders_scheduled 0\n") {
		t.Errorf("the gauge moved before Run refreshed it:\n%s", body)
	}
	runScheduler(t, e)
	waitFor(t, 10*time.Second, "the count at start", func() bool {
		return strings.Contains(scrape(), "notifications_reminders_scheduled 2\n")
	})
	e.create(t, alice, map[string]any{"event_id": "ev", "send_at": sendAtIn(time.Hour)})
	waitFor(t, 10*time.Second, "the count on the timer", func() bool {
		return strings.Contains(scrape(), "notifications_reminders_scheduled 3\n")
	})
	if err := e.store.DB().Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a failed refresh", func() bool {
		return !strings.Contains(scrape(), "notifications_reminders_scheduled_refresh_failures_total 0\n")
	})
	if body := scrape(); !strings.Contains(body, "notifications_reminders_scheduled 3\n") {
		t.Errorf("the gauge lost its last count when the database closed:\n%s", body)
	}
}

func TestSchedulerClaimsOverdueRemindersAtStart(t *testing.T) {
	// The reminders fell due while no scheduler ran (they are stored directly, in the past);
	// polling is made too slow to help, so the start-up pass must claim them.
	e := realEnv(t, notifications.Config{PollInterval: time.Hour}, nil)
	ev := testEvent("ev", time.Now().Add(time.Hour))
	store := func(id string, sendAt time.Time) string {
		r := notifications.Reminder{
			ID: id, AccountID: alice.id, EventID: "ev", Email: alice.email, SendAt: sendAt,
			Status: notifications.StatusScheduled, CreatedAt: time.Now().Add(-2 * time.Hour), Event: ev,
		}
		if err := e.store.CreateReminder(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	ids := []string{
		store("overdue-a", time.Now().Add(-time.Hour)),
		store("overdue-b", time.Now().Add(-time.Minute)),
		store("overdue-c", time.Now().Add(-time.Millisecond)),
	}
	later := store("later", time.Now().Add(30*time.Minute))
	runScheduler(t, e)
	waitFor(t, 5*time.Second, "the overdue reminders to be claimed", func() bool {
		return len(emails(t, e.store)) == len(ids)
	})
	var keys []string
	for _, m := range emails(t, e.store) {
		keys = append(keys, m.IdempotencyKey)
	}
	if diff := cmp.Diff(ids, keys); diff != "" {
		t.Errorf("claimed (oldest first) mismatch (-want +got):\n%s", diff)
	}
	for _, id := range ids {
		if got := e.status(t, id); got != notifications.StatusSending {
			t.Errorf("overdue reminder %s: status %s, want sending", id, got)
		}
	}
	if got := e.status(t, later); got != notifications.StatusScheduled {
		t.Errorf("reminder due later: status %s, want scheduled", got)
	}
}

func TestSchedulerWakesForAnEarlierReminder(t *testing.T) {
	// With polling out of the way, the scheduler sleeps until the reminder due in an hour;
	// one created meanwhile for a second later must wake it.
	e := realEnv(t, notifications.Config{PollInterval: time.Hour}, nil)
	e.create(t, alice, map[string]any{"event_id": "ev", "send_at": sendAtIn(time.Hour)})
	runScheduler(t, e)
	time.Sleep(300 * time.Millisecond) // let it go to sleep
	soon := e.create(t, bob, map[string]any{"event_id": "ev", "send_at": sendAtIn(time.Second)})
	waitFor(t, 5*time.Second, "the earlier reminder to be claimed", func() bool {
		return e.status(t, soon) == notifications.StatusSending
	})
	if got := emails(t, e.store); len(got) != 1 || got[0].ReminderID != soon {
		t.Errorf("outbox = %+v, want only the earlier reminder's email", got)
	}
}

func TestSchedulerFollowsAMovedReminder(t *testing.T) {
	// A relative reminder whose event moves earlier wakes the scheduler for its new time.
	e := realEnv(t, notifications.Config{PollInterval: time.Hour}, nil)
	start := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	ev := testEvent("moving", start)
	e.events.put(ev)
	id := e.create(t, alice, map[string]any{"event_id": "moving", "minutes_before": 60})
	runScheduler(t, e)
	time.Sleep(300 * time.Millisecond)

	moved := ev
	moved.StartsAt = time.Now().Add(time.Hour + time.Second)
	moved.UpdatedAt = ev.UpdatedAt.Add(time.Minute)
	deliver(t, e, messages.TypeEventChanged, messages.EventChanged{Event: moved, PreviousStartsAt: &ev.StartsAt})
	waitFor(t, 5*time.Second, "the moved reminder to be claimed", func() bool {
		return e.status(t, id) == notifications.StatusSending
	})
}

func TestConcurrentSchedulersNeverClaimTwice(t *testing.T) {
	// Two replicas: two stores on one database file, each with its scheduler.
	path := filepath.Join(t.TempDir(), "shared.db")
	open := func() *notifications.SQLStore {
		s, err := notifications.Open(context.Background(), database.SQLite, path, logging.Discard())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	cfg := notifications.Config{PollInterval: 50 * time.Millisecond, ClaimBatch: 2}
	a, b := realEnv(t, cfg, open()), realEnv(t, cfg, open())
	const n = 30
	ids := map[string]bool{}
	for i := range n {
		e := a
		if i%2 == 1 {
			e = b
		}
		ids[e.create(t, alice, map[string]any{"event_id": "ev",
			"send_at": sendAtIn(500*time.Millisecond + time.Duration(i%5)*100*time.Millisecond)})] = true
	}
	runScheduler(t, a)
	runScheduler(t, b)
	waitFor(t, 10*time.Second, "every reminder to be claimed", func() bool {
		n, err := a.store.CountScheduled(context.Background())
		return err == nil && n == 0
	})
	time.Sleep(200 * time.Millisecond) // more passes by both
	claims := map[string]int{}
	for _, m := range emails(t, a.store) {
		claims[m.IdempotencyKey]++
	}
	for id := range ids {
		if claims[id] != 1 {
			t.Errorf("reminder %s has %d emails, want 1", id, claims[id])
		}
	}
	if len(claims) != n {
		t.Errorf("%d reminders emailed, want %d", len(claims), n)
	}
}
