// Package notifications is the notifications service: people's reminders for events, a
// snapshot of each reminded event, and the durable scheduler that hands every reminder to the
// email-sender, through the outbox, once and on time. It keeps reminders in step with their
// events by consuming the events' domain messages, and tracks each reminder's fate from the
// email-sender's results.
package notifications

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/apitime"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/envconf"
	"github.com/eventpost/eventpost/internal/platform/metrics"
	"github.com/eventpost/eventpost/internal/platform/outbox"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
	"github.com/eventpost/eventpost/internal/platform/validation"
	"github.com/eventpost/eventpost/internal/platform/wakeup"
)

// Errors the service reports. They know nothing of HTTP: the handlers map them to problem
// responses in one place (see errorRules). Invalid input is a *validation.Error naming the
// fields.
var (
	// ErrNotFound: no such reminder, or someone else's.
	ErrNotFound = errors.New("notification not found")
	// ErrEventNotFound: the reminded event does not exist.
	ErrEventNotFound = errors.New("event not found")
	// ErrAccountUnknown: no account.changed told of the account.
	ErrAccountUnknown = errors.New("account unknown")
	// ErrConsentNotFound: no such recipient, or no such consent token.
	ErrConsentNotFound = errors.New("consent not found")
	// ErrFeedNotFound: no calendar feed has that token (never had, or rotated away).
	ErrFeedNotFound = errors.New("calendar feed not found")
)

// Limits of a reminder.
const (
	// MaxMinutesBefore is the longest a relative reminder can precede its event: four weeks.
	MaxMinutesBefore = 40320
	// MaxNoteLength is the longest note, in characters.
	MaxNoteLength = 500
	// maxEmailLength is the longest email address (RFC 5321 path limit).
	maxEmailLength = 254
)

// Config tunes the notifications service.
// A field with an env tag is read from EVENTPOST_NOTIFICATIONS_<tag> by the host process (see envconf).
type Config struct {
	// PublicURL is the base URL users reach EventPost at (the app's EVENTPOST_PUBLIC_URL): a
	// calendar feed's URL is PublicURL + "/api/v1/calendars/" + token, an event's page
	// PublicURL + "/events/" + id, and the UIDs of a feed's events are on its host.
	PublicURL string
	// PollInterval is how often the scheduler looks for due reminders even when no timer or
	// wake-up tells it to: a safety net for reminders added by other replicas and for clock
	// jumps. Default 1s.
	PollInterval time.Duration `env:"POLL_INTERVAL,positive"`
	// ClaimBatch is how many due reminders one claim transaction takes. Default 100.
	ClaimBatch int `env:"CLAIM_BATCH,positive"`
	// MaxPendingReminders is how many reminders one account may hold scheduled or
	// awaiting_consent. Default 500.
	MaxPendingReminders int `env:"MAX_PENDING_REMINDERS,positive"`
	// MaxConsentRequests is how many consent requests (new addresses to remind) one account
	// may make per ConsentRequestWindow. Default 20.
	MaxConsentRequests int `env:"MAX_CONSENT_REQUESTS,positive"`
	// ConsentRequestWindow is the rolling window of MaxConsentRequests. Default 24h.
	ConsentRequestWindow time.Duration `env:"CONSENT_REQUEST_WINDOW,positive"`
	// MetricsRefresh is how often Run counts the scheduled reminders for the
	// notifications_reminders_scheduled gauge, which a scrape only reads. Default 15s.
	MetricsRefresh time.Duration `env:"METRICS_REFRESH,positive"`
}

// DefaultConfig returns the configuration the service runs with unless told otherwise.
func DefaultConfig() Config {
	return Config{
		PublicURL: "http://localhost:8080", PollInterval: time.Second, ClaimBatch: 100,
		MaxPendingReminders: 500, MaxConsentRequests: 20, ConsentRequestWindow: 24 * time.Hour,
		MetricsRefresh: metrics.DefaultRefreshInterval,
	}
}

// Deps are what the service needs from its surroundings.
type Deps struct {
	// Store keeps reminders and event snapshots.
	Store Store
	// Events looks up events when a reminder is created.
	Events EventSource
	// Common's Now: the scheduler sleeps on real timers, so Now must follow real time while
	// Run runs.
	svcdeps.Common
	// Verifier authenticates every call to the service (see httpx.Options.Verifier).
	// Required.
	Verifier *svcauth.Verifier
}

