package notifications

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
)

// Consumers returns the service's broker consumers: the domain messages that keep reminders
// in step with accounts, events and attendances, and the email-sender's results.
func (s *Service) Consumers() []broker.Consumer {
	return []broker.Consumer{
		{
			Queue: messages.QueueNotificationsDomain,
			Types: []string{
				messages.TypeAccountDeleted, messages.TypeAccountChanged, messages.TypeEventChanged, messages.TypeEventDeleted,
				messages.TypeAttendanceChanged,
			},
			Handle: s.handleDomain,
		},
		{
			Queue:       messages.QueueNotificationsResult,
			Types:       []string{messages.TypeEmailResult},
			Handle:      s.handleEmailResult,
			HandleBatch: s.handleEmailResults,
		},
	}
}

func (s *Service) handleDomain(ctx context.Context, m broker.Message) error {
	switch m.Type {
	case messages.TypeAccountDeleted:
		return broker.Payload(s.handleAccountDeleted)(ctx, m)
	case messages.TypeAccountChanged:
		return broker.Payload(s.handleAccountChanged)(ctx, m)
	case messages.TypeEventChanged:
		return broker.Payload(s.handleEventChanged)(ctx, m)
	case messages.TypeEventDeleted:
		return broker.Payload(s.handleEventDeleted)(ctx, m)
	case messages.TypeAttendanceChanged:
		return broker.Payload(s.handleAttendanceChanged)(ctx, m)
	}
	return broker.Permanent(fmt.Errorf("notifications: unexpected message type %q", m.Type))
}

// handleAccountChanged keeps the copy of the account that the announcement tells of, unless
// the copy held is as new or newer. Guarded by the version, it needs no inbox record.
func (s *Service) handleAccountChanged(ctx context.Context, m broker.Message, p messages.AccountChanged) error {
	if p.AccountID == "" {
		return broker.Permanent(fmt.Errorf("account.changed %s: no account_id", m.ID))
	}
	var stored bool
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		stored, err = tx.PutAccount(ctx, Account{
			ID: p.AccountID, Email: p.Email, EmailVerified: p.EmailVerified, DisplayName: p.DisplayName, Version: p.Version,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("account.changed %s: %w", m.ID, err)
	}
	if !stored {
		s.log.DebugContext(ctx, "older account announcement ignored", "account_id", p.AccountID, "version", p.Version)
	}
	return nil
}

// handleAccountDeleted deletes every reminder of the deleted account, its copy, its
// recipients, its calendar feed and the copies of its attendances.
func (s *Service) handleAccountDeleted(ctx context.Context, m broker.Message, p messages.AccountDeleted) error {
	if p.AccountID == "" {
		return broker.Permanent(fmt.Errorf("account.deleted %s: no account_id", m.ID))
	}
	var deleted int
	err := s.store.Update(ctx, func(tx Tx) error {
		if first, err := tx.FirstDelivery(ctx, m.ID); err != nil || !first {
			return err
		}
		// The account's row goes first: creations lock it first too.
		if err := tx.DeleteAccount(ctx, p.AccountID); err != nil {
			return err
		}
		if err := tx.DeleteAccountCalendar(ctx, p.AccountID); err != nil {
			return err
		}
		n, err := tx.DeleteAccountReminders(ctx, p.AccountID)
		deleted = n
		return err
	})
	if err != nil {
		return fmt.Errorf("account.deleted %s: %w", m.ID, err)
	}
	if deleted > 0 {
		s.log.InfoContext(ctx, "reminders of deleted account removed", "account_id", p.AccountID, "count", deleted)
	}
	return nil
}

// handleEventChanged refreshes the snapshot of a reminded event; when the event's start
// moved, it moves the scheduled relative reminders with it and emails the owner of every
// scheduled reminder of the event.
func (s *Service) handleEventChanged(ctx context.Context, m broker.Message, p messages.EventChanged) error {
	ev := normalizeEvent(p.Event)
	n, err := s.consumeEvent(ctx, m, ev, messages.EmailEventChanged, func(tx Tx, old messages.Event) ([]broker.Message, error) {
		if !ev.UpdatedAt.After(old.UpdatedAt) {
			return nil, nil // an older or the same version
		}
		if err := tx.PutSnapshot(ctx, ev); err != nil {
			return nil, err
		}
		if ev.StartsAt.Equal(old.StartsAt) {
			return nil, nil
		}
		return s.followMovedEvent(ctx, tx, ev, old.StartsAt)
	})
	if n > 0 {
		s.wakeScheduler()
		s.log.InfoContext(ctx, "reminders follow the moved event", "event_id", ev.ID, "reminders", n)
	}
	return err
}

// followMovedEvent moves the scheduled and awaiting_consent relative reminders of ev, whose
// start moved from prev, and returns the emails that tell the addresses of its scheduled
// reminders: one per address.
func (s *Service) followMovedEvent(ctx context.Context, tx Tx, ev messages.Event, prev time.Time) ([]broker.Message, error) {
	now := s.clock()
	var scheduled []Reminder
	for _, st := range []Status{StatusScheduled, StatusAwaitingConsent} {
		rs, err := tx.EventReminders(ctx, ev.ID, st)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r.MinutesBefore == nil {
				continue
			}
			sendAt := ev.StartsAt.Add(-time.Duration(*r.MinutesBefore) * time.Minute)
			if sendAt.Before(now) {
				sendAt = now // already past: due now
			}
			if err := tx.SetSendAt(ctx, r.ID, sendAt); err != nil {
				return nil, err
			}
		}
		if st == StatusScheduled {
			scheduled = rs
		}
	}
	return s.eventMails(ctx, tx, messages.EmailEventChanged, ev, scheduled, &prev)
}

