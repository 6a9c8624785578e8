// Package outbox is the transactional outbox and inbox every service uses around the broker.
// A producer inserts its messages with Add in the same database transaction as the change
// they announce, so a committed change always yields its messages; a Relay then publishes
// them and deletes each one only after the broker took it, retrying with backoff meanwhile.
// A consumer calls FirstDelivery in the transaction that applies a message, so that handling
// a redelivered message has no second effect.
package outbox

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/metrics"
	"github.com/eventpost/eventpost/internal/platform/retry"
	"github.com/eventpost/eventpost/internal/platform/wakeup"
)

//go:embed migrations
var migrations embed.FS

// Schema returns the migrations of the outbox and inbox tables for dialect d. They keep their
// own migration version table, so every service's database can include them unchanged.
func Schema(d database.Dialect) database.Schema {
	return database.Schema{FS: migrations, Dir: "migrations/" + d.String(), Table: "goose_outbox_version"}
}

// Service is how a service that holds an outbox keeps its database: its own migrations, the
// directories migrations/sqlite and migrations/postgres of fsys, then the outbox's. Name is
// for errors.
func Service(name string, fsys fs.FS) database.Service {
	return database.Service{Name: name, Migrations: fsys, Shared: []func(database.Dialect) database.Schema{Schema}}
}

// Pending returns the messages waiting in db's outbox, oldest first (for tests and
// inspection).
func Pending(ctx context.Context, db *sql.DB) ([]broker.Message, error) {
	rows, err := db.QueryContext(ctx, `SELECT body FROM outbox ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("outbox pending: %w", err)
	}
	defer rows.Close()
	var out []broker.Message
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("outbox pending: %w", err)
		}
		var m broker.Message
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("outbox pending: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Execer is what Add and FirstDelivery need of a transaction.
type Execer = database.Execer

// Add inserts msgs into the outbox within tx, in multi-row statements of up to 100 rows.
func Add(ctx context.Context, tx Execer, d database.Dialect, msgs ...broker.Message) error {
	const chunk = 100
	now := time.Now().UnixMicro()
	for len(msgs) > 0 {
		n := min(len(msgs), chunk)
		args := make([]any, 0, 5*n)
		for _, m := range msgs[:n] {
			body, err := json.Marshal(m)
			if err != nil {
				return fmt.Errorf("outbox add %s: %w", m.Type, err)
			}
			args = append(args, m.ID, m.Type, body, now, now)
		}
		q := `INSERT INTO outbox (id, type, body, created_at, next_attempt_at) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", n), ", ")
		if _, err := tx.ExecContext(ctx, d.Rebind(q), args...); err != nil {
			return fmt.Errorf("outbox add %d messages: %w", n, err)
		}
		msgs = msgs[n:]
	}
	return nil
}

// FirstDelivery records within tx that the consumer handled the message with ID id, and
// reports whether this is the first time. A consumer that gets false must not apply the
// message again.
func FirstDelivery(ctx context.Context, tx Execer, d database.Dialect, id string) (bool, error) {
	n, err := database.Exec(ctx, tx,
		d.Rebind(`INSERT INTO inbox (message_id, handled_at) VALUES (?, ?) ON CONFLICT (message_id) DO NOTHING`),
		id, time.Now().UnixMicro())
	if err != nil {
		return false, fmt.Errorf("inbox record %s: %w", id, err)
	}
	return n == 1, nil
}

// Notifier wakes a relay after a commit that added messages.
type Notifier interface{ Notify() }

