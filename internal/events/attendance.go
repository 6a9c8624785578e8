package events

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/paging"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/validation"
)

// AttendanceStatus is how a person attends an event.
type AttendanceStatus string

// The attendance statuses. A person asks to be going or interested; going becomes waitlisted
// when the event's capacity is reached.
const (
	Going      AttendanceStatus = "going"
	Interested AttendanceStatus = "interested"
	Waitlisted AttendanceStatus = "waitlisted"
)

// Attendance is how one account attends one event.
type Attendance struct {
	EventID   string           `json:"event_id"`
	AccountID string           `json:"-"`
	Status    AttendanceStatus `json:"status"`
	// Position is the 1-based place on the waitlist, in the order of arrival; nil unless
	// Status is Waitlisted.
	Position *int `json:"position"`
	// Seq orders the attendances (the order of arrival); the cursor of a page is built from it.
	Seq int64 `json:"-"`
}

// Attendee is an attendance as the event's organizer sees it.
type Attendee struct {
	// DisplayName is the attendee's display name, from the service's copy of the accounts;
	// "" while it has none.
	DisplayName string           `json:"display_name"`
	Status      AttendanceStatus `json:"status"`
	Position    *int             `json:"position"`
}

// AttendanceChange is one account's new attendance of an event, made by a store
// transaction: what an attendance.changed message announces.
type AttendanceChange struct {
	AccountID string
	// Status is the new status; "" when the attendance ended.
	Status AttendanceStatus
	// Position is the place on the waitlist while Status is Waitlisted; 0 otherwise.
	Position int
	// Promoted is set when the account went from the waitlist to going because a place
	// freed up.
	Promoted bool
	// Contact is, on a promotion, the store's copy of the account (nil while it has none),
	// to email the promoted person.
	Contact *Contact
}

// Contact is the service's copy of an account's address and name, from account.changed.
type Contact struct {
	Email         string
	EmailVerified bool
	DisplayName   string
}

// AttendanceAnnouncer returns the messages that announce changes, made to the attendance
// of e in one store transaction whose attendance version of e is version. The store calls it
// within that transaction and adds the messages to its outbox; an error rolls it back.
type AttendanceAnnouncer func(e Event, version int64, changes []AttendanceChange) ([]broker.Message, error)

// AttendanceInput is the body of PUT /api/v1/events/{id}/attendance.
type AttendanceInput struct {
	Status *string `json:"status"`
}

// AttendancePage is a page of the caller's attendances.
type AttendancePage struct {
	Items []Attendance `json:"items"`
	// NextCursor continues after Items; nil on the last page.
	NextCursor *string `json:"next_cursor"`
}

// AttendeePage is a page of an event's attendees.
type AttendeePage struct {
	Items []Attendee `json:"items"`
	// NextCursor continues after Items; nil on the last page.
	NextCursor *string `json:"next_cursor"`
}

// PageQuery is the limit and cursor of a list that pages by arrival order.
type PageQuery struct {
	// After is the Seq to continue after; 0 starts at the beginning.
	After int64
	Limit int
}

// ParsePageQuery reads limit (1 to MaxLimit, default paging.DefaultLimit, as for every list
// of API version 1.1) and cursor from v. Invalid values yield a 422 *problem.Error naming
// them.
func ParsePageQuery(v url.Values) (PageQuery, error) {
	var errs validation.List
	q := PageQuery{Limit: paging.Limit(v, paging.DefaultLimit, &errs)}
	q.After, _ = paging.Cursor(v, &errs, decodeSeqCursor)
	if err := errs.Err(); err != nil {
		return PageQuery{}, problem.Map(err)
	}
	return q, nil
}

// seqCursorPrefix tells the cursors of attendance lists from others.
const seqCursorPrefix = "a:"

// attendanceCursor is the cursor of the page after a.
func attendanceCursor(a Attendance) string { return encodeSeqCursor(a.Seq) }

func encodeSeqCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(seqCursorPrefix + strconv.FormatInt(seq, 10)))
}

func decodeSeqCursor(s string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return 0, err
	}
	digits, ok := strings.CutPrefix(string(raw), seqCursorPrefix)
	if !ok {
		return 0, fmt.Errorf("decode cursor: malformed")
	}
	seq, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || seq < 1 {
		return 0, fmt.Errorf("decode cursor: malformed")
	}
	return seq, nil
}

