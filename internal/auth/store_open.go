package auth

import (
	"context"
	"embed"
	"log/slog"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// storeDB is how the auth database is kept: its own migrations, then the outbox's.
var storeDB = database.Service{Name: "auth", Migrations: migrations,
	Shared: []func(database.Dialect) database.Schema{outbox.Schema}}

// postgresSchemas are the migrations of the auth database in PostgreSQL.
func postgresSchemas() []database.Schema { return storeDB.Schemas(database.Postgres) }

// SQLiteStore is the Store of the embedded mode, over one SQLite database file.
type SQLiteStore struct{ sqlStore }

// PostgresStore is the Store of the distributed mode, in the auth service's own PostgreSQL
// database. Any number of replicas may share it.
type PostgresStore struct{ sqlStore }

var (
	_ Store = (*SQLiteStore)(nil)
	_ Store = (*PostgresStore)(nil)
)

// OpenSQLite opens (creating it if needed) the auth database at path and brings its schema,
// outbox included, up to date.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger) (*SQLiteStore, error) {
	st, err := storeDB.Open(ctx, database.SQLite, path, log)
	if err != nil {
		return nil, err
	}
	return &SQLiteStore{sqlStore{st}}, nil
}

// OpenPostgres connects to the auth database at url (postgres://user:pass@host:port/db) and
// brings its schema, outbox included, up to date; replicas starting at once take turns.
func OpenPostgres(ctx context.Context, url string, log *slog.Logger) (*PostgresStore, error) {
	st, err := storeDB.Open(ctx, database.Postgres, url, log)
	if err != nil {
		return nil, err
	}
	return &PostgresStore{sqlStore{st}}, nil
}
