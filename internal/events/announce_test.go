package events_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
)

// drainOutbox empties the store's outbox, as the relay would after publishing.
func (f *fixture) drainOutbox(t *testing.T) {
	t.Helper()
	if _, err := f.store.DB().ExecContext(context.Background(), `DELETE FROM outbox`); err != nil {
		t.Fatal(err)
	}
}

// announced is what the tests compare of an attendance.changed or a waitlist_promoted email.
type announced struct {
	kind, account, status string
	position              int
	promoted              bool
	version               int64
}

// announcements returns the attendance.changed and email.send messages of the outbox, in
// order, and empties it.
func (f *fixture) announcements(t *testing.T, e events.Event) []announced {
	t.Helper()
	var out []announced
	for _, m := range f.outbox(t) {
		switch {
		case m.Attendance != nil:
			a := m.Attendance
			if a.EventID != e.ID || a.Event.ID != e.ID || a.Event.Title != e.Title || !slices.Equal(a.DefaultReminders, e.DefaultReminders) {
				t.Errorf("attendance.changed of %s: event %s %+v, defaults %v; want %s %q with %v",
					a.AccountID, a.EventID, a.Event, a.DefaultReminders, e.ID, e.Title, e.DefaultReminders)
			}
			out = append(out, announced{"attendance", a.AccountID, a.Status, a.Position, a.Promoted, a.Version})
		case m.Email != nil:
			em := m.Email
			if em.Kind != messages.EmailWaitlistPromoted || em.Event == nil || em.Event.ID != e.ID {
				t.Errorf("email %+v, want waitlist_promoted of %s", em, e.ID)
			}
			want := fmt.Sprintf("waitlist_promoted:%s:%s:", e.ID, strings.TrimSuffix(em.To, "@example.com"))
			if !strings.HasPrefix(em.IdempotencyKey, want) {
				t.Errorf("idempotency key %q, want it to start with %q", em.IdempotencyKey, want)
			}
			out = append(out, announced{kind: "email", account: em.To, status: em.Name})
		}
	}
	f.drainOutbox(t)
	return out
}

// confirmed tells the service of accounts whose addresses, <account>@example.com, are
// confirmed, named "Name of <account>".
func (f *fixture) confirmed(t *testing.T, accounts ...string) {
	t.Helper()
	for _, a := range accounts {
		f.accountChanged(t, messages.AccountChanged{
			AccountID: a, Email: a + "@example.com", EmailVerified: true, DisplayName: "Name of " + a, Version: 1,
		})
	}
}

func TestAttendanceIsAnnounced(t *testing.T) {
	f := newFixture(t)
	e := f.create(t, alice, `{"title": "Small", "starts_at": "`+future(72*time.Hour)+`", "capacity": 1, "default_reminders": [1440, 60]}`)
	f.confirmed(t, "carol")
	f.accountChanged(t, messages.AccountChanged{AccountID: "dave", Email: "dave@example.com", DisplayName: "Dave", Version: 1})
	f.drainOutbox(t)
	going, interested := `{"status": "going"}`, `{"status": "interested"}`
	leave := func(who string) {
		t.Helper()
		if w := f.do(t, request{method: "DELETE", path: "/api/v1/events/" + e.ID + "/attendance", caller: who}); w.Code != http.StatusNoContent {
			t.Fatalf("%s leaves: %d %s", who, w.Code, w.Body)
		}
	}
	steps := []struct {
		name string
		do   func()
		want []announced
	}{
		{"bob goes", func() { f.attend(t, bob, e.ID, going) },
			[]announced{{"attendance", bob, "going", 0, false, 1}}},
		{"bob goes again: nothing", func() { f.attend(t, bob, e.ID, going) }, nil},
		{"carol is waitlisted", func() { f.attend(t, "carol", e.ID, going) },
			[]announced{{"attendance", "carol", "waitlisted", 1, false, 2}}},
		{"carol goes again, still waitlisted: nothing", func() { f.attend(t, "carol", e.ID, going) }, nil},
		{"dave is waitlisted", func() { f.attend(t, "dave", e.ID, going) },
			[]announced{{"attendance", "dave", "waitlisted", 2, false, 3}}},
		{"bob turns interested: carol is promoted and mailed", func() { f.attend(t, bob, e.ID, interested) },
			[]announced{
				{"attendance", bob, "interested", 0, false, 4},
				{"attendance", "carol", "going", 0, true, 4},
				{kind: "email", account: "carol@example.com", status: "Name of carol"},
			}},
		{"carol leaves: dave is promoted, not mailed (address not confirmed)", func() { leave("carol") },
			[]announced{{"attendance", "carol", "none", 0, false, 5}, {"attendance", "dave", "going", 0, true, 5}}},
		{"carol leaves again: nothing", func() { leave("carol") }, nil},
	}
	for _, st := range steps {
		st.do()
		if diff := cmp.Diff(st.want, f.announcements(t, e), cmp.AllowUnexported(announced{})); diff != "" {
			t.Fatalf("%s: outbox (-want +got):\n%s", st.name, diff)
		}
	}
	// Deleting the event announces the deletion only.
	if w := f.do(t, request{method: "DELETE", path: "/api/v1/events/" + e.ID, caller: alice}); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d", w.Code)
	}
	if msgs := f.outbox(t); len(msgs) != 1 || msgs[0].Type != messages.TypeEventDeleted {
		t.Errorf("outbox after the deletion: %+v, want one event.deleted", msgs)
	}
}

