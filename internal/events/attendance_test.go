package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
)

// attend asks, as caller, for status at the event and returns the response.
func (f *fixture) attend(t *testing.T, caller, eventID, body string) (int, events.Attendance) {
	t.Helper()
	w := f.do(t, request{method: "PUT", path: "/api/v1/events/" + eventID + "/attendance", body: body, caller: caller})
	if w.Code != http.StatusOK {
		return w.Code, events.Attendance{}
	}
	return w.Code, decode[events.Attendance](t, w)
}

// attendees returns the organizer's view of the event's attendees, as "status[position]".
func (f *fixture) attendees(t *testing.T, eventID string) []string {
	t.Helper()
	w := f.do(t, request{method: "GET", path: "/api/v1/events/" + eventID + "/attendees", caller: alice})
	if w.Code != http.StatusOK {
		t.Fatalf("attendees: %d %s", w.Code, w.Body)
	}
	var out []string
	for _, a := range decode[events.AttendeePage](t, w).Items {
		s := string(a.Status)
		if a.Position != nil {
			s += fmt.Sprint(*a.Position)
		}
		out = append(out, s)
	}
	return out
}

func TestAttendance(t *testing.T) {
	f := newFixture(t)
	e := f.create(t, alice, `{"title": "Small", "starts_at": "`+future(time.Hour)+`", "capacity": 1}`)
	going, interested := `{"status": "going"}`, `{"status": "interested"}`

	code, a := f.attend(t, bob, e.ID, going)
	if code != http.StatusOK || a != (events.Attendance{EventID: e.ID, Status: events.Going}) {
		t.Fatalf("bob goes: %d %+v", code, a)
	}
	code, a = f.attend(t, "carol", e.ID, going)
	if code != http.StatusOK || a.Status != events.Waitlisted || a.Position == nil || *a.Position != 1 {
		t.Fatalf("carol goes to a full event: %d %+v, want waitlisted at 1", code, a)
	}
	if code, a = f.attend(t, "dave", e.ID, interested); code != http.StatusOK || a.Status != events.Interested || a.Position != nil {
		t.Fatalf("dave is interested: %d %+v", code, a)
	}
	before := f.attendees(t, e.ID)
	if want := []string{"going", "waitlisted1", "interested"}; !slices.Equal(before, want) {
		t.Fatalf("attendees %v, want %v", before, want)
	}

	for _, path := range []string{"/api/v1/events/" + e.ID, "/api/v1/events?organizer_id=" + alice} {
		w := f.do(t, request{method: "GET", path: path})
		got := w.Body.String()
		if w.Code != http.StatusOK || !strings.Contains(got, `"going_count":1,"interested_count":1,`) || !strings.Contains(got, `"spots_left":0`) {
			t.Errorf("GET %s: %d %s, want 1 going, 1 interested, 0 spots left", path, w.Code, got)
		}
	}
	// A change but to the capacity keeps the counts (a raised capacity promotes: see
	// TestCapacityRaisePromotes).
	w := f.do(t, request{method: "PATCH", path: "/api/v1/events/" + e.ID, body: `{"title": "Still small"}`, caller: alice})
	if got := w.Body.String(); w.Code != http.StatusOK || !strings.Contains(got, `"going_count":1,"interested_count":1,`) || !strings.Contains(got, `"spots_left":0`) {
		t.Errorf("PATCH title: %d %s, want the counts kept and no spots left", w.Code, got)
	}

	// Bad requests change nothing.
	for _, tt := range []struct {
		name, caller, id, body string
		want                   int
	}{
		{"unknown status", bob, e.ID, `{"status": "maybe"}`, http.StatusUnprocessableEntity},
		{"waitlisted is no choice", bob, e.ID, `{"status": "waitlisted"}`, http.StatusUnprocessableEntity},
		{"no status", bob, e.ID, `{}`, http.StatusUnprocessableEntity},
		{"unknown field", bob, e.ID, `{"status": "interested", "x": 1}`, http.StatusBadRequest},
		{"not JSON", bob, e.ID, `{"status":`, http.StatusBadRequest},
		{"unknown event", bob, "0190f2a0-0000-7000-8000-000000000000", interested, http.StatusNotFound},
		{"no caller", "", e.ID, interested, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(t, request{method: "PUT", path: "/api/v1/events/" + tt.id + "/attendance", body: tt.body, caller: tt.caller})
			if w.Code != tt.want || w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %q %s, want %d problem+json", w.Code, w.Header().Get("Content-Type"), w.Body, tt.want)
			}
			if got := f.attendees(t, e.ID); !slices.Equal(got, before) {
				t.Fatalf("attendees %v after a refused request, want %v", got, before)
			}
		})
	}

	// Bob leaves: carol goes. Leaving again is still 204.
	for range 2 {
		if w := f.do(t, request{method: "DELETE", path: "/api/v1/events/" + e.ID + "/attendance", caller: bob}); w.Code != http.StatusNoContent {
			t.Fatalf("bob leaves: %d %s", w.Code, w.Body)
		}
	}
	if got, want := f.attendees(t, e.ID), []string{"going", "interested"}; !slices.Equal(got, want) {
		t.Fatalf("after bob left: %v, want %v", got, want)
	}
	if w := f.do(t, request{method: "DELETE", path: "/api/v1/events/0190f2a0-0000-7000-8000-000000000000/attendance", caller: bob}); w.Code != http.StatusNotFound {
		t.Errorf("leave an unknown event: %d", w.Code)
	}
	if w := f.do(t, request{method: "GET", path: "/api/v1/events/" + e.ID + "/attendees", caller: bob}); w.Code != http.StatusForbidden {
		t.Errorf("attendees for someone else: %d", w.Code)
	}

	// A deleted event can no longer be attended, and leaves no attendance.
	if w := f.do(t, request{method: "DELETE", path: "/api/v1/events/" + e.ID, caller: alice}); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d", w.Code)
	}
	if code, _ := f.attend(t, bob, e.ID, going); code != http.StatusNotFound {
		t.Errorf("attend a deleted event: %d", code)
	}
	w = f.do(t, request{method: "GET", path: "/api/v1/accounts/me/attendance", caller: "carol"})
	if p := decode[events.AttendancePage](t, w); w.Code != http.StatusOK || len(p.Items) != 0 || p.NextCursor != nil {
		t.Errorf("carol's attendance after the deletion: %d %s", w.Code, w.Body)
	}
}

