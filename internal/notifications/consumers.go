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
		return s.handleAccountDeleted(ctx, m)
	case messages.TypeEventChanged:
		return s.handleEventChanged(ctx, m)
	case messages.TypeEventDeleted:
		return s.handleEventDeleted(ctx, m)
	}
	return broker.Permanent(fmt.Errorf("notifications: unexpected message type %q", m.Type))
}

// handleAccountDeleted deletes every reminder of the deleted account.
func (s *Service) handleAccountDeleted(ctx context.Context, m broker.Message) error {
	var p messages.AccountDeleted
	if err := m.Decode(&p); err != nil {
		return err
	}
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
func (s *Service) handleEventChanged(ctx context.Context, m broker.Message) error {
	var p messages.EventChanged
	if err := m.Decode(&p); err != nil {
		return err
	}
	ev := normalizeEvent(p.Event)
	if ev.ID == "" {
		return broker.Permanent(fmt.Errorf("event.changed %s: no event id", m.ID))
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
		if !ev.UpdatedAt.After(old.UpdatedAt) {
			return nil // an older or the same version
		}
		if err := tx.PutSnapshot(ctx, ev); err != nil {
			return err
		}
		if ev.StartsAt.Equal(old.StartsAt) {
			return nil
		}
		rs, err := tx.EventReminders(ctx, ev.ID, StatusScheduled)
		if err != nil {
			return err
		}
		now := s.clock()
		prev := old.StartsAt
		for _, r := range rs {
			if r.MinutesBefore != nil {
				sendAt := ev.StartsAt.Add(-time.Duration(*r.MinutesBefore) * time.Minute)
				if sendAt.Before(now) {
					sendAt = now // already past: due now
				}
				if err := tx.SetSendAt(ctx, r.ID, sendAt); err != nil {
					return err
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
				return err
			}
			mails = append(mails, mail)
		}
		return tx.AddMessages(ctx, mails...)
	})
	if err != nil {
		return fmt.Errorf("event.changed %s: %w", m.ID, err)
	}
	if len(mails) > 0 {
		s.afterMails(messages.EmailEventChanged, len(mails))
		s.wakeScheduler()
		s.log.InfoContext(ctx, "reminders follow the moved event", "event_id", ev.ID, "reminders", len(mails))
	}
	return nil
}

// handleEventDeleted cancels every scheduled reminder of the deleted event and emails its
// owner, except the organizer's own reminders when the organizer's account was deleted:
// those are deleted without a word.
func (s *Service) handleEventDeleted(ctx context.Context, m broker.Message) error {
	var p messages.EventDeleted
	if err := m.Decode(&p); err != nil {
		return err
	}
	ev := normalizeEvent(p.Event)
	if ev.ID == "" {
		return broker.Permanent(fmt.Errorf("event.deleted %s: no event id", m.ID))
	}
	var mails []broker.Message
	err := s.store.Update(ctx, func(tx Tx) error {
		mails = nil
		if first, err := tx.FirstDelivery(ctx, m.ID); err != nil || !first {
			return err
		}
		old, err := tx.Snapshot(ctx, ev.ID)
		if errors.Is(err, ErrEventNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if ev.UpdatedAt.After(old.UpdatedAt) {
			if err := tx.PutSnapshot(ctx, ev); err != nil {
				return err
			}
		} else {
			ev = old
		}
		rs, err := tx.EventReminders(ctx, ev.ID, StatusScheduled)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if p.Reason == messages.DeletedWithAccount && r.AccountID == ev.OrganizerID {
				if err := tx.DeleteReminder(ctx, r.ID); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.Transition(ctx, r.ID, StatusScheduled, StatusCancelled, nil, ""); err != nil {
				return err
			}
			mail, err := broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{
				IdempotencyKey: "event_cancelled:" + r.ID,
				Kind:           messages.EmailEventCancelled,
				To:             r.Email,
				Event:          &ev,
				Note:           r.Note,
			})
			if err != nil {
				return err
			}
			mails = append(mails, mail)
		}
		return tx.AddMessages(ctx, mails...)
	})
	if err != nil {
		return fmt.Errorf("event.deleted %s: %w", m.ID, err)
	}
	if len(mails) > 0 {
		s.afterMails(messages.EmailEventCancelled, len(mails))
		s.log.InfoContext(ctx, "reminders of deleted event cancelled", "event_id", ev.ID, "reminders", len(mails))
	}
	return nil
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