// eventMails returns the emails of kind about ev to the addresses that rs, scheduled
// reminders of ev, remind: one per address, however many reminders (of however many
// accounts) name it, and none to an address that may not be mailed (see deliveryOf). The
// idempotency key is per event, address, kind and version of the event, so that a
// redelivered message mails no one twice.
func (s *Service) eventMails(ctx context.Context, tx Tx, kind messages.EmailKind, ev messages.Event, rs []Reminder,
	prev *time.Time,
) ([]broker.Message, error) {
	done := map[string]bool{}
	var mails []broker.Message
	for _, r := range rs {
		key := addressKey(r.Email)
		if done[key] {
			continue
		}
		d, err := s.deliveryOf(ctx, tx, r)
		if err != nil {
			return nil, err
		}
		if d.blocked != "" {
			continue // another reminder to the address, of another account, may yet mail it
		}
		done[key] = true
		mail, err := broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{
			IdempotencyKey:   string(kind) + ":" + ev.ID + ":" + key + ":" + strconv.FormatInt(ev.UpdatedAt.UnixMicro(), 10),
			Kind:             kind,
			To:               r.Email,
			Name:             d.name,
			Event:            &ev,
			Note:             r.Note,
			PreviousStartsAt: prev,
			UnsubscribeToken: d.token,
			Requester:        d.requester,
		})
		if err != nil {
			return nil, err
		}
		mails = append(mails, mail)
	}
	return mails, nil
}

// handleEventDeleted marks the snapshot of the deleted event deleted (the calendar feeds
// show it cancelled), cancels every scheduled reminder of it and emails its owner, except the organizer's own reminders when the organizer's account was deleted:
// those are deleted without a word.
func (s *Service) handleEventDeleted(ctx context.Context, m broker.Message, p messages.EventDeleted) error {
	ev := normalizeEvent(p.Event)
	n, err := s.consumeEvent(ctx, m, ev, messages.EmailEventCancelled, func(tx Tx, old messages.Event) ([]broker.Message, error) {
		if ev.UpdatedAt.After(old.UpdatedAt) {
			if err := tx.PutSnapshot(ctx, ev); err != nil {
				return nil, err
			}
		} else {
			ev = old
		}
		// Calendar feeds show the event as cancelled for CancelledRetention from now.
		if err := tx.MarkSnapshotDeleted(ctx, ev.ID, s.clock()); err != nil {
			return nil, err
		}
		return s.cancelReminders(ctx, tx, ev, p.Reason)
	})
	if n > 0 {
		s.log.InfoContext(ctx, "reminders of deleted event cancelled", "event_id", ev.ID, "reminders", n)
	}
	return err
}

// cancelReminders cancels the scheduled and awaiting_consent reminders of the deleted event
// ev, or deletes those of its organizer when reason says the organizer's account was
// deleted, and returns the emails that tell the addresses of the cancelled scheduled ones:
// one per address.
func (s *Service) cancelReminders(ctx context.Context, tx Tx, ev messages.Event, reason string) ([]broker.Message, error) {
	var cancelled []Reminder
	for _, st := range []Status{StatusScheduled, StatusAwaitingConsent} {
		rs, err := tx.EventReminders(ctx, ev.ID, st)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if reason == messages.DeletedWithAccount && r.AccountID == ev.OrganizerID {
				if err := tx.DeleteReminder(ctx, r.ID); err != nil {
					return nil, err
				}
				continue
			}
			if _, err := tx.Transition(ctx, r.ID, st, StatusCancelled, nil, ""); err != nil {
				return nil, err
			}
			if st == StatusScheduled {
				cancelled = append(cancelled, r)
			}
		}
	}
	return s.eventMails(ctx, tx, messages.EmailEventCancelled, ev, cancelled, nil)
}

