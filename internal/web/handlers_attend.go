package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
)

// Bounds of the lookups of the viewer's attendances.
const (
	// attendancePageSize is the limit of each call to GET /api/v1/accounts/me/attendance.
	attendancePageSize = 100
	// maxAttendancePages is how many pages of attendances the event page looks through
	// for the viewer's own. Past them (300 events) the viewer's status is not known, and
	// the page offers every action.
	maxAttendancePages = 3
	// attendingPageSize is how many attended events "My events" shows per page: each is
	// one call to the API, all counted by the gateway's rate limit of the browser.
	attendingPageSize = 15
	// attendingFetches is how many of those calls run at once.
	attendingFetches = 5
)

// viewerAttendance is how the viewer attends the event shown.
type viewerAttendance struct {
	// Known tells whether the viewer's attendances were looked through; when false the
	// page offers every action.
	Known bool
	// Status is going, interested, waitlisted, or "" for none.
	Status string
	// Position is the place on the waitlist.
	Position int
}

// Going tells whether the viewer is going.
func (a viewerAttendance) Going() bool { return a.Status == "going" }

// Interested tells whether the viewer is interested.
func (a viewerAttendance) Interested() bool { return a.Status == "interested" }

// Waitlisted tells whether the viewer is on the waitlist.
func (a viewerAttendance) Waitlisted() bool { return a.Status == "waitlisted" }

// findAttendance looks through the viewer's attendances, at most maxAttendancePages pages,
// for that of the event eventID.
func (u *UI) findAttendance(r *http.Request, eventID string) viewerAttendance {
	q := url.Values{"limit": {strconv.Itoa(attendancePageSize)}}
	for range maxAttendancePages {
		var page attendancePage
		if err := u.authCall(r, http.MethodGet, "/api/v1/accounts/me/attendance?"+q.Encode(), nil, &page); err != nil {
			if !errors.Is(err, errLoggedOut) {
				u.log.WarnContext(r.Context(), "list the attendances of the viewer", "err", err)
			}
			return viewerAttendance{}
		}
		for _, a := range page.Items {
			if a.EventID == eventID {
				v := viewerAttendance{Known: true, Status: a.Status}
				if a.Position != nil {
					v.Position = *a.Position
				}
				return v
			}
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			return viewerAttendance{Known: true}
		}
		q.Set("cursor", *page.NextCursor)
	}
	return viewerAttendance{}
}

// handleAttend records that the viewer goes to or is interested in an event (the form's
// status), then shows the event again.
func (u *UI) handleAttend(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	status := r.PostForm.Get("status")
	if status != "going" && status != "interested" {
		u.errorPage(w, r, http.StatusBadRequest, "This request was not accepted", "Choose Going or Interested on the event's page.")
		return
	}
	var a attendance
	err := u.authCall(r, http.MethodPut, "/api/v1/events/"+url.PathEscape(id)+"/attendance", map[string]string{"status": status}, &a)
	if err != nil {
		u.attendFailed(w, r, id, err)
		return
	}
	switch a.Status {
	case "waitlisted":
		u.flash(w, "waitlisted")
	case "interested":
		u.flash(w, "interested")
	default:
		u.flash(w, "going")
	}
	u.redirect(w, r, "/events/"+url.PathEscape(id)+"#attend")
}

// handleLeave removes the viewer's attendance of an event, then shows the event again.
func (u *UI) handleLeave(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := u.authCall(r, http.MethodDelete, "/api/v1/events/"+url.PathEscape(id)+"/attendance", nil, nil); err != nil {
		u.attendFailed(w, r, id, err)
		return
	}
	u.flash(w, "left")
	u.redirect(w, r, "/events/"+url.PathEscape(id)+"#attend")
}

