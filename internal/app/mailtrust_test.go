package app_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/eventpost/eventpost/internal/app"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// The DKIM domain and selector the stories sign with.
const (
	storyDKIMDomain   = "eventpost.test"
	storyDKIMSelector = "story"
)

// storyDKIM is an Ed25519 DKIM key in a private file and the TXT record that publishes it.
type storyDKIM struct {
	keyFile string
	record  string
}

// newStoryDKIM generates a DKIM key for a story.
func newStoryDKIM(t *testing.T) storyDKIM {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return storyDKIM{keyFile: path, record: "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
}

// env is the key's settings as the distributed processes read them.
func (k storyDKIM) env() []string {
	return []string{"EVENTPOST_DKIM_DOMAIN=" + storyDKIMDomain, "EVENTPOST_DKIM_SELECTOR=" + storyDKIMSelector, "EVENTPOST_DKIM_KEY_FILE=" + k.keyFile}
}

// configure sets the key in the all-in-one system's configuration.
func (k storyDKIM) configure(cfg *app.Config) {
	cfg.Mailer.DKIMDomain, cfg.Mailer.DKIMSelector, cfg.Mailer.DKIMKeyFile = storyDKIMDomain, storyDKIMSelector, k.keyFile
}

// verify checks that the raw message carries a DKIM signature of the story's domain that
// go-msgauth's verifier accepts, with the DNS lookup answered by the key's record.
func (k storyDKIM) verify(t *testing.T, raw []byte) {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if name != storyDKIMSelector+"._domainkey."+storyDKIMDomain {
				return nil, fmt.Errorf("no TXT record at %s", name)
			}
			return []string{k.record}, nil
		},
	})
	if err != nil {
		t.Fatalf("dkim: %v", err)
	}
	if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != storyDKIMDomain {
		t.Fatalf("DKIM verifications %+v, want one valid signature of %s", vs, storyDKIMDomain)
	}
	// A changed body fails the same signature.
	tampered := bytes.Replace(raw, []byte("\r\n\r\n"), []byte("\r\n\r\nX"), 1)
	vs, _ = dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{
		LookupTXT: func(string) ([]string, error) { return []string{k.record}, nil },
	})
	if len(vs) == 1 && vs[0].Err == nil {
		t.Error("a changed body still verifies")
	}
}

// consentLink finds the token of the consent page's link in a mail's text.
var consentLink = regexp.MustCompile(`/consent/([A-Za-z0-9_-]+)`)

// mailTrustStory walks the rules that keep EventPost from mailing people who did not ask for
// it, through the gateway, with a real SMTP server receiving the mail: an unconfirmed
// address gets no reminder; a confirmed one does, with the one-click unsubscribe headers; a
// reminder to someone else waits for that person's consent, asked once; a one-click
// unsubscribe POST with no credentials stops the rest; a retried POST with the same
// Idempotency-Key creates one reminder and one mail, and an identical reminder is 409; a 550
// at RCPT suppresses the address; the mails carry a DKIM signature that verifies.
func mailTrustStory(t *testing.T, c *client, smtp *smtptest.Server, key storyDKIM) {
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
	retry := map[string]string{"Idempotency-Key": "retry-1"}
	body := map[string]any{"event_id": soon["id"], "minutes_before": 1}
	first := c.doWith("POST", "/api/v1/notifications", host, body, retry)
	again := c.doWith("POST", "/api/v1/notifications", host, body, retry)
	if first.Status != 201 || again.Status != 201 || string(first.Body) != string(again.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("a retried POST: %d %s / %d %s (Idempotent-Replayed %q); want the first answer replayed",
			first.Status, first.Body, again.Status, again.Body, again.Header.Get("Idempotent-Replayed"))
	}
	if r := c.doWith("POST", "/api/v1/notifications", host, map[string]any{"event_id": soon["id"], "minutes_before": 2}, retry); r.Status != 422 {
		t.Errorf("the same key with another body: %d %s, want 422", r.Status, r.Body)
	}
	// The same reminder again without a key is a conflict that points at the first.
	dup := c.do("POST", "/api/v1/notifications", host, body)
	firstID := first.JSON(t)["id"].(string)
	if dup.Status != 409 || !strings.HasSuffix(dup.Header.Get("Location"), "/api/v1/notifications/"+firstID) {
		t.Errorf("an identical reminder: %d (Location %q), want 409 pointing at %s", dup.Status, dup.Header.Get("Location"), firstID)
	}
	rawReminder, reminder := mailTo(t, smtp, "host@example.com", "Confirmed gig")
	key.verify(t, rawReminder.Data)
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

	bounceStory(t, c, smtp)
}

// bounceStory: the mail server starts refusing a confirmed address with 550 at RCPT TO; the
// reminder to it fails with the server's reason and the address is suppressed, so that the
// next reminder is not attempted at all and fails saying so.
func bounceStory(t *testing.T, c *client, smtp *smtptest.Server) {
	t.Helper()
	gone, _ := c.signUpAndLogIn("gone@example.com", "Gone")
	smtp.RejectRecipient("gone@example.com", 550)
	var ids []string
	for i, title := range []string{"Bounced gig", "Suppressed gig"} {
		ev := c.must(201, "POST", "/api/v1/events", gone, map[string]any{"title": title, "starts_at": rfc3339(time.Now().Add(time.Minute + time.Duration(2+8*i)*time.Second))})
		ids = append(ids, c.must(201, "POST", "/api/v1/notifications", gone, map[string]any{"event_id": ev["id"], "minutes_before": 1})["id"].(string))
	}
	first := waitReminder(t, c, gone, ids[0], "failed")
	if e, _ := first["last_error"].(string); !strings.Contains(e, "550") || !strings.Contains(e, "permanently") {
		t.Errorf("the bounced reminder's last_error = %q, want the permanent 550", e)
	}
	second := waitReminder(t, c, gone, ids[1], "failed")
	if e, _ := second["last_error"].(string); !strings.Contains(e, "suppressed") {
		t.Errorf("the next reminder's last_error = %q, want it to say the address is suppressed", e)
	}
	refused := 0
	for _, addr := range smtp.RefusedRecipients() {
		if strings.EqualFold(addr, "gone@example.com") {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("the server refused gone@example.com %d times, want once: the suppressed address is not tried again", refused)
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
	key := newStoryDKIM(t)
	c, smtp, _ := startSystemWith(t, key.configure)
	mailTrustStory(t, c, smtp, key)
}
