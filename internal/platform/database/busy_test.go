package database_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/database"
)

// TestRetryBusy holds a SQLite file's write lock from one connection while another, with a
// busy timeout of 50 ms, tries to write: the write fails with SQLITE_BUSY (Busy), RetryBusy
// tries it again until the lock is released and it succeeds, and gives up with the error
// once its wait is over.
func TestRetryBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(50)&_pragma=journal_mode(WAL)")
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	holder, writer := open(), open()
	ctx := context.Background()
	if _, err := holder.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	hold := func() *sql.Conn {
		conn, err := holder.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	insert := func() error {
		_, err := writer.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
		return err
	}

	conn := hold()
	if err := insert(); !database.Busy(err) {
		t.Fatalf("insert while another connection writes = %v, want SQLITE_BUSY", err)
	}
	if database.Busy(errors.New("database is locked")) || database.Busy(nil) {
		t.Error("Busy is true of an error that is not SQLite's")
	}
	if err := database.RetryBusy(ctx, 200*time.Millisecond, insert); !database.Busy(err) {
		t.Fatalf("RetryBusy with the lock held throughout = %v, want SQLITE_BUSY", err)
	}
	release := time.AfterFunc(300*time.Millisecond, func() {
		_, _ = conn.ExecContext(ctx, `COMMIT`)
		conn.Close()
	})
	defer release.Stop()
	tries := 0
	err := database.RetryBusy(ctx, 10*time.Second, func() error { tries++; return insert() })
	if err != nil || tries < 2 {
		t.Fatalf("RetryBusy while the lock is released after 300 ms = %v after %d tries, want success after several", err, tries)
	}
}

// TestRetryBusyLeavesATurn runs bulk work, transactions back to back that each hold a SQLite
// file's write lock for 50 ms, through RetryBusy, while another connection, whose busy
// handler waits up to 1 s, writes: its write gets in. Without the pause after each bulk
// transaction it would poll in the busy handler and, at every try, find the lock taken again.
func TestRetryBusyLeavesATurn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "turn.db")
	open := func(busy int) *sql.DB {
		db, err := sql.Open("sqlite", fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_txlock=immediate", path, busy))
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	bulk, other := open(10000), open(1000)
	ctx := context.Background()
	if _, err := bulk.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			err := database.RetryBusy(ctx, database.BulkBusyWait, func() error {
				tx, err := bulk.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer tx.Rollback() //nolint:errcheck // a no-op after Commit
				if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (1)`); err != nil {
					return err
				}
				time.Sleep(50 * time.Millisecond)
				return tx.Commit()
			})
			if err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond) // the bulk work is under way
	for i := range 3 {
		if _, err := other.ExecContext(ctx, `INSERT INTO t VALUES (2)`); err != nil {
			t.Errorf("write %d beside the bulk work: %v", i+1, err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("bulk work: %v", err)
	}
}
