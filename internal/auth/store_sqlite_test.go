package auth_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/eventpost/eventpost/internal/auth"
	"github.com/eventpost/eventpost/internal/auth/storetest"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

func openSQLite(t testing.TB) *auth.SQLStore {
	t.Helper()
	s, err := auth.Open(context.Background(), database.SQLite, filepath.Join(t.TempDir(), "auth.db"), logging.Discard())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) auth.Store { return openSQLite(t) })
}

func TestSQLiteStoreReopensWithItsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "auth.db")
	s, err := auth.Open(ctx, database.SQLite, path, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	seq, err := s.RevokeSession(ctx, "s1", testBase)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = auth.Open(ctx, database.SQLite, path, logging.Discard())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	feed, err := s.Revocations(ctx, 0, testBase.Add(-1))
	if err != nil || feed.LastSeq != seq {
		t.Fatalf("after reopen: last seq %d, %v; want %d", feed.LastSeq, err, seq)
	}
}

// checkAccountsFromBefore inserts an account as the schema before confirmed addresses did
// (migration 00002) and checks how it reads now: unconfirmed, nothing pending, version 1.
func checkAccountsFromBefore(t *testing.T, s *auth.SQLStore) {
	t.Helper()
	ctx := context.Background()
	_, err := s.DB().ExecContext(ctx, s.Rebind(
		`INSERT INTO accounts (id, email, email_key, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
		"old", "Old@Example.com", "old@example.com", "Old", "hash", testBase.UnixMicro())
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.AccountByID(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	want := auth.Account{ID: "old", Email: "Old@Example.com", EmailKey: "old@example.com", DisplayName: "Old",
		PasswordHash: "hash", CreatedAt: testBase, Version: 1}
	if got != want {
		t.Errorf("account from before: %+v, want %+v", got, want)
	}
}

func TestSQLiteAccountsFromBeforeAreUnconfirmed(t *testing.T) {
	t.Parallel()
	checkAccountsFromBefore(t, openSQLite(t))
}