// RelayConfig tunes a Relay.
type RelayConfig struct {
	// Poll is how often the relay looks for messages without being notified (messages added
	// by another process, retries). Default 1s.
	Poll time.Duration
	// MaxBackoff caps the delay between attempts at one message. Default 5 minutes.
	MaxBackoff time.Duration
	// Batch is how many messages one pass takes. Default 100.
	Batch int
	// Concurrency is how many messages of a batch are published at once. Default 1, which
	// publishes in outbox order; with more, messages of one batch may overtake each other
	// (every consumer tolerates that: changes carry their version), and a broker that
	// pipelines confirmations (RabbitMQ) is used to the full.
	Concurrency int
	// Linger is how long the relay waits after a Notify before it looks at the outbox, so
	// that the messages of commits made meanwhile go out in the same batch. Default 0; a few
	// milliseconds save database round trips when many small transactions each add a message.
	Linger time.Duration
	// BacklogRefresh is how often Run counts the outbox for the outbox_backlog gauge, which
	// a scrape only reads (see metrics.RefreshedGauge). Default metrics.DefaultRefreshInterval.
	BacklogRefresh time.Duration
}

// Database is the database whose outbox a relay publishes: a service's database.Store.
type Database interface {
	// DB returns the database.
	DB() *sql.DB
	// Dialect returns its dialect.
	Dialect() database.Dialect
	// Write runs fn's statements as the store's writers do (see database.Store.Write): in
	// SQLite, in turn with the service's own transactions.
	Write(ctx context.Context, fn func(q database.Querier) error) error
}

// Relay publishes the messages of one service's outbox.
type Relay struct {
	store Database
	pub   broker.Publisher
	log   *slog.Logger
	cfg   RelayConfig
	wake  wakeup.Signal
	// maxBackoff is RelayConfig.MaxBackoff (a time.Duration), which SetMaxBackoff changes.
	maxBackoff atomic.Int64

	published prometheus.Counter
	failed    prometheus.Counter
	backlog   *metrics.RefreshedGauge
}

// NewRelay returns a relay from the outbox of st to pub. Its metrics are registered with reg.
func NewRelay(st Database, pub broker.Publisher, log *slog.Logger, reg prometheus.Registerer, cfg RelayConfig) *Relay {
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.BacklogRefresh <= 0 {
		cfg.BacklogRefresh = metrics.DefaultRefreshInterval
	}
	r := &Relay{
		store: st, pub: pub, log: log, cfg: cfg, wake: wakeup.New(),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outbox_published_total", Help: "Messages the outbox relay handed to the broker.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outbox_publish_failures_total", Help: "Failed attempts to hand an outbox message to the broker.",
		}),
	}
	r.maxBackoff.Store(int64(cfg.MaxBackoff))
	r.backlog = metrics.NewRefreshedGauge("outbox_backlog", "Messages waiting in the outbox.",
		func(ctx context.Context) (float64, error) {
			n, err := r.Backlog(ctx)
			return float64(n), err
		}, log)
	reg.MustRegister(r.published, r.failed, r.backlog)
	return r
}

// Bounds of the cap SetMaxBackoff puts on the delay between attempts at one message.
const (
	MinMaxBackoff = time.Second
	MaxMaxBackoff = time.Hour
)

// SetMaxBackoff changes RelayConfig.MaxBackoff while the relay runs, for the attempts
// scheduled from now on; d must be within MinMaxBackoff and MaxMaxBackoff.
func (r *Relay) SetMaxBackoff(d time.Duration) error {
	if d < MinMaxBackoff || d > MaxMaxBackoff {
		return fmt.Errorf("outbox: max backoff %s is outside %s to %s", d, MinMaxBackoff, MaxMaxBackoff)
	}
	r.maxBackoff.Store(int64(d))
	return nil
}

// MaxBackoff returns the cap on the delay between attempts at one message in force.
func (r *Relay) MaxBackoff() time.Duration { return time.Duration(r.maxBackoff.Load()) }

// Notify implements Notifier: it wakes the relay without blocking.
func (r *Relay) Notify() { r.wake.Wake() }

// Backlog returns how many messages wait in the outbox. It counts them: the outbox_backlog
// gauge runs it every RelayConfig.BacklogRefresh, never per scrape.
func (r *Relay) Backlog(ctx context.Context) (int, error) {
	var n int
	if err := r.store.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("outbox backlog: %w", err)
	}
	return n, nil
}

