package mailer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
)

// TestCalendarAttachments checks the event.ics of every email about an event: reminders and
// event_changed emails publish the event, event_cancelled emails cancel it with the same UID
// and a higher SEQUENCE, and the attachment's Content-Type names the calendar's METHOD.
func TestCalendarAttachments(t *testing.T) {
	uid := "UID:0190c0de-0000-7000-8000-000000000001@eventpost.example\r\n"
	tests := []struct {
		kind    messages.EmailKind
		method  string
		want    []string
		notWant []string
	}{
		{messages.EmailReminder, "PUBLISH", []string{"METHOD:PUBLISH\r\n", uid, "SEQUENCE:3\r\n",
			"DTEND:20270301T210000Z\r\n", "LAST-MODIFIED:20270201T100000Z\r\n", "DTSTAMP:20270228T090000Z\r\n"},
			[]string{"STATUS:"}},
		{messages.EmailEventChanged, "PUBLISH", []string{"METHOD:PUBLISH\r\n", uid, "SEQUENCE:3\r\n",
			"DTSTART:20270301T183000Z\r\n", "LAST-MODIFIED:20270201T100000Z\r\n"}, []string{"STATUS:"}},
		{messages.EmailWaitlistPromoted, "PUBLISH", []string{"METHOD:PUBLISH\r\n", uid, "SEQUENCE:3\r\n",
			"DTSTART:20270301T183000Z\r\n", "LAST-MODIFIED:20270201T100000Z\r\n"}, []string{"STATUS:"}},
		{messages.EmailEventCancelled, "CANCEL", []string{"METHOD:CANCEL\r\n", uid, "SEQUENCE:4\r\n",
			"STATUS:CANCELLED\r\n", "DTSTART:20270301T183000Z\r\n", "DTEND:20270301T210000Z\r\n"},
			[]string{"METHOD:PUBLISH"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			ev := testEvent()
			ev.Sequence = 3
			ev.UpdatedAt = renderNow.AddDate(0, 0, -27).Add(time.Hour)
			p, raw, _ := render(t, messages.EmailSend{IdempotencyKey: "k", Kind: tt.kind, To: "ann@example.com", Event: ev})
			a, ok := p.Attachments["event.ics"]
			if !ok {
				t.Fatalf("no event.ics attachment; attachments: %v", p.Attachments)
			}
			if a.ContentType != "text/calendar" || a.Params["method"] != tt.method || a.Params["charset"] != "utf-8" {
				t.Errorf("event.ics content type %s %v, want text/calendar with charset=utf-8 and method=%s",
					a.ContentType, a.Params, tt.method)
			}
			if want := "text/calendar; charset=utf-8; method=" + tt.method; !strings.Contains(string(raw), want) {
				t.Errorf("message lacks the content type %q:\n%s", want, raw)
			}
			cal := string(a.Data)
			for _, s := range tt.want {
				if !strings.Contains(cal, s) {
					t.Errorf("event.ics lacks %q:\n%s", s, cal)
				}
			}
			for _, s := range tt.notWant {
				if strings.Contains(cal, s) {
					t.Errorf("event.ics has %q:\n%s", s, cal)
				}
			}
		})
	}
}

// TestCalendarAttachmentOfAnEventWithoutEnd checks that the attached event lasts an hour when
// it has no end.
func TestCalendarAttachmentOfAnEventWithoutEnd(t *testing.T) {
	ev := testEvent()
	ev.EndsAt = nil
	p, _, _ := render(t, messages.EmailSend{IdempotencyKey: "k", Kind: messages.EmailReminder, To: "ann@example.com", Event: ev})
	if cal := string(p.Attachments["event.ics"].Data); !strings.Contains(cal, "DTEND:20270301T193000Z\r\n") {
		t.Errorf("event.ics of an event without an end lacks DTEND an hour after the start:\n%s", cal)
	}
}
