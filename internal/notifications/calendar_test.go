package notifications_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ical "github.com/arran4/golang-ical"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/notifications/storetest"
	"github.com/eventpost/eventpost/internal/platform/ics"
)

// publicURL is the EventPost address of the calendar tests' service.
const publicURL = "https://events.example.org"

// calendarEnv is an env whose clock the test moves, serving feeds at publicURL.
type calendarEnv struct {
	*env
	mu  sync.Mutex
	clk time.Time
}

func newCalendarEnv(t *testing.T) *calendarEnv {
	c := &calendarEnv{clk: now}
	cfg := notifications.DefaultConfig()
	cfg.PublicURL = publicURL
	c.env = newEnv(t, envOptions{cfg: cfg, clock: func() time.Time {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.clk
	}})
	return c
}

func (c *calendarEnv) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clk = c.clk.Add(d)
}

// calendarURL asks for the URL of c's feed (POST .../rotate when rotate) and returns its
// path.
func (e *env) calendarPath(t *testing.T, c caller, rotate bool) string {
	t.Helper()
	method, path := http.MethodGet, "/api/v1/accounts/me/calendar"
	if rotate {
		method, path = http.MethodPost, path+"/rotate"
	}
	w := e.do(t, c, method, path, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", method, path, w.Code, w.Body)
	}
	var body struct{ URL string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("calendar URL body %s: %v", w.Body, err)
	}
	feed, ok := strings.CutPrefix(body.URL, publicURL)
	if !ok || !strings.HasPrefix(feed, "/api/v1/calendars/") {
		t.Fatalf("calendar URL %q is not <public URL>/api/v1/calendars/<token>", body.URL)
	}
	token := strings.TrimPrefix(feed, "/api/v1/calendars/")
	if len(token) != 43 || strings.ContainsAny(token, "+/=") {
		t.Errorf("token %q is not 32 bytes of unpadded base64url", token)
	}
	return feed
}

