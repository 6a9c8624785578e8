package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dialects are the databases every test runs on; PostgreSQL ones skip when no server answers
// (and fail with EVENTPOST_INTEGRATION=1).
var dialects = []database.Dialect{database.SQLite, database.Postgres}

func openDB(t *testing.T, d database.Dialect) *sql.DB {
	t.Helper()
	if d == database.Postgres {
		return pgtest.DB(t, outbox.Schema(database.Postgres))
	}
	db, err := database.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "outbox.db"), logging.Discard(),
		outbox.Schema(database.SQLite))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// forEachDialect runs test once per dialect.
func forEachDialect(t *testing.T, test func(t *testing.T, d database.Dialect, db *sql.DB)) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) { test(t, d, openDB(t, d)) })
	}
}

// add writes msgs in a transaction that is committed when commit is true.
func add(t *testing.T, d database.Dialect, db *sql.DB, commit bool, msgs ...broker.Message) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Add(ctx, tx, d, msgs...); err != nil {
		t.Fatal(err)
	}
	if commit {
		err = tx.Commit()
	} else {
		err = tx.Rollback()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func message(t *testing.T, typ string, payload any) broker.Message {
	t.Helper()
	m, err := broker.NewMessage(context.Background(), typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// recorder is a consumer that records deliveries and fails the first failures of them.
type recorder struct {
	mu       sync.Mutex
	got      []broker.Message
	failures int
	perm     bool
}

func (r *recorder) handle(_ context.Context, m broker.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures > 0 {
		r.failures--
		if r.perm {
			return broker.Permanent(errors.New("poison"))
		}
		return errors.New("consumer down")
	}
	r.got = append(r.got, m)
	return nil
}

func (r *recorder) delivered() []broker.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]broker.Message(nil), r.got...)
}

func startRelay(t *testing.T, d database.Dialect, db *sql.DB, b broker.Publisher) *outbox.Relay {
	return startRelayWith(t, d, db, b, 1)
}

// startRelayWith starts a relay publishing concurrency messages at once.
func startRelayWith(t *testing.T, d database.Dialect, db *sql.DB, b broker.Publisher, concurrency int) *outbox.Relay {
	t.Helper()
	return startRelayOn(t, database.NewStore(db, d), b, concurrency)
}

// startRelayOn starts a relay of st's outbox publishing concurrency messages at once.
func startRelayOn(t *testing.T, st outbox.Database, b broker.Publisher, concurrency int) *outbox.Relay {
	t.Helper()
	relay := outbox.NewRelay(st, b, logging.Discard(), prometheus.NewRegistry(),
		outbox.RelayConfig{Poll: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Concurrency: concurrency})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- relay.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	return relay
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func backlog(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRelayDeliversCommittedMessagesOnceAndDeletesThem(t *testing.T) {
	forEachDialect(t, testRelayDelivers)
}

func testRelayDelivers(t *testing.T, d database.Dialect, db *sql.DB) {
	b := broker.NewInProcess(logging.Discard(), nil)
	rec := &recorder{}
	other := &recorder{}
	if err := b.Register(broker.Consumer{Queue: "q", Types: []string{"a.b"}, Handle: rec.handle}); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(broker.Consumer{Queue: "other", Types: []string{"c.d"}, Handle: other.handle}); err != nil {
		t.Fatal(err)
	}
	m1, m2 := message(t, "a.b", map[string]int{"n": 1}), message(t, "a.b", map[string]int{"n": 2})
	add(t, d, db, true, m1, m2)
	add(t, d, db, false, message(t, "a.b", map[string]int{"n": 3})) // rolled back: never delivered
	relay := startRelay(t, d, db, b)
	relay.Notify()

	waitFor(t, "two deliveries and an empty outbox", func() bool { return len(rec.delivered()) == 2 && backlog(t, db) == 0 })
	time.Sleep(200 * time.Millisecond) // several poll periods: nothing more may arrive
	got := rec.delivered()
	if len(got) != 2 || got[0].ID != m1.ID || got[1].ID != m2.ID {
		t.Fatalf("delivered %v, want m1 then m2 exactly once", got)
	}
	if string(got[0].Payload) != `{"n":1}` || got[0].Attempt != 1 {
		t.Errorf("first message payload %s attempt %d", got[0].Payload, got[0].Attempt)
	}
	if len(other.delivered()) != 0 {
		t.Errorf("a consumer of another type got %d messages", len(other.delivered()))
	}
}

// countingStore is a store that counts the calls of Write.
type countingStore struct {
	database.Store
	writes atomic.Int32
}

func (c *countingStore) Write(ctx context.Context, fn func(q database.Querier) error) error {
	c.writes.Add(1)
	return c.Store.Write(ctx, fn)
}

// TestRelayWritesThroughTheStoreInSQLite: in SQLite the relay deletes what it published
// through the store's writer (Database.Write), in turn with the service's transactions, and
// writes nothing when nothing is due; in PostgreSQL it writes in the transaction that locked
// the rows.
func TestRelayWritesThroughTheStoreInSQLite(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database.Dialect, db *sql.DB) {
		b := broker.NewInProcess(logging.Discard(), nil)
		rec := &recorder{}
		if err := b.Register(broker.Consumer{Queue: "q", Types: []string{"a.b"}, Handle: rec.handle}); err != nil {
			t.Fatal(err)
		}
		add(t, d, db, true, message(t, "a.b", nil), message(t, "a.b", nil))
		st := &countingStore{Store: database.NewStore(db, d)}
		startRelayOn(t, st, b, 1).Notify()
		waitFor(t, "two deliveries and an empty outbox", func() bool { return len(rec.delivered()) == 2 && backlog(t, db) == 0 })
		n := st.writes.Load()
		if (n > 0) != (d == database.SQLite) {
			t.Errorf("%d writes through the store in %s", n, d)
		}
		// An idle relay looks every Poll (50 ms) and, finding nothing due, writes nothing.
		time.Sleep(300 * time.Millisecond)
		if idle := st.writes.Load() - n; idle != 0 {
			t.Errorf("%d writes through the store while nothing was due", idle)
		}
	})
}

