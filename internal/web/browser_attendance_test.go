package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// phoneWidth and phoneHeight are the viewport of a common phone, in CSS pixels.
const (
	phoneWidth  = 390
	phoneHeight = 844
)

// TestBrowserAttendance walks going to events through the web UI of the whole system: a
// person logs in, goes to an event with places, sees the count rise and the places left
// fall, and finds the event under My events; another person, on a full event, sees their
// place on the waitlist; and on a phone the main actions are on the first screen.
func TestBrowserAttendance(t *testing.T) {
	b := startBrowser(t)
	api := apiClient{t: t, base: b.base}

	organizer := api.signUp("Lena Vogt", "lena@example.com", "a long enough password")
	soon := time.Now().Add(5 * 24 * time.Hour).UTC().Truncate(time.Hour).Format(time.RFC3339)
	workshop := api.createEvent(organizer, map[string]any{
		"title": "Pottery workshop", "starts_at": soon, "timezone": "Europe/Berlin", "capacity": 3,
		"location": map[string]any{"name": "Studio 4", "address": "Kastanienallee 4, Berlin"},
	})
	dinner := api.createEvent(organizer, map[string]any{
		"title": "Chef's table dinner", "starts_at": soon, "timezone": "Europe/Berlin", "capacity": 1,
	})
	// Two people take the dinner's one place and the first place on its waitlist.
	for _, p := range []struct{ name, email string }{{"Kim", "kim@example.com"}, {"Sam", "sam@example.com"}} {
		token := api.signUp(p.name, p.email, "a long enough password")
		api.do("PUT", "/api/v1/events/"+dinner+"/attendance", token, map[string]string{"status": "going"}, nil, http.StatusOK)
	}

	// Ada logs in and opens the workshop: nobody goes yet, 3 places.
	api.signUp("Ada Lovelace", "ada@example.com", "correct horse battery")
	b.open("/login?next=/events/" + workshop)
	b.fill("#f-email", "ada@example.com")
	b.fill("#f-password", "correct horse battery")
	b.click(`form[action="/login"] button[type="submit"]`, http.StatusOK)
	b.wantText("h1", "Pottery workshop")
	b.wantText(".going-count", "0 going")
	b.wantText(".places", "3 places left")
	b.wantText(".event-byline .organizer-link", "Lena Vogt")

	// She goes: the count rises, a place fewer is left, and the page says she goes.
	b.click(`.attend-form button[value="going"]`, http.StatusOK)
	b.wantText(".flash", "You are going")
	b.wantText(".attend-status", "You are going")
	b.wantText(".going-count", "1 going")
	b.wantText(".places", "2 places left")
	if n := eval[int](b, `document.querySelectorAll('.attend-form button[value="going"]').length`); n != 0 {
		t.Errorf("the page still offers Going to someone going (%d buttons)", n)
	}

	// The event is under My events, marked.
	b.click(`.site-nav a[href="/my/events"]`, http.StatusOK)
	b.wantText(".attending-event", "Pottery workshop")
	b.wantText(".attending-event .attend-mark", "Going")
	b.click(`.attending-event a[href="/events/`+workshop+`"]`, http.StatusOK)
	b.wantText("h1", "Pottery workshop")

	// The organizer's name leads to their events.
	b.click(`.event-byline .organizer-link`, http.StatusOK)
	b.wantText("h1", "Events by Lena Vogt")
	if n := eval[int](b, `document.querySelectorAll('.event-card').length`); n != 2 {
		t.Errorf("the organizer's list shows %d events, want 2", n)
	}

	// Another person, on the full dinner, joins the waitlist behind Sam.
	b.click(`.site-nav form[action="/logout"] button[type="submit"]`, http.StatusOK)
	b.signUp("Grace Hopper", "grace@example.com", "a long enough password")
	b.open("/events/" + dinner)
	b.wantText(".places", "Full — join the waitlist")
	b.wantText(".going-count", "1 going")
	b.wantText(`.attend-form button[value="going"]`, "Join the waitlist")
	b.click(`.attend-form button[value="going"]`, http.StatusOK)
	b.wantText(".flash", "waitlist")
	b.wantText(".attend-status", "You are on the waitlist, position 2")
	b.wantText(".going-count", "1 going")
	b.click(`.site-nav a[href="/my/events"]`, http.StatusOK)
	b.wantText(".attending-event .attend-mark", "Waitlist, position 2")

	// On a phone, Going and the reminder form start on the first screen.
	b.step("phone viewport", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile))
	b.open("/events/" + workshop)
	if w := eval[int](b, `window.innerWidth`); w != phoneWidth {
		t.Fatalf("the viewport is %d wide, want %d", w, phoneWidth)
	}
	for _, sel := range []string{`.attend-form button[value="going"]`, `#remind-title`, `#f-when-1440`} {
		box := eval[[]float64](b, `(() => { const r = document.querySelector('`+sel+`').getBoundingClientRect(); return [r.top, r.bottom, r.left, r.right]; })()`)
		if box[0] < 0 || box[1] > phoneHeight || box[2] < 0 || box[3] > phoneWidth || box[1] <= box[0] {
			t.Errorf("on a %dx%d phone, %s is at top %.0f, bottom %.0f, left %.0f, right %.0f: not within the first screen",
				phoneWidth, phoneHeight, sel, box[0], box[1], box[2], box[3])
		}
	}
	if scroll := eval[float64](b, `window.scrollY`); scroll != 0 {
		t.Errorf("the page is scrolled by %.0f px", scroll)
	}
	if wide := eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth`); wide {
		t.Error("the event page is wider than the phone's screen")
	}
	if !strings.Contains(b.text(".event-details"), "Studio 4") {
		t.Error("the details of the event are not on the phone's page")
	}
}
