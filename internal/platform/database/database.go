// Package database opens the databases services keep their state in and applies their
// embedded, versioned migrations. SQLite (pure Go, modernc.org/sqlite) is the embedded
// default; PostgreSQL is the distributed mode's database.
package database

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/eventpost/eventpost/internal/platform/private"
)

// Dialect names the SQL dialect of a database.
type Dialect int

// The dialects EventPost stores are written for.
const (
	SQLite Dialect = iota + 1
	Postgres
)

// String implements fmt.Stringer.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "unknown"
}

// Rebind rewrites the ? placeholders of query into the dialect's form ($1, $2… for
// PostgreSQL). Queries must not contain a literal question mark.
func (d Dialect) Rebind(query string) string {
	if d != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Schema is a set of versioned migrations: the files in directory Dir of FS, such as
// 00001_init.sql in goose's format, recorded in the version table Table.
type Schema struct {
	FS  fs.FS
	Dir string
	// Table is the migration version table; "" means goose_db_version. A shared component
	// (such as the outbox) names its own, so that its versions are kept apart from its host's.
	Table string
}

// OpenSQLite opens (creating it if needed) the SQLite database file at path, in WAL mode with
// full synchronous commits, foreign keys on, a busy timeout, and write transactions that take
// the write lock when they begin (so two writers wait for each other instead of failing), and
// applies the migrations of schemas in order. The database file and its -wal, -shm and
// -journal files are readable by their owner only (private.FileMode), whatever the umask:
// the file is created with that mode before SQLite opens it, SQLite gives the files it adds
// the database file's mode, and existing files with a wider mode are tightened.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger, schemas ...Schema) (*sql.DB, error) {
	if err := makePrivate(path, log); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := MigrateAll(ctx, db, SQLite, log, schemas...); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// Statistics for the query planner, as SQLite advises at open: tables whose statistics
	// are missing or out of date are analyzed (a bounded sample each); the others cost nothing.
	if _, err := db.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: optimize: %w", path, err)
	}
	return db, nil
}

// sqliteSuffixes name the files SQLite keeps next to a database file.
var sqliteSuffixes = []string{"-wal", "-shm", "-journal"}

// makePrivate creates the SQLite database file path with mode private.FileMode unless it
// exists, and tightens it and its companion files when they exist with a wider mode.
func makePrivate(path string, log *slog.Logger) error {
	if path == "" || path == ":memory:" {
		return nil
	}
	if err := private.CreateFile(path, log); err != nil {
		return err
	}
	for _, suffix := range sqliteSuffixes {
		if err := private.TightenFile(path+suffix, log); err != nil {
			return err
		}
	}
	return nil
}

// MigrateAll applies the migrations of schemas, in order, that db does not have yet.
func MigrateAll(ctx context.Context, db *sql.DB, d Dialect, log *slog.Logger, schemas ...Schema) error {
	for _, s := range schemas {
		sub, err := fs.Sub(s.FS, s.Dir)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", s.Dir, err)
		}
		if err := MigrateTable(ctx, db, d, sub, cmp.Or(s.Table, "goose_db_version"), log); err != nil {
			return err
		}
	}
	return nil
}

// Migrate applies the migrations in fsys (files such as 00001_init.sql in goose's format) that
// db does not have yet, recording them in the table goose_db_version.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS, log *slog.Logger) error {
	return MigrateTable(ctx, db, d, fsys, "goose_db_version", log)
}

// MigrateTable is Migrate with the version table named, for a shared component (such as the
// outbox) whose migrations are versioned apart from its host service's.
func MigrateTable(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS, table string, log *slog.Logger) error {
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithTableName(table)}
	var gd goose.Dialect
	switch d {
	case SQLite:
		gd = goose.DialectSQLite3
	case Postgres:
		gd = goose.DialectPostgres
		// Replicas starting at once take turns: an advisory lock held for the migration.
		// Retry every second (the default is 5 s) for up to five minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	default:
		return fmt.Errorf("migrate: unknown dialect %d", d)
	}
	p, err := goose.NewProvider(gd, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "path", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// BulkLoadPragmas sets conn, a connection to a SQLite database, up for a bulk load: the
// statement journal (which every insert that fires a trigger writes) in memory, a page cache of
// cacheMiB MiB, so that inserts into indexes in random order find their pages in memory rather
// than reading them back from the file, and the file mapped into memory (bulkMmapBytes), so
// that a page the cache lacks is read without a system call (the merges of the full-text
// index read back every page they replace). It returns the function that restores the
// connection's settings.
func BulkLoadPragmas(ctx context.Context, conn *sql.Conn, cacheMiB int) (func(), error) {
	var tempStore, cacheSize, mmapSize int64
	for _, p := range []struct {
		name string
		v    *int64
	}{{"temp_store", &tempStore}, {"cache_size", &cacheSize}, {"mmap_size", &mmapSize}} {
		if err := conn.QueryRowContext(ctx, `PRAGMA `+p.name).Scan(p.v); err != nil {
			return nil, err
		}
	}
	set := func(ctx context.Context, tempStore, cacheSize, mmapSize int64) error {
		_, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA temp_store = %d; PRAGMA cache_size = %d; PRAGMA mmap_size = %d`,
			tempStore, cacheSize, mmapSize))
		return err
	}
	if err := set(ctx, 2 /* MEMORY */, -int64(cacheMiB)<<10, bulkMmapBytes); err != nil {
		return nil, err
	}
	return func() { _ = set(context.WithoutCancel(ctx), tempStore, cacheSize, mmapSize) }, nil
}

// bulkMmapBytes is how much of a SQLite file BulkLoadPragmas maps into memory; SQLite caps it
// at its compile-time limit (SQLITE_MAX_MMAP_SIZE, 2 GiB less 64 KiB by default). Mapping
// costs address space, not memory: the pages are the kernel's page cache.
const bulkMmapBytes = 4 << 30

// Busy reports whether err is SQLite's SQLITE_BUSY (with any extended code): another
// connection held the database's lock longer than the busy timeout.
func Busy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// BulkBusyWait is how long bulk work on a SQLite file that EventPost may be writing to, such
// as a seed, waits in all for a transaction's turn (RetryBusy).
const BulkBusyWait = 2 * time.Minute

// BulkPause is how long RetryBusy pauses after a transaction of bulk work: longer than the
// longest sleep of SQLite's busy handler (100 ms), so that a writer of another connection
// waiting in its handler finds the lock free at its next try.
const BulkPause = 110 * time.Millisecond

// RetryBusy runs fn, a transaction of its own, again while it fails with SQLITE_BUSY, for at
// most wait in all, pausing a little between tries: for bulk work, such as a seed, that may
// wait longer for its turn than a request of the service may. SQLite's busy handler is not
// fair: a process that writes without pause can keep the lock from another for longer than
// any one busy timeout. So bulk work takes its turn and then leaves one: once fn succeeded,
// RetryBusy pauses BulkPause before it returns, and the caller's next transaction starts
// after the writers that waited meanwhile.
func RetryBusy(ctx context.Context, wait time.Duration, fn func() error) error {
	deadline := time.Now().Add(wait)
	for {
		err := fn()
		if err == nil {
			select {
			case <-ctx.Done():
			case <-time.After(BulkPause):
			}
			return nil
		}
		if !Busy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