// Service is the notifications service.
type Service struct {
	cfg     Config
	store   Store
	events  EventSource
	outbox  outbox.Notifier
	log     *slog.Logger
	reg     *prometheus.Registry
	now     func() time.Time
	wake    wakeup.Signal
	metrics *serviceMetrics
	handler http.Handler
	// pollInterval (a time.Duration) and claimBatch are Config.PollInterval and
	// Config.ClaimBatch, which SetPollInterval and SetClaimBatch change while Run runs.
	pollInterval, claimBatch atomic.Int64
}

// New returns the service built from cfg and deps.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Store == nil || deps.Events == nil || deps.Verifier == nil {
		return nil, errors.New("notifications: Store, Events and Verifier are required")
	}
	cfg = envconf.WithDefaults(cfg, DefaultConfig())
	c := deps.WithDefaults()
	s := &Service{
		cfg: cfg, store: deps.Store, events: deps.Events, outbox: c.Outbox,
		log: c.Log, reg: c.Registry, now: c.Now, wake: wakeup.New(),
	}
	s.pollInterval.Store(int64(cfg.PollInterval))
	s.claimBatch.Store(int64(cfg.ClaimBatch))
	m, err := newServiceMetrics(s.reg, s.store, s.log)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	s.metrics = m
	s.handler = s.routes(deps.Verifier)
	return s, nil
}

// clock returns the current time as the store keeps times: UTC, microseconds.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// CreateInput is a request for a reminder. Exactly one of MinutesBefore and SendAt is set.
type CreateInput struct {
	EventID       string
	MinutesBefore *int
	// SendAt is the RFC 3339 time, as given.
	SendAt *string
	// Email defaults to the account's email.
	Email *string
	Note  string
}

