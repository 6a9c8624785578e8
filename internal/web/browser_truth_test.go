package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/eventpost/eventpost/internal/web"
)

// nextSpringForward returns the day, in loc, of the next change of its clocks forward.
func nextSpringForward(t *testing.T, loc *time.Location) time.Time {
	t.Helper()
	h := time.Now().Truncate(time.Hour)
	for i := 0; i < 24*400; i++ {
		_, before := h.In(loc).Zone()
		_, after := h.Add(time.Hour).In(loc).Zone()
		if after > before {
			d := h.Add(time.Hour).In(loc)
			return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
		}
		h = h.Add(time.Hour)
	}
	t.Fatalf("%s does not change its clocks within 400 days", loc)
	return time.Time{}
}

// hasFocus tells whether the element the browser's focus is on matches sel.
func hasFocus(b *browser, sel string) bool {
	b.t.Helper()
	return eval[bool](b, fmt.Sprintf(`!!document.activeElement && document.activeElement.matches(%q)`, sel))
}

// TestBrowserPageTellsTheTruth walks what issue 18 found misleading: times in one format,
// the event's zone with the viewer's beside it; a chosen reminder time entered in the
// event's zone, across a change of the clocks; no preset for a reminder one has; the
// confirmations after a redirect focused; and a search's count and pages, back and forth.
func TestBrowserPageTellsTheTruth(t *testing.T) {
	b := startBrowser(t)
	api := apiClient{t: t, base: b.base}
	berlin, ny := mustLoad(t, "Europe/Berlin"), mustLoad(t, viewerTimeZone)

	// An evening event in Berlin two weeks after the clocks there next go forward.
	gapDay := nextSpringForward(t, berlin)
	start := time.Date(gapDay.Year(), gapDay.Month(), gapDay.Day()+14, 19, 0, 0, 0, berlin)
	end := start.Add(2 * time.Hour)
	organizer := api.signUp("Lena Vogt", "lena@example.com", "a long enough password")
	id := api.createEvent(organizer, map[string]any{
		"title": "Spring concert", "starts_at": start.Format(time.RFC3339), "ends_at": end.Format(time.RFC3339),
		"timezone": "Europe/Berlin",
	})

	// Pages a visitor sees, for the HTML validation: the event, and a search with a date no
	// date input can hold, which the page does not echo into one.
	b.open("/events/" + id)
	if s := b.navigate("a search with a bad date", chromedp.Navigate(b.base+"/?q=concert&from=2027-13-45")); s != http.StatusUnprocessableEntity {
		t.Errorf("a search with a bad date answers %d, want 422", s)
	}
	b.wantText("#f-from-error", "From must be a date")
	if got := eval[string](b, `document.getElementById('f-from').getAttribute('value')`); got != "" {
		t.Errorf("the date input holds %q", got)
	}

	// The confirmation after signing up has the focus, so that a screen reader reads it.
	b.signUp("Ada Lovelace", "ada@example.com", "correct horse battery")
	if !hasFocus(b, ".flash") {
		t.Error("the confirmation of the sign-up does not have the focus")
	}

	// One format: the event's zone, and the viewer's own in the same layout.
	b.open("/events/" + id)
	if got, want := b.text(".event-byline time"), web.FormatWhen(start, berlin); got != want {
		t.Errorf("byline time = %q, want %q", got, want)
	}
	if got, want := b.text(".fact time"), web.FormatSpan(start, &end, berlin); got != want {
		t.Errorf("event time = %q, want %q", got, want)
	}
	if got, want := b.text(".local-time"), "Your time: "+web.FormatSpan(start, &end, ny)+" ("+viewerTimeZone+")"; got != want {
		t.Errorf("the viewer's time = %q, want %q", got, want)
	}
	b.wantText(`label[for="f-at"]`, "Europe/Berlin")
	if !eval[bool](b, `document.getElementById('f-when-1440').checked`) {
		t.Error("a day before is not offered first")
	}

	// A day before: set, shown as such, and no longer offered.
	b.click(`form.remind-form button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "Reminder set")
	if !hasFocus(b, ".flash") {
		t.Error("the confirmation of the reminder does not have the focus")
	}
	dayBefore := start.Add(-24 * time.Hour)
	b.wantText(".remind-panel .reminder-line", "You will be reminded 1 day before: "+web.FormatWhen(dayBefore, berlin))
	if !eval[bool](b, `document.getElementById('f-when-1440').disabled && !document.getElementById('f-when-1440').checked`) {
		t.Error("the form still offers the reminder a day before, which exists")
	}
	b.wantText(`label[for="f-when-1440"]`, "you have this reminder")
	if !eval[bool](b, `document.getElementById('f-when-60').checked`) {
		t.Error("the form does not offer the next reminder that can be set")
	}

	// The same time chosen by hand: the page says it exists.
	b.press("#f-when-custom")
	b.set("#f-at", dayBefore.In(berlin).Format("2006-01-02T15:04"))
	b.click(`form.remind-form button[type="submit"]`, http.StatusConflict)
	b.wantText(".error-summary", "You already have this reminder")
	if !hasFocus(b, ".error-summary") {
		t.Error("the error summary does not have the focus")
	}

	// A time in the hour the clocks skip is refused; the hour after is read as summer time.
	b.press("#f-when-custom")
	b.set("#f-at", gapDay.Format("2006-01-02")+"T02:30")
	b.click(`form.remind-form button[type="submit"]`, http.StatusUnprocessableEntity)
	b.wantText("#f-at-error", "the clocks skip it")
	b.press("#f-when-custom")
	b.set("#f-at", gapDay.Format("2006-01-02")+"T03:30")
	b.click(`form.remind-form button[type="submit"]`, http.StatusOK)
	chosen := time.Date(gapDay.Year(), gapDay.Month(), gapDay.Day(), 3, 30, 0, 0, berlin)
	if _, off := chosen.Zone(); off != 2*3600 {
		t.Fatalf("03:30 on %s is at UTC offset %d s, want summer time", gapDay.Format("2006-01-02"), off)
	}
	b.wantText(".remind-panel", "You will be reminded at a time you chose: "+web.FormatWhen(chosen, berlin))
	var list struct {
		Items []struct {
			SendAt time.Time `json:"send_at"`
		} `json:"items"`
	}
	api.do("GET", "/api/v1/notifications?event_id="+id, api.logIn("ada@example.com", "correct horse battery"), nil, &list, http.StatusOK)
	found := false
	for _, n := range list.Items {
		found = found || n.SendAt.Equal(chosen)
	}
	if !found {
		t.Errorf("no reminder at %s among %+v", chosen.Format(time.RFC3339), list.Items)
	}

	// "My reminders" heads times to come "Email at".
	b.click(`.site-nav a[href="/reminders"]`, http.StatusOK)
	b.wantText("table.reminders thead", "Email at")

	// Logging in again: the confirmation has the focus.
	b.click(`.site-nav form[action="/logout"] button`, http.StatusOK)
	b.open("/login")
	b.fill("#f-email", "ada@example.com")
	b.fill("#f-password", "correct horse battery")
	b.click(`form[action="/login"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "You are logged in")
	if !hasFocus(b, ".flash") {
		t.Error("the confirmation of the login does not have the focus")
	}

	// A search counts what it finds and pages forward and back.
	for i := range 45 {
		api.createEvent(organizer, map[string]any{
			"title": fmt.Sprintf("Paging night %02d", i+1), "timezone": "Europe/Berlin",
			"starts_at": start.Add(time.Duration(i+1) * time.Hour).Format(time.RFC3339),
		})
	}
	b.open("/?q=paging")
	type page struct{ count, title, first string }
	check := func(want page) {
		t.Helper()
		b.wantText(".result-count", want.count)
		if got := eval[string](b, `document.title`); got != want.title+" · EventPost" {
			t.Errorf("title = %q, want %q", got, want.title+" · EventPost")
		}
		if got := b.text(".event-card h3"); got != want.first {
			t.Errorf("first event = %q, want %q", got, want.first)
		}
	}
	page1 := page{"Events 1–20 of more than 20", "More than 20 events for “paging”", "Paging night 01"}
	page2 := page{"Events 21–40 of more than 40", "More than 40 events for “paging”, page 2", "Paging night 21"}
	page3 := page{"Events 41–45 of 45", "45 events for “paging”, page 3", "Paging night 41"}
	check(page1)
	if n := eval[int](b, `document.querySelectorAll('a[rel="prev"]').length`); n != 0 {
		t.Error("the first page links a previous one")
	}
	b.click(`a[rel="next"]`, http.StatusOK)
	check(page2)
	b.click(`a[rel="next"]`, http.StatusOK)
	check(page3)
	if n := eval[int](b, `document.querySelectorAll('a[rel="next"]').length`); n != 0 {
		t.Error("the last page links a next one")
	}
	b.click(`a[rel="prev"]`, http.StatusOK)
	check(page2)
	b.click(`a[rel="prev"]`, http.StatusOK)
	check(page1)
	if got := eval[string](b, `location.search`); got != "?q=paging" {
		t.Errorf("the first page is at %q", got)
	}

	// A broken page link says so in plain words and leads to the first page.
	if s := b.navigate("a stale page link", chromedp.Navigate(b.base+"/?q=paging&cursor=bm90IGEgY3Vyc29y")); s != http.StatusBadRequest {
		t.Errorf("a stale page link answers %d, want 400", s)
	}
	b.wantText(".stale-page", "This page of results is out of date")
	if strings.Contains(b.text("main"), "cursor") {
		t.Error("the page speaks of cursors")
	}
	b.click(".first-page-link", http.StatusOK)
	check(page1)
}
