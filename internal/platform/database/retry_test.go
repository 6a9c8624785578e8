package database_test

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// TestInTxRunsADeadlockVictimAgain makes two transactions lock two rows in opposite orders on
// a real PostgreSQL: the server aborts one of them to break the deadlock (40P01), and InTx runs
// that one again, so both succeed and both updates are there.
func TestInTxRunsADeadlockVictimAgain(t *testing.T) {
	db := pgtest.DB(t)
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE counters (id INT PRIMARY KEY, n INT NOT NULL)`,
		`INSERT INTO counters VALUES (1, 0), (2, 0)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	store := database.NewStore(db, database.Postgres)

	var runs atomic.Int32
	var firstLocks sync.WaitGroup // both hold their first row before either asks for its second
	firstLocks.Add(2)
	update := func(tx *sql.Tx, id int) error {
		_, err := tx.ExecContext(ctx, `UPDATE counters SET n = n + 1 WHERE id = $1`, id)
		return err
	}
	// bump locks first then second. Run again, it first waits until the other transaction is
	// done: the victim's second run could otherwise take its first row back before the
	// survivor, waiting for that row, gets it — and deadlock again.
	bump := func(first, second int, done chan<- struct{}, otherDone <-chan struct{}) error {
		defer close(done)
		var once sync.Once
		again := false
		return store.InTx(ctx, func(tx *sql.Tx) error {
			runs.Add(1)
			if again {
				<-otherDone
			}
			again = true
			if err := update(tx, first); err != nil {
				return err
			}
			once.Do(func() { firstLocks.Done(); firstLocks.Wait() })
			return update(tx, second)
		})
	}
	errs := make(chan error, 2)
	doneA, doneB := make(chan struct{}), make(chan struct{})
	go func() { errs <- bump(1, 2, doneA, doneB) }()
	go func() { errs <- bump(2, 1, doneB, doneA) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("a transaction failed: %v", err)
		}
	}
	if n := runs.Load(); n != 3 {
		t.Errorf("the transactions ran %d times, want 3: one of them once more, after the deadlock", n)
	}
	var a, b int
	if err := db.QueryRowContext(ctx, `SELECT (SELECT n FROM counters WHERE id = 1), (SELECT n FROM counters WHERE id = 2)`).Scan(&a, &b); err != nil {
		t.Fatal(err)
	}
	if a != 2 || b != 2 {
		t.Errorf("counters = %d, %d; want 2, 2", a, b)
	}
}

// TestPingWhileThePoolIsBusy holds every connection of a PostgreSQL store's pool in an open
// transaction, as a burst of requests waiting for one row's lock does: Ping still answers at
// once, so a busy instance stays ready.
func TestPingWhileThePoolIsBusy(t *testing.T) {
	ctx := context.Background()
	store, err := database.Open(ctx, database.Postgres, pgtest.URL(t), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	conns := store.DB().Stats().MaxOpenConnections
	for range conns {
		tx, err := store.DB().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
	}
	if in := store.DB().Stats().InUse; in != conns {
		t.Fatalf("%d of %d connections in use", in, conns)
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := store.Ping(short); err != nil {
		t.Errorf("Ping with all %d connections taken: %v", conns, err)
	}
}