func TestCapacityRaisePromotes(t *testing.T) {
	f := newFixture(t)
	e := f.create(t, alice, `{"title": "Small", "starts_at": "`+future(72*time.Hour)+`", "capacity": 1}`)
	f.confirmed(t, "p1", "p2", "p3")
	for _, who := range []string{"p0", "p1", "p2", "p3"} {
		f.attend(t, who, e.ID, `{"status": "going"}`)
	}
	f.drainOutbox(t)
	w := f.do(t, request{method: "PATCH", path: "/api/v1/events/" + e.ID, body: `{"capacity": 3}`, caller: alice})
	if w.Code != http.StatusOK {
		t.Fatalf("PATCH capacity: %d %s", w.Code, w.Body)
	}
	patched := decode[events.Event](t, w)
	if patched.GoingCount != 3 || *patched.SpotsLeft != 0 {
		t.Errorf("after raising the capacity to 3: %d going, %d spots left; want 3 and 0", patched.GoingCount, *patched.SpotsLeft)
	}
	if got, want := f.attendees(t, e.ID), []string{"going", "going", "going", "waitlisted1"}; !slices.Equal(got, want) {
		t.Errorf("attendees %v, want %v (the first two waitlisted promoted, in arrival order)", got, want)
	}
	var got []string
	for _, m := range f.outbox(t) {
		switch {
		case m.Attendance != nil:
			got = append(got, fmt.Sprintf("%s %s promoted=%v v%d", m.Attendance.AccountID, m.Attendance.Status, m.Attendance.Promoted, m.Attendance.Version))
		case m.Email != nil:
			got = append(got, "mail "+m.Email.To)
		default:
			got = append(got, m.Type)
		}
	}
	want := []string{messages.TypeEventChanged, "p1 going promoted=true v5", "mail p1@example.com", "p2 going promoted=true v5", "mail p2@example.com"}
	if !slices.Equal(got, want) {
		t.Errorf("outbox %v, want %v", got, want)
	}
	f.drainOutbox(t)
	// Removing the capacity promotes everyone left.
	f.do(t, request{method: "PATCH", path: "/api/v1/events/" + e.ID, body: `{"capacity": null}`, caller: alice})
	if got, want := f.attendees(t, e.ID), []string{"going", "going", "going", "going"}; !slices.Equal(got, want) {
		t.Errorf("attendees after removing the capacity: %v, want %v", got, want)
	}
	// Lowering it promotes no one and demotes no one.
	f.drainOutbox(t)
	f.do(t, request{method: "PATCH", path: "/api/v1/events/" + e.ID, body: `{"capacity": 1}`, caller: alice})
	if msgs := f.outbox(t); len(msgs) != 1 || msgs[0].Type != messages.TypeEventChanged {
		t.Errorf("outbox after lowering the capacity: %+v, want one event.changed", msgs)
	}
}

