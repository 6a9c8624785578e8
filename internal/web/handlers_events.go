package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Layouts of the date and time inputs.
const (
	dateLayout          = "2006-01-02"
	localTimeLayout     = "2006-01-02T15:04"
	localSecondsLayout  = "2006-01-02T15:04:05"
	searchPageSize      = 20
	defaultSearchRadius = "25"
)

// eventsData is the data of the event list.
type eventsData struct {
	Events []event
	pageLinks
	// Count says how many events were found, such as "Events 21–40 of more than 40".
	Count string
	// StaleCursor tells that the page link was not one the API gave out, or no longer
	// works: the page says so and links to the first page.
	StaleCursor bool
	// Filtered tells whether any search term or filter is set.
	Filtered bool
	// FiltersOpen tells whether the filters are shown open: when one is set or wrong.
	FiltersOpen bool
	// ResultsShown tells whether the search ran (it does not when the form has errors).
	ResultsShown bool
	// OrganizerID is the organizer the list is limited to, "" for all; OrganizerName their
	// display name, when one of the events found tells it.
	OrganizerID, OrganizerName string
}

// searchFields maps the API's query parameters to the search form's fields.
func searchFields() formFields {
	return formFields{
		"q": {"q", "Search words"}, "from": {"from", "From"}, "to": {"to", "To"},
		"category": {"category", "Category"}, "tag": {"tag", "Tag"}, "near": {"lat", "Latitude"},
		"radius_km": {"radius", "Distance"},
	}
}

// handleEvents shows upcoming events, searched and filtered by the query, a page at a time.
func (u *UI) handleEvents(w http.ResponseWriter, r *http.Request) {
	f := newForm(r.URL.Query())
	query, filtered := u.searchQuery(f)
	data := eventsData{Filtered: filtered, OrganizerID: strings.TrimSpace(f.Get("organizer_id"))}
	pg := pagerOf(r.URL.Query())
	base := withoutPaging(r.URL.Query())
	data.pageLinks = pg.links("/", base, nil)
	var c resultTitle
	if !f.Failed() {
		var page eventPage
		err := u.call(r.Context(), http.MethodGet, "/api/v1/events?"+query.Encode(), "", nil, &page)
		switch {
		case err == nil:
			c = data.showPage(page, pg, base)
		case apiStatus(err) == http.StatusUnprocessableEntity:
			var ae *apiError
			errors.As(err, &ae)
			var fields []fieldError
			fields, data.StaleCursor = withoutCursorErrors(ae.Fields)
			if len(fields) > 0 || !data.StaleCursor {
				f.applyAPIErrors(fields, searchFields())
			}
		default:
			u.fail(w, r, err)
			return
		}
	}
	status := http.StatusOK
	switch {
	case f.Failed():
		status = http.StatusUnprocessableEntity
	case data.StaleCursor:
		// 400, not 200: the link asks for something that does not exist, and a crawler or
		// a cache must not keep this page as the content of that address.
		status = http.StatusBadRequest
		data.FirstURL = pageURL("/", base)
	}
	data.FiltersOpen = filtersOpen(f)
	u.render(w, r, status, "events", view{Title: data.title(c, strings.TrimSpace(f.Get("q"))), Form: f, Data: data, SEO: u.eventsSEO(f, data)})
}

// filtersOpen tells whether the search form f shows its filters open: when one is set or
// the form has errors.
func filtersOpen(f *form) bool {
	if f.Failed() {
		return true
	}
	for _, name := range []string{"from", "to", "category", "tag", "lat", "lon"} {
		if f.Get(name) != "" {
			return true
		}
	}
	return false
}

// resultTitle is what a page of results puts in its title: how many events were found,
// such as "More than 40 events", and which page it is, such as ", page 2" ("" for the
// first or when not known).
type resultTitle struct {
	count, page string
}

