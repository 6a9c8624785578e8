package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCalendarFeedThroughGateway follows a calendar feed through the gateway of the
// all-in-one system, every exchange checked against the OpenAPI document: the URL, the feed
// with the reminder's VALARM, 304 on its own ETag, a new ETag after a new reminder, and 404
// after rotation.
func TestCalendarFeedThroughGateway(t *testing.T) {
	c, _, _ := startSystem(t)
	ann, _ := c.signUpAndLogIn("ann@example.com", "Ann")
	starts := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	ev := c.must(201, "POST", "/api/v1/events", ann, map[string]any{"title": "Jazz night", "starts_at": starts.Format(time.RFC3339)})
	id := ev["id"].(string)
	c.must(201, "POST", "/api/v1/notifications", ann, map[string]any{"event_id": id, "minutes_before": 90})

	c.must(401, "GET", "/api/v1/accounts/me/calendar", "", nil)
	url := c.must(200, "GET", "/api/v1/accounts/me/calendar", ann, nil)["url"].(string)
	path, ok := strings.CutPrefix(url, "http://eventpost.test/api/v1/calendars/")
	if !ok {
		t.Fatalf("calendar URL %q", url)
	}
	path = "/api/v1/calendars/" + path

	r := c.do("GET", path, "", nil)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "text/calendar; charset=utf-8; method=PUBLISH" {
		t.Fatalf("feed: %d %s\n%s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	body := string(r.Body)
	for _, want := range []string{"UID:" + id + "@eventpost.test\r\n", "SUMMARY:Jazz night\r\n", "TRIGGER:-PT90M\r\n",
		"X-WR-CALNAME:EventPost — Ann\r\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("feed lacks %q:\n%s", want, body)
		}
	}
	if got := r.Header.Get("Cache-Control"); got != "private, max-age=300" {
		t.Errorf("Cache-Control %q through the gateway", got)
	}
	etag := r.Header.Get("ETag")
	if r := c.doWith("GET", path, "", nil, map[string]string{"If-None-Match": etag}); r.Status != http.StatusNotModified || len(r.Body) != 0 {
		t.Errorf("If-None-Match its ETag: %d with %d bytes, want 304 without a body", r.Status, len(r.Body))
	}
	c.must(201, "POST", "/api/v1/notifications", ann, map[string]any{"event_id": id, "minutes_before": 15})
	r = c.doWith("GET", path, "", nil, map[string]string{"If-None-Match": etag})
	if r.Status != http.StatusOK || r.Header.Get("ETag") == etag || strings.Count(string(r.Body), "BEGIN:VALARM") != 2 {
		t.Errorf("after a second reminder: %d, ETag %q (was %q), %d alarms", r.Status, r.Header.Get("ETag"), etag,
			strings.Count(string(r.Body), "BEGIN:VALARM"))
	}

	rotated := c.must(200, "POST", "/api/v1/accounts/me/calendar/rotate", ann, nil)["url"].(string)
	if rotated == url {
		t.Fatal("rotation kept the URL")
	}
	c.must(404, "GET", path, "", nil)
	c.must(200, "GET", strings.TrimPrefix(rotated, "http://eventpost.test"), "", nil)

	calendarFeedStory(t, c)
}
