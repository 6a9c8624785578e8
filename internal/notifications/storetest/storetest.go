// Package storetest is the contract suite of notifications.Store: every implementation
// (SQLite, PostgreSQL) runs the same tests, so that they behave alike.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/outbox/outboxtest"
)

// Run runs the contract suite. open returns a new, empty store that also implements
// outboxtest.DBer, to read the outbox that the store writes to (every store has it, since the
// app builds the outbox relay on it); it is closed by open's own cleanup.
func Run(t *testing.T, open func(t *testing.T) notifications.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s notifications.Store)
	}{
		{"CreateAndReadBack", testCreateAndReadBack},
		{"MissingIsAnError", testMissingIsAnError},
		{"CreateKeepsNewerSnapshot", testCreateKeepsNewerSnapshot},
		{"CreateDuplicateIDFails", testCreateDuplicateIDFails},
		{"List", testList},
		{"ListPages", testListPages},
		{"ListPagesStableWhileChanging", testListPagesStableWhileChanging},
		{"ListPagesWithFilters", testListPagesWithFilters},
		{"NextSendAtAndCount", testNextSendAtAndCount},
		{"ClaimDue", testClaimDue},
		{"ClaimDueMailErrorClaimsNothing", testClaimDueMailError},
		{"ClaimDueConcurrentClaimersNeverShare", testClaimDueConcurrent},
		{"UpdateCommitsOrRollsBack", testUpdateCommitsOrRollsBack},
		{"UpdateLocksWhatItReads", testUpdateLocksWhatItReads},
		{"FirstDelivery", testFirstDelivery},
		{"EventReminders", testEventReminders},
		{"PutSnapshotAndSetSendAt", testPutSnapshotAndSetSendAt},
		{"Transition", testTransition(transitionInTx)},
		{"StoreTransition", testTransition(transitionAlone)},
		{"DeleteReminder", testDeleteReminder},
		{"DeleteAccountReminders", testDeleteAccountReminders},
		{"Accounts", testAccounts},
		{"Recipients", testRecipients},
		{"AccountQueries", testAccountQueries},
		{"CancelUnconsented", testCancelUnconsented},
		{"ClaimDueDecides", testClaimDueDecides},
		{"CalendarTokens", testCalendarTokens},
		{"CalendarFeed", testCalendarFeed},
		{"SnapshotKeptWhileSomeoneGoes", testSnapshotKeptWhileSomeoneGoes},
		{"Attendances", testAttendances},
		{"CancelDefaultReminders", testCancelDefaultReminders},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if _, ok := s.(outboxtest.DBer); !ok {
				t.Fatalf("%T does not implement outboxtest.DBer", s)
			}
			tc.fn(t, s)
		})
	}
}

// base is a fixed time the fixtures are built around; the store must not care about the
// real clock.
var base = time.Date(2030, 3, 1, 18, 30, 0, 123456000, time.UTC)

func ptr[T any](v T) *T { return &v }