// Create sets a reminder for accountID, whose own address is accountEmail: it checks in,
// looks the event up, works out when to send, and stores the reminder — scheduled when it is
// to the account's own address or to one that accepted reminders from the account, else
// awaiting_consent (see createTx).
func (s *Service) Create(ctx context.Context, accountID, accountEmail string, in CreateInput) (Reminder, error) {
	sendAt, email, err := in.validate(accountEmail)
	if err != nil {
		return Reminder{}, err
	}
	ev, err := s.remindedEvent(ctx, in.EventID)
	if err != nil {
		return Reminder{}, fmt.Errorf("create reminder: %w", err)
	}
	now := s.clock()
	sendAt, err = in.sendTime(sendAt, ev, now)
	if err != nil {
		return Reminder{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Reminder{}, fmt.Errorf("create reminder: %w", err)
	}
	r := Reminder{
		ID: id.String(), AccountID: accountID, EventID: ev.ID, Email: email,
		SendAt: sendAt.UTC().Truncate(time.Microsecond), MinutesBefore: in.MinutesBefore,
		Note: in.Note, Status: StatusScheduled, CreatedAt: now, Event: ev,
		TraceParent: broker.TraceParent(ctx),
	}
	var mailed bool
	err = s.store.Update(ctx, func(tx Tx) error {
		var err error
		r.Status, mailed, err = s.createTx(ctx, tx, r, accountEmail)
		return err
	})
	if err != nil {
		return Reminder{}, fmt.Errorf("create reminder: %w", err)
	}
	if mailed {
		s.afterMails(messages.EmailConsentRequest, 1)
	}
	s.wakeScheduler()
	return r, nil
}

// validate checks in, for an account whose own address is accountEmail, without looking at
// the event. It returns the absolute send time (zero for a relative reminder) and the address
// to remind, or a *validation.Error naming every invalid field.
func (in CreateInput) validate(accountEmail string) (sendAt time.Time, email string, err error) {
	var errs validation.List
	if in.EventID == "" {
		errs.Add("event_id", "is required")
	}
	sendAt = in.checkWhen(&errs)
	email = accountEmail
	if in.Email != nil {
		email = *in.Email
	}
	switch {
	case email == "" && in.Email == nil:
		errs.Add("email", "is required: the account has no email address")
	case !validEmail(email):
		errs.Add("email", "must be a valid email address")
	}
	if n := utf8.RuneCountInString(in.Note); n > MaxNoteLength {
		errs.Add("note", fmt.Sprintf("must be at most %d characters", MaxNoteLength))
	}
	return sendAt, email, errs.Err()
}

// checkWhen checks that exactly one of MinutesBefore and SendAt is set, and well, and
// returns SendAt parsed.
func (in CreateInput) checkWhen(errs *validation.List) time.Time {
	switch {
	case in.MinutesBefore != nil && in.SendAt != nil:
		errs.Add("minutes_before", "give either minutes_before or send_at, not both")
		errs.Add("send_at", "give either minutes_before or send_at, not both")
	case in.MinutesBefore == nil && in.SendAt == nil:
		errs.Add("minutes_before", "one of minutes_before and send_at is required")
		errs.Add("send_at", "one of minutes_before and send_at is required")
	case in.MinutesBefore != nil:
		if m := *in.MinutesBefore; m < 0 || m > MaxMinutesBefore {
			errs.Add("minutes_before", fmt.Sprintf("must be an integer from 0 to %d", MaxMinutesBefore))
		}
	default:
		t, err := apitime.Parse(*in.SendAt)
		if err != nil {
			errs.Add("send_at", err.Error())
		}
		return t
	}
	return time.Time{}
}

// remindedEvent returns the event id as the events service answers it, or as the snapshot
// kept from event.changed has it when that is newer.
func (s *Service) remindedEvent(ctx context.Context, id string) (messages.Event, error) {
	ev, err := s.events.Event(ctx, id)
	if err != nil {
		if !errors.Is(err, ErrEventNotFound) {
			s.log.WarnContext(ctx, "event lookup failed", "event_id", id, "err", err)
		}
		return messages.Event{}, err
	}
	ev = normalizeEvent(ev)
	stored, err := s.store.Snapshot(ctx, ev.ID)
	switch {
	case err == nil && stored.UpdatedAt.After(ev.UpdatedAt):
		return stored, nil
	case err != nil && !errors.Is(err, ErrEventNotFound):
		return messages.Event{}, err
	}
	return ev, nil
}

// sendTime returns when to send the reminder of ev that in asks for, sendAt for an absolute
// one; it must be after now.
func (in CreateInput) sendTime(sendAt time.Time, ev messages.Event, now time.Time) (time.Time, error) {
	if in.MinutesBefore != nil {
		sendAt = ev.StartsAt.Add(-time.Duration(*in.MinutesBefore) * time.Minute)
		if !sendAt.After(now) {
			return time.Time{}, validation.New("minutes_before",
				"puts send_at (starts_at minus minutes_before) in the past; it must be in the future")
		}
	} else if !sendAt.After(now) {
		return time.Time{}, validation.New("send_at", "must be in the future")
	}
	return sendAt, nil
}

// validEmail reports whether s is a bare email address: no display name, no angle brackets.
func validEmail(s string) bool {
	if s == "" || len(s) > maxEmailLength {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// Get returns the reminder id of accountID.
func (s *Service) Get(ctx context.Context, accountID, id string) (Reminder, error) {
	r, err := s.store.Reminder(ctx, id)
	if err != nil {
		return Reminder{}, fmt.Errorf("get reminder: %w", err)
	}
	if r.AccountID != accountID {
		return Reminder{}, fmt.Errorf("get reminder: %w", ErrNotFound)
	}
	return r, nil
}

// Cancel cancels the reminder id of accountID if it is still scheduled or awaiting_consent;
// in any other state it stays as it is.
func (s *Service) Cancel(ctx context.Context, accountID, id string) error {
	err := s.store.Update(ctx, func(tx Tx) error {
		r, err := tx.Reminder(ctx, id)
		if err != nil {
			return err
		}
		if r.AccountID != accountID {
			return ErrNotFound
		}
		if r.Status.pending() {
			_, err = tx.Transition(ctx, id, r.Status, StatusCancelled, nil, "")
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("cancel reminder: %w", err)
	}
	return nil
}

// normalizeEvent returns ev with its times in UTC, truncated to microseconds, as the store
// keeps them.
func normalizeEvent(ev messages.Event) messages.Event {
	norm := func(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
	ev.StartsAt = norm(ev.StartsAt)
	ev.CreatedAt = norm(ev.CreatedAt)
	ev.UpdatedAt = norm(ev.UpdatedAt)
	if ev.EndsAt != nil {
		t := norm(*ev.EndsAt)
		ev.EndsAt = &t
	}
	return ev
}
