package database_test

import (
	"context"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

func TestRebind(t *testing.T) {
	tests := []struct {
		d    database.Dialect
		in   string
		want string
	}{
		{database.SQLite, "SELECT ? , ?", "SELECT ? , ?"},
		{database.Postgres, "SELECT ? , ?", "SELECT $1 , $2"},
		{database.Postgres, "SELECT 1", "SELECT 1"},
	}
	for _, tt := range tests {
		if got := tt.d.Rebind(tt.in); got != tt.want {
			t.Errorf("%v.Rebind(%q) = %q, want %q", tt.d, tt.in, got, tt.want)
		}
	}
}

func TestOpenSQLiteMigratesOnceAndKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	fsys := fstest.MapFS{"00001_init.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (v INTEGER);\n-- +goose Down\nDROP TABLE t;\n")}}
	for i := range 2 {
		db, err := database.OpenSQLite(ctx, path, logging.Discard(), database.Schema{FS: fsys, Dir: "."})
		if err != nil {
			t.Fatalf("open run %d: %v", i, err)
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != i+1 {
			t.Fatalf("run %d: %d rows, want %d", i, n, i+1)
		}
		var mode string
		if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
		}
		db.Close()
	}
}
