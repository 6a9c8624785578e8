package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgconn"
)

// Store is what every service's SQL store is built on: a migrated database and its dialect,
// with the methods all of them share. A service's store embeds it.
type Store struct {
	db *sql.DB
	d  Dialect
	// writer is held by the SQLite transaction under way (nil for PostgreSQL): SQLite has one
	// writer at a time, and transactions waiting here queue in order of arrival for as long
	// as their context allows, where in SQLite's busy handler they would poll, in no order,
	// and fail after its timeout however long the queue.
	writer chan struct{}
	// group holds the SQLite transactions that wait for the writer, which the next holder
	// runs together (see InTx); nil for PostgreSQL.
	group *txGroup
	// prepared keeps the statements of Prepared.
	prepared *Prepared
	// ping is the one-connection pool of Ping in PostgreSQL (nil: Ping uses db). A readiness
	// check through db would queue behind every request that holds or awaits one of db's
	// connections: under a burst of writes to one row that is seconds, and Consul would take
	// a busy but healthy instance out of service.
	ping *sql.DB
}

// NewStore returns the Store over db, a database of dialect d. The Stores of one database
// must be copies of one NewStore's result, so that they share its SQLite writer queue.
func NewStore(db *sql.DB, d Dialect) Store {
	s := Store{db: db, d: d, prepared: newPrepared(db, d)}
	if d == SQLite {
		s.writer = make(chan struct{}, 1)
		s.group = &txGroup{}
	}
	return s
}

// Open opens the database of dialect d at dsn (a file path for SQLite, a URL for PostgreSQL;
// see OpenSQLite and OpenPostgres) and applies the migrations of schemas in order.
func Open(ctx context.Context, d Dialect, dsn string, log *slog.Logger, schemas ...Schema) (Store, error) {
	var (
		db  *sql.DB
		err error
	)
	switch d {
	case SQLite:
		db, err = OpenSQLite(ctx, dsn, log, schemas...)
	case Postgres:
		db, err = OpenPostgres(ctx, dsn, PostgresConfig{}, log, schemas...)
	default:
		err = fmt.Errorf("open: unknown dialect %d", d)
	}
	if err != nil {
		return Store{}, err
	}
	s := NewStore(db, d)
	if d == Postgres {
		if s.ping, err = openPing(dsn); err != nil {
			db.Close()
			return Store{}, err
		}
	}
	return s, nil
}

// Migrations returns the schema of a service's own migrations for dialect d: the directory
// migrations/<dialect> (migrations/sqlite, migrations/postgres) of fsys.
func Migrations(fsys fs.FS, d Dialect) Schema {
	return Schema{FS: fsys, Dir: "migrations/" + d.String()}
}

// DB returns the database, on which the app builds the outbox relay.
func (s Store) DB() *sql.DB { return s.db }

// Dialect returns the database's dialect.
func (s Store) Dialect() Dialect { return s.d }

// Rebind rewrites the ? placeholders of query into the dialect's form (see Dialect.Rebind).
func (s Store) Rebind(query string) string { return s.d.Rebind(query) }

// Ping checks that the database answers, over a connection of its own in PostgreSQL.
func (s Store) Ping(ctx context.Context) error {
	if s.ping != nil {
		return s.ping.PingContext(ctx)
	}
	return s.db.PingContext(ctx)
}

// Prepared returns the store's database for the hot reads of fixed SQL: each statement is
// prepared once per connection and kept (see Prepared).
func (s Store) Prepared() *Prepared {
	if s.prepared == nil { // a Store made without NewStore: nothing kept
		return &Prepared{db: s.db}
	}
	return s.prepared
}

// Close closes the database. A SQLite database first brings the planner's statistics up to
// date where the work since they were taken calls for it (PRAGMA optimize, as SQLite advises
// before closing), so that the next start plans with them.
func (s Store) Close() error {
	if s.prepared != nil {
		s.prepared.close()
	}
	if s.d == SQLite {
		_, _ = s.db.Exec("PRAGMA optimize") // best effort: the data is safe either way
	}
	if s.ping != nil {
		s.ping.Close()
	}
	return s.db.Close()
}

// txAttempts is how many times InTx runs a transaction that PostgreSQL aborted to break a
// deadlock or a serialization conflict.
const txAttempts = 3

// InTx runs fn in a transaction, and commits it when fn returns nil or rolls it back. A
// transaction that PostgreSQL aborted to break a deadlock or a serialization conflict is run
// again, up to txAttempts times in all: the other transaction went through, so this one
// will. fn must therefore do nothing but database work through tx (or set variables it sets
// again on every run).
//
// In SQLite the transactions of concurrent calls are committed together (group commit, see
// groupTx): each commit waits for the disk (synchronous=FULL), one at a time, so that commit
// is shared by every call that queued for the writer meanwhile. Each fn still runs alone,
// one after the other, in a savepoint of its own: an fn that fails is rolled back to its
// savepoint and changes nothing, and InTx returns only once what fn did is committed, or with
// an error when it is not.
func (s Store) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.group != nil {
		return s.groupTx(ctx, fn)
	}
	return s.inTx(ctx, s.db, fn)
}

