package notifications_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/inputtest"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

func TestCreateNotificationRefusesInputThatIsNotStrict(t *testing.T) {
	valid := `{"event_id": "ev-1", "send_at": "2030-01-02T12:00:00Z", "note": "bring snacks"}`
	tests := []struct {
		name       string
		body       string
		want       int
		wantFields []string
	}{
		{"a send_at in the year 10000", `{"event_id": "ev-1", "send_at": "` + inputtest.Year10000 + `"}`, 422, []string{"send_at"}},
		{"a send_at a minute into the year 10000", `{"event_id": "ev-1", "send_at": "9999-12-31T23:59:59.999999999-00:01"}`, 422, []string{"send_at"}},
		{"a send_at in the year 0", `{"event_id": "ev-1", "send_at": "0000-12-31T23:00:00Z"}`, 422, []string{"send_at"}},
		{"a name in another case", `{"event_id": "ev-1", "SEND_AT": "2030-01-02T12:00:00Z"}`, 400, nil},
		{"a name twice in two cases", `{"event_id": "ev-1", "minutes_before": 10, "Minutes_Before": 50000}`, 400, nil},
		{"a name twice", `{"event_id": "ev-1", "minutes_before": 50000, "minutes_before": 10}`, 400, nil},
		{"invalid UTF-8 in the note", "{\"event_id\": \"ev-1\", \"minutes_before\": 10, \"note\": \"caf\xe9\"}", 400, nil},
		{"a lone surrogate in the note", `{"event_id": "ev-1", "minutes_before": 10, "note": "\ud800"}`, 400, nil},
		{"minutes_before as a string", `{"event_id": "ev-1", "minutes_before": "10"}`, 422, []string{"minutes_before"}},
	}
	for _, body := range inputtest.Hostile(valid) {
		tests = append(tests, struct {
			name       string
			body       string
			want       int
			wantFields []string
		}{"hostile " + body, body, 400, nil})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := withEvents(newEnv(t, envOptions{}))
			w := e.do(t, alice, http.MethodPost, "/api/v1/notifications", tt.body)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			inputtest.CheckResponse(t, w)
			if tt.wantFields != nil {
				if diff := cmp.Diff(tt.wantFields, fieldNames(decodeProblem(t, w.Body.Bytes()))); diff != "" {
					t.Errorf("invalid fields (-want +got):\n%s", diff)
				}
			}
			stored, err := e.store.ListReminders(context.Background(), notifications.ListFilter{AccountID: alice.id, Limit: notifications.MaxListLimit})
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != 0 {
				t.Errorf("a refused request stored %d reminders", len(stored))
			}
			list := e.do(t, alice, http.MethodGet, "/api/v1/notifications", nil)
			if list.Code != http.StatusOK || !json.Valid(list.Body.Bytes()) {
				t.Errorf("the list answers %d %q afterwards", list.Code, list.Body)
			}
		})
	}
}

// TestAReminderThatCannotBeShownIsA500 stores a reminder as the service stored one before
// it checked the year of send_at: the list and the reminder answer a 500 problem, not a
// success with an empty body.
func TestAReminderThatCannotBeShownIsA500(t *testing.T) {
	e := withEvents(newEnv(t, envOptions{}))
	ev := testEvent("ev-1", now.Add(48*time.Hour))
	r := notifications.Reminder{
		ID: "rem-10000", AccountID: alice.id, EventID: ev.ID, Email: alice.email,
		SendAt: time.Date(10000, 1, 1, 9, 59, 59, 0, time.UTC), Status: notifications.StatusScheduled,
		CreatedAt: now, Event: ev,
	}
	if err := e.store.CreateReminder(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/notifications", "/api/v1/notifications/rem-10000"} {
		w := e.do(t, alice, http.MethodGet, path, nil)
		if w.Code != http.StatusInternalServerError || w.Header().Get("Content-Type") != problem.ContentType || w.Body.Len() == 0 {
			t.Errorf("GET %s: %d %q %q, want a 500 problem", path, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
	}
}

func TestListNotificationsRefusesMalformedQueries(t *testing.T) {
	e := withEvents(newEnv(t, envOptions{}))
	e.create(t, alice, map[string]any{"event_id": "ev-1", "minutes_before": 10})
	for _, query := range append([]string{"status=%zz", "event_id=ev-1%", "status=scheduled;event_id=ev-1"}, inputtest.BadQueries...) {
		w := e.do(t, alice, http.MethodGet, "/api/v1/notifications?"+query, nil)
		if w.Code != http.StatusBadRequest {
			t.Errorf("GET ?%s: %d %s, want 400", query, w.Code, w.Body)
			continue
		}
		inputtest.CheckResponse(t, w)
		var p struct{ Detail string }
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || !strings.Contains(p.Detail, "query string") {
			t.Errorf("GET ?%s: detail %s does not say what is wrong", query, w.Body)
		}
	}
}
