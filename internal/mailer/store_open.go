package mailer

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

// schemas are the migrations of the email-sender's database in dialect d: its own, then the
// outbox's.
func schemas(d database.Dialect) []database.Schema {
	return []database.Schema{database.Migrations(migrations, d), outbox.Schema(d)}
}

// postgresSchemas are the migrations of the email-sender's database in PostgreSQL.
func postgresSchemas() []database.Schema { return schemas(database.Postgres) }

// open opens the email-sender's database of dialect d at dsn and brings its schema, the
// outbox's included, up to date.
func open(ctx context.Context, d database.Dialect, dsn string, log *slog.Logger) (sqlStore, error) {
	st, err := database.Open(ctx, d, dsn, log, schemas(d)...)
	if err != nil {
		return sqlStore{}, fmt.Errorf("open mailer store: %w", err)
	}
	return sqlStore{st}, nil
}

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
	st, err := open(ctx, database.SQLite, path, log)
	if err != nil {
		return nil, err
	}
	return &SQLiteStore{st}, nil
}

// OpenPostgres connects to the email-sender's database at url
// (postgres://user:pass@host:port/db) and brings its schema, the outbox's included, up to
// date; replicas starting at once take turns.
func OpenPostgres(ctx context.Context, url string, log *slog.Logger) (*PostgresStore, error) {
	st, err := open(ctx, database.Postgres, url, log)
	if err != nil {
		return nil, err
	}
	return &PostgresStore{st}, nil
}