// attendFailed answers an attendance change of the event id that failed with err: a
// visitor logs in and comes back to the event.
func (u *UI) attendFailed(w http.ResponseWriter, r *http.Request, id string, err error) {
	if errors.Is(err, errLoggedOut) {
		u.redirect(w, r, "/login?next="+url.QueryEscape("/events/"+id))
		return
	}
	u.fail(w, r, err)
}

// attendedEvent is an event the viewer attends, as "My events" lists it.
type attendedEvent struct {
	Event event
	// Status is going, interested or waitlisted; Position the place on the waitlist.
	Status   string
	Position int
	// Past tells whether the event has started.
	Past bool
}

// attendingData is the part of "My events" about the events the account attends.
type attendingData struct {
	Events []attendedEvent
	// NextURL is the link to the next page of them, "" on the last.
	NextURL string
	// Missing counts the attendances whose event could not be loaded now.
	Missing int
}

// attending loads one page of the events the account attends, after the attendance
// cursor cursor ("" for the first page), soonest first within the page.
func (u *UI) attending(r *http.Request, cursor string) (attendingData, error) {
	q := url.Values{"limit": {strconv.Itoa(attendingPageSize)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var page attendancePage
	if err := u.authCall(r, http.MethodGet, "/api/v1/accounts/me/attendance?"+q.Encode(), nil, &page); err != nil {
		return attendingData{}, err
	}
	var data attendingData
	if page.NextCursor != nil && *page.NextCursor != "" {
		data.NextURL = "/my/events?" + url.Values{"attending": {*page.NextCursor}}.Encode()
	}
	events := u.loadEvents(r.Context(), page.Items)
	now := u.now()
	for i, a := range page.Items {
		e, ok := events[i]
		if !ok {
			data.Missing++
			continue
		}
		ae := attendedEvent{Event: e, Status: a.Status, Past: !e.StartsAt.After(now)}
		if a.Position != nil {
			ae.Position = *a.Position
		}
		data.Events = append(data.Events, ae)
	}
	sort.SliceStable(data.Events, func(i, j int) bool {
		return data.Events[i].Event.StartsAt.Before(data.Events[j].Event.StartsAt)
	})
	return data, nil
}

// loadEvents loads the events of items, attendingFetches at a time, by index in items. An
// event that cannot be loaded (deleted since, or the API failing) is left out: a deleted
// event's attendance goes with it.
func (u *UI) loadEvents(ctx context.Context, items []attendance) map[int]event {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = make(map[int]event, len(items))
		sem = make(chan struct{}, attendingFetches)
	)
	for i, a := range items {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var e event
			if err := u.call(ctx, http.MethodGet, "/api/v1/events/"+url.PathEscape(a.EventID), "", nil, &e); err != nil {
				if apiStatus(err) != http.StatusNotFound {
					u.log.WarnContext(ctx, "load an attended event", "event_id", a.EventID, "err", err)
				}
				return
			}
			mu.Lock()
			out[i] = e
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// calendarData is the part of the account page about the personal calendar feed.
type calendarData struct {
	// URL is the feed's secret address; "" when it could not be loaded.
	URL string
}

// calendar loads the account's calendar feed for the account page. A failure leaves the
// rest of the page working: the section says the feed is not available.
func (u *UI) calendar(r *http.Request) calendarData {
	var c calendarFeed
	if err := u.authCall(r, http.MethodGet, "/api/v1/accounts/me/calendar", nil, &c); err != nil {
		u.log.WarnContext(r.Context(), "load the calendar feed of the account", "err", err)
		return calendarData{}
	}
	return calendarData(c)
}

// handleRotateCalendar gives the account a new calendar feed address; the old one stops
// working.
func (u *UI) handleRotateCalendar(w http.ResponseWriter, r *http.Request) {
	var c calendarFeed
	if err := u.authCall(r, http.MethodPost, "/api/v1/accounts/me/calendar/rotate", nil, &c); err != nil {
		u.fail(w, r, err)
		return
	}
	u.flash(w, "calendar-rotated")
	u.redirect(w, r, "/account#calendar")
}
