package notifications_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
)

func TestSchedulerFailsAReminderToAnUnconfirmedOwnAddress(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, e *env)
		opts  envOptions
	}{
		{name: "not confirmed", setup: func(t *testing.T, e *env) { e.putAccount(t, alice, false, 2) }},
		{name: "an account the mirror does not know", opts: envOptions{noAccounts: true}, setup: func(*testing.T, *env) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.realNow = true
			e := newEnv(t, o)
			e.events.put(testEvent("ev", time.Now().Add(24*time.Hour).Truncate(time.Second)))
			tc.setup(t, e)
			runScheduler(t, e)
			id := e.create(t, alice, map[string]any{"event_id": "ev", "send_at": sendAtIn(200 * time.Millisecond)})
			waitFor(t, 10*time.Second, "the reminder to fail", func() bool { return e.status(t, id) == notifications.StatusFailed })
			want := "the address alice@example.com is not confirmed; confirm it from the welcome email or ask for a new link"
			if got := e.reminder(t, id).LastError; got != want {
				t.Errorf("last_error = %q, want %q", got, want)
			}
			if n := len(emails(t, e.store)); n != 0 {
				t.Errorf("%d emails queued, want none", n)
			}
		})
	}
}

func TestSchedulerCancelsAReminderNeverAccepted(t *testing.T) {
	e := realEnv(t, notifications.Config{}, nil)
	runScheduler(t, e)
	id := e.create(t, alice, map[string]any{"event_id": "ev", "send_at": sendAtIn(200 * time.Millisecond), "email": friend})
	if st := e.status(t, id); st != notifications.StatusAwaitingConsent {
		t.Fatalf("status %s, want awaiting_consent", st)
	}
	waitFor(t, 10*time.Second, "the reminder to be cancelled", func() bool { return e.status(t, id) == notifications.StatusCancelled })
	for _, m := range emails(t, e.store) {
		if m.Kind != messages.EmailConsentRequest {
			t.Errorf("email %s queued, want only the consent request", m.Kind)
		}
	}
}

func TestSchedulerMailsAnAcceptedAddressNamingTheRequester(t *testing.T) {
	e := realEnv(t, notifications.Config{}, nil)
	runScheduler(t, e)
	// The address accepted earlier.
	e.create(t, alice, map[string]any{"event_id": "ev", "send_at": sendAtIn(time.Hour), "email": friend})
	rec := e.recipient(t, alice, friend)
	if _, err := e.svc.Decide(context.Background(), rec.Token, notifications.DecisionAccept); err != nil {
		t.Fatal(err)
	}
	id := e.create(t, alice, map[string]any{"event_id": "ev", "send_at": sendAtIn(200 * time.Millisecond), "email": friend, "note": "n"})
	waitFor(t, 10*time.Second, "the reminder to be claimed", func() bool { return e.status(t, id) == notifications.StatusSending })
	var got []messages.EmailSend
	for _, m := range emails(t, e.store) {
		if m.Kind == messages.EmailReminder {
			got = append(got, m)
		}
	}
	ev := e.reminder(t, id).Event
	want := []messages.EmailSend{{
		IdempotencyKey: id, Kind: messages.EmailReminder, To: friend, ReminderID: id, Event: &ev, Note: "n",
		UnsubscribeToken: rec.Token, Requester: displayName(alice),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reminder emails (-want +got):\n%s", diff)
	}
}