// Querier runs statements and queries: a *sql.DB or a *sql.Tx.
type Querier interface {
	Execer
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Write runs fn, a write whose every statement may commit on its own: in PostgreSQL fn gets
// the database, and each statement is a transaction of its own; in SQLite fn runs in InTx,
// so that its commit is shared with those of concurrent transactions.
func (s Store) Write(ctx context.Context, fn func(q Querier) error) error {
	if s.group == nil {
		return fn(s.db)
	}
	return s.InTx(ctx, func(tx *sql.Tx) error { return fn(tx) })
}

// Bulk runs fn, a transaction of bulk work on the store (a seed) that may run beside EventPost
// writing to the same database: in SQLite through RetryBusy, which waits up to BulkBusyWait
// for its turn at the file's lock and then leaves one; in PostgreSQL, whose writers do not
// take turns at a lock of the whole database, fn alone.
func (s Store) Bulk(ctx context.Context, fn func() error) error {
	if s.d != SQLite {
		return fn()
	}
	return RetryBusy(ctx, BulkBusyWait, fn)
}

// InConnTx is InTx on conn, a connection of the store's database (DB().Conn), for work that
// changes the connection's own settings, such as a SQLite pragma for a bulk load.
func (s Store) InConnTx(ctx context.Context, conn *sql.Conn, fn func(tx *sql.Tx) error) error {
	return s.inTx(ctx, conn, fn)
}

// WithWriter runs fn, which writes to the database in transactions of its own, such as
// statements run outside a transaction, once the store's transactions in this process (see
// InTx) let it: SQLite has one writer at a time. It is fn alone for PostgreSQL.
func (s Store) WithWriter(ctx context.Context, fn func() error) error {
	if s.writer != nil {
		select {
		case s.writer <- struct{}{}:
			defer func() { <-s.writer }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fn()
}

// beginner begins transactions: a *sql.DB or a *sql.Conn.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func (s Store) inTx(ctx context.Context, db beginner, fn func(tx *sql.Tx) error) error {
	var err error
	for range txAttempts {
		if err = s.inTxOnce(ctx, db, fn); !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (s Store) inTxOnce(ctx context.Context, db beginner, fn func(tx *sql.Tx) error) error {
	return s.WithWriter(ctx, func() error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck // a no-op after Commit
		if err := fn(tx); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}

// retryable reports whether err is PostgreSQL's abort of a transaction that lost a deadlock
// (40P01) or a serialization conflict (40001).
func retryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}

// Scanner is a row to read: a *sql.Row or *sql.Rows.
type Scanner interface{ Scan(dest ...any) error }

// Collect reads every row of rows with scan, and closes rows.
func Collect[T any](rows *sql.Rows, scan func(Scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Service is how a service keeps its database: its own migrations, in the directories
// migrations/sqlite and migrations/postgres of Migrations, then those of the shared components
// it holds (such as the outbox), given per dialect. Name is for errors.
type Service struct {
	Name       string
	Migrations fs.FS
	Shared     []func(Dialect) Schema
}

// With returns s holding also the shared components whose schemas are given, applied after
// the others.
func (s Service) With(shared ...func(Dialect) Schema) Service {
	s.Shared = append(s.Shared[:len(s.Shared):len(s.Shared)], shared...)
	return s
}

// Schemas returns the schemas of the service's database in dialect d, in the order they apply.
func (s Service) Schemas(d Dialect) []Schema {
	out := []Schema{Migrations(s.Migrations, d)}
	for _, shared := range s.Shared {
		out = append(out, shared(d))
	}
	return out
}

// Open opens the service's database of dialect d at dsn (see Open) and brings its schemas up
// to date.
func (s Service) Open(ctx context.Context, d Dialect, dsn string, log *slog.Logger) (Store, error) {
	st, err := Open(ctx, d, dsn, log, s.Schemas(d)...)
	if err != nil {
		return Store{}, fmt.Errorf("open %s store: %w", s.Name, err)
	}
	return st, nil
}

// OpenStore opens the database of service s, of dialect d at dsn, like s.Open, and returns
// the service's store over it: an S, a struct that embeds the Store and nothing else.
func OpenStore[S ~struct{ Store }](ctx context.Context, s Service, d Dialect, dsn string, log *slog.Logger) (*S, error) {
	st, err := s.Open(ctx, d, dsn, log)
	if err != nil {
		return nil, err
	}
	return &S{st}, nil
}
