package ics_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	ical "github.com/arran4/golang-ical"

	"github.com/eventpost/eventpost/internal/platform/ics"
)

// parse reads cal with a calendar parser other than ours, and returns its METHOD and its
// only VEVENT.
func parse(t *testing.T, cal []byte) (string, *ical.VEvent) {
	t.Helper()
	c, err := ical.ParseCalendar(bytes.NewReader(cal))
	if err != nil {
		t.Fatalf("parse calendar: %v\n%s", err, cal)
	}
	var method string
	for _, p := range c.CalendarProperties {
		if p.IANAToken == string(ical.PropertyMethod) {
			method = p.Value
		}
	}
	evs := c.Events()
	if len(evs) != 1 {
		t.Fatalf("calendar holds %d events, want 1:\n%s", len(evs), cal)
	}
	return method, evs[0]
}

// value returns the value of the property p of e, "" when e lacks it.
func value(e *ical.VEvent, p ical.ComponentProperty) string {
	if prop := e.GetProperty(p); prop != nil {
		return prop.Value
	}
	return ""
}

// parsed is what the checks read of a parsed VEVENT.
type parsed struct {
	method, uid, sequence, status, summary, description string
	start, end, stamp, modified                         time.Time
}

func read(t *testing.T, cal []byte) parsed {
	t.Helper()
	method, e := parse(t, cal)
	p := parsed{
		method: method, uid: e.Id(), sequence: value(e, ical.ComponentPropertySequence),
		status: value(e, ical.ComponentPropertyStatus), summary: value(e, ical.ComponentPropertySummary),
		description: value(e, ical.ComponentPropertyDescription),
	}
	var err error
	for _, f := range []struct {
		dst *time.Time
		get func() (time.Time, error)
	}{{&p.start, e.GetStartAt}, {&p.end, e.GetEndAt}, {&p.stamp, e.GetDtStampTime}, {&p.modified, e.GetLastModifiedAt}} {
		if *f.dst, err = f.get(); err != nil {
			t.Fatalf("read a time: %v\n%s", err, cal)
		}
	}
	return p
}

func TestCalendarParserReadsWhatRenderWrites(t *testing.T) {
	full := fullEvent()
	noEnd := fullEvent()
	noEnd.EndsAt, noEnd.Sequence = nil, 0
	tests := []struct {
		name string
		cal  []byte
		want parsed
	}{
		{"published event", ics.Render(full, opts), parsed{
			method: "PUBLISH", uid: "0190-abc@eventpost.example", sequence: "4", summary: full.Title,
			description: full.Description, start: full.StartsAt, end: *full.EndsAt, stamp: stamp, modified: full.UpdatedAt,
		}},
		{"event without an end lasts an hour", ics.Render(noEnd, opts), parsed{
			method: "PUBLISH", uid: "0190-abc@eventpost.example", sequence: "0", summary: full.Title,
			description: full.Description, start: full.StartsAt, end: full.StartsAt.Add(time.Hour), stamp: stamp,
			modified: full.UpdatedAt,
		}},
		{"cancellation", ics.RenderCancel(full, opts), parsed{
			method: "CANCEL", uid: "0190-abc@eventpost.example", sequence: "5", status: "CANCELLED", summary: full.Title,
			description: full.Description, start: full.StartsAt, end: *full.EndsAt, stamp: stamp, modified: full.UpdatedAt,
		}},
		{"published cancellation", ics.RenderCancelled(full, opts), parsed{
			method: "PUBLISH", uid: "0190-abc@eventpost.example", sequence: "5", status: "CANCELLED", summary: full.Title,
			description: full.Description, start: full.StartsAt, end: *full.EndsAt, stamp: stamp, modified: full.UpdatedAt,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := read(t, tt.cal)
			for _, c := range []struct{ name, got, want string }{
				{"METHOD", got.method, tt.want.method}, {"UID", got.uid, tt.want.uid},
				{"SEQUENCE", got.sequence, tt.want.sequence}, {"STATUS", got.status, tt.want.status},
				{"SUMMARY", got.summary, tt.want.summary}, {"DESCRIPTION", got.description, tt.want.description},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
				}
			}
			for _, c := range []struct {
				name      string
				got, want time.Time
			}{
				{"DTSTART", got.start, tt.want.start}, {"DTEND", got.end, tt.want.end},
				{"DTSTAMP", got.stamp, tt.want.stamp}, {"LAST-MODIFIED", got.modified, tt.want.modified},
			} {
				if !c.got.Equal(c.want) {
					t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
				}
			}
		})
	}
}

// FuzzCalendarParserReadsText renders events with arbitrary text and checks that a calendar
// parser reads back the text (as plain leaves it) from the escaped and folded lines.
func FuzzCalendarParserReadsText(f *testing.F) {
	for _, s := range []string{
		"Jazz, wine; and \\ more", `a\nb`, "line\r\nbreak\rand\nmore", strings.Repeat("é", 80),
		strings.Repeat("x", 74) + "ü" + strings.Repeat("€", 30), "emoji 🎷🎺 " + strings.Repeat("🎹", 40),
		"ends with a backslash \\", "\\,\\;", "tab\tand\x00nul",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.ToValidUTF8(s, "\uFFFD") // what the events service stores is UTF-8
		e := ics.Event{ID: "id", Title: s, Description: s, StartsAt: stamp, UpdatedAt: stamp}
		cal := ics.Render(e, opts)
		checkLines(t, string(cal))
		got := read(t, cal)
		if want := plain(s); got.summary != want || got.description != want {
			t.Errorf("text %q: parser read summary %q, description %q", s, got.summary, got.description)
		}
	})
}

// plain is s as a calendar keeps TEXT: CR LF and lone CRs become LFs, other control
// characters are dropped.
func plain(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\r':
			return '\n'
		case r == '\n':
			return r
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, strings.ReplaceAll(s, "\r\n", "\n"))
}
