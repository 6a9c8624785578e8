package notifications

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/database"
)

// RemindersPerSampleAccount is how many reminders SeedReminders gives each account it
// generates: ceil(n / RemindersPerSampleAccount) accounts hold n reminders.
const RemindersPerSampleAccount = 100

// seedReminderBatch is how many reminders one transaction of SeedReminders stores, and
// seedReminderRows how many one statement does (13 parameters each).
const (
	seedReminderBatch = 5000
	seedReminderRows  = 100
	// seedReminderCacheMiB is the page cache of the SQLite connection SeedReminders stores
	// with: a million reminders make indexes of about 400 MiB, two of them (by event, by
	// send_at) written in random order.
	seedReminderCacheMiB = 256
)

// sampleMinutesBefore are the offsets of sample reminders relative to their event's start,
// as people pick them: a quarter of an hour, an hour, a day, a week.
var sampleMinutesBefore = []int{15, 60, 24 * 60, 7 * 24 * 60}

// SeedReminders stores n sample reminders, scheduled, for those of the events evs that start
// after now, with the stored copies they need: a snapshot of each event and
// ceil(n/RemindersPerSampleAccount) generated accounts, each with a confirmed address under
// example.invalid (a domain that never resolves, so that no mail reaches anybody) that
// accepts its own reminders. Account k holds reminders k·100 to k·100+99 (the last account
// what is left). Each reminder is for an event drawn from evs by a generator seeded with seed,
// relative to the event's start (15 minutes, an hour, a day or a week before, whichever lie
// after now) or, when none does, at a time halfway between now and the start. It writes no
// outbox message, and nothing of the accounts reaches the auth service: nobody can log in as
// them. It stores seedReminderBatch reminders a transaction, in statements of
// seedReminderRows; progress, when not nil, is called with the number stored after each.
// Then it analyzes the reminders for the planner. It returns the number of accounts it made.
func (s *SQLStore) SeedReminders(ctx context.Context, evs []messages.Event, n int, seed uint64, now time.Time, progress func(stored int)) (int, error) {
	if n < 0 {
		return 0, fmt.Errorf("seed reminders: %d reminders", n)
	}
	if n == 0 {
		return 0, nil
	}
	now = now.UTC().Truncate(time.Microsecond)
	evs = slices.DeleteFunc(slices.Clone(evs), func(ev messages.Event) bool { return !ev.StartsAt.After(now) })
	if len(evs) == 0 {
		return 0, errors.New("seed reminders: no event that starts after now to remind of")
	}
	accounts := make([]Account, (n+RemindersPerSampleAccount-1)/RemindersPerSampleAccount)
	for i := range accounts {
		id := uuid.NewString()
		accounts[i] = Account{
			ID: id, Email: "sample-" + id[:8] + "@example.invalid", EmailVerified: true,
			DisplayName: fmt.Sprintf("Sample person %d", i+1), Version: 1,
		}
	}
	// The snapshots and the accounts first, in transactions as large as a batch of reminders,
	// so that none holds SQLite's write lock for long.
	for i := 0; i < len(evs); i += seedReminderBatch {
		if err := s.Update(ctx, func(tx Tx) error {
			for _, ev := range evs[i:min(i+seedReminderBatch, len(evs))] {
				if err := tx.KeepSnapshot(ctx, ev); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return 0, fmt.Errorf("seed reminders: snapshots: %w", err)
		}
	}
	for i := 0; i < len(accounts); i += seedReminderBatch {
		if err := s.Update(ctx, func(tx Tx) error {
			for _, a := range accounts[i:min(i+seedReminderBatch, len(accounts))] {
				if err := putSampleAccount(ctx, tx, a, now); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return 0, fmt.Errorf("seed reminders: accounts: %w", err)
		}
	}
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if s.Dialect() == database.SQLite {
		restore, err := database.BulkLoadPragmas(ctx, conn, seedReminderCacheMiB)
		if err != nil {
			return 0, err
		}
		defer restore()
	}
	r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	for done := 0; done < n; {
		size := min(seedReminderBatch, n-done)
		err := s.InConnTx(ctx, conn, func(tx *sql.Tx) error {
			rows := make([]Reminder, 0, seedReminderRows)
			for i := done; i < done+size; i++ {
				rem, err := sampleReminder(r, accounts[i/RemindersPerSampleAccount], evs[r.IntN(len(evs))], now)
				if err != nil {
					return err
				}
				if rows = append(rows, rem); len(rows) == seedReminderRows || i == done+size-1 {
					if err := insertReminders(ctx, tx, s.Dialect(), rows...); err != nil {
						return err
					}
					rows = rows[:0]
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("seed reminders: %w", err)
		}
		done += size
		if progress != nil {
			progress(done)
		}
	}
	if err := s.WithWriter(ctx, func() error {
		_, err := conn.ExecContext(ctx, `ANALYZE reminders`)
		return err
	}); err != nil {
		return 0, fmt.Errorf("seed reminders: analyze: %w", err)
	}
	return len(accounts), nil
}

// putSampleAccount stores a, and its own address as a recipient that accepted at now.
func putSampleAccount(ctx context.Context, tx Tx, a Account, now time.Time) error {
	if _, err := tx.PutAccount(ctx, a); err != nil {
		return err
	}
	token, err := newToken()
	if err != nil {
		return err
	}
	_, err = tx.AddRecipient(ctx, Recipient{
		AccountID: a.ID, Email: addressKey(a.Email), State: ConsentAccepted, Token: token, DecidedAt: &now,
	})
	return err
}

// sampleReminder returns a scheduled reminder of a for ev, made at now (see SeedReminders).
func sampleReminder(r *rand.Rand, a Account, ev messages.Event, now time.Time) (Reminder, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Reminder{}, err
	}
	rem := Reminder{
		ID: id.String(), AccountID: a.ID, EventID: ev.ID, Email: a.Email, Status: StatusScheduled,
		CreatedAt: now, Event: ev,
	}
	// An offset drawn from those that still lie ahead; none when the event starts within 15
	// minutes.
	var ahead []int
	for _, m := range sampleMinutesBefore {
		if ev.StartsAt.Add(-time.Duration(m) * time.Minute).After(now) {
			ahead = append(ahead, m)
		}
	}
	if len(ahead) > 0 {
		m := ahead[r.IntN(len(ahead))]
		rem.MinutesBefore = &m
		rem.SendAt = ev.StartsAt.Add(-time.Duration(m) * time.Minute)
	} else {
		rem.SendAt = now.Add(ev.StartsAt.Sub(now) / 2).Truncate(time.Microsecond)
	}
	return rem, nil
}
