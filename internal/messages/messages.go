// Package messages defines the messages that services exchange through the broker: their
// type names, the queues that consume them, and their payloads. It is the one place every
// producer and consumer agrees on; a change to a payload must stay readable by the previous
// version (add fields, never rename or retype them).
package messages

import (
	"time"

	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/ics"
)

// Message types.
const (
	// TypeEmailSend asks the email-sender to send one email (payload EmailSend).
	TypeEmailSend = "email.send"
	// TypeEmailResult reports what became of an email.send (payload EmailResult).
	TypeEmailResult = "email.result"
	// TypeAccountDeleted announces a deleted account (payload AccountDeleted).
	TypeAccountDeleted = "account.deleted"
	// TypeAccountChanged announces a new or changed account (payload AccountChanged).
	TypeAccountChanged = "account.changed"
	// TypeEventChanged announces a created or changed event (payload EventChanged).
	TypeEventChanged = "event.changed"
	// TypeEventDeleted announces a deleted event (payload EventDeleted).
	TypeEventDeleted = "event.deleted"
	// TypeAttendanceChanged announces that an account's attendance of an event changed
	// (payload AttendanceChanged).
	TypeAttendanceChanged = "attendance.changed"
)

// Queues, one per consuming service and purpose.
const (
	QueueMailer              = "mailer.email-send"
	QueueEventsAccounts      = "events.account-deleted"
	QueueNotificationsDomain = "notifications.domain"
	QueueNotificationsResult = "notifications.email-result"
)

// EmailKind names the template of an email.
type EmailKind string

// The kinds of email EventPost sends.
const (
	EmailWelcome        EmailKind = "welcome"
	EmailReminder       EmailKind = "reminder"
	EmailEventChanged   EmailKind = "event_changed"
	EmailEventCancelled EmailKind = "event_cancelled"
	// EmailPasswordReset carries a link that sets a new password (Token), asked for by
	// someone who knows the address.
	EmailPasswordReset EmailKind = "password_reset"
	// EmailAccountLocked tells the owner that failed logins from many addresses locked the
	// account, and carries a link that unlocks it and sets a new password (Token).
	EmailAccountLocked EmailKind = "account_locked"
	// EmailConfirm carries a link that confirms an address (Token): sent again on request,
	// and to the new address of an account whose email changes.
	EmailConfirm EmailKind = "confirm"
	// EmailChanged tells the old address of an account that its email is changing to
	// NewEmail.
	EmailChanged EmailKind = "email_changed"
	// EmailConsentRequest asks an address whether it accepts reminders set by the account
	// named Requester; Token is the secret of the accept/decline page.
	EmailConsentRequest EmailKind = "consent_request"
	// EmailWaitlistPromoted tells a person that a place freed up and they are now going to
	// Event, which they were waitlisted for.
	EmailWaitlistPromoted EmailKind = "waitlist_promoted"
)

// Transactional reports whether k is an email about the account itself, with no event.
func (k EmailKind) Transactional() bool {
	switch k {
	case EmailWelcome, EmailPasswordReset, EmailAccountLocked, EmailConfirm, EmailChanged:
		return true
	}
	return false
}

// Location is where an event takes place. It is shared by the broker's Event and the REST
// Event (events.Location is this type), so the two always write a location alike.
type Location struct {
	Name    string   `json:"name"`
	Address string   `json:"address"`
	Lat     *float64 `json:"lat"`
	Lon     *float64 `json:"lon"`
}

// Event is the snapshot of an event that travels in messages: what a reminder needs to name
// the event, show its time and place, and attach it as an .ics file. It is the broker
// contract of the event (event.changed, event.deleted, email.send); the REST contract is
// events.Event, which events.Event.Snapshot copies into this type. It holds every field of
// the REST Event but Capacity, which no consumer reads; notifications also keeps it as its
// snapshot of an event read over REST. docs/wire-types.md lists every hop and its type, and
// TestEventCarriesTheRESTEvent fails when the REST Event gains a field this type neither
// holds nor lists as left out.
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
	CreatedAt   time.Time  `json:"created_at"`
	// UpdatedAt orders versions of one event: a consumer ignores a snapshot older than the one
	// it holds.
	UpdatedAt time.Time `json:"updated_at"`
	// Sequence is the calendar SEQUENCE of the event: it rises whenever a field a calendar
	// shows changes (start, end, title, place, status).
	Sequence int `json:"sequence"`
}

// Calendar returns what a calendar entry of e shows, for ics.Render.
func (e Event) Calendar() ics.Event {
	return ics.Event{
		ID: e.ID, Title: e.Title, Description: e.Description, StartsAt: e.StartsAt, EndsAt: e.EndsAt,
		Location: e.Location.Calendar(), OnlineURL: e.OnlineURL, Category: e.Category, UpdatedAt: e.UpdatedAt,
		Sequence: e.Sequence,
	}
}

// Calendar returns l for ics.Render and ics.Place; nil when l is nil.
func (l *Location) Calendar() *ics.Location {
	if l == nil {
		return nil
	}
	return &ics.Location{Name: l.Name, Address: l.Address, Lat: l.Lat, Lon: l.Lon}
}

