// Package ics renders events as RFC 5545 iCalendar documents, for the events service's .ics
// export and the reminder email's attachment.
package ics

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ContentType is the media type of a rendered calendar.
const ContentType = "text/calendar; charset=utf-8"

// Event is what a calendar entry shows of an event (messages.Event.Calendar gives it).
// Optional fields are nil when unset.
type Event struct {
	// ID makes the UID, ID@eventpost.
	ID          string
	Title       string
	Description string
	StartsAt    time.Time
	EndsAt      *time.Time
	Location    *Location
	OnlineURL   *string
	Category    *string
	// UpdatedAt is the LAST-MODIFIED.
	UpdatedAt time.Time
}

// Location is where an event takes place.
type Location struct {
	Name    string
	Address string
	Lat     *float64
	Lon     *float64
}

// Render returns a VCALENDAR holding one VEVENT for e. Times are written in UTC; eventURL is
// the event's page, used as URL unless the event has an online link. stamp is the DTSTAMP.
func Render(e Event, eventURL string, stamp time.Time) []byte {
	var b bytes.Buffer
	line := func(name, value string) { writeFolded(&b, name+":"+value) }
	line("BEGIN", "VCALENDAR")
	line("VERSION", "2.0")
	line("PRODID", "-//EventPost//EventPost 1//EN")
	line("CALSCALE", "GREGORIAN")
	line("METHOD", "PUBLISH")
	line("BEGIN", "VEVENT")
	line("UID", e.ID+"@eventpost")
	line("DTSTAMP", utc(stamp))
	line("DTSTART", utc(e.StartsAt))
	if e.EndsAt != nil {
		line("DTEND", utc(*e.EndsAt))
	}
	line("SUMMARY", Escape(e.Title))
	if e.Description != "" {
		line("DESCRIPTION", Escape(e.Description))
	}
	if loc := Place(e.Location); loc != "" {
		line("LOCATION", Escape(loc))
	} else if e.OnlineURL != nil {
		line("LOCATION", Escape(*e.OnlineURL))
	}
	if e.Location != nil && e.Location.Lat != nil && e.Location.Lon != nil {
		line("GEO", fmt.Sprintf("%.6f;%.6f", *e.Location.Lat, *e.Location.Lon))
	}
	if u := url(e, eventURL); u != "" {
		line("URL", u)
	}
	if e.Category != nil && *e.Category != "" {
		line("CATEGORIES", Escape(*e.Category))
	}
	line("LAST-MODIFIED", utc(e.UpdatedAt))
	line("END", "VEVENT")
	line("END", "VCALENDAR")
	return b.Bytes()
}

// Place is a one-line description of a location: its name and address.
func Place(l *Location) string {
	if l == nil {
		return ""
	}
	parts := make([]string, 0, 2)
	for _, s := range []string{l.Name, l.Address} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

func url(e Event, eventURL string) string {
	u := eventURL
	if e.OnlineURL != nil && *e.OnlineURL != "" {
		u = *e.OnlineURL
	}
	// A URI value is not escaped like text; drop characters that would break the line.
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r == 0x7f {
			return -1
		}
		return r
	}, u)
}

func utc(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// Escape escapes a TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines.
// Other control characters are dropped.
func Escape(s string) string {
	var b strings.Builder
	for _, r := range strings.ReplaceAll(s, "\r\n", "\n") {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == ';':
			b.WriteString(`\;`)
		case r == ',':
			b.WriteString(`\,`)
		case r == '\n' || r == '\r':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// writeFolded writes a content line folded at 75 octets without splitting a UTF-8 sequence,
// ending every physical line with CRLF.
func writeFolded(b *bytes.Buffer, s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		limit = 74 // the leading space counts
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}
