package mailer_test

import (
	"bytes"
	"errors"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

const (
	testFrom      = "EventPost <no-reply@eventpost.local>"
	testPublicURL = "https://eventpost.example"
)

var renderNow = time.Date(2027, 2, 28, 9, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// testEvent starts on 1 March 2027 at 18:30 UTC, 19:30 in Berlin.
func testEvent() *messages.Event {
	return &messages.Event{
		ID:       "0190c0de-0000-7000-8000-000000000001",
		Title:    "Jazz night",
		StartsAt: time.Date(2027, 3, 1, 18, 30, 0, 0, time.UTC),
		EndsAt:   ptr(time.Date(2027, 3, 1, 21, 0, 0, 0, time.UTC)),
		Timezone: "Europe/Berlin",
		Location: &messages.Location{Name: "Blue Note", Address: "Main St 1, Berlin"},
		Tags:     []string{"jazz"},
	}
}

func newRenderer(t *testing.T) *mailer.Renderer {
	t.Helper()
	r, err := mailer.NewRenderer(testFrom, testPublicURL+"/")
	if err != nil {
		t.Fatalf("NewRenderer: %v", err)
	}
	return r
}

// render renders req and parses the result as a mail client would.
func render(t *testing.T, req messages.EmailSend) (*smtptest.Parsed, []byte, string) {
	t.Helper()
	m, id, err := newRenderer(t).Render(req, renderNow)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	p, err := smtptest.Parse(b.Bytes())
	if err != nil {
		t.Fatalf("parse rendered message: %v\n%s", err, b.String())
	}
	return p, b.Bytes(), id
}

func TestRenderKinds(t *testing.T) {
	berlinURL := testPublicURL + "/events/0190c0de-0000-7000-8000-000000000001"
	online := testEvent()
	online.Location = nil
	online.OnlineURL = ptr("https://meet.example/jazz")
	online.Timezone = "America/New_York"
	badZone := testEvent()
	badZone.Timezone = "Not/AZone"
	tests := []struct {
		name        string
		req         messages.EmailSend
		wantSubject string
		wantText    []string // each must appear in the text part
		wantHTML    []string // each must appear in the HTML part
		notText     []string
		wantICS     []string // each must appear in event.ics; nil: no attachment
	}{
		{
			name:        "welcome",
			req:         messages.EmailSend{Kind: messages.EmailWelcome, To: "ann@example.com", Name: "Ann"},
			wantSubject: "Welcome to EventPost",
			wantText:    []string{"Hi Ann,", "Welcome to EventPost"},
			wantHTML:    []string{"Hi Ann,", "Welcome to EventPost"},
		},
		{
			name: "reminder in the event's time zone with place, note and link",
			req: messages.EmailSend{
				Kind: messages.EmailReminder, To: "ann@example.com", Name: "Ann", Event: testEvent(),
				Note: "Bring the tickets\nand a friend",
			},
			wantSubject: "Reminder: Jazz night",
			wantText: []string{
				"Jazz night", "Monday, 1 March 2027, 19:30 CET", "Blue Note, Main St 1, Berlin",
				"Bring the tickets\r\nand a friend", berlinURL,
			},
			wantHTML: []string{
				"Jazz night", "Monday, 1 March 2027, 19:30 CET", "Blue Note, Main St 1, Berlin",
				"Bring the tickets", `href="` + berlinURL + `"`,
			},
			notText: []string{"18:30"},
			wantICS: []string{"BEGIN:VEVENT", "DTSTART:20270301T183000Z", "DTEND:20270301T210000Z", "SUMMARY:Jazz night", "URL:" + berlinURL},
		},
		{
			name:        "reminder of an online event shows its link and its own zone",
			req:         messages.EmailSend{Kind: messages.EmailReminder, To: "ann@example.com", Event: online},
			wantSubject: "Reminder: Jazz night",
			wantText:    []string{"Hello,", "Monday, 1 March 2027, 13:30 EST", "https://meet.example/jazz"},
			wantHTML:    []string{`href="https://meet.example/jazz"`},
			notText:     []string{"Where:"},
			wantICS:     []string{"LOCATION:https://meet.example/jazz"},
		},
		{
			name:        "reminder with an unknown time zone falls back to UTC",
			req:         messages.EmailSend{Kind: messages.EmailReminder, To: "ann@example.com", Event: badZone},
			wantSubject: "Reminder: Jazz night",
			wantText:    []string{"Monday, 1 March 2027, 18:30 UTC"},
			wantICS:     []string{"DTSTART:20270301T183000Z"},
		},
		{
			name: "event changed shows the old and the new start",
			req: messages.EmailSend{
				Kind: messages.EmailEventChanged, To: "ann@example.com", Event: testEvent(),
				PreviousStartsAt: ptr(time.Date(2027, 2, 27, 19, 0, 0, 0, time.UTC)),
			},
			wantSubject: "Changed: Jazz night",
			wantText:    []string{"Saturday, 27 February 2027, 20:00 CET", "Monday, 1 March 2027, 19:30 CET", berlinURL},
			wantHTML:    []string{"Saturday, 27 February 2027, 20:00 CET", "Monday, 1 March 2027, 19:30 CET"},
			wantICS:     []string{"METHOD:PUBLISH", "DTSTART:20270301T183000Z"},
		},
		{
			name:        "waitlist promoted names the event, its time in its zone, its place and its page",
			req:         messages.EmailSend{Kind: messages.EmailWaitlistPromoted, To: "ann@example.com", Name: "Ann", Event: testEvent()},
			wantSubject: "You have a place: Jazz night",
			wantText: []string{
				"Hi Ann,", "a place freed up at Jazz night", "you are now going", "Monday, 1 March 2027, 19:30 CET",
				"Blue Note, Main St 1, Berlin", berlinURL, "leave the\r\nevent on its page",
			},
			wantHTML: []string{"Jazz night", "Monday, 1 March 2027, 19:30 CET", "Blue Note, Main St 1, Berlin", `href="` + berlinURL + `"`},
			notText:  []string{"18:30", "/reminders", "/unsubscribe/"},
			wantICS:  []string{"METHOD:PUBLISH", "DTSTART:20270301T183000Z", "SUMMARY:Jazz night", "URL:" + berlinURL},
		},
		{
			name:        "event cancelled",
			req:         messages.EmailSend{Kind: messages.EmailEventCancelled, To: "ann@example.com", Event: testEvent()},
			wantSubject: "Cancelled: Jazz night",
			wantText:    []string{"Jazz night", "Monday, 1 March 2027, 19:30 CET", "cancelled"},
			wantHTML:    []string{"cancelled"},
			wantICS:     []string{"METHOD:CANCEL", "STATUS:CANCELLED"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.IdempotencyKey = "key"
			p, _, id := render(t, tt.req)

			if got := p.Get("Subject"); got != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", got, tt.wantSubject)
			}
			from, err := mail.ParseAddress(p.Header.Get("From"))
			if err != nil || from.Address != "no-reply@eventpost.local" || from.Name != "EventPost" {
				t.Errorf("From = %q (%v), want %s", p.Get("From"), err, testFrom)
			}
			to, err := mail.ParseAddress(p.Header.Get("To"))
			if err != nil || to.Address != tt.req.To || to.Name != tt.req.Name {
				t.Errorf("To = %q (%v), want %s named %q", p.Header.Get("To"), err, tt.req.To, tt.req.Name)
			}
			if got := p.Get("Message-Id"); got != "<"+id+">" || !strings.HasSuffix(id, "@eventpost.local") {
				t.Errorf("Message-ID = %q, returned ID %q", got, id)
			}
			if d, err := mail.ParseDate(p.Get("Date")); err != nil || !d.Equal(renderNow) {
				t.Errorf("Date = %q (%v), want %v", p.Get("Date"), err, renderNow)
			}
			if p.Text == "" || p.HTML == "" {
				t.Fatalf("want a text and an HTML part, got text %q html %q", p.Text, p.HTML)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(p.Text, s) {
					t.Errorf("text part lacks %q:\n%s", s, p.Text)
				}
			}
			for _, s := range tt.notText {
				if strings.Contains(p.Text, s) {
					t.Errorf("text part has %q:\n%s", s, p.Text)
				}
			}
			for _, s := range tt.wantHTML {
				if !strings.Contains(p.HTML, s) {
					t.Errorf("HTML part lacks %q:\n%s", s, p.HTML)
				}
			}
			ics, ok := p.Attachments["event.ics"]
			if tt.wantICS == nil {
				if len(p.Attachments) != 0 {
					t.Errorf("unexpected attachments %v", p.Attachments)
				}
				return
			}
			if !ok {
				t.Fatalf("no event.ics attachment; attachments: %v", p.Attachments)
			}
			if ics.ContentType != "text/calendar" {
				t.Errorf("event.ics content type %q, want text/calendar", ics.ContentType)
			}
			for _, s := range tt.wantICS {
				if !bytes.Contains(ics.Data, []byte(s)) {
					t.Errorf("event.ics lacks %q:\n%s", s, ics.Data)
				}
			}
		})
	}
}

func TestMessageIDIsDerivedFromTheIdempotencyKey(t *testing.T) {
	a1, b := mailer.MessageID("rem-1", "eventpost.local"), mailer.MessageID("rem-2", "eventpost.local")
	if a2 := mailer.MessageID("rem-1", "eventpost.local"); a1 != a2 {
		t.Errorf("one key gave two Message-IDs: %s and %s", a1, a2)
	}
	if a1 == b || !strings.HasSuffix(a1, "@eventpost.local") || strings.ContainsAny(a1, "<> \r\n") {
		t.Errorf("Message-IDs %q and %q: want distinct, bare, in the domain", a1, b)
	}
}

func TestRenderEscapesHTML(t *testing.T) {
	ev := testEvent()
	ev.Title = `<script>alert("t")</script> & co`
	ev.OnlineURL = ptr(`javascript:alert(1)`)
	p, _, _ := render(t, messages.EmailSend{
		IdempotencyKey: "k", Kind: messages.EmailReminder, To: "ann@example.com",
		Name: "<b>Ann</b>", Event: ev, Note: `<img src=x onerror=alert(1)>`,
	})
	for _, bad := range []string{"<script>", "<b>Ann", "<img", `href="javascript:`} {
		if strings.Contains(p.HTML, bad) {
			t.Errorf("HTML part contains %q unescaped:\n%s", bad, p.HTML)
		}
	}
	for _, want := range []string{"&lt;script&gt;", "&amp; co", "&lt;b&gt;Ann&lt;/b&gt;", "&lt;img src=x onerror=alert(1)&gt;"} {
		if !strings.Contains(p.HTML, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, p.HTML)
		}
	}
	// The text part shows user text as it is.
	if !strings.Contains(p.Text, `<script>alert("t")</script> & co`) {
		t.Errorf("text part lacks the title verbatim:\n%s", p.Text)
	}
}

