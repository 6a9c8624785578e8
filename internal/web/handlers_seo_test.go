package web_test

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/platform/ics"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/web"
)

const testBase = "https://events.example.org"

// hostileTitle is a title that would end the JSON-LD's script element if it were written
// as it is.
const hostileTitle = `Live </script><script>alert("x")</script> coding & "more"`

// seoAPI is the fake API with the events of the SEO tests besides the fake's own: an online
// event, a mixed one, and two cancelled ones (deleted: 404, but their calendar file answers
// STATUS:CANCELLED), ev-gone at a place and ev-gone-online online.
func seoAPI() (*fakeAPI, http.Handler) {
	f := newFakeAPI()
	mux := http.NewServeMux()
	online := fakeEvent("ev-online", hostileTitle)
	online["location"], online["online_url"], online["timezone"] = nil, "https://meet.example.org/r/1?a=1&b=2", "America/New_York"
	online["description"] = strings.Repeat("Pair programming on a small web service, from the first test to the deploy. ", 4)
	online["ends_at"] = time.Now().Add(74 * time.Hour).UTC().Format(time.RFC3339)
	mixed := fakeEvent("ev-mixed", "Hybrid meetup")
	mixed["online_url"], mixed["timezone"], mixed["description"] = "https://stream.example.org/meetup", "UTC", ""
	mixed["location"] = map[string]any{"name": "Hall 2", "address": "", "lat": nil, "lon": nil}
	for id, e := range map[string]map[string]any{"ev-online": online, "ev-mixed": mixed} {
		mux.HandleFunc("GET /api/v1/events/"+id, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, e) })
	}
	mux.HandleFunc("GET /api/v1/events/{id}/ics", func(w http.ResponseWriter, r *http.Request) {
		cal, ok := cancelledCalendars()[r.PathValue("id")]
		if !ok {
			problem(w, http.StatusNotFound, "event not found", nil)
			return
		}
		w.Header().Set("Content-Type", "text/calendar; charset=utf-8; method=PUBLISH")
		_, _ = w.Write(cal)
	})
	mux.Handle("/", f)
	return f, mux
}

// goneStart is the start of the cancelled events.
var goneStart = time.Date(2027, 3, 6, 17, 30, 0, 0, time.UTC)

// cancelledCalendars are the calendar files of the cancelled events, as the events service
// writes them.
func cancelledCalendars() map[string][]byte {
	lat, lon := 53.5413, 9.9841
	end := goneStart.Add(2 * time.Hour)
	link := "https://meet.example.org/gone"
	opts := func(id string) ics.Options {
		return ics.Options{Host: "events.example.org", EventURL: testBase + "/events/" + id, Stamp: time.Now()}
	}
	return map[string][]byte{
		"ev-gone": ics.RenderCancelled(ics.Event{
			ID: "ev-gone", Title: "Harbour swim; " + hostileTitle, Description: "Cold water, warm tea.\nBring a towel.",
			StartsAt: goneStart, EndsAt: &end, UpdatedAt: goneStart.Add(-time.Hour), Sequence: 2,
			Location: &ics.Location{Name: "Pier 4", Address: "Hafenstraße 1, Hamburg", Lat: &lat, Lon: &lon},
		}, opts("ev-gone")),
		"ev-gone-online": ics.RenderCancelled(ics.Event{
			ID: "ev-gone-online", Title: "Online book club", StartsAt: goneStart, OnlineURL: &link,
		}, opts("ev-gone-online")),
	}
}

// jsonLD returns the one JSON-LD object of page.
func jsonLD(t *testing.T, page string) map[string]any {
	t.Helper()
	blocks := regexp.MustCompile(`(?s)<script type="application/ld\+json">(.*?)</script>`).FindAllStringSubmatch(page, -1)
	if len(blocks) != 1 {
		t.Fatalf("the page has %d JSON-LD blocks, want 1", len(blocks))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(blocks[0][1]), &m); err != nil {
		t.Fatalf("the JSON-LD does not parse: %v\n%s", err, blocks[0][1])
	}
	return m
}

