package notifications_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/paging"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

// problemBody is what the tests read of a problem response.
type problemBody struct {
	Status int                  `json:"status"`
	Detail string               `json:"detail"`
	Errors []problem.FieldError `json:"errors"`
}

func decodeProblem(t *testing.T, body []byte) problemBody {
	t.Helper()
	var p problemBody
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %s: %v", body, err)
	}
	return p
}

func fieldNames(p problemBody) []string {
	out := []string{}
	for _, f := range p.Errors {
		out = append(out, f.Field)
	}
	return out
}

// withEvents adds the events the handler tests remind of.
func withEvents(e *env) *env {
	e.events.put(testEvent("ev-1", now.Add(48*time.Hour)))
	e.events.put(testEvent("ev-far", now.Add(60*24*time.Hour)))
	e.events.put(testEvent("ev-soon", now.Add(10*time.Minute)))
	return e
}

func TestCreateNotification(t *testing.T) {
	ev1 := map[string]any{"title": "Title of ev-1", "starts_at": "2030-01-03T12:00:00Z", "timezone": "Europe/Paris"}
	created := func(sendAt string, minutes any, email, note string, event map[string]any) map[string]any {
		eventID := "ev-1"
		if event == nil {
			event = ev1
		} else {
			eventID = "ev-far"
		}
		return map[string]any{
			"event_id": eventID, "email": email, "send_at": sendAt, "minutes_before": minutes, "note": note,
			"status": "scheduled", "created_at": "2030-01-01T12:00:00Z", "sent_at": nil, "last_error": nil,
			"event": event,
		}
	}
	tests := []struct {
		name        string
		caller      caller
		body        any
		wantStatus  int
		wantFields  []string          // for 422
		want        map[string]any    // for 201, without id
		wantHeaders map[string]string // checked when set
	}{
		{
			name: "minutes before the start", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "minutes_before": 60},
			wantStatus: http.StatusCreated,
			want:       created("2030-01-03T11:00:00Z", 60.0, "alice@example.com", "", nil),
		},
		{
			name: "zero minutes before is at the start", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "minutes_before": 0},
			wantStatus: http.StatusCreated,
			want:       created("2030-01-03T12:00:00Z", 0.0, "alice@example.com", "", nil),
		},
		{
			name: "the longest lead time", caller: alice,
			body:       map[string]any{"event_id": "ev-far", "minutes_before": 40320},
			wantStatus: http.StatusCreated,
			want: created("2030-02-02T12:00:00Z", 40320.0, "alice@example.com", "", map[string]any{
				"title": "Title of ev-far", "starts_at": "2030-03-02T12:00:00Z", "timezone": "Europe/Paris"}),
		},
		{
			name: "absolute time with an offset is answered in UTC, with email (own, in other case) and note", caller: alice,
			body: map[string]any{"event_id": "ev-1", "send_at": "2030-01-02T09:15:00+02:00",
				"email": "Alice@Example.COM", "note": "bring the tickets"},
			wantStatus: http.StatusCreated,
			want:       created("2030-01-02T07:15:00Z", nil, "Alice@Example.COM", "bring the tickets", nil),
		},
		{
			name: "a note of 500 characters", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "minutes_before": 5, "note": strings.Repeat("é", 500)},
			wantStatus: http.StatusCreated,
			want:       created("2030-01-03T11:55:00Z", 5.0, "alice@example.com", strings.Repeat("é", 500), nil),
		},
		{
			name: "both minutes_before and send_at", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "minutes_before": 5, "send_at": "2030-01-02T09:15:00Z"},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"minutes_before", "send_at"},
		},
		{
			name: "neither minutes_before nor send_at", caller: alice,
			body:       map[string]any{"event_id": "ev-1"},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"minutes_before", "send_at"},
		},
		{
			name: "negative minutes_before", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "minutes_before": -1},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"minutes_before"},
		},
		{
			name: "minutes_before above four weeks", caller: alice,
			body:       map[string]any{"event_id": "ev-far", "minutes_before": 40321},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"minutes_before"},
		},
		{
			name: "minutes_before not an integer", caller: alice,
			body:       `{"event_id": "ev-1", "minutes_before": 1.5}`,
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"minutes_before"},
		},
		{
			name: "minutes_before a string", caller: alice,
			body:       `{"event_id": "ev-1", "minutes_before": "5"}`,
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"minutes_before"},
		},
		{
			name: "send_at without an offset", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "send_at": "2030-01-02T09:15:00"},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"send_at"},
		},
		{
			name: "send_at not a time", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "send_at": "tomorrow"},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"send_at"},
		},
		{
			name: "send_at in the past", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "send_at": "2029-12-31T12:00:00Z"},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"send_at"},
		},
		{
			name: "send_at now is not in the future", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "send_at": "2030-01-01T13:00:00+01:00"},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"send_at"},
		},
		{
			name: "computed send_at in the past", caller: alice,
			body:       map[string]any{"event_id": "ev-soon", "minutes_before": 10},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"minutes_before"},
		},
		{
			name: "no event_id", caller: alice,
			body:       map[string]any{"minutes_before": 10},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"event_id"},
		},
		{
			name: "every invalid field at once", caller: alice,
			body:       map[string]any{"minutes_before": 50000, "email": "nope", "note": strings.Repeat("x", 501)},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"event_id", "minutes_before", "email", "note"},
		},
		{
			name: "email with a display name", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "minutes_before": 10, "email": "Alice <alice@example.com>"},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"email"},
		},
		{
			name: "email with a line break", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "minutes_before": 10, "email": "alice@example.com\r\nBcc: x@y.z"},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"email"},
		},
		{
			name: "empty email", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "minutes_before": 10, "email": ""},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"email"},
		},
		{
			name: "note of 501 characters", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "minutes_before": 10, "note": strings.Repeat("é", 501)},
			wantStatus: http.StatusUnprocessableEntity, wantFields: []string{"note"},
		},
		{
			name: "unknown event", caller: alice,
			body:       map[string]any{"event_id": "no-such-event", "minutes_before": 10},
			wantStatus: http.StatusNotFound,
		},
		{
			name: "events service down", caller: alice,
			body:        map[string]any{"event_id": "down", "minutes_before": 10},
			wantStatus:  http.StatusServiceUnavailable,
			wantHeaders: map[string]string{"Retry-After": "5", "Content-Type": problem.ContentType},
		},
		{
			name: "unknown field", caller: alice,
			body:       map[string]any{"event_id": "ev-1", "minutes_before": 10, "minutes": 10},
			wantStatus: http.StatusBadRequest,
		},
		{
			name: "malformed JSON", caller: alice,
			body:       `{"event_id": `,
			wantStatus: http.StatusBadRequest,
		},
		{
			name: "no caller", caller: nobody,
			body:       map[string]any{"event_id": "ev-1", "minutes_before": 10},
			wantStatus: http.StatusUnauthorized,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := withEvents(newEnv(t, envOptions{}))
			w := e.do(t, tt.caller, http.MethodPost, "/api/v1/notifications", tt.body)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			for k, v := range tt.wantHeaders {
				if got := w.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			stored, err := e.store.ListReminders(context.Background(), notifications.ListFilter{AccountID: alice.id, Limit: notifications.MaxListLimit})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantStatus != http.StatusCreated {
				if got := w.Header().Get("Content-Type"); got != problem.ContentType {
					t.Errorf("Content-Type = %q, want %q", got, problem.ContentType)
				}
				if tt.wantFields != nil {
					if diff := cmp.Diff(tt.wantFields, fieldNames(decodeProblem(t, w.Body.Bytes()))); diff != "" {
						t.Errorf("invalid fields mismatch (-want +got):\n%s", diff)
					}
				}
				if len(stored) != 0 {
					t.Errorf("a rejected request stored %d reminders", len(stored))
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			id, _ := got["id"].(string)
			delete(got, "id")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
			if loc := w.Header().Get("Location"); loc != "/api/v1/notifications/"+id {
				t.Errorf("Location = %q, want /api/v1/notifications/%s", loc, id)
			}
			if len(stored) != 1 || stored[0].ID != id || stored[0].Status != notifications.StatusScheduled {
				t.Fatalf("stored reminders = %+v, want the one created", stored)
			}
			if e.outbox.count() != 0 {
				t.Errorf("creating a reminder woke the outbox relay; it queues no message")
			}
			// The API answers the same thing for the stored reminder.
			w = e.do(t, tt.caller, http.MethodGet, "/api/v1/notifications/"+id, nil)
			var again map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &again); err != nil {
				t.Fatal(err)
			}
			delete(again, "id")
			if diff := cmp.Diff(tt.want, again); diff != "" {
				t.Errorf("GET body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCreateNotificationNotJSON(t *testing.T) {
	e := withEvents(newEnv(t, envOptions{}))
	req := httptest.NewRequest(http.MethodPost, "/api/v1/notifications", strings.NewReader(`{"event_id": "ev-1", "minutes_before": 10}`))
	req.Header.Set("Content-Type", "text/plain")
	signAsGateway(req, alice)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("status = %d, want 415", w.Code)
	}
}

// listEnv is alice with reminders in every state, and bob with one.
type listEnv struct {
	*env
	soonCancelled, sending, scheduledEv1, scheduledFar, bobs string
}

func newListEnv(t *testing.T) listEnv {
	e := withEvents(newEnv(t, envOptions{}))
	l := listEnv{env: e}
	l.scheduledFar = e.create(t, alice, map[string]any{"event_id": "ev-far", "minutes_before": 60})
	l.scheduledEv1 = e.create(t, alice, map[string]any{"event_id": "ev-1", "minutes_before": 60})
	l.sending = e.create(t, alice, map[string]any{"event_id": "ev-1", "send_at": "2030-01-01T12:30:00Z"})
	l.soonCancelled = e.create(t, alice, map[string]any{"event_id": "ev-far", "send_at": "2030-01-01T12:05:00Z"})
	l.bobs = e.create(t, bob, map[string]any{"event_id": "ev-1", "minutes_before": 120})
	e.setStatus(t, l.sending, notifications.StatusScheduled, notifications.StatusSending)
	e.setStatus(t, l.soonCancelled, notifications.StatusScheduled, notifications.StatusCancelled)
	return l
}

// listBody is what the tests read of a NotificationList.
type listBody struct {
	Items *[]struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"items"`
	// NextCursor is a json.RawMessage so that a missing member is told from null.
	NextCursor json.RawMessage `json:"next_cursor"`
}

// decodeList reads a NotificationList: its IDs, and its next_cursor ("" when null). It fails
// the test when items or next_cursor is missing, or items is null.
func decodeList(t *testing.T, w *httptest.ResponseRecorder) (ids []string, next string) {
	t.Helper()
	var body listBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Items == nil {
		t.Fatalf("items is missing or null: %s", w.Body)
	}
	switch {
	case body.NextCursor == nil:
		t.Fatalf("next_cursor is missing: %s", w.Body)
	case string(body.NextCursor) != "null":
		if err := json.Unmarshal(body.NextCursor, &next); err != nil || next == "" {
			t.Fatalf("next_cursor %s is not a cursor: %v", body.NextCursor, err)
		}
	}
	ids = []string{}
	for _, it := range *body.Items {
		ids = append(ids, it.ID)
	}
	return ids, next
}

func TestListNotifications(t *testing.T) {
	l := newListEnv(t)
	tests := []struct {
		name       string
		caller     caller
		query      string
		wantStatus int
		want       []string
		wantFields []string
	}{
		{"own only, soonest first", alice, "", 200, []string{l.soonCancelled, l.sending, l.scheduledEv1, l.scheduledFar}, nil},
		{"by status", alice, "?status=scheduled", 200, []string{l.scheduledEv1, l.scheduledFar}, nil},
		{"by another status", alice, "?status=cancelled", 200, []string{l.soonCancelled}, nil},
		{"by event", alice, "?event_id=ev-1", 200, []string{l.sending, l.scheduledEv1}, nil},
		{"by status and event", alice, "?event_id=ev-far&status=scheduled", 200, []string{l.scheduledFar}, nil},
		{"none match", alice, "?status=sent", 200, []string{}, nil},
		{"someone else sees only theirs", bob, "", 200, []string{l.bobs}, nil},
		{"nothing at all", caller{"acc-carol", "carol@example.com"}, "", 200, []string{}, nil},
		{"empty parameters count as absent", alice, "?status=&event_id=&limit=&cursor=", 200,
			[]string{l.soonCancelled, l.sending, l.scheduledEv1, l.scheduledFar}, nil},
		{"unknown status", alice, "?status=done", 422, nil, []string{"status"}},
		{"status twice", alice, "?status=sent&status=failed", 422, nil, []string{"status"}},
		{"event_id too long", alice, "?event_id=" + strings.Repeat("e", 201), 422, nil, []string{"event_id"}},
		{"event_id not UTF-8", alice, "?event_id=%ff", 422, nil, []string{"event_id"}},
		{"event_id with NUL", alice, "?event_id=a%00b", 422, nil, []string{"event_id"}},
		{"limit 0", alice, "?limit=0", 422, nil, []string{"limit"}},
		{"limit 101", alice, "?limit=101", 422, nil, []string{"limit"}},
		{"limit not a number", alice, "?limit=ten", 422, nil, []string{"limit"}},
		{"limit not an integer", alice, "?limit=2.5", 422, nil, []string{"limit"}},
		{"limit negative", alice, "?limit=-1", 422, nil, []string{"limit"}},
		{"limit twice", alice, "?limit=1&limit=2", 422, nil, []string{"limit"}},
		{"malformed cursor", alice, "?cursor=nonsense!", 422, nil, []string{"cursor"}},
		{"cursor of base64 garbage", alice, "?cursor=bm90aGluZw", 422, nil, []string{"cursor"}},
		{"cursor cut short", alice, "?cursor=" + paging.EncodeKey(paging.Key{Time: now, ID: "r"})[:5], 422, nil, []string{"cursor"}},
		{"cursor with NUL", alice, "?cursor=" + paging.EncodeKey(paging.Key{Time: now, ID: "a\x00"}), 422, nil, []string{"cursor"}},
		{"every invalid parameter named", alice, "?status=x&limit=0&cursor=x", 422, nil, []string{"status", "limit", "cursor"}},
		{"no caller", nobody, "", 401, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := l.do(t, tt.caller, http.MethodGet, "/api/v1/notifications"+tt.query, nil)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus == 422 {
				if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type = %q, want application/problem+json", ct)
				}
				if diff := cmp.Diff(tt.wantFields, fieldNames(decodeProblem(t, w.Body.Bytes()))); diff != "" {
					t.Errorf("invalid fields mismatch (-want +got):\n%s", diff)
				}
			}
			if tt.want == nil {
				return
			}
			got, next := decodeList(t, w)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("listed IDs mismatch (-want +got):\n%s", diff)
			}
			if next != "" {
				t.Errorf("next_cursor = %q on the only page, want null", next)
			}
		})
	}
}

// TestListNotificationsPages pages through alice's reminders: a page holds limit of them
// (50 by default), next_cursor leads to the next page and is null on the last one, and the
// filters hold on every page.
func TestListNotificationsPages(t *testing.T) {
	e := withEvents(newEnv(t, envOptions{}))
	var want, wantEv1 []string
	for i := range 53 {
		ev := "ev-far"
		if i%3 == 0 {
			ev = "ev-1"
		}
		// Minutes before the start, so that the list order is the reverse of creation.
		id := e.create(t, alice, map[string]any{"event_id": ev, "minutes_before": 1000 + i})
		want = append(want, id)
		if ev == "ev-1" {
			wantEv1 = append(wantEv1, id)
		}
	}
	e.create(t, bob, map[string]any{"event_id": "ev-1", "minutes_before": 10})
	// ev-1 starts before ev-far: its reminders come first, and the later minutes_before first.
	order := func(ids []string) []string {
		out := slices.Clone(ids)
		slices.SortFunc(out, func(x, y string) int {
			a, b := e.reminder(t, x), e.reminder(t, y)
			if c := a.SendAt.Compare(b.SendAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		return out
	}
	want, wantEv1 = order(want), order(wantEv1)

	t.Run("default limit is 50", func(t *testing.T) {
		got, next := decodeList(t, e.do(t, alice, http.MethodGet, "/api/v1/notifications", nil))
		if diff := cmp.Diff(want[:50], got); diff != "" {
			t.Errorf("first page mismatch (-want +got):\n%s", diff)
		}
		if next == "" {
			t.Fatal("next_cursor is null with 3 reminders to go")
		}
		got, next = decodeList(t, e.do(t, alice, http.MethodGet, "/api/v1/notifications?cursor="+url.QueryEscape(next), nil))
		if diff := cmp.Diff(want[50:], got); diff != "" {
			t.Errorf("second page mismatch (-want +got):\n%s", diff)
		}
		if next != "" {
			t.Errorf("next_cursor = %q on the last page, want null", next)
		}
	})
	for _, tt := range []struct {
		name, query string
		want        []string
	}{
		{"limit=1", "limit=1", want},
		{"limit=7", "limit=7", want},
		{"limit=53, exactly all", "limit=53", want},
		{"limit=100", "limit=100", want},
		{"by event, limit=4", "event_id=ev-1&limit=4", wantEv1},
		{"by status and event, limit=5", "status=scheduled&event_id=ev-1&limit=5", wantEv1},
		{"by another status", "status=sent&limit=2", []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			limit, err := strconv.Atoi(v.Get("limit"))
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for page := 0; ; page++ {
				got, next := decodeList(t, e.do(t, alice, http.MethodGet, "/api/v1/notifications?"+v.Encode(), nil))
				if len(got) > limit {
					t.Fatalf("page %d holds %d reminders, more than %d", page, len(got), limit)
				}
				all = append(all, got...)
				if next == "" {
					break
				}
				if len(got) != limit {
					t.Fatalf("page %d holds %d reminders, not %d, and is not the last", page, len(got), limit)
				}
				if page > 100 {
					t.Fatal("paging does not end")
				}
				v.Set("cursor", next)
			}
			if diff := cmp.Diff(tt.want, append([]string{}, all...)); diff != "" {
				t.Errorf("pages joined mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetNotification(t *testing.T) {
	l := newListEnv(t)
	tests := []struct {
		name            string
		caller          caller
		id              string
		wantStatus      int
		wantStatusField string
	}{
		{"own", alice, l.sending, 200, "sending"},
		{"own cancelled", alice, l.soonCancelled, 200, "cancelled"},
		{"someone else's", bob, l.sending, 404, ""},
		{"unknown", alice, "0190aaaa-0000-7000-8000-000000000000", 404, ""},
		{"no caller", nobody, l.sending, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := l.do(t, tt.caller, http.MethodGet, "/api/v1/notifications/"+tt.id, nil)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus != 200 {
				if p := decodeProblem(t, w.Body.Bytes()); p.Status != tt.wantStatus {
					t.Errorf("problem status = %d, want %d", p.Status, tt.wantStatus)
				}
				return
			}
			var n struct{ ID, Status string }
			if err := json.Unmarshal(w.Body.Bytes(), &n); err != nil {
				t.Fatal(err)
			}
			if n.ID != tt.id || n.Status != tt.wantStatusField {
				t.Errorf("got %+v, want id %s status %s", n, tt.id, tt.wantStatusField)
			}
		})
	}
}

func TestDeleteNotification(t *testing.T) {
	tests := []struct {
		name       string
		caller     caller
		pick       func(l listEnv) string
		wantStatus int
		wantAfter  notifications.Status
	}{
		{"own scheduled is cancelled", alice, func(l listEnv) string { return l.scheduledEv1 }, 204, notifications.StatusCancelled},
		{"own sending stays sending", alice, func(l listEnv) string { return l.sending }, 204, notifications.StatusSending},
		{"own cancelled stays cancelled", alice, func(l listEnv) string { return l.soonCancelled }, 204, notifications.StatusCancelled},
		{"someone else's is not found and kept", bob, func(l listEnv) string { return l.scheduledEv1 }, 404, notifications.StatusScheduled},
		{"no caller", nobody, func(l listEnv) string { return l.scheduledEv1 }, 401, notifications.StatusScheduled},
		{"unknown", alice, func(listEnv) string { return "nope" }, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newListEnv(t)
			id := tt.pick(l)
			w := l.do(t, tt.caller, http.MethodDelete, "/api/v1/notifications/"+id, nil)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus == 204 && w.Body.Len() != 0 {
				t.Errorf("204 with a body: %s", w.Body)
			}
			if tt.wantAfter != "" {
				if got := l.reminder(t, id).Status; got != tt.wantAfter {
					t.Errorf("status after DELETE = %s, want %s", got, tt.wantAfter)
				}
			}
			// A second DELETE answers the same.
			if w := l.do(t, tt.caller, http.MethodDelete, "/api/v1/notifications/"+id, nil); w.Code != tt.wantStatus {
				t.Errorf("second DELETE: status %d, want %d", w.Code, tt.wantStatus)
			}
		})
	}
}

func TestOperationalAndUnknownRoutes(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{"GET", "/healthz", 200, `"ok"`},
		{"GET", "/readyz", 200, `"ready"`},
		{"GET", "/metrics", 200, "notifications_reminders_scheduled 0"},
		{"GET", "/api/v1/nothing-here", 404, `"status":404`},
		{"GET", "/api/v1/notifications/a/b", 404, `"status":404`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := e.do(t, alice, tt.method, tt.path, nil)
			if w.Code != tt.wantStatus || !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("status %d body %q; want %d containing %q", w.Code, w.Body, tt.wantStatus, tt.wantBody)
			}
			if w.Header().Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id on the response")
			}
		})
	}
}
