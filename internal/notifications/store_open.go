package notifications

import (
	"context"
	"embed"
	"fmt"
	"log/slog"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// schemas are the migrations of the notifications database in dialect d: its own, then the
// outbox's.
func schemas(d database.Dialect) []database.Schema {
	return []database.Schema{database.Migrations(migrations, d), outbox.Schema(d)}
}

// postgresSchemas are the migrations of the notifications database in PostgreSQL.
func postgresSchemas() []database.Schema { return schemas(database.Postgres) }

// open opens the notifications database of dialect d at dsn and brings its schema, outbox
// and inbox included, up to date.
func open(ctx context.Context, d database.Dialect, dsn string, log *slog.Logger) (sqlStore, error) {
	st, err := database.Open(ctx, d, dsn, log, schemas(d)...)
	if err != nil {
		return sqlStore{}, fmt.Errorf("open notifications store: %w", err)
	}
	return sqlStore{st}, nil
}

// SQLiteStore is the Store kept in a SQLite database: the embedded default.
type SQLiteStore struct{ sqlStore }

// PostgresStore is the Store of the distributed mode, in the notifications service's own
// PostgreSQL database. Any number of replicas may share it: each due reminder is claimed by
// exactly one of them (see ClaimDue).
type PostgresStore struct{ sqlStore }

var (
	_ Store = (*SQLiteStore)(nil)
	_ Store = (*PostgresStore)(nil)
)

// OpenSQLite opens the SQLite database at path, creating it if needed, and brings its
// schema, outbox and inbox included, up to date.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger) (*SQLiteStore, error) {
	st, err := open(ctx, database.SQLite, path, log)
	if err != nil {
		return nil, err
	}
	return &SQLiteStore{st}, nil
}

// OpenPostgres connects to the notifications database at url
// (postgres://user:pass@host:port/db) and brings its schema, outbox and inbox included, up to
// date; replicas starting at once take turns.
func OpenPostgres(ctx context.Context, url string, log *slog.Logger) (*PostgresStore, error) {
	st, err := open(ctx, database.Postgres, url, log)
	if err != nil {
		return nil, err
	}
	return &PostgresStore{st}, nil
}
