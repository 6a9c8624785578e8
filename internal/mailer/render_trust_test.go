package mailer_test

import (
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
)

const (
	linkToken  = "Abc-def_0123456789abcdefghijklmnopqrstuvwxy"
	unsubToken = "unsub_0123456789-abcdefghij"
)

var linkExpires = time.Date(2027, 3, 2, 10, 0, 0, 0, time.UTC)

// TestRenderAccountKinds: the confirm, email_changed, consent_request and welcome emails
// carry their links and say what the person needs to know, in both parts.
func TestRenderAccountKinds(t *testing.T) {
	confirmLink := testPublicURL + "/confirm-email?token=" + linkToken
	tests := []struct {
		name        string
		req         messages.EmailSend
		wantSubject string
		want        []string // in the text and the HTML part
		wantText    []string // in the text part
		not         []string // in neither
	}{
		{
			name:        "welcome with a confirmation token",
			req:         messages.EmailSend{Kind: messages.EmailWelcome, To: "ann@example.com", Name: "Ann", Token: linkToken, ExpiresAt: &linkExpires},
			wantSubject: "Welcome to EventPost",
			want:        []string{"Hi Ann,", "confirm your email address", confirmLink, linkToken, "10:00 UTC, 2 March 2027"},
		},
		{
			name:        "welcome without a token asks nothing",
			req:         messages.EmailSend{Kind: messages.EmailWelcome, To: "ann@example.com"},
			wantSubject: "Welcome to EventPost",
			want:        []string{"Hello,", "Welcome to EventPost"},
			not:         []string{"confirm", "Hi ,"},
		},
		{
			name:        "confirm",
			req:         messages.EmailSend{Kind: messages.EmailConfirm, To: "ann@example.com", Token: linkToken, ExpiresAt: &linkExpires},
			wantSubject: "Confirm your email address for EventPost",
			want:        []string{"Hello,", confirmLink, linkToken, "10:00 UTC, 2 March 2027", "ignore this email"},
		},
		{
			name:        "confirm without an expiry",
			req:         messages.EmailSend{Kind: messages.EmailConfirm, To: "ann@example.com", Name: "Ann", Token: linkToken},
			wantSubject: "Confirm your email address for EventPost",
			want:        []string{"Hi Ann,", confirmLink},
			not:         []string{"before"},
		},
		{
			name:        "email changed",
			req:         messages.EmailSend{Kind: messages.EmailChanged, To: "ann@example.com", Name: "Ann", NewEmail: "ann@new.example"},
			wantSubject: "Your EventPost email address is changing",
			want:        []string{"Your EventPost email is changing to", "ann@new.example", "If this was not you", testPublicURL + "/forgot-password"},
			wantText:    []string{"reset your password"},
		},
		{
			name: "consent request with an event",
			req: messages.EmailSend{
				Kind: messages.EmailConsentRequest, To: "bob@example.com", Requester: "Ann Smith", Token: linkToken, Event: testEvent(),
			},
			wantSubject: "Someone wants EventPost to email you reminders",
			want: []string{
				"Hello,", "Ann Smith", "wants EventPost to email you reminders", "Jazz night", "Monday, 1 March 2027, 19:30 CET",
				testPublicURL + "/consent/" + linkToken, "Nothing is sent to you until you accept", "decline",
			},
			not: []string{"/reminders", "/unsubscribe/", "whatever your email"},
		},
		{
			name:        "consent request without an event or a requester name",
			req:         messages.EmailSend{Kind: messages.EmailConsentRequest, To: "bob@example.com", Token: linkToken},
			wantSubject: "Someone wants EventPost to email you reminders",
			want:        []string{"Someone with an EventPost account", testPublicURL + "/consent/" + linkToken, "Nothing is sent"},
			not:         []string{"Event:", "first one"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.IdempotencyKey = "k"
			p, _, _ := render(t, tt.req)
			if got := p.Get("Subject"); got != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", got, tt.wantSubject)
			}
			for part, body := range map[string]string{"text": p.Text, "html": p.HTML} {
				for _, s := range tt.want {
					if !strings.Contains(body, s) {
						t.Errorf("%s part lacks %q:\n%s", part, s, body)
					}
				}
				for _, s := range tt.not {
					if strings.Contains(body, s) {
						t.Errorf("%s part has %q:\n%s", part, s, body)
					}
				}
			}
			for _, s := range tt.wantText {
				if !strings.Contains(p.Text, s) {
					t.Errorf("text part lacks %q:\n%s", s, p.Text)
				}
			}
			if len(p.Attachments) != 0 {
				t.Errorf("attachments %v, want none", p.Attachments)
			}
		})
	}
}

