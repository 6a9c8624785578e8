package mailer

import (
	"context"
	"embed"
	"log/slog"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// storeDB is how the mailer database is kept: its own migrations, then the outbox's.
var storeDB = database.Service{Name: "mailer", Migrations: migrations,
	Shared: []func(database.Dialect) database.Schema{outbox.Schema}}

// postgresSchemas are the migrations of the mailer database in PostgreSQL.
func postgresSchemas() []database.Schema { return storeDB.Schemas(database.Postgres) }

// SQLiteStore is the Store of the embedded mode, in one SQLite database file.
type SQLiteStore struct{ sqlStore }

// PostgresStore is the Store of the distributed mode, in the email-sender's own PostgreSQL
// database. Any number of replicas may share it: of the deliveries of one idempotency key,
// one at a time holds its claim (see Claim).
type PostgresStore struct{ sqlStore }

var (
	_ Store = (*SQLiteStore)(nil)
	_ Store = (*PostgresStore)(nil)
)

// OpenSQLite opens (creating it if needed) the database at path and brings its schema, the
// outbox's included, up to date.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger) (*SQLiteStore, error) {
	st, err := storeDB.Open(ctx, database.SQLite, path, log)
	if err != nil {
		return nil, err
	}
	return &SQLiteStore{sqlStore{st}}, nil
}

// OpenPostgres connects to the email-sender's database at url
// (postgres://user:pass@host:port/db) and brings its schema, the outbox's included, up to
// date; replicas starting at once take turns.
func OpenPostgres(ctx context.Context, url string, log *slog.Logger) (*PostgresStore, error) {
	st, err := storeDB.Open(ctx, database.Postgres, url, log)
	if err != nil {
		return nil, err
	}
	return &PostgresStore{sqlStore{st}}, nil
}
