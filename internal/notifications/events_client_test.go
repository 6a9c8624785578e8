package notifications_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

func TestHTTPEventSource(t *testing.T) {
	ev := testEvent("ev/1", now.Add(48*time.Hour))
	seen := make(chan *http.Request, 10)
	srv := httptest.NewServer(asEvents(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r
		switch r.URL.EscapedPath() {
		case "/api/v1/events/ev%2F1":
			// The events service answers more fields than the snapshot keeps.
			b, _ := json.Marshal(ev)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			m["capacity"] = 20
			httpx.WriteJSON(w, http.StatusOK, m)
		case "/api/v1/events/boom":
			problem.Write(w, r, nil, errors.New("boom"))
		case "/api/v1/events/garbage":
			w.Write([]byte("<html>"))
		default:
			problem.Write(w, r, nil, problem.ErrNotFound)
		}
	})))
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()

	source := func(urls ...string) *notifications.HTTPEventSource {
		return eventSource(urls...)
	}
	tests := []struct {
		name       string
		src        *notifications.HTTPEventSource
		id         string
		want       messages.Event
		wantStatus int // of the *problem.Error; 0 for success
	}{
		{"found, with an ID that needs escaping", source(srv.URL), "ev/1", ev, 0},
		{"unknown event", source(srv.URL), "nope", messages.Event{}, http.StatusNotFound},
		{"events answers 500", source(srv.URL), "boom", messages.Event{}, http.StatusServiceUnavailable},
		{"events answers garbage", source(srv.URL), "garbage", messages.Event{}, http.StatusServiceUnavailable},
		{"events unreachable", source(dead.URL), "ev/1", messages.Event{}, http.StatusServiceUnavailable},
		{"no events instance", source(), "ev/1", messages.Event{}, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := logging.WithRequestID(context.Background(), "req-"+tt.name)
			got, err := tt.src.Event(ctx, tt.id)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("event mismatch (-want +got):\n%s", diff)
				}
			} else {
				var pe *problem.Error
				if !errors.As(err, &pe) || pe.Status != tt.wantStatus {
					t.Fatalf("error = %v, want a %d problem", err, tt.wantStatus)
				}
				if tt.wantStatus == http.StatusNotFound && !errors.Is(err, notifications.ErrEventNotFound) {
					t.Errorf("error = %v, want ErrEventNotFound", err)
				}
				if tt.wantStatus == http.StatusServiceUnavailable && pe.RetryAfter != 5*time.Second {
					t.Errorf("Retry-After %v, want 5s", pe.RetryAfter)
				}
			}
			select {
			case r := <-seen:
				if got := r.Header.Get(httpx.HeaderRequestID); got != "req-"+tt.name {
					t.Errorf("X-Request-Id = %q, want the caller's request ID", got)
				}
				if r.Method != http.MethodGet {
					t.Errorf("method %s, want GET", r.Method)
				}
			default:
			}
		})
	}
}

func TestCreateThroughHTTPEventSource(t *testing.T) {
	// The whole path: POST → events service over HTTP → stored snapshot.
	ev := testEvent("ev-1", now.Add(48*time.Hour))
	srv := httptest.NewServer(asEvents(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/events/ev-1" {
			problem.Write(w, r, nil, problem.ErrNotFound)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, ev)
	})))
	defer srv.Close()
	store := openSQLite(t)
	svc, err := notifications.New(notifications.DefaultConfig(), notifications.Deps{
		Common: svcdeps.Common{Log: logging.Discard(), Now: func() time.Time { return now }},
		Store:  store,
		Events: eventSource(srv.URL), Verifier: keys.Verifier("notifications", "gateway"),
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{svc: svc, store: store, h: svc.Handler()}
	id := e.create(t, alice, map[string]any{"event_id": "ev-1", "minutes_before": 30})
	snap, err := store.Snapshot(context.Background(), "ev-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ev, snap); diff != "" {
		t.Errorf("snapshot mismatch (-want +got):\n%s", diff)
	}
	if got := e.reminder(t, id).SendAt; !got.Equal(ev.StartsAt.Add(-30 * time.Minute)) {
		t.Errorf("send_at %v, want 30 minutes before %v", got, ev.StartsAt)
	}
	if w := e.do(t, alice, http.MethodPost, "/api/v1/notifications", map[string]any{"event_id": "ev-2", "minutes_before": 30}); w.Code != http.StatusNotFound {
		t.Errorf("unknown event: status %d, want 404", w.Code)
	}
	srv.Close()
	w := e.do(t, alice, http.MethodPost, "/api/v1/notifications", map[string]any{"event_id": "ev-1", "minutes_before": 30})
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" {
		t.Errorf("events down: status %d, Retry-After %q; want 503, 5", w.Code, w.Header().Get("Retry-After"))
	}
}