// Run relays messages until ctx is done; a message being published when ctx ends is
// finished first. Meanwhile it refreshes the outbox_backlog gauge every
// RelayConfig.BacklogRefresh, and returns only once that has stopped too.
func (r *Relay) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = r.backlog.Run(ctx, r.cfg.BacklogRefresh) }) // returns nil when ctx ends
	return wakeup.Loop(ctx, r.wake, r.cfg.Linger, func(ctx context.Context) time.Duration {
		wait, err := r.pass(ctx)
		if err != nil {
			r.log.Error("outbox relay", "err", err)
			wait = r.cfg.Poll
		}
		return wait
	})
}

type row struct {
	seq      int64
	body     []byte
	attempts int
}

// pass publishes due messages until none is left or ctx is done, and returns how long to wait
// for the next one.
func (r *Relay) pass(ctx context.Context) (time.Duration, error) {
	for ctx.Err() == nil {
		n, err := r.batch(ctx)
		if err != nil {
			return 0, err
		}
		if n < r.cfg.Batch {
			break
		}
	}
	return r.untilNext(ctx)
}

// batch publishes up to Batch due messages and returns how many it took. On PostgreSQL the
// rows are locked (FOR UPDATE SKIP LOCKED) for the batch, so relays of several replicas share
// the outbox without publishing a message twice; a relay that dies mid-batch releases its
// rows to the others. SQLite has a single process and a single writer: no lock is held while
// publishing, so the service's own writes are not blocked meanwhile, and what the batch
// changes afterwards is written through the store's writer queue (Database.Write), in turn
// with the service's transactions.
func (r *Relay) batch(ctx context.Context) (int, error) {
	pubCtx := context.WithoutCancel(ctx)
	query := `SELECT seq, body, attempts FROM outbox WHERE next_attempt_at <= ? ORDER BY seq LIMIT ?`
	if r.store.Dialect() != database.Postgres {
		rows, err := r.due(pubCtx, r.store.DB(), query)
		if err != nil || len(rows) == 0 {
			return 0, err // nothing due: no write either
		}
		errs := r.publishAll(ctx, pubCtx, rows)
		return len(rows), r.store.Write(pubCtx, func(q database.Querier) error { return r.settle(pubCtx, q, rows, errs) })
	}
	tx, err := r.store.DB().BeginTx(pubCtx, nil)
	if err != nil {
		return 0, fmt.Errorf("outbox batch: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	rows, err := r.due(pubCtx, tx, query+` FOR UPDATE SKIP LOCKED`)
	if err != nil {
		return 0, err
	}
	if err := r.settle(pubCtx, tx, rows, r.publishAll(ctx, pubCtx, rows)); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("outbox batch: %w", err)
	}
	return len(rows), nil
}

func (r *Relay) due(ctx context.Context, q database.Querier, query string) ([]row, error) {
	rs, err := q.QueryContext(ctx, r.store.Dialect().Rebind(query), time.Now().UnixMicro(), r.cfg.Batch)
	if err != nil {
		return nil, fmt.Errorf("outbox due: %w", err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var x row
		if err := rs.Scan(&x.seq, &x.body, &x.attempts); err != nil {
			return nil, fmt.Errorf("outbox due: %w", err)
		}
		out = append(out, x)
	}
	return out, rs.Err()
}

// errNotStarted marks the rows of a batch that publishAll did not try.
var errNotStarted = errors.New("not started")

// publishAll publishes rows, Concurrency at a time, and stops starting new ones once one
// failed or ctx ended. It returns the outcome of each row: nil when published,
// errNotStarted when not tried.
func (r *Relay) publishAll(ctx, pubCtx context.Context, rows []row) []error {
	errs := make([]error, len(rows))
	var (
		wg     sync.WaitGroup
		failed atomic.Bool
		sem    = make(chan struct{}, r.cfg.Concurrency)
	)
	for i, x := range rows {
		sem <- struct{}{}
		if failed.Load() || ctx.Err() != nil {
			<-sem
			for j := i; j < len(rows); j++ {
				errs[j] = errNotStarted
			}
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if errs[i] = r.publish(pubCtx, x); errs[i] != nil {
				failed.Store(true)
			}
		}()
	}
	wg.Wait()
	for i, x := range rows {
		switch {
		case errs[i] == nil:
			r.published.Inc()
		case errs[i] != errNotStarted:
			r.failed.Inc()
			delay, _ := r.retry(x, errs[i])
			r.log.WarnContext(ctx, "publish failed; will retry", "seq", x.seq, "attempt", x.attempts+1,
				"retry_in", delay.String(), "err", errs[i])
		}
	}
	return errs
}

// retry returns how long after its failed attempt err the message of x is tried again, and
// whether the attempt counts against the message. A broker that cannot take any message is
// not the message's fault: the message goes at the next look once the broker is back,
// however long it was away, and the attempt does not count.
func (r *Relay) retry(x row, err error) (delay time.Duration, counts bool) {
	if errors.Is(err, broker.ErrUnavailable) {
		return r.cfg.Poll, false
	}
	return r.backoff(x.attempts), true
}

// settle deletes, through q, the rows that publishAll published (errs[i] nil) in one
// statement, and schedules those that failed for another attempt (counted unless the broker
// was unavailable). It does database work only, so that a store's writer may run it again.
func (r *Relay) settle(pubCtx context.Context, q database.Querier, rows []row, errs []error) error {
	var done []any
	for i, x := range rows {
		switch {
		case errs[i] == errNotStarted:
		case errs[i] == nil:
			done = append(done, x.seq)
		default:
			delay, counts := r.retry(x, errs[i])
			counted := 0
			if counts {
				counted = 1
			}
			if _, err := q.ExecContext(pubCtx, r.store.Dialect().Rebind(
				`UPDATE outbox SET attempts = attempts + ?, next_attempt_at = ?, last_error = ? WHERE seq = ?`),
				counted, time.Now().Add(delay).UnixMicro(), truncate(errs[i].Error(), 1000), x.seq); err != nil {
				return fmt.Errorf("outbox retry: %w", err)
			}
		}
	}
	if len(done) == 0 {
		return nil
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(done)), ", ")
	if _, err := q.ExecContext(pubCtx, r.store.Dialect().Rebind(`DELETE FROM outbox WHERE seq IN (`+marks+`)`), done...); err != nil {
		return fmt.Errorf("outbox delete: %w", err)
	}
	return nil
}

// publish decodes one outbox row and hands it to the broker, in a producer span that
// continues the message's trace and becomes its trace parent.
func (r *Relay) publish(ctx context.Context, x row) error {
	var m broker.Message
	if err := json.Unmarshal(x.body, &m); err != nil {
		return fmt.Errorf("outbox message %d does not decode: %w", x.seq, err)
	}
	m.Attempt = x.attempts + 1
	ctx, end := broker.StartPublish(ctx, &m)
	err := r.pub.Publish(ctx, m)
	end(err)
	return err
}

// backoff is the delay before the next attempt at a message that failed attempts times
// before: exponential from 500ms with ±20% jitter, capped at MaxBackoff.
func (r *Relay) backoff(attempts int) time.Duration {
	return retry.Backoff(500*time.Millisecond, time.Duration(r.maxBackoff.Load()), attempts+1)
}

func (r *Relay) untilNext(ctx context.Context) (time.Duration, error) {
	var next sql.NullInt64
	if err := r.store.DB().QueryRowContext(ctx, `SELECT MIN(next_attempt_at) FROM outbox`).Scan(&next); err != nil {
		return 0, fmt.Errorf("outbox next: %w", err)
	}
	if !next.Valid {
		return r.cfg.Poll, nil
	}
	return min(max(time.Until(time.UnixMicro(next.Int64)), 0), r.cfg.Poll), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