// headerBlock returns the raw header section of a message.
func headerBlock(raw []byte) string {
	h, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	return h
}

func TestRenderHeadersResistInjection(t *testing.T) {
	tests := []struct {
		name        string
		title       string
		person      string
		wantSubject string
		wantName    string
	}{
		{
			name: "CRLF", title: "x\r\nBcc: evil@x", person: "Ann\r\nBcc: evil@x",
			wantSubject: "Reminder: x Bcc: evil@x", wantName: "Ann Bcc: evil@x",
		},
		{
			name: "bare LF and CR", title: "x\nBcc: evil@x\rCc: evil@y", person: "Ann\nTo: evil@x",
			wantSubject: "Reminder: x Bcc: evil@x Cc: evil@y", wantName: "Ann To: evil@x",
		},
		{
			name: "unicode line breaks and controls", title: "x\u2028Bcc: evil@x\u0085y\x00z\x1b", person: "\tAnn\u2029\v",
			wantSubject: "Reminder: x Bcc: evil@x y z", wantName: "Ann",
		},
		{
			name:  "text that looks like encoded words: subject as typed, name left out",
			title: "=?utf-8?q?=0D=0ABcc:_evil@x?=", person: "=?utf-8?q?=0D=0ABcc:_evil@x?=",
			wantSubject: "Reminder: =?utf-8?q?=0D=0ABcc:_evil@x?=", wantName: "",
		},
		{
			name: "bidi override dropped", title: "abc\u202edef", person: "Ann",
			wantSubject: "Reminder: abcdef", wantName: "Ann",
		},
		{
			name: "long title capped", title: strings.Repeat("é", 500), person: "Ann",
			wantSubject: headerCap("Reminder: " + strings.Repeat("é", 500)), wantName: "Ann",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := testEvent()
			ev.Title = tt.title
			p, raw, _ := render(t, messages.EmailSend{
				IdempotencyKey: "k", Kind: messages.EmailReminder, To: "ann@example.com", Name: tt.person, Event: ev,
			})
			for _, line := range strings.Split(headerBlock(raw), "\r\n") {
				if strings.ContainsAny(line, "\r\n\x00") {
					t.Errorf("header line with a bare CR, LF or NUL: %q", line)
				}
				name, _, _ := strings.Cut(line, ":")
				switch strings.ToLower(name) {
				case "bcc", "cc":
					t.Errorf("injected header line %q", line)
				}
			}
			if got := p.Header.Get("Bcc") + p.Header.Get("Cc"); got != "" {
				t.Errorf("parsed Bcc/Cc = %q, want none", got)
			}
			if got := p.Get("Subject"); got != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", got, tt.wantSubject)
			}
			addrs, err := mail.ParseAddressList(p.Header.Get("To"))
			if err != nil || len(addrs) != 1 {
				t.Fatalf("To = %q: %v, want one address", p.Header.Get("To"), err)
			}
			if diff := cmp.Diff(&mail.Address{Name: tt.wantName, Address: "ann@example.com"}, addrs[0]); diff != "" {
				t.Errorf("To (-want +got):\n%s", diff)
			}
		})
	}
}