// TestRenderSaysWhyTheEmailCame: emails about the account say so and that they come
// whatever the preferences; emails about a reminder link to the page that manages
// reminders, name who set one for someone else, and carry a visible unsubscribe link with
// the List-Unsubscribe headers when the request has a token. Every email is Auto-Submitted.
func TestRenderSaysWhyTheEmailCame(t *testing.T) {
	const transactional = "This email is about your EventPost account. We send such emails whatever your email preferences"
	manage := testPublicURL + "/reminders"
	unsubscribe := testPublicURL + "/unsubscribe/" + unsubToken
	tests := []struct {
		name    string
		req     messages.EmailSend
		want    []string // in both parts
		not     []string // in neither
		listURL string   // List-Unsubscribe; "" for none
	}{
		{
			name: "welcome", req: messages.EmailSend{Kind: messages.EmailWelcome, Token: linkToken},
			want: []string{transactional}, not: []string{manage},
		},
		{
			name: "confirm", req: messages.EmailSend{Kind: messages.EmailConfirm, Token: linkToken},
			want: []string{transactional}, not: []string{manage},
		},
		{
			name: "password reset", req: messages.EmailSend{Kind: messages.EmailPasswordReset, Token: linkToken, ExpiresAt: &linkExpires},
			want: []string{transactional}, not: []string{manage},
		},
		{
			name: "account locked", req: messages.EmailSend{Kind: messages.EmailAccountLocked, Token: linkToken, ExpiresAt: &linkExpires},
			want: []string{transactional}, not: []string{manage},
		},
		{
			name: "email changed", req: messages.EmailSend{Kind: messages.EmailChanged, NewEmail: "ann@new.example"},
			want: []string{transactional}, not: []string{manage},
		},
		{
			name: "consent request", req: messages.EmailSend{Kind: messages.EmailConsentRequest, Token: linkToken, UnsubscribeToken: unsubToken},
			not: []string{transactional, manage, unsubscribe},
		},
		{
			// About the person's own attendance, which they asked for: no unsubscribing, and
			// no link to the reminders, whatever the request carries.
			name: "waitlist promoted", req: messages.EmailSend{Kind: messages.EmailWaitlistPromoted, Event: testEvent(), UnsubscribeToken: unsubToken},
			want: []string{"you asked to go to this event"}, not: []string{transactional, manage, unsubscribe},
		},
		{
			name:    "own reminder",
			req:     messages.EmailSend{Kind: messages.EmailReminder, Event: testEvent(), Note: "tickets", UnsubscribeToken: unsubToken},
			want:    []string{manage, unsubscribe, "Your note"},
			not:     []string{transactional, "set this reminder for you"},
			listURL: unsubscribe,
		},
		{
			name:    "reminder set by someone else",
			req:     messages.EmailSend{Kind: messages.EmailReminder, Event: testEvent(), Note: "tickets", Requester: "Ann Smith", UnsubscribeToken: unsubToken},
			want:    []string{manage, unsubscribe, "Ann Smith set this reminder for you on EventPost", "Note from Ann Smith"},
			listURL: unsubscribe,
		},
		{
			name: "reminder without an unsubscribe token",
			req:  messages.EmailSend{Kind: messages.EmailReminder, Event: testEvent()},
			want: []string{manage}, not: []string{"/unsubscribe/"},
		},
		{
			name:    "event changed",
			req:     messages.EmailSend{Kind: messages.EmailEventChanged, Event: testEvent(), Requester: "Ann Smith", UnsubscribeToken: unsubToken},
			want:    []string{manage, unsubscribe, "Ann Smith set this reminder for you"},
			listURL: unsubscribe,
		},
		{
			name:    "event cancelled",
			req:     messages.EmailSend{Kind: messages.EmailEventCancelled, Event: testEvent(), UnsubscribeToken: unsubToken},
			want:    []string{manage, unsubscribe},
			listURL: unsubscribe,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.IdempotencyKey, tt.req.To = "k", "bob@example.com"
			p, _, _ := render(t, tt.req)
			if got := p.Get("Auto-Submitted"); got != "auto-generated" {
				t.Errorf("Auto-Submitted = %q, want auto-generated", got)
			}
			wantList, wantPost := "", ""
			if tt.listURL != "" {
				wantList, wantPost = "<"+tt.listURL+">", "List-Unsubscribe=One-Click"
			}
			if got := p.Get("List-Unsubscribe"); got != wantList {
				t.Errorf("List-Unsubscribe = %q, want %q", got, wantList)
			}
			if got := p.Get("List-Unsubscribe-Post"); got != wantPost {
				t.Errorf("List-Unsubscribe-Post = %q, want %q", got, wantPost)
			}
			for part, body := range map[string]string{"text": p.Text, "html": p.HTML} {
				body = strings.Join(strings.Fields(body), " ") // the text part wraps lines
				for _, s := range tt.want {
					if !strings.Contains(body, s) {
						t.Errorf("%s part lacks %q:\n%s", part, s, body)
					}
				}
				for _, s := range tt.not {
					if strings.Contains(body, s) {
						t.Errorf("%s part has %q:\n%s", part, s, body)
					}
				}
			}
		})
	}
}

// TestRenderNewKindsResistHeaderInjection: line breaks in the names and titles of the new
// kinds, and of a reminder with the List-Unsubscribe headers, add no header and break no
// line.
func TestRenderNewKindsResistHeaderInjection(t *testing.T) {
	evil := "x\r\nBcc: evil@x\nCc: evil@y\rList-Unsubscribe: <https://evil.example>"
	ev := testEvent()
	ev.Title = evil
	for _, req := range []messages.EmailSend{
		{Kind: messages.EmailConsentRequest, Name: evil, Requester: evil, Token: linkToken, Event: ev},
		{Kind: messages.EmailConfirm, Name: evil, Token: linkToken},
		{Kind: messages.EmailChanged, Name: evil, NewEmail: "ann@new.example"},
		{Kind: messages.EmailReminder, Name: evil, Requester: evil, Note: evil, Event: ev, UnsubscribeToken: unsubToken},
		{Kind: messages.EmailEventCancelled, Name: evil, Requester: evil, Event: ev, UnsubscribeToken: unsubToken},
		{Kind: messages.EmailWaitlistPromoted, Name: evil, Event: ev},
	} {
		t.Run(string(req.Kind), func(t *testing.T) {
			req.IdempotencyKey, req.To = "k", "ann@example.com"
			p, raw, _ := render(t, req)
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
			if n := len(p.Header["List-Unsubscribe"]); n > 1 || strings.Contains(p.Get("List-Unsubscribe"), "evil") {
				t.Errorf("List-Unsubscribe headers %q", p.Header["List-Unsubscribe"])
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
}