// at returns the value at path in the decoded JSON v: object keys, or list indexes.
func at(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// metaContent returns the content of the meta tag whose attr (name or property) is name.
func metaContent(page, attr, name string) (string, bool) {
	m := regexp.MustCompile(`<meta ` + attr + `="` + regexp.QuoteMeta(name) + `" content="([^"]*)">`).FindStringSubmatch(page)
	if m == nil {
		return "", false
	}
	return html.UnescapeString(m[1]), true
}

// canonicalLink returns the href of the page's canonical link, "" when it has none.
func canonicalLink(page string) string {
	m := regexp.MustCompile(`<link rel="canonical" href="([^"]*)">`).FindAllStringSubmatch(page, -1)
	if len(m) != 1 {
		return ""
	}
	return html.UnescapeString(m[0][1])
}

// wantStartOffset checks that v is an ISO 8601 date-time with the offset that the time
// zone tz has at that time.
func wantStartOffset(t *testing.T, what string, v any, tz string) time.Time {
	t.Helper()
	s, _ := v.(string)
	got, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("%s %q is not ISO 8601 with an offset: %v", what, s, err)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		t.Fatal(err)
	}
	if want := got.In(loc).Format(time.RFC3339); s != want {
		t.Errorf("%s = %q, want the offset of %s: %q", what, s, tz, want)
	}
	return got
}