// EmailSend asks the email-sender to send one email. The email-sender sends at most one
// email per IdempotencyKey, however often the request is delivered.
type EmailSend struct {
	IdempotencyKey string    `json:"idempotency_key"`
	Kind           EmailKind `json:"kind"`
	To             string    `json:"to"`
	// Name is the recipient's display name, when known.
	Name string `json:"name,omitempty"`
	// ReminderID is set on emails sent for a reminder; their result is reported back.
	ReminderID string `json:"reminder_id,omitempty"`
	// Event is set on every kind but welcome.
	Event *Event `json:"event,omitempty"`
	// Note is the person's note on a reminder.
	Note string `json:"note,omitempty"`
	// PreviousStartsAt is the start before the change, on event_changed.
	PreviousStartsAt *time.Time `json:"previous_starts_at,omitempty"`
	// Token is the secret of the link of password_reset and account_locked emails; the
	// email-sender builds the link on the public URL.
	Token string `json:"token,omitempty"`
	// ExpiresAt is when Token stops working.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// UnsubscribeToken is set on reminder, event_changed and event_cancelled emails: the
	// email-sender builds the List-Unsubscribe link (RFC 8058) on the public URL from it.
	UnsubscribeToken string `json:"unsubscribe_token,omitempty"`
	// Requester is the display name of the account that set the reminder, on
	// consent_request emails and on reminders to an address other than the account's own.
	Requester string `json:"requester,omitempty"`
	// NewEmail is the address the account changes to, on email_changed.
	NewEmail string `json:"new_email,omitempty"`
}

// Email result statuses.
const (
	ResultSent   = "sent"
	ResultFailed = "failed"
)

// EmailResult reports what became of an EmailSend.
type EmailResult struct {
	IdempotencyKey string    `json:"idempotency_key"`
	Kind           EmailKind `json:"kind"`
	ReminderID     string    `json:"reminder_id,omitempty"`
	Status         string    `json:"status"`
	Error          string    `json:"error,omitempty"`
	At             time.Time `json:"at"`
}

// AccountDeleted announces that an account is gone: its events and reminders go with it.
type AccountDeleted struct {
	AccountID string    `json:"account_id"`
	DeletedAt time.Time `json:"deleted_at"`
}

// AccountChanged announces a new account or a change to its address, its confirmation or
// its name, with the account's current state.
type AccountChanged struct {
	AccountID     string `json:"account_id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	DisplayName   string `json:"display_name"`
	// Version rises with every change of one account: a consumer ignores an announcement
	// older than the one it holds.
	Version int64 `json:"version"`
}

// EventChanged announces a new or changed event with its current state.
type EventChanged struct {
	Event Event `json:"event"`
	// PreviousStartsAt is the start before this change; nil for a new event.
	PreviousStartsAt *time.Time `json:"previous_starts_at,omitempty"`
}

// Attendance statuses as AttendanceChanged carries them.
const (
	AttendanceGoing      = "going"
	AttendanceInterested = "interested"
	AttendanceWaitlisted = "waitlisted"
	// AttendanceNone: the account no longer attends the event (it left, or its account or
	// the event was deleted).
	AttendanceNone = "none"
)

// AttendanceChanged announces an account's new attendance of an event, with the event as it
// is now. The events service sends one for every change of one account's attendance,
// promotions from the waitlist included, through its outbox.
type AttendanceChanged struct {
	AccountID string `json:"account_id"`
	EventID   string `json:"event_id"`
	// Status is one of the Attendance* constants.
	Status string `json:"status"`
	// Position is the place on the waitlist while Status is waitlisted; 0 otherwise.
	Position int `json:"position,omitempty"`
	// Promoted is set when the account went from the waitlist to going because a place
	// freed up (someone left, or the capacity rose).
	Promoted bool `json:"promoted,omitempty"`
	// Version rises with every attendance change of the event (any account): a consumer
	// ignores an announcement about an (account, event) pair whose version is not higher
	// than the one it holds, so a message delivered twice acts once.
	Version int64 `json:"version"`
	// DefaultReminders are the event's default reminders (minutes before its start) at the
	// time of the change: a person who becomes going gets them.
	DefaultReminders []int `json:"default_reminders"`
	// Event is the event as it is at the time of the change.
	Event Event `json:"event"`
}

// Reasons an event was deleted.
const (
	DeletedByOrganizer = "deleted"
	DeletedWithAccount = "account_deleted"
)

// EventDeleted announces a deleted event, with its last state.
type EventDeleted struct {
	Event  Event  `json:"event"`
	Reason string `json:"reason"`
}

// Binding is one queue and the message types routed to it.
type Binding = broker.Binding

// Bindings is the broker topology: every queue and the message types it receives. It is
// what the process hands the broker (rabbitmq.Config.Bindings). A process that connects to
// a broker declares all of it, so that a message published before its
// consumer ever started waits in its queue instead of being dropped. Each consuming
// service's Consumers must match it (a test checks).
var Bindings = []Binding{
	{Queue: QueueMailer, Types: []string{TypeEmailSend}},
	{Queue: QueueEventsAccounts, Types: []string{TypeAccountDeleted, TypeAccountChanged}},
	{Queue: QueueNotificationsDomain, Types: []string{
		TypeAccountDeleted, TypeAccountChanged, TypeEventChanged, TypeEventDeleted, TypeAttendanceChanged,
	}},
	{Queue: QueueNotificationsResult, Types: []string{TypeEmailResult}},
}
