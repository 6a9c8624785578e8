package events_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/inputtest"
)

// inputPaths are the members of EventInput, as inputtest.StrictObject names them.
var inputPaths = []string{
	"title", "description", "starts_at", "ends_at", "timezone", "online_url", "category", "tags", "capacity",
	"location", "location.name", "location.address", "location.lat", "location.lon",
}

// inputSeeds are bodies that broke, or could break, the input layer.
func inputSeeds(start string) []string {
	valid := `{"title": "T", "starts_at": "` + start + `", "tags": ["a"], "location": {"name": "P", "lat": 1, "lon": 2}}`
	seeds := []string{
		valid,
		`{"title": "T", "starts_at": "` + start + `", "STARTS_AT": "2000-01-01T00:00:00Z"}`,
		`{"title": "T", "starts_at": "` + start + `", "tags": ` + manyTags(100000) + `}`,
		`{"title": "T", "starts_at": "` + inputtest.Year10000 + `"}`,
		`{"title": "T", "starts_at": "` + start + `", "ends_at": "` + inputtest.Year10000 + `"}`,
		`{"title": "T", "starts_at": "9999-12-31T23:59:59.999999999-23:59"}`,
		"{\"title\": \"\xff\", \"starts_at\": \"" + start + "\"}",
	}
	return append(seeds, inputtest.Hostile(valid)...)
}

// checkEchoes fails t unless e holds what the strict body in asked for, for the members in
// holds; times are read independently of the service, with time.Parse.
func checkEchoes(t *testing.T, in map[string]any, e events.Event) {
	t.Helper()
	if s, ok := in["title"].(string); ok && e.Title != s {
		t.Fatalf("title %q, asked for %q", e.Title, s)
	}
	for name, got := range map[string]*time.Time{"starts_at": &e.StartsAt, "ends_at": e.EndsAt} {
		s, ok := in[name].(string)
		if !ok {
			continue
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || got == nil || !got.Equal(want.Truncate(time.Microsecond)) {
			t.Fatalf("%s %v, asked for %q (%v)", name, got, s, err)
		}
		if y := got.UTC().Year(); y < 1 || y > 9999 {
			t.Fatalf("%s %v accepted: outside the years 1 to 9999 in UTC", name, got)
		}
	}
	if tags, ok := in["tags"].([]any); ok {
		var want []string
		for _, tag := range tags {
			if s := strings.ToLower(tag.(string)); !slices.Contains(want, s) {
				want = append(want, s)
			}
		}
		if len(tags) > events.MaxTags || !slices.Equal(e.Tags, want) {
			t.Fatalf("tags %q, asked for %q", e.Tags, tags)
		}
	}
}

// FuzzCreateEvent posts arbitrary bodies: the answer is never a 5xx; a 201 comes only for a
// strict body (one object, exact names, none twice, UTF-8), holds what it asked for and can
// be read back; any other answer stores nothing.
func FuzzCreateEvent(f *testing.F) {
	for _, seed := range append(inputSeeds("2030-07-14T20:30:00Z"),
		`{"title": "T", "starts_at": "2030-07-14T20:30:00+02:00", "ends_at": "2030-07-14T22:30:00+02:00", "timezone": "Europe/Paris",
		  "location": {"name": "P", "address": "A", "lat": 1.5, "lon": -2}, "online_url": "https://x.example", "category": "c",
		  "tags": ["a", "B"], "capacity": 10}`,
		`{"title": null}`, `{"location": {"lat": 1e400}}`, `{"capacity": 99999999999999999999}`, `[]`, `null`, `"x"`, `{`,
		`{"tags": [null, 1, "x"]}`, `{"timezone": "../etc"}`,
		`{"title": "T", "starts_at": "2030-07-14T20:30:00Z", "ends_at": "0000-01-01T00:00:00Z"}`,
	) {
		f.Add(seed)
	}
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, body string) {
		before := fx.count(t)
		w := fx.do(t, request{method: "POST", path: "/api/v1/events", body: body, caller: alice, contentType: "application/json"})
		inputtest.CheckResponse(t, w)
		if w.Code != http.StatusCreated {
			if n := fx.count(t); n != before {
				t.Fatalf("status %d for %q, yet %d events stored instead of %d", w.Code, body, n, before)
			}
			return
		}
		in, ok := inputtest.StrictObject([]byte(body), inputPaths...)
		if !ok {
			t.Fatalf("201 for a body that is not strict: %q", body)
		}
		e := decode[events.Event](t, w)
		checkEchoes(t, in, e)
		got := fx.do(t, request{method: "GET", path: "/api/v1/events/" + e.ID})
		if got.Code != http.StatusOK || strings.TrimSpace(got.Body.String()) != strings.TrimSpace(w.Body.String()) {
			t.Fatalf("read back %d %s, want %s", got.Code, got.Body, w.Body)
		}
		if !e.StartsAt.After(testNow) || e.Title == "" || e.Tags == nil {
			t.Fatalf("invalid event stored: %+v", e)
		}
	})
}