// showPage fills in the list with page, the events the API found for the page of the
// list at pg, whose query is base less its paging; it returns what the title says of them.
func (d *eventsData) showPage(page eventPage, pg pager, base url.Values) resultTitle {
	d.Events, d.ResultsShown = page.Items, true
	for _, e := range page.Items {
		if d.OrganizerID != "" && e.Organizer.ID == d.OrganizerID && e.Organizer.DisplayName != "" {
			d.OrganizerName = e.Organizer.DisplayName
			break
		}
	}
	d.pageLinks = pg.links("/", base, page.NextCursor)
	more := d.NextURL != ""
	var c resultTitle
	index, known := pg.Index()
	d.Count, c.count = resultCount(index, known, len(page.Items), searchPageSize, more)
	if index > 0 && known {
		c.page = ", page " + strconv.Itoa(index+1)
	}
	return c
}

// title returns the title of the list: with the count of events found, for a search (q
// being its words).
func (d *eventsData) title(c resultTitle, q string) string {
	switch {
	case d.StaleCursor:
		return "This page of results is out of date"
	case d.OrganizerName != "":
		return "Events by " + d.OrganizerName + c.page
	case d.Filtered && c.count != "" && q != "":
		return c.count + " for “" + q + "”" + c.page
	case d.Filtered && c.count != "":
		return c.count + " found" + c.page
	case d.Filtered:
		return "Search results"
	}
	return "Upcoming events" + c.page
}

// withoutCursorErrors returns the field errors of a 422 answer less those of the cursor,
// and whether there was one: a page link that was mistyped, cut short or made by another
// server.
func withoutCursorErrors(errs []fieldError) (rest []fieldError, cursor bool) {
	for _, fe := range errs {
		if fe.Field == "cursor" {
			cursor = true
			continue
		}
		rest = append(rest, fe)
	}
	return rest, cursor
}

// searchQuery turns the search form into the query of GET /api/v1/events, recording the
// fields it cannot read as errors. filtered tells whether any term or filter is set.
func (u *UI) searchQuery(f *form) (q url.Values, filtered bool) {
	a := &apiQuery{values: url.Values{"limit": {strconv.Itoa(searchPageSize)}}}
	a.set("q", strings.TrimSpace(f.Get("q")))
	a.set("category", strings.TrimSpace(f.Get("category")))
	a.set("organizer_id", strings.TrimSpace(f.Get("organizer_id")))
	for _, tag := range splitTags(f.Get("tag")) {
		a.values.Add("tag", tag)
		a.filtered = true
	}
	searchDates(f, u.location(f.Get("tz")), a)
	searchNear(f, a)
	if c := f.Get("cursor"); c != "" {
		a.values.Set("cursor", c)
	}
	return a.values, a.filtered
}

// apiQuery is the query of a search being built, and whether any term or filter is in it.
type apiQuery struct {
	values   url.Values
	filtered bool
}

// set sets a term or filter, unless value is empty.
func (a *apiQuery) set(name, value string) {
	if value != "" {
		a.values.Set(name, value)
		a.filtered = true
	}
}

// searchDates adds the from and to filters, the dates read in loc: from the start of the day
// from to the end of the day to.
func searchDates(f *form, loc *time.Location, a *apiQuery) {
	var from time.Time
	if v := strings.TrimSpace(f.Get("from")); v != "" {
		d, err := time.ParseInLocation(dateLayout, v, loc)
		if err != nil {
			f.Fail("from", "From must be a date, such as 2027-03-01")
		} else {
			from = d
			a.set("from", d.Format(time.RFC3339))
		}
	}
	if v := strings.TrimSpace(f.Get("to")); v != "" {
		d, err := time.ParseInLocation(dateLayout, v, loc)
		switch {
		case err != nil:
			f.Fail("to", "To must be a date, such as 2027-03-31")
		case !from.IsZero() && d.Before(from):
			f.Fail("to", "To must not be before From")
		default:
			to := d.AddDate(0, 0, 1).Add(-time.Second) // the end of that day
			a.set("to", to.Format(time.RFC3339))
		}
	}
}

