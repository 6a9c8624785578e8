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
	// NextURL is the link to the next page, "" on the last.
	NextURL string
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

// handleEvents shows upcoming events, searched and filtered by the query.
func (u *UI) handleEvents(w http.ResponseWriter, r *http.Request) {
	f := newForm(r.URL.Query())
	query, filtered := u.searchQuery(f)
	data := eventsData{Filtered: filtered, OrganizerID: strings.TrimSpace(f.Get("organizer_id"))}
	status := http.StatusOK
	if !f.Failed() {
		var page eventPage
		err := u.call(r.Context(), http.MethodGet, "/api/v1/events?"+query.Encode(), "", nil, &page)
		switch {
		case err == nil:
			data.Events, data.ResultsShown = page.Items, true
			for _, e := range page.Items {
				if data.OrganizerID != "" && e.Organizer.ID == data.OrganizerID && e.Organizer.DisplayName != "" {
					data.OrganizerName = e.Organizer.DisplayName
					break
				}
			}
			if page.NextCursor != nil {
				next := cloneValues(r.URL.Query())
				next.Set("cursor", *page.NextCursor)
				data.NextURL = "/?" + next.Encode()
			}
		case apiStatus(err) == http.StatusUnprocessableEntity:
			var ae *apiError
			errors.As(err, &ae)
			f.applyAPIErrors(ae.Fields, searchFields())
		default:
			u.fail(w, r, err)
			return
		}
	}
	if f.Failed() {
		status = http.StatusUnprocessableEntity
	}
	data.FiltersOpen = f.Failed() || f.Get("from") != "" || f.Get("to") != "" || f.Get("category") != "" ||
		f.Get("tag") != "" || f.Get("lat") != "" || f.Get("lon") != ""
	title := "Upcoming events"
	switch {
	case data.OrganizerName != "":
		title = "Events by " + data.OrganizerName
	case filtered:
		title = "Search results"
	}
	u.render(w, r, status, "events", view{Title: title, Form: f, Data: data, SEO: u.eventsSEO(f, data)})
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
	Reminders []notification
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
		OrganizerURL: "/?" + url.Values{"organizer_id": {e.OrganizerID}}.Encode(),
	}
	for _, m := range e.DefaultReminders {
		data.DefaultReminders = append(data.DefaultReminders, strings.ToLower(reminderLabel(&m)))
	}
	for _, o := range reminderChoices() {
		data.Options = append(data.Options, reminderOption{
			Value: strconv.Itoa(o.Minutes), Label: o.Label,
			Past: !e.StartsAt.Add(-time.Duration(o.Minutes) * time.Minute).After(now),
		})
	}
	me := u.me(r)
	if me != nil {
		data.Mine = me.ID == e.OrganizerID
		data.Attendance = u.findAttendance(r, e.ID)
		var list struct {
			Items []notification `json:"items"`
		}
		err := u.authCall(r, http.MethodGet, "/api/v1/notifications?event_id="+url.QueryEscape(e.ID), nil, &list)
		if err != nil && !errors.Is(err, errLoggedOut) {
			u.log.WarnContext(r.Context(), "list the reminders of an event", "err", err)
		}
		for _, n := range list.Items {
			switch n.Status {
			case "scheduled", "awaiting_consent", "sending", "failed":
				data.Reminders = append(data.Reminders, n)
			}
		}
	}
	if f == nil {
		f = newForm(url.Values{"tz": {e.Timezone}})
		for _, o := range data.Options {
			if !o.Past {
				f.Values.Set("when", o.Value)
				if o.Value == "1440" {
					break
				}
			}
		}
		if f.Get("when") == "" {
			f.Values.Set("when", "custom")
		}
	}
	u.render(w, r, status, "event", view{Title: e.Title, Form: f, Data: data, SEO: u.eventSEO(r, e)})
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
		at := strings.TrimSpace(f.Get("at"))
		if at == "" {
			f.Fail("at", "Choose the date and time of the reminder")
			break
		}
		t, err := parseLocal(at, u.location(f.Get("tz")))
		if err != nil {
			f.Fail("at", "The reminder time must be a date and time, such as 2027-03-01 18:30")
			break
		}
		body["send_at"] = t.Format(time.RFC3339)
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
			u.redirect(w, r, "/events/"+url.PathEscape(id)+"#reminders")
			return
		case errors.Is(err, errLoggedOut):
			u.redirect(w, r, "/login?next="+url.QueryEscape("/events/"+id))
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

// parseLocal parses the value of a datetime-local input as a time in loc.
func parseLocal(s string, loc *time.Location) (time.Time, error) {
	t, err := time.ParseInLocation(localTimeLayout, s, loc)
	if err != nil {
		t, err = time.ParseInLocation(localSecondsLayout, s, loc)
	}
	return t, err
}
