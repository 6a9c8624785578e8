package events_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/platform/idempotency"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// postWithKey creates an event as caller with the Idempotency-Key key.
func (f *fixture) postWithKey(t *testing.T, caller, key, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/api/v1/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(idempotency.Header, key)
	keys.Sign(req, "gateway", "events", svcauth.Claims{AccountID: caller, Email: caller + "@example.com", ClientIP: "192.0.2.1"})
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, req)
	return w
}

// eventsOf returns the IDs of caller's events.
func (f *fixture) eventsOf(t *testing.T, caller string) []string {
	t.Helper()
	page, err := f.store.Search(context.Background(), events.SearchQuery{Limit: 100, From: new(testNow.Add(-time.Hour)), OrganizerID: caller})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range page.Events {
		ids = append(ids, e.ID)
	}
	return ids
}

func TestCreateWithIdempotencyKey(t *testing.T) {
	body := `{"title": "Jazz night", "starts_at": "` + future(24*time.Hour) + `"}`
	f := newFixture(t)

	first := f.postWithKey(t, alice, "retry-1", body)
	second := f.postWithKey(t, alice, "retry-1", body)
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
	id := decode[events.Event](t, first).ID
	if got := f.eventsOf(t, alice); !slices.Equal(got, []string{id}) {
		t.Errorf("events after two POSTs with one key: %v, want [%s]", got, id)
	}
	if n := len(f.outbox(t)); n != 1 {
		t.Errorf("%d messages in the outbox, want 1", n)
	}

	other := f.postWithKey(t, alice, "retry-1", strings.Replace(body, "Jazz", "Folk", 1))
	if other.Code != http.StatusUnprocessableEntity || !slices.Equal(fieldsOf(t, other), []string{idempotency.Header}) {
		t.Errorf("same key, other body: %d %s, want 422 naming %s", other.Code, other.Body, idempotency.Header)
	}
	bad := f.postWithKey(t, alice, strings.Repeat("k", 256), body)
	if bad.Code != http.StatusUnprocessableEntity || !slices.Equal(fieldsOf(t, bad), []string{idempotency.Header}) {
		t.Errorf("a 256-character key: %d %s, want 422 naming %s", bad.Code, bad.Body, idempotency.Header)
	}
	if got := f.eventsOf(t, alice); len(got) != 1 {
		t.Errorf("refused requests created events: %v", got)
	}

	// The key is the caller's: another account's same key creates its own event.
	if w := f.postWithKey(t, bob, "retry-1", body); w.Code != http.StatusCreated || w.Header().Get(idempotency.ReplayedHeader) != "" {
		t.Errorf("bob with alice's key: %d replayed %q, want a new 201", w.Code, w.Header().Get(idempotency.ReplayedHeader))
	}
	if got := f.eventsOf(t, bob); len(got) != 1 {
		t.Errorf("bob's events: %v, want one", got)
	}
}
