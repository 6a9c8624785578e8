package events

import (
	"errors"
	"slices"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
)

// Errors of the events service. They know nothing of HTTP: the handlers map them to problem
// responses in one place (see errorRules). Invalid input is a *validation.Error naming the
// fields, and a malformed patch a *MalformedError.
var (
	// ErrNotFound is returned for an event that does not exist (or no longer does).
	ErrNotFound = errors.New("event not found")
	// ErrForbidden is returned when someone other than the organizer changes an event.
	ErrForbidden = errors.New("only the organizer of this event may change it")
	// ErrConflict is returned by Store.Create for an ID that is taken.
	ErrConflict = errors.New("an event with this id exists")
	// ErrAlreadyHandled is returned by Store.DeleteByOrganizer for a message it handled before.
	ErrAlreadyHandled = errors.New("message already handled")
)

// MalformedError is a request that cannot be read at all, such as a patch with an unknown
// member; Detail says why.
type MalformedError struct {
	Detail string
}

// Error implements error.
func (e *MalformedError) Error() string { return e.Detail }

// Location is where an event takes place.
type Location = messages.Location

// Event is an event as the API shows it and the store keeps it. Optional fields are nil when
// unset; Tags is never nil. Times are UTC, to the microsecond.
type Event struct {
	ID          string     `json:"id"`
	OrganizerID string     `json:"organizer_id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	StartsAt    time.Time  `json:"starts_at"`
	EndsAt      *time.Time `json:"ends_at"`
	Timezone    string     `json:"timezone"`
	Location    *Location  `json:"location"`
	OnlineURL   *string    `json:"online_url"`
	Category    *string    `json:"category"`
	Tags        []string   `json:"tags"`
	Capacity    *int64     `json:"capacity"`
	// DefaultReminders are the reminders, in minutes before the start, that a person who
	// becomes going gets (in the notifications service, as their own); never nil, in the
	// order the organizer gave them. A change applies to people who go later: those going
	// keep the reminders they got. Not calendar-visible: a change does not raise Sequence.
	DefaultReminders []int     `json:"default_reminders"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	// Sequence is the calendar SEQUENCE: it rises whenever a field a calendar shows changes.
	Sequence int `json:"sequence"`
	// GoingCount and InterestedCount count the attendances of the event that are going and
	// interested; the store keeps them on the event's row, in step with the attendances.
	GoingCount      int64 `json:"going_count"`
	InterestedCount int64 `json:"interested_count"`
	// Organizer is the organizer's ID and display name, which the service fills in from its
	// copy of the accounts ("" while it has none); the store does not keep it.
	Organizer Organizer `json:"organizer"`
	// SpotsLeft is how many places are free: the capacity less those going (never below
	// zero), or nil when the event has no capacity. The service fills it in with Organizer
	// (a field rather than a MarshalJSON method: encoding a list of events twice cost more
	// than the counts themselves); the store does not keep it.
	SpotsLeft *int64 `json:"spots_left"`
}

// Organizer is who organizes an event, as the API shows it.
type Organizer struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
}

// spotsLeft returns how many places are free: the capacity less those going (never below
// zero), or nil when the event has no capacity.
func (e Event) spotsLeft() *int64 {
	if e.Capacity == nil {
		return nil
	}
	n := max(*e.Capacity-e.GoingCount, 0)
	return &n
}

// Snapshot returns the event as messages carry it.
func (e Event) Snapshot() messages.Event {
	s := messages.Event{
		ID: e.ID, OrganizerID: e.OrganizerID, Title: e.Title, Description: e.Description,
		StartsAt: e.StartsAt, EndsAt: clonePtr(e.EndsAt), Timezone: e.Timezone,
		OnlineURL: clonePtr(e.OnlineURL), Category: clonePtr(e.Category), Tags: slices.Clone(e.Tags),
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, Sequence: e.Sequence,
	}
	if e.Location != nil {
		l := cloneLocation(*e.Location)
		s.Location = &l
	}
	if s.Tags == nil {
		s.Tags = []string{}
	}
	return s
}

// Tombstone is what the store keeps of a deleted event, so that its .ics export answers the
// cancellation for a while.
type Tombstone struct {
	// Event is the event as it was when it was deleted, as messages carry it.
	Event messages.Event
	// DeletedAt is when it was deleted, in UTC, to the microsecond.
	DeletedAt time.Time
}

// Page is one page of search results.
type Page struct {
	// Events are at most SearchQuery.Limit events, ordered by start then ID.
	Events []Event
	// More tells whether more events follow the last one.
	More bool
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneLocation(l Location) Location {
	return Location{Name: l.Name, Address: l.Address, Lat: clonePtr(l.Lat), Lon: clonePtr(l.Lon)}
}

// utcMicro returns t in UTC, truncated to the microsecond as the store keeps times.
func utcMicro(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