// headerCap is the subject cap: 200 characters and an ellipsis.
func headerCap(s string) string { return string([]rune(s)[:200]) + "…" }

func TestRenderRejects(t *testing.T) {
	tests := []struct {
		name string
		req  messages.EmailSend
		want error
	}{
		{name: "empty recipient", req: messages.EmailSend{Kind: messages.EmailWelcome}, want: mailer.ErrInvalidRecipient},
		{name: "recipient with a display name", req: messages.EmailSend{Kind: messages.EmailWelcome, To: "Ann <ann@example.com>"}, want: mailer.ErrInvalidRecipient},
		{name: "recipient in angle brackets", req: messages.EmailSend{Kind: messages.EmailWelcome, To: "<ann@example.com>"}, want: mailer.ErrInvalidRecipient},
		{name: "recipient with spaces", req: messages.EmailSend{Kind: messages.EmailWelcome, To: " ann@example.com"}, want: mailer.ErrInvalidRecipient},
		{name: "recipient with CRLF", req: messages.EmailSend{Kind: messages.EmailWelcome, To: "ann@example.com\r\nBcc: evil@x"}, want: mailer.ErrInvalidRecipient},
		{name: "two recipients", req: messages.EmailSend{Kind: messages.EmailWelcome, To: "ann@example.com, bob@example.com"}, want: mailer.ErrInvalidRecipient},
		{name: "not an address", req: messages.EmailSend{Kind: messages.EmailWelcome, To: "ann"}, want: mailer.ErrInvalidRecipient},
		{name: "reminder without event", req: messages.EmailSend{Kind: messages.EmailReminder, To: "ann@example.com"}, want: mailer.ErrInvalidRequest},
		{name: "waitlist promoted without event", req: messages.EmailSend{Kind: messages.EmailWaitlistPromoted, To: "ann@example.com"}, want: mailer.ErrInvalidRequest},
		{name: "unknown kind", req: messages.EmailSend{Kind: "newsletter", To: "ann@example.com", Event: testEvent()}, want: mailer.ErrInvalidRequest},
		{name: "reset without a token", req: messages.EmailSend{Kind: messages.EmailPasswordReset, To: "ann@example.com", ExpiresAt: ptr(renderNow)}, want: mailer.ErrInvalidRequest},
		{name: "reset without an expiry", req: messages.EmailSend{Kind: messages.EmailPasswordReset, To: "ann@example.com", Token: strings.Repeat("a", 43)}, want: mailer.ErrInvalidRequest},
		{name: "confirm without a token", req: messages.EmailSend{Kind: messages.EmailConfirm, To: "ann@example.com", ExpiresAt: ptr(renderNow)}, want: mailer.ErrInvalidRequest},
		{name: "welcome with a token that is not base64url", req: messages.EmailSend{Kind: messages.EmailWelcome, To: "ann@example.com", Token: strings.Repeat("a", 40) + "\r\n"}, want: mailer.ErrInvalidRequest},
		{name: "consent request without a token", req: messages.EmailSend{Kind: messages.EmailConsentRequest, To: "ann@example.com", Requester: "Bob"}, want: mailer.ErrInvalidRequest},
		{name: "email changed without the new address", req: messages.EmailSend{Kind: messages.EmailChanged, To: "ann@example.com"}, want: mailer.ErrInvalidRequest},
		{name: "email changed to something not an address", req: messages.EmailSend{Kind: messages.EmailChanged, To: "ann@example.com", NewEmail: "x\r\nBcc: evil@x"}, want: mailer.ErrInvalidRequest},
		{name: "reminder with an unsubscribe token that is not base64url", req: messages.EmailSend{Kind: messages.EmailReminder, To: "ann@example.com", Event: testEvent(), UnsubscribeToken: "abcdefghijklmnop>, <https://evil"}, want: mailer.ErrInvalidRequest},
		{name: "reset token that is not base64url", req: messages.EmailSend{Kind: messages.EmailAccountLocked, To: "ann@example.com", Token: strings.Repeat("a", 40) + `"><a`, ExpiresAt: ptr(renderNow)}, want: mailer.ErrInvalidRequest},
	}
	r := newRenderer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, err := r.Render(tt.req, renderNow)
			if !errors.Is(err, tt.want) || m != nil {
				t.Errorf("Render = %v, %v; want %v", m, err, tt.want)
			}
		})
	}
}

