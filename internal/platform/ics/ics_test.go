package ics_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/eventpost/eventpost/internal/platform/ics"
)

// stamp is the DTSTAMP of the tests' calendars.
var stamp = time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// opts are the options of the tests' calendars.
var opts = ics.Options{Host: "eventpost.example", EventURL: "http://localhost:8080/events/0190-abc", Stamp: stamp}

// fullEvent is an event with every field set.
func fullEvent() ics.Event {
	return ics.Event{
		ID: "0190-abc", Title: "Jazz, wine; and \\ more", Description: "Line one\nLine two " + strings.Repeat("é", 60),
		StartsAt: time.Date(2027, 3, 1, 19, 30, 0, 0, time.FixedZone("CET", 3600)),
		EndsAt:   ptr(time.Date(2027, 3, 1, 21, 0, 0, 0, time.UTC)),
		Location: &ics.Location{Name: "Club", Address: "Street 1, Berlin", Lat: ptr(52.52), Lon: ptr(13.405)},
		Category: ptr("Music"), UpdatedAt: time.Date(2026, 1, 1, 10, 0, 0, 0, time.FixedZone("X", -3600)), Sequence: 4,
	}
}

func TestRender(t *testing.T) {
	out := string(ics.Render(fullEvent(), opts))
	for _, want := range []string{
		"BEGIN:VCALENDAR\r\n", "VERSION:2.0\r\n", "METHOD:PUBLISH\r\n", "BEGIN:VEVENT\r\n",
		"UID:0190-abc@eventpost.example\r\n", "SEQUENCE:4\r\n", "DTSTAMP:20260202T000000Z\r\n",
		"DTSTART:20270301T183000Z\r\n", "DTEND:20270301T210000Z\r\n", "LAST-MODIFIED:20260101T110000Z\r\n",
		`SUMMARY:Jazz\, wine\; and \\ more` + "\r\n", `LOCATION:Club\, Street 1\, Berlin` + "\r\n",
		"URL:http://localhost:8080/events/0190-abc\r\n", "GEO:52.520000;13.405000\r\n", "CATEGORIES:Music\r\n",
		"END:VEVENT\r\n", "END:VCALENDAR\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("calendar lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "STATUS:") {
		t.Errorf("a published event carries a STATUS:\n%s", out)
	}
	checkLines(t, out)
	unfolded := strings.ReplaceAll(out, "\r\n ", "")
	if !strings.Contains(unfolded, `DESCRIPTION:Line one\nLine two `+strings.Repeat("é", 60)) {
		t.Errorf("description does not unfold to the original text:\n%s", unfolded)
	}
}

// checkLines checks that every line of the calendar out ends with CRLF, is at most 75 octets
// long and splits no UTF-8 sequence.
func checkLines(t *testing.T, out string) {
	t.Helper()
	if !strings.HasSuffix(out, "\r\n") {
		t.Errorf("calendar does not end with CRLF: %q", out)
	}
	for i, line := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if len(line) > 75 {
			t.Errorf("line %d is %d octets long: %q", i, len(line), line)
		}
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("line %d holds a bare line break: %q", i, line)
		}
		if !utf8.ValidString(line) {
			t.Errorf("line %d splits a UTF-8 sequence: %q", i, line)
		}
	}
}

func TestRenderEnd(t *testing.T) {
	start := time.Date(2027, 3, 1, 18, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		ends *time.Time
		want string
	}{
		{"its end", ptr(start.Add(150 * time.Minute)), "DTEND:20270301T210000Z\r\n"},
		{"an hour after the start without an end", nil, "DTEND:20270301T193000Z\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := string(ics.Render(ics.Event{ID: "1", Title: "t", StartsAt: start, EndsAt: tt.ends}, opts))
			if !strings.Contains(out, tt.want) || strings.Count(out, "DTEND:") != 1 {
				t.Errorf("calendar lacks %q once:\n%s", tt.want, out)
			}
		})
	}
}

func TestRenderUsesOnlineURL(t *testing.T) {
	u := "https://meet.example/x"
	out := string(ics.Render(ics.Event{ID: "1", Title: "t", OnlineURL: &u}, ics.Options{EventURL: "http://page", Stamp: stamp}))
	if !strings.Contains(out, "URL:https://meet.example/x\r\n") || !strings.Contains(out, "LOCATION:https://meet.example/x\r\n") {
		t.Errorf("online event calendar:\n%s", out)
	}
	if !strings.Contains(out, "UID:1@eventpost\r\n") {
		t.Errorf("without a host the UID is not ID@eventpost:\n%s", out)
	}
	if strings.Contains(out, "LAST-MODIFIED") {
		t.Errorf("an event without an update time has a LAST-MODIFIED:\n%s", out)
	}
}

func TestRenderCancel(t *testing.T) {
	e := fullEvent()
	out := string(ics.RenderCancel(e, opts))
	for _, want := range []string{
		"METHOD:CANCEL\r\n", "UID:0190-abc@eventpost.example\r\n", "SEQUENCE:5\r\n", "STATUS:CANCELLED\r\n",
		"DTSTART:20270301T183000Z\r\n", "DTEND:20270301T210000Z\r\n", "DTSTAMP:20260202T000000Z\r\n",
		"LAST-MODIFIED:20260101T110000Z\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("cancellation lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "METHOD:PUBLISH") {
		t.Errorf("cancellation is published:\n%s", out)
	}
	if e.Sequence != 4 {
		t.Errorf("RenderCancel changed the caller's event: sequence %d", e.Sequence)
	}
	checkLines(t, out)
}

func TestMethodContentType(t *testing.T) {
	for m, want := range map[ics.Method]string{
		ics.Publish: "text/calendar; charset=utf-8; method=PUBLISH",
		ics.Cancel:  "text/calendar; charset=utf-8; method=CANCEL",
	} {
		if got := m.ContentType(); got != want {
			t.Errorf("%s.ContentType() = %q, want %q", m, got, want)
		}
	}
}

func TestHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://EventPost.example":        "eventpost.example",
		"http://localhost:8080":            "localhost",
		"https://events.example.org/base/": "events.example.org",
		"http://[::1]:8080":                "::1",
		"not a url":                        "",
		"":                                 "",
	} {
		if got := ics.Host(in); got != want {
			t.Errorf("Host(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                   "plain",
		`a,b;c\d`:                 `a\,b\;c\\d`,
		"one\r\ntwo\nthree\rfour": `one\ntwo\nthree\nfour`,
		"bell\afree\x7f":          "bellfree",
	} {
		if got := ics.Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}
