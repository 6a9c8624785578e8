package web_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestBrowserStory walks a person's main story through the web UI of the whole system in
// a real browser: sign up, confirm the address, publish an event, find it by search, set a
// reminder, see it under "My reminders", cancel it, and delete the account.
func TestBrowserStory(t *testing.T) {
	b := startBrowser(t)
	api := apiClient{t: t, base: b.base}

	// A visitor arrives on the list of upcoming events and signs up.
	b.open("/")
	if got := b.text("h1"); got != "Upcoming events" {
		t.Errorf("home page heading = %q", got)
	}
	b.click(`.site-nav a[href="/signup"]`, http.StatusOK)
	b.fill("#f-display_name", "Ada Lovelace")
	b.fill("#f-email", "ada@example.com")
	b.fill("#f-password", "correct horse battery")
	b.click(`form[action="/signup"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "Welcome")
	b.wantText(".nav-account", "Ada Lovelace")
	if js := eval[bool](b, `document.cookie.includes('ep_access') || document.cookie.includes('ep_refresh')`); js {
		t.Error("the session tokens are readable by JavaScript; they must be HttpOnly cookies")
	}
	if src := eval[string](b, `document.documentElement.outerHTML`); strings.Contains(src, "eyJ") {
		t.Error("the page holds what looks like a JWT; tokens must never be in the page")
	}
	// Reminders go only to a confirmed address: she opens the link of the welcome email.
	b.confirmAddress("ada@example.com")

	// She publishes an event, in Berlin, ten days from now.
	b.click(`.site-nav a[href="/my/events"]`, http.StatusOK)
	b.click(`a[href="/my/events/new"]`, http.StatusOK)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().In(berlin).Add(10 * 24 * time.Hour).Truncate(time.Hour)
	b.fill("#f-title", "Harbour kayak tour")
	b.fill("#f-description", "Two hours along the old harbour.\nBeginners welcome; boats provided.")
	b.set("#f-starts_at", start.Format("2006-01-02T15:04"))
	b.set("#f-ends_at", start.Add(2*time.Hour).Format("2006-01-02T15:04"))
	if tz := eval[string](b, `document.getElementById('f-timezone').value`); tz != viewerTimeZone {
		t.Errorf("the time zone field defaults to %q, want the browser's %q", tz, viewerTimeZone)
	}
	b.fill("#f-timezone", "Europe/Berlin")
	b.fill("#f-location_name", "Spree Kayak Club")
	b.fill("#f-location_address", "Mühlenstraße 78, Berlin")
	b.fill("#f-lat", "52.5051")
	b.fill("#f-lon", "13.4406")
	b.fill("#f-category", "outdoors")
	b.fill("#f-tags", "kayak, water")
	b.fill("#f-capacity", "12")
	b.click(`form.event-form button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "published")
	if got := b.text("h1"); got != "Harbour kayak tour" {
		t.Fatalf("event page heading = %q", got)
	}
	eventURL := eval[string](b, `location.pathname`)
	eventID := strings.TrimPrefix(eventURL, "/events/")
	b.wantText(".fact time", start.Format("Mon 2 Jan 2006, 15:04"))
	b.wantText(".local-time", "Your time:")
	b.wantText(".local-time", viewerTimeZone)
	if href := eval[string](b, `document.querySelector('a[href*="openstreetmap.org"]').href`); !strings.Contains(href, "mlat=52.5051") {
		t.Errorf("map link = %q", href)
	}
	ics := eval[string](b, `document.querySelector('a[download]').getAttribute('href')`)
	if ics != "/api/v1/events/"+eventID+"/ics" {
		t.Errorf("Add to calendar links to %q", ics)
	}
	resp, err := http.Get(b.base + ics)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "BEGIN:VCALENDAR") || !strings.Contains(string(body), "SUMMARY:Harbour kayak tour") {
		t.Errorf("the calendar file is not the event's: %s", body)
	}

	// She finds it by searching.
	b.click(`.site-nav a[href="/"]`, http.StatusOK)
	b.fill("#f-q", "kayak")
	b.click(`form[role="search"] button[type="submit"]`, http.StatusOK)
	if got := eval[int](b, `document.querySelectorAll('.event-card').length`); got != 1 {
		t.Fatalf("a search for kayak finds %d events, want 1", got)
	}
	b.wantText(".event-card h3", "Harbour kayak tour")
	b.fill("#f-q", "opera")
	b.click(`form[role="search"] button[type="submit"]`, http.StatusOK)
	b.wantText(".results .empty", "No events match")
	b.fill("#f-q", "harbour")
	b.click(`form[role="search"] button[type="submit"]`, http.StatusOK)
	b.click(`.event-card h3 a`, http.StatusOK)

	// She asks to be reminded a day before.
	b.press(`#f-when-1440`)
	b.fill("#f-note", "Bring a towel")
	b.click(`form.remind-form button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "Reminder set")
	b.wantText(".remind-panel .reminder-line", "Scheduled")

	// She sees it under My reminders, and cancels it.
	b.click(`.site-nav a[href="/reminders"]`, http.StatusOK)
	if got := eval[int](b, `document.querySelectorAll('.reminder-row').length`); got != 1 {
		t.Fatalf("My reminders lists %d reminders, want 1", got)
	}
	b.wantText(".reminder-row", "Harbour kayak tour")
	b.wantText(".reminder-row", "1 day before")
	b.wantText(".reminder-row", "Bring a towel")
	b.wantText(".reminder-row .status", "Scheduled")
	b.click(`.reminder-row form button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "Reminder cancelled")
	b.wantText(".reminder-row .status", "Cancelled")

	// She deletes her account, which asks for a confirmation first.
	b.click(`.site-nav a[href="/account"]`, http.StatusOK)
	b.wantText("main", "ada@example.com")
	b.click(`a[href="/account/delete"]`, http.StatusOK)
	b.click(`form[action="/account/delete"] button[type="submit"]`, http.StatusUnprocessableEntity)
	b.wantText("#f-confirm-error", "Tick the box")
	b.wantText("#f-current_password-error", "Enter your current password")
	b.press(`#f-confirm`)
	b.fill("#f-current_password", "not my password")
	b.click(`form[action="/account/delete"] button[type="submit"]`, http.StatusUnauthorized)
	b.wantText("#f-current_password-error", "The password is not right")
	b.fill("#f-current_password", "correct horse battery")
	b.click(`form[action="/account/delete"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "Your account has been deleted")
	b.wantText(".site-nav", "Log in")

	// The account is gone: it cannot log in, and its event disappears.
	b.open("/login")
	b.fill("#f-email", "ada@example.com")
	b.fill("#f-password", "correct horse battery")
	b.click(`form[action="/login"] button[type="submit"]`, http.StatusUnauthorized)
	b.wantText(".error-summary", "not right")
	api.waitStatus("/api/v1/events/"+eventID, http.StatusNotFound)
}

// TestBrowserValidationErrorBesideField checks that an error the API finds in a form is
// shown beside its field, linked to it, with the values typed kept.
func TestBrowserValidationErrorBesideField(t *testing.T) {
	b := startBrowser(t)
	b.signUp("Grace Hopper", "grace@example.com", "a long enough password")

	b.open("/my/events/new")
	b.fill("#f-title", "Retro computing evening")
	b.set("#f-starts_at", time.Now().Add(-24*time.Hour).Format("2006-01-02T15:04"))
	b.fill("#f-timezone", "UTC")
	b.fill("#f-tags", "retro")
	b.click(`form.event-form button[type="submit"]`, http.StatusUnprocessableEntity)

	// The message is beside the start field, inside its field group, and tied to the input.
	b.wantText("#f-starts_at-error", "Start must be in the future")
	if !eval[bool](b, `document.getElementById('f-starts_at-error').closest('.field').contains(document.getElementById('f-starts_at'))`) {
		t.Error("the error is not in the start field's group")
	}
	describedBy := eval[string](b, `document.getElementById('f-starts_at').getAttribute('aria-describedby') || ''`)
	if !regexp.MustCompile(`\bf-starts_at-error\b`).MatchString(describedBy) {
		t.Errorf("the start input's aria-describedby = %q, want it to name f-starts_at-error", describedBy)
	}
	if got := eval[string](b, `document.getElementById('f-starts_at').getAttribute('aria-invalid') || ''`); got != "true" {
		t.Errorf("the start input's aria-invalid = %q, want true", got)
	}
	// Only that field is marked.
	if got := eval[int](b, `document.querySelectorAll('[aria-invalid="true"]').length`); got != 1 {
		t.Errorf("%d fields are marked invalid, want 1: %s", got, b.text(".error-summary"))
	}
	// The summary at the top links to the field, and has the focus.
	b.wantText(`.error-summary a[href="#f-starts_at"]`, "Start must be in the future")
	if !eval[bool](b, `document.activeElement && document.activeElement.classList.contains('error-summary')`) {
		t.Error("the error summary does not have the focus")
	}
	// What was typed is kept.
	if got := eval[string](b, `document.getElementById('f-title').value`); got != "Retro computing evening" {
		t.Errorf("the title field holds %q after the error", got)
	}
	if got := eval[string](b, `document.getElementById('f-tags').value`); got != "retro" {
		t.Errorf("the tags field holds %q after the error", got)
	}

	// Correcting the start publishes the event.
	b.set("#f-starts_at", time.Now().Add(48*time.Hour).UTC().Format("2006-01-02T15:04"))
	b.click(`form.event-form button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "published")
	b.wantText("h1", "Retro computing evening")
}