func TestDeletedAccountLeavesWithPromotion(t *testing.T) {
	f := newFixture(t)
	small := f.create(t, alice, `{"title": "Small", "starts_at": "`+future(72*time.Hour)+`", "capacity": 1}`)
	other := f.create(t, alice, `{"title": "Other", "starts_at": "`+future(72*time.Hour)+`"}`)
	own := f.create(t, bob, `{"title": "Bob's", "starts_at": "`+future(72*time.Hour)+`"}`)
	f.confirmed(t, bob, "carol")
	f.attend(t, bob, small.ID, `{"status": "going"}`)
	f.attend(t, "carol", small.ID, `{"status": "going"}`)
	f.attend(t, bob, other.ID, `{"status": "interested"}`)
	f.attend(t, "carol", own.ID, `{"status": "going"}`)
	f.drainOutbox(t)

	msg, err := broker.NewMessage(context.Background(), messages.TypeAccountDeleted, messages.AccountDeleted{AccountID: bob, DeletedAt: testNow})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // delivered twice: acts once
		if err := f.svc.Consumers()[0].Handle(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := f.attendees(t, small.ID), []string{"going"}; !slices.Equal(got, want) {
		t.Errorf("attendees of the small event: %v, want carol going", got)
	}
	if got := f.attendees(t, other.ID); len(got) != 0 {
		t.Errorf("attendees of the other event: %v, want none", got)
	}
	var got []string
	for _, m := range f.outbox(t) {
		switch {
		case m.Attendance != nil:
			got = append(got, m.Attendance.EventID+" "+m.Attendance.AccountID+" "+m.Attendance.Status)
		case m.Email != nil:
			got = append(got, "mail "+m.Email.To+" "+m.Email.Event.ID)
		case m.Deleted != nil:
			got = append(got, "deleted "+m.Deleted.Event.ID)
		}
	}
	want := []string{"deleted " + own.ID}
	// The attendances go event by event, in the order of their IDs.
	for _, e := range sortedByID(small, other) {
		if e.ID == small.ID {
			want = append(want, small.ID+" "+bob+" none", small.ID+" carol going", "mail carol@example.com "+small.ID)
		} else {
			want = append(want, other.ID+" "+bob+" none")
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("outbox %v, want %v", got, want)
	}
}

func sortedByID(evs ...events.Event) []events.Event {
	slices.SortFunc(evs, func(a, b events.Event) int { return strings.Compare(a.ID, b.ID) })
	return evs
}

func TestDefaultReminders(t *testing.T) {
	f := newFixture(t)
	start := future(72 * time.Hour)
	for _, body := range []string{
		`[1, 2, 3, 4]`, `[0]`, `[40321]`, `[-5]`, `[60, 60]`, `[1.5]`, `["60"]`, `60`, `[null]`,
	} {
		w := f.do(t, request{method: "POST", path: "/api/v1/events", caller: alice,
			body: `{"title": "T", "starts_at": "` + start + `", "default_reminders": ` + body + `}`})
		if w.Code == http.StatusUnprocessableEntity {
			if got := fieldsOf(t, w); !slices.Equal(got, []string{"default_reminders"}) {
				t.Errorf("default_reminders %s: 422 naming %v", body, got)
			}
		} else if w.Code != http.StatusBadRequest {
			t.Errorf("default_reminders %s: %d %s, want 422 (or 400 for what is not JSON of the type)", body, w.Code, w.Body)
		} else if !strings.Contains(w.Body.String(), "default_reminders") {
			t.Errorf("default_reminders %s: %d %s, want the field named", body, w.Code, w.Body)
		}
	}
	if n := f.count(t); n != 0 {
		t.Fatalf("%d events stored from refused requests", n)
	}
	e := f.create(t, alice, `{"title": "T", "starts_at": "`+start+`", "default_reminders": [40320, 1, 60]}`)
	if !slices.Equal(e.DefaultReminders, []int{40320, 1, 60}) {
		t.Fatalf("created with %v, want [40320 1 60] in that order", e.DefaultReminders)
	}
	none := f.create(t, alice, `{"title": "T", "starts_at": "`+start+`"}`)
	if none.DefaultReminders == nil || len(none.DefaultReminders) != 0 {
		t.Fatalf("created without: %#v, want []", none.DefaultReminders)
	}
	patch := func(body string) events.Event {
		t.Helper()
		w := f.do(t, request{method: "PATCH", path: "/api/v1/events/" + e.ID, body: body, caller: alice})
		if w.Code != http.StatusOK {
			t.Fatalf("PATCH %s: %d %s", body, w.Code, w.Body)
		}
		return decode[events.Event](t, w)
	}
	f.clock.Set(testNow.Add(time.Minute))
	p := patch(`{"default_reminders": [30]}`)
	if !slices.Equal(p.DefaultReminders, []int{30}) || p.Sequence != e.Sequence || !p.UpdatedAt.After(e.UpdatedAt) {
		t.Errorf("after changing the defaults: %v, sequence %d (was %d), updated %v (was %v); want [30], the same sequence, a later update",
			p.DefaultReminders, p.Sequence, e.Sequence, p.UpdatedAt, e.UpdatedAt)
	}
	if w := f.do(t, request{method: "PATCH", path: "/api/v1/events/" + e.ID, body: `{"default_reminders": [1, 2, 3, 4]}`, caller: alice}); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("PATCH with 4 defaults: %d, want 422", w.Code)
	}
	if p := patch(`{"default_reminders": null}`); p.DefaultReminders == nil || len(p.DefaultReminders) != 0 {
		t.Errorf("after removing the defaults: %#v, want []", p.DefaultReminders)
	}
	if w := f.do(t, request{method: "GET", path: "/api/v1/events/" + e.ID}); !strings.Contains(w.Body.String(), `"default_reminders":[]`) {
		t.Errorf("GET: %s, want default_reminders []", w.Body)
	}
}