func TestRelayRetriesUntilTheConsumerAcknowledges(t *testing.T) {
	forEachDialect(t, testRelayRetries)
}

func testRelayRetries(t *testing.T, d database.Dialect, db *sql.DB) {
	b := broker.NewInProcess(logging.Discard(), nil)
	rec := &recorder{failures: 3}
	if err := b.Register(broker.Consumer{Queue: "q", Types: []string{"a.b"}, Handle: rec.handle}); err != nil {
		t.Fatal(err)
	}
	m := message(t, "a.b", nil)
	add(t, d, db, true, m)
	startRelay(t, d, db, b)

	waitFor(t, "delivery after failures", func() bool { return len(rec.delivered()) == 1 })
	if got := rec.delivered()[0]; got.ID != m.ID || got.Attempt != 4 {
		t.Errorf("delivered %s at attempt %d, want %s at attempt 4", got.ID, got.Attempt, m.ID)
	}
	waitFor(t, "empty outbox", func() bool { return backlog(t, db) == 0 })
}

func TestInProcessRetriesOnlyTheConsumerThatFailed(t *testing.T) {
	b := broker.NewInProcess(logging.Discard(), nil)
	ok, failing := &recorder{}, &recorder{failures: 1}
	for q, r := range map[string]*recorder{"ok": ok, "failing": failing} {
		if err := b.Register(broker.Consumer{Queue: q, Types: []string{"t"}, Handle: r.handle}); err != nil {
			t.Fatal(err)
		}
	}
	m := message(t, "t", nil)
	if err := b.Publish(context.Background(), m); err == nil {
		t.Fatal("Publish succeeded although a consumer failed")
	}
	if err := b.Publish(context.Background(), m); err != nil {
		t.Fatalf("second Publish: %v", err)
	}
	if len(ok.delivered()) != 1 || len(failing.delivered()) != 1 {
		t.Errorf("deliveries ok=%d failing=%d, want 1 and 1", len(ok.delivered()), len(failing.delivered()))
	}
}

func TestInProcessDeadLettersPermanentFailures(t *testing.T) {
	var dead []string
	b := broker.NewInProcess(logging.Discard(), func(q string) { dead = append(dead, q) })
	poison := &recorder{failures: 1, perm: true}
	if err := b.Register(broker.Consumer{Queue: "p", Types: []string{"t"}, Handle: poison.handle}); err != nil {
		t.Fatal(err)
	}
	m := message(t, "t", nil)
	if err := b.Publish(context.Background(), m); err != nil {
		t.Fatalf("Publish of a poison message = %v, want nil (dead-lettered)", err)
	}
	if err := b.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0] != "p" || len(poison.delivered()) != 0 {
		t.Errorf("dead letters %v, deliveries %d; want [p] and 0", dead, len(poison.delivered()))
	}
}

func TestFirstDelivery(t *testing.T) {
	forEachDialect(t, testFirstDelivery)
}

func testFirstDelivery(t *testing.T, d database.Dialect, db *sql.DB) {
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		first, err := outbox.FirstDelivery(ctx, db, d, "msg-1")
		if err != nil {
			t.Fatal(err)
		}
		if first != want {
			t.Errorf("call %d: first = %v, want %v", i, first, want)
		}
	}
	if first, err := outbox.FirstDelivery(ctx, db, d, "msg-2"); err != nil || !first {
		t.Errorf("another message: first = %v, %v; want true", first, err)
	}
}

