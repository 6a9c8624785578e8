package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
)

// testAttendances stores the copy of an attendance and reads it back, replaced by later puts.
func testAttendances(t *testing.T, s notifications.Store) {
	read := func(account, event string) (string, int64, bool) {
		t.Helper()
		var (
			status  string
			version int64
			ok      bool
		)
		update(t, s, func(ctx context.Context, tx notifications.Tx) error {
			var err error
			status, version, ok, err = tx.Attendance(ctx, account, event)
			return err
		})
		return status, version, ok
	}
	if st, v, ok := read("a", "e1"); ok || st != "" || v != 0 {
		t.Fatalf("attendance before any: %q %d %v, want none", st, v, ok)
	}
	for _, put := range []struct {
		status  string
		version int64
	}{{messages.AttendanceWaitlisted, 3}, {messages.AttendanceGoing, 4}, {messages.AttendanceNone, 7}} {
		update(t, s, func(ctx context.Context, tx notifications.Tx) error {
			return tx.PutAttendance(ctx, "a", "e1", put.status, put.version)
		})
		if st, v, ok := read("a", "e1"); !ok || st != put.status || v != put.version {
			t.Fatalf("after putting %s v%d: %q v%d %v", put.status, put.version, st, v, ok)
		}
	}
	if _, _, ok := read("a", "e2"); ok {
		t.Error("another event of the account has an attendance")
	}
	if _, _, ok := read("b", "e1"); ok {
		t.Error("another account of the event has an attendance")
	}
}

// testCancelDefaultReminders cancels the pending reminders made from the event's defaults of
// one account and event only, and keeps FromDefault as stored.
func testCancelDefaultReminders(t *testing.T, s notifications.Store) {
	ev, other := event("e1", base.Add(72*time.Hour), base), event("e2", base.Add(72*time.Hour), base)
	def := func(account string, ev messages.Event, minutes int) notifications.Reminder {
		r := reminder(t, account, ev, ev.StartsAt.Add(-time.Duration(minutes)*time.Minute), ptr(minutes))
		r.FromDefault = true
		return r
	}
	scheduled, awaiting, sent, own := def("a", ev, 60), def("a", ev, 120), def("a", ev, 1440), reminder(t, "a", ev, base, ptr(30))
	awaiting.Status = notifications.StatusAwaitingConsent
	otherEvent, otherAccount := def("a", other, 60), def("b", ev, 60)
	create(t, s, scheduled, awaiting, sent, own, otherEvent, otherAccount)
	if !get(t, s, scheduled.ID).FromDefault || get(t, s, own.ID).FromDefault {
		t.Fatal("FromDefault is not kept")
	}
	if _, err := s.Transition(context.Background(), sent.ID, notifications.StatusScheduled, notifications.StatusSent, ptr(base), ""); err != nil {
		t.Fatal(err)
	}
	var n int
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		var err error
		n, err = tx.CancelDefaultReminders(ctx, "a", "e1")
		return err
	})
	if n != 2 {
		t.Errorf("cancelled %d, want 2", n)
	}
	for _, want := range []struct {
		r  notifications.Reminder
		st notifications.Status
	}{
		{scheduled, notifications.StatusCancelled}, {awaiting, notifications.StatusCancelled},
		{sent, notifications.StatusSent}, {own, notifications.StatusScheduled},
		{otherEvent, notifications.StatusScheduled}, {otherAccount, notifications.StatusScheduled},
	} {
		if got := get(t, s, want.r.ID).Status; got != want.st {
			t.Errorf("reminder %s (minutes %d, account %s, event %s): %s, want %s",
				want.r.ID, *want.r.MinutesBefore, want.r.AccountID, want.r.EventID, got, want.st)
		}
	}
}