// TestBrowserNearMe checks that "Use my location" fills in the browser's position and
// finds the events near it.
func TestBrowserNearMe(t *testing.T) {
	b := startBrowser(t)
	api := apiClient{t: t, base: b.base}
	token := api.signUp("Kai", "kai@example.com", "a long enough password")
	soon := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	api.createEvent(token, map[string]any{"title": "Spree boat party", "starts_at": soon, "timezone": "Europe/Berlin",
		"location": map[string]any{"name": "Pier 3", "address": "Berlin", "lat": 52.5170, "lon": 13.4100}})
	api.createEvent(token, map[string]any{"title": "Shibuya night walk", "starts_at": soon, "timezone": "Asia/Tokyo",
		"location": map[string]any{"name": "Hachiko", "address": "Tokyo", "lat": 35.6590, "lon": 139.7006}})

	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "geolocation"}, Setting: cdpbrowser.PermissionSettingGranted, Origin: b.base,
	}); err != nil {
		t.Fatal(err)
	}
	lat, lon, accuracy := 52.5200, 13.4050, 10.0
	if _, err := chromedp.Call(ctx, emulation.SetGeolocationOverride, emulation.SetGeolocationOverrideParams{
		Latitude: &lat, Longitude: &lon, Accuracy: &accuracy,
	}); err != nil {
		t.Fatal(err)
	}

	b.open("/")
	b.press("details.filters summary")
	b.click("[data-near-me]", http.StatusOK) // finds the position, then submits the search
	if got := eval[string](b, `document.getElementById('f-lat').value + ',' + document.getElementById('f-lon').value`); got != "52.5200,13.4050" {
		t.Errorf("the position filled in is %q", got)
	}
	if got := eval[int](b, `document.querySelectorAll('.event-card').length`); got != 1 {
		t.Fatalf("%d events near Berlin, want 1", got)
	}
	b.wantText(".event-card h3", "Spree boat party")
}
