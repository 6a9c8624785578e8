package events_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// stores opens a new, empty store of each kind: SQLite and PostgreSQL.
var stores = []struct {
	name string
	open func(t *testing.T) *events.SQLStore
}{
	{"SQLite", func(t *testing.T) *events.SQLStore { return openStore(t) }},
	{"PostgreSQL", func(t *testing.T) *events.SQLStore {
		return openPostgres(t, pgtest.URL(t, events.PostgresSchemas()...))
	}},
}

// TestSequenceRisesWithCalendarChanges patches an event field by field, in both stores, and
// checks that the calendar SEQUENCE rises by one with every change a calendar shows (start,
// end, title, place, online link) and stays with any other, in what Patch returns, what the
// store keeps and the event.changed snapshot.
func TestSequenceRisesWithCalendarChanges(t *testing.T) {
	steps := []struct {
		patch string
		want  int
	}{
		{`{"description": "Bring friends."}`, 0},
		{`{"tags": ["jazz", "late"]}`, 0},
		{`{"category": "Music", "capacity": 20, "timezone": "Europe/Berlin"}`, 0},
		{`{"title": "Jazz night"}`, 1},
		{`{"title": "Jazz night"}`, 1}, // the same title: nothing changes
		{`{"starts_at": "2030-02-01T20:00:00Z"}`, 2},
		{`{"ends_at": "2030-02-01T23:00:00Z"}`, 3},
		{`{"location": {"name": "Club", "address": "1 Main St"}}`, 4},
		{`{"location": {"lat": 52.5, "lon": 13.4}}`, 5},
		{`{"online_url": "https://meet.example/jazz"}`, 6},
		{`{"description": "Bring no one.", "tags": []}`, 6},
		{`{"title": "Jazz", "location": null, "online_url": null}`, 7}, // several at once: one step
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := st.open(t)
			svc := newService(t, s)
			e, err := svc.Create(ctx, alice, events.EventInput{Title: ptr("Jazz"), StartsAt: ptr("2030-02-01T19:00:00Z")})
			if err != nil {
				t.Fatal(err)
			}
			if e.Sequence != 0 {
				t.Fatalf("a new event has sequence %d, want 0", e.Sequence)
			}
			for _, step := range steps {
				var patch map[string]json.RawMessage
				if err := json.Unmarshal([]byte(step.patch), &patch); err != nil {
					t.Fatal(err)
				}
				got, err := svc.Patch(ctx, alice, e.ID, patch)
				if err != nil {
					t.Fatalf("patch %s: %v", step.patch, err)
				}
				stored, err := s.Get(ctx, e.ID)
				if err != nil {
					t.Fatal(err)
				}
				announced := lastChanged(t, s)
				if got.Sequence != step.want || stored.Sequence != step.want || announced.Sequence != step.want {
					t.Errorf("after %s: sequence %d, stored %d, announced %d; want %d",
						step.patch, got.Sequence, stored.Sequence, announced.Sequence, step.want)
				}
			}
		})
	}
}

// TestCalendarShowsTheSequence checks the .ics export after a change.
func TestCalendarShowsTheSequence(t *testing.T) {
	f := newFixture(t)
	e := f.create(t, alice, `{"title": "Jazz", "starts_at": "`+future(48*time.Hour)+`"}`)
	f.clock.Set(testNow.Add(time.Minute))
	if w := f.do(t, request{method: "PATCH", path: "/api/v1/events/" + e.ID, body: `{"title": "Blues"}`, caller: alice}); w.Code != 200 {
		t.Fatalf("PATCH: %d %s", w.Code, w.Body)
	}
	body := f.do(t, request{method: "GET", path: "/api/v1/events/" + e.ID + "/ics"}).Body.String()
	for _, want := range []string{"SEQUENCE:1\r\n", "LAST-MODIFIED:20300110T120100Z\r\n", "SUMMARY:Blues\r\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("calendar lacks %q:\n%s", want, body)
		}
	}
}

// lastChanged returns the snapshot of the last event.changed in s's outbox.
func lastChanged(t *testing.T, s *events.SQLStore) messages.Event {
	t.Helper()
	msgs, err := outbox.Pending(context.Background(), s.DB())
	if err != nil {
		t.Fatal(err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Type == messages.TypeEventChanged {
			var c messages.EventChanged
			if err := msgs[i].Decode(&c); err != nil {
				t.Fatal(err)
			}
			return c.Event
		}
	}
	t.Fatal("no event.changed in the outbox")
	return messages.Event{}
}
