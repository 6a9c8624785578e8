package database_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// openShortBusy opens a SQLite database whose busy timeout is 50 ms, far shorter than the
// transactions of the tests below hold the write lock, and returns the Store over it.
func openShortBusy(t *testing.T) database.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(50)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE TABLE counter (n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO counter (n) VALUES (0)"); err != nil {
		t.Fatal(err)
	}
	return database.NewStore(db, database.SQLite)
}

// A SQLite transaction waits for the one under way however long it takes, instead of
// failing when SQLite's busy timeout runs out, and every one of many is applied.
func TestSQLiteTransactionsQueue(t *testing.T) {
	s := openShortBusy(t)
	const writers = 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			errs <- s.InTx(context.Background(), func(tx *sql.Tx) error {
				var n int
				if err := tx.QueryRow("SELECT n FROM counter").Scan(&n); err != nil {
					return err
				}
				time.Sleep(20 * time.Millisecond) // each holds the lock longer than the busy timeout allows
				_, err := tx.Exec("UPDATE counter SET n = ?", n+1)
				return err
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("InTx: %v", err)
		}
	}
	var n int
	if err := s.DB().QueryRow("SELECT n FROM counter").Scan(&n); err != nil || n != writers {
		t.Fatalf("counter = %d, %v; want %d", n, err, writers)
	}
}

// A transaction that waits in the queue stops waiting when its context ends, and does
// nothing.
func TestSQLiteQueueFollowsContext(t *testing.T) {
	s := openShortBusy(t)
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.InTx(context.Background(), func(*sql.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	ran := false
	err := s.InTx(ctx, func(*sql.Tx) error { ran = true; return nil })
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) || ran {
		t.Fatalf("InTx while another holds the lock = %v (ran %v); want the context's deadline, not run", err, ran)
	}
	if err := <-done; err != nil {
		t.Fatalf("the holding transaction: %v", err)
	}
}

// A SQLite database opened again has planner statistics for the tables that grew since.
func TestSQLiteKeepsPlannerStatistics(t *testing.T) {
	ctx := context.Background()
	schema := database.Schema{FS: fstest.MapFS{"00001_init.sql": {Data: []byte(
		"-- +goose Up\nCREATE TABLE t (k INTEGER, v TEXT);\nCREATE INDEX t_k ON t (k);\n-- +goose Down\nDROP TABLE t;\n")}}, Dir: "."}
	path := filepath.Join(t.TempDir(), "stats.db")
	s, err := database.Open(ctx, database.SQLite, path, logging.Discard(), schema)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
		INSERT INTO t (k, v) SELECT i % 50, 'x' FROM n`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = database.Open(ctx, database.SQLite, path, logging.Discard(), schema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var stat string
	if err := s.DB().QueryRowContext(ctx, `SELECT stat FROM sqlite_stat1 WHERE idx = 't_k'`).Scan(&stat); err != nil {
		t.Fatalf("no statistics for index t_k after a reopen: %v", err)
	}
}

// BulkLoadPragmas keeps the statement journal in memory, enlarges the page cache, maps the
// file into memory, and its restore function sets all three back.
func TestBulkLoadPragmas(t *testing.T) {
	ctx := context.Background()
	s := openShortBusy(t)
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	read := func() (v [3]int64) {
		t.Helper()
		for i, name := range []string{"temp_store", "cache_size", "mmap_size"} {
			if err := conn.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v[i]); err != nil {
				t.Fatal(err)
			}
		}
		return v
	}
	before := read()
	restore, err := database.BulkLoadPragmas(ctx, conn, 48)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(); got[0] != 2 || got[1] != -48<<10 || got[2] < 1<<30 {
		t.Errorf("temp_store, cache_size, mmap_size = %v during the load; want 2, %d and at least 1 GiB", got, -48<<10)
	}
	restore()
	if got := read(); got != before {
		t.Errorf("temp_store, cache_size, mmap_size = %v after restore; want %v as before", got, before)
	}
}