func newID(t *testing.T) string {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// event returns a fully populated snapshot.
func event(id string, startsAt, updatedAt time.Time) messages.Event {
	return messages.Event{
		ID: id, OrganizerID: "organizer-" + id, Title: "Title of " + id, Description: "Bring snacks",
		StartsAt: startsAt, EndsAt: ptr(startsAt.Add(2 * time.Hour)), Timezone: "Europe/Paris",
		Location:  &messages.Location{Name: "Hall", Address: "1 Main St", Lat: ptr(48.85), Lon: ptr(2.35)},
		OnlineURL: ptr("https://example.com/live"), Category: ptr("music"), Tags: []string{"jazz", "live"},
		CreatedAt: base.Add(-48 * time.Hour), UpdatedAt: updatedAt,
	}
}

// reminder returns a scheduled reminder of ev for account, due at sendAt.
func reminder(t *testing.T, account string, ev messages.Event, sendAt time.Time, minutes *int) notifications.Reminder {
	return notifications.Reminder{
		ID: newID(t), AccountID: account, EventID: ev.ID, Email: account + "@example.com",
		SendAt: sendAt, MinutesBefore: minutes, Note: "note of " + account,
		Status: notifications.StatusScheduled, CreatedAt: base.Add(-time.Hour), Event: ev,
	}
}

func create(t *testing.T, s notifications.Store, rs ...notifications.Reminder) {
	t.Helper()
	for _, r := range rs {
		if err := s.CreateReminder(context.Background(), r); err != nil {
			t.Fatalf("CreateReminder(%s): %v", r.ID, err)
		}
	}
}

func get(t *testing.T, s notifications.Store, id string) notifications.Reminder {
	t.Helper()
	r, err := s.Reminder(context.Background(), id)
	if err != nil {
		t.Fatalf("Reminder(%s): %v", id, err)
	}
	return r
}

func update(t *testing.T, s notifications.Store, fn func(ctx context.Context, tx notifications.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx notifications.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// MailClaim returns the ClaimDue decision that sends every reminder with the message mail
// returns for it.
func MailClaim(mail func(notifications.Reminder) (broker.Message, error)) func(notifications.Tx, notifications.Reminder) (notifications.Claim, error) {
	return func(_ notifications.Tx, r notifications.Reminder) (notifications.Claim, error) {
		m, err := mail(r)
		return notifications.Claim{Mail: &m}, err
	}
}

func ids(rs []notifications.Reminder) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func testCreateAndReadBack(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	// Times in another zone and with nanoseconds come back in UTC, truncated to microseconds.
	paris := time.FixedZone("CET", 3600)
	ev := event("ev-1", base.In(paris), base.Add(-time.Minute).Add(789*time.Nanosecond))
	rel := reminder(t, "alice", ev, base.Add(-30*time.Minute).Add(999*time.Nanosecond), ptr(30))
	rel.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	abs := reminder(t, "alice", ev, base.Add(-24*time.Hour), nil)
	abs.Note = "" // and no trace parent
	create(t, s, rel, abs)

	wantEvent := ev
	wantEvent.StartsAt = base
	wantEvent.UpdatedAt = base.Add(-time.Minute)
	tests := []struct {
		name string
		in   notifications.Reminder
	}{
		{"relative, with its trace parent", rel},
		{"absolute without note nor trace parent", abs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(t, s, tt.in.ID)
			want := tt.in
			want.SendAt = want.SendAt.UTC().Truncate(time.Microsecond)
			want.Event = wantEvent
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Reminder() mismatch (-want +got):\n%s", diff)
			}
			if got.SendAt.Location() != time.UTC || got.CreatedAt.Location() != time.UTC || got.Event.StartsAt.Location() != time.UTC {
				t.Errorf("times not in UTC: %v %v %v", got.SendAt, got.CreatedAt, got.Event.StartsAt)
			}
		})
	}
	snap, err := s.Snapshot(ctx, ev.ID)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if diff := cmp.Diff(wantEvent, snap); diff != "" {
		t.Errorf("Snapshot() mismatch (-want +got):\n%s", diff)
	}
}

func testMissingIsAnError(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"Reminder", func() error { _, err := s.Reminder(ctx, "nope"); return err }, notifications.ErrNotFound},
		{"Snapshot", func() error { _, err := s.Snapshot(ctx, "nope"); return err }, notifications.ErrEventNotFound},
		{"Tx.Reminder", func() error {
			return s.Update(ctx, func(tx notifications.Tx) error { _, err := tx.Reminder(ctx, "nope"); return err })
		}, notifications.ErrNotFound},
		{"Tx.Snapshot", func() error {
			return s.Update(ctx, func(tx notifications.Tx) error { _, err := tx.Snapshot(ctx, "nope"); return err })
		}, notifications.ErrEventNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Errorf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

func testCreateKeepsNewerSnapshot(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	v2 := event("ev", base, base.Add(2*time.Minute))
	v2.Title = "v2"
	v1 := event("ev", base.Add(time.Hour), base.Add(time.Minute))
	v1.Title = "v1"
	v3 := event("ev", base.Add(2*time.Hour), base.Add(3*time.Minute))
	v3.Title = "v3"
	steps := []struct {
		name string
		ev   messages.Event
		want string
	}{
		{"first snapshot is stored", v2, "v2"},
		{"an older one is ignored", v1, "v2"},
		{"a newer one replaces it", v3, "v3"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			create(t, s, reminder(t, "bob", st.ev, base.Add(-time.Hour), nil))
			got, err := s.Snapshot(ctx, "ev")
			if err != nil {
				t.Fatal(err)
			}
			if got.Title != st.want {
				t.Errorf("snapshot title = %q, want %q", got.Title, st.want)
			}
		})
	}
	// Every reminder shows the one stored snapshot.
	rs, err := s.ListReminders(ctx, notifications.ListFilter{AccountID: "bob", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Event.Title != "v3" || !r.Event.StartsAt.Equal(v3.StartsAt) {
			t.Errorf("reminder %s shows event %q at %v, want v3", r.ID, r.Event.Title, r.Event.StartsAt)
		}
	}
}

func testCreateDuplicateIDFails(t *testing.T, s notifications.Store) {
	r := reminder(t, "alice", event("ev", base, base), base.Add(-time.Hour), nil)
	create(t, s, r)
	dup := r
	dup.Note = "other"
	if err := s.CreateReminder(context.Background(), dup); err == nil {
		t.Fatal("CreateReminder with a taken ID succeeded")
	}
	if got := get(t, s, r.ID); got.Note != r.Note {
		t.Errorf("note = %q, want %q: the failed create changed the reminder", got.Note, r.Note)
	}
}

func testList(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	e1 := event("e1", base, base)
	e2 := event("e2", base.Add(time.Hour), base)
	late := reminder(t, "alice", e1, base.Add(-time.Minute), nil)
	early := reminder(t, "alice", e2, base.Add(-2*time.Hour), nil)
	// Same send_at: the ID orders them.
	sameE1 := reminder(t, "alice", e1, base.Add(-time.Hour), nil)
	sameE2 := reminder(t, "alice", e2, base.Add(-time.Hour), nil)
	sameE2.Status = notifications.StatusCancelled
	other := reminder(t, "bob", e1, base.Add(-3*time.Hour), nil)
	create(t, s, late, sameE2, other, early, sameE1)
	same := []string{sameE1.ID, sameE2.ID}
	if sameE1.ID > sameE2.ID {
		same = []string{sameE2.ID, sameE1.ID}
	}
	tests := []struct {
		name string
		f    notifications.ListFilter
		want []string
	}{
		{"own only, soonest first then by id", notifications.ListFilter{AccountID: "alice"},
			[]string{early.ID, same[0], same[1], late.ID}},
		{"by status", notifications.ListFilter{AccountID: "alice", Status: notifications.StatusCancelled},
			[]string{sameE2.ID}},
		{"by event", notifications.ListFilter{AccountID: "alice", EventID: "e1"}, []string{sameE1.ID, late.ID}},
		{"by status and event", notifications.ListFilter{AccountID: "alice", Status: notifications.StatusScheduled, EventID: "e2"},
			[]string{early.ID}},
		{"other account", notifications.ListFilter{AccountID: "bob"}, []string{other.ID}},
		{"nobody's", notifications.ListFilter{AccountID: "carol"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Limit = 100
			got, err := s.ListReminders(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("ListReminders(%+v) mismatch (-want +got):\n%s", tt.f, diff)
			}
		})
	}
	got, err := s.ListReminders(ctx, notifications.ListFilter{AccountID: "bob", Limit: 100})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListReminders(bob) = %v, %v", got, err)
	}
	want := other
	want.Event = e1
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("listed reminder mismatch (-want +got):\n%s", diff)
	}
}