// FuzzPatchEvent applies arbitrary merge patches: the answer is never a 5xx; a 200 comes
// only for a strict patch and holds what it asked for; any other answer leaves the event
// as it was.
func FuzzPatchEvent(f *testing.F) {
	for _, seed := range append(inputSeeds("2031-01-01T00:00:00Z"),
		`{"title": "New"}`, `{"location": {"lat": null}}`, `{"location": {"name": {"x": 1}}}`, `{"tags": null}`,
		`{"starts_at": "2031-01-01T00:00:00Z", "ends_at": null}`, `{"title": null}`, `{"a": 1}`, `[]`, `{}`, `1`,
		`{"capacity": 1.5}`, `{"location": 5}`, `{"timezone": null, "category": "x"}`, `{"location": {"LAT": 5}}`,
		`{"tags": `+manyTags(100000)+`}`, `{"starts_at": "`+inputtest.Year10000+`"}`,
	) {
		f.Add(seed)
	}
	fx := newFixture(f)
	e := fx.create(f, alice, `{"title": "T", "starts_at": "`+testNow.Add(time.Hour).Format(time.RFC3339)+`",
		"location": {"name": "P", "lat": 1, "lon": 2}, "tags": ["a"]}`)
	f.Fuzz(func(t *testing.T, patch string) {
		before := fx.do(t, request{method: "GET", path: "/api/v1/events/" + e.ID})
		w := fx.do(t, request{method: "PATCH", path: "/api/v1/events/" + e.ID, body: patch, caller: alice})
		inputtest.CheckResponse(t, w)
		after := fx.do(t, request{method: "GET", path: "/api/v1/events/" + e.ID})
		if w.Code != http.StatusOK {
			if after.Body.String() != before.Body.String() {
				t.Fatalf("status %d for %q, yet the event changed from %s to %s", w.Code, patch, before.Body, after.Body)
			}
			return
		}
		in, ok := inputtest.StrictObject([]byte(patch), inputPaths...)
		if !ok {
			t.Fatalf("200 for a patch that is not strict: %q", patch)
		}
		got := decode[events.Event](t, w)
		checkEchoes(t, in, got)
		if got.Title == "" || got.Tags == nil || got.ID != e.ID || got.OrganizerID != alice {
			t.Fatalf("invalid event after %q: %+v", patch, got)
		}
		if strings.TrimSpace(after.Body.String()) != strings.TrimSpace(w.Body.String()) {
			t.Fatalf("read back %s, want %s", after.Body, w.Body)
		}
	})
}

