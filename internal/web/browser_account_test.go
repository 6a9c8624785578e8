package web_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// consentLink finds the consent page's link in an email.
var consentLink = regexp.MustCompile(`https?://[^\s"<>]+/consent/([A-Za-z0-9_-]+)`)

// TestBrowserConfirmAddress walks a new account through confirming its address: the
// account page says it is not confirmed; the welcome email's link opens a page that
// confirms nothing until its button is pressed; then the account page says confirmed, and
// the link works once.
func TestBrowserConfirmAddress(t *testing.T) {
	b := startBrowser(t)
	b.signUp("Grace Hopper", "grace@example.com", "a long enough password")

	b.click(`.site-nav a[href="/account"]`, http.StatusOK)
	b.wantText(".email-status", "Not confirmed")
	b.wantText(".confirm-notice", "Your address is not confirmed; reminders to it are not sent")

	link := b.confirmPath("grace@example.com", "Welcome to EventPost")
	b.open(link)
	b.wantText("h1", "Confirm your email address")
	b.open("/account") // opening the link confirmed nothing
	b.wantText(".email-status", "Not confirmed")

	b.open(link)
	b.click(`form[action="/confirm-email"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "your email address is confirmed")
	if got := eval[string](b, `location.pathname`); got != "/account" {
		t.Errorf("after confirming, the browser is on %s, want /account", got)
	}
	b.wantText(".email-status", "Confirmed")
	if n := eval[int](b, `document.querySelectorAll('.confirm-notice').length`); n != 0 {
		t.Error("the account page still asks to confirm the address")
	}

	// The link works once.
	b.open(link)
	b.click(`form[action="/confirm-email"] button[type="submit"]`, http.StatusUnprocessableEntity)
	b.wantText(".error-summary", "does not work any more")
	b.wantText("main", "is confirmed already")
	b.click(`form[action="/account/confirmation-email"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "Your email address is confirmed already")
}

// TestBrowserResendConfirmationLink asks for a new confirmation link from the account
// page, and again at once, which the API refuses for a minute.
func TestBrowserResendConfirmationLink(t *testing.T) {
	b := startBrowser(t)
	b.signUp("Kai Ito", "kai@example.com", "a long enough password")
	b.open("/account")
	b.click(`.confirm-notice form[action="/account/confirmation-email"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "We have emailed you a new confirmation link")
	b.click(`.confirm-notice form[action="/account/confirmation-email"] button[type="submit"]`, http.StatusTooManyRequests)
	b.wantText(".confirm-notice .error-summary", "less than a minute ago")
	b.wantText(".email-status", "Not confirmed")
}

// TestBrowserConsentAccept walks the story of a reminder to someone else: Ada, whose
// address is confirmed, sets a reminder for Bob's address; Bob gets one email asking for
// his consent, opens its link without an account, sees who asks, and accepts; the reminder
// is then scheduled.
func TestBrowserConsentAccept(t *testing.T) {
	b := startBrowser(t)
	api := apiClient{t: t, base: b.base}
	b.signUp("Ada Lovelace", "ada@example.com", "correct horse battery")
	b.confirmAddress("ada@example.com")
	b.wantText(".email-status", "Confirmed")

	token := api.logIn("ada@example.com", "correct horse battery")
	eventID := api.createEvent(token, map[string]any{
		"title": "Analytical engine open day", "starts_at": time.Now().Add(10 * 24 * time.Hour).UTC().Format(time.RFC3339),
		"timezone": "Europe/London", "location": map[string]any{"name": "Science Museum", "address": "London"},
	})
	var reminder struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	api.do("POST", "/api/v1/notifications", token, map[string]any{
		"event_id": eventID, "minutes_before": 1440, "email": "bob@example.com", "note": "See you there",
	}, &reminder, http.StatusCreated)
	if reminder.Status != "awaiting_consent" {
		t.Fatalf("a reminder to another address is %q, want awaiting_consent", reminder.Status)
	}

	// Ada sees that it waits for Bob.
	b.click(`.site-nav a[href="/reminders"]`, http.StatusOK)
	b.wantText(".reminder-row .status", "Waiting for the recipient to accept")
	b.wantText(".reminder-row", "bob@example.com")
	b.click(`.site-nav form[action="/logout"] button[type="submit"]`, http.StatusOK)

	// Bob, who has no account, opens the link of the email he got.
	m := consentLink.FindStringSubmatch(b.waitMail("bob@example.com", ""))
	if m == nil {
		t.Fatal("the email to bob@example.com holds no link to the consent page")
	}
	page := "/consent/" + m[1] // the link is on the public URL; the page is here
	b.open(page)
	b.wantText("h1", "Ada Lovelace")
	b.wantText(".lead", "Ada Lovelace wants EventPost to email you reminders at bob@example.com")
	b.wantText(".consent-status", "Waiting for your answer")
	b.click(`button[name="decision"][value="accept"]`, http.StatusOK)
	b.wantText(".flash", "you accepted these reminders")
	b.wantText(".consent-status", "You accepted")
	if got := eval[string](b, `document.querySelector('.consent-status').dataset.status`); got != "accepted" {
		t.Errorf("the page shows the status %q, want accepted", got)
	}
	if n := eval[int](b, `document.querySelectorAll('button[name="decision"]').length`); n != 0 {
		t.Error("after accepting, the page still asks")
	}
	if got := eval[string](b, `location.pathname`); got != page {
		t.Errorf("after accepting, the browser is on %s, want %s", got, page)
	}

	api.waitReminderStatus(token, reminder.ID, "scheduled")
}

// TestBrowserAccountSettings changes an account's name, password and address from the
// account page: a wrong current password is shown beside its field, the browser stays
// logged in after the password changes, and the new address takes effect once its
// confirmation link is used.
func TestBrowserAccountSettings(t *testing.T) {
	b := startBrowser(t)
	api := apiClient{t: t, base: b.base}
	b.signUp("Mara Jensen", "mara@example.com", "first password 2026")
	b.confirmAddress("mara@example.com")

	// Her name.
	b.fill("#f-display_name", "Mara J. Jensen")
	b.click(`form[action="/account/name"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "Your name is changed")
	b.wantText(".nav-account", "Mara J. Jensen")

	// Her password: a wrong current one first.
	b.fill("#f-current_password", "not my password")
	b.fill("#f-new_password", "second password 2027")
	b.click(`form[action="/account/password"] button[type="submit"]`, http.StatusUnauthorized)
	b.wantText("#f-current_password-error", "The password is not right")
	b.wantText(".nav-account", "Mara J. Jensen") // still logged in
	b.fill("#f-current_password", "first password 2026")
	b.fill("#f-new_password", "second password 2027")
	b.click(`form[action="/account/password"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "this browser stays logged in")
	b.click(`.site-nav a[href="/reminders"]`, http.StatusOK) // the session survived
	b.wantText("h1", "My reminders")
	api.do("POST", "/api/v1/auth/token", "", map[string]string{"email": "mara@example.com", "password": "first password 2026"}, nil, http.StatusUnauthorized)
	api.logIn("mara@example.com", "second password 2027")

	// Her address: it changes once the link sent to the new one is used.
	b.open("/account")
	b.fill("#f-email", "mara@new.example")
	b.fill("#f-email_current_password", "second password 2027")
	b.click(`form[action="/account/email"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "we have emailed a link to your new address")
	b.wantText(".facts", "mara@example.com")
	b.open(b.confirmPath("mara@new.example", ""))
	b.click(`form[action="/confirm-email"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "your email address is confirmed")
	b.wantText(".facts", "mara@new.example")
	if strings.Contains(b.text(".facts"), "mara@example.com") {
		t.Error("the account page still shows the old address")
	}
}

// unsubscribeLink finds the unsubscribe link in an email.
var unsubscribeLink = regexp.MustCompile(`https?://[^\s"<>]+/unsubscribe/([A-Za-z0-9_-]+)`)

// TestBrowserUnsubscribe follows the unsubscribe link of a reminder email: its page asks
// before doing anything, and a one-click POST with no cookies and no form token, as mail
// providers send it (RFC 8058), cancels the pending reminders to that address.
func TestBrowserUnsubscribe(t *testing.T) {
	b := startBrowser(t)
	api := apiClient{t: t, base: b.base}
	b.signUp("Ada Lovelace", "ada@example.com", "correct horse battery")
	b.confirmAddress("ada@example.com")
	token := api.logIn("ada@example.com", "correct horse battery")
	eventID := api.createEvent(token, map[string]any{
		"title": "Difference engine tour", "starts_at": time.Now().Add(3 * 24 * time.Hour).UTC().Format(time.RFC3339),
		"timezone": "Europe/London", "location": map[string]any{"name": "Science Museum", "address": "London"},
	})
	var soon, later struct {
		ID string `json:"id"`
	}
	api.do("POST", "/api/v1/notifications", token, map[string]any{
		"event_id": eventID, "send_at": time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339),
	}, &soon, http.StatusCreated)
	api.do("POST", "/api/v1/notifications", token, map[string]any{"event_id": eventID, "minutes_before": 1440}, &later, http.StatusCreated)

	m := unsubscribeLink.FindStringSubmatch(b.waitMail("ada@example.com", "Reminder: Difference engine tour"))
	if m == nil {
		t.Fatal("the reminder email holds no unsubscribe link")
	}
	path := "/unsubscribe/" + m[1] // the link is on the public URL; the page is here

	// The page changes nothing until its button is pressed.
	b.open(path)
	b.wantText("h1", "Unsubscribe")
	api.waitReminderStatus(token, later.ID, "scheduled")

	// The one-click POST of a mail provider: no cookies, no CSRF token.
	resp, err := http.Post(b.base+path, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("one-click unsubscribe: status %d, want 200", resp.StatusCode)
	}
	api.waitReminderStatus(token, later.ID, "cancelled")

	// The page's button does the same, again, and offers nothing that needs a login.
	b.click(`form[action="`+path+`"] button[type="submit"]`, http.StatusOK)
	b.wantText("h1", "You are unsubscribed")
	if n := eval[int](b, `document.querySelectorAll('main a[href="/reminders"], main a[href="/account"], main a[href^="/login"]').length`); n != 0 {
		t.Error("the page after unsubscribing offers what needs a login")
	}
}
