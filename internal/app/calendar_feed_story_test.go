package app_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	ical "github.com/arran4/golang-ical"
)

// calendarFeedStory follows a person's calendar feed as a calendar app polls it: the event
// they go to (with the organizer's two default reminders as alarms) and the one they hold a
// reminder for, parsed with golang-ical; 304 on its own ETag; the moved event with a higher
// SEQUENCE; the deleted one cancelled; 404 after rotation. Attendance reaches the feed's
// owner (notifications) as messages, so the story waits for each change to show.
func calendarFeedStory(t *testing.T, c *client) {
	organizer, _ := c.signUpAndLogIn("feed-organizer@example.com", "Feed Organizer")
	person, _ := c.signUpAndLogIn("feed-person@example.com", "Feed Person")
	start := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	goingTo := c.must(201, "POST", "/api/v1/events", organizer, map[string]any{
		"title": "Feed: going", "starts_at": rfc3339(start), "default_reminders": []int{1440, 60},
	})["id"].(string)
	reminded := c.must(201, "POST", "/api/v1/events", organizer, map[string]any{
		"title": "Feed: reminded", "starts_at": rfc3339(start.Add(24 * time.Hour)),
	})["id"].(string)
	c.must(200, "PUT", "/api/v1/events/"+goingTo+"/attendance", person, map[string]any{"status": "going"})
	c.must(201, "POST", "/api/v1/notifications", person, map[string]any{"event_id": reminded, "minutes_before": 30})

	feedURL := c.must(200, "GET", "/api/v1/accounts/me/calendar", person, nil)["url"].(string)
	u, err := url.Parse(feedURL)
	if err != nil {
		t.Fatalf("calendar URL %q: %v", feedURL, err)
	}
	path := u.Path

	// feed fetches the feed and parses it; it returns the events by their ID (the UID's
	// part before the @), and the response.
	feed := func(etag string) (map[string]*ical.VEvent, response) {
		t.Helper()
		r := c.doWith("GET", path, "", nil, map[string]string{"If-None-Match": etag})
		if r.Status == http.StatusNotModified {
			return nil, r
		}
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "text/calendar; charset=utf-8; method=PUBLISH" {
			t.Fatalf("feed: %d %s\n%s", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		cal, err := ical.ParseCalendar(bytes.NewReader(r.Body))
		if err != nil {
			t.Fatalf("parse feed: %v\n%s", err, r.Body)
		}
		byID := map[string]*ical.VEvent{}
		for _, ev := range cal.Events() {
			for _, p := range []ical.ComponentProperty{ical.ComponentPropertyUniqueId, ical.ComponentPropertyDtstamp,
				ical.ComponentPropertySequence, ical.ComponentPropertyLastModified} {
				if ev.GetProperty(p) == nil {
					t.Errorf("VEVENT %s has no %s", ev.Id(), p)
				}
			}
			id, _, _ := strings.Cut(ev.Id(), "@")
			byID[id] = ev
		}
		return byID, r
	}
	value := func(ev *ical.VEvent, p ical.ComponentProperty) string {
		if v := ev.GetProperty(p); v != nil {
			return v.Value
		}
		return ""
	}

	var events map[string]*ical.VEvent
	var r response
	eventually(t, 30*time.Second, "the feed to show the event gone to, with its two alarms, and the reminded one", func() bool {
		events, r = feed("")
		return len(events) == 2 && events[goingTo] != nil && len(events[goingTo].Alarms()) == 2 &&
			events[reminded] != nil && len(events[reminded].Alarms()) == 1
	})
	for id, want := range map[string][]string{goingTo: {"-PT1440M", "-PT60M"}, reminded: {"-PT30M"}} {
		var got []string
		for _, a := range events[id].Alarms() {
			got = append(got, a.GetProperty(ical.ComponentPropertyTrigger).Value)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") && !(len(got) == 2 && got[0] == want[1] && got[1] == want[0]) {
			t.Errorf("alarms of %s: %v, want %v", id, got, want)
		}
	}
	etag := r.Header.Get("ETag")
	if _, r := feed(etag); r.Status != http.StatusNotModified || len(r.Body) != 0 {
		t.Errorf("If-None-Match its own ETag: %d with %d bytes, want 304 without a body", r.Status, len(r.Body))
	}

	// The organizer moves one event and deletes the other.
	seq := value(events[goingTo], ical.ComponentPropertySequence)
	c.must(200, "PATCH", "/api/v1/events/"+goingTo, organizer, map[string]any{"starts_at": rfc3339(start.Add(2 * time.Hour))})
	c.must(204, "DELETE", "/api/v1/events/"+reminded, organizer, nil)
	eventually(t, 30*time.Second, "the feed to show the move and the cancellation", func() bool {
		events, r = feed(etag)
		return r.Status == http.StatusOK && events[goingTo] != nil && events[reminded] != nil &&
			value(events[goingTo], ical.ComponentPropertySequence) != seq &&
			value(events[reminded], ical.ComponentPropertyStatus) == "CANCELLED"
	})
	if r.Header.Get("ETag") == etag {
		t.Error("the feed changed, its ETag did not")
	}
	if got, want := value(events[goingTo], ical.ComponentPropertyDtStart), start.Add(2*time.Hour).Format("20060102T150405Z"); got != want {
		t.Errorf("moved event's DTSTART %s, want %s", got, want)
	}
	if n := len(events[reminded].Alarms()); n != 0 {
		t.Errorf("the cancelled event has %d alarms", n)
	}

	rotated := c.must(200, "POST", "/api/v1/accounts/me/calendar/rotate", person, nil)["url"].(string)
	if rotated == feedURL {
		t.Fatal("rotation kept the URL")
	}
	c.must(404, "GET", path, "", nil)
	nu, err := url.Parse(rotated)
	if err != nil {
		t.Fatal(err)
	}
	c.must(200, "GET", nu.Path, "", nil)
}