// SetAttendance records that accountID is going to or interested in the event with the given
// ID, as in asks. Going becomes waitlisted when the event is full; asking for what one has
// (or going while waitlisted) changes nothing. Leaving going for interested frees a place,
// which the first waitlisted person takes.
func (s *Service) SetAttendance(ctx context.Context, accountID, eventID string, in AttendanceInput) (Attendance, error) {
	var status AttendanceStatus
	switch {
	case in.Status == nil:
		return Attendance{}, validation.New("status", "is required")
	case *in.Status == string(Going) || *in.Status == string(Interested):
		status = AttendanceStatus(*in.Status)
	default:
		return Attendance{}, validation.New("status", `must be "going" or "interested"`)
	}
	a, err := s.store.SetAttendance(ctx, eventID, accountID, status, s.announceAttendance(ctx))
	if err != nil {
		return Attendance{}, fmt.Errorf("set attendance: %w", err)
	}
	s.outbox.Notify()
	return a, nil
}

// RemoveAttendance removes accountID's attendance of the event with the given ID, if any.
// When accountID was going, the first waitlisted person takes the place. The event must exist.
func (s *Service) RemoveAttendance(ctx context.Context, accountID, eventID string) error {
	if _, err := s.store.RemoveAttendance(ctx, eventID, accountID, s.announceAttendance(ctx)); err != nil {
		return fmt.Errorf("remove attendance: %w", err)
	}
	s.outbox.Notify()
	return nil
}

// announceAttendance returns the AttendanceAnnouncer of the service: one attendance.changed
// per changed account, carrying the event, its default reminders and the new version; and
// to each person promoted from the waitlist, a waitlist_promoted email, when the service's
// copy of their account says the address is confirmed (otherwise no email: mail about an
// event goes only to confirmed addresses). Waitlisted people who only moved up the list are
// not announced: their status did not change.
func (s *Service) announceAttendance(ctx context.Context) AttendanceAnnouncer {
	return func(e Event, version int64, changes []AttendanceChange) ([]broker.Message, error) {
		snap := e.Snapshot()
		msgs := make([]broker.Message, 0, len(changes))
		for _, c := range changes {
			status := string(c.Status)
			if c.Status == "" {
				status = messages.AttendanceNone
			}
			m, err := broker.NewMessage(ctx, messages.TypeAttendanceChanged, messages.AttendanceChanged{
				AccountID: c.AccountID, EventID: e.ID, Status: status, Position: c.Position, Promoted: c.Promoted,
				Version: version, DefaultReminders: slices.Clone(e.DefaultReminders), Event: snap,
			})
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
			if !c.Promoted {
				continue
			}
			if c.Contact == nil || !c.Contact.EmailVerified || c.Contact.Email == "" {
				s.log.InfoContext(ctx, "promoted from the waitlist; not emailed, the address is not confirmed",
					"event_id", e.ID, "account_id", c.AccountID)
				continue
			}
			mail, err := broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{
				IdempotencyKey: fmt.Sprintf("%s:%s:%s:%d", messages.EmailWaitlistPromoted, e.ID, c.AccountID, version),
				Kind:           messages.EmailWaitlistPromoted, To: c.Contact.Email, Name: c.Contact.DisplayName,
				Event: &snap,
			})
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, mail)
		}
		return msgs, nil
	}
}

// MyAttendance returns a page of accountID's attendances, in the order they were made.
func (s *Service) MyAttendance(ctx context.Context, accountID string, q PageQuery) (AttendancePage, error) {
	items, err := s.store.AccountAttendance(ctx, accountID, q.After, q.Limit+1)
	if err != nil {
		return AttendancePage{}, fmt.Errorf("list attendance: %w", err)
	}
	var page AttendancePage
	page.Items, page.NextCursor = paging.Trim(items, q.Limit, attendanceCursor)
	return page, nil
}

// Attendees returns a page of the attendees of the event with the given ID, in the order
// they arrived, to its organizer only.
func (s *Service) Attendees(ctx context.Context, callerID, eventID string, q PageQuery) (AttendeePage, error) {
	e, err := s.store.Get(ctx, eventID)
	if err != nil {
		return AttendeePage{}, fmt.Errorf("list attendees: %w", err)
	}
	if e.OrganizerID != callerID {
		return AttendeePage{}, ErrForbidden
	}
	items, err := s.store.EventAttendance(ctx, eventID, q.After, q.Limit+1)
	if err != nil {
		return AttendeePage{}, fmt.Errorf("list attendees: %w", err)
	}
	var page AttendeePage
	items, page.NextCursor = paging.Trim(items, q.Limit, attendanceCursor)
	page.Items = make([]Attendee, 0, len(items))
	ids := make([]string, len(items))
	for i, a := range items {
		ids[i] = a.AccountID
	}
	names, err := s.store.DisplayNames(ctx, ids)
	if err != nil {
		return AttendeePage{}, fmt.Errorf("list attendees: %w", err)
	}
	for _, a := range items {
		page.Items = append(page.Items, Attendee{DisplayName: names[a.AccountID], Status: a.Status, Position: a.Position})
	}
	return page, nil
}
