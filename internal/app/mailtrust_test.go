package app_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// consentLink finds the token of the consent page's link in a mail's text.
var consentLink = regexp.MustCompile(`/consent/([A-Za-z0-9_-]+)`)

// mailTrustStory walks the rules that keep EventPost from mailing people who did not ask for
// it, through the gateway, with a real SMTP server receiving the mail: an unconfirmed
// address gets no reminder; a confirmed one does, with the one-click unsubscribe headers; a
// reminder to someone else waits for that person's consent, asked once; a one-click
// unsubscribe POST with no credentials stops the rest; a retried POST with the same
// Idempotency-Key creates one reminder and one mail, and an identical reminder is 409.
func mailTrustStory(t *testing.T, c *client, smtp *smtptest.Server) {
	t.Helper()
	// due returns an event start whose reminder with minutes_before 1 falls due in lead.
	due := func(lead time.Duration) string {
		return rfc3339(time.Now().Add(time.Minute + lead).Add(time.Second))
	}

	// An unconfirmed account: its own reminder fails with the reason, and nothing is sent.
	c.must(201, "POST", "/api/v1/accounts", "", map[string]any{"email": "unconfirmed@example.com", "password": "correct horse Unconfirmed", "display_name": "Unconfirmed"})
	mailTo(t, smtp, "unconfirmed@example.com", "Welcome") // the welcome mail goes out all the same
	uc, _ := c.logIn("unconfirmed@example.com", "Unconfirmed")
	if me := c.must(200, "GET", "/api/v1/accounts/me", uc, nil); me["email_verified"] != false {
		t.Errorf("a new account's email_verified = %v, want false", me["email_verified"])
	}
	ucEvent := c.must(201, "POST", "/api/v1/events", uc, map[string]any{"title": "Unconfirmed gig", "starts_at": due(2 * time.Second)})
	ucRem := c.must(201, "POST", "/api/v1/notifications", uc, map[string]any{"event_id": ucEvent["id"], "minutes_before": 1})
	failed := waitReminder(t, c, uc, ucRem["id"].(string), "failed")
	if e, _ := failed["last_error"].(string); !strings.Contains(e, "not confirmed") {
		t.Errorf("the unconfirmed reminder's last_error = %q, want it to say the address is not confirmed", e)
	}
	if n := countMail(t, smtp, "unconfirmed@example.com", "Unconfirmed gig"); n != 0 {
		t.Errorf("%d reminder mails reached an unconfirmed address", n)
	}

	// A confirmed account (signUpAndLogIn confirms through the welcome mail's link) gets its
	// reminder, with List-Unsubscribe headers.
	host, _ := c.signUpAndLogIn("host@example.com", "Host")
	if me := c.must(200, "GET", "/api/v1/accounts/me", host, nil); me["email_verified"] != true {
		t.Errorf("a confirmed account's email_verified = %v, want true", me["email_verified"])
	}
	soon := c.must(201, "POST", "/api/v1/events", host, map[string]any{"title": "Confirmed gig", "starts_at": due(2 * time.Second)})
	// A client that retries its POST with the same Idempotency-Key gets the first answer.
	key := map[string]string{"Idempotency-Key": "retry-1"}
	body := map[string]any{"event_id": soon["id"], "minutes_before": 1}
	first := c.doWith("POST", "/api/v1/notifications", host, body, key)
	again := c.doWith("POST", "/api/v1/notifications", host, body, key)
	if first.Status != 201 || again.Status != 201 || string(first.Body) != string(again.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("a retried POST: %d %s / %d %s (Idempotent-Replayed %q); want the first answer replayed",
			first.Status, first.Body, again.Status, again.Body, again.Header.Get("Idempotent-Replayed"))
	}
	if r := c.doWith("POST", "/api/v1/notifications", host, map[string]any{"event_id": soon["id"], "minutes_before": 2}, key); r.Status != 422 {
		t.Errorf("the same key with another body: %d %s, want 422", r.Status, r.Body)
	}
	// The same reminder again without a key is a conflict that points at the first.
	dup := c.do("POST", "/api/v1/notifications", host, body)
	firstID := first.JSON(t)["id"].(string)
	if dup.Status != 409 || !strings.HasSuffix(dup.Header.Get("Location"), "/api/v1/notifications/"+firstID) {
		t.Errorf("an identical reminder: %d (Location %q), want 409 pointing at %s", dup.Status, dup.Header.Get("Location"), firstID)
	}
	_, reminder := mailTo(t, smtp, "host@example.com", "Confirmed gig")
	for _, h := range []string{"List-Unsubscribe", "List-Unsubscribe-Post", "Auto-Submitted"} {
		if reminder.Get(h) == "" {
			t.Errorf("the reminder mail lacks %s", h)
		}
	}
	waitReminder(t, c, host, firstID, "sent")
	time.Sleep(time.Second) // a second mail, if there were one, would come right after the first
	if n := countMail(t, smtp, "host@example.com", "Confirmed gig"); n != 1 {
		t.Errorf("%d reminder mails for one retried POST, want 1", n)
	}

	// A reminder to someone else waits for consent: one consent mail however many reminders.
	later := c.must(201, "POST", "/api/v1/events", host, map[string]any{"title": "Friends' gig", "starts_at": due(20 * time.Second)})
	muchLater := c.must(201, "POST", "/api/v1/events", host, map[string]any{"title": "Friends' second gig", "starts_at": rfc3339(time.Now().Add(48 * time.Hour))})
	var waiting []string
	for _, ev := range []map[string]any{later, muchLater} {
		r := c.must(201, "POST", "/api/v1/notifications", host, map[string]any{"event_id": ev["id"], "minutes_before": 1, "email": "friend@example.com"})
		if r["status"] != "awaiting_consent" {
			t.Errorf("a reminder to someone else starts %v, want awaiting_consent", r["status"])
		}
		waiting = append(waiting, r["id"].(string))
	}
	_, ask := mailTo(t, smtp, "friend@example.com", "")
	m := consentLink.FindStringSubmatch(ask.Text)
	if m == nil {
		t.Fatalf("the consent mail holds no /consent/ link:\n%s", ask.Text)
	}
	consent := c.must(200, "GET", "/api/v1/consents/"+m[1], "", nil)
	if consent["status"] != "pending" || consent["email"] != "friend@example.com" {
		t.Errorf("the consent request = %v", consent)
	}
	if n := countMail(t, smtp, "friend@example.com", ""); n != 1 {
		t.Errorf("%d mails to the other person before she accepted, want exactly the consent request", n)
	}
	c.must(200, "POST", "/api/v1/consents/"+m[1], "", map[string]any{"decision": "accept"})
	waitReminder(t, c, host, waiting[1], "scheduled")
	_, friendReminder := mailTo(t, smtp, "friend@example.com", "Friends' gig")

	// One-click unsubscribe, as a mail provider sends it: a form POST with no cookies and no
	// credentials to the List-Unsubscribe URL. The pending reminder is cancelled.
	unsub := listUnsubscribeURL(t, friendReminder.Get("List-Unsubscribe"))
	if post := friendReminder.Get("List-Unsubscribe-Post"); post != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", post)
	}
	req, err := http.NewRequest("POST", c.base+unsub.Path, strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("one-click unsubscribe POST %s: %d, want 200", unsub.Path, resp.StatusCode)
	}
	waitReminder(t, c, host, waiting[1], "cancelled")
	if r := c.do("POST", "/api/v1/notifications", host, map[string]any{"event_id": muchLater["id"], "minutes_before": 5, "email": "friend@example.com"}); r.Status != 422 {
		t.Errorf("a new reminder to an address that unsubscribed: %d %s, want 422", r.Status, r.Body)
	}
}

// listUnsubscribeURL returns the https URL of a List-Unsubscribe header ("<https://…>").
func listUnsubscribeURL(t *testing.T, header string) *url.URL {
	t.Helper()
	for _, part := range strings.Split(header, ",") {
		part = strings.Trim(strings.TrimSpace(part), "<>")
		if u, err := url.Parse(part); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
			return u
		}
	}
	t.Fatalf("List-Unsubscribe %q holds no http(s) URL", header)
	return nil
}

// waitReminder waits until the caller's reminder id has status want and returns it.
func waitReminder(t *testing.T, c *client, token, id, want string) map[string]any {
	t.Helper()
	var last map[string]any
	eventually(t, 60*time.Second, "reminder "+id+" to become "+want, func() bool {
		last = c.must(200, "GET", "/api/v1/notifications/"+id, token, nil)
		return last["status"] == want
	})
	return last
}

// TestMailTrustStory runs mailTrustStory through the all-in-one system.
func TestMailTrustStory(t *testing.T) {
	c, smtp, _ := startSystem(t)
	mailTrustStory(t, c, smtp)
}