func TestNewRendererRejectsBadFrom(t *testing.T) {
	if _, err := mailer.NewRenderer("not an address", testPublicURL); err == nil {
		t.Error("NewRenderer accepted a From that is not an address")
	}
}

func FuzzRenderHeaders(f *testing.F) {
	f.Add("x\r\nBcc: evil@x", "Ann\nCc: b@x", "note")
	f.Add("=?utf-8?q?=0D=0ABcc:_x?=", "\"quoted\" <x@y>", "<b>")
	r, err := mailer.NewRenderer(testFrom, testPublicURL)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, title, name, note string) {
		ev := testEvent()
		ev.Title = title
		m, _, err := r.Render(messages.EmailSend{
			Kind: messages.EmailReminder, To: "ann@example.com", Name: name, Note: note, Event: ev,
			Requester: name, UnsubscribeToken: "unsub_0123456789abcdef",
		}, renderNow)
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		var b bytes.Buffer
		if _, err := m.WriteTo(&b); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
		p, err := smtptest.Parse(b.Bytes())
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		for k := range p.Header {
			switch k {
			case "Date", "Mime-Version", "Message-Id", "Subject", "X-Mailer", "From", "To", "Content-Type", "Auto-Submitted",
				"List-Unsubscribe", "List-Unsubscribe-Post":
			default:
				t.Errorf("unexpected header %q", k)
			}
		}
		if got, want := len(p.Header["To"]), 1; got != want {
			t.Errorf("%d To headers", got)
		}
		if got := p.Header["List-Unsubscribe"]; len(got) != 1 || got[0] != "<"+testPublicURL+"/unsubscribe/unsub_0123456789abcdef>" {
			t.Errorf("List-Unsubscribe %q", got)
		}
		if strings.ContainsAny(p.Get("Subject"), "\r\n") {
			t.Errorf("Subject with a line break: %q", p.Get("Subject"))
		}
		to, err := mail.ParseAddress(p.Header.Get("To"))
		if err != nil || to.Address != "ann@example.com" || strings.ContainsAny(to.Name, "\r\n") {
			t.Errorf("To = %q: %+v, %v", p.Header.Get("To"), to, err)
		}
	})
}

