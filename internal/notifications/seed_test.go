package notifications_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
)

// TestSeedRemindersAreSent seeds 150 reminders for three events, one of which has started
// already and one of which starts in 3 seconds: none is for the started one, and the
// scheduler mails each of those for the soon one, halfway to its start (no offset of
// 15 minutes or more lies ahead), to its account's own address, as it would a reminder made
// through the API; those of the event a week away stay scheduled.
func TestSeedRemindersAreSent(t *testing.T) {
	e := newEnv(t, envOptions{realNow: true, noAccounts: true})
	runScheduler(t, e)
	now := time.Now()
	started := testEvent("started", now.Add(-time.Minute).Truncate(time.Second))
	soon := testEvent("soon", now.Add(3*time.Second).Truncate(time.Millisecond))
	later := testEvent("later", now.Add(7*24*time.Hour+time.Hour).Truncate(time.Second))
	accounts, err := e.store.SeedReminders(context.Background(), []messages.Event{started, soon, later}, 150, 1, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accounts != 2 {
		t.Fatalf("SeedReminders made %d accounts for 150 reminders, want 2", accounts)
	}
	var forSoon, forLater []notifications.Reminder
	for _, id := range seededAccounts(t, e.store) {
		rs, err := e.store.ListReminders(context.Background(), notifications.ListFilter{AccountID: id, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			switch r.EventID {
			case "soon":
				forSoon = append(forSoon, r)
			case "later":
				forLater = append(forLater, r)
			default:
				t.Errorf("reminder %s is for %s", r.ID, r.EventID)
			}
		}
	}
	if len(forSoon) == 0 || len(forLater) == 0 || len(forSoon)+len(forLater) != 150 {
		t.Fatalf("%d reminders for the soon event and %d for the later one, want some of each and 150 in all", len(forSoon), len(forLater))
	}
	for _, r := range forLater {
		if r.MinutesBefore == nil || !r.SendAt.Equal(later.StartsAt.Add(-time.Duration(*r.MinutesBefore)*time.Minute)) {
			t.Fatalf("reminder %s for the later event at %s (%v minutes before), want one of the offsets before %s", r.ID, r.SendAt, r.MinutesBefore, later.StartsAt)
		}
	}
	waitFor(t, 20*time.Second, "the soon event's reminders to be mailed", func() bool {
		for _, r := range forSoon {
			if e.status(t, r.ID) != notifications.StatusSending {
				return false
			}
		}
		return true
	})
	mails := emails(t, e.store)
	if len(mails) != len(forSoon) {
		t.Errorf("%d emails queued, want one per reminder of the soon event (%d)", len(mails), len(forSoon))
	}
	for _, m := range mails {
		if !strings.HasSuffix(m.To, "@example.invalid") {
			t.Errorf("an email to %q, want a sample address under example.invalid", m.To)
		}
	}
	for _, r := range forSoon {
		if r.MinutesBefore != nil || r.SendAt.Before(now) || !r.SendAt.Before(soon.StartsAt) {
			t.Errorf("reminder %s at %s (%v minutes before), want an absolute time between %s and %s", r.ID, r.SendAt, r.MinutesBefore, now, soon.StartsAt)
		}
	}
	for _, r := range forLater {
		if got := e.status(t, r.ID); got != notifications.StatusScheduled {
			t.Errorf("reminder %s for the later event is %s, want scheduled", r.ID, got)
		}
	}
}

// seededAccounts returns the IDs of the accounts that hold reminders in s.
func seededAccounts(t *testing.T, s *notifications.SQLStore) []string {
	t.Helper()
	rows, err := s.DB().QueryContext(context.Background(), `SELECT DISTINCT account_id FROM reminders ORDER BY account_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}
