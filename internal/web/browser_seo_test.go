package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBrowserFindableEvent reads, in a real browser over the whole system, what an event's
// page tells search engines: its JSON-LD from the DOM, its meta description and canonical
// link; then finds the event in the sitemap that robots.txt names; and, once the organizer
// deletes the event, reads the page of the cancelled event and its EventCancelled status.
func TestBrowserFindableEvent(t *testing.T) {
	b := startBrowser(t)
	api := apiClient{t: t, base: b.base}
	const public = "http://eventpost.test" // the system's public URL (startSystem)

	organizer := api.signUp("Lena Vogt", "lena@example.com", "a long enough password")
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().In(berlin).Add(9 * 24 * time.Hour).Truncate(time.Hour)
	title := `Harbour swim </script><script>alert(1)</script>`
	id := api.createEvent(organizer, map[string]any{
		"title": title, "description": "Cold water, warm tea.", "timezone": "Europe/Berlin", "capacity": 12,
		"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(2 * time.Hour).Format(time.RFC3339),
		"location": map[string]any{"name": "Pier 4", "address": "Hafenstraße 1, Hamburg", "lat": 53.5413, "lon": 9.9841},
	})

	b.open("/events/" + id)
	ld := eval[map[string]any](b, `JSON.parse(document.querySelector('script[type="application/ld+json"]').textContent)`)
	for path, want := range map[string]any{
		"@context": "https://schema.org", "@type": "Event", "name": title, "description": "Cold water, warm tea.",
		"startDate": start.Format(time.RFC3339), "endDate": start.Add(2 * time.Hour).Format(time.RFC3339),
		"eventStatus": "https://schema.org/EventScheduled", "eventAttendanceMode": "https://schema.org/OfflineEventAttendanceMode",
		"location/@type": "Place", "location/name": "Pier 4", "location/address/streetAddress": "Hafenstraße 1, Hamburg",
		"location/geo/latitude": 53.5413, "location/geo/longitude": 9.9841,
		"organizer/@type": "Person", "organizer/name": "Lena Vogt",
		"maximumAttendeeCapacity": 12.0, "remainingAttendeeCapacity": 12.0, "url": public + "/events/" + id,
	} {
		if got := at(ld, strings.Split(path, "/")...); got != want {
			t.Errorf("JSON-LD %s = %v, want %v", path, got, want)
		}
	}
	if n := eval[int](b, `document.querySelectorAll('script:not([src]):not([type="application/ld+json"])').length`); n != 0 {
		t.Errorf("the title made %d inline scripts", n)
	}
	if got := eval[string](b, `document.querySelector('meta[name="description"]').content`); got != "Cold water, warm tea." {
		t.Errorf("meta description = %q", got)
	}
	if got := eval[string](b, `document.querySelector('link[rel="canonical"]').href`); got != public+"/events/"+id {
		t.Errorf("canonical = %q", got)
	}
	if got := eval[string](b, `document.querySelector('meta[property="og:title"]').content`); got != title {
		t.Errorf("og:title = %q", got)
	}

	robots := fetchText(t, b.base+"/robots.txt")
	if !strings.Contains(robots, "Sitemap: "+public+"/sitemap.xml\n") {
		t.Errorf("robots.txt names no sitemap:\n%s", robots)
	}
	if sitemap := fetchText(t, b.base+"/sitemap.xml"); !strings.Contains(sitemap, "<loc>"+public+"/events/"+id+"</loc>") {
		t.Errorf("the sitemap does not list the event:\n%s", sitemap)
	}

	// The organizer deletes the event: its page says it was cancelled, still with 200.
	api.do("DELETE", "/api/v1/events/"+id, organizer, nil, nil, http.StatusNoContent)
	b.open("/events/" + id)
	b.wantText("#cancelled h2", "This event was cancelled")
	ld = eval[map[string]any](b, `JSON.parse(document.querySelector('script[type="application/ld+json"]').textContent)`)
	for path, want := range map[string]any{
		"@type": "Event", "name": title, "eventStatus": "https://schema.org/EventCancelled",
		"startDate": start.UTC().Format(time.RFC3339), "location/geo/latitude": 53.5413,
	} {
		if got := at(ld, strings.Split(path, "/")...); got != want {
			t.Errorf("cancelled JSON-LD %s = %v, want %v", path, got, want)
		}
	}
}

// fetchText GETs url and returns its body, failing unless it answers 200.
func fetchText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d\n%s", url, resp.StatusCode, data)
	}
	return string(data)
}
