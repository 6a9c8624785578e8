package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// remindersData is the data of the "My reminders" page.
type remindersData struct {
	Items []notification
	// Status is the status filter, "" for all.
	Status string
	pageLinks
}

// handleReminders lists the account's reminders, a page at a time.
func (u *UI) handleReminders(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	switch status {
	case "", "scheduled", "awaiting_consent", "sent", "failed", "cancelled", "sending":
	default:
		status = ""
	}
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	pg := pagerOf(r.URL.Query())
	if pg.Cursor != "" {
		q.Set("cursor", pg.Cursor)
	}
	path := "/api/v1/notifications"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var list struct {
		Items      []notification `json:"items"`
		NextCursor *string        `json:"next_cursor"`
	}
	if err := u.authCall(r, http.MethodGet, path, nil, &list); err != nil {
		u.fail(w, r, err)
		return
	}
	base := url.Values{}
	if status != "" {
		base.Set("status", status)
	}
	data := remindersData{Items: list.Items, Status: status, pageLinks: pg.links("/reminders", base, list.NextCursor)}
	f := newForm(url.Values{"status": {status}})
	u.render(w, r, http.StatusOK, "reminders", view{Title: "My reminders", Form: f, Data: data})
}

// handleCancelReminder cancels a reminder, then shows the page named by the form's next
// field ("My reminders" by default).
func (u *UI) handleCancelReminder(w http.ResponseWriter, r *http.Request) {
	if err := u.authCall(r, http.MethodDelete, "/api/v1/notifications/"+url.PathEscape(r.PathValue("id")), nil, nil); err != nil {
		u.fail(w, r, err)
		return
	}
	next := "/reminders"
	if n := r.PostForm.Get("next"); n != "" {
		next = safeNext(n)
	}
	u.flash(w, "reminder-cancelled")
	u.redirect(w, r, next)
}

// myEventsData is the data of the "My events" page.
type myEventsData struct {
	// Attending are the events the account goes to, is interested in or waits for.
	Attending attendingData
	// Events are the events the account organizes.
	Events []event
	// Past tells whether events that have started are listed too.
	Past bool
	// pageLinks link the pages of the events organized.
	pageLinks
}

// handleMyEvents lists the events the account attends (a page of them, after the
// attendance cursor in the query's attending) and those it organizes.
func (u *UI) handleMyEvents(w http.ResponseWriter, r *http.Request) {
	var me account
	if err := u.authCall(r, http.MethodGet, "/api/v1/accounts/me", nil, &me); err != nil {
		u.fail(w, r, err)
		return
	}
	attending, err := u.attending(r, r.URL.Query().Get("attending"))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	past := r.URL.Query().Get("past") == "1"
	q := url.Values{"organizer_id": {me.ID}, "limit": {"50"}}
	if past {
		q.Set("from", "1970-01-01T00:00:00Z")
	}
	pg := pagerOf(r.URL.Query())
	if pg.Cursor != "" {
		q.Set("cursor", pg.Cursor)
	}
	var page eventPage
	if err := u.call(r.Context(), http.MethodGet, "/api/v1/events?"+q.Encode(), "", nil, &page); err != nil {
		u.fail(w, r, err)
		return
	}
	base := url.Values{}
	if past {
		base.Set("past", "1")
	}
	data := myEventsData{Attending: attending, Events: page.Items, Past: past, pageLinks: pg.links("/my/events", base, page.NextCursor)}
	u.render(w, r, http.StatusOK, "myevents", view{Title: "My events", User: &me, Data: data})
}

// eventFormData is the data of the event form.
type eventFormData struct {
	// EventID is the event being edited, "" for a new one.
	EventID string
	Heading string
	Action  string
	Button  string
}

// ReminderFields are the names of the default reminders' inputs.
func (eventFormData) ReminderFields() []string {
	names := make([]string, maxDefaultReminders)
	for i := range names {
		names[i] = reminderFieldName(i)
	}
	return names
}

// ReminderUnits are the units the default reminders' inputs offer.
func (eventFormData) ReminderUnits() []string {
	names := make([]string, 0, len(reminderUnits))
	for i := len(reminderUnits) - 1; i >= 0; i-- {
		names = append(names, reminderUnits[i].Name)
	}
	return names
}