// searchNear adds the near and radius_km filters when a latitude or a longitude is given.
func searchNear(f *form, a *apiQuery) {
	lat, lon := strings.TrimSpace(f.Get("lat")), strings.TrimSpace(f.Get("lon"))
	if lat == "" && lon == "" {
		return
	}
	la, errLat := strconv.ParseFloat(lat, 64)
	lo, errLon := strconv.ParseFloat(lon, 64)
	switch {
	case lat == "":
		f.Fail("lat", "Latitude is needed with a longitude")
	case errLat != nil || la < -90 || la > 90:
		f.Fail("lat", "Latitude must be a number from -90 to 90")
	}
	switch {
	case lon == "":
		f.Fail("lon", "Longitude is needed with a latitude")
	case errLon != nil || lo < -180 || lo > 180:
		f.Fail("lon", "Longitude must be a number from -180 to 180")
	}
	radius := strings.TrimSpace(f.Get("radius"))
	if radius == "" {
		radius = defaultSearchRadius
	}
	if km, err := strconv.ParseFloat(radius, 64); err != nil || km <= 0 {
		f.Fail("radius", "Distance must be a number of kilometres above 0")
	}
	a.set("near", formatFloat(la)+","+formatFloat(lo))
	a.set("radius_km", radius)
}

// splitTags splits a list of tags separated by commas or spaces, lower-cased.
func splitTags(s string) []string {
	tags := []string{}
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' }) {
		if t = strings.ToLower(strings.TrimPrefix(t, "#")); t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// eventData is the data of an event's page.
type eventData struct {
	Event event
	// Mine tells whether the viewer organizes the event.
	Mine bool
	// Started tells whether the event has started: no reminder can be set any more.
	Started bool
	// Options are the reminder times offered.
	Options []reminderOption
	// Reminders are the viewer's reminders for the event that are still to be sent.
	Reminders []eventReminder
	// ICSURL is the event's calendar file.
	ICSURL string
	// Attendance is how the viewer attends the event.
	Attendance viewerAttendance
	// OrganizerURL lists the events of the event's organizer.
	OrganizerURL string
	// DefaultReminders name the reminders going gives, such as "1 day before".
	DefaultReminders []string
}

// reminderOption is one reminder time offered on an event's page.
type reminderOption struct {
	Value string
	Label string
	// Past tells whether that time has passed: the option is shown disabled.
	Past bool
	// Taken tells whether the viewer has that reminder already: the option is shown
	// disabled, since the API would refuse an identical one.
	Taken bool
}

// Offered tells whether the option can be chosen.
func (o reminderOption) Offered() bool { return !o.Past && !o.Taken }

// eventReminder is one of the viewer's reminders for an event, as its page lists it.
type eventReminder struct {
	notification
	// Text says what it is, such as "You will be reminded 1 day before".
	Text string
}

// reminderText says what the viewer's reminder n is, n being to the address own (the
// account's) or another.
func reminderText(n notification, own string) string {
	when := "at a time you chose"
	if n.MinutesBefore != nil {
		when = strings.ToLower(reminderLabel(n.MinutesBefore))
	}
	if own != "" && n.Email != "" && !strings.EqualFold(n.Email, own) {
		return "Reminder to " + n.Email + ", " + when
	}
	switch n.Status {
	case "failed":
		return "Your reminder " + when + " could not be sent"
	case "awaiting_consent":
		return "Your reminder " + when + " waits for the recipient to accept"
	}
	return "You will be reminded " + when
}

// handleEvent shows an event.
func (u *UI) handleEvent(w http.ResponseWriter, r *http.Request) {
	u.eventPage(w, r, r.PathValue("id"), nil, http.StatusOK)
}

// eventPage shows the event id with the reminder form f (nil for a fresh one) and status.
func (u *UI) eventPage(w http.ResponseWriter, r *http.Request, id string, f *form, status int) {
	var e event
	if err := u.call(r.Context(), http.MethodGet, "/api/v1/events/"+url.PathEscape(id), "", nil, &e); err != nil {
		u.failEvent(w, r, id, f == nil, err)
		return
	}
	now := u.now()
	data := eventData{
		Event: e, Started: !e.StartsAt.After(now), ICSURL: "/api/v1/events/" + url.PathEscape(e.ID) + "/ics",
		OrganizerURL: pageURL("/", url.Values{"organizer_id": {e.OrganizerID}}),
	}
	for _, m := range e.DefaultReminders {
		data.DefaultReminders = append(data.DefaultReminders, strings.ToLower(reminderLabel(&m)))
	}
	me := u.me(r)
	if me != nil {
		data.Mine = me.ID == e.OrganizerID
		data.Attendance = u.findAttendance(r, e.ID)
		data.Reminders = u.eventReminders(r, e.ID, me.Email)
	}
	data.Options = reminderOptions(e.StartsAt, now, data.Reminders, me)
	if f == nil {
		f = newReminderForm(data.Options)
	}
	f.Values.Set("tz", e.Timezone) // a chosen time is read in the event's time zone, as the form says
	u.render(w, r, status, "event", view{Title: e.Title, Form: f, Data: data, SEO: u.eventSEO(r, e)})
}

// reminderOptions returns the reminder times offered for an event that starts at start,
// the viewer (nil for a visitor) having the reminders held for it already.
func reminderOptions(start, now time.Time, held []eventReminder, viewer *account) []reminderOption {
	var options []reminderOption
	for _, o := range reminderChoices() {
		sendAt := start.Add(-time.Duration(o.Minutes) * time.Minute)
		opt := reminderOption{Value: strconv.Itoa(o.Minutes), Label: o.Label, Past: !sendAt.After(now)}
		for _, n := range held {
			// The API refuses a reminder identical to one held: same event, address and time.
			if n.SendAt.Equal(sendAt) && (viewer == nil || n.Email == "" || strings.EqualFold(n.Email, viewer.Email)) {
				opt.Taken = true
			}
		}
		options = append(options, opt)
	}
	return options
}

// newReminderForm returns the reminder form as it comes: a day before chosen when it can
// be, else the first time that can, else a time of one's choosing.
func newReminderForm(options []reminderOption) *form {
	f := newForm(nil)
	for _, o := range options {
		if o.Offered() && (f.Get("when") == "" || o.Value == "1440") {
			f.Values.Set("when", o.Value)
		}
	}
	if f.Get("when") == "" {
		f.Values.Set("when", "custom")
	}
	return f
}

// maxEventReminderPages bounds the pages of reminders eventReminders reads for one event:
// 5 pages of 100 are as many pending reminders as an account may hold.
const maxEventReminderPages = 5

// eventReminders returns the viewer's reminders for the event id that are still to be sent
// (or could not be), own being the account's address; none when they cannot be listed. It
// reads the pages of the list one after the other, up to maxEventReminderPages.
func (u *UI) eventReminders(r *http.Request, id, own string) []eventReminder {
	var out []eventReminder
	q := url.Values{"event_id": {id}, "limit": {"100"}}
	for range maxEventReminderPages {
		var page struct {
			Items      []notification `json:"items"`
			NextCursor *string        `json:"next_cursor"`
		}
		err := u.authCall(r, http.MethodGet, "/api/v1/notifications?"+q.Encode(), nil, &page)
		if err != nil {
			if !errors.Is(err, errLoggedOut) {
				u.log.WarnContext(r.Context(), "list the reminders of an event", "err", err)
			}
			return out
		}
		for _, n := range page.Items {
			switch n.Status {
			case "scheduled", "awaiting_consent", "sending", "failed":
				out = append(out, eventReminder{notification: n, Text: reminderText(n, own)})
			}
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			return out
		}
		q.Set("cursor", *page.NextCursor)
	}
	u.log.WarnContext(r.Context(), "the reminders of an event fill more pages than are read", "pages", maxEventReminderPages)
	return out
}

// handleRemind sets a reminder for an event.
func (u *UI) handleRemind(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !loggedIn(r) {
		u.redirect(w, r, "/login?next="+url.QueryEscape("/events/"+id))
		return
	}
	f := newForm(cloneValues(r.PostForm))
	f.Values.Del(csrfField)
	body := map[string]any{"event_id": id}
	switch when := f.Get("when"); when {
	case "custom":
		if t, ok := chosenReminderTime(f); ok {
			body["send_at"] = t.Format(time.RFC3339)
		}
	case "":
		f.Fail("when", "Choose when to be reminded")
	default:
		n, err := strconv.Atoi(when)
		if err != nil {
			f.Fail("when", "Choose when to be reminded")
			break
		}
		body["minutes_before"] = n
	}
	if note := strings.TrimSpace(f.Get("note")); note != "" {
		body["note"] = note
	}
	if !f.Failed() {
		err := u.authCall(r, http.MethodPost, "/api/v1/notifications", body, nil)
		switch {
		case err == nil:
			u.flash(w, "reminder-set")
			// No #reminders: scrolling to a fragment moves the focus off the confirmation.
			u.redirect(w, r, "/events/"+url.PathEscape(id))
			return
		case errors.Is(err, errLoggedOut):
			u.redirect(w, r, "/login?next="+url.QueryEscape("/events/"+id))
			return
		case apiStatus(err) == http.StatusConflict:
			// An identical reminder (same event, address and time) exists already.
			f.General = "You already have this reminder: it is listed under “Your reminders for this event”."
			u.eventPage(w, r, id, f, http.StatusConflict)
			return
		case apiStatus(err) == http.StatusUnprocessableEntity:
			var ae *apiError
			errors.As(err, &ae)
			reminderErrors(f, ae.Fields)
		default:
			u.fail(w, r, err)
			return
		}
	}
	u.eventPage(w, r, id, f, http.StatusUnprocessableEntity)
}

// chosenReminderTime reads the time of the reminder form f's "at", a wall-clock time in the
// time zone its "tz" names (the event's), recording what is wrong with them on f.
func chosenReminderTime(f *form) (time.Time, bool) {
	at := strings.TrimSpace(f.Get("at"))
	if at == "" {
		f.Fail("at", "Choose the date and time of the reminder")
		return time.Time{}, false
	}
	tz := f.Get("tz")
	loc, err := time.LoadLocation(tz)
	if tz == "" || tz == "Local" || err != nil {
		f.General = "The event's time zone could not be read. Reload the page and try again."
		return time.Time{}, false
	}
	t, err := parseLocal(at, loc)
	switch {
	case errors.Is(err, errNoSuchTime):
		f.Fail("at", "There is no "+at[len(dateLayout)+1:]+" on that day in "+tz+": the clocks skip it. Choose another time")
	case err != nil:
		f.Fail("at", "The reminder time must be a date and time, such as 2027-03-01 18:30")
	}
	return t, err == nil
}

// reminderErrors records the field errors of a refused reminder on the reminder form.
func reminderErrors(f *form, errs []fieldError) {
	timeField := "when"
	if f.Get("when") == "custom" {
		timeField = "at"
	}
	for _, fe := range errs {
		switch fe.Field {
		case "minutes_before":
			f.Fail("when", "That time has already passed: choose a later reminder")
		case "send_at":
			if timeField == "at" {
				f.Fail("at", "The reminder time must be in the future")
			} else {
				f.Fail("when", "That time has already passed: choose a later reminder")
			}
		case "note":
			f.Fail("note", "Note "+fe.Message)
		default:
			if f.General == "" {
				f.General = fe.Field + " " + fe.Message
			}
		}
	}
	if !f.Failed() {
		f.General = "The reminder was not accepted. Check the values and try again."
	}
}

// errNoSuchTime is a wall-clock time that a time zone skips: the clocks go forward over it.
var errNoSuchTime = errors.New("no such time in this time zone")

// parseLocal parses the value of a datetime-local input as a wall-clock time in loc. A time
// that happens twice, where the clocks go back, is the earlier of the two; a time that
// does not happen, where they go forward, is errNoSuchTime.
func parseLocal(s string, loc *time.Location) (time.Time, error) {
	wallClock, err := time.Parse(localTimeLayout, s)
	if err != nil {
		if wallClock, err = time.Parse(localSecondsLayout, s); err != nil {
			return time.Time{}, err
		}
	}
	// Try the offsets in force a day before, then and a day after: the instants whose wall
	// clock in loc reads s are among them.
	var found time.Time
	for _, probe := range []time.Duration{-24 * time.Hour, 0, 24 * time.Hour} {
		_, off := wallClock.Add(probe).In(loc).Zone()
		t := wallClock.Add(-time.Duration(off) * time.Second).In(loc)
		if t.Format(localSecondsLayout) != wallClock.Format(localSecondsLayout) {
			continue
		}
		if found.IsZero() || t.Before(found) {
			found = t
		}
	}
	if found.IsZero() {
		return time.Time{}, errNoSuchTime
	}
	return found, nil
}