func testNextSendAtAndCount(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	check := func(t *testing.T, wantNext time.Time, wantOK bool, wantCount int) {
		t.Helper()
		next, ok, err := s.NextSendAt(ctx)
		if err != nil || ok != wantOK || !next.Equal(wantNext) {
			t.Errorf("NextSendAt() = %v, %v, %v; want %v, %v, nil", next, ok, err, wantNext, wantOK)
		}
		n, err := s.CountScheduled(ctx)
		if err != nil || n != wantCount {
			t.Errorf("CountScheduled() = %d, %v; want %d", n, err, wantCount)
		}
	}
	t.Run("empty", func(t *testing.T) { check(t, time.Time{}, false, 0) })
	ev := event("ev", base, base)
	cancelled := reminder(t, "a", ev, base.Add(-3*time.Hour), nil)
	cancelled.Status = notifications.StatusCancelled
	sending := reminder(t, "a", ev, base.Add(-2*time.Hour), nil)
	sending.Status = notifications.StatusSending
	first := reminder(t, "a", ev, base.Add(-time.Hour), nil)
	second := reminder(t, "b", ev, base.Add(-time.Minute), nil)
	create(t, s, cancelled, sending, second, first)
	t.Run("earliest scheduled only", func(t *testing.T) { check(t, first.SendAt, true, 2) })
}

