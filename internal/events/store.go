package events

import (
	"context"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/idempotency"
)

// Store keeps events. Every method that changes events writes the messages it is given to
// the outbox in the same transaction as the change, so a change is announced if and only if
// it is committed. Times come back in UTC, truncated to the microsecond.
type Store interface {
	// IdempotencyKeys returns the store of the Idempotency-Keys of POST /api/v1/events.
	IdempotencyKeys() idempotency.Store

	// Create stores e, a complete new event, with msgs. It returns ErrConflict when e.ID is
	// taken.
	Create(ctx context.Context, e Event, msgs ...broker.Message) error

	// Get returns the event with the given ID, or ErrNotFound.
	Get(ctx context.Context, id string) (Event, error)

	// Update changes the event with the given ID in one transaction: it reads the event, lets
	// change compute the new state and the messages that announce it, and stores both. When
	// change returns an error nothing is stored and Update returns that error (wrapped). It
	// returns the stored event, or ErrNotFound. The new state keeps the event's ID. When the
	// new state has free places (a capacity raised or removed) and people are waitlisted, the
	// first of them become going, in the same transaction, announced by announce (nil: not
	// announced) as SetAttendance does.
	Update(ctx context.Context, id string, change func(Event) (Event, []broker.Message, error), announce AttendanceAnnouncer) (Event, error)

	// Delete deletes the event with the given ID in one transaction: it reads the event, lets
	// remove decide (an error keeps the event and is returned wrapped) and compute the
	// messages that announce the deletion, then deletes it, keeps its Tombstone deleted at at,
	// and stores the messages. It returns the deleted event, or ErrNotFound.
	Delete(ctx context.Context, id string, at time.Time, remove func(Event) ([]broker.Message, error)) (Event, error)

	// DeleteByOrganizer handles the message with ID messageID, which announced that the
	// account organizerID is deleted, once: in one transaction it records the message as
	// handled, forgets the copy of the account, deletes every event of organizerID, keeps a
	// Tombstone of each deleted at at, and stores the message announce builds for each
	// deleted event; then it removes the account's attendances of other events, each
	// announced by attend (nil: not announced) as RemoveAttendance does, waitlisted people
	// taking the places it leaves. It returns the deleted events, or ErrAlreadyHandled (and
	// does nothing) when it handled messageID before.
	DeleteByOrganizer(ctx context.Context, organizerID, messageID string, at time.Time, announce func(Event) (broker.Message, error), attend AttendanceAnnouncer) ([]Event, error)

	// Tombstone returns the tombstone of the deleted event with the given ID, or ErrNotFound
	// when no event of that ID was deleted or its tombstone was pruned.
	Tombstone(ctx context.Context, id string) (Tombstone, error)

	// PruneTombstones removes the tombstones of the events deleted at or before upTo and
	// returns how many it removed.
	PruneTombstones(ctx context.Context, upTo time.Time) (int64, error)

	// Search returns the page of events that q selects, ordered by start time then ID.
	// A nil q.From means no lower bound: the service sets it.
	Search(ctx context.Context, q SearchQuery) (Page, error)

	// SetAttendance records, in one transaction that holds the event locked, that accountID
	// asks to be status (Going or Interested) for the event with the given ID: Going becomes
	// Waitlisted when the event's capacity is reached, asking for the status one has (or Going
	// while Waitlisted) changes nothing, and leaving Going gives the place to the first
	// waitlisted person. A change raises the event's attendance version and stores the
	// messages that announce makes of it (nil: none), with the new version, in the same
	// transaction: the account's new attendance first, then the promotions. It returns the
	// attendance as stored, or ErrNotFound.
	SetAttendance(ctx context.Context, eventID, accountID string, status AttendanceStatus, announce AttendanceAnnouncer) (Attendance, error)

	// RemoveAttendance removes accountID's attendance of the event with the given ID, if any,
	// in one transaction that holds the event locked; when it was Going, the first waitlisted
	// person becomes Going, and RemoveAttendance returns their account ID ("" for none). A
	// removal is announced as SetAttendance announces a change. It returns ErrNotFound when
	// there is no such event.
	RemoveAttendance(ctx context.Context, eventID, accountID string, announce AttendanceAnnouncer) (string, error)

	// AccountAttendance returns up to limit attendances of accountID with a Seq above after,
	// by Seq.
	AccountAttendance(ctx context.Context, accountID string, after int64, limit int) ([]Attendance, error)

	// EventAttendance returns up to limit attendances of the event with a Seq above after, by
	// Seq.
	EventAttendance(ctx context.Context, eventID string, after int64, limit int) ([]Attendance, error)

	// PutAccount keeps a, the state of an account announced by account.changed, unless the
	// store holds the same or a higher version of it.
	PutAccount(ctx context.Context, a messages.AccountChanged) error

	// DisplayNames returns the display names of the accounts of the given IDs that the store
	// knows, by ID.
	DisplayNames(ctx context.Context, ids []string) (map[string]string, error)

	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}