// eventFields maps the API's fields of an event to the event form's fields.
func eventFields() formFields {
	place := formField{"location_name", "Place"}
	fields := formFields{
		"title": {"title", "Title"}, "description": {"description", "Description"},
		"starts_at": {"starts_at", "Start"}, "ends_at": {"ends_at", "End"}, "timezone": {"timezone", "Time zone"},
		"location": place, "location.name": place, "location.address": {"location_address", "Address"},
		"location.lat": {"lat", "Latitude"}, "location.lon": {"lon", "Longitude"},
		"online_url": {"online_url", "Online link"}, "category": {"category", "Category"},
		"tags": {"tags", "Tags"}, "capacity": {"capacity", "Capacity"},
	}
	for i := range maxDefaultReminders {
		name := reminderFieldName(i)
		label := "Reminder " + strconv.Itoa(i+1)
		for _, key := range []string{fmt.Sprintf("default_reminders[%d]", i), fmt.Sprintf("default_reminders.%d", i)} {
			fields[key] = formField{name, label}
		}
	}
	fields["default_reminders"] = formField{reminderFieldName(0), "Reminders"}
	return fields
}

// newEventForm returns the data of the form that creates an event.
func newEventForm() eventFormData {
	return eventFormData{Heading: "Create an event", Action: "/my/events/new", Button: "Publish event"}
}

// editEventForm returns the data of the form that changes the event id.
func editEventForm(id string) eventFormData {
	return eventFormData{EventID: id, Heading: "Edit your event", Action: "/my/events/" + url.PathEscape(id) + "/edit", Button: "Save changes"}
}

// handleNewEventForm shows the form that creates an event.
func (u *UI) handleNewEventForm(w http.ResponseWriter, r *http.Request) {
	u.renderLoggedIn(w, r, "eventform", view{Title: "Create an event", Data: newEventForm()})
}

// handleCreateEvent creates an event.
func (u *UI) handleCreateEvent(w http.ResponseWriter, r *http.Request) {
	f := eventFormOf(r)
	body := u.eventInput(f, nil)
	if !f.Failed() {
		var e event
		err := u.authCall(r, http.MethodPost, "/api/v1/events", body, &e)
		if u.eventSaved(w, r, f, err, "event-created", e.ID) {
			return
		}
	}
	u.render(w, r, http.StatusUnprocessableEntity, "eventform", view{Title: "Create an event", Form: f, Data: newEventForm()})
}

// eventSaved answers the submission of the event form f once the API answered it with err:
// on success it flashes flash and shows the event id, on an unexpected error the error. It
// returns false, having recorded the API's field errors on f, when the API refused the
// event's fields: the caller then shows the form again.
func (u *UI) eventSaved(w http.ResponseWriter, r *http.Request, f *form, err error, flash, id string) bool {
	var ae *apiError
	switch {
	case err == nil:
		u.flash(w, flash)
		u.redirect(w, r, "/events/"+url.PathEscape(id))
	case errors.As(err, &ae) && ae.Status == http.StatusUnprocessableEntity:
		f.applyAPIErrors(ae.Fields, eventFields())
		return false
	default:
		u.fail(w, r, err)
	}
	return true
}

// ownEvent loads the event id and checks that the logged-in account organizes it. It
// answers the request itself when it returns false.
func (u *UI) ownEvent(w http.ResponseWriter, r *http.Request, id string) (event, bool) {
	me := u.me(r)
	if me == nil {
		u.toLogin(w, r)
		return event{}, false
	}
	var e event
	if err := u.call(r.Context(), http.MethodGet, "/api/v1/events/"+url.PathEscape(id), "", nil, &e); err != nil {
		u.fail(w, r, err)
		return event{}, false
	}
	if e.OrganizerID != me.ID {
		u.errorPage(w, r, http.StatusForbidden, "Not your event", "Only the organizer of an event can change it.")
		return event{}, false
	}
	return e, true
}

// handleEditEventForm shows the form that changes an event.
func (u *UI) handleEditEventForm(w http.ResponseWriter, r *http.Request) {
	e, ok := u.ownEvent(w, r, r.PathValue("id"))
	if !ok {
		return
	}
	f := newForm(u.eventValues(e))
	u.render(w, r, http.StatusOK, "eventform", view{Title: "Edit " + e.Title, Form: f, Data: editEventForm(e.ID)})
}

// handleUpdateEvent changes an event.
func (u *UI) handleUpdateEvent(w http.ResponseWriter, r *http.Request) {
	e, ok := u.ownEvent(w, r, r.PathValue("id"))
	if !ok {
		return
	}
	f := eventFormOf(r)
	body := u.eventInput(f, &e)
	if !f.Failed() {
		err := u.authCall(r, http.MethodPatch, "/api/v1/events/"+url.PathEscape(e.ID), body, nil)
		if u.eventSaved(w, r, f, err, "event-updated", e.ID) {
			return
		}
	}
	u.render(w, r, http.StatusUnprocessableEntity, "eventform", view{Title: "Edit " + e.Title, Form: f, Data: editEventForm(e.ID)})
}