func testClaimDue(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	ev := event("ev", base, base)
	due1 := reminder(t, "a", ev, base.Add(-2*time.Hour), ptr(120))
	due1.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	due2 := reminder(t, "b", ev, base.Add(-time.Hour), nil)
	due3 := reminder(t, "c", ev, base.Add(-time.Hour), nil) // due exactly at now
	notDue := reminder(t, "d", ev, base.Add(-time.Hour+time.Microsecond), nil)
	cancelled := reminder(t, "e", ev, base.Add(-3*time.Hour), nil)
	cancelled.Status = notifications.StatusCancelled
	create(t, s, notDue, due3, cancelled, due2, due1)
	now := base.Add(-time.Hour)
	if due2.ID > due3.ID {
		due2, due3 = due3, due2
	}

	var mailed []notifications.Reminder
	mail := func(r notifications.Reminder) (broker.Message, error) {
		mailed = append(mailed, r)
		return broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{IdempotencyKey: r.ID, ReminderID: r.ID})
	}
	claim := func(t *testing.T, limit int) []string {
		t.Helper()
		got, err := s.ClaimDue(ctx, now, limit, MailClaim(mail))
		if err != nil {
			t.Fatalf("ClaimDue: %v", err)
		}
		for _, r := range got {
			if r.Status != notifications.StatusSending {
				t.Errorf("claimed reminder %s has status %s, want sending", r.ID, r.Status)
			}
			if r.Event.ID != ev.ID || r.Event.Title != ev.Title {
				t.Errorf("claimed reminder %s lacks its snapshot: %+v", r.ID, r.Event)
			}
		}
		return ids(got)
	}
	steps := []struct {
		name  string
		limit int
		want  []string
	}{
		{"earliest first, up to the limit", 2, []string{due1.ID, due2.ID}},
		{"the rest that is due", 10, []string{due3.ID}},
		{"nothing twice", 10, []string{}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if diff := cmp.Diff(st.want, claim(t, st.limit)); diff != "" {
				t.Errorf("ClaimDue mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff([]string{due1.ID, due2.ID, due3.ID}, ids(mailed)); diff != "" {
		t.Errorf("mail called for (-want +got):\n%s", diff)
	}
	if len(mailed) == 3 {
		got := []string{mailed[0].TraceParent, mailed[1].TraceParent, mailed[2].TraceParent}
		if diff := cmp.Diff([]string{due1.TraceParent, "", ""}, got); diff != "" {
			t.Errorf("mail given trace parents (-want +got):\n%s", diff)
		}
	}
	var keys []string
	for _, m := range outboxtest.Messages(t, s) {
		var p messages.EmailSend
		if err := m.Decode(&p); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, p.IdempotencyKey)
	}
	if diff := cmp.Diff([]string{due1.ID, due2.ID, due3.ID}, keys); diff != "" {
		t.Errorf("outbox mismatch (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		r    notifications.Reminder
		want notifications.Status
	}{
		{due1, notifications.StatusSending}, {due2, notifications.StatusSending}, {due3, notifications.StatusSending},
		{notDue, notifications.StatusScheduled}, {cancelled, notifications.StatusCancelled},
	} {
		if got := get(t, s, tc.r.ID).Status; got != tc.want {
			t.Errorf("reminder due %v: status %s, want %s", tc.r.SendAt, got, tc.want)
		}
	}
}

func testClaimDueMailError(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	ev := event("ev", base, base)
	a := reminder(t, "a", ev, base.Add(-2*time.Hour), nil)
	b := reminder(t, "b", ev, base.Add(-time.Hour), nil)
	create(t, s, a, b)
	boom := errors.New("boom")
	calls := 0
	_, err := s.ClaimDue(ctx, base, 10, MailClaim(func(r notifications.Reminder) (broker.Message, error) {
		calls++
		if calls == 2 {
			return broker.Message{}, boom
		}
		return broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{IdempotencyKey: r.ID})
	}))
	if !errors.Is(err, boom) {
		t.Fatalf("ClaimDue error = %v, want boom", err)
	}
	for _, r := range []notifications.Reminder{a, b} {
		if got := get(t, s, r.ID).Status; got != notifications.StatusScheduled {
			t.Errorf("reminder %s: status %s after a failed claim, want scheduled", r.ID, got)
		}
	}
	if n := len(outboxtest.Messages(t, s)); n != 0 {
		t.Errorf("outbox holds %d messages after a failed claim, want 0", n)
	}
}

// testClaimDueConcurrent has several claimers (as several scheduler replicas would) claim
// many due reminders at once, each in small batches until nothing is left: every due
// reminder is claimed exactly once, with exactly one email in the outbox, and none that is
// not due.
func testClaimDueConcurrent(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	ev := event("ev", base, base)
	const (
		due, notDue = 300, 20
		claimers    = 6
		batch       = 7
	)
	want := map[string]bool{}
	for i := range due + notDue {
		sendAt := base.Add(-time.Duration(i) * time.Second)
		if i >= due {
			sendAt = base.Add(time.Duration(i) * time.Microsecond)
		}
		r := reminder(t, fmt.Sprint("acct", i%3), ev, sendAt, nil)
		create(t, s, r)
		want[r.ID] = i < due
	}
	var (
		mu      sync.Mutex
		got     = map[string]int{}
		batches = make([]int, claimers)
		wg      sync.WaitGroup
	)
	for c := range claimers {
		wg.Go(func() {
			for {
				rs, err := s.ClaimDue(ctx, base, batch, MailClaim(func(r notifications.Reminder) (broker.Message, error) {
					return broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{IdempotencyKey: r.ID})
				}))
				if err != nil {
					t.Errorf("claimer %d: ClaimDue: %v", c, err)
					return
				}
				if len(rs) == 0 {
					return
				}
				if len(rs) > batch {
					t.Errorf("claimer %d claimed %d reminders at once, more than the limit %d", c, len(rs), batch)
				}
				mu.Lock()
				batches[c]++
				for _, r := range rs {
					got[r.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for id, isDue := range want {
		switch {
		case isDue && got[id] != 1:
			t.Errorf("due reminder %s claimed %d times, want 1", id, got[id])
		case !isDue && got[id] != 0:
			t.Errorf("reminder %s claimed %d times before it was due", id, got[id])
		}
	}
	keys := map[string]int{}
	for _, m := range outboxtest.Messages(t, s) {
		var p messages.EmailSend
		if err := m.Decode(&p); err != nil {
			t.Fatal(err)
		}
		keys[p.IdempotencyKey]++
	}
	if len(keys) != due {
		t.Errorf("outbox holds emails for %d reminders, want %d", len(keys), due)
	}
	for key, n := range keys {
		if n != 1 || !want[key] {
			t.Errorf("outbox holds %d emails for reminder %s (due: %v), want 1 for each due one", n, key, want[key])
		}
	}
	if n, err := s.CountScheduled(ctx); err != nil || n != notDue {
		t.Errorf("CountScheduled() = %d, %v; want the %d not yet due", n, err, notDue)
	}
	t.Logf("claims per claimer: %v", batches)
}

func testUpdateCommitsOrRollsBack(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	r := reminder(t, "a", event("ev", base, base), base.Add(-time.Hour), nil)
	create(t, s, r)
	boom := errors.New("boom")
	msg, err := broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx notifications.Tx) error {
		if _, err := tx.Transition(ctx, r.ID, notifications.StatusScheduled, notifications.StatusCancelled, nil, ""); err != nil {
			return err
		}
		if err := tx.AddMessages(ctx, msg); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want boom", err)
	}
	t.Run("rolled back", func(t *testing.T) {
		if got := get(t, s, r.ID).Status; got != notifications.StatusScheduled {
			t.Errorf("status = %s after rollback, want scheduled", got)
		}
		if n := len(outboxtest.Messages(t, s)); n != 0 {
			t.Errorf("outbox holds %d messages after rollback, want 0", n)
		}
	})
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		if _, err := tx.Transition(ctx, r.ID, notifications.StatusScheduled, notifications.StatusCancelled, nil, ""); err != nil {
			return err
		}
		return tx.AddMessages(ctx, msg)
	})
	t.Run("committed", func(t *testing.T) {
		if got := get(t, s, r.ID).Status; got != notifications.StatusCancelled {
			t.Errorf("status = %s after commit, want cancelled", got)
		}
		msgs := outboxtest.Messages(t, s)
		if len(msgs) != 1 || msgs[0].ID != msg.ID {
			t.Errorf("outbox = %+v, want the one message %s", msgs, msg.ID)
		}
	})
}

// testUpdateLocksWhatItReads runs concurrent read-modify-write transactions, as concurrent
// consumers do: each reads through the Tx and writes back what it read, moved on by one
// second. What a Tx reads is locked until it ends, so no update is lost.
func testUpdateLocksWhatItReads(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	const workers, each = 6, 5
	tests := []struct {
		name string
		// step reads what it changes through tx and moves it on by a second.
		step func(ctx context.Context, tx notifications.Tx, r notifications.Reminder) error
		// moved reads how far it went.
		moved func(t *testing.T, r notifications.Reminder) time.Duration
	}{
		{"Reminder", func(ctx context.Context, tx notifications.Tx, r notifications.Reminder) error {
			got, err := tx.Reminder(ctx, r.ID)
			if err != nil {
				return err
			}
			return tx.SetSendAt(ctx, r.ID, got.SendAt.Add(time.Second))
		}, func(t *testing.T, r notifications.Reminder) time.Duration {
			return get(t, s, r.ID).SendAt.Sub(r.SendAt)
		}},
		{"EventReminders", func(ctx context.Context, tx notifications.Tx, r notifications.Reminder) error {
			rs, err := tx.EventReminders(ctx, r.EventID, notifications.StatusScheduled)
			if err != nil {
				return err
			}
			for _, got := range rs {
				if err := tx.SetSendAt(ctx, got.ID, got.SendAt.Add(time.Second)); err != nil {
					return err
				}
			}
			return nil
		}, func(t *testing.T, r notifications.Reminder) time.Duration {
			return get(t, s, r.ID).SendAt.Sub(r.SendAt)
		}},
		{"Snapshot", func(ctx context.Context, tx notifications.Tx, r notifications.Reminder) error {
			ev, err := tx.Snapshot(ctx, r.EventID)
			if err != nil {
				return err
			}
			ev.UpdatedAt = ev.UpdatedAt.Add(time.Second)
			return tx.PutSnapshot(ctx, ev)
		}, func(t *testing.T, r notifications.Reminder) time.Duration {
			ev, err := s.Snapshot(ctx, r.EventID)
			if err != nil {
				t.Fatal(err)
			}
			return ev.UpdatedAt.Sub(r.Event.UpdatedAt)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := event("ev-"+tt.name, base, base)
			r := reminder(t, "a", ev, base.Add(-time.Hour), nil)
			create(t, s, r, reminder(t, "b", ev, base.Add(-time.Hour), nil))
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range each {
						if err := s.Update(ctx, func(tx notifications.Tx) error { return tt.step(ctx, tx, r) }); err != nil {
							t.Errorf("Update: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			if got, want := tt.moved(t, r), workers*each*time.Second; got != want {
				t.Errorf("moved by %v after %d read-modify-write transactions, want %v: updates were lost", got, workers*each, want)
			}
		})
	}
}

func testFirstDelivery(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	first := func(id string, fail bool) (bool, error) {
		var got bool
		err := s.Update(ctx, func(tx notifications.Tx) error {
			var err error
			got, err = tx.FirstDelivery(ctx, id)
			if err == nil && fail {
				err = errors.New("handler failed")
			}
			return err
		})
		return got, err
	}
	steps := []struct {
		name    string
		id      string
		fail    bool
		want    bool
		wantErr bool
	}{
		{"first delivery, handler fails", "m1", true, true, true},
		{"after a rollback it is still the first", "m1", false, true, false},
		{"redelivery", "m1", false, false, false},
		{"another message", "m2", false, true, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, err := first(st.id, st.fail)
			if (err != nil) != st.wantErr || got != st.want {
				t.Errorf("FirstDelivery(%s) = %v, %v; want %v (error %v)", st.id, got, err, st.want, st.wantErr)
			}
		})
	}
}

func testEventReminders(t *testing.T, s notifications.Store) {
	e1, e2 := event("e1", base, base), event("e2", base, base)
	a := reminder(t, "a", e1, base.Add(-time.Minute), nil)
	b := reminder(t, "b", e1, base.Add(-time.Hour), ptr(60))
	c := reminder(t, "c", e1, base.Add(-time.Hour), nil)
	c.Status = notifications.StatusSent
	c.SentAt = ptr(base.Add(-time.Hour))
	d := reminder(t, "d", e2, base.Add(-time.Hour), nil)
	create(t, s, b, a, c, d)
	want := []string{a.ID, b.ID}
	if a.ID > b.ID {
		want = []string{b.ID, a.ID}
	}
	tests := []struct {
		name   string
		event  string
		status notifications.Status
		want   []string
	}{
		{"scheduled ones, by id", "e1", notifications.StatusScheduled, want},
		{"sent ones", "e1", notifications.StatusSent, []string{c.ID}},
		{"other event", "e2", notifications.StatusScheduled, []string{d.ID}},
		{"none", "e3", notifications.StatusScheduled, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			update(t, s, func(ctx context.Context, tx notifications.Tx) error {
				rs, err := tx.EventReminders(ctx, tt.event, tt.status)
				if err != nil {
					return err
				}
				if diff := cmp.Diff(tt.want, ids(rs)); diff != "" {
					t.Errorf("EventReminders mismatch (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		got, err := tx.Reminder(ctx, c.ID)
		if err != nil {
			return err
		}
		wantC := c
		if diff := cmp.Diff(wantC, got); diff != "" {
			t.Errorf("Tx.Reminder mismatch (-want +got):\n%s", diff)
		}
		return nil
	})
}

func testPutSnapshotAndSetSendAt(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	ev := event("ev", base, base.Add(time.Hour))
	r := reminder(t, "a", ev, base.Add(-time.Hour), ptr(60))
	create(t, s, r)
	older := event("ev", base.Add(24*time.Hour), base)
	older.Title = "moved"
	newSendAt := base.Add(23 * time.Hour)
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		if err := tx.PutSnapshot(ctx, older); err != nil {
			return err
		}
		got, err := tx.Snapshot(ctx, "ev")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(older, got); diff != "" {
			t.Errorf("Tx.Snapshot after PutSnapshot mismatch (-want +got):\n%s", diff)
		}
		return tx.SetSendAt(ctx, r.ID, newSendAt)
	})
	got := get(t, s, r.ID)
	if !got.SendAt.Equal(newSendAt) || got.Event.Title != "moved" {
		t.Errorf("after update: send_at %v, event %q; want %v, moved", got.SendAt, got.Event.Title, newSendAt)
	}
	next, ok, err := s.NextSendAt(ctx)
	if err != nil || !ok || !next.Equal(newSendAt) {
		t.Errorf("NextSendAt() = %v, %v, %v; want %v", next, ok, err, newSendAt)
	}
}

// transitioner moves a reminder from one status to another, as Tx.Transition does.
type transitioner func(t *testing.T, s notifications.Store, id string, from, to notifications.Status, sentAt *time.Time, lastError string) bool

// transitionInTx uses Tx.Transition inside Store.Update.
func transitionInTx(t *testing.T, s notifications.Store, id string, from, to notifications.Status, sentAt *time.Time, lastError string) bool {
	var ok bool
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		var err error
		ok, err = tx.Transition(ctx, id, from, to, sentAt, lastError)
		return err
	})
	return ok
}

// transitionAlone uses Store.Transition.
func transitionAlone(t *testing.T, s notifications.Store, id string, from, to notifications.Status, sentAt *time.Time, lastError string) bool {
	ok, err := s.Transition(context.Background(), id, from, to, sentAt, lastError)
	if err != nil {
		t.Fatalf("Transition: %v", err)
	}
	return ok
}

func testTransition(via transitioner) func(t *testing.T, s notifications.Store) {
	return func(t *testing.T, s notifications.Store) { testTransitionVia(t, s, via) }
}

func testTransitionVia(t *testing.T, s notifications.Store, via transitioner) {
	ev := event("ev", base, base)
	sending := reminder(t, "a", ev, base.Add(-time.Hour), nil)
	sending.Status = notifications.StatusSending
	failing := reminder(t, "a", ev, base.Add(-time.Hour), nil)
	failing.Status = notifications.StatusSending
	scheduled := reminder(t, "a", ev, base.Add(-time.Hour), nil)
	create(t, s, sending, failing, scheduled)
	sentAt := base.Add(-time.Hour + time.Second)
	tests := []struct {
		name       string
		id         string
		from, to   notifications.Status
		sentAt     *time.Time
		lastError  string
		wantOK     bool
		wantStatus notifications.Status
		wantSentAt *time.Time
		wantError  string
	}{
		{"sending to sent", sending.ID, notifications.StatusSending, notifications.StatusSent, &sentAt, "",
			true, notifications.StatusSent, &sentAt, ""},
		{"sent again changes nothing", sending.ID, notifications.StatusSending, notifications.StatusFailed, nil, "late",
			false, notifications.StatusSent, &sentAt, ""},
		{"sending to failed", failing.ID, notifications.StatusSending, notifications.StatusFailed, nil, "mailbox full",
			true, notifications.StatusFailed, nil, "mailbox full"},
		{"wrong state changes nothing", scheduled.ID, notifications.StatusSending, notifications.StatusSent, &sentAt, "",
			false, notifications.StatusScheduled, nil, ""},
		{"scheduled to cancelled", scheduled.ID, notifications.StatusScheduled, notifications.StatusCancelled, nil, "",
			true, notifications.StatusCancelled, nil, ""},
		{"missing reminder", "nope", notifications.StatusScheduled, notifications.StatusCancelled, nil, "",
			false, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ok := via(t, s, tt.id, tt.from, tt.to, tt.sentAt, tt.lastError); ok != tt.wantOK {
				t.Errorf("Transition() = %v, want %v", ok, tt.wantOK)
			}
			if tt.wantStatus == "" {
				return
			}
			got := get(t, s, tt.id)
			if got.Status != tt.wantStatus || got.LastError != tt.wantError || !cmp.Equal(got.SentAt, tt.wantSentAt) {
				t.Errorf("reminder = %s, sent_at %v, error %q; want %s, %v, %q",
					got.Status, got.SentAt, got.LastError, tt.wantStatus, tt.wantSentAt, tt.wantError)
			}
		})
	}
}

func testDeleteReminder(t *testing.T, s notifications.Store) {
	ev := event("ev", base, base)
	a := reminder(t, "a", ev, base.Add(-time.Hour), nil)
	b := reminder(t, "a", ev, base.Add(-time.Hour), nil)
	create(t, s, a, b)
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		if err := tx.DeleteReminder(ctx, a.ID); err != nil {
			return err
		}
		return tx.DeleteReminder(ctx, "nope")
	})
	if _, err := s.Reminder(context.Background(), a.ID); !errors.Is(err, notifications.ErrNotFound) {
		t.Errorf("deleted reminder: error %v, want ErrNotFound", err)
	}
	get(t, s, b.ID)
}

func testDeleteAccountReminders(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	shared, own := event("shared", base, base), event("own", base, base)
	var gone []notifications.Reminder
	for _, st := range []notifications.Status{notifications.StatusScheduled, notifications.StatusSending,
		notifications.StatusSent, notifications.StatusFailed, notifications.StatusCancelled} {
		r := reminder(t, "leaver", shared, base.Add(-time.Hour), nil)
		r.Status = st
		gone = append(gone, r)
	}
	gone = append(gone, reminder(t, "leaver", own, base.Add(-time.Hour), nil))
	kept := reminder(t, "stayer", shared, base.Add(-time.Hour), nil)
	create(t, s, gone...)
	create(t, s, kept)
	var n int
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		var err error
		n, err = tx.DeleteAccountReminders(ctx, "leaver")
		return err
	})
	if n != len(gone) {
		t.Errorf("DeleteAccountReminders() = %d, want %d", n, len(gone))
	}
	for _, r := range gone {
		if _, err := s.Reminder(ctx, r.ID); !errors.Is(err, notifications.ErrNotFound) {
			t.Errorf("%s reminder of the deleted account: error %v, want ErrNotFound", r.Status, err)
		}
	}
	get(t, s, kept.ID)
	if _, err := s.Snapshot(ctx, "own"); !errors.Is(err, notifications.ErrEventNotFound) {
		t.Errorf("snapshot no reminder refers to: error %v, want ErrEventNotFound", err)
	}
	if _, err := s.Snapshot(ctx, "shared"); err != nil {
		t.Errorf("snapshot still referred to: %v", err)
	}
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		n, err := tx.DeleteAccountReminders(ctx, "nobody")
		if n != 0 {
			t.Errorf("DeleteAccountReminders(nobody) = %d, want 0", n)
		}
		return err
	})
}
