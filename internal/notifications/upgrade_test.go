package notifications_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// schemaV2 is the notifications schema as it was before consent: migrations 00001 and 00002.
func schemaV2(t *testing.T, d database.Dialect) database.Schema {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, name := range []string{"00001_notifications.sql", "00002_trace_parent.sql"} {
		path := "migrations/" + d.String() + "/" + name
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fsys[path] = &fstest.MapFile{Data: b}
	}
	return database.Migrations(fsys, d)
}

// seedV2 stores, in a database of schema v2, a reminder of each state there was.
func seedV2(t *testing.T, db *sql.DB, d database.Dialect) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, d.Rebind(`INSERT INTO event_snapshots (id, organizer_id, starts_at, updated_at, body)
VALUES ('ev', 'org', 1, 1, '{"id":"ev","organizer_id":"org"}')`)); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"scheduled", "sending", "sent", "failed", "cancelled"} {
		if _, err := db.ExecContext(ctx, d.Rebind(`INSERT INTO reminders
	(id, account_id, event_id, email, send_at, note, status, created_at, trace_parent) VALUES (?, 'acc', 'ev', 'a@example.com', 5, '', ?, 1, 'tp')`),
			"r-"+st, st); err != nil {
			t.Fatal(err)
		}
	}
}

// checkUpgraded checks that the reminders of seedV2 survived the upgrade and that the new
// state is accepted.
func checkUpgraded(t *testing.T, s *notifications.SQLStore) {
	t.Helper()
	ctx := context.Background()
	for _, st := range []notifications.Status{"scheduled", "sending", "sent", "failed", "cancelled"} {
		r, err := s.Reminder(ctx, "r-"+string(st))
		if err != nil || r.Status != st || r.TraceParent != "tp" {
			t.Errorf("reminder r-%s after the upgrade: %+v, %v", st, r, err)
		}
	}
	r := dueReminder("awaiting", testEvent("ev2", now), now)
	r.Status = notifications.StatusAwaitingConsent
	if err := s.CreateReminder(ctx, r); err != nil {
		t.Errorf("an awaiting_consent reminder after the upgrade: %v", err)
	}
	r = dueReminder("bad", testEvent("ev2", now), now)
	r.Status = "waiting"
	if err := s.CreateReminder(ctx, r); err == nil {
		t.Error("an unknown status was stored: the CHECK constraint is gone")
	}
}

func TestSQLiteUpgradeFromV2KeepsReminders(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "n.db")
	db, err := database.OpenSQLite(ctx, path, logging.Discard(), schemaV2(t, database.SQLite))
	if err != nil {
		t.Fatal(err)
	}
	seedV2(t, db, database.SQLite)
	db.Close()
	checkUpgraded(t, openSQLiteAt(t, path))
}

func TestPostgresUpgradeFromV2KeepsReminders(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t, schemaV2(t, database.Postgres))
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	seedV2(t, db, database.Postgres)
	db.Close()
	checkUpgraded(t, openPostgres(t, url))
}

func openSQLiteAt(t *testing.T, path string) *notifications.SQLStore {
	t.Helper()
	s, err := notifications.Open(context.Background(), database.SQLite, path, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPostgresIdenticalRemindersAtOnce creates the same reminder from many requests at once
// on replicas sharing a database: exactly one is created, every other is a duplicate of it.
func TestPostgresIdenticalRemindersAtOnce(t *testing.T) {
	t.Parallel()
	url := newPostgresURL(t)
	const replicas = 4
	envs := make([]*env, replicas)
	for i := range envs {
		envs[i] = withEvents(newEnv(t, envOptions{store: openPostgres(t, url), noAccounts: i > 0}))
	}
	sendAt := now.Add(time.Hour).Format(time.RFC3339)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []string
		dups    []string
	)
	for i := range 3 * replicas {
		wg.Go(func() {
			email := []string{alice.email, "ALICE@example.com"}[i%2]
			r, err := envs[i%replicas].svc.Create(context.Background(), alice.id, alice.email,
				notifications.CreateInput{EventID: "ev-1", SendAt: &sendAt, Email: &email})
			mu.Lock()
			defer mu.Unlock()
			var d *notifications.DuplicateError
			switch {
			case err == nil:
				created = append(created, r.ID)
			case errors.As(err, &d):
				dups = append(dups, d.ID)
			default:
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	if len(created) != 1 {
		t.Fatalf("created %d reminders, want 1", len(created))
	}
	for _, id := range dups {
		if id != created[0] {
			t.Errorf("duplicate names %s, want %s", id, created[0])
		}
	}
	if len(dups) != 3*replicas-1 {
		t.Errorf("%d duplicates, want %d", len(dups), 3*replicas-1)
	}
}
