package web_test

import (
	"bytes"
	"context"
	"flag"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var update = flag.Bool("update", false, "write the screenshots of TestScreenshots to docs/screenshots")

// TestScreenshots takes the screenshots of the README: the event list with a few events,
// and an event's page, on a desktop and on a phone. With -update it writes them to docs/screenshots; without, it only
// checks that they can be taken.
func TestScreenshots(t *testing.T) {
	b := startBrowser(t)
	api := apiClient{t: t, base: b.base}
	token := api.signUp("Mara Jensen", "mara@example.com", "a long enough password")

	// Events at fixed hours of coming days, in their own time zones.
	day := func(days, hour, minute int, tz string) time.Time {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			t.Fatal(err)
		}
		d := time.Now().In(loc).AddDate(0, 0, days)
		return time.Date(d.Year(), d.Month(), d.Day(), hour, minute, 0, 0, loc)
	}
	rfc := func(t time.Time) string { return t.Format(time.RFC3339) }
	loc := func(name, address string, lat, lon float64) map[string]any {
		return map[string]any{"name": name, "address": address, "lat": lat, "lon": lon}
	}
	jazz := day(9, 20, 30, "Europe/Berlin")
	jazzID := api.createEvent(token, map[string]any{
		"title": "Rooftop jazz night",
		"description": "The Lena Vogt Quartet plays standards and new pieces under the open sky.\n" +
			"Doors open at 20:00; the bar serves drinks and small plates. If it rains, we move to the lounge downstairs.",
		"starts_at": rfc(jazz), "ends_at": rfc(jazz.Add(150 * time.Minute)), "timezone": "Europe/Berlin",
		"location": loc("Sky Bar", "Alexanderplatz 1, 10178 Berlin", 52.5219, 13.4132),
		"category": "music", "tags": []string{"jazz", "live-music", "rooftop"}, "capacity": 120,
	})
	talk := day(2, 18, 30, "Europe/Berlin")
	api.createEvent(token, map[string]any{
		"title": "Go meetup: building with the standard library", "starts_at": rfc(talk), "ends_at": rfc(talk.Add(2 * time.Hour)),
		"timezone": "Europe/Berlin", "location": loc("c-base", "Rungestraße 20, Berlin", 52.5130, 13.4200),
		"category": "tech", "tags": []string{"golang", "talk"},
	})
	market := day(4, 9, 0, "Europe/Berlin")
	api.createEvent(token, map[string]any{
		"title": "Farmers' market on the square", "starts_at": rfc(market), "ends_at": rfc(market.Add(5 * time.Hour)),
		"timezone": "Europe/Berlin", "location": loc("Kollwitzplatz", "Kollwitzplatz, Berlin", 52.5365, 13.4176),
		"category": "food", "tags": []string{"market", "local"},
	})
	games := day(6, 19, 0, "Europe/London")
	api.createEvent(token, map[string]any{
		"title": "Online board games evening", "starts_at": rfc(games), "timezone": "Europe/London",
		"online_url": "https://meet.example.org/board-games", "category": "games", "tags": []string{"games", "online"},
	})
	run := day(12, 7, 30, "Europe/Berlin")
	api.createEvent(token, map[string]any{
		"title": "Tempelhof sunrise run, 10 km", "starts_at": rfc(run), "ends_at": rfc(run.Add(75 * time.Minute)),
		"timezone": "Europe/Berlin", "location": loc("Tempelhofer Feld", "Columbiadamm entrance, Berlin", 52.4736, 13.4017),
		"category": "sport", "tags": []string{"running"},
	})

	// A few people go to the jazz night and one is interested, so that its counts show.
	for i, name := range []string{"Jonas", "Priya", "Tomás", "Ines"} {
		token := api.signUp(name, strings.ToLower(name[:2])+"@example.com", "a long enough password")
		status := "going"
		if i == 3 {
			status = "interested"
		}
		api.do("PUT", "/api/v1/events/"+jazzID+"/attendance", token, map[string]string{"status": status}, nil, http.StatusOK)
	}

	// A visitor's view of the list; a logged-in person's view of an event.
	b.step("viewport", chromedp.EmulateViewport(1280, 900))
	b.open("/")
	shoot(t, b, "events.png", false)

	b.open("/login")
	b.fill("#f-email", "mara@example.com")
	b.fill("#f-password", "a long enough password")
	b.click(`form[action="/login"] button[type="submit"]`, http.StatusOK)
	b.open("/events/" + jazzID)
	shoot(t, b, "event.png", false)

	// The first screen of a phone: the event (going and reminding on it) and the list.
	b.step("phone viewport", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	b.open("/events/" + jazzID)
	shoot(t, b, "phone-event.png", true)
	b.open("/")
	shoot(t, b, "phone-events.png", true)
}

// shoot takes a screenshot and, with -update, writes it to docs/screenshots/name: of the
// whole page, or with phone of the first screen of a phone (EmulateViewport with
// phoneWidth and phoneHeight at scale 2).
func shoot(t *testing.T, b *browser, name string, phone bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	capture, minWidth, minHeight := chromedp.FullScreenshot(100), 1000, 600
	if phone {
		capture, minWidth, minHeight = chromedp.CaptureScreenshot(), 2*phoneWidth, 2*phoneHeight
	}
	img, err := chromedp.Run(ctx, capture)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("screenshot %s is no PNG: %v", name, err)
	}
	if cfg.Width < minWidth || cfg.Height < minHeight {
		t.Errorf("screenshot %s is %dx%d, smaller than the viewport", name, cfg.Width, cfg.Height)
	}
	if !*update {
		return
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), img, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%dx%d)", filepath.Join(dir, name), cfg.Width, cfg.Height)
}
