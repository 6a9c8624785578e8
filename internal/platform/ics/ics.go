// Package ics renders events as RFC 5545 iCalendar documents, for the events service's .ics
// export, the calendar attachments of emails and the notifications service's personal
// calendar feeds (RenderFeed, with a VALARM per reminder). Every VEVENT carries a UID that never
// changes (the event's ID on EventPost's public host), a SEQUENCE that the events service
// raises whenever a field a calendar shows changes, LAST-MODIFIED, DTSTAMP and a DTEND.
package ics

import (
	"bytes"
	"fmt"
	neturl "net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Method is the METHOD of a calendar (RFC 5546): what its receiver is to do with it.
type Method string

// The methods EventPost sends.
const (
	// Publish publishes the event: add it to the calendar, or update the copy with its UID.
	Publish Method = "PUBLISH"
	// Cancel cancels the event with the UID.
	Cancel Method = "CANCEL"
)

// ContentType returns the media type of a calendar of method m, which names the method as
// RFC 5545 8.1 asks: text/calendar; charset=utf-8; method=PUBLISH.
func (m Method) ContentType() string { return "text/calendar; charset=utf-8; method=" + string(m) }

// DefaultDuration is how long an event without an end lasts in a calendar: its DTEND is
// its start plus DefaultDuration, as calendar clients expect an end.
const DefaultDuration = time.Hour

// defaultHost makes the UID when Options.Host is empty.
const defaultHost = "eventpost"

// Event is what a calendar entry shows of an event (messages.Event.Calendar gives it).
// Optional fields are nil when unset.
type Event struct {
	// ID makes the UID, ID@Options.Host.
	ID          string
	Title       string
	Description string
	StartsAt    time.Time
	// EndsAt is the DTEND; without it the event lasts DefaultDuration.
	EndsAt    *time.Time
	Location  *Location
	OnlineURL *string
	Category  *string
	// UpdatedAt is the LAST-MODIFIED; a zero UpdatedAt (a snapshot that lacks it) writes none.
	UpdatedAt time.Time
	// Sequence is the SEQUENCE: the events service raises it whenever a field a calendar shows
	// changes.
	Sequence int
}

// Location is where an event takes place.
type Location struct {
	Name    string
	Address string
	Lat     *float64
	Lon     *float64
}

// Options are what a calendar says beyond the event itself.
type Options struct {
	// Host is EventPost's public host (see Host); the UID is <event ID>@Host. Empty means
	// "eventpost".
	Host string
	// EventURL is the event's page, written as URL unless the event has an online link.
	EventURL string
	// Stamp is the DTSTAMP: when the calendar was made.
	Stamp time.Time
}

// Host returns the host of publicURL (lower-cased, without a port), for Options.Host; ""
// when publicURL names none.
func Host(publicURL string) string {
	u, err := neturl.Parse(publicURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// UID returns the UID of the event with the given ID on host (see Options.Host).
func UID(id, host string) string {
	if host == "" {
		host = defaultHost
	}
	return id + "@" + host
}

// Render returns a calendar with METHOD:PUBLISH holding e as one VEVENT. Times are written
// in UTC.
func Render(e Event, o Options) []byte { return render(e, o, Publish, false) }

// RenderCancelled returns e as cancelled, published: a calendar with METHOD:PUBLISH holding
// e's VEVENT, same UID, with STATUS:CANCELLED and a SEQUENCE one higher than e.Sequence. It is
// RenderCancel for a plain export or subscription, which has no ORGANIZER and is no iTIP
// scheduling message (RFC 5546 3.2.1 allows STATUS:CANCELLED in a PUBLISH).
func RenderCancelled(e Event, o Options) []byte {
	e.Sequence++
	return render(e, o, Publish, true)
}

// RenderCancel returns the cancellation of e: a calendar with METHOD:CANCEL holding e's
// VEVENT, same UID, with STATUS:CANCELLED and a SEQUENCE one higher than e.Sequence, so that
// calendars that hold e remove it. e is the event as it was last published.
func RenderCancel(e Event, o Options) []byte {
	e.Sequence++
	return render(e, o, Cancel, true)
}

func render(e Event, o Options, m Method, cancelled bool) []byte {
	var b bytes.Buffer
	writeHeader(&b, m, "")
	writeEvent(&b, e, o, cancelled, nil)
	writeFolded(&b, "END:VCALENDAR")
	return b.Bytes()
}

// writeHeader writes the opening of a calendar of method m, named name when name is not "".
func writeHeader(b *bytes.Buffer, m Method, name string) {
	line := func(name, value string) { writeFolded(b, name+":"+value) }
	line("BEGIN", "VCALENDAR")
	line("VERSION", "2.0")
	line("PRODID", "-//EventPost//EventPost 1//EN")
	line("CALSCALE", "GREGORIAN")
	line("METHOD", string(m))
	if name != "" {
		line("X-WR-CALNAME", Escape(name))
	}
}

// writeEvent writes e as one VEVENT, cancelled or not, with alarms: the one place every
// VEVENT EventPost emits is written.
func writeEvent(b *bytes.Buffer, e Event, o Options, cancelled bool, alarms []Alarm) {
	line := func(name, value string) { writeFolded(b, name+":"+value) }
	line("BEGIN", "VEVENT")
	line("UID", Escape(UID(e.ID, o.Host)))
	line("SEQUENCE", strconv.Itoa(max(e.Sequence, 0)))
	line("DTSTAMP", utc(o.Stamp))
	line("DTSTART", utc(e.StartsAt))
	line("DTEND", utc(end(e)))
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
	if u := url(e, o.EventURL); u != "" {
		line("URL", u)
	}
	if e.Category != nil && *e.Category != "" {
		line("CATEGORIES", Escape(*e.Category))
	}
	if cancelled {
		line("STATUS", "CANCELLED")
	}
	if !e.UpdatedAt.IsZero() {
		line("LAST-MODIFIED", utc(e.UpdatedAt))
	}
	for _, a := range alarms {
		line("BEGIN", "VALARM")
		line("ACTION", "DISPLAY")
		desc := a.Description
		if desc == "" {
			desc = e.Title
		}
		line("DESCRIPTION", Escape(desc))
		if a.MinutesBefore != nil {
			line("TRIGGER", fmt.Sprintf("-PT%dM", max(*a.MinutesBefore, 0)))
		} else {
			line("TRIGGER;VALUE=DATE-TIME", utc(a.At))
		}
		line("END", "VALARM")
	}
	line("END", "VEVENT")
}

// Alarm is a VALARM of an event in a feed: a reminder, relative to the event's start when
// MinutesBefore is set, else at the absolute time At.
type Alarm struct {
	// Description is what the alarm shows; "" shows the event's title.
	Description   string
	MinutesBefore *int
	At            time.Time
}

// Entry is one event of a feed (see RenderFeed).
type Entry struct {
	Event Event
	// EventURL is the event's page (see Options.EventURL).
	EventURL string
	// Cancelled writes the event as RenderCancelled does: STATUS:CANCELLED, SEQUENCE one
	// higher than Event.Sequence.
	Cancelled bool
	// Alarms are the event's VALARMs.
	Alarms []Alarm
}

// FeedOptions are what a feed says beyond its events.
type FeedOptions struct {
	// Name is the X-WR-CALNAME, the name calendar apps show for a subscription; "" writes
	// none.
	Name string
	// Host makes the UIDs, as Options.Host.
	Host string
	// Stamp is the DTSTAMP of every VEVENT.
	Stamp time.Time
}

// RenderFeed returns a calendar with METHOD:PUBLISH holding one VEVENT per entry, each
// written as Render (or RenderCancelled, for a cancelled entry) writes it, with its alarms:
// a calendar subscription.
func RenderFeed(entries []Entry, o FeedOptions) []byte {
	var b bytes.Buffer
	b.Grow(256 + 700*len(entries))
	writeHeader(&b, Publish, o.Name)
	for _, en := range entries {
		e := en.Event
		if en.Cancelled {
			e.Sequence++
		}
		writeEvent(&b, e, Options{Host: o.Host, EventURL: en.EventURL, Stamp: o.Stamp}, en.Cancelled, en.Alarms)
	}
	writeFolded(&b, "END:VCALENDAR")
	return b.Bytes()
}

// end returns the DTEND of e: its end, or DefaultDuration after its start. An end before
// the start (which the events service refuses) is written as the start: RFC 5545 wants
// DTEND after DTSTART.
func end(e Event) time.Time {
	if e.EndsAt == nil {
		return e.StartsAt.Add(DefaultDuration)
	}
	if e.EndsAt.Before(e.StartsAt) {
		return e.StartsAt
	}
	return *e.EndsAt
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
