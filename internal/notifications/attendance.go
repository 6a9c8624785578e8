package notifications

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
)

// attendanceOutcome is what one attendance.changed did, for the log.
type attendanceOutcome struct {
	ignored                  bool
	created, cancelled, over int
	past                     int
}

// handleAttendanceChanged keeps the copy of an account's attendance of an event and makes
// the account's reminders follow it. In one transaction, on the first delivery of m only: it
// keeps the event's snapshot when newer; it ignores an announcement whose version is not
// higher than that of the stored copy (a message delivered twice, or late, acts once); when
// the account becomes going, it creates the event's default reminders as the account's own,
// to its own address, relative to the start (they move with the event) and marked
// FromDefault, leaving out those whose send time is past, those the account already holds,
// and those over the account's quota (logged); when the account stops going, it cancels its
// reminders of the event that are still FromDefault and pending, without an email.
//
// The default reminders are those the announcement carries, the event's at the time the
// account became going: when the organizer changes them later, the reminders of people
// already going stay as they are (they are the people's own, which they may have changed or
// cancelled); only people who go later get the new ones.
//
// An account that account.changed has not told of yet cannot be reminded (its address is
// unknown): the message is retried later. A later announcement that the account is no longer
// going (which the events service sends when the account is deleted) supersedes it.
func (s *Service) handleAttendanceChanged(ctx context.Context, m broker.Message, p messages.AttendanceChanged) error {
	if err := checkAttendanceChanged(p); err != nil {
		return broker.Permanent(fmt.Errorf("attendance.changed %s: %w", m.ID, err))
	}
	ev := normalizeEvent(p.Event)
	var out attendanceOutcome
	err := s.store.Update(ctx, func(tx Tx) error {
		out = attendanceOutcome{}
		return s.applyAttendance(ctx, tx, m.ID, p, ev, &out)
	})
	if err != nil {
		return fmt.Errorf("attendance.changed %s: %w", m.ID, err)
	}
	s.afterAttendance(ctx, p, out)
	return nil
}

// checkAttendanceChanged reports what makes p unusable, however often it is delivered.
func checkAttendanceChanged(p messages.AttendanceChanged) error {
	switch {
	case p.AccountID == "" || p.EventID == "":
		return errors.New("no account_id or event_id")
	case p.Event.ID != p.EventID:
		return fmt.Errorf("event %q, snapshot of %q", p.EventID, p.Event.ID)
	}
	switch p.Status {
	case messages.AttendanceGoing, messages.AttendanceInterested, messages.AttendanceWaitlisted, messages.AttendanceNone:
		return nil
	}
	return fmt.Errorf("unknown status %q", p.Status)
}

// applyAttendance applies p, delivered as message messageID, about the event ev, in tx, and
// counts what it did in out.
func (s *Service) applyAttendance(ctx context.Context, tx Tx, messageID string, p messages.AttendanceChanged, ev messages.Event, out *attendanceOutcome) error {
	if first, err := tx.FirstDelivery(ctx, messageID); err != nil || !first {
		out.ignored = err == nil
		return err
	}
	// The account's row first, then the snapshot's, then the reminders: the order in which
	// creations lock them.
	acct, err := tx.Account(ctx, p.AccountID, true)
	known := err == nil
	if err != nil && !errors.Is(err, ErrAccountUnknown) {
		return err
	}
	if err := tx.KeepSnapshot(ctx, ev); err != nil {
		return err
	}
	stored, version, ok, err := tx.Attendance(ctx, p.AccountID, p.EventID)
	if err != nil {
		return err
	}
	if ok && p.Version <= version {
		out.ignored = true
		return nil
	}
	if !known {
		acct = Account{}
	}
	if err := s.followAttendance(ctx, tx, stored, p, acct, ev.ID, out); err != nil {
		return err
	}
	return tx.PutAttendance(ctx, p.AccountID, p.EventID, p.Status, p.Version)
}