func TestMyAttendancePages(t *testing.T) {
	f := newFixture(t)
	var want []string
	for i := range 5 {
		e := f.create(t, alice, fmt.Sprintf(`{"title": "E%d", "starts_at": "%s"}`, i, future(time.Duration(i+1)*time.Hour)))
		if code, _ := f.attend(t, bob, e.ID, `{"status": "going"}`); code != http.StatusOK {
			t.Fatalf("attend: %d", code)
		}
		want = append(want, e.ID)
	}
	var got []string
	path := "/api/v1/accounts/me/attendance?limit=2"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		w := f.do(t, request{method: "GET", path: path, caller: bob})
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		p := decode[events.AttendancePage](t, w)
		for _, a := range p.Items {
			got = append(got, a.EventID)
		}
		if p.NextCursor == nil {
			break
		}
		path = "/api/v1/accounts/me/attendance?limit=2&cursor=" + *p.NextCursor
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged %v, want %v", got, want)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=nope", "cursor=YToweA"} {
		w := f.do(t, request{method: "GET", path: "/api/v1/accounts/me/attendance?" + q, caller: bob})
		if w.Code != http.StatusUnprocessableEntity || w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want 422", q, w.Code, w.Body)
		}
	}
	if w := f.do(t, request{method: "GET", path: "/api/v1/accounts/me/attendance"}); w.Code != http.StatusUnauthorized {
		t.Errorf("no caller: %d", w.Code)
	}
}

// accountChanged delivers an account.changed message to the service's consumer.
func (f *fixture) accountChanged(t *testing.T, a messages.AccountChanged) {
	t.Helper()
	msg, err := broker.NewMessage(context.Background(), messages.TypeAccountChanged, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Consumers()[0].Handle(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

func TestOrganizerAndAttendeeNames(t *testing.T) {
	f := newFixture(t)
	e := f.create(t, alice, `{"title": "Named", "starts_at": "`+future(time.Hour)+`"}`)
	if e.Organizer != (events.Organizer{ID: alice}) {
		t.Fatalf("organizer before any account.changed: %+v, want no name", e.Organizer)
	}
	f.accountChanged(t, messages.AccountChanged{AccountID: alice, Email: "a@example.com", DisplayName: "Alice 2", Version: 2})
	f.accountChanged(t, messages.AccountChanged{AccountID: alice, Email: "a@example.com", DisplayName: "Alice 1", Version: 1}) // older: ignored
	f.accountChanged(t, messages.AccountChanged{AccountID: bob, Email: "b@example.com", DisplayName: "Bob", Version: 1})
	for _, path := range []string{"/api/v1/events/" + e.ID, "/api/v1/events?organizer_id=" + alice} {
		w := f.do(t, request{method: "GET", path: path})
		if !strings.Contains(w.Body.String(), `"organizer":{"id":"`+alice+`","display_name":"Alice 2"}`) {
			t.Errorf("GET %s: %d %s, want the organizer named Alice 2", path, w.Code, w.Body)
		}
	}
	if code, _ := f.attend(t, bob, e.ID, `{"status": "interested"}`); code != http.StatusOK {
		t.Fatalf("attend: %d", code)
	}
	if code, _ := f.attend(t, "carol", e.ID, `{"status": "going"}`); code != http.StatusOK {
		t.Fatalf("attend: %d", code)
	}
	w := f.do(t, request{method: "GET", path: "/api/v1/events/" + e.ID + "/attendees", caller: alice})
	p := decode[events.AttendeePage](t, w)
	if len(p.Items) != 2 || p.Items[0].DisplayName != "Bob" || p.Items[1].DisplayName != "" {
		t.Errorf("attendees %+v, want Bob and a person without a known name", p.Items)
	}
	if err := f.svc.Consumers()[0].Handle(context.Background(), broker.Message{ID: "m1", Type: messages.TypeAccountChanged, Payload: json.RawMessage(`{}`)}); !broker.IsPermanent(err) {
		t.Errorf("account.changed without an account: %v, want a permanent error", err)
	}
}