// fetchFeed GETs the feed at path, as the gateway passes on a request without a login, with
// If-None-Match when ifNoneMatch is not "".
func (e *env) fetchFeed(t *testing.T, path, ifNoneMatch string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	signAsGateway(req, nobody)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

// parseFeed reads a feed with the iCalendar library and returns its events by UID.
func parseFeed(t *testing.T, body []byte) (*ical.Calendar, map[string]*ical.VEvent) {
	t.Helper()
	cal, err := ical.ParseCalendar(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse feed: %v\n%s", err, body)
	}
	byUID := map[string]*ical.VEvent{}
	for _, ev := range cal.Events() {
		// RFC 5545 3.6.1: UID and DTSTAMP are required, once each.
		for _, p := range []ical.ComponentProperty{ical.ComponentPropertyUniqueId, ical.ComponentPropertyDtstamp} {
			n := 0
			for _, prop := range ev.Properties {
				if prop.IANAToken == string(p) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("VEVENT %s has %d %s, want 1", ev.Id(), n, p)
			}
		}
		if _, dup := byUID[ev.Id()]; dup {
			t.Errorf("two VEVENTs with UID %s", ev.Id())
		}
		byUID[ev.Id()] = ev
	}
	return cal, byUID
}

func prop(c *ical.ComponentBase, p ical.ComponentProperty) string {
	if v := c.GetProperty(p); v != nil {
		return v.Value
	}
	return ""
}

// triggers returns the TRIGGERs of ev's alarms, an absolute one as "VALUE=DATE-TIME:<time>".
func triggers(ev *ical.VEvent) []string {
	var out []string
	for _, a := range ev.Alarms() {
		tr := a.GetProperty(ical.ComponentPropertyTrigger)
		if tr == nil {
			out = append(out, "none")
			continue
		}
		v := tr.Value
		if p := tr.ICalParameters["VALUE"]; len(p) > 0 {
			v = "VALUE=" + p[0] + ":" + v
		}
		if prop(&a.ComponentBase, ical.ComponentPropertyAction) != "DISPLAY" {
			v += " (not DISPLAY)"
		}
		out = append(out, v)
	}
	return out
}

func TestCalendarFeed(t *testing.T) {
	e := newCalendarEnv(t)
	ctx := context.Background()
	evA := testEvent("ev-a", now.Add(72*time.Hour))
	evA.Sequence = 2
	evB := testEvent("ev-b", now.Add(96*time.Hour))
	evC := testEvent("ev-c", now.Add(120*time.Hour))
	evC.Sequence = 5
	evX := testEvent("ev-x", now.Add(24*time.Hour))
	for _, ev := range []messages.Event{evA, evB, evC, evX} {
		e.events.put(ev)
	}
	// Alice: two reminders for A, going to B (its snapshot as attendance.changed brings it),
	// a reminder for C; only interested in X, for which Bob has a reminder.
	e.create(t, alice, map[string]any{"event_id": "ev-a", "minutes_before": 60, "note": "Leave early"})
	absolute := now.Add(50 * time.Hour)
	e.create(t, alice, map[string]any{"event_id": "ev-a", "send_at": absolute.Format(time.RFC3339)})
	e.create(t, alice, map[string]any{"event_id": "ev-c", "minutes_before": 30})
	e.create(t, bob, map[string]any{"event_id": "ev-x", "minutes_before": 30})
	if err := e.store.Update(ctx, func(tx notifications.Tx) error { return tx.PutSnapshot(ctx, evB) }); err != nil {
		t.Fatal(err)
	}
	storetest.PutAttendance(t, e.store, alice.id, "ev-b", messages.AttendanceGoing, 1)
	storetest.PutAttendance(t, e.store, alice.id, "ev-x", messages.AttendanceInterested, 1)

	if w := e.do(t, nobody, http.MethodGet, "/api/v1/accounts/me/calendar", nil); w.Code != http.StatusUnauthorized {
		t.Errorf("calendar URL without a login: status %d, want 401", w.Code)
	}
	path := e.calendarPath(t, alice, false)
	if again := e.calendarPath(t, alice, false); again != path {
		t.Errorf("second call gave another URL: %s, then %s", path, again)
	}
	if bobs := e.calendarPath(t, bob, false); bobs == path {
		t.Error("Bob's feed has Alice's URL")
	}

	w := e.fetchFeed(t, path, "")
	if w.Code != http.StatusOK {
		t.Fatalf("feed: status %d: %s", w.Code, w.Body)
	}
	for h, want := range map[string]string{
		"Content-Type": ics.Publish.ContentType(), "Cache-Control": "private, max-age=300",
		"Content-Length": strconv.Itoa(w.Body.Len()),
	} {
		if got := w.Header().Get(h); got != want {
			t.Errorf("%s %q, want %q", h, got, want)
		}
	}
	etag := w.Header().Get("ETag")
	if !strings.HasPrefix(etag, `W/"`) {
		t.Fatalf("ETag %q is not a weak entity tag", etag)
	}
	cal, byUID := parseFeed(t, w.Body.Bytes())
	var method, name string
	for _, p := range cal.CalendarProperties {
		switch p.IANAToken {
		case "METHOD":
			method = p.Value
		case "X-WR-CALNAME":
			name = p.Value
		}
	}
	if method != "PUBLISH" || name != "EventPost — "+displayName(alice) {
		t.Errorf("METHOD %q, X-WR-CALNAME %q", method, name)
	}
	uid := func(id string) string { return id + "@events.example.org" }
	if len(byUID) != 3 || byUID[uid("ev-a")] == nil || byUID[uid("ev-b")] == nil || byUID[uid("ev-c")] == nil {
		t.Fatalf("feed events %v, want ev-a, ev-b and ev-c:\n%s", uids(byUID), w.Body)
	}
	a := byUID[uid("ev-a")]
	wantTriggers := []string{"-PT60M", "VALUE=DATE-TIME:" + absolute.UTC().Format("20060102T150405Z")}
	if got := triggers(a); strings.Join(got, "|") != strings.Join(wantTriggers, "|") && strings.Join(got, "|") != wantTriggers[1]+"|"+wantTriggers[0] {
		t.Errorf("ev-a alarms %q, want %q", got, wantTriggers)
	}
	if got := prop(&a.ComponentBase, ical.ComponentPropertySequence); got != "2" {
		t.Errorf("ev-a SEQUENCE %q, want 2", got)
	}
	if got := prop(&a.ComponentBase, ical.ComponentPropertyUrl); got != publicURL+"/events/ev-a" {
		t.Errorf("ev-a URL %q", got)
	}
	if got := triggers(byUID[uid("ev-b")]); len(got) != 0 {
		t.Errorf("ev-b, gone to without reminders, has alarms %q", got)
	}
	if got := triggers(byUID[uid("ev-c")]); len(got) != 1 || got[0] != "-PT30M" {
		t.Errorf("ev-c alarms %q, want -PT30M", got)
	}

	t.Run("304 on its own ETag", func(t *testing.T) {
		for _, inm := range []string{etag, strings.TrimPrefix(etag, "W/"), `"other", ` + etag, "*"} {
			w := e.fetchFeed(t, path, inm)
			if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
				t.Errorf("If-None-Match %s: status %d, %d bytes; want 304 without a body", inm, w.Code, w.Body.Len())
			}
			if w.Header().Get("ETag") != etag || w.Header().Get("Cache-Control") != "private, max-age=300" {
				t.Errorf("304 headers %v", w.Header())
			}
		}
		if w := e.fetchFeed(t, path, `W/"other"`); w.Code != http.StatusOK || w.Header().Get("ETag") != etag {
			t.Errorf("another ETag: status %d, ETag %q; want 200 with %s", w.Code, w.Header().Get("ETag"), etag)
		}
	})

	// changed checks that the feed changed: 200 to the previous ETag, a new ETag.
	changed := func(t *testing.T, what string) []byte {
		t.Helper()
		w := e.fetchFeed(t, path, etag)
		if w.Code != http.StatusOK {
			t.Fatalf("after %s: status %d to the previous ETag, want 200", what, w.Code)
		}
		if next := w.Header().Get("ETag"); next == etag || next == "" {
			t.Fatalf("after %s: ETag %q unchanged", what, next)
		} else {
			etag = next
		}
		if w := e.fetchFeed(t, path, etag); w.Code != http.StatusNotModified {
			t.Errorf("after %s: status %d to the new ETag, want 304", what, w.Code)
		}
		return w.Body.Bytes()
	}

	t.Run("a new reminder changes it", func(t *testing.T) {
		e.create(t, alice, map[string]any{"event_id": "ev-b", "minutes_before": 1440})
		_, byUID := parseFeed(t, changed(t, "a new reminder"))
		if got := triggers(byUID[uid("ev-b")]); len(got) != 1 || got[0] != "-PT1440M" {
			t.Errorf("ev-b alarms %q, want -PT1440M", got)
		}
	})

	t.Run("a changed event changes it", func(t *testing.T) {
		moved := evA
		moved.StartsAt, moved.UpdatedAt, moved.Sequence = evA.StartsAt.Add(time.Hour), now, 3
		deliver(t, e.env, messages.TypeEventChanged, messages.EventChanged{Event: moved, PreviousStartsAt: &evA.StartsAt})
		_, byUID := parseFeed(t, changed(t, "the event moved"))
		a := byUID[uid("ev-a")]
		if got := prop(&a.ComponentBase, ical.ComponentPropertySequence); got != "3" {
			t.Errorf("moved ev-a SEQUENCE %q, want 3", got)
		}
		if got, _ := a.GetStartAt(); !got.Equal(moved.StartsAt) {
			t.Errorf("moved ev-a DTSTART %v, want %v", got, moved.StartsAt)
		}
		if got, _ := a.GetLastModifiedAt(); !got.Equal(now) {
			t.Errorf("moved ev-a LAST-MODIFIED %v, want %v", got, now)
		}
	})

	t.Run("a deleted event is cancelled, then gone after 30 days", func(t *testing.T) {
		deliver(t, e.env, messages.TypeEventDeleted, messages.EventDeleted{Event: evC, Reason: messages.DeletedByOrganizer})
		_, byUID := parseFeed(t, changed(t, "the event was deleted"))
		c := byUID[uid("ev-c")]
		if c == nil {
			t.Fatal("the deleted event left the feed at once")
		}
		if got := prop(&c.ComponentBase, ical.ComponentPropertyStatus); got != "CANCELLED" {
			t.Errorf("deleted ev-c STATUS %q, want CANCELLED", got)
		}
		if got := prop(&c.ComponentBase, ical.ComponentPropertySequence); got != "6" {
			t.Errorf("deleted ev-c SEQUENCE %q, want 6 (one above the last)", got)
		}
		if got := triggers(c); len(got) != 0 {
			t.Errorf("deleted ev-c keeps alarms %q", got)
		}
		e.advance(29 * 24 * time.Hour)
		if w := e.fetchFeed(t, path, etag); w.Code != http.StatusNotModified {
			t.Errorf("29 days on: status %d, want 304 (nothing changed)", w.Code)
		}
		e.advance(24*time.Hour + time.Second)
		_, byUID = parseFeed(t, changed(t, "30 days"))
		if byUID[uid("ev-c")] != nil || len(byUID) != 2 {
			t.Errorf("30 days after the deletion the feed holds %v", uids(byUID))
		}
	})

	t.Run("rotation: the old URL is 404", func(t *testing.T) {
		rotated := e.calendarPath(t, alice, true)
		if rotated == path {
			t.Fatal("rotation kept the URL")
		}
		for _, inm := range []string{"", etag} {
			w := e.fetchFeed(t, path, inm)
			if w.Code != http.StatusNotFound || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/problem+json") {
				t.Errorf("old URL (If-None-Match %q): status %d, %s", inm, w.Code, w.Header().Get("Content-Type"))
			}
		}
		if w := e.fetchFeed(t, rotated, etag); w.Code != http.StatusNotModified {
			t.Errorf("new URL with the ETag of the same feed: status %d, want 304", w.Code)
		}
		if got := e.calendarPath(t, alice, false); got != rotated {
			t.Errorf("GET after rotation: %s, want %s", got, rotated)
		}
		path = rotated
	})

	t.Run("account.deleted removes the feed", func(t *testing.T) {
		deliver(t, e.env, messages.TypeAccountDeleted, messages.AccountDeleted{AccountID: alice.id, DeletedAt: now})
		if w := e.fetchFeed(t, path, ""); w.Code != http.StatusNotFound {
			t.Errorf("feed of a deleted account: status %d, want 404", w.Code)
		}
	})
}

func TestCalendarFeedUnknownTokens(t *testing.T) {
	e := newCalendarEnv(t)
	e.calendarPath(t, alice, false)
	for _, token := range []string{
		strings.Repeat("A", 43), "short", strings.Repeat("A", 44), strings.Repeat("A", 42) + "+",
		strings.Repeat("A", 42) + "%25", strings.Repeat("é", 20),
	} {
		w := e.fetchFeed(t, "/api/v1/calendars/"+token, "")
		if w.Code != http.StatusNotFound || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/problem+json") {
			t.Errorf("token %q: status %d, %s; want 404 problem+json", token, w.Code, w.Header().Get("Content-Type"))
		}
	}
}

// TestCalendarFeedEmpty: an account without events has a valid, empty feed.
func TestCalendarFeedEmpty(t *testing.T) {
	e := newCalendarEnv(t)
	w := e.fetchFeed(t, e.calendarPath(t, bob, false), "")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if _, byUID := parseFeed(t, w.Body.Bytes()); len(byUID) != 0 {
		t.Errorf("empty feed holds %v", uids(byUID))
	}
}

func uids[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