func TestEventJSONLDHasWhatGoogleRequires(t *testing.T) {
	_, api := seoAPI()
	h := newUI(t, web.Config{}, api)
	tests := []struct {
		name, id   string
		tz         string
		wantStatus string
		wantMode   string
		check      func(t *testing.T, ld map[string]any)
	}{
		{
			name: "at a place with coordinates and a capacity", id: "ev-cap", tz: "Europe/Berlin",
			wantStatus: "https://schema.org/EventScheduled", wantMode: "https://schema.org/OfflineEventAttendanceMode",
			check: func(t *testing.T, ld map[string]any) {
				want := map[string]any{
					"@type": "Place", "name": "Sky Bar",
					"address": map[string]any{"@type": "PostalAddress", "streetAddress": "Alexanderplatz 1"},
					"geo":     map[string]any{"@type": "GeoCoordinates", "latitude": 52.52, "longitude": 13.41},
				}
				if diff := cmp.Diff(want, ld["location"]); diff != "" {
					t.Errorf("location (-want +got):\n%s", diff)
				}
				wantOrg := map[string]any{"@type": "Person", "name": "Lena <Vogt>", "url": testBase + "/?organizer_id=someone-else"}
				if diff := cmp.Diff(wantOrg, ld["organizer"]); diff != "" {
					t.Errorf("organizer (-want +got):\n%s", diff)
				}
				if ld["maximumAttendeeCapacity"] != 20.0 || ld["remainingAttendeeCapacity"] != 12.0 {
					t.Errorf("capacity %v, remaining %v; want 20 and 12", ld["maximumAttendeeCapacity"], ld["remainingAttendeeCapacity"])
				}
				if ld["name"] != "Harbour kayak tour" || ld["description"] != "Live quartet." {
					t.Errorf("name %q, description %q", ld["name"], ld["description"])
				}
			},
		},
		{
			name: "online, with a title that tries to close the script", id: "ev-online", tz: "America/New_York",
			wantStatus: "https://schema.org/EventScheduled", wantMode: "https://schema.org/OnlineEventAttendanceMode",
			check: func(t *testing.T, ld map[string]any) {
				want := map[string]any{"@type": "VirtualLocation", "url": "https://meet.example.org/r/1?a=1&b=2"}
				if diff := cmp.Diff(want, ld["location"]); diff != "" {
					t.Errorf("location (-want +got):\n%s", diff)
				}
				if ld["name"] != hostileTitle {
					t.Errorf("name = %q, want %q", ld["name"], hostileTitle)
				}
				wantStartOffset(t, "endDate", ld["endDate"], "America/New_York")
			},
		},
		{
			name: "at a place and online", id: "ev-mixed", tz: "UTC",
			wantStatus: "https://schema.org/EventScheduled", wantMode: "https://schema.org/MixedEventAttendanceMode",
			check: func(t *testing.T, ld map[string]any) {
				want := []any{
					map[string]any{"@type": "Place", "name": "Hall 2", "address": map[string]any{"@type": "PostalAddress", "streetAddress": "Hall 2"}},
					map[string]any{"@type": "VirtualLocation", "url": "https://stream.example.org/meetup"},
				}
				if diff := cmp.Diff(want, ld["location"]); diff != "" {
					t.Errorf("location (-want +got):\n%s", diff)
				}
				if _, ok := ld["description"]; ok {
					t.Errorf("an event without a description has description %q", ld["description"])
				}
			},
		},
		{
			name: "cancelled, at a place", id: "ev-gone", tz: "UTC",
			wantStatus: "https://schema.org/EventCancelled", wantMode: "https://schema.org/OfflineEventAttendanceMode",
			check: func(t *testing.T, ld map[string]any) {
				want := map[string]any{
					"@type": "Place", "name": "Pier 4, Hafenstraße 1, Hamburg",
					"address": map[string]any{"@type": "PostalAddress", "streetAddress": "Pier 4, Hafenstraße 1, Hamburg"},
					"geo":     map[string]any{"@type": "GeoCoordinates", "latitude": 53.5413, "longitude": 9.9841},
				}
				if diff := cmp.Diff(want, ld["location"]); diff != "" {
					t.Errorf("location (-want +got):\n%s", diff)
				}
				if ld["name"] != "Harbour swim; "+hostileTitle || ld["description"] != "Cold water, warm tea.\nBring a towel." {
					t.Errorf("name %q, description %q", ld["name"], ld["description"])
				}
				if ld["startDate"] != "2027-03-06T17:30:00Z" || ld["endDate"] != "2027-03-06T19:30:00Z" {
					t.Errorf("startDate %v, endDate %v: want the original dates", ld["startDate"], ld["endDate"])
				}
			},
		},
		{
			name: "cancelled, online", id: "ev-gone-online", tz: "UTC",
			wantStatus: "https://schema.org/EventCancelled", wantMode: "https://schema.org/OnlineEventAttendanceMode",
			check: func(t *testing.T, ld map[string]any) {
				want := map[string]any{"@type": "VirtualLocation", "url": "https://meet.example.org/gone"}
				if diff := cmp.Diff(want, ld["location"]); diff != "" {
					t.Errorf("location (-want +got):\n%s", diff)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := serve(h, request("GET", "/events/"+tt.id, nil))
			page := body(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if strings.Contains(page, "<script>alert") {
				t.Fatal("a title broke out of its element")
			}
			ld := jsonLD(t, page)
			if ld["@context"] != "https://schema.org" || ld["@type"] != "Event" {
				t.Errorf("@context %v, @type %v", ld["@context"], ld["@type"])
			}
			if name, _ := ld["name"].(string); name == "" {
				t.Error("no name")
			}
			wantStartOffset(t, "startDate", ld["startDate"], tt.tz)
			if ld["eventStatus"] != tt.wantStatus || ld["eventAttendanceMode"] != tt.wantMode {
				t.Errorf("eventStatus %v, eventAttendanceMode %v; want %s, %s", ld["eventStatus"], ld["eventAttendanceMode"], tt.wantStatus, tt.wantMode)
			}
			if ld["location"] == nil {
				t.Error("no location")
			}
			if ld["url"] != testBase+"/events/"+tt.id {
				t.Errorf("url = %v", ld["url"])
			}
			for _, absent := range []string{"offers", "image"} {
				if _, ok := ld[absent]; ok {
					t.Errorf("%s = %v; EventPost knows none", absent, ld[absent])
				}
			}
			tt.check(t, ld)
		})
	}
}

func TestCancelledEventPage(t *testing.T) {
	_, api := seoAPI()
	h := newUI(t, web.Config{}, api)
	resp := serve(h, request("GET", "/events/ev-gone", nil))
	page := body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: a cancelled event's page stays up while the cancellation is kept", resp.StatusCode)
	}
	for _, want := range []string{"This event was cancelled", "Pier 4, Hafenstraße 1, Hamburg", "Sat 6 Mar 2027, 17:30 UTC", `href="/"`} {
		if !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if d, _ := metaContent(page, "name", "description"); !strings.HasPrefix(d, "Cancelled: ") {
		t.Errorf("description = %q", d)
	}
	if c := canonicalLink(page); c != testBase+"/events/ev-gone" {
		t.Errorf("canonical = %q", c)
	}

	// Once the events service forgets it, or for an ID it never knew: 404.
	resp = serve(h, request("GET", "/events/ev-never", nil))
	if page := body(t, resp); resp.StatusCode != http.StatusNotFound || strings.Contains(page, "application/ld+json") {
		t.Errorf("an unknown event: status %d, want 404 without JSON-LD", resp.StatusCode)
	}
}

func TestPagesHaveDescriptionCanonicalAndPreviews(t *testing.T) {
	_, api := seoAPI()
	h := newUI(t, web.Config{}, api)
	tests := []struct {
		path          string
		wantDesc      string // a part of the description
		wantCanonical string
		wantPreview   bool
	}{
		{path: "/", wantDesc: "Upcoming events on EventPost", wantCanonical: testBase + "/"},
		{path: "/?q=jazz+%3Cb%3E&category=music&tag=&from=2027-03-01", wantDesc: "Upcoming events matching “jazz <b>”, in the category music, from 2027-03-01, on EventPost.",
			wantCanonical: testBase + "/?category=music&from=2027-03-01&q=jazz+%3Cb%3E"},
		{path: "/?organizer_id=someone-else", wantDesc: "Upcoming events organized by Lena <Vogt> on EventPost.", wantCanonical: testBase + "/?organizer_id=someone-else"},
		{path: "/events/ev-1", wantDesc: "Live quartet.", wantCanonical: testBase + "/events/ev-1", wantPreview: true},
		{path: "/events/ev-mixed", wantDesc: "Hybrid meetup: ", wantCanonical: testBase + "/events/ev-mixed", wantPreview: true},
		{path: "/events/ev-online", wantDesc: "Pair programming on a small web service", wantCanonical: testBase + "/events/ev-online", wantPreview: true},
		{path: "/login", wantDesc: "Log in", wantCanonical: testBase + "/login"},
		{path: "/signup", wantDesc: "Create an EventPost account", wantCanonical: testBase + "/signup"},
		{path: "/no/such/page", wantDesc: "EventPost"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			page := body(t, serve(h, request("GET", tt.path, nil)))
			desc, ok := metaContent(page, "name", "description")
			if !ok || !strings.Contains(desc, tt.wantDesc) {
				t.Errorf("description = %q (present: %v), want it to hold %q", desc, ok, tt.wantDesc)
			}
			if n := len([]rune(desc)); n > 160 {
				t.Errorf("description is %d characters long: %q", n, desc)
			}
			if got := canonicalLink(page); got != tt.wantCanonical {
				t.Errorf("canonical = %q, want %q", got, tt.wantCanonical)
			}
			og := map[string]string{}
			for _, p := range []string{"og:type", "og:title", "og:description", "og:url", "og:site_name"} {
				if v, ok := metaContent(page, "property", p); ok {
					og[p] = v
				}
			}
			for _, n := range []string{"twitter:card", "twitter:title", "twitter:description"} {
				if v, ok := metaContent(page, "name", n); ok {
					og[n] = v
				}
			}
			if !tt.wantPreview {
				if len(og) != 0 {
					t.Errorf("preview tags on a page that is no event: %v", og)
				}
				return
			}
			if og["og:type"] != "website" || og["og:site_name"] != "EventPost" || og["og:url"] != tt.wantCanonical ||
				og["og:description"] != desc || og["twitter:card"] != "summary" || og["twitter:description"] != desc ||
				og["og:title"] == "" || og["og:title"] != og["twitter:title"] {
				t.Errorf("preview tags: %v", og)
			}
			if _, ok := metaContent(page, "property", "og:image"); ok {
				t.Error("og:image without an image")
			}
		})
	}

	// What a person wrote is escaped in the tags, and read back as they wrote it.
	page := body(t, serve(h, request("GET", "/events/ev-online", nil)))
	if title, _ := metaContent(page, "property", "og:title"); title != hostileTitle {
		t.Errorf("og:title = %q, want %q", title, hostileTitle)
	}
	if strings.Contains(page, `content="Live </script>`) || strings.Contains(page, `"more""`) {
		t.Error("the title is written unescaped into a tag")
	}
}

func TestEventDescriptionIsCutAtAWord(t *testing.T) {
	long := strings.Repeat("word ", 40) + "end"
	got := web.EventDescription(long, "fallback")
	if n := len([]rune(got)); n > 155 || n < 140 || !strings.HasSuffix(got, "word…") {
		t.Errorf("cut to %d characters: %q", n, got)
	}
	tests := map[string]string{
		"":                          "fallback",
		"  Short\n\n and   sweet. ": "Short and sweet.",
		strings.Repeat("x", 300):    strings.Repeat("x", 154) + "…",
	}
	for in, want := range tests {
		if got := web.EventDescription(in, "fallback"); got != want {
			t.Errorf("EventDescription(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRobotsTxt(t *testing.T) {
	h := newUI(t, web.Config{PublicURL: "https://events.example.org/"}, newFakeAPI())
	resp := serve(h, request("GET", "/robots.txt", nil))
	got := body(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := strings.Split(got, "\n")
	if lines[0] != "User-agent: *" {
		t.Errorf("first line %q", lines[0])
	}
	for _, want := range []string{"Disallow: /account", "Disallow: /my/", "Disallow: /reminders", "Disallow: /login?",
		"Disallow: /events/*/reminders", "Sitemap: https://events.example.org/sitemap.xml"} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("robots.txt lacks %q:\n%s", want, got)
		}
	}
	for _, l := range lines {
		// Nothing public is kept from crawlers: the list, events, logging in and signing up.
		for _, public := range []string{"/", "/events/", "/login", "/signup", "/?"} {
			if l == "Disallow: "+public {
				t.Errorf("robots.txt disallows %s", public)
			}
		}
		if l != "" && !regexp.MustCompile(`^(User-agent|Disallow|Sitemap): \S+$`).MatchString(l) {
			t.Errorf("robots.txt line %q", l)
		}
	}
}

// listAPI serves GET /api/v1/events over n upcoming events, paging by limit and cursor as
// the API does; throttle makes its first answer a 429.
type listAPI struct {
	mu       sync.Mutex
	n        int
	calls    int
	throttle bool
	failing  bool
}

func (a *listAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/events" {
		problem(w, http.StatusNotFound, "not found", nil)
		return
	}
	a.mu.Lock()
	a.calls++
	throttle, failing, n := a.throttle, a.failing, a.n
	a.throttle = false
	a.mu.Unlock()
	if throttle {
		w.Header().Set("Retry-After", "1")
		problem(w, http.StatusTooManyRequests, "slow down", nil)
		return
	}
	if failing {
		problem(w, http.StatusServiceUnavailable, "down", nil)
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit < 1 || limit > 100 {
		problem(w, http.StatusUnprocessableEntity, "bad limit", nil)
		return
	}
	from, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	items := []any{}
	for i := from; i < min(from+limit, n); i++ {
		e := fakeEvent(fmt.Sprintf("ev %d", i), "Event")
		e["updated_at"] = time.Date(2026, 1, 1+i%28, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
		items = append(items, e)
	}
	var next any
	if from+limit < n {
		next = strconv.Itoa(from + limit)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}

func (a *listAPI) callCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

// sitemapUI returns the UI over api with a clock the test moves.
func sitemapUI(t *testing.T, api http.Handler) (http.Handler, *time.Time) {
	t.Helper()
	// The handlers run on the test's goroutine (serve calls them, and the UI calls the API
	// in process): the clock needs no lock.
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ui, err := web.New(web.Config{PublicURL: testBase}, web.Deps{API: api, Log: logging.Discard(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return ui.Handler(), &now
}

type xmlURLSet struct {
	XMLName xml.Name `xml:"http://www.sitemaps.org/schemas/sitemap/0.9 urlset"`
	URLs    []struct {
		Loc     string `xml:"loc"`
		LastMod string `xml:"lastmod"`
	} `xml:"url"`
}

type xmlIndex struct {
	XMLName  xml.Name `xml:"http://www.sitemaps.org/schemas/sitemap/0.9 sitemapindex"`
	Sitemaps []struct {
		Loc     string `xml:"loc"`
		LastMod string `xml:"lastmod"`
	} `xml:"sitemap"`
}

// getXML fetches path from h and decodes it into out, failing unless it answers 200 XML.
func getXML(t *testing.T, h http.Handler, path string, out any) {
	t.Helper()
	resp := serve(h, request("GET", path, nil))
	data := body(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/xml; charset=utf-8" {
		t.Fatalf("GET %s: status %d, Content-Type %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.HasPrefix(data, `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Errorf("GET %s: no XML declaration", path)
	}
	if err := xml.Unmarshal([]byte(data), out); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, data)
	}
}

// wantEventURLs checks that urls are the pages of events 0 to n-1, absolute, with lastmod.
func wantEventURLs(t *testing.T, locs, lastMods []string, n int) {
	t.Helper()
	if len(locs) != n {
		t.Fatalf("the sitemap lists %d URLs, want %d", len(locs), n)
	}
	for i, loc := range locs {
		if want := testBase + "/events/ev%20" + strconv.Itoa(i); loc != want {
			t.Errorf("URL %d = %q, want %q", i, loc, want)
		}
		if want := time.Date(2026, 1, 1+i%28, 0, 0, 0, 0, time.UTC).Format(time.RFC3339); lastMods[i] != want {
			t.Errorf("lastmod %d = %q, want %q", i, lastMods[i], want)
		}
	}
}

func TestSitemapListsUpcomingEvents(t *testing.T) {
	api := &listAPI{n: 250}
	h, _ := sitemapUI(t, api)
	var set xmlURLSet
	getXML(t, h, "/sitemap.xml", &set)
	var locs, mods []string
	for _, u := range set.URLs {
		locs, mods = append(locs, u.Loc), append(mods, u.LastMod)
	}
	wantEventURLs(t, locs, mods, 250)
	if got := api.callCount(); got != 3 {
		t.Errorf("the build made %d API calls, want 3 pages of 100", got)
	}
	if resp := serve(h, request("GET", "/sitemap-1.xml", nil)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/sitemap-1.xml of a sitemap that is no index: status %d", resp.StatusCode)
	}
}

func TestSitemapIsAnIndexPastTheLimit(t *testing.T) {
	web.SetSitemapLimits(t, 100, 1000)
	api := &listAPI{n: 250}
	h, _ := sitemapUI(t, api)
	var index xmlIndex
	getXML(t, h, "/sitemap.xml", &index)
	if len(index.Sitemaps) != 3 {
		t.Fatalf("the index names %d sitemaps, want 3", len(index.Sitemaps))
	}
	var locs, mods []string
	for i, s := range index.Sitemaps {
		want := testBase + "/sitemap-" + strconv.Itoa(i+1) + ".xml"
		if s.Loc != want {
			t.Errorf("sitemap %d = %q, want %q", i, s.Loc, want)
		}
		if _, err := time.Parse(time.RFC3339, s.LastMod); err != nil {
			t.Errorf("sitemap %d lastmod %q: %v", i, s.LastMod, err)
		}
		var set xmlURLSet
		getXML(t, h, strings.TrimPrefix(s.Loc, testBase), &set)
		if len(set.URLs) > 100 {
			t.Errorf("%s holds %d URLs, past the limit of 100", s.Loc, len(set.URLs))
		}
		for _, u := range set.URLs {
			locs, mods = append(locs, u.Loc), append(mods, u.LastMod)
		}
	}
	wantEventURLs(t, locs, mods, 250)
	for _, path := range []string{"/sitemap-4.xml", "/sitemap-0.xml", "/sitemap-01.xml", "/sitemap-x.xml", "/sitemap-.xml"} {
		if resp := serve(h, request("GET", path, nil)); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
		}
	}
}

func TestSitemapIsCachedAndItsCallsBounded(t *testing.T) {
	web.SetSitemapLimits(t, 50000, 2)
	api := &listAPI{n: 250, throttle: true}
	h, now := sitemapUI(t, api)
	var set xmlURLSet
	getXML(t, h, "/sitemap.xml", &set)
	// A 429 is waited out and counts as a call: two calls list one page.
	if len(set.URLs) != 100 || api.callCount() != 2 {
		t.Fatalf("%d URLs in %d calls, want 100 in 2 (the bound)", len(set.URLs), api.callCount())
	}

	set = xmlURLSet{}
	getXML(t, h, "/sitemap.xml", &set)
	if len(set.URLs) != 100 || api.callCount() != 2 {
		t.Errorf("a fresh sitemap was rebuilt: %d calls", api.callCount())
	}

	// Once stale, it is rebuilt; if the rebuild fails, the stale one is served.
	*now = now.Add(web.SitemapMaxAge() + time.Second)
	api.mu.Lock()
	api.failing = true
	api.mu.Unlock()
	set = xmlURLSet{}
	getXML(t, h, "/sitemap.xml", &set)
	if len(set.URLs) != 100 || api.callCount() != 3 {
		t.Errorf("after a failed rebuild: %d URLs, %d calls; want the 100 of before, 3 calls", len(set.URLs), api.callCount())
	}
}

func TestSitemapUnavailable(t *testing.T) {
	api := &listAPI{n: 5, failing: true}
	h, now := sitemapUI(t, api)
	for range 2 {
		resp := serve(h, request("GET", "/sitemap.xml", nil))
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if api.callCount() != 1 {
		t.Errorf("%d calls: a failed build is not retried at once", api.callCount())
	}
	api.mu.Lock()
	api.failing = false
	api.mu.Unlock()
	*now = now.Add(2 * time.Minute)
	var set xmlURLSet
	getXML(t, h, "/sitemap.xml", &set)
	if len(set.URLs) != 5 {
		t.Errorf("%d URLs, want 5", len(set.URLs))
	}
}

func TestSitemapIsBuiltOnceForConcurrentRequests(t *testing.T) {
	api := &listAPI{n: 250}
	h, _ := sitemapUI(t, api)
	const clients = 8
	bodies := make([]string, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			resp := serve(h, request("GET", "/sitemap.xml", nil))
			if resp.StatusCode != http.StatusOK {
				t.Errorf("client %d: status %d", i, resp.StatusCode)
			}
			data, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Errorf("client %d: %v", i, err)
			}
			bodies[i] = string(data)
		})
	}
	wg.Wait()
	for i := 1; i < clients; i++ {
		if bodies[i] != bodies[0] {
			t.Errorf("client %d got another sitemap", i)
		}
	}
	if got := api.callCount(); got != 3 {
		t.Errorf("%d API calls for %d concurrent requests, want the 3 pages of one build", got, clients)
	}
}
