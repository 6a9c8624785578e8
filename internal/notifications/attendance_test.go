package notifications_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/broker"
)

// inBothStores runs fn over a service on SQLite and one on PostgreSQL.
func inBothStores(t *testing.T, o envOptions, fn func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newEnv(t, o)) })
	t.Run("postgres", func(t *testing.T) {
		o := o
		o.store = openPostgres(t, newPostgresURL(t))
		fn(t, newEnv(t, o))
	})
}

// attendanceMessage returns the attendance.changed of c's status for ev at version.
func attendanceMessage(t *testing.T, c caller, ev messages.Event, status string, version int64, defaults ...int) broker.Message {
	t.Helper()
	m, err := broker.NewMessage(context.Background(), messages.TypeAttendanceChanged, messages.AttendanceChanged{
		AccountID: c.id, EventID: ev.ID, Status: status, Version: version, DefaultReminders: defaults, Event: ev,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mustHandle hands m to its consumer, which must accept it.
func mustHandle(t *testing.T, e *env, m broker.Message) {
	t.Helper()
	if err := handle(t, e, m); err != nil {
		t.Fatalf("handle %s: %v", m.Type, err)
	}
}

// remindersOf returns c's reminders of ev, soonest first.
func (e *env) remindersOf(t *testing.T, c caller, ev messages.Event) []notifications.Reminder {
	t.Helper()
	rs, err := e.store.ListReminders(context.Background(), notifications.ListFilter{AccountID: c.id, EventID: ev.ID, Limit: notifications.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// summary is what the tests compare of a reminder.
type summary struct {
	minutes     int
	sendAt      time.Time
	status      notifications.Status
	fromDefault bool
	email       string
}

func summaries(rs []notifications.Reminder) []summary {
	out := make([]summary, 0, len(rs))
	for _, r := range rs {
		s := summary{sendAt: r.SendAt, status: r.Status, fromDefault: r.FromDefault, email: r.Email}
		if r.MinutesBefore != nil {
			s.minutes = *r.MinutesBefore
		}
		out = append(out, s)
	}
	return out
}

// TestAttendanceChangedFollowsGoing: going creates the event's default reminders once,
// however often the message comes; an older announcement is ignored; the reminders move with
// the event; leaving cancels those still made from the defaults and pending, and only those.
func TestAttendanceChangedFollowsGoing(t *testing.T) {
	inBothStores(t, envOptions{}, func(t *testing.T, e *env) {
		ev := testEvent("ev-going", now.Add(72*time.Hour))
		going := attendanceMessage(t, alice, ev, messages.AttendanceGoing, 5, 1440, 60)
		for range 2 {
			mustHandle(t, e, going)
		}
		want := []summary{
			{1440, ev.StartsAt.Add(-24 * time.Hour), notifications.StatusScheduled, true, alice.email},
			{60, ev.StartsAt.Add(-time.Hour), notifications.StatusScheduled, true, alice.email},
		}
		if got := summaries(e.remindersOf(t, alice, ev)); !slices.Equal(got, want) {
			t.Fatalf("after going, twice the message: %+v, want %+v", got, want)
		}
		// The same announcement again, as another message (a new ID), and older ones: ignored.
		for _, m := range []broker.Message{
			attendanceMessage(t, alice, ev, messages.AttendanceGoing, 5, 1440, 60),
			attendanceMessage(t, alice, ev, messages.AttendanceNone, 4),
			attendanceMessage(t, alice, ev, messages.AttendanceGoing, 3, 30),
		} {
			mustHandle(t, e, m)
		}
		if got := summaries(e.remindersOf(t, alice, ev)); !slices.Equal(got, want) {
			t.Fatalf("after older announcements: %+v, want %+v", got, want)
		}
		if len(e.remindersOf(t, bob, ev)) != 0 {
			t.Fatal("bob got reminders for alice's going")
		}

		// The event moves: both move.
		moved := ev
		moved.StartsAt, moved.UpdatedAt = ev.StartsAt.Add(24*time.Hour), ev.UpdatedAt.Add(time.Minute)
		deliver(t, e, messages.TypeEventChanged, messages.EventChanged{Event: moved, PreviousStartsAt: &ev.StartsAt})
		for i := range want {
			want[i].sendAt = want[i].sendAt.Add(24 * time.Hour)
		}
		if got := summaries(e.remindersOf(t, alice, ev)); !slices.Equal(got, want) {
			t.Fatalf("after the event moved: %+v, want %+v", got, want)
		}

		// Alice sets one of her own, and one default reminder is sent; then she leaves.
		e.events.put(moved)
		own := e.create(t, alice, map[string]any{"event_id": ev.ID, "minutes_before": 30})
		rs := e.remindersOf(t, alice, ev)
		e.setStatus(t, rs[0].ID, notifications.StatusScheduled, notifications.StatusSent)
		mailed := len(emails(t, e.store)) // the event_changed of the move
		mustHandle(t, e, attendanceMessage(t, alice, moved, messages.AttendanceNone, 9))
		got := map[string]notifications.Status{}
		for _, r := range e.remindersOf(t, alice, ev) {
			got[r.ID] = r.Status
		}
		wantStatus := map[string]notifications.Status{
			rs[0].ID: notifications.StatusSent, rs[1].ID: notifications.StatusCancelled, own: notifications.StatusScheduled,
		}
		if !maps.Equal(got, wantStatus) {
			t.Fatalf("after leaving: %v, want %v", got, wantStatus)
		}
		if n := len(emails(t, e.store)); n != mailed || mailed != 1 {
			t.Errorf("%d emails after leaving, %d before, want 1 (the move's): leaving mails no one", n, mailed)
		}

		// Going again gives the defaults again.
		mustHandle(t, e, attendanceMessage(t, alice, moved, messages.AttendanceGoing, 10, 60))
		if n := countStatus(e.remindersOf(t, alice, ev), notifications.StatusScheduled); n != 2 {
			t.Errorf("after going again: %d scheduled, want 2 (her own and the default)", n)
		}
	})
}

func countStatus(rs []notifications.Reminder, st notifications.Status) int {
	n := 0
	for _, r := range rs {
		if r.Status == st {
			n++
		}
	}
	return n
}

// TestAttendanceChangedLeavesOutWhatCannotBe: a default reminder whose send time is past is
// not created, nor one over the account's quota; interested and waitlisted create nothing.
func TestAttendanceChangedLeavesOutWhatCannotBe(t *testing.T) {
	inBothStores(t, envOptions{cfg: notifications.Config{MaxPendingReminders: 2}}, func(t *testing.T, e *env) {
		soon := testEvent("ev-soon", now.Add(2*time.Hour))
		for i, st := range []string{messages.AttendanceInterested, messages.AttendanceWaitlisted} {
			mustHandle(t, e, attendanceMessage(t, alice, soon, st, int64(i+1), 1440, 60))
		}
		if n := len(e.remindersOf(t, alice, soon)); n != 0 {
			t.Fatalf("%d reminders while not going, want none", n)
		}
		mustHandle(t, e, attendanceMessage(t, alice, soon, messages.AttendanceGoing, 3, 1440, 60))
		want := []summary{{60, soon.StartsAt.Add(-time.Hour), notifications.StatusScheduled, true, alice.email}}
		if got := summaries(e.remindersOf(t, alice, soon)); !slices.Equal(got, want) {
			t.Fatalf("defaults 1440 and 60 of an event 2 hours ahead: %+v, want only 60", got)
		}
		later := testEvent("ev-later", now.Add(72*time.Hour))
		mustHandle(t, e, attendanceMessage(t, alice, later, messages.AttendanceGoing, 1, 1440, 60, 30))
		if n := len(e.remindersOf(t, alice, later)); n != 1 {
			t.Fatalf("%d reminders with room for one in the quota, want 1", n)
		}
	})
}

// TestAttendanceChangedWaitsForTheAccount: going of an account that account.changed has not
// told of yet fails for now (the broker delivers it again) and creates nothing; once the
// account is known, the same message creates the reminders.
func TestAttendanceChangedWaitsForTheAccount(t *testing.T) {
	e := newEnv(t, envOptions{noAccounts: true})
	ev := testEvent("ev-wait", now.Add(72*time.Hour))
	m := attendanceMessage(t, alice, ev, messages.AttendanceGoing, 1, 60)
	err := handle(t, e, m)
	if err == nil || broker.IsPermanent(err) || !errors.Is(err, notifications.ErrAccountUnknown) {
		t.Fatalf("going of an unknown account: %v, want a transient error", err)
	}
	if n := len(e.remindersOf(t, alice, ev)); n != 0 {
		t.Fatalf("%d reminders for an unknown account", n)
	}
	e.putAccount(t, alice, true, 1)
	mustHandle(t, e, m)
	if n := len(e.remindersOf(t, alice, ev)); n != 1 {
		t.Fatalf("%d reminders once the account is known, want 1", n)
	}
	// Leaving needs no account: a deleted one's departure is taken.
	mustHandle(t, e, attendanceMessage(t, bob, ev, messages.AttendanceNone, 2))
}

// TestAttendanceChangedRefusesNonsense: messages that cannot be applied are rejected for good.
func TestAttendanceChangedRefusesNonsense(t *testing.T) {
	e := newEnv(t, envOptions{})
	ev := testEvent("ev-x", now.Add(72*time.Hour))
	other := testEvent("ev-y", now.Add(72*time.Hour))
	for name, p := range map[string]messages.AttendanceChanged{
		"no account":     {EventID: ev.ID, Status: messages.AttendanceGoing, Version: 1, Event: ev},
		"no event":       {AccountID: alice.id, Status: messages.AttendanceGoing, Version: 1, Event: ev},
		"unknown status": {AccountID: alice.id, EventID: ev.ID, Status: "maybe", Version: 1, Event: ev},
		"other snapshot": {AccountID: alice.id, EventID: ev.ID, Status: messages.AttendanceGoing, Version: 1, Event: other},
	} {
		m, err := broker.NewMessage(context.Background(), messages.TypeAttendanceChanged, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := handle(t, e, m); !broker.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent error", name, err)
		}
	}
}
