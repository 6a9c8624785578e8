package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/paging"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

const alice, bob = "alice-account", "bob-account"

func TestCreateEvent(t *testing.T) {
	start := future(24 * time.Hour)
	t.Run("minimal body", func(t *testing.T) {
		f := newFixture(t)
		w := f.do(t, request{method: "POST", path: "/api/v1/events", caller: alice,
			body: `{"title": "Jazz night", "starts_at": "` + start + `"}`})
		if w.Code != http.StatusCreated {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		var got map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		id, _ := got["id"].(string)
		if id == "" {
			t.Fatalf("no id in %s", w.Body)
		}
		if loc := w.Header().Get("Location"); loc != "/api/v1/events/"+id {
			t.Errorf("Location = %q, want /api/v1/events/%s", loc, id)
		}
		want := map[string]any{
			"id": id, "organizer_id": alice, "title": "Jazz night", "description": "", "starts_at": start,
			"ends_at": nil, "timezone": "UTC", "location": nil, "online_url": nil, "category": nil,
			"tags": []any{}, "capacity": nil, "created_at": "2030-01-10T12:00:00Z", "updated_at": "2030-01-10T12:00:00Z",
			"sequence": float64(0), "going_count": float64(0), "interested_count": float64(0), "spots_left": nil,
			"organizer": map[string]any{"id": alice, "display_name": ""}, "default_reminders": []any{},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
		stored := f.do(t, request{method: "GET", path: "/api/v1/events/" + id})
		if stored.Code != http.StatusOK || stored.Body.String() != w.Body.String() {
			t.Errorf("GET after POST = %d %s, want the POST's body", stored.Code, stored.Body)
		}
		msgs := f.outbox(t)
		if len(msgs) != 1 || msgs[0].Type != messages.TypeEventChanged {
			t.Fatalf("outbox = %+v, want one event.changed", msgs)
		}
		if c := msgs[0].Changed; c.Event.ID != id || c.Event.Title != "Jazz night" || c.PreviousStartsAt != nil ||
			c.Event.OrganizerID != alice || !c.Event.StartsAt.Equal(testNow.Add(24*time.Hour)) {
			t.Errorf("event.changed = %+v", c)
		}
		if n := f.notifier.n.Load(); n != 1 {
			t.Errorf("outbox notified %d times, want 1", n)
		}
	})
	t.Run("every field", func(t *testing.T) {
		f := newFixture(t)
		e := f.create(t, alice, `{
			"title": "Sommerfest ☀", "description": "Bring friends.",
			"starts_at": "2030-07-14T20:30:00.5+02:00", "ends_at": "2030-07-14T23:00:00+02:00",
			"timezone": "Europe/Berlin",
			"location": {"name": "Park", "address": "Unter den Linden 1, Berlin", "lat": 52.5163, "lon": 13.3777},
			"online_url": "https://stream.example.com/fest", "category": "Music",
			"tags": ["Outdoors", "free", "FREE", "live-music"], "capacity": 300, "default_reminders": [1440, 60]}`)
		want := events.Event{
			ID: e.ID, OrganizerID: alice, Title: "Sommerfest ☀", Description: "Bring friends.",
			StartsAt: time.Date(2030, 7, 14, 18, 30, 0, 5e8, time.UTC), EndsAt: ptr(time.Date(2030, 7, 14, 21, 0, 0, 0, time.UTC)),
			Timezone:  "Europe/Berlin",
			Location:  &events.Location{Name: "Park", Address: "Unter den Linden 1, Berlin", Lat: ptr(52.5163), Lon: ptr(13.3777)},
			OnlineURL: ptr("https://stream.example.com/fest"), Category: ptr("Music"),
			Tags: []string{"outdoors", "free", "live-music"}, Capacity: ptr(int64(300)), DefaultReminders: []int{1440, 60},
			CreatedAt: testNow, UpdatedAt: testNow, Organizer: events.Organizer{ID: alice}, SpotsLeft: ptr(int64(300)),
		}
		if diff := cmp.Diff(want, e); diff != "" {
			t.Errorf("created (-want +got):\n%s", diff)
		}
		w := f.do(t, request{method: "GET", path: "/api/v1/events/" + e.ID})
		if !strings.Contains(w.Body.String(), `"starts_at":"2030-07-14T18:30:00.5Z"`) {
			t.Errorf("times are not answered in UTC: %s", w.Body)
		}
	})
	t.Run("limits are in characters, not bytes", func(t *testing.T) {
		f := newFixture(t)
		title := strings.Repeat("é", 120)
		e := f.create(t, alice, `{"title": "`+title+`", "starts_at": "`+start+`", "category": "`+strings.Repeat("ü", 40)+`"}`)
		if e.Title != title {
			t.Errorf("title = %q", e.Title)
		}
	})

	valid := map[string]string{"title": `"T"`, "starts_at": `"` + start + `"`}
	body := func(fields map[string]string) string {
		parts := []string{}
		for k, v := range valid {
			if _, ok := fields[k]; !ok {
				parts = append(parts, fmt.Sprintf("%q: %s", k, v))
			}
		}
		for k, v := range fields {
			if v != "-" { // "-" leaves the field out
				parts = append(parts, fmt.Sprintf("%q: %s", k, v))
			}
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	tests := []struct {
		name       string
		fields     map[string]string
		wantFields []string
	}{
		{"title missing", map[string]string{"title": "-"}, []string{"title"}},
		{"title null", map[string]string{"title": "null"}, []string{"title"}},
		{"title empty", map[string]string{"title": `""`}, []string{"title"}},
		{"title blank", map[string]string{"title": `"   "`}, []string{"title"}},
		{"title too long", map[string]string{"title": `"` + strings.Repeat("x", 121) + `"`}, []string{"title"}},
		{"title not a string", map[string]string{"title": `42`}, []string{"title"}},
		{"description too long", map[string]string{"description": `"` + strings.Repeat("é", 5001) + `"`}, []string{"description"}},
		{"starts_at missing", map[string]string{"starts_at": "-"}, []string{"starts_at"}},
		{"starts_at not a time", map[string]string{"starts_at": `"tomorrow"`}, []string{"starts_at"}},
		{"starts_at without offset", map[string]string{"starts_at": `"2030-07-14T20:30:00"`}, []string{"starts_at"}},
		{"starts_at date only", map[string]string{"starts_at": `"2030-07-14"`}, []string{"starts_at"}},
		{"starts_at impossible date", map[string]string{"starts_at": `"2030-02-30T20:30:00Z"`}, []string{"starts_at"}},
		{"starts_at a number", map[string]string{"starts_at": `1700000000`}, []string{"starts_at"}},
		{"starts_at in the past", map[string]string{"starts_at": `"` + future(-time.Minute) + `"`}, []string{"starts_at"}},
		{"starts_at now", map[string]string{"starts_at": `"` + future(0) + `"`}, []string{"starts_at"}},
		{"ends_at before starts_at", map[string]string{"ends_at": `"` + future(time.Hour) + `"`}, []string{"ends_at"}},
		{"ends_at equal to starts_at", map[string]string{"ends_at": `"` + start + `"`}, []string{"ends_at"}},
		{"ends_at not a time", map[string]string{"ends_at": `"later"`}, []string{"ends_at"}},
		{"timezone unknown", map[string]string{"timezone": `"Mars/Olympus"`}, []string{"timezone"}},
		{"timezone empty", map[string]string{"timezone": `""`}, []string{"timezone"}},
		{"timezone Local", map[string]string{"timezone": `"Local"`}, []string{"timezone"}},
		{"timezone a path", map[string]string{"timezone": `"../../etc/passwd"`}, []string{"timezone"}},
		{"latitude too big", map[string]string{"location": `{"lat": 90.5, "lon": 0}`}, []string{"location.lat"}},
		{"longitude too small", map[string]string{"location": `{"lat": 0, "lon": -180.1}`}, []string{"location.lon"}},
		{"latitude without longitude", map[string]string{"location": `{"name": "X", "lat": 10}`}, []string{"location.lon"}},
		{"longitude without latitude", map[string]string{"location": `{"lon": 10}`}, []string{"location.lat"}},
		{"latitude a string", map[string]string{"location": `{"lat": "10", "lon": 10}`}, []string{"location.lat"}},
		{"place name too long", map[string]string{"location": `{"name": "` + strings.Repeat("x", 201) + `"}`}, []string{"location.name"}},
		{"address too long", map[string]string{"location": `{"address": "` + strings.Repeat("x", 501) + `"}`}, []string{"location.address"}},
		{"location not an object", map[string]string{"location": `"Paris"`}, []string{"location"}},
		{"online_url relative", map[string]string{"online_url": `"/live"`}, []string{"online_url"}},
		{"online_url ftp", map[string]string{"online_url": `"ftp://example.com/x"`}, []string{"online_url"}},
		{"online_url javascript", map[string]string{"online_url": `"javascript:alert(1)"`}, []string{"online_url"}},
		{"online_url without host", map[string]string{"online_url": `"https:///path"`}, []string{"online_url"}},
		{"online_url with a space", map[string]string{"online_url": `"https://example.com/a b"`}, []string{"online_url"}},
		{"category empty", map[string]string{"category": `""`}, []string{"category"}},
		{"category too long", map[string]string{"category": `"` + strings.Repeat("x", 41) + `"`}, []string{"category"}},
		{"tag with a space", map[string]string{"tags": `["live music"]`}, []string{"tags"}},
		{"tag with an underscore", map[string]string{"tags": `["live_music"]`}, []string{"tags"}},
		{"tag empty", map[string]string{"tags": `[""]`}, []string{"tags"}},
		{"tag too long", map[string]string{"tags": `["` + strings.Repeat("a", 33) + `"]`}, []string{"tags"}},
		{"tag not a string", map[string]string{"tags": `[1]`}, []string{"tags"}},
		{"tag null", map[string]string{"tags": `[null]`}, []string{"tags"}},
		{"eleven tags", map[string]string{"tags": `["a","b","c","d","e","f","g","h","i","j","k"]`}, []string{"tags"}},
		{"tags not an array", map[string]string{"tags": `"jazz"`}, []string{"tags"}},
		{"capacity zero", map[string]string{"capacity": `0`}, []string{"capacity"}},
		{"capacity negative", map[string]string{"capacity": `-5`}, []string{"capacity"}},
		{"capacity fractional", map[string]string{"capacity": `2.5`}, []string{"capacity"}},
		{"capacity huge", map[string]string{"capacity": `1e30`}, []string{"capacity"}},
		{"every field wrong at once", map[string]string{
			"title": `""`, "starts_at": `"x"`, "timezone": `"X/Y"`, "category": `""`, "tags": `["A B"]`, "capacity": `0`,
			"online_url": `"x"`, "location": `{"lat": 100}`, "description": `"` + strings.Repeat("x", 5001) + `"`,
		}, []string{"title", "description", "starts_at", "timezone", "location.lat", "location.lon", "online_url", "category", "tags", "capacity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			w := f.do(t, request{method: "POST", path: "/api/v1/events", body: body(tt.fields), caller: alice})
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", w.Code, w.Body)
			}
			if diff := cmp.Diff(tt.wantFields, fieldsOf(t, w)); diff != "" {
				t.Errorf("invalid fields (-want +got):\n%s", diff)
			}
			if n := f.count(t); n != 0 {
				t.Errorf("%d events stored", n)
			}
			if msgs := f.outbox(t); len(msgs) != 0 {
				t.Errorf("outbox holds %d messages", len(msgs))
			}
		})
	}
	t.Run("accepted edge values", func(t *testing.T) {
		f := newFixture(t)
		for _, fields := range []map[string]string{
			{"title": `"` + strings.Repeat("x", 120) + `"`, "description": `"` + strings.Repeat("x", 5000) + `"`},
			{"location": `{"lat": -90, "lon": 180}`, "tags": `["a","b","c","d","e","f","g","h","i","j"]`},
			{"location": `{}`, "capacity": `1`, "category": `"` + strings.Repeat("x", 40) + `"`},
			{"tags": `["` + strings.Repeat("a", 32) + `", "` + strings.Repeat("A", 32) + `", "0-9"]`, "online_url": `"HTTP://Example.com"`},
			{"timezone": `"America/Argentina/Buenos_Aires"`, "ends_at": `"` + future(25*time.Hour) + `"`, "location": `null`, "tags": `null`},
		} {
			w := f.do(t, request{method: "POST", path: "/api/v1/events", body: body(fields), caller: alice})
			if w.Code != http.StatusCreated {
				t.Errorf("%v: status %d: %s", fields, w.Code, w.Body)
			}
		}
	})
}

func TestCreateEventRequestErrors(t *testing.T) {
	valid := `{"title": "T", "starts_at": "` + future(time.Hour) + `"}`
	tests := []struct {
		name string
		req  request
		want int
	}{
		{"no caller", request{body: valid}, http.StatusUnauthorized},
		{"not JSON", request{body: valid, caller: alice, contentType: "text/plain"}, http.StatusUnsupportedMediaType},
		{"no content type", request{body: valid, caller: alice, contentType: "-"}, http.StatusUnsupportedMediaType},
		{"malformed JSON", request{body: `{"title": "T",`, caller: alice}, http.StatusBadRequest},
		{"empty body", request{caller: alice, contentType: "application/json"}, http.StatusBadRequest},
		{"unknown field", request{body: `{"title": "T", "starts_at": "` + future(time.Hour) + `", "titel": "x"}`, caller: alice}, http.StatusBadRequest},
		{"unknown field in location", request{body: `{"title": "T", "starts_at": "` + future(time.Hour) + `", "location": {"city": "x"}}`, caller: alice}, http.StatusBadRequest},
		{"two values", request{body: valid + valid, caller: alice}, http.StatusBadRequest},
		{"an array", request{body: `[` + valid + `]`, caller: alice}, http.StatusBadRequest},
		{"too large", request{body: `{"title": "T", "description": "` + strings.Repeat("x", 1<<20) + `"}`, caller: alice}, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.req.method, tt.req.path = "POST", "/api/v1/events"
			w := f.do(t, tt.req)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
				t.Errorf("Content-Type = %q", ct)
			}
			if n := f.count(t); n != 0 {
				t.Errorf("%d events stored", n)
			}
		})
	}
}

func TestGetEvent(t *testing.T) {
	f := newFixture(t)
	e := f.create(t, alice, `{"title": "T", "starts_at": "`+future(time.Hour)+`"}`)
	tests := []struct {
		name string
		path string
		want int
	}{
		{"known", "/api/v1/events/" + e.ID, http.StatusOK},
		{"unknown", "/api/v1/events/0190f2a0-0000-7000-8000-000000000000", http.StatusNotFound},
		{"not an ID", "/api/v1/events/%27%20OR%201=1", http.StatusNotFound},
		{"nested path", "/api/v1/events/" + e.ID + "/other", http.StatusNotFound},
		{"unknown calendar", "/api/v1/events/nope/ics", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(t, request{method: "GET", path: tt.path})
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.want == http.StatusOK {
				if got := decode[events.Event](t, w); got.ID != e.ID {
					t.Errorf("got %s", got.ID)
				}
			} else if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

func TestCalendar(t *testing.T) {
	f := newFixture(t)
	withPlace := f.create(t, alice, `{"title": "Jazz, live; at last", "description": "Line one\nLine two",
		"starts_at": "2030-03-01T18:30:00+01:00", "ends_at": "2030-03-01T21:00:00+01:00", "timezone": "Europe/Paris",
		"location": {"name": "Le Caveau", "address": "5 rue de la Huchette, Paris", "lat": 48.853, "lon": 2.346}}`)
	online := f.create(t, alice, `{"title": "Webinar", "starts_at": "2030-03-02T10:00:00Z", "online_url": "https://meet.example.com/abc"}`)
	tests := []struct {
		name    string
		e       events.Event
		want    []string
		notWant []string
	}{
		{"with a place", withPlace, []string{
			"BEGIN:VCALENDAR\r\n", "METHOD:PUBLISH\r\n", "BEGIN:VEVENT\r\n", "UID:" + withPlace.ID + "@eventpost.example\r\n",
			"SEQUENCE:0\r\n", "DTSTAMP:20300110T120000Z\r\n", "LAST-MODIFIED:20300110T120000Z\r\n",
			"DTSTART:20300301T173000Z\r\n", "DTEND:20300301T200000Z\r\n", `SUMMARY:Jazz\, live\; at last` + "\r\n",
			`DESCRIPTION:Line one\nLine two` + "\r\n", `LOCATION:Le Caveau\, 5 rue de la Huchette\, Paris` + "\r\n",
			"URL:https://eventpost.example/events/" + withPlace.ID + "\r\n", "END:VEVENT\r\n", "END:VCALENDAR\r\n",
		}, nil},
		{"online, without an end: an hour long", online, []string{"UID:" + online.ID + "@eventpost.example\r\n",
			"DTSTART:20300302T100000Z\r\n", "DTEND:20300302T110000Z\r\n", "SUMMARY:Webinar\r\n",
			"URL:https://meet.example.com/abc\r\n"}, []string{"DESCRIPTION"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(t, request{method: "GET", path: "/api/v1/events/" + tt.e.ID + "/ics"})
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if ct, want := w.Header().Get("Content-Type"), "text/calendar; charset=utf-8; method=PUBLISH"; ct != want {
				t.Errorf("Content-Type = %q, want %q", ct, want)
			}
			if cd, want := w.Header().Get("Content-Disposition"), `attachment; filename=event-`+tt.e.ID+`.ics`; cd != want {
				t.Errorf("Content-Disposition = %q, want %q", cd, want)
			}
			body := w.Body.String()
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("calendar lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tt.notWant {
				if strings.Contains(body, s) {
					t.Errorf("calendar has %q:\n%s", s, body)
				}
			}
			if strings.Count(body, "BEGIN:VEVENT") != 1 {
				t.Errorf("want exactly one VEVENT:\n%s", body)
			}
		})
	}
}

func TestPatchEvent(t *testing.T) {
	full := `{"title": "Jazz", "description": "Live.", "starts_at": "` + future(48*time.Hour) + `",
		"ends_at": "` + future(50*time.Hour) + `", "timezone": "Europe/Paris",
		"location": {"name": "Club", "address": "1 Main St", "lat": 48.85, "lon": 2.35},
		"online_url": "https://x.example/live", "category": "Music", "tags": ["jazz", "live"], "capacity": 50}`
	type check func(t *testing.T, before, after events.Event)
	unchangedExcept := func(change func(e *events.Event)) check {
		return func(t *testing.T, before, after events.Event) {
			t.Helper()
			want := before
			change(&want)
			want.UpdatedAt = after.UpdatedAt
			want.SpotsLeft = nil // the capacity less those going (none here)
			if want.Capacity != nil {
				want.SpotsLeft = want.Capacity
			}
			if diff := cmp.Diff(want, after); diff != "" {
				t.Errorf("after the patch (-want +got):\n%s", diff)
			}
			if !after.UpdatedAt.After(before.UpdatedAt) {
				t.Errorf("updated_at %v did not move past %v", after.UpdatedAt, before.UpdatedAt)
			}
		}
	}
	tests := []struct {
		name        string
		patch       string
		contentType string
		check       check
		wantMoved   bool // the message carries the previous start
	}{
		// A change that calendars show raises the sequence; others keep it.
		{name: "title", patch: `{"title": "Jazz & Blues"}`, check: unchangedExcept(func(e *events.Event) { e.Title, e.Sequence = "Jazz & Blues", 1 })},
		{name: "merge-patch content type", patch: `{"title": "X"}`, contentType: "application/merge-patch+json",
			check: unchangedExcept(func(e *events.Event) { e.Title, e.Sequence = "X", 1 })},
		{name: "move the start", patch: `{"starts_at": "` + future(47*time.Hour) + `"}`, wantMoved: true,
			check: unchangedExcept(func(e *events.Event) { e.StartsAt, e.Sequence = testNow.Add(47*time.Hour), 1 })},
		{name: "move the end", patch: `{"ends_at": "` + future(51*time.Hour) + `"}`,
			check: unchangedExcept(func(e *events.Event) { e.EndsAt, e.Sequence = ptr(testNow.Add(51*time.Hour)), 1 })},
		{name: "null clears optional fields", patch: `{"description": null, "ends_at": null, "timezone": null, "location": null,
			"online_url": null, "category": null, "tags": null, "capacity": null}`,
			check: unchangedExcept(func(e *events.Event) {
				e.Description, e.EndsAt, e.Timezone, e.Location, e.OnlineURL, e.Category, e.Tags, e.Capacity = "", nil, "UTC", nil, nil, nil, []string{}, nil
				e.Sequence = 1
			})},
		{name: "location is merged", patch: `{"location": {"name": "Other club"}}`,
			check: unchangedExcept(func(e *events.Event) { e.Location.Name, e.Sequence = "Other club", 1 })},
		{name: "coordinates removed from the location", patch: `{"location": {"lat": null, "lon": null}}`,
			check: unchangedExcept(func(e *events.Event) { e.Location.Lat, e.Location.Lon, e.Sequence = nil, nil, 1 })},
		{name: "online link", patch: `{"online_url": "https://x.example/other"}`,
			check: unchangedExcept(func(e *events.Event) { e.OnlineURL, e.Sequence = ptr("https://x.example/other"), 1 })},
		{name: "tags replaced and normalized", patch: `{"tags": ["Blues", "blues", "late"]}`,
			check: unchangedExcept(func(e *events.Event) { e.Tags = []string{"blues", "late"} })},
		{name: "description, category, time zone and capacity keep the sequence",
			patch: `{"description": "Other.", "category": "Jazz", "timezone": "UTC", "capacity": 10}`,
			check: unchangedExcept(func(e *events.Event) {
				e.Description, e.Category, e.Timezone, e.Capacity = "Other.", ptr("Jazz"), "UTC", ptr(int64(10))
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			before := f.create(t, alice, full)
			f.clock.Set(testNow.Add(time.Minute))
			w := f.do(t, request{method: "PATCH", path: "/api/v1/events/" + before.ID, body: tt.patch, caller: alice, contentType: tt.contentType})
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			after := decode[events.Event](t, w)
			tt.check(t, before, after)
			stored := decode[events.Event](t, f.do(t, request{method: "GET", path: "/api/v1/events/" + before.ID}))
			if diff := cmp.Diff(after, stored); diff != "" {
				t.Errorf("stored differs from the answer (-answer +stored):\n%s", diff)
			}
			msgs := f.outbox(t)
			if len(msgs) != 2 || msgs[1].Type != messages.TypeEventChanged {
				t.Fatalf("outbox = %+v, want event.changed after the creation's", msgs)
			}
			c := msgs[1].Changed
			if c.Event.Title != after.Title || !c.Event.UpdatedAt.Equal(after.UpdatedAt) || c.Event.Sequence != after.Sequence {
				t.Errorf("message snapshot %+v does not match %+v", c.Event, after)
			}
			switch {
			case tt.wantMoved && (c.PreviousStartsAt == nil || !c.PreviousStartsAt.Equal(before.StartsAt)):
				t.Errorf("previous_starts_at = %v, want %v", c.PreviousStartsAt, before.StartsAt)
			case !tt.wantMoved && c.PreviousStartsAt != nil:
				t.Errorf("previous_starts_at = %v, want none", c.PreviousStartsAt)
			}
			if n := f.notifier.n.Load(); n != 2 {
				t.Errorf("outbox notified %d times, want 2", n)
			}
		})
	}

	failures := []struct {
		name        string
		caller      string
		id          string // default: the event's
		patch       string
		contentType string
		want        int
		wantFields  []string
	}{
		{name: "no caller", patch: `{"title": "X"}`, want: http.StatusUnauthorized},
		{name: "not the organizer", caller: bob, patch: `{"title": "X"}`, want: http.StatusForbidden},
		{name: "not the organizer, empty patch", caller: bob, patch: `{}`, want: http.StatusForbidden},
		{name: "unknown event", id: "0190f2a0-0000-7000-8000-000000000000", patch: `{"title": "X"}`, want: http.StatusNotFound},
		{name: "unknown event, empty patch", id: "unknown", patch: `{}`, want: http.StatusNotFound},
		{name: "not JSON", patch: `{"title": "X"}`, contentType: "text/plain", want: http.StatusUnsupportedMediaType},
		{name: "malformed", patch: `{"title": `, want: http.StatusBadRequest},
		{name: "null body", patch: `null`, want: http.StatusBadRequest},
		{name: "array body", patch: `[]`, want: http.StatusBadRequest},
		{name: "unknown field", patch: `{"titel": "X"}`, want: http.StatusBadRequest},
		{name: "read-only field", patch: `{"organizer_id": "` + bob + `"}`, want: http.StatusBadRequest},
		{name: "unknown field in location", patch: `{"location": {"city": "X"}}`, want: http.StatusBadRequest},
		{name: "title null", patch: `{"title": null}`, want: http.StatusUnprocessableEntity, wantFields: []string{"title"}},
		{name: "starts_at null", patch: `{"starts_at": null}`, want: http.StatusUnprocessableEntity, wantFields: []string{"starts_at"}},
		{name: "title empty", patch: `{"title": ""}`, want: http.StatusUnprocessableEntity, wantFields: []string{"title"}},
		{name: "title a number", patch: `{"title": 5}`, want: http.StatusUnprocessableEntity, wantFields: []string{"title"}},
		{name: "start moved into the past", patch: `{"starts_at": "` + future(-time.Hour) + `"}`, want: http.StatusUnprocessableEntity, wantFields: []string{"starts_at"}},
		{name: "end before the stored start", patch: `{"ends_at": "` + future(47*time.Hour) + `"}`, want: http.StatusUnprocessableEntity, wantFields: []string{"ends_at"}},
		{name: "start after the stored end", patch: `{"starts_at": "` + future(51*time.Hour) + `"}`, want: http.StatusUnprocessableEntity, wantFields: []string{"ends_at"}},
		{name: "latitude removed alone", patch: `{"location": {"lat": null}}`, want: http.StatusUnprocessableEntity, wantFields: []string{"location.lat"}},
		{name: "bad tag", patch: `{"tags": ["no spaces"]}`, want: http.StatusUnprocessableEntity, wantFields: []string{"tags"}},
		{name: "capacity zero", patch: `{"capacity": 0}`, want: http.StatusUnprocessableEntity, wantFields: []string{"capacity"}},
		{name: "category empty", patch: `{"category": ""}`, want: http.StatusUnprocessableEntity, wantFields: []string{"category"}},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			before := f.create(t, alice, full)
			id := tt.id
			if id == "" {
				id = before.ID
			}
			caller := tt.caller
			if caller == "" && tt.want != http.StatusUnauthorized {
				caller = alice
			}
			w := f.do(t, request{method: "PATCH", path: "/api/v1/events/" + id, body: tt.patch, caller: caller, contentType: tt.contentType})
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.wantFields != nil {
				if diff := cmp.Diff(tt.wantFields, fieldsOf(t, w)); diff != "" {
					t.Errorf("invalid fields (-want +got):\n%s", diff)
				}
			}
			after := decode[events.Event](t, f.do(t, request{method: "GET", path: "/api/v1/events/" + before.ID}))
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("a failed patch changed the event (-before +after):\n%s", diff)
			}
			if msgs := f.outbox(t); len(msgs) != 1 {
				t.Errorf("outbox holds %d messages, want only the creation's", len(msgs))
			}
		})
	}

	t.Run("a patch that changes nothing", func(t *testing.T) {
		for _, patch := range []string{`{}`, `{"title": "Jazz", "tags": ["JAZZ", "live"], "starts_at": "` +
			testNow.Add(48*time.Hour).In(time.FixedZone("", -5*3600)).Format(time.RFC3339) + `"}`} {
			f := newFixture(t)
			before := f.create(t, alice, full)
			f.clock.Set(testNow.Add(time.Hour))
			w := f.do(t, request{method: "PATCH", path: "/api/v1/events/" + before.ID, body: patch, caller: alice})
			if w.Code != http.StatusOK {
				t.Fatalf("%s: status %d: %s", patch, w.Code, w.Body)
			}
			if diff := cmp.Diff(before, decode[events.Event](t, w)); diff != "" {
				t.Errorf("%s: (-before +after):\n%s", patch, diff)
			}
			if msgs := f.outbox(t); len(msgs) != 1 {
				t.Errorf("%s: outbox holds %d messages, want only the creation's", patch, len(msgs))
			}
		}
	})
	t.Run("an event that started can still be changed, without moving its start", func(t *testing.T) {
		f := newFixture(t)
		before := f.create(t, alice, full)
		f.clock.Set(testNow.Add(49 * time.Hour)) // it started an hour ago
		w := f.do(t, request{method: "PATCH", path: "/api/v1/events/" + before.ID, caller: alice,
			body: `{"title": "Still on", "starts_at": "` + before.StartsAt.Format(time.RFC3339) + `"}`})
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		w = f.do(t, request{method: "PATCH", path: "/api/v1/events/" + before.ID, caller: alice,
			body: `{"starts_at": "` + before.StartsAt.Add(time.Minute).Format(time.RFC3339) + `"}`})
		if w.Code != http.StatusUnprocessableEntity {
			t.Fatalf("moving the start within the past: status %d, want 422", w.Code)
		}
	})
	t.Run("updated_at grows when the clock does not", func(t *testing.T) {
		f := newFixture(t)
		before := f.create(t, alice, full)
		prev := before.UpdatedAt
		for i := range 3 {
			w := f.do(t, request{method: "PATCH", path: "/api/v1/events/" + before.ID, caller: alice, body: fmt.Sprintf(`{"capacity": %d}`, 100+i)})
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			e := decode[events.Event](t, w)
			if !e.UpdatedAt.After(prev) {
				t.Errorf("updated_at %v is not after %v", e.UpdatedAt, prev)
			}
			prev = e.UpdatedAt
		}
	})
}

func TestDeleteEvent(t *testing.T) {
	tests := []struct {
		name   string
		caller string
		id     string
		want   int
	}{
		{"organizer", alice, "", http.StatusNoContent},
		{"someone else", bob, "", http.StatusForbidden},
		{"no caller", "", "", http.StatusUnauthorized},
		{"unknown event", alice, "0190f2a0-0000-7000-8000-000000000000", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			e := f.create(t, alice, `{"title": "T", "starts_at": "`+future(time.Hour)+`", "tags": ["x"]}`)
			id := tt.id
			if id == "" {
				id = e.ID
			}
			w := f.do(t, request{method: "DELETE", path: "/api/v1/events/" + id, caller: tt.caller})
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			get := f.do(t, request{method: "GET", path: "/api/v1/events/" + e.ID})
			msgs := f.outbox(t)
			if tt.want != http.StatusNoContent {
				if get.Code != http.StatusOK || len(msgs) != 1 {
					t.Errorf("a refused delete: GET %d, %d messages", get.Code, len(msgs))
				}
				return
			}
			if w.Body.Len() != 0 {
				t.Errorf("204 with a body: %q", w.Body)
			}
			if get.Code != http.StatusNotFound {
				t.Errorf("GET after DELETE: %d", get.Code)
			}
			if ics := f.do(t, request{method: "GET", path: "/api/v1/events/" + e.ID + "/ics"}); ics.Code != http.StatusOK ||
				!strings.Contains(ics.Body.String(), "STATUS:CANCELLED\r\n") {
				t.Errorf("GET .ics after DELETE: %d, want the cancelled event:\n%s", ics.Code, ics.Body)
			}
			if len(msgs) != 2 || msgs[1].Deleted == nil || msgs[1].Deleted.Event.ID != e.ID || msgs[1].Deleted.Reason != messages.DeletedByOrganizer {
				t.Errorf("outbox = %+v, want event.deleted (deleted) after the creation's event.changed", msgs)
			}
			if again := f.do(t, request{method: "DELETE", path: "/api/v1/events/" + e.ID, caller: alice}); again.Code != http.StatusNotFound {
				t.Errorf("second DELETE: %d", again.Code)
			}
		})
	}
}

func TestAccountDeletedConsumer(t *testing.T) {
	f := newFixture(t)
	var aliceEvents []events.Event
	for i := range 3 {
		aliceEvents = append(aliceEvents, f.create(t, alice, fmt.Sprintf(`{"title": "A%d", "starts_at": "%s"}`, i, future(time.Duration(i+1)*time.Hour))))
	}
	bobs := f.create(t, bob, `{"title": "B", "starts_at": "`+future(time.Hour)+`"}`)
	consumers := f.svc.Consumers()
	if len(consumers) != 1 || consumers[0].Queue != messages.QueueEventsAccounts ||
		!cmp.Equal(consumers[0].Types, []string{messages.TypeAccountDeleted, messages.TypeAccountChanged}) {
		t.Fatalf("consumers = %+v", consumers)
	}
	msg, err := broker.NewMessage(context.Background(), messages.TypeAccountDeleted, messages.AccountDeleted{AccountID: alice, DeletedAt: testNow})
	if err != nil {
		t.Fatal(err)
	}
	for delivery := range 2 {
		if err := consumers[0].Handle(context.Background(), msg); err != nil {
			t.Fatalf("delivery %d: %v", delivery, err)
		}
		for _, e := range aliceEvents {
			if w := f.do(t, request{method: "GET", path: "/api/v1/events/" + e.ID}); w.Code != http.StatusNotFound {
				t.Errorf("delivery %d: alice's event %s: %d", delivery, e.Title, w.Code)
			}
		}
		if w := f.do(t, request{method: "GET", path: "/api/v1/events/" + bobs.ID}); w.Code != http.StatusOK {
			t.Errorf("delivery %d: bob's event: %d", delivery, w.Code)
		}
		var deleted []string
		for _, m := range f.outbox(t)[4:] {
			if m.Deleted == nil || m.Deleted.Reason != messages.DeletedWithAccount || m.Deleted.Event.OrganizerID != alice {
				t.Errorf("delivery %d: unexpected message %+v", delivery, m)
				continue
			}
			deleted = append(deleted, m.Deleted.Event.Title)
		}
		if diff := cmp.Diff([]string{"A0", "A1", "A2"}, deleted); diff != "" {
			t.Errorf("delivery %d: event.deleted messages (-want +got):\n%s", delivery, diff)
		}
	}

	t.Run("a message without an account is rejected for good", func(t *testing.T) {
		for _, payload := range []string{`{}`, `"nonsense"`} {
			m := broker.Message{ID: "m-" + payload, Type: messages.TypeAccountDeleted, Payload: json.RawMessage(payload)}
			if err := consumers[0].Handle(context.Background(), m); !broker.IsPermanent(err) {
				t.Errorf("payload %s: %v, want a permanent error", payload, err)
			}
		}
	})
}

func TestRouting(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		method, path string
		want         int
		wantAllow    string
	}{
		{"GET", "/nowhere", http.StatusNotFound, ""},
		{"GET", "/api/v1/other", http.StatusNotFound, ""},
		{"PUT", "/api/v1/events", http.StatusMethodNotAllowed, "GET, HEAD, POST"},
		{"PUT", "/api/v1/events/x", http.StatusMethodNotAllowed, "DELETE, GET, HEAD, PATCH"},
		{"POST", "/api/v1/events/x/ics", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"GET", "/healthz", http.StatusOK, ""},
		{"GET", "/readyz", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := f.do(t, request{method: tt.method, path: tt.path, caller: alice})
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.want >= 400 && w.Header().Get("Content-Type") != problem.ContentType {
				t.Errorf("Content-Type = %q", w.Header().Get("Content-Type"))
			}
			if got := w.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if w.Header().Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
		})
	}
	t.Run("metrics", func(t *testing.T) {
		f.do(t, request{method: "GET", path: "/api/v1/events?q=jazz"})
		w := f.do(t, request{method: "GET", path: "/metrics"})
		for _, want := range []string{`events_search_duration_seconds_count{shape="q"} 1`, `http_requests_total{method="GET",route="GET /api/v1/events",status="200"} 1`} {
			if !strings.Contains(w.Body.String(), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
	t.Run("readyz fails when the database is closed", func(t *testing.T) {
		g := newFixture(t)
		g.store.Close()
		if w := g.do(t, request{method: "GET", path: "/readyz"}); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "database") {
			t.Errorf("readyz: %d %s", w.Code, w.Body)
		}
	})
}

func TestNewRequiresDependencies(t *testing.T) {
	s := openStore(t)
	for name, deps := range map[string]events.Deps{
		"no store":    {},
		"no logger":   {Store: s},
		"no registry": {Store: s, Common: svcdeps.Common{Log: logging.Discard()}},
		"no verifier": {Store: s, Common: svcdeps.Common{Log: logging.Discard(), Registry: prometheus.NewRegistry()}},
	} {
		if _, err := events.New(events.DefaultConfig(), deps); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// searchPage is the body of GET /api/v1/events.
type searchPage struct {
	Items      []events.Event `json:"items"`
	NextCursor *string        `json:"next_cursor"`
}

func TestSearchHandler(t *testing.T) {
	f := newFixture(t)
	f.create(t, alice, `{"title": "Started jazz", "starts_at": "`+future(time.Minute)+`"}`)
	for i := range 5 {
		f.create(t, alice, fmt.Sprintf(`{"title": "Jazz %d", "starts_at": %q, "tags": ["jazz"], "category": "Music",
			"location": {"name": "P", "lat": 48.85, "lon": 2.35}}`, i, future(time.Duration(i+1)*time.Hour)))
	}
	f.create(t, bob, `{"title": "Go meetup", "starts_at": "`+future(3*time.Hour)+`", "tags": ["golang"], "category": "Tech",
		"location": {"name": "L", "lat": 51.5, "lon": -0.12}}`)
	f.clock.Set(testNow.Add(30 * time.Minute)) // "Started jazz" has started

	search := func(t *testing.T, query string) searchPage {
		t.Helper()
		w := f.do(t, request{method: "GET", path: "/api/v1/events?" + query})
		if w.Code != http.StatusOK {
			t.Fatalf("GET ?%s: status %d: %s", query, w.Code, w.Body)
		}
		if !strings.Contains(w.Body.String(), `"next_cursor":`) || !strings.Contains(w.Body.String(), `"items":[`) {
			t.Errorf("body lacks items or next_cursor: %s", w.Body)
		}
		return decode[searchPage](t, w)
	}
	titlesOf := func(p searchPage) []string {
		out := []string{}
		for _, e := range p.Items {
			out = append(out, e.Title)
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"Jazz 0", "Jazz 1", "Jazz 2", "Go meetup", "Jazz 3", "Jazz 4"}},
		{"from=" + url.QueryEscape(future(0)), []string{"Started jazz", "Jazz 0", "Jazz 1", "Jazz 2", "Go meetup", "Jazz 3", "Jazz 4"}},
		{"from=" + strings.Replace(future(0), "Z", "+00:00", 1), []string{"Started jazz", "Jazz 0", "Jazz 1", "Jazz 2", "Go meetup", "Jazz 3", "Jazz 4"}}, // unescaped +
		{"to=" + url.QueryEscape(future(2*time.Hour)), []string{"Jazz 0", "Jazz 1"}},
		{"q=JAZZ", []string{"Jazz 0", "Jazz 1", "Jazz 2", "Jazz 3", "Jazz 4"}},
		{"q=meet", []string{"Go meetup"}},
		{"q=started", nil},
		{"category=music&limit=2", []string{"Jazz 0", "Jazz 1"}},
		{"tag=JAZZ&tag=jazz", []string{"Jazz 0", "Jazz 1", "Jazz 2", "Jazz 3", "Jazz 4"}},
		{"tag=jazz&tag=golang", nil},
		{"near=51.5,-0.12", []string{"Go meetup"}},
		{"near=48.85,2.35&radius_km=1", []string{"Jazz 0", "Jazz 1", "Jazz 2", "Jazz 3", "Jazz 4"}},
		{"near=49.0,2.35&radius_km=10", nil},
		{"organizer_id=" + bob, []string{"Go meetup"}},
		{"q=jazz&category=MUSIC&tag=jazz&near=48.85,2.35&organizer_id=" + alice + "&to=" + url.QueryEscape(future(3*time.Hour)), []string{"Jazz 0", "Jazz 1", "Jazz 2"}},
		{"q=&category=&unknown=1", []string{"Jazz 0", "Jazz 1", "Jazz 2", "Go meetup", "Jazz 3", "Jazz 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			want := tt.want
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, titlesOf(search(t, tt.query))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("paging", func(t *testing.T) {
		var got []string
		query := "limit=2"
		for page := 0; ; page++ {
			p := search(t, query)
			got = append(got, titlesOf(p)...)
			if p.NextCursor == nil {
				break
			}
			if page == 10 {
				t.Fatal("paging does not end")
			}
			query = "limit=2&cursor=" + url.QueryEscape(*p.NextCursor)
		}
		if diff := cmp.Diff([]string{"Jazz 0", "Jazz 1", "Jazz 2", "Go meetup", "Jazz 3", "Jazz 4"}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if p := search(t, "limit=6"); p.NextCursor != nil {
			t.Errorf("next_cursor on the last page: %q", *p.NextCursor)
		}
	})
	t.Run("FTS syntax in q is harmless", func(t *testing.T) {
		for _, q := range []string{`"`, `jazz"`, `*`, `jazz*`, `AND`, `OR jazz`, `NOT`, `NEAR(jazz`, `^jazz`, `title:jazz`,
			`{title}`, `'`, `-`, `--`, `(`, `)`, `+`, `jazz AND`, `\`, `%`, `_`, "\x00", `🎷`, `ｊａｚｚ`} {
			w := f.do(t, request{method: "GET", path: "/api/v1/events?q=" + url.QueryEscape(q)})
			if w.Code != http.StatusOK {
				t.Errorf("q=%q: status %d: %s", q, w.Code, w.Body)
			}
		}
		if got := titlesOf(search(t, "q="+url.QueryEscape(`"jazz" AND (1)`))); len(got) != 0 {
			t.Errorf(`q="jazz" AND (1) matched %v; every word must match`, got)
		}
		if got := titlesOf(search(t, "q="+url.QueryEscape(`title:jazz*`))); len(got) != 0 {
			t.Errorf("q=title:jazz* matched %v", got)
		}
	})
}

func TestSearchHandlerInvalid(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		query string
		want  []string
	}{
		{"from=yesterday", []string{"from"}},
		{"to=2030-01-01", []string{"to"}},
		{"from=2030-02-01T00:00:00Z&to=2030-01-01T00:00:00Z", []string{"to"}},
		{"limit=0", []string{"limit"}},
		{"limit=101", []string{"limit"}},
		{"limit=ten", []string{"limit"}},
		{"near=48.8", []string{"near"}},
		{"near=91,0", []string{"near"}},
		{"near=0,181", []string{"near"}},
		{"near=a,b", []string{"near"}},
		{"near=0,0&radius_km=0", []string{"radius_km"}},
		{"near=0,0&radius_km=-1", []string{"radius_km"}},
		{"near=0,0&radius_km=20001", []string{"radius_km"}},
		{"near=0,0&radius_km=NaN", []string{"radius_km"}},
		{"radius_km=5", []string{"radius_km"}},
		{"tag=no%20spaces", []string{"tag"}},
		{"category=" + strings.Repeat("x", 41), []string{"category"}},
		{"cursor=nonsense!", []string{"cursor"}},
		{"cursor=" + paging.EncodeKey(paging.Key{Time: testNow})[:4], []string{"cursor"}},
		{"q=" + strings.Repeat("ab+", 70), []string{"q"}},
		{"q=a+b+c+d+e+f+g+h+i+j+k+l+m+n+o+p+q", []string{"q"}},
		{"limit=5&limit=6", []string{"limit"}},
		{"limit=0&near=x&from=y", []string{"from", "near", "limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			w := f.do(t, request{method: "GET", path: "/api/v1/events?" + tt.query})
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", w.Code, w.Body)
			}
			if diff := cmp.Diff(tt.want, fieldsOf(t, w)); diff != "" {
				t.Errorf("invalid fields (-want +got):\n%s", diff)
			}
		})
	}
}
