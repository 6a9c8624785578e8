package notifications

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
)

// Consumers returns the service's broker consumers: the domain messages that keep reminders
// in step with accounts and events, and the email-sender's results.
func (s *Service) Consumers() []broker.Consumer {
	return []broker.Consumer{
		{
			Queue:  messages.QueueNotificationsDomain,
			Types:  []string{messages.TypeAccountDeleted, messages.TypeEventChanged, messages.TypeEventDeleted},
			Handle: s.handleDomain,
		},
		{
			Queue:  messages.QueueNotificationsResult,
			Types:  []string{messages.TypeEmailResult},
			Handle: s.handleEmailResult,
		},
	}
}

func (s *Service) handleDomain(ctx context.Context, m broker.Message) error {
	switch m.Type {
	case messages.TypeAccountDeleted:
		return broker.Payload(s.handleAccountDeleted)(ctx, m)
	case messages.TypeEventChanged:
		return broker.Payload(s.handleEventChanged)(ctx, m)
	case messages.TypeEventDeleted:
		return broker.Payload(s.handleEventDeleted)(ctx, m)
	}
	return broker.Permanent(fmt.Errorf("notifications: unexpected message type %q", m.Type))
}

// handleAccountDeleted deletes every reminder of the deleted account.
func (s *Service) handleAccountDeleted(ctx context.Context, m broker.Message, p messages.AccountDeleted) error {
	if p.AccountID == "" {
		return broker.Permanent(fmt.Errorf("account.deleted %s: no account_id", m.ID))
	}
	var deleted int
	err := s.store.Update(ctx, func(tx Tx) error {
		if first, err := tx.FirstDelivery(ctx, m.ID); err != nil || !first {
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

// followMovedEvent moves the scheduled relative reminders of ev, whose start moved from prev,
// and returns the emails that tell the owner of every scheduled reminder of ev.
func (s *Service) followMovedEvent(ctx context.Context, tx Tx, ev messages.Event, prev time.Time) ([]broker.Message, error) {
	rs, err := tx.EventReminders(ctx, ev.ID, StatusScheduled)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	var mails []broker.Message
	for _, r := range rs {
		if r.MinutesBefore != nil {
			sendAt := ev.StartsAt.Add(-time.Duration(*r.MinutesBefore) * time.Minute)
			if sendAt.Before(now) {
				sendAt = now // already past: due now
			}
			if err := tx.SetSendAt(ctx, r.ID, sendAt); err != nil {
				return nil, err
			}
		}
		mail, err := broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{
			IdempotencyKey:   "event_changed:" + r.ID + ":" + strconv.FormatInt(ev.StartsAt.Unix(), 10),
			Kind:             messages.EmailEventChanged,
			To:               r.Email,
			Event:            &ev,
			Note:             r.Note,
			PreviousStartsAt: &prev,
		})
		if err != nil {
			return nil, err
		}
		mails = append(mails, mail)
	}
	return mails, nil
}

// handleEventDeleted cancels every scheduled reminder of the deleted event and emails its
// owner, except the organizer's own reminders when the organizer's account was deleted:
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
		return s.cancelReminders(ctx, tx, ev, p.Reason)
	})
	if n > 0 {
		s.log.InfoContext(ctx, "reminders of deleted event cancelled", "event_id", ev.ID, "reminders", n)
	}
	return err
}

// cancelReminders cancels the scheduled reminders of the deleted event ev, or deletes those
// of its organizer when reason says the organizer's account was deleted, and returns the
// emails that tell the owners of the cancelled ones.
func (s *Service) cancelReminders(ctx context.Context, tx Tx, ev messages.Event, reason string) ([]broker.Message, error) {
	rs, err := tx.EventReminders(ctx, ev.ID, StatusScheduled)
	if err != nil {
		return nil, err
	}
	var mails []broker.Message
	for _, r := range rs {
		if reason == messages.DeletedWithAccount && r.AccountID == ev.OrganizerID {
			if err := tx.DeleteReminder(ctx, r.ID); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := tx.Transition(ctx, r.ID, StatusScheduled, StatusCancelled, nil, ""); err != nil {
			return nil, err
		}
		mail, err := broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{
			IdempotencyKey: "event_cancelled:" + r.ID,
			Kind:           messages.EmailEventCancelled,
			To:             r.Email,
			Event:          &ev,
			Note:           r.Note,
		})
		if err != nil {
			return nil, err
		}
		mails = append(mails, mail)
	}
	return mails, nil
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
	var p messages.EmailResult
	if err := m.Decode(&p); err != nil {
		return err
	}
	if p.ReminderID == "" || (p.Kind != "" && p.Kind != messages.EmailReminder) {
		return nil // not a reminder's email
	}
	var (
		to      Status
		sentAt  *time.Time
		lastErr string
	)
	switch p.Status {
	case messages.ResultSent:
		to = StatusSent
		at := p.At.UTC().Truncate(time.Microsecond)
		if p.At.IsZero() {
			at = s.clock()
		}
		sentAt = &at
	case messages.ResultFailed:
		to = StatusFailed
		lastErr = p.Error
		if lastErr == "" {
			lastErr = "the email could not be sent"
		}
	default:
		return broker.Permanent(fmt.Errorf("email.result %s: unknown status %q", m.ID, p.Status))
	}
	// Only a reminder that is sending changes: a redelivered result finds it sent or failed
	// already and changes nothing, so no inbox record is needed.
	changed, err := s.store.Transition(ctx, p.ReminderID, StatusSending, to, sentAt, lastErr)
	if err != nil {
		return fmt.Errorf("email.result %s: %w", m.ID, err)
	}
	if changed {
		s.log.InfoContext(ctx, "reminder "+string(to), "reminder_id", p.ReminderID, "error", lastErr)
	}
	return nil
}

// afterMails wakes the outbox relay after a commit that queued n emails of kind.
func (s *Service) afterMails(kind messages.EmailKind, n int) {
	s.outbox.Notify()
	s.metrics.emails.WithLabelValues(string(kind)).Add(float64(n))
}
