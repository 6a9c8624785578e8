package notifications_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/notifications/storetest"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// openPostgres opens a store on the database at url, closed when t ends.
func openPostgres(t testing.TB, url string) *notifications.SQLStore {
	t.Helper()
	s, err := notifications.Open(context.Background(), database.Postgres, url, logging.Discard())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newPostgresURL returns a new database copied from the migrated template, dropped when t ends.
func newPostgresURL(t testing.TB) string {
	return pgtest.URL(t, notifications.PostgresSchemas()...)
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) notifications.Store { return openPostgres(t, newPostgresURL(t)) })
}

// TestPostgresMigrationsFromEmpty opens the store on an empty database with two replicas at
// once: every migration is applied exactly once, a later start applies nothing and finds the
// data in place.
func TestPostgresMigrationsFromEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := func(ctx context.Context, url string, log *slog.Logger) (io.Closer, error) {
		return notifications.Open(ctx, database.Postgres, url, log)
	}
	url := pgtest.MigrateFromEmpty(t, notifications.PostgresSchemas(), open)

	s := openPostgres(t, url)
	r := dueReminder("kept", testEvent("ev", now), now)
	if err := s.CreateReminder(ctx, r); err != nil {
		t.Fatalf("store on the migrated database: %v", err)
	}
	s.Close()

	s = pgtest.Reopen(t, url, open).(*notifications.SQLStore)
	if _, err := s.Reminder(ctx, r.ID); err != nil {
		t.Errorf("after reopen: %v", err)
	}
}

// dueReminder returns a scheduled reminder with ID id of ev, due at sendAt.
func dueReminder(id string, ev messages.Event, sendAt time.Time) notifications.Reminder {
	return notifications.Reminder{
		ID: id, AccountID: "acct", EventID: ev.ID, Email: "acct@example.com", SendAt: sendAt,
		Status: notifications.StatusScheduled, CreatedAt: now.Add(-time.Hour), Event: ev,
	}
}

func reminderMail(r notifications.Reminder) (broker.Message, error) {
	return broker.NewMessage(context.Background(), messages.TypeEmailSend,
		messages.EmailSend{IdempotencyKey: r.ID, ReminderID: r.ID})
}

func claimedIDs(rs []notifications.Reminder) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// TestPostgresClaimSkipsLockedReminders checks that a claim in progress holds up no other
// replica: while one claimer's transaction holds the earliest reminder, another claims the
// rest at once, without waiting, and neither gets the other's.
func TestPostgresClaimSkipsLockedReminders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newPostgresURL(t)
	replicaA, replicaB := openPostgres(t, url), openPostgres(t, url)
	ev := testEvent("ev", now.Add(time.Hour))
	for i := range 3 {
		r := dueReminder(fmt.Sprintf("r%d", i), ev, now.Add(time.Duration(i-10)*time.Minute))
		if err := replicaA.CreateReminder(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var gotB []notifications.Reminder
	gotA, err := replicaA.ClaimDue(ctx, now, 1, storetest.MailClaim(func(r notifications.Reminder) (broker.Message, error) {
		// r0 is locked by this claim until it commits. A replica that waited for it would
		// wait for ever, since this claim waits for the other replica: a deadline fails it.
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var err error
		if gotB, err = replicaB.ClaimDue(bctx, now, 10, storetest.MailClaim(reminderMail)); err != nil {
			return broker.Message{}, fmt.Errorf("second replica: %w", err)
		}
		return reminderMail(r)
	}))
	if err != nil {
		t.Fatalf("ClaimDue: %v", err)
	}
	if diff := cmp.Diff([]string{"r0"}, claimedIDs(gotA)); diff != "" {
		t.Errorf("first replica claimed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"r1", "r2"}, claimedIDs(gotB)); diff != "" {
		t.Errorf("second replica claimed (-want +got):\n%s", diff)
	}
	if msgs, err := outbox.Pending(ctx, replicaA.DB()); err != nil || len(msgs) != 3 {
		t.Errorf("outbox holds %d messages (%v), want 3", len(msgs), err)
	}
}

// TestPostgresClaimerKilledMidClaim checks that a replica that dies in the middle of a claim
// leaves nothing stuck: its connection ends, its transaction rolls back, and another replica
// claims the same reminders right away.
func TestPostgresClaimerKilledMidClaim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newPostgresURL(t)
	doomed, survivor := openPostgres(t, url), openPostgres(t, url)
	admin, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ev := testEvent("ev", now.Add(time.Hour))
	var want []string
	for i := range 5 {
		r := dueReminder(fmt.Sprintf("r%d", i), ev, now.Add(time.Duration(i-10)*time.Minute))
		if err := survivor.CreateReminder(ctx, r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r.ID)
	}
	killed := 0
	_, err = doomed.ClaimDue(ctx, now, 10, storetest.MailClaim(func(r notifications.Reminder) (broker.Message, error) {
		if killed == 0 {
			// The claim's transaction is the one session idle in a transaction. Its backend
			// is terminated as a crash would end it, and waited for (up to 5s) until it is
			// gone and its transaction rolled back.
			err := admin.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
				WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()`).Scan(&killed)
			if err != nil {
				return broker.Message{}, err
			}
		}
		return reminderMail(r)
	}))
	if killed != 1 {
		t.Fatalf("terminated %d sessions, want the claimer's one", killed)
	}
	if err == nil {
		t.Fatal("the killed claim succeeded")
	}
	got, err := survivor.ClaimDue(ctx, now, 10, storetest.MailClaim(reminderMail))
	if err != nil {
		t.Fatalf("claim after the kill: %v", err)
	}
	if diff := cmp.Diff(want, claimedIDs(got)); diff != "" {
		t.Errorf("claimed after the kill (-want +got):\n%s", diff)
	}
	msgs, err := outbox.Pending(ctx, survivor.DB())
	if err != nil || len(msgs) != len(want) {
		t.Errorf("outbox holds %d messages (%v), want %d: the killed claim left some", len(msgs), err, len(want))
	}
}

// TestPostgresChurnTablesVacuumEarly: the tables whose rows change state or come and go all
// the time are vacuumed long before autovacuum's default 20 % of the table has changed, so
// that dead entries do not pile up at the head of the indexes the scheduler and the relay
// read (issue 17).
func TestPostgresChurnTablesVacuumEarly(t *testing.T) {
	s := openPostgres(t, newPostgresURL(t))
	for table, want := range map[string]string{
		"reminders": "autovacuum_vacuum_scale_factor=0.01",
		"outbox":    "autovacuum_vacuum_scale_factor=0",
	} {
		if got := pgtest.TableOptions(t, s.DB(), table); !strings.Contains(","+got+",", ","+want+",") {
			t.Errorf("%s has storage parameters %q, want %s", table, got, want)
		}
	}
}
