package notifications

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/ics"
	"github.com/eventpost/eventpost/internal/platform/idempotency"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// Handler returns the service's HTTP API, at the public paths, with the operational
// endpoints and middleware of httpx.Wrap.
func (s *Service) Handler() http.Handler { return s.handler }

// routes builds the handler that Handler returns, once: it registers the request metrics.
func (s *Service) routes(v *svcauth.Verifier) http.Handler {
	fail := httpx.Problems(s.log, convertError, errorRules...)
	once := idempotency.New(s.store.IdempotencyKeys(), fail, idempotency.Config{Log: s.log, Now: s.now, Registry: s.reg})
	return httpx.Routes(fail, map[string]httpx.Endpoint{
		"GET /api/v1/notifications":         httpx.WithCaller(s.handleList),
		"POST /api/v1/notifications":        once.Endpoint(httpx.WithCallerBody(s.handleCreate)),
		"GET /api/v1/notifications/{id}":    httpx.WithCaller(s.handleGet),
		"DELETE /api/v1/notifications/{id}": httpx.WithCaller(s.handleDelete),
		// The consent page and the unsubscribe link need no login: the token in the path is
		// the credential (the gateway routes them without authentication).
		"GET /api/v1/consents/{token}":             s.handleConsent,
		"POST /api/v1/consents/{token}":            httpx.WithBody(s.handleDecide),
		"POST /api/v1/unsubscribe/{token}":         s.handleUnsubscribe,
		"GET /api/v1/accounts/me/calendar":         httpx.WithCaller(s.handleCalendarURL),
		"POST /api/v1/accounts/me/calendar/rotate": httpx.WithCaller(s.handleRotateCalendar),
		// The feed's URL is its credential: calendar apps subscribe to it without a login.
		"GET /api/v1/calendars/{token}": s.handleCalendarFeed,
	}, httpx.Options{
		Log: s.log, Registry: s.reg, Verifier: v,
		Checks: []httpx.Check{httpx.DatabaseCheck(s.store.Ping)},
	})
}

// errorRules are the statuses the service's errors are reported with. Errors of the HTTP
// layer (httpx, and the events service's unavailability that HTTPEventSource reports) are
// problems already.
var errorRules = []problem.Rule{
	{Err: ErrNotFound, Status: http.StatusNotFound},
	{Err: ErrEventNotFound, Status: http.StatusNotFound},
	{Err: ErrConsentNotFound, Status: http.StatusNotFound},
	{Err: ErrFeedNotFound, Status: http.StatusNotFound},
}

// convertError turns the service's typed errors into problems: a duplicate reminder is 409,
// a quota 429 (a rate, with Retry-After) or 422.
func convertError(err error) error {
	if d, ok := errors.AsType[*DuplicateError](err); ok {
		return problem.New(http.StatusConflict, "an identical reminder exists already (same event, email and send_at): "+
			"/api/v1/notifications/"+d.ID)
	}
	if l, ok := errors.AsType[*LimitError](err); ok {
		if l.RetryAfter > 0 {
			return problem.TooManyRequests(l.Detail, l.RetryAfter)
		}
		return problem.New(http.StatusUnprocessableEntity, l.Detail)
	}
	return err
}

// notificationJSON is the Notification of the public API.
type notificationJSON struct {
	ID            string     `json:"id"`
	EventID       string     `json:"event_id"`
	Email         string     `json:"email"`
	SendAt        time.Time  `json:"send_at"`
	MinutesBefore *int       `json:"minutes_before"`
	Note          string     `json:"note"`
	Status        Status     `json:"status"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at"`
	LastError     *string    `json:"last_error"`
	// Event is an addition to the contract, for display.
	Event eventSummaryJSON `json:"event"`
}

// eventSummaryJSON is what a notification shows of its event.
type eventSummaryJSON struct {
	Title    string    `json:"title"`
	StartsAt time.Time `json:"starts_at"`
	Timezone string    `json:"timezone"`
}

func toJSON(r Reminder) notificationJSON {
	n := notificationJSON{
		ID: r.ID, EventID: r.EventID, Email: r.Email, SendAt: r.SendAt.UTC(),
		MinutesBefore: r.MinutesBefore, Note: r.Note, Status: r.Status, CreatedAt: r.CreatedAt.UTC(),
		Event: eventSummaryJSON{Title: r.Event.Title, StartsAt: r.Event.StartsAt.UTC(), Timezone: r.Event.Timezone},
	}
	if r.SentAt != nil {
		t := r.SentAt.UTC()
		n.SentAt = &t
	}
	if r.LastError != "" {
		e := r.LastError
		n.LastError = &e
	}
	return n
}

