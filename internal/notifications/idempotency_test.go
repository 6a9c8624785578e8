package notifications_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/idempotency"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// postWithKey sets a reminder as c with the Idempotency-Key key.
func (e *env) postWithKey(t *testing.T, c caller, key, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/notifications", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(idempotency.Header, key)
	keys.Sign(req, "gateway", "notifications", svcauth.Claims{AccountID: c.id, Email: c.email, ClientIP: "192.0.2.1"})
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

func TestCreateWithIdempotencyKey(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.events.put(testEvent("ev-1", now.Add(48*time.Hour)))
	body := `{"event_id": "ev-1", "minutes_before": 60}`
	reminders := func() int {
		t.Helper()
		rs, err := e.store.ListReminders(context.Background(), notifications.ListFilter{AccountID: alice.id, Limit: notifications.MaxListLimit})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}

	first := e.postWithKey(t, alice, "retry-1", body)
	second := e.postWithKey(t, alice, "retry-1", body)
	if first.Code != http.StatusCreated || first.Header().Get(idempotency.ReplayedHeader) != "" {
		t.Fatalf("first: %d %s (replayed %q)", first.Code, first.Body, first.Header().Get(idempotency.ReplayedHeader))
	}
	if second.Code != http.StatusCreated || second.Header().Get(idempotency.ReplayedHeader) != "true" {
		t.Errorf("second: %d, %s %q; want 201 replayed", second.Code, idempotency.ReplayedHeader, second.Header().Get(idempotency.ReplayedHeader))
	}
	if second.Body.String() != first.Body.String() || second.Header().Get("Location") != first.Header().Get("Location") {
		t.Errorf("second answer %s (Location %q), want the first's %s (Location %q)",
			second.Body, second.Header().Get("Location"), first.Body, first.Header().Get("Location"))
	}
	if n := reminders(); n != 1 {
		t.Errorf("%d reminders after two POSTs with one key, want 1", n)
	}

	for name, w := range map[string]*httptest.ResponseRecorder{
		"same key, other body":    e.postWithKey(t, alice, "retry-1", `{"event_id": "ev-1", "minutes_before": 30}`),
		"key with a control byte": e.postWithKey(t, alice, "a\x01b", body),
	} {
		var p struct {
			Errors []struct{ Field string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != http.StatusUnprocessableEntity ||
			len(p.Errors) != 1 || p.Errors[0].Field != idempotency.Header {
			t.Errorf("%s: %d %s, want 422 naming %s", name, w.Code, w.Body, idempotency.Header)
		}
	}
	if n := reminders(); n != 1 {
		t.Errorf("%d reminders after refused requests, want 1", n)
	}
}
