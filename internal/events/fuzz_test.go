package events_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/events"
)

// FuzzCreateEvent posts arbitrary bodies: the answer is never a 5xx, and a 201 holds an
// event that can be read back.
func FuzzCreateEvent(f *testing.F) {
	for _, seed := range []string{
		`{"title": "T", "starts_at": "2030-07-14T20:30:00Z"}`,
		`{"title": "T", "starts_at": "2030-07-14T20:30:00+02:00", "ends_at": "2030-07-14T22:30:00+02:00", "timezone": "Europe/Paris",
		  "location": {"name": "P", "address": "A", "lat": 1.5, "lon": -2}, "online_url": "https://x.example", "category": "c",
		  "tags": ["a", "B"], "capacity": 10}`,
		`{"title": null}`, `{"location": {"lat": 1e400}}`, `{"capacity": 99999999999999999999}`, `[]`, `null`, `"x"`, `{`,
		`{"tags": [null, 1, "x"]}`, `{"timezone": "../etc"}`, `{"starts_at": "9999-12-31T23:59:59.999999999-23:59"}`,
		`{"title": "T", "starts_at": "2030-07-14T20:30:00Z", "ends_at": "0000-01-01T00:00:00Z"}`,
	} {
		f.Add(seed)
	}
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, body string) {
		w := fx.do(t, request{method: "POST", path: "/api/v1/events", body: body, caller: alice, contentType: "application/json"})
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		if w.Code != http.StatusCreated {
			return
		}
		e := decode[events.Event](t, w)
		got := fx.do(t, request{method: "GET", path: "/api/v1/events/" + e.ID})
		if got.Code != http.StatusOK || strings.TrimSpace(got.Body.String()) != strings.TrimSpace(w.Body.String()) {
			t.Fatalf("read back %d %s, want %s", got.Code, got.Body, w.Body)
		}
		if !e.StartsAt.After(testNow) || e.Title == "" || e.Tags == nil {
			t.Fatalf("invalid event stored: %+v", e)
		}
	})
}

// FuzzPatchEvent applies arbitrary merge patches: the answer is never a 5xx, and the event
// stays valid.
func FuzzPatchEvent(f *testing.F) {
	for _, seed := range []string{
		`{"title": "New"}`, `{"location": {"lat": null}}`, `{"location": {"name": {"x": 1}}}`, `{"tags": null}`,
		`{"starts_at": "2031-01-01T00:00:00Z", "ends_at": null}`, `{"title": null}`, `{"a": 1}`, `[]`, `{}`, `1`,
		`{"capacity": 1.5}`, `{"location": 5}`, `{"timezone": null, "category": "x"}`,
	} {
		f.Add(seed)
	}
	fx := newFixture(f)
	e := fx.create(f, alice, `{"title": "T", "starts_at": "`+testNow.Add(time.Hour).Format(time.RFC3339)+`",
		"location": {"name": "P", "lat": 1, "lon": 2}, "tags": ["a"]}`)
	f.Fuzz(func(t *testing.T, patch string) {
		w := fx.do(t, request{method: "PATCH", path: "/api/v1/events/" + e.ID, body: patch, caller: alice})
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, patch, w.Body)
		}
		if w.Code == http.StatusOK {
			got := decode[events.Event](t, w)
			if got.Title == "" || got.Tags == nil || got.ID != e.ID || got.OrganizerID != alice {
				t.Fatalf("invalid event after %q: %+v", patch, got)
			}
		}
	})
}
