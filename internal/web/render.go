package web

import (
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
)

// pageNames are the page templates, each templates/<name>.html.
func pageNames() []string {
	return []string{
		"events", "event", "signup", "login", "account", "confirm", "reminders", "myevents", "eventform", "error",
		"forgot", "reset", "confirmemail", "consent", "unsubscribe", "cancelledevent",
	}
}

// parseTemplates parses each page with the layout and the shared partials.
func (u *UI) parseTemplates(fsys fs.FS) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"static":     u.static.URL,
		"when":       u.when,
		"span":       u.span,
		"day":        func(t time.Time, tz string) string { return t.In(u.location(tz)).Format("2") },
		"month":      func(t time.Time, tz string) string { return t.In(u.location(tz)).Format("Jan") },
		"weekday":    func(t time.Time, tz string) string { return t.In(u.location(tz)).Format("Mon") },
		"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"mapURL":     mapURL,
		"coords":     func(l *messages.Location) bool { return l != nil && l.Lat != nil && l.Lon != nil },
		"deref":      func(s *string) string { return deref(s) },
		"reminder":   reminderLabel,
		"status":     statusLabel,
		"pathEsc":    url.PathEscape,
		"query":      url.QueryEscape,
		"field":      field,
		"add":        func(a, b int) int { return a + b },
		"inputValue": inputValue,
	}
	pages := make(map[string]*template.Template, len(pageNames()))
	for _, name := range pageNames() {
		t, err := template.New(name).Funcs(funcs).ParseFS(fsys,
			"templates/layout.html", "templates/partials.html", "templates/seo.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// location returns the time zone named tz, UTC when it is unknown.
func (u *UI) location(tz string) *time.Location {
	if tz == "" || tz == "UTC" {
		return time.UTC
	}
	if l, ok := u.locations.Load(tz); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	u.locations.Store(tz, l)
	return l
}

// dateTimeLayout is the one layout of a date and time on every page, such as
// "Sat 6 Mar 2027, 18:30"; zoneLabel follows it. static/app.js writes the viewer's own
// times in the same layout.
const dateTimeLayout = "Mon 2 Jan 2006, 15:04"

// zoneLabel names the UTC offset of t's zone, such as "UTC", "UTC+1", "UTC−5" or
// "UTC+5:30". Offsets, not abbreviations: "CST" or "IST" name several zones, and a browser
// cannot write the abbreviations Go's time zone database has, so the viewer's own time
// could not be written like the event's.
func zoneLabel(t time.Time) string {
	_, off := t.Zone()
	off /= 60
	if off == 0 {
		return "UTC"
	}
	sign := "+"
	if off < 0 {
		sign, off = "\u2212", -off
	}
	if off%60 == 0 {
		return fmt.Sprintf("UTC%s%d", sign, off/60)
	}
	return fmt.Sprintf("UTC%s%d:%02d", sign, off/60, off%60)
}

// formatWhen formats t in loc, such as "Sat 6 Mar 2027, 18:30 UTC+1".
func formatWhen(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	return t.Format(dateTimeLayout) + " " + zoneLabel(t)
}

// formatSpan formats the time from start to end (nil when unknown) in loc, without
// repeating the date when both are on the same day, nor the zone when both have the same
// offset: "Sat 6 Mar 2027, 18:30 – 20:00 UTC+1".
func formatSpan(start time.Time, end *time.Time, loc *time.Location) string {
	s := start.In(loc)
	if end == nil {
		return formatWhen(s, loc)
	}
	e := end.In(loc)
	if s.Year() != e.Year() || s.YearDay() != e.YearDay() {
		return formatWhen(s, loc) + " – " + formatWhen(e, loc)
	}
	if zoneLabel(s) != zoneLabel(e) { // a night the clocks change
		return s.Format(dateTimeLayout) + " " + zoneLabel(s) + " – " + e.Format("15:04") + " " + zoneLabel(e)
	}
	return s.Format(dateTimeLayout) + " – " + e.Format("15:04") + " " + zoneLabel(e)
}

// when formats t in the time zone tz, such as "Sat 6 Mar 2027, 18:30 UTC+1".
func (u *UI) when(t time.Time, tz string) string { return formatWhen(t, u.location(tz)) }

// span formats the time from start to end (nil when unknown) in the time zone tz: see
// formatSpan.
func (u *UI) span(start time.Time, end *time.Time, tz string) string {
	return formatSpan(start, end, u.location(tz))
}

// inputValue returns value to echo into an input of type typ: as it is, except that a date,
// date and time or number input is given only a value of its kind (anything else is
// invalid HTML there, and no browser sends it), else "". The field's error says what was
// wrong.
func inputValue(typ, value string) string {
	var err error
	switch typ {
	case "date":
		_, err = time.Parse(dateLayout, value)
	case "datetime-local":
		if _, err = time.Parse(localTimeLayout, value); err != nil {
			_, err = time.Parse(localSecondsLayout, value)
		}
	case "number":
		if !validNumber.MatchString(value) {
			err = strconv.ErrSyntax
		}
	default:
		return value
	}
	if err != nil {
		return ""
	}
	return value
}

// validNumber matches HTML's valid floating-point numbers, the values of a number input.
var validNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// mapURL returns a link to the place l on OpenStreetMap: a marker at its coordinates, or
// a search for its address or name; "" when it has neither.
func mapURL(l *messages.Location) string {
	if l == nil {
		return ""
	}
	if l.Lat != nil && l.Lon != nil {
		lat, lon := formatFloat(*l.Lat), formatFloat(*l.Lon)
		return "https://www.openstreetmap.org/?mlat=" + lat + "&mlon=" + lon + "#map=16/" + lat + "/" + lon
	}
	q := strings.TrimSpace(strings.TrimSpace(l.Name) + " " + strings.TrimSpace(l.Address))
	if l.Address != "" {
		q = l.Address
	}
	if q == "" {
		return ""
	}
	return "https://www.openstreetmap.org/search?query=" + url.QueryEscape(q)
}

// formatFloat formats f with as many digits as it needs.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// reminderChoice is a reminder time offered on an event's page.
type reminderChoice struct {
	Minutes int
	Label   string
}

// reminderChoices are the reminder times offered, before the start.
func reminderChoices() []reminderChoice {
	return []reminderChoice{{60, "1 hour before"}, {1440, "1 day before"}, {10080, "1 week before"}}
}

// reminderLabel says when a reminder is sent, relative to its event's start when it is.
func reminderLabel(minutesBefore *int) string {
	if minutesBefore == nil {
		return "At a chosen time"
	}
	m := *minutesBefore
	for _, o := range reminderChoices() {
		if o.Minutes == m {
			return o.Label
		}
	}
	switch {
	case m == 0:
		return "When it starts"
	case m%1440 == 0:
		return fmt.Sprintf("%d days before", m/1440)
	case m%60 == 0:
		return fmt.Sprintf("%d hours before", m/60)
	}
	return fmt.Sprintf("%d minutes before", m)
}

// statusLabel names a notification status for people.
func statusLabel(status string) string {
	switch status {
	case "scheduled":
		return "Scheduled"
	case "sending":
		return "Sending"
	case "sent":
		return "Sent"
	case "failed":
		return "Failed"
	case "awaiting_consent":
		return "Waiting for the recipient to accept"
	case "cancelled":
		return "Cancelled"
	}
	return status
}
