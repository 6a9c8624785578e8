package notifications_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// TestReminderEmailContinuesTheCreatingRequestsTrace: the reminder keeps the traceparent of
// the request that created it, and the email.send message the scheduler queues for it,
// seconds later, continues that trace; a reminder created outside any trace gets an email in
// a trace of its own.
func TestReminderEmailContinuesTheCreatingRequestsTrace(t *testing.T) {
	e := realEnv(t, notifications.Config{}, nil)
	traceID := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	spanID := trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	traced := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled, Remote: true,
	}))
	sendAt := sendAtIn(time.Second)
	withTrace, err := e.svc.Create(traced, alice.id, alice.email, notifications.CreateInput{EventID: "ev", SendAt: &sendAt})
	if err != nil {
		t.Fatal(err)
	}
	without, err := e.svc.Create(context.Background(), bob.id, bob.email, notifications.CreateInput{EventID: "ev", SendAt: &sendAt})
	if err != nil {
		t.Fatal(err)
	}
	want := "00-" + traceID.String() + "-" + spanID.String() + "-01"
	if got := e.reminder(t, withTrace.ID).TraceParent; got != want {
		t.Errorf("stored TraceParent %q, want %q", got, want)
	}
	if got := e.reminder(t, without.ID).TraceParent; got != "" {
		t.Errorf("reminder created outside a trace has TraceParent %q", got)
	}

	runScheduler(t, e)
	waitFor(t, 10*time.Second, "both reminders to be claimed", func() bool {
		return e.status(t, withTrace.ID) == notifications.StatusSending && e.status(t, without.ID) == notifications.StatusSending
	})
	msgs, err := outbox.Pending(context.Background(), e.store.DB())
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d messages in the outbox, want 2", len(msgs))
	}
	seen := 0
	for _, m := range msgs {
		var p messages.EmailSend
		if err := m.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.ReminderID == withTrace.ID || p.ReminderID == without.ID {
			seen++
		}
		inTrace := strings.HasPrefix(m.TraceParent, "00-"+traceID.String()+"-")
		if p.ReminderID == withTrace.ID && !inTrace {
			t.Errorf("email of the traced reminder has traceparent %q, want one in trace %s", m.TraceParent, traceID)
		}
		if p.ReminderID == without.ID && inTrace {
			t.Errorf("email of the untraced reminder joined another request's trace: %q", m.TraceParent)
		}
	}
	if seen != 2 {
		t.Errorf("the outbox holds the emails of %d of the 2 reminders", seen)
	}
}