// createRequest is the body of POST /api/v1/notifications: CreateInput's fields, in the same
// order, with their JSON names, so that it converts to CreateInput.
type createRequest struct {
	EventID       string  `json:"event_id"`
	MinutesBefore *int    `json:"minutes_before"`
	SendAt        *string `json:"send_at"`
	Email         *string `json:"email"`
	Note          string  `json:"note"`
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request, caller httpx.Caller, req createRequest) error {
	rem, err := s.Create(r.Context(), caller.AccountID, caller.Email, CreateInput(req))
	if d, ok := errors.AsType[*DuplicateError](err); ok {
		w.Header().Set("Location", "/api/v1/notifications/"+d.ID)
	}
	return httpx.Created(w, "/api/v1/notifications/"+rem.ID, toJSON(rem), err)
}

// consentJSON is what the consent page shows.
type consentJSON struct {
	Email     string `json:"email"`
	Requester struct {
		DisplayName string `json:"display_name"`
	} `json:"requester"`
	Status ConsentState `json:"status"`
}

func toConsentJSON(c Consent) consentJSON {
	j := consentJSON{Email: c.Email, Status: c.Status}
	j.Requester.DisplayName = c.Requester
	return j
}

// decisionRequest is the body of POST /api/v1/consents/{token}.
type decisionRequest struct {
	Decision string `json:"decision"`
}

func (s *Service) handleConsent(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Consent(r.Context(), r.PathValue("token"))
	return httpx.Reply(w, http.StatusOK, toConsentJSON(c), err)
}

func (s *Service) handleDecide(w http.ResponseWriter, r *http.Request, req decisionRequest) error {
	c, err := s.Decide(r.Context(), r.PathValue("token"), req.Decision)
	return httpx.Reply(w, http.StatusOK, toConsentJSON(c), err)
}

// handleUnsubscribe ignores the body: RFC 8058 clients post the form
// "List-Unsubscribe=One-Click".
func (s *Service) handleUnsubscribe(w http.ResponseWriter, r *http.Request) error {
	return httpx.NoContent(w, s.Unsubscribe(r.Context(), r.PathValue("token")))
}

// listJSON is the NotificationList of the public API: one page.
type listJSON struct {
	Items []notificationJSON `json:"items"`
	// NextCursor is the cursor of the next page; null on the last.
	NextCursor *string `json:"next_cursor"`
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request, caller httpx.Caller) error {
	f, err := ParseListQuery(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := s.List(r.Context(), caller.AccountID, f)
	if err != nil {
		return err
	}
	out := listJSON{Items: make([]notificationJSON, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, rem := range page.Items {
		out.Items = append(out.Items, toJSON(rem))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request, caller httpx.Caller) error {
	rem, err := s.Get(r.Context(), caller.AccountID, r.PathValue("id"))
	return httpx.Reply(w, http.StatusOK, toJSON(rem), err)
}

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request, caller httpx.Caller) error {
	return httpx.NoContent(w, s.Cancel(r.Context(), caller.AccountID, r.PathValue("id")))
}

// calendarJSON is the CalendarFeed of the public API.
type calendarJSON struct {
	URL string `json:"url"`
}

func (s *Service) handleCalendarURL(w http.ResponseWriter, r *http.Request, caller httpx.Caller) error {
	u, err := s.CalendarURL(r.Context(), caller.AccountID)
	return httpx.Reply(w, http.StatusOK, calendarJSON{URL: u}, err)
}

func (s *Service) handleRotateCalendar(w http.ResponseWriter, r *http.Request, caller httpx.Caller) error {
	u, err := s.RotateCalendar(r.Context(), caller.AccountID)
	return httpx.Reply(w, http.StatusOK, calendarJSON{URL: u}, err)
}

// feedCacheControl lets the subscriber's own cache keep the feed for 5 minutes, as often as
// calendar apps poll anyway, and forbids shared caches: the feed is one person's. After
// that the app revalidates with If-None-Match, which costs a 304.
const feedCacheControl = "private, max-age=300"

// handleCalendarFeed serves a calendar feed; a request whose If-None-Match names the feed's
// current ETag is answered 304 from one query, without rendering.
func (s *Service) handleCalendarFeed(w http.ResponseWriter, r *http.Request) error {
	var unchanged func(string) bool
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		unchanged = func(etag string) bool { return httpx.NoneMatchFails(inm, etag) }
	}
	f, err := s.CalendarFeed(r.Context(), r.PathValue("token"), unchanged)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("ETag", f.ETag)
	h.Set("Cache-Control", feedCacheControl)
	if f.Body == nil {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", ics.Publish.ContentType())
	h.Set("Content-Length", strconv.Itoa(len(f.Body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(f.Body)
	return nil
}