// TestRelaysOfSeveralReplicasPublishEachMessageOnce runs three relays, each publishing eight
// messages at once, over one PostgreSQL outbox, as three replicas of a service do, and checks
// that every message is published and none twice.
func TestRelaysOfSeveralReplicasPublishEachMessageOnce(t *testing.T) {
	db := openDB(t, database.Postgres)
	b := broker.NewInProcess(logging.Discard(), nil)
	rec := &recorder{}
	if err := b.Register(broker.Consumer{Queue: "q", Types: []string{"t"}, Handle: rec.handle}); err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := 0; i < n; i += 50 {
		msgs := make([]broker.Message, 50)
		for j := range msgs {
			msgs[j] = message(t, "t", i+j)
		}
		add(t, database.Postgres, db, true, msgs...)
	}
	for range 3 {
		startRelayWith(t, database.Postgres, db, b, 8)
	}
	waitFor(t, "every message", func() bool { return backlog(t, db) == 0 && len(rec.delivered()) >= n })
	seen := map[string]int{}
	for _, m := range rec.delivered() {
		seen[m.ID]++
	}
	for id, c := range seen {
		if c > 1 {
			t.Errorf("message %s published %d times", id, c)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct messages delivered, want %d", len(seen), n)
	}
}

// TestConcurrentRelayRetriesOnlyTheFailedMessages publishes batches concurrently through a
// consumer that fails some messages, and checks that each is delivered exactly once in the end.
func TestConcurrentRelayRetriesOnlyTheFailedMessages(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database.Dialect, db *sql.DB) {
		b := broker.NewInProcess(logging.Discard(), nil)
		rec := &recorder{failures: 7}
		if err := b.Register(broker.Consumer{Queue: "q", Types: []string{"t"}, Handle: rec.handle}); err != nil {
			t.Fatal(err)
		}
		const n = 250
		msgs := make([]broker.Message, n)
		for i := range msgs {
			msgs[i] = message(t, "t", i)
		}
		add(t, d, db, true, msgs...)
		startRelayWith(t, d, db, b, 16)
		waitFor(t, "every message", func() bool { return backlog(t, db) == 0 })
		seen := map[string]int{}
		for _, m := range rec.delivered() {
			seen[m.ID]++
		}
		for _, m := range msgs {
			if seen[m.ID] != 1 {
				t.Errorf("message %s delivered %d times, want once", m.ID, seen[m.ID])
			}
		}
	})
}

// unavailable is a publisher whose broker is away for its first failures publishes.
type unavailable struct {
	mu       sync.Mutex
	failures int
	got      []broker.Message
}

func (u *unavailable) Publish(_ context.Context, m broker.Message) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.failures > 0 {
		u.failures--
		return fmt.Errorf("not connected (%w)", broker.ErrUnavailable)
	}
	u.got = append(u.got, m)
	return nil
}

// TestRelayDoesNotCountTheBrokersAbsenceAgainstAMessage: a message the broker could not take
// because it was away is published at its first attempt once the broker is back, not after a
// backoff grown by each failure.
func TestRelayDoesNotCountTheBrokersAbsenceAgainstAMessage(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database.Dialect, db *sql.DB) {
		pub := &unavailable{failures: 5}
		m := message(t, "a.b", nil)
		add(t, d, db, true, m)
		startRelay(t, d, db, pub)
		waitFor(t, "empty outbox", func() bool { return backlog(t, db) == 0 })
		pub.mu.Lock()
		defer pub.mu.Unlock()
		if len(pub.got) != 1 || pub.got[0].ID != m.ID || pub.got[0].Attempt != 1 {
			t.Fatalf("published %+v; want %s once, as attempt 1", pub.got, m.ID)
		}
	})
}

// TestRelayBacklogGaugeIsRefreshedNotCountedPerScrape: outbox_backlog shows the messages
// waiting once Run has refreshed it; a scrape reads that value without a query — it answers
// with the last count even after the database is closed — and the failed refreshes are
// counted.
func TestRelayBacklogGaugeIsRefreshedNotCountedPerScrape(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d database.Dialect, db *sql.DB) {
		add(t, d, db, true, message(t, "a.b", nil), message(t, "a.b", nil), message(t, "a.b", nil))
		reg := prometheus.NewRegistry()
		relay := outbox.NewRelay(database.NewStore(db, d), &unavailable{failures: 1 << 30}, logging.Discard(), reg,
			outbox.RelayConfig{Poll: 50 * time.Millisecond, BacklogRefresh: 20 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- relay.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("relay: %v", err)
			}
		}()
		waitFor(t, "outbox_backlog 3", func() bool { return gathered(t, reg, "outbox_backlog") == 3 })
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a failed refresh", func() bool { return gathered(t, reg, "outbox_backlog_refresh_failures_total") > 0 })
		if got := gathered(t, reg, "outbox_backlog"); got != 3 {
			t.Errorf("outbox_backlog = %v with the database closed, want the last count, 3", got)
		}
	})
}

// gathered returns the value of the unlabelled gauge or counter name in reg, as a scrape
// would read it.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s", name)
	return 0
}
