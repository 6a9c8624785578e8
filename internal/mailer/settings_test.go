package mailer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/mailer"
)

func TestSetFrom(t *testing.T) {
	f := newFixture(t, nil)
	for _, bad := range []string{"", "not an address", "a@b, c@d", "<>"} {
		if err := f.svc.SetFrom(bad); err == nil {
			t.Errorf("SetFrom(%q) succeeded", bad)
		}
	}
	if got := f.svc.From(); got != `"EventPost" <no-reply@eventpost.local>` {
		t.Errorf("From after invalid values = %s, want the default", got)
	}
	if err := f.svc.SetFrom("Reminders <reminders@example.org>"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 1)); err != nil {
		t.Fatal(err)
	}
	msgs, err := f.smtp.WaitForMessages(1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p, err := msgs[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Get("From"); got != `"Reminders" <reminders@example.org>` {
		t.Errorf("From header %q, want the new sender", got)
	}
	if msgs[0].From != "reminders@example.org" {
		t.Errorf("envelope sender %q, want the new sender", msgs[0].From)
	}
}

func TestSetMaxAttempts(t *testing.T) {
	f := newFixture(t, nil) // MaxAttempts 3
	for _, bad := range []int{0, -1, 101} {
		if err := f.svc.SetMaxAttempts(bad); err == nil {
			t.Errorf("SetMaxAttempts(%d) succeeded", bad)
		}
	}
	if got := f.svc.MaxAttempts(); got != maxAttempts {
		t.Errorf("MaxAttempts after invalid values = %d, want %d", got, maxAttempts)
	}
	// With 5 attempts, a transient failure at the third is left to a later delivery.
	if err := f.svc.SetMaxAttempts(5); err != nil {
		t.Fatal(err)
	}
	f.smtp.RejectNext(1, 451)
	if err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 3)); err == nil {
		t.Fatal("HandleSend at attempt 3 of 5 succeeded, want a transient error")
	}
	if _, err := f.record(t, "rem1"); !errors.Is(err, mailer.ErrNotFound) {
		t.Errorf("record after attempt 3 of 5: %v, want none", err)
	}
	// With 1 attempt, the first transient failure is final.
	if err := f.svc.SetMaxAttempts(1); err != nil {
		t.Fatal(err)
	}
	f.smtp.RejectNext(1, 451)
	if err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem2"), 1)); err != nil {
		t.Fatalf("HandleSend at attempt 1 of 1: %v, want the failure recorded", err)
	}
	if rec, err := f.record(t, "rem2"); err != nil || rec.State != mailer.StateFailed {
		t.Errorf("record after attempt 1 of 1: %+v, %v; want failed", rec, err)
	}
}
