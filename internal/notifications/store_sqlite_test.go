package notifications_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/notifications/storetest"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// openSQLite opens a store in a fresh database under t.TempDir(), closed at cleanup.
func openSQLite(t *testing.T) *notifications.SQLStore {
	t.Helper()
	s, err := notifications.Open(context.Background(), database.SQLite, filepath.Join(t.TempDir(), "notifications.db"), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) notifications.Store { return openSQLite(t) })
}

func TestOpenSQLiteTwiceKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "n.db")
	for i := range 2 {
		s, err := notifications.Open(ctx, database.SQLite, path, logging.Discard())
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if _, err := s.DB().ExecContext(ctx, `INSERT INTO inbox (message_id, handled_at) VALUES (?, 0)`, i); err != nil {
			t.Fatalf("open %d: outbox tables missing: %v", i, err)
		}
		var n int
		if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM inbox`).Scan(&n); err != nil || n != i+1 {
			t.Fatalf("open %d: %d inbox rows, %v; want %d", i, n, err, i+1)
		}
		s.Close()
	}
}
