package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/logging"
)

// openGroupStore opens a SQLite store with a table t (n INTEGER).
func openGroupStore(t *testing.T) Store {
	t.Helper()
	s, err := Open(context.Background(), SQLite, filepath.Join(t.TempDir(), "group.db"), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.DB().Exec(`CREATE TABLE t (n INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return s
}

// holdWriter holds the store's writer with a transaction of its own until the returned
// function is called, which waits for that transaction to end.
func holdWriter(t *testing.T, s Store) (release func()) {
	t.Helper()
	held, done := make(chan struct{}), make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		done <- s.InTx(context.Background(), func(*sql.Tx) error {
			close(held)
			<-stop
			return nil
		})
	}()
	<-held
	return func() {
		close(stop)
		if err := <-done; err != nil {
			t.Fatalf("the holding transaction: %v", err)
		}
	}
}

// waitQueued waits until n transactions wait in the store's queue.
func waitQueued(t *testing.T, s Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		s.group.mu.Lock()
		queued := len(s.group.queue)
		s.group.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d transactions queued", queued, n)
		}
	}
}

// queueBehindHolder holds the store's writer (holdWriter), starts n InTx calls of fn(i, tx)
// meanwhile and waits until all of them are queued; the returned function releases the
// writer, waits for the calls and returns their errors, and the values they panicked with.
func queueBehindHolder(t *testing.T, s Store, n int, fn func(i int, tx *sql.Tx) error) func() ([]error, []any) {
	t.Helper()
	release := holdWriter(t, s)
	errs, panics := make([]error, n), make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			errs[i] = s.InTx(context.Background(), func(tx *sql.Tx) error { return fn(i, tx) })
		})
	}
	waitQueued(t, s, n)
	return func() ([]error, []any) {
		release()
		wg.Wait()
		return errs, panics
	}
}

// committed returns the values of t.n, sorted.
func committed(t *testing.T, s Store) []int {
	t.Helper()
	rows, err := s.DB().Query(`SELECT n FROM t ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Collect(rows, func(r Scanner) (n int, err error) { return n, r.Scan(&n) })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Transactions that queue while another one holds the writer are run together, in one
// database transaction, and each is committed.
func TestGroupCommitSharesOneTransaction(t *testing.T) {
	s := openGroupStore(t)
	const n = 20
	var (
		mu  sync.Mutex
		txs = map[*sql.Tx]int{}
	)
	wait := queueBehindHolder(t, s, n, func(i int, tx *sql.Tx) error {
		mu.Lock()
		txs[tx]++
		mu.Unlock()
		_, err := tx.Exec(`INSERT INTO t (n) VALUES (?)`, i)
		return err
	})
	errs, _ := wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: %v", i, err)
		}
	}
	if len(txs) != 1 {
		t.Errorf("%d queued transactions ran in %d database transactions; want 1", n, len(txs))
	}
	if got := committed(t, s); len(got) != n {
		t.Errorf("committed %v; want 0 to %d", got, n-1)
	}
}

// In a group, a transaction that fails or panics changes nothing, its caller gets its error
// or its panic, and the others of the group are committed.
func TestGroupCommitKeepsFailuresApart(t *testing.T) {
	s := openGroupStore(t)
	const n = 12
	errOdd := errors.New("odd")
	wait := queueBehindHolder(t, s, n, func(i int, tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO t (n) VALUES (?)`, i); err != nil {
			return err
		}
		switch {
		case i == 4:
			panic(fmt.Sprintf("transaction %d", i))
		case i%2 == 1:
			return errOdd
		}
		return nil
	})
	errs, panics := wait()
	for i := range n {
		switch {
		case i == 4:
			if panics[i] != "transaction 4" {
				t.Errorf("transaction 4 panicked with %v; want its own panic", panics[i])
			}
		case i%2 == 1:
			if !errors.Is(errs[i], errOdd) || panics[i] != nil {
				t.Errorf("transaction %d: %v, panic %v; want its own error", i, errs[i], panics[i])
			}
		default:
			if errs[i] != nil || panics[i] != nil {
				t.Errorf("transaction %d: %v, panic %v; want committed", i, errs[i], panics[i])
			}
		}
	}
	if got, want := fmt.Sprint(committed(t, s)), "[0 2 6 8 10]"; got != want {
		t.Errorf("committed %s; want %s", got, want)
	}
}

// A transaction whose context ends while it waits in the queue is not run.
func TestGroupCommitSkipsCancelled(t *testing.T) {
	s := openGroupStore(t)
	release := holdWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() {
		result <- s.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO t (n) VALUES (1)`)
			return err
		})
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled queued transaction returned %v; want context.Canceled", err)
	}
	release()
	if got := committed(t, s); len(got) != 0 {
		t.Errorf("committed %v; want nothing", got)
	}
}