// followAttendance makes the account's reminders of the event eventID follow its attendance
// from stored to p.Status: becoming going creates the default reminders for acct (the zero
// Account while the account is not known: then the message must wait), no longer going
// cancels those still pending.
func (s *Service) followAttendance(ctx context.Context, tx Tx, stored string, p messages.AttendanceChanged, acct Account, eventID string, out *attendanceOutcome) error {
	wasGoing, going := stored == messages.AttendanceGoing, p.Status == messages.AttendanceGoing
	switch {
	case going && !wasGoing:
		if acct.ID == "" {
			return fmt.Errorf("account %s not known yet: %w", p.AccountID, ErrAccountUnknown)
		}
		return s.createDefaultReminders(ctx, tx, acct, eventID, p.DefaultReminders, out)
	case wasGoing && !going:
		var err error
		out.cancelled, err = tx.CancelDefaultReminders(ctx, p.AccountID, p.EventID)
		return err
	}
	return nil
}

// afterAttendance logs what applying p did (out) and wakes the scheduler for new reminders.
func (s *Service) afterAttendance(ctx context.Context, p messages.AttendanceChanged, out attendanceOutcome) {
	if out.ignored {
		s.log.DebugContext(ctx, "attendance announcement already applied or older; ignored",
			"account_id", p.AccountID, "event_id", p.EventID, "version", p.Version)
		return
	}
	if out.over > 0 {
		s.log.InfoContext(ctx, "default reminders over the account's quota not created",
			"account_id", p.AccountID, "event_id", p.EventID, "left_out", out.over, "limit", s.cfg.MaxPendingReminders)
	}
	if out.created > 0 {
		s.wakeScheduler()
	}
	if out.created+out.cancelled+out.past > 0 {
		s.log.InfoContext(ctx, "reminders follow attendance", "account_id", p.AccountID, "event_id", p.EventID,
			"status", p.Status, "created", out.created, "cancelled", out.cancelled, "past", out.past)
	}
}

// createDefaultReminders creates, in tx, for acct, which just became going to the event
// eventID (whose snapshot tx holds), a reminder minutes before the start for each of
// defaults, as createTx would for a reminder to the account's own address, but leaving out
// those whose send time is past, those identical to one the account holds, and those over
// its quota (counted in out).
func (s *Service) createDefaultReminders(ctx context.Context, tx Tx, acct Account, eventID string, defaults []int, out *attendanceOutcome) error {
	if len(defaults) == 0 {
		return nil
	}
	ev, err := tx.Snapshot(ctx, eventID) // the newest: the message's, or a later one kept
	if err != nil {
		return err
	}
	pending, err := tx.CountPending(ctx, acct.ID)
	if err != nil {
		return err
	}
	now := s.clock()
	for _, minutes := range defaults {
		if minutes < 1 || minutes > MaxMinutesBefore {
			continue // the events service accepts none such; an older or newer producer might
		}
		sendAt := ev.StartsAt.Add(-time.Duration(minutes) * time.Minute)
		if !sendAt.After(now) {
			out.past++
			continue
		}
		if pending >= s.cfg.MaxPendingReminders {
			out.over++
			continue
		}
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		r := Reminder{
			ID: id.String(), AccountID: acct.ID, EventID: ev.ID, Email: acct.Email, SendAt: sendAt,
			MinutesBefore: &minutes, Status: StatusScheduled, CreatedAt: now, Event: ev, FromDefault: true,
			TraceParent: broker.TraceParent(ctx),
		}
		if err := s.checkDuplicate(ctx, tx, r); err != nil {
			if _, ok := errors.AsType[*DuplicateError](err); ok {
				continue // the account holds this reminder already
			}
			return err
		}
		if _, err := s.ensureRecipient(ctx, tx, acct.ID, addressKey(acct.Email), true); err != nil {
			return err
		}
		if err := tx.InsertReminder(ctx, r); err != nil {
			return err
		}
		pending++
		out.created++
	}
	return nil
}
