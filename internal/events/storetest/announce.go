package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
)

// recorder is an AttendanceAnnouncer that writes down what it is given, one line per change:
// "<event title> v<version> <account> <status>[<position>][ promoted[ <email> <verified>]]".
type recorder struct{ lines []string }

func (r *recorder) announce(e events.Event, version int64, changes []events.AttendanceChange) ([]broker.Message, error) {
	for _, c := range changes {
		l := fmt.Sprintf("%s v%d %s %s", e.Title, version, c.AccountID, c.Status)
		if c.Position > 0 {
			l += fmt.Sprint(c.Position)
		}
		if c.Promoted {
			l += " promoted"
			if c.Contact != nil {
				l += fmt.Sprintf(" %s %v", c.Contact.Email, c.Contact.EmailVerified)
			}
		}
		r.lines = append(r.lines, l)
	}
	return nil, nil
}

// take returns the lines written since the last take.
func (r *recorder) take() []string {
	l := r.lines
	r.lines = nil
	return l
}

// testAttendanceAnnounced: every attendance change of an event raises its version and is
// given to the announcer in its transaction: going, waitlisted, leaving with a promotion, a
// capacity raise (Update), and the departure of a deleted account (DeleteByOrganizer).
func testAttendanceAnnounced(t *testing.T, open func(t *testing.T) events.Store) {
	ctx := context.Background()
	s := open(t)
	small := newEvent(func(e *events.Event) { e.Title, e.Capacity = "small", ptr(int64(1)) })
	open2 := newEvent(func(e *events.Event) { e.Title = "open" })
	mustCreate(t, s, small, open2)
	if err := s.PutAccount(ctx, messages.AccountChanged{AccountID: "c", Email: "c@example.com", EmailVerified: true, Version: 1}); err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	check := func(step string, want ...string) {
		t.Helper()
		if got := r.take(); !slices.Equal(got, want) {
			t.Fatalf("%s: announced %q, want %q", step, got, want)
		}
	}
	set := func(event events.Event, account string, st events.AttendanceStatus) {
		t.Helper()
		if _, err := s.SetAttendance(ctx, event.ID, account, st, r.announce); err != nil {
			t.Fatal(err)
		}
	}
	set(small, "a", events.Going)
	check("a goes", "small v1 a going")
	set(small, "a", events.Going)
	check("a goes again")
	for _, acc := range []string{"b", "c", "d"} {
		set(small, acc, events.Going)
	}
	check("b, c, d go", "small v2 b waitlisted1", "small v3 c waitlisted2", "small v4 d waitlisted3")
	set(open2, "b", events.Interested)
	check("b is interested in the other", "open v1 b interested")
	if _, err := s.RemoveAttendance(ctx, small.ID, "a", r.announce); err != nil {
		t.Fatal(err)
	}
	check("a leaves", "small v5 a ", "small v5 b going promoted")
	if _, err := s.RemoveAttendance(ctx, small.ID, "a", r.announce); err != nil {
		t.Fatal(err)
	}
	check("a leaves again")

	raise := func(capacity *int64) events.Event {
		t.Helper()
		e, err := s.Update(ctx, small.ID, func(old events.Event) (events.Event, []broker.Message, error) {
			old.Capacity = capacity
			return old, nil, nil
		}, r.announce)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	if e := raise(ptr(int64(2))); e.GoingCount != 2 {
		t.Errorf("after raising the capacity to 2: %d going, want 2", e.GoingCount)
	}
	check("capacity 2", "small v6 c going promoted c@example.com true")
	if got, err := s.Get(ctx, small.ID); err != nil || got.GoingCount != 2 {
		t.Fatalf("stored after the raise: %+v, %v; want 2 going", got, err)
	}
	raise(ptr(int64(1)))
	check("capacity lowered to 1")

	// b's account is deleted: it leaves both events; with c going, the small event is full
	// again (capacity 1), so d stays waitlisted.
	if _, err := s.DeleteByOrganizer(ctx, "b", "msg-b", deletedAt, func(e events.Event) (broker.Message, error) {
		return message(t, messages.TypeEventDeleted, e.ID), nil
	}, r.announce); err != nil {
		t.Fatal(err)
	}
	got := r.take()
	slices.Sort(got)
	if want := []string{"open v2 b ", "small v7 b "}; !slices.Equal(got, want) {
		t.Fatalf("b deleted: announced %q, want %q", got, want)
	}
	// d's account is deleted: it leaves the waitlist.
	if _, err := s.DeleteByOrganizer(ctx, "d", "msg-d", deletedAt, func(e events.Event) (broker.Message, error) {
		return message(t, messages.TypeEventDeleted, e.ID), nil
	}, r.announce); err != nil {
		t.Fatal(err)
	}
	check("d deleted", "small v8 d ")
	raise(nil)
	check("capacity removed: no one waits")
	for _, e := range []events.Event{small, open2} {
		list, err := s.EventAttendance(ctx, e.ID, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			if strings.Contains("bd", a.AccountID) {
				t.Errorf("%s still attends %s after its account was deleted", a.AccountID, e.Title)
			}
		}
	}
}
