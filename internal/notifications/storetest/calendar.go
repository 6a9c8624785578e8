package storetest

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
)

// PutAttendance stores the copy of account's attendance of event, as the attendance.changed
// consumer keeps it (Tx.PutAttendance).
func PutAttendance(t testing.TB, s notifications.Store, account, event, status string, version int64) {
	t.Helper()
	err := s.Update(context.Background(), func(tx notifications.Tx) error {
		return tx.PutAttendance(context.Background(), account, event, status, version)
	})
	if err != nil {
		t.Fatalf("put attendance %s/%s: %v", account, event, err)
	}
}

// markDeleted records the deletion of event at at, as event.deleted does.
func markDeleted(t *testing.T, s notifications.Store, event string, at time.Time) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx notifications.Tx) error { return tx.MarkSnapshotDeleted(ctx, event, at) })
}

func testCalendarTokens(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	first, err := s.CalendarToken(ctx, "acc", "token-1", base)
	if err != nil || first != "token-1" {
		t.Fatalf("CalendarToken of a new feed = %q, %v; want token-1", first, err)
	}
	if again, err := s.CalendarToken(ctx, "acc", "token-2", base); err != nil || again != "token-1" {
		t.Errorf("CalendarToken again = %q, %v; want the stored token-1", again, err)
	}
	owner, err := s.CalendarOwner(ctx, "token-1")
	if err != nil || owner != (notifications.FeedOwner{AccountID: "acc"}) {
		t.Errorf("CalendarOwner without an account copy = %+v, %v; want acc without a name", owner, err)
	}
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		_, err := tx.PutAccount(ctx, notifications.Account{ID: "acc", Email: "a@example.com", DisplayName: "Ann", Version: 1})
		return err
	})
	if owner, err := s.CalendarOwner(ctx, "token-1"); err != nil || owner != (notifications.FeedOwner{AccountID: "acc", DisplayName: "Ann"}) {
		t.Errorf("CalendarOwner = %+v, %v; want acc named Ann", owner, err)
	}
	if err := s.RotateCalendarToken(ctx, "acc", "token-3", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CalendarOwner(ctx, "token-1"); !errors.Is(err, notifications.ErrFeedNotFound) {
		t.Errorf("CalendarOwner of the rotated token: %v, want ErrFeedNotFound", err)
	}
	if got, err := s.CalendarToken(ctx, "acc", "token-4", base); err != nil || got != "token-3" {
		t.Errorf("CalendarToken after rotation = %q, %v; want token-3", got, err)
	}
	if err := s.RotateCalendarToken(ctx, "fresh", "token-5", base); err != nil {
		t.Fatalf("RotateCalendarToken without a feed: %v", err)
	}
	if o, err := s.CalendarOwner(ctx, "token-5"); err != nil || o.AccountID != "fresh" {
		t.Errorf("CalendarOwner of a feed made by rotation = %+v, %v", o, err)
	}

	ev := event("ev", base, base)
	create(t, s, reminder(t, "acc", ev, base.Add(-time.Hour), nil))
	PutAttendance(t, s, "acc", "ev", messages.AttendanceGoing, 1)
	PutAttendance(t, s, "other", "ev", messages.AttendanceGoing, 1)
	update(t, s, func(ctx context.Context, tx notifications.Tx) error { return tx.DeleteAccountCalendar(ctx, "acc") })
	if _, err := s.CalendarOwner(ctx, "token-3"); !errors.Is(err, notifications.ErrFeedNotFound) {
		t.Errorf("CalendarOwner after DeleteAccountCalendar: %v, want ErrFeedNotFound", err)
	}
	db := s.(interface{ DB() *sql.DB }).DB()
	for account, want := range map[string]int{"acc": 0, "other": 1} {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM attendances WHERE account_id = '`+account+`'`).Scan(&n); err != nil || n != want {
			t.Errorf("attendances of %s after DeleteAccountCalendar(acc): %d, %v; want %d", account, n, err, want)
		}
	}
}

func testCalendarFeed(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	cutoff := base.Add(-30 * 24 * time.Hour)
	day := func(n int) time.Time { return base.Add(time.Duration(n) * 24 * time.Hour) }
	evs := map[string]messages.Event{}
	for i, id := range []string{"going", "interested", "reminded", "sent", "cancelled", "deleted", "deleted-going",
		"deleted-old", "others"} {
		evs[id] = event(id, day(10-i), base.Add(time.Duration(i)*time.Minute)) // later in the list, sooner
	}
	rem := func(account, ev string, st notifications.Status, minutes *int) notifications.Reminder {
		r := reminder(t, account, evs[ev], day(1), minutes)
		r.Status = st
		create(t, s, r)
		return r
	}
	// A snapshot for the events known only from attendances, as the attendance.changed
	// consumer keeps it.
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		for _, id := range []string{"going", "interested", "deleted-going"} {
			if err := tx.PutSnapshot(ctx, evs[id]); err != nil {
				return err
			}
		}
		return nil
	})
	PutAttendance(t, s, "acc", "going", messages.AttendanceGoing, 3)
	PutAttendance(t, s, "acc", "interested", messages.AttendanceInterested, 1)
	PutAttendance(t, s, "acc", "deleted-going", messages.AttendanceGoing, 2)
	PutAttendance(t, s, "acc", "others", messages.AttendanceNone, 4)
	r1 := rem("acc", "reminded", notifications.StatusScheduled, ptr(60))
	r2 := rem("acc", "reminded", notifications.StatusAwaitingConsent, nil)
	rem("acc", "sent", notifications.StatusSent, nil)
	rem("acc", "cancelled", notifications.StatusCancelled, nil)
	rem("acc", "deleted", notifications.StatusCancelled, nil)
	rem("acc", "deleted-old", notifications.StatusCancelled, nil)
	rGoing := rem("acc", "going", notifications.StatusScheduled, ptr(1440))
	rem("other", "others", notifications.StatusScheduled, nil)
	PutAttendance(t, s, "other", "others", messages.AttendanceGoing, 1)
	deletedAt := cutoff.Add(time.Hour)
	markDeleted(t, s, "deleted", deletedAt)
	markDeleted(t, s, "deleted", deletedAt.Add(time.Hour)) // the first deletion stays
	markDeleted(t, s, "deleted-going", deletedAt)
	markDeleted(t, s, "deleted-old", cutoff)
	markDeleted(t, s, "missing", cutoff) // no snapshot: nothing happens

	events, rems, err := s.CalendarEvents(ctx, "acc", cutoff)
	if err != nil {
		t.Fatal(err)
	}
	wantEvents := []notifications.FeedEvent{ // soonest first
		{Event: evs["deleted-going"], DeletedAt: &deletedAt},
		{Event: evs["deleted"], DeletedAt: &deletedAt},
		{Event: evs["reminded"]},
		{Event: evs["going"]},
	}
	if diff := cmp.Diff(wantEvents, events); diff != "" {
		t.Errorf("CalendarEvents events mismatch (-want +got):\n%s", diff)
	}
	feedRem := func(r notifications.Reminder) notifications.FeedReminder {
		return notifications.FeedReminder{ID: r.ID, EventID: r.EventID, SendAt: r.SendAt, MinutesBefore: r.MinutesBefore,
			Note: r.Note, Status: r.Status}
	}
	wantRems := []notifications.FeedReminder{feedRem(rGoing), feedRem(r1), feedRem(r2)}
	if r2.ID < r1.ID {
		wantRems[1], wantRems[2] = wantRems[2], wantRems[1]
	}
	if diff := cmp.Diff(wantRems, rems); diff != "" {
		t.Errorf("CalendarEvents reminders mismatch (-want +got):\n%s", diff)
	}

	st, err := s.CalendarState(ctx, "acc", cutoff)
	if err != nil {
		t.Fatal(err)
	}
	var want notifications.FeedState
	for _, id := range []string{"deleted", "deleted-going", "going", "reminded"} { // by ID
		fe := notifications.FeedEvent{Event: messages.Event{ID: id, UpdatedAt: evs[id].UpdatedAt}}
		if id == "deleted" || id == "deleted-going" {
			fe.DeletedAt = &deletedAt
		}
		want.Events = append(want.Events, fe)
	}
	for _, r := range []notifications.Reminder{rGoing, r1, r2} {
		want.Reminders = append(want.Reminders, notifications.FeedReminder{ID: r.ID, EventID: r.EventID, SendAt: r.SendAt, Status: r.Status})
	}
	slices.SortFunc(want.Reminders, func(a, b notifications.FeedReminder) int { return strings.Compare(a.ID, b.ID) })
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("CalendarState mismatch (-want +got):\n%s", diff)
	}

	// Thirty days on, the deleted events are gone.
	if events, _, err := s.CalendarEvents(ctx, "acc", deletedAt); err != nil || len(events) != 2 {
		t.Errorf("CalendarEvents later: %d events, %v; want 2", len(events), err)
	}
	if st, err := s.CalendarState(ctx, "nobody", cutoff); err != nil || len(st.Events)+len(st.Reminders) != 0 {
		t.Errorf("CalendarState of an account without a feed = %+v, %v; want empty", st, err)
	}
}

// testSnapshotKeptWhileSomeoneGoes: deleting an account's reminders keeps the snapshot of an
// event that someone else goes to (their calendar feed shows it), and drops it once nobody
// needs it.
func testSnapshotKeptWhileSomeoneGoes(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	ev := event("shared", base.Add(48*time.Hour), base)
	create(t, s, reminder(t, "leaver", ev, base.Add(24*time.Hour), nil))
	PutAttendance(t, s, "leaver", "shared", messages.AttendanceGoing, 1)
	PutAttendance(t, s, "goer", "shared", messages.AttendanceGoing, 2)
	deleteReminders := func(account string) {
		update(t, s, func(ctx context.Context, tx notifications.Tx) error {
			_, err := tx.DeleteAccountReminders(ctx, account)
			return err
		})
	}
	deleteReminders("leaver")
	if events, _, err := s.CalendarEvents(ctx, "goer", base.Add(-time.Hour)); err != nil || len(events) != 1 || events[0].Event.ID != "shared" {
		t.Fatalf("goer's feed after another account's reminders went = %+v, %v; want the shared event", events, err)
	}

	// Nobody goes and nobody is reminded: the snapshot goes with the last reminder.
	other := event("alone", base.Add(48*time.Hour), base)
	create(t, s, reminder(t, "solo", other, base.Add(24*time.Hour), nil))
	PutAttendance(t, s, "solo", "alone", messages.AttendanceGoing, 1)
	deleteReminders("solo")
	var err error
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		_, err = tx.Snapshot(ctx, "alone")
		return nil
	})
	if !errors.Is(err, notifications.ErrEventNotFound) {
		t.Errorf("snapshot needed by nobody but the deleted account: %v; want ErrEventNotFound", err)
	}
}
