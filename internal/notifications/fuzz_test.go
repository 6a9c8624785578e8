package notifications_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/inputtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// newFuzzEnv is newEnv with the events of withEvents, for a fuzz target, which has no
// *testing.T before it fuzzes.
func newFuzzEnv(f *testing.F) *env {
	f.Helper()
	store, err := notifications.Open(context.Background(), database.SQLite, filepath.Join(f.TempDir(), "notifications.db"), logging.Discard())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	e := &env{store: store, events: &fakeEvents{events: map[string]messages.Event{}}, outbox: &countingNotifier{}}
	svc, err := notifications.New(notifications.Config{}, notifications.Deps{
		Common: svcdeps.Common{Outbox: e.outbox, Log: logging.Discard(), Now: func() time.Time { return now }},
		Store:  e.store, Events: alwaysUp{e.events}, Verifier: keys.Verifier("notifications", "gateway"),
	})
	if err != nil {
		f.Fatal(err)
	}
	e.svc, e.h = svc, svc.Handler()
	return withEvents(e)
}

// alwaysUp is fakeEvents without its event that stands for an unreachable events
// service: a fuzz target must not find a 503 there.
type alwaysUp struct{ *fakeEvents }

func (a alwaysUp) Event(ctx context.Context, id string) (messages.Event, error) {
	if id == "down" {
		return messages.Event{}, notifications.ErrEventNotFound
	}
	return a.fakeEvents.Event(ctx, id)
}

// count returns how many reminders the store holds.
func (e *env) count(t testing.TB) int {
	t.Helper()
	var n int
	if err := e.store.DB().QueryRowContext(context.Background(), `SELECT count(*) FROM reminders`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// FuzzCreateNotification posts arbitrary bodies to POST /api/v1/notifications: the answer
// is never a 5xx; a 201 comes only for a strict body (one object, exact names, none twice,
// UTF-8), holds what it asked for, with a send_at within the years 1 to 9999 in UTC, and
// can be read back; any other answer stores nothing.
func FuzzCreateNotification(f *testing.F) {
	valid := `{"event_id": "ev-1", "send_at": "2030-01-02T12:00:00+01:00", "email": "bob@example.com", "note": "snacks"}`
	for _, seed := range append([]string{
		valid,
		`{"event_id": "ev-far", "minutes_before": 60}`,
		`{"event_id": "ev-1", "send_at": "` + inputtest.Year10000 + `"}`,
		`{"event_id": "ev-1", "send_at": "9999-12-31T23:59:59.999999999-23:59"}`,
		`{"event_id": "ev-1", "send_at": "0001-01-01T00:00:00+00:01"}`,
		`{"event_id": "ev-1", "minutes_before": 10, "MINUTES_BEFORE": 50000}`,
		`{"event_id": "ev-1", "minutes_before": 50000, "minutes_before": 10}`,
		"{\"event_id\": \"ev-1\", \"minutes_before\": 10, \"note\": \"\xff\"}",
		`{"event_id": "ev-1", "minutes_before": 10, "note": ` + inputtest.List(100000, `"x"`) + `}`,
		`{"event_id": "ev-1", "minutes_before": 1e400}`, `{"event_id": "down", "minutes_before": 1}`, `[]`, `null`, `{`,
	}, inputtest.Hostile(valid)...) {
		f.Add(seed)
	}
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		before := e.count(t)
		w := e.do(t, alice, http.MethodPost, "/api/v1/notifications", body)
		inputtest.CheckResponse(t, w)
		if w.Code != http.StatusCreated {
			if n := e.count(t); n != before {
				t.Fatalf("status %d for %q, yet %d reminders stored instead of %d", w.Code, body, n, before)
			}
			return
		}
		in, ok := inputtest.StrictObject([]byte(body), "event_id", "minutes_before", "send_at", "email", "note")
		if !ok {
			t.Fatalf("201 for a body that is not strict: %q", body)
		}
		var got struct {
			ID      string    `json:"id"`
			EventID string    `json:"event_id"`
			Email   string    `json:"email"`
			Note    string    `json:"note"`
			SendAt  time.Time `json:"send_at"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if y := got.SendAt.Year(); y < 1 || y > 9999 || !got.SendAt.After(now) {
			t.Fatalf("send_at %v accepted for %q", got.SendAt, body)
		}
		if s, ok := in["send_at"].(string); ok {
			want, err := time.Parse(time.RFC3339Nano, s)
			if err != nil || !got.SendAt.Equal(want.Truncate(time.Microsecond)) {
				t.Fatalf("send_at %v, asked for %q (%v)", got.SendAt, s, err)
			}
		}
		if got.EventID != in["event_id"] {
			t.Fatalf("event_id %q, asked for %v", got.EventID, in["event_id"])
		}
		if s, ok := in["email"].(string); ok && got.Email != s {
			t.Fatalf("email %q, asked for %q", got.Email, s)
		}
		if s, _ := in["note"].(string); got.Note != s {
			t.Fatalf("note %q, asked for %q", got.Note, s)
		}
		back := e.do(t, alice, http.MethodGet, "/api/v1/notifications/"+got.ID, nil)
		if back.Code != http.StatusOK || strings.TrimSpace(back.Body.String()) != strings.TrimSpace(w.Body.String()) {
			t.Fatalf("read back %d %s, want %s", back.Code, back.Body, w.Body)
		}
		if n := e.count(t); n != before+1 {
			t.Fatalf("%d reminders stored, want %d", n, before+1)
		}
	})
}
