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
	seedReminderBatch = 10_000
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
	accounts := sampleAccounts((n + RemindersPerSampleAccount - 1) / RemindersPerSampleAccount)
	// The snapshots and the accounts first, in transactions as large as a batch of reminders,
	// so that none holds SQLite's write lock for long.
	if err := inBatches(ctx, s, evs, func(tx Tx, ev messages.Event) error { return tx.KeepSnapshot(ctx, ev) }); err != nil {
		return 0, fmt.Errorf("seed reminders: snapshots: %w", err)
	}
	if err := inBatches(ctx, s, accounts, func(tx Tx, a Account) error { return putSampleAccount(ctx, tx, a, now) }); err != nil {
		return 0, fmt.Errorf("seed reminders: accounts: %w", err)
	}
	if err := s.storeSampleReminders(ctx, accounts, evs, n, seed, now, progress); err != nil {
		return 0, fmt.Errorf("seed reminders: %w", err)
	}
	return len(accounts), nil
}

// sampleAccounts returns n new sample accounts (see SeedReminders).
func sampleAccounts(n int) []Account {
	accounts := make([]Account, n)
	for i := range accounts {
		id := uuid.NewString()
		accounts[i] = Account{
			ID: id, Email: "sample-" + id[:8] + "@example.invalid", EmailVerified: true,
			DisplayName: fmt.Sprintf("Sample person %d", i+1), Version: 1,
		}
	}
	return accounts
}

// inBatches stores items with put, seedReminderBatch of them a transaction.
func inBatches[T any](ctx context.Context, s *SQLStore, items []T, put func(tx Tx, item T) error) error {
	for i := 0; i < len(items); i += seedReminderBatch {
		err := s.Bulk(ctx, func() error {
			return s.Update(ctx, func(tx Tx) error {
				for _, item := range items[i:min(i+seedReminderBatch, len(items))] {
					if err := put(tx, item); err != nil {
						return err
					}
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// storeSampleReminders stores the n reminders of SeedReminders for accounts and evs, and
// analyzes the table.
func (s *SQLStore) storeSampleReminders(ctx context.Context, accounts []Account, evs []messages.Event, n int, seed uint64, now time.Time, progress func(int)) error {
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if s.Dialect() == database.SQLite {
		restore, err := database.BulkLoadPragmas(ctx, conn, seedReminderCacheMiB)
		if err != nil {
			return err
		}
		defer restore()
	}
	r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	for done := 0; done < n; {
		size := min(seedReminderBatch, n-done)
		err := s.Bulk(ctx, func() error {
			return s.InConnTx(ctx, conn, func(tx *sql.Tx) error {
				return s.insertSampleReminders(ctx, tx, r, accounts, evs, done, done+size, now)
			})
		})
		if err != nil {
			return err
		}
		done += size
		if progress != nil {
			progress(done)
		}
	}
	return s.Bulk(ctx, func() error {
		return s.WithWriter(ctx, func() error {
			_, err := conn.ExecContext(ctx, `ANALYZE reminders`)
			return err
		})
	})
}

// insertSampleReminders inserts reminders from to to (exclusive) of SeedReminders in tx,
// seedReminderRows a statement.
func (s *SQLStore) insertSampleReminders(ctx context.Context, tx *sql.Tx, r *rand.Rand, accounts []Account, evs []messages.Event, from, to int, now time.Time) error {
	rows := make([]Reminder, 0, seedReminderRows)
	for i := from; i < to; i++ {
		rem, err := sampleReminder(r, accounts[i/RemindersPerSampleAccount], evs[r.IntN(len(evs))], now)
		if err != nil {
			return err
		}
		if rows = append(rows, rem); len(rows) == seedReminderRows || i == to-1 {
			if err := insertReminders(ctx, tx, s.Dialect(), rows...); err != nil {
				return err
			}
			rows = rows[:0]
		}
	}
	return nil
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