// TestRenderResetLinks: the password_reset and account_locked emails carry the link to the
// reset page with their token, say until when it works, and carry no event.
func TestRenderResetLinks(t *testing.T) {
	token := "Abc-def_0123456789abcdefghijklmnopqrstuvwxy"
	expires := time.Date(2027, 2, 28, 10, 0, 0, 0, time.UTC)
	for kind, subject := range map[messages.EmailKind]string{
		messages.EmailPasswordReset: "Set a new EventPost password",
		messages.EmailAccountLocked: "Your EventPost account is locked",
	} {
		t.Run(string(kind), func(t *testing.T) {
			p, _, _ := render(t, messages.EmailSend{
				IdempotencyKey: string(kind) + ":1", Kind: kind, To: "ann@example.com", Name: "Ann",
				Token: token, ExpiresAt: &expires,
			})
			if got := p.Get("Subject"); got != subject {
				t.Errorf("Subject %q, want %q", got, subject)
			}
			link := testPublicURL + "/reset-password?token=" + token
			for part, body := range map[string]string{"text": p.Text, "html": p.HTML} {
				if !strings.Contains(body, link) || !strings.Contains(body, "10:00 UTC, 28 February 2027") {
					t.Errorf("%s part lacks the link %s or its expiry:\n%s", part, link, body)
				}
			}
			if len(p.Attachments) != 0 {
				t.Errorf("%d attachments, want none", len(p.Attachments))
			}
		})
	}
}
