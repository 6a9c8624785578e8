package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// apiBase is the base URL of the in-process API calls; the transport never dials it.
const apiBase = "http://eventpost.invalid"

// maxAPIResponse bounds how much of an API response the UI reads.
const maxAPIResponse = 4 << 20

// account is the API's Account.
type account struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
	// EmailVerified tells whether the address is confirmed: until it is, only the mails
	// about the account itself go to it.
	EmailVerified bool      `json:"email_verified"`
	CreatedAt     time.Time `json:"created_at"`
}

// consent is the API's answer about a consent link: who asks to email reminders to which
// address, and what the person answered so far.
type consent struct {
	Email     string `json:"email"`
	Requester struct {
		DisplayName string `json:"display_name"`
	} `json:"requester"`
	// Status is pending, accepted or declined.
	Status string `json:"status"`
}

// tokenPair is the API's TokenPair.
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// event is the public API's Event (the REST contract, events.Event) as the web UI reads it:
// the broker's snapshot of an event (messages.Event, which holds every field of the REST
// Event but the capacity, the attendance counts and the organizer) and those fields.
// TestEventReadsTheRESTEvent fails when the API's Event gains a field that is not read here
// (docs/wire-types.md).
type event struct {
	messages.Event
	Capacity *int64 `json:"capacity"`
	// GoingCount and InterestedCount count the people going to and interested in the event.
	GoingCount      int64 `json:"going_count"`
	InterestedCount int64 `json:"interested_count"`
	// SpotsLeft is how many places are free; nil when the event has no capacity.
	SpotsLeft *int64 `json:"spots_left"`
	// Organizer names who organizes the event; DisplayName is "" while the events service
	// has not learnt it.
	Organizer organizer `json:"organizer"`
	// DefaultReminders are the reminders, in minutes before the start, that a person who
	// goes gets. Absent from the JSON of an events service that does not know them yet.
	DefaultReminders []int `json:"default_reminders,omitempty"`
}

// organizer is the API's Event.organizer.
type organizer struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
}

// attendance is the API's Attendance: how the caller attends one event.
type attendance struct {
	EventID string `json:"event_id"`
	// Status is going, interested or waitlisted.
	Status string `json:"status"`
	// Position is the place on the waitlist, from 1; nil unless Status is waitlisted.
	Position *int `json:"position"`
}

// attendancePage is one page of GET /api/v1/accounts/me/attendance.
type attendancePage struct {
	Items      []attendance `json:"items"`
	NextCursor *string      `json:"next_cursor"`
}

// calendarFeed is the API's answer about the account's personal calendar feed.
type calendarFeed struct {
	URL string `json:"url"`
}

// eventPage is one page of GET /api/v1/events.
type eventPage struct {
	Items      []event `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// notification is the API's Notification. Event is an addition of the notifications
// service (the event's title, start and time zone); it may be absent.
type notification struct {
	ID            string     `json:"id"`
	EventID       string     `json:"event_id"`
	Email         string     `json:"email"`
	SendAt        time.Time  `json:"send_at"`
	MinutesBefore *int       `json:"minutes_before"`
	Note          string     `json:"note"`
	Status        string     `json:"status"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at"`
	LastError     *string    `json:"last_error"`
	Event         *struct {
		Title    string    `json:"title"`
		StartsAt time.Time `json:"starts_at"`
		Timezone string    `json:"timezone"`
	} `json:"event"`
}

// fieldError is one invalid field of a 422 answer.
type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// apiError is an answer of the API that is not a success.
type apiError struct {
	Status int
	Detail string
	Fields []fieldError
	// RetryAfter is the Retry-After header of a 429 or 503, as sent.
	RetryAfter string
}

// Error implements error.
func (e *apiError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("api: %d %s", e.Status, e.Detail)
	}
	return fmt.Sprintf("api: %d %s", e.Status, http.StatusText(e.Status))
}

// apiStatus returns the status of err when it is an API answer, else 0.
func apiStatus(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// call makes one call to the public API on behalf of the client of ctx (see withPeer),
// with token as its bearer token when not empty. It encodes body as JSON when not nil and
// decodes a 2xx answer into out when not nil. Any other answer is an *apiError.
func (u *UI) call(ctx context.Context, method, path, token string, body, out any) error {
	req, err := newAPIRequest(ctx, method, path, token, body)
	if err != nil {
		return err
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIResponse))
	if err != nil {
		return fmt.Errorf("%s %s: read: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeProblem(resp, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, path, err)
	}
	return nil
}

// newAPIRequest builds the request of call: body encoded as JSON when not nil, token as its
// bearer token when not empty, and the request ID and client of ctx passed on.
func newAPIRequest(ctx context.Context, method, path, token string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, apiBase+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if id := logging.RequestID(ctx); id != "" {
		req.Header.Set("X-Request-Id", id)
	}
	if p, ok := ctx.Value(peerKey{}).(peer); ok {
		req.Host = p.Host
		if p.ForwardedFor != "" {
			req.Header.Set("X-Forwarded-For", p.ForwardedFor)
		}
	}
	return req, nil
}

// decodeProblem turns an error answer into an *apiError.
func decodeProblem(resp *http.Response, data []byte) *apiError {
	e := &apiError{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || strings.HasSuffix(mt, "json") {
		var p struct {
			Detail string       `json:"detail"`
			Errors []fieldError `json:"errors"`
		}
		if json.Unmarshal(data, &p) == nil {
			e.Detail, e.Fields = p.Detail, p.Errors
		}
	}
	return e
}

// Full tells whether the event has a capacity and no place left: going puts one on the
// waitlist.
func (e event) Full() bool { return e.SpotsLeft != nil && *e.SpotsLeft <= 0 }

// PlacesLeft says how many places are left, such as "12 places left"; "" when the event
// has no capacity.
func (e event) PlacesLeft() string {
	switch {
	case e.SpotsLeft == nil:
		return ""
	case *e.SpotsLeft == 1:
		return "1 place left"
	default:
		return fmt.Sprintf("%d places left", *e.SpotsLeft)
	}
}
