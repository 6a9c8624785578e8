package mailer_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/mailer/storetest"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

func openSQLite(t *testing.T) *mailer.SQLStore {
	t.Helper()
	s, err := mailer.Open(context.Background(), database.SQLite, filepath.Join(t.TempDir(), "mailer.db"), logging.Discard())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mailer.Store { return openSQLite(t) })
}

func TestSQLiteStoreReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailer.db")
	for range 2 { // the second open finds the schema in place
		s, err := mailer.Open(context.Background(), database.SQLite, path, logging.Discard())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
