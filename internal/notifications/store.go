package notifications

import (
	"context"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/idempotency"
	"github.com/eventpost/eventpost/internal/platform/paging"
)

// Status is the state of a reminder.
type Status string

// The states of a reminder. A reminder starts scheduled, or awaiting_consent when it is to
// someone else who has not accepted reminders from its account yet (accepted: scheduled;
// declined, or send_at came first: cancelled); the scheduler claims it (sending) and hands it
// to the email-sender, whose result makes it sent or failed (failed at once when its address
// is the account's own and not confirmed). A scheduled reminder can be cancelled by its owner,
// by an unsubscribe, or because its event was deleted.
const (
	StatusScheduled       Status = "scheduled"
	StatusAwaitingConsent Status = "awaiting_consent"
	StatusSending         Status = "sending"
	StatusSent            Status = "sent"
	StatusFailed          Status = "failed"
	StatusCancelled       Status = "cancelled"
)

// Valid reports whether s is one of the reminder states.
func (s Status) Valid() bool {
	switch s {
	case StatusScheduled, StatusAwaitingConsent, StatusSending, StatusSent, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// pending reports whether a reminder in state s may still be sent: scheduled or
// awaiting_consent.
func (s Status) pending() bool { return s == StatusScheduled || s == StatusAwaitingConsent }

// Account is the notifications service's copy of an account, as account.changed announced it.
type Account struct {
	ID            string
	Email         string
	EmailVerified bool
	DisplayName   string
	// Version orders announcements: an older one than the stored one is ignored.
	Version int64
}

// ConsentState is whether an address accepts reminders from an account.
type ConsentState string

// The consent states of a recipient.
const (
	ConsentPending  ConsentState = "pending"
	ConsentAccepted ConsentState = "accepted"
	ConsentDeclined ConsentState = "declined"
)

// Recipient is one address that one account reminds, and whether it consents.
type Recipient struct {
	AccountID string
	// Email is the address lowercased (addressKey).
	Email string
	State ConsentState
	// Token is the secret of the consent page and the unsubscribe link of this pair only.
	Token string
	// RequestedAt is when a consent request was mailed; nil when none was (the account's own
	// address, or a reminder from before consent existed).
	RequestedAt *time.Time
	// DecidedAt is when State last became accepted or declined.
	DecidedAt *time.Time
}

// Claim is what becomes of one due reminder that ClaimDue claims: with Mail set, the
// message is queued and the reminder becomes sending; without, it becomes Status (failed or
// cancelled) with LastError, and nothing is sent.
type Claim struct {
	Mail      *broker.Message
	Status    Status
	LastError string
}

// Reminder is one person's reminder for one event.
type Reminder struct {
	ID        string
	AccountID string
	EventID   string
	Email     string
	SendAt    time.Time
	// MinutesBefore is set on a reminder relative to the event's start (it moves with the
	// start) and nil on one at an absolute time.
	MinutesBefore *int
	Note          string
	Status        Status
	CreatedAt     time.Time
	// SentAt is when the email-sender reported the reminder sent.
	SentAt *time.Time
	// LastError is the reason the email-sender gave for a failed reminder; "" otherwise.
	LastError string
	// Event is the stored snapshot of the reminder's event. On CreateReminder it is the
	// snapshot to store.
	Event messages.Event
	// FromDefault is set on a reminder made from its event's default reminders when its owner
	// became going; leaving the event cancels those that are still pending.
	FromDefault bool
	// TraceParent is the W3C traceparent of the request that created the reminder, or "":
	// the scheduler's claim continues that trace, so that one reminder can be followed from
	// its creation to its email.
	TraceParent string
}

// ListFilter selects the reminders that ListReminders returns: a page of one account's
// reminders, in the order soonest SendAt first, then by ID.
type ListFilter struct {
	// AccountID is the owner; required.
	AccountID string
	// Status, when not empty, keeps the reminders in that state.
	Status Status
	// EventID, when not empty, keeps the reminders of that event.
	EventID string
	// After, when set, is the position to continue after: the SendAt (Time) and ID of the
	// last reminder of the previous page. Only reminders after it in the order are listed.
	After *paging.Key
	// Limit is the most reminders to return; at least 1.
	Limit int
}

// Store keeps reminders and a snapshot of each reminded event. Every reminder refers to a
// stored snapshot. Implementations return times in UTC truncated to microseconds, and
// report a missing reminder with ErrNotFound and a missing snapshot with ErrEventNotFound.
type Store interface {
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// IdempotencyKeys returns the store of the Idempotency-Keys of POST /api/v1/notifications.
	IdempotencyKeys() idempotency.Store
	// CreateReminder inserts r and upserts r.Event as the snapshot of r.EventID in one
	// transaction. A stored snapshot whose UpdatedAt is not older than r.Event's is kept.
	CreateReminder(ctx context.Context, r Reminder) error
	// Reminder returns the reminder with ID id.
	Reminder(ctx context.Context, id string) (Reminder, error)
	// ListReminders returns up to f.Limit of the reminders f selects, soonest SendAt first,
	// then by ID, starting after f.After: a keyset query over the index of the account's
	// reminders by (send_at, id), whose cost does not grow with the reminders before f.After
	// nor with those after the page.
	ListReminders(ctx context.Context, f ListFilter) ([]Reminder, error)
	// Snapshot returns the stored snapshot of the event with ID eventID.
	Snapshot(ctx context.Context, eventID string) (messages.Event, error)
	// NextSendAt returns the earliest SendAt of a scheduled or awaiting_consent reminder; ok
	// is false when there is none.
	NextSendAt(ctx context.Context) (next time.Time, ok bool, err error)
	// CountScheduled returns how many reminders are scheduled.
	CountScheduled(ctx context.Context) (int, error)
	// ClaimDue claims up to limit scheduled reminders whose SendAt is at or before now,
	// earliest first, in one transaction: decide says, within that transaction, what becomes
	// of each (see Claim): sending, with its message added to the outbox, or failed or
	// cancelled. It returns the claimed reminders in their new state. Concurrent callers never
	// claim the same reminder (PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED). When decide fails
	// nothing is claimed. decide must not lock reminders, recipients or accounts (Tx reads
	// with lock false).
	ClaimDue(ctx context.Context, now time.Time, limit int, decide func(tx Tx, r Reminder) (Claim, error)) ([]Reminder, error)
	// CancelUnconsented cancels the awaiting_consent reminders whose SendAt is at or before
	// now and returns how many.
	CancelUnconsented(ctx context.Context, now time.Time) (int, error)
	// Update runs fn in one write transaction, committed when fn returns nil and rolled back
	// otherwise. fn must not keep tx.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// Transition is Tx.Transition in a transaction of its own: it moves the reminder from
	// state from to state to, and reports false, changing nothing, when it is not in from.
	// Guarded by the current state, it is idempotent.
	Transition(ctx context.Context, id string, from, to Status, sentAt *time.Time, lastError string) (bool, error)

	// CalendarToken returns the token of accountID's calendar feed, storing token, made at
	// now, as it when the account has no feed yet.
	CalendarToken(ctx context.Context, accountID, token string, now time.Time) (string, error)
	// RotateCalendarToken makes token, made at now, the token of accountID's calendar feed in
	// place of any other.
	RotateCalendarToken(ctx context.Context, accountID, token string, now time.Time) error
	// CalendarOwner returns the owner of the calendar feed whose token is token, or
	// ErrFeedNotFound: one lookup of the token's unique index.
	CalendarOwner(ctx context.Context, token string) (FeedOwner, error)
	// CalendarState returns, in one query, what accountID's calendar feed shows in brief (see
	// FeedState), counting the events deleted after deletedSince.
	CalendarState(ctx context.Context, accountID string, deletedSince time.Time) (FeedState, error)
	// CalendarEvents returns the events of accountID's calendar feed (see FeedState), soonest
	// first, and its pending reminders, by event, SendAt and ID.
	CalendarEvents(ctx context.Context, accountID string, deletedSince time.Time) ([]FeedEvent, []FeedReminder, error)
}

// FeedOwner is the account a calendar feed belongs to.
type FeedOwner struct {
	AccountID string
	// DisplayName is the account's name as account.changed told it; "" when unknown.
	DisplayName string
}

// FeedState is what an account's calendar feed shows, in brief, and all its ETag is made of.
// The feed's events are those the account is going to (attendances.status going) or holds a
// pending (scheduled or awaiting_consent) reminder for, and those deleted after a given time
// that it was going to or had a reminder for (cancelled by the deletion); Events holds their
// ID, UpdatedAt and DeletedAt only. Reminders are the account's pending reminders, with
// their ID, EventID, SendAt and Status only. Both are ordered by ID.
type FeedState struct {
	Events    []FeedEvent
	Reminders []FeedReminder
}

// FeedEvent is an event of a calendar feed.
type FeedEvent struct {
	Event messages.Event
	// DeletedAt is when event.deleted told of the event; nil while it exists.
	DeletedAt *time.Time
}

// FeedReminder is what a calendar feed shows of a pending reminder: a VALARM.
type FeedReminder struct {
	ID      string
	EventID string
	SendAt  time.Time
	// MinutesBefore is set on a reminder relative to the event's start.
	MinutesBefore *int
	Note          string
	Status        Status
}

// Tx is what the service does within one Store.Update transaction. The reminders and
// snapshots it reads are locked against concurrent writers until the transaction ends, so
// that a read-modify-write loses no concurrent update.
type Tx interface {
	// FirstDelivery records that the broker message with ID messageID is being applied and
	// reports whether this is the first time (see outbox.FirstDelivery).
	FirstDelivery(ctx context.Context, messageID string) (bool, error)
	// AddMessages adds msgs to the outbox.
	AddMessages(ctx context.Context, msgs ...broker.Message) error
	// Reminder returns the reminder with ID id.
	Reminder(ctx context.Context, id string) (Reminder, error)
	// EventReminders returns the reminders of the event eventID that are in state status,
	// ordered by ID.
	EventReminders(ctx context.Context, eventID string, status Status) ([]Reminder, error)
	// Snapshot returns the stored snapshot of the event with ID eventID.
	Snapshot(ctx context.Context, eventID string) (messages.Event, error)
	// PutSnapshot stores ev as the snapshot of its event, replacing any other.
	PutSnapshot(ctx context.Context, ev messages.Event) error
	// SetSendAt changes the SendAt of the reminder with ID id.
	SetSendAt(ctx context.Context, id string, sendAt time.Time) error
	// Transition moves the reminder with ID id from state from to state to, setting SentAt
	// and LastError as given, and reports whether it was in state from (false: nothing
	// changed, also when there is no such reminder).
	Transition(ctx context.Context, id string, from, to Status, sentAt *time.Time, lastError string) (bool, error)
	// DeleteReminder deletes the reminder with ID id; deleting a missing one is not an error.
	DeleteReminder(ctx context.Context, id string) error
	// DeleteAccountReminders deletes every reminder owned by accountID, and the snapshots
	// no reminder refers to any more, and returns how many reminders it deleted.
	DeleteAccountReminders(ctx context.Context, accountID string) (int, error)
	// DeleteAccountCalendar deletes accountID's calendar feed and the copies of its
	// attendances.
	DeleteAccountCalendar(ctx context.Context, accountID string) error
	// MarkSnapshotDeleted records at as when the event eventID was deleted, unless a time is
	// recorded already; a missing snapshot is not an error.
	MarkSnapshotDeleted(ctx context.Context, eventID string, at time.Time) error

	// KeepSnapshot stores ev as the snapshot of its event unless the stored one is not older,
	// and locks it (PostgreSQL) until the transaction ends.
	KeepSnapshot(ctx context.Context, ev messages.Event) error
	// InsertReminder inserts r; its snapshot must be stored.
	InsertReminder(ctx context.Context, r Reminder) error
	// SameTimeReminders returns the reminders of accountID for eventID at sendAt that are
	// not cancelled, by ID.
	SameTimeReminders(ctx context.Context, accountID, eventID string, sendAt time.Time) ([]Reminder, error)
	// AccountReminders returns the reminders of accountID in state status, by ID, locked.
	AccountReminders(ctx context.Context, accountID string, status Status) ([]Reminder, error)
	// CountPending returns how many reminders of accountID are scheduled or awaiting_consent.
	CountPending(ctx context.Context, accountID string) (int, error)

	// Account returns the copy of the account with ID id, locked when lock is true, or
	// ErrAccountUnknown.
	Account(ctx context.Context, id string, lock bool) (Account, error)
	// PutAccount stores a unless the stored copy's Version is not lower, and reports whether
	// it stored it.
	PutAccount(ctx context.Context, a Account) (bool, error)
	// DeleteAccount deletes the copy of the account with ID id and its recipients.
	DeleteAccount(ctx context.Context, id string) error

	// Recipient returns the recipient email (lowercased) of accountID, locked when lock is
	// true, or ErrConsentNotFound.
	Recipient(ctx context.Context, accountID, email string, lock bool) (Recipient, error)
	// RecipientByToken returns the recipient whose token is token, locked, or
	// ErrConsentNotFound.
	RecipientByToken(ctx context.Context, token string) (Recipient, error)
	// AddRecipient inserts r unless its account already has its address, and returns the
	// stored recipient either way.
	AddRecipient(ctx context.Context, r Recipient) (Recipient, error)
	// DecideRecipient sets the state of the recipient email of accountID, and its DecidedAt.
	DecideRecipient(ctx context.Context, accountID, email string, state ConsentState, at time.Time) error
	// Attendance returns the copy of accountID's attendance of eventID, locked: its status
	// (one of the messages.Attendance* constants) and version, or ok false when there is none.
	Attendance(ctx context.Context, accountID, eventID string) (status string, version int64, ok bool, err error)
	// PutAttendance stores status and version as the copy of accountID's attendance of
	// eventID, replacing any other.
	PutAttendance(ctx context.Context, accountID, eventID, status string, version int64) error
	// CancelDefaultReminders cancels the reminders of accountID for eventID that are
	// FromDefault and scheduled or awaiting_consent, and returns how many.
	CancelDefaultReminders(ctx context.Context, accountID, eventID string) (int, error)

	// ConsentRequests returns how many consent requests accountID made after since,
	// and when the earliest of them was made.
	ConsentRequests(ctx context.Context, accountID string, since time.Time) (n int, earliest time.Time, err error)
}