// FuzzSearchEvents sends arbitrary query strings to GET /api/v1/events: the answer is never
// a 5xx; a query that url.ParseQuery would not read whole is a 400; a time outside the
// years 1 to 9999 is a 422; and every event of a 200 matches the filters as the query
// states them, read independently of the service.
func FuzzSearchEvents(f *testing.F) {
	for _, seed := range append([]string{
		"", "q=jazz", "tag=jazz&tag=free", "category=Music&limit=1", "from=2030-01-10T00:00:00Z&to=2030-01-11T00:00:00%2B01:00",
		"from=" + url.QueryEscape(inputtest.Year10000), "to=" + inputtest.Year10000, "from=0000-01-01T00:00:00Z",
		"near=48.85,2.35&radius_km=5", "organizer_id=" + alice, strings.Repeat("tag=jazz&", 100000), strings.Repeat("tag=a&", 11),
		"q=" + strings.Repeat("a+", 5000), "q=%C3%A9t%C3%A9", "q=%ff",
	}, inputtest.BadQueries...) {
		f.Add(seed)
	}
	fx := newFixture(f)
	for i, body := range []string{
		`{"title": "Jazz", "starts_at": "%s", "tags": ["jazz", "free"], "category": "Music", "location": {"lat": 48.85, "lon": 2.35}}`,
		`{"title": "Rock", "starts_at": "%s", "tags": ["rock"], "category": "Music"}`,
		`{"title": "Go meetup", "starts_at": "%s", "tags": ["golang", "free"], "category": "Tech"}`,
	} {
		fx.create(f, alice, strings.Replace(body, "%s", testNow.Add(time.Duration(i+1)*time.Hour).Format(time.RFC3339), 1))
	}
	f.Fuzz(func(t *testing.T, raw string) {
		target := "/api/v1/events?" + raw
		if _, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.0\r\n\r\n"))); err != nil {
			return // no client can send it: the server refuses the request line
		}
		w := fx.do(t, request{method: "GET", path: target})
		inputtest.CheckResponse(t, w)
		if !inputtest.WellFormedQuery(raw) || strings.Count(raw, "&") >= httpx.MaxQueryParams {
			if w.Code != http.StatusBadRequest {
				t.Fatalf("status %d for the malformed query %q, want 400", w.Code, raw)
			}
			return
		}
		v, _ := url.ParseQuery(raw)
		for _, name := range []string{"from", "to"} {
			s := strings.ReplaceAll(v.Get(name), " ", "+")
			if tm, err := time.Parse(time.RFC3339Nano, s); err == nil && len(v[name]) == 1 {
				if y := tm.UTC().Year(); (y < 1 || y > 9999) && w.Code != http.StatusUnprocessableEntity {
					t.Fatalf("status %d for %s %q, outside the years 1 to 9999 in UTC; want 422", w.Code, name, s)
				}
			}
		}
		if w.Code != http.StatusOK {
			return
		}
		var page struct {
			Items []events.Event `json:"items"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			for _, tag := range v["tag"] {
				if tag != "" && !slices.Contains(e.Tags, strings.ToLower(tag)) {
					t.Fatalf("%q found %s, without tag %q", raw, e.Title, tag)
				}
			}
			if c := v.Get("category"); c != "" && (e.Category == nil || !strings.EqualFold(*e.Category, c)) {
				t.Fatalf("%q found %s, not in category %q", raw, e.Title, c)
			}
			if from, err := time.Parse(time.RFC3339Nano, strings.ReplaceAll(v.Get("from"), " ", "+")); err == nil && e.StartsAt.Before(from.Truncate(time.Microsecond)) {
				t.Fatalf("%q found %s, which starts before %v", raw, e.Title, from)
			}
			if to, err := time.Parse(time.RFC3339Nano, strings.ReplaceAll(v.Get("to"), " ", "+")); err == nil && e.StartsAt.After(to) {
				t.Fatalf("%q found %s, which starts after %v", raw, e.Title, to)
			}
		}
		if q, err := events.ParseSearchQuery(v); err != nil || len(page.Items) > q.Limit {
			t.Fatalf("%q: %d items, parsed as %+v, %v", raw, len(page.Items), q, err)
		}
	})
}