// consumeEvent is what the consumers of event.changed and event.deleted share. For the
// first delivery of m, about ev, and only when someone here has a reminder for ev (its
// snapshot, old, is kept), it calls apply in one transaction and queues the emails of kind
// that apply returns. It returns how many it queued.
func (s *Service) consumeEvent(ctx context.Context, m broker.Message, ev messages.Event, kind messages.EmailKind,
	apply func(tx Tx, old messages.Event) ([]broker.Message, error),
) (int, error) {
	if ev.ID == "" {
		return 0, broker.Permanent(fmt.Errorf("%s %s: no event id", m.Type, m.ID))
	}
	var mails []broker.Message
	err := s.store.Update(ctx, func(tx Tx) error {
		mails = nil
		if first, err := tx.FirstDelivery(ctx, m.ID); err != nil || !first {
			return err
		}
		old, err := tx.Snapshot(ctx, ev.ID)
		if errors.Is(err, ErrEventNotFound) {
			return nil // nobody here has a reminder for it
		}
		if err != nil {
			return err
		}
		if mails, err = apply(tx, old); err != nil {
			return err
		}
		return tx.AddMessages(ctx, mails...)
	})
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", m.Type, m.ID, err)
	}
	if len(mails) > 0 {
		s.afterMails(kind, len(mails))
	}
	return len(mails), nil
}

// handleEmailResult records what the email-sender made of a reminder: sent or failed. Only a
// reminder being sent changes, so a late or repeated result has no effect.
func (s *Service) handleEmailResult(ctx context.Context, m broker.Message) error {
	return s.handleEmailResults(ctx, []broker.Delivery{{Ctx: ctx, Message: m}})[0]
}

// handleEmailResults is handleEmailResult of several results, recorded in one transaction;
// should it fail, every result gets its error.
func (s *Service) handleEmailResults(ctx context.Context, ds []broker.Delivery) []error {
	errs := make([]error, len(ds))
	results := make([]*emailResult, len(ds))
	for i, d := range ds {
		results[i], errs[i] = s.emailResult(d.Message)
	}
	// In the order of the reminders' IDs, so that concurrent batches of PostgreSQL replicas
	// lock common rows in one order.
	var order []int
	for i, r := range results {
		if r != nil {
			order = append(order, i)
		}
	}
	if len(order) == 0 {
		return errs
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(results[a].reminderID, results[b].reminderID) })
	changed := make([]bool, len(ds))
	var err error
	if len(order) == 1 {
		// One result is one statement, committed on its own.
		i := order[0]
		r := results[i]
		changed[i], err = s.store.Transition(ctx, r.reminderID, StatusSending, r.to, r.sentAt, r.lastErr)
		if err != nil {
			err = fmt.Errorf("email.result %s: %w", ds[i].ID, err)
		}
	} else {
		err = s.transitions(ctx, ds, results, order, changed)
	}
	for i, r := range results {
		switch {
		case r == nil:
		case err != nil:
			errs[i] = err
		case changed[i]:
			s.log.InfoContext(ds[i].Ctx, "reminder "+string(r.to), "reminder_id", r.reminderID, "error", r.lastErr)
		}
	}
	return errs
}

// transitions records the results of ds at the indexes order in one transaction, and sets
// changed for each reminder it changed.
func (s *Service) transitions(ctx context.Context, ds []broker.Delivery, results []*emailResult, order []int, changed []bool) error {
	return s.store.Update(ctx, func(tx Tx) error {
		for _, i := range order {
			r := results[i]
			// Only a reminder that is sending changes: a redelivered result finds it sent or
			// failed already and changes nothing, so no inbox record is needed.
			ok, err := tx.Transition(ctx, r.reminderID, StatusSending, r.to, r.sentAt, r.lastErr)
			if err != nil {
				return fmt.Errorf("email.result %s: %w", ds[i].ID, err)
			}
			changed[i] = ok // set again on every run of the transaction
		}
		return nil
	})
}

// emailResult is the change an email.result asks of a reminder.
type emailResult struct {
	reminderID string
	to         Status
	sentAt     *time.Time
	lastErr    string
}

// emailResult reads the change m asks for: nil without an error for a result that is not a
// reminder's.
func (s *Service) emailResult(m broker.Message) (*emailResult, error) {
	var p messages.EmailResult
	if err := m.Decode(&p); err != nil {
		return nil, err
	}
	if p.ReminderID == "" || (p.Kind != "" && p.Kind != messages.EmailReminder) {
		return nil, nil // not a reminder's email
	}
	r := &emailResult{reminderID: p.ReminderID}
	switch p.Status {
	case messages.ResultSent:
		r.to = StatusSent
		at := p.At.UTC().Truncate(time.Microsecond)
		if p.At.IsZero() {
			at = s.clock()
		}
		r.sentAt = &at
	case messages.ResultFailed:
		r.to = StatusFailed
		r.lastErr = p.Error
		if r.lastErr == "" {
			r.lastErr = "the email could not be sent"
		}
	default:
		return nil, broker.Permanent(fmt.Errorf("email.result %s: unknown status %q", m.ID, p.Status))
	}
	return r, nil
}

// afterMails wakes the outbox relay after a commit that queued n emails of kind.
func (s *Service) afterMails(kind messages.EmailKind, n int) {
	s.outbox.Notify()
	s.metrics.emails.WithLabelValues(string(kind)).Add(float64(n))
}