// deleteEventConfirm is the confirmation page of an event's deletion.
func deleteEventConfirm(e event) confirmData {
	return confirmData{
		Heading: "Delete “" + e.Title + "”",
		Text: "The event is removed for everyone. People who asked for a reminder of it will be emailed " +
			"that it is cancelled. This cannot be undone.",
		Action:    "/my/events/" + url.PathEscape(e.ID) + "/delete",
		Button:    "Delete event",
		CancelURL: "/events/" + url.PathEscape(e.ID),
	}
}

// handleDeleteEventForm asks for confirmation before deleting an event.
func (u *UI) handleDeleteEventForm(w http.ResponseWriter, r *http.Request) {
	e, ok := u.ownEvent(w, r, r.PathValue("id"))
	if !ok {
		return
	}
	u.render(w, r, http.StatusOK, "confirm", view{Title: "Delete " + e.Title, Data: deleteEventConfirm(e)})
}

// handleDeleteEvent deletes an event.
func (u *UI) handleDeleteEvent(w http.ResponseWriter, r *http.Request) {
	if err := u.authCall(r, http.MethodDelete, "/api/v1/events/"+url.PathEscape(r.PathValue("id")), nil, nil); err != nil {
		u.fail(w, r, err)
		return
	}
	u.flash(w, "event-deleted")
	u.redirect(w, r, "/my/events")
}

// eventFormNames are the fields of the event form.
func eventFormNames() []string {
	names := []string{
		"title", "description", "starts_at", "ends_at", "timezone", "location_name", "location_address",
		"lat", "lon", "online_url", "category", "capacity", "tags",
	}
	for i := range maxDefaultReminders {
		names = append(names, reminderFieldName(i), reminderFieldName(i)+"_unit")
	}
	return names
}

// eventFormOf returns the event form posted in r.
func eventFormOf(r *http.Request) *form {
	v := url.Values{}
	for _, name := range eventFormNames() {
		v.Set(name, r.PostForm.Get(name))
	}
	return newForm(v)
}

// eventValues returns the event form's values for e.
func (u *UI) eventValues(e event) url.Values {
	loc := u.location(e.Timezone)
	v := url.Values{
		"title":       {e.Title},
		"description": {e.Description},
		"starts_at":   {e.StartsAt.In(loc).Format(localTimeLayout)},
		"timezone":    {e.Timezone},
		"online_url":  {deref(e.OnlineURL)},
		"category":    {deref(e.Category)},
		"tags":        {strings.Join(e.Tags, ", ")},
	}
	if e.EndsAt != nil {
		v.Set("ends_at", e.EndsAt.In(loc).Format(localTimeLayout))
	}
	if l := e.Location; l != nil {
		v.Set("location_name", l.Name)
		v.Set("location_address", l.Address)
		if l.Lat != nil {
			v.Set("lat", formatFloat(*l.Lat))
		}
		if l.Lon != nil {
			v.Set("lon", formatFloat(*l.Lon))
		}
	}
	if e.Capacity != nil {
		v.Set("capacity", strconv.FormatInt(*e.Capacity, 10))
	}
	for i, m := range e.DefaultReminders {
		if i >= maxDefaultReminders {
			break
		}
		n, unit := reminderAmount(m)
		v.Set(reminderFieldName(i), strconv.Itoa(n))
		v.Set(reminderFieldName(i)+"_unit", unit)
	}
	return v
}

// eventInput turns the event form into the body of the API's create (prev nil) or change
// (prev the event as it is) request, recording the fields it cannot read as errors.
// Values the API checks itself (required fields, lengths, the start being in the future)
// are left to it, so that its messages are the ones shown.
func (u *UI) eventInput(f *form, prev *event) map[string]any {
	tz := strings.TrimSpace(f.Get("timezone"))
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC // the API reports the time zone
	}
	body := map[string]any{
		"title":       strings.TrimSpace(f.Get("title")),
		"description": strings.TrimSpace(strings.ReplaceAll(f.Get("description"), "\r\n", "\n")),
		"timezone":    tz,
		"tags":        splitTags(f.Get("tags")),
	}
	optional := func(name, field string) {
		if v := strings.TrimSpace(f.Get(field)); v != "" {
			body[name] = v
		} else {
			body[name] = nil
		}
	}
	optional("online_url", "online_url")
	optional("category", "category")
	eventTimes(f, body, tz, loc, prev)
	body["location"] = eventLocation(f)
	body["capacity"] = eventCapacity(f)
	// default_reminders is sent only when the organizer gives some, or clears those the
	// event has: an events service that does not know the field refuses it.
	if reminders := eventDefaultReminders(f); len(reminders) > 0 || (prev != nil && len(prev.DefaultReminders) > 0) {
		body["default_reminders"] = reminders
	}
	return body
}

