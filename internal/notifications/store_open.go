package notifications

import (
	"context"
	"embed"
	"log/slog"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// storeDB is how the notifications database is kept: its own migrations, then the outbox's.
var storeDB = database.Service{Name: "notifications", Migrations: migrations,
	Shared: []func(database.Dialect) database.Schema{outbox.Schema}}

// postgresSchemas are the migrations of the notifications database in PostgreSQL.
func postgresSchemas() []database.Schema { return storeDB.Schemas(database.Postgres) }

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
	st, err := storeDB.Open(ctx, database.SQLite, path, log)
	if err != nil {
		return nil, err
	}
	return &SQLiteStore{sqlStore{st}}, nil
}

// OpenPostgres connects to the notifications database at url
// (postgres://user:pass@host:port/db) and brings its schema, outbox and inbox included, up to
// date; replicas starting at once take turns.
func OpenPostgres(ctx context.Context, url string, log *slog.Logger) (*PostgresStore, error) {
	st, err := storeDB.Open(ctx, database.Postgres, url, log)
	if err != nil {
		return nil, err
	}
	return &PostgresStore{sqlStore{st}}, nil
}
