//go:build unix

package database_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// withUmask sets the process umask for the rest of the test. Tests that call it must not run
// in parallel with others: the umask belongs to the whole process.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// modes returns the permission bits of every file in dir by name.
func modes(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]fs.FileMode{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fi.Mode().Perm()
	}
	return out
}

var testSchema = database.Schema{FS: fstest.MapFS{"00001_init.sql": {Data: []byte(
	"-- +goose Up\nCREATE TABLE t (v TEXT);\n-- +goose Down\nDROP TABLE t;\n")}}, Dir: "."}

func TestOpenSQLiteFilesArePrivateWhateverTheUmask(t *testing.T) {
	withUmask(t, 0)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	db, err := database.OpenSQLite(ctx, path, logging.Discard(), testSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES ('secret')"); err != nil {
		t.Fatal(err)
	}
	got := modes(t, dir)
	for _, name := range []string{"x.db", "x.db-wal", "x.db-shm"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s is missing; files: %v", name, got)
		}
	}
	for name, mode := range got {
		if mode != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", name, mode)
		}
	}
}

func TestOpenSQLiteTightensExistingFiles(t *testing.T) {
	withUmask(t, 0o022)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	// A database written by an older version: its files open to everyone.
	db, err := database.OpenSQLite(ctx, path, logging.Discard(), testSchema)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES ('secret')"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"x.db", "x.db-wal", "x.db-shm"} {
		if err := os.Chmod(filepath.Join(dir, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	again, err := database.OpenSQLite(ctx, path, logging.Discard(), testSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	db.Close()
	var n int
	if err := again.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d, %v; want 1", n, err)
	}
	for name, mode := range modes(t, dir) {
		if mode != 0o600 {
			t.Errorf("%s has mode %v after reopening, want -rw-------", name, mode)
		}
	}
}