// eventTimes sets starts_at and ends_at in the body of eventInput, the form's times read in
// loc (the time zone tz). A start that prev, the event as it is, already has is left out.
func eventTimes(f *form, body map[string]any, tz string, loc *time.Location, prev *event) {
	localTime := func(field, label string) (time.Time, bool) {
		v := strings.TrimSpace(f.Get(field))
		if v == "" {
			return time.Time{}, false
		}
		t, err := parseLocal(v, loc)
		if errors.Is(err, errNoSuchTime) {
			f.Fail(field, label+" is a time the clocks skip on that day in "+tz+": choose another")
			return time.Time{}, false
		}
		if err != nil {
			f.Fail(field, label+" must be a date and time, such as 2027-03-01 18:30")
			return time.Time{}, false
		}
		return t, true
	}
	if t, ok := localTime("starts_at", "Start"); ok {
		unchanged := prev != nil && prev.Timezone == tz &&
			prev.StartsAt.In(loc).Format(localTimeLayout) == t.Format(localTimeLayout)
		if !unchanged { // an unchanged start keeps its seconds, and may have passed
			body["starts_at"] = t.Format(time.RFC3339)
		}
	} else if f.Err("starts_at") == "" {
		body["starts_at"] = nil // the API says it is required
	}
	if t, ok := localTime("ends_at", "End"); ok {
		body["ends_at"] = t.Format(time.RFC3339)
	} else {
		body["ends_at"] = nil
	}
}

// eventLocation returns the location in the body of eventInput: nil when none of its fields
// is filled in.
func eventLocation(f *form) any {
	name, address := strings.TrimSpace(f.Get("location_name")), strings.TrimSpace(f.Get("location_address"))
	lat, lon := strings.TrimSpace(f.Get("lat")), strings.TrimSpace(f.Get("lon"))
	if name == "" && address == "" && lat == "" && lon == "" {
		return nil
	}
	l := map[string]any{"name": name, "address": address, "lat": nil, "lon": nil}
	for _, c := range []struct{ field, label, value string }{{"lat", "Latitude", lat}, {"lon", "Longitude", lon}} {
		if c.value == "" {
			continue
		}
		n, err := strconv.ParseFloat(c.value, 64)
		if err != nil {
			f.Fail(c.field, c.label+" must be a number, such as 52.52")
			continue
		}
		l[c.field] = n
	}
	return l
}

// eventCapacity returns the capacity in the body of eventInput: nil when it is empty or
// cannot be read.
func eventCapacity(f *form) any {
	v := strings.TrimSpace(f.Get("capacity"))
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		f.Fail("capacity", "Capacity must be a whole number, such as 50")
		return nil
	}
	return n
}

// Limits of an event's default reminders, as the API has them.
const (
	maxDefaultReminders = 3
	// maxReminderMinutes is the earliest a reminder may be sent, in minutes before the
	// start: 4 weeks.
	maxReminderMinutes = 40320
)

// reminderUnits are the units of the default reminders' inputs, in minutes, largest first.
var reminderUnits = []struct {
	Name    string
	Minutes int
}{{"weeks", 10080}, {"days", 1440}, {"hours", 60}, {"minutes", 1}}

// reminderFieldName names the input of the default reminder i (from 0): reminder_1 to
// reminder_3; its unit is the select named that and "_unit".
func reminderFieldName(i int) string { return "reminder_" + strconv.Itoa(i+1) }

// reminderAmount expresses minutes in the largest unit that divides it: 1440 → 1 days.
func reminderAmount(minutes int) (int, string) {
	for _, u := range reminderUnits {
		if minutes != 0 && minutes%u.Minutes == 0 {
			return minutes / u.Minutes, u.Name
		}
	}
	return minutes, "minutes"
}

// eventDefaultReminders returns the default reminders of the event form, in minutes before
// the start, recording the inputs it cannot accept as errors. Empty inputs are skipped.
func eventDefaultReminders(f *form) []int {
	reminders := []int{}
	for i := range maxDefaultReminders {
		name := reminderFieldName(i)
		label := "Reminder " + strconv.Itoa(i+1)
		v := strings.TrimSpace(f.Get(name))
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			f.Fail(name, label+" must be a whole number, such as 2")
			continue
		}
		unit := f.Get(name + "_unit")
		per := 0
		for _, u := range reminderUnits {
			if u.Name == unit {
				per = u.Minutes
			}
		}
		switch {
		case per == 0:
			f.Fail(name, label+": choose minutes, hours, days or weeks")
		case n > maxReminderMinutes/per:
			f.Fail(name, label+" must be at most 4 weeks before the start")
		case slices.Contains(reminders, n*per):
			f.Fail(name, label+" is the same as another reminder")
		default:
			reminders = append(reminders, n*per)
		}
	}
	return reminders
}
