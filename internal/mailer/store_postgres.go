package mailer

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// postgresSchemas are the migrations of the email-sender's database in PostgreSQL: its own,
// then the outbox's.
func postgresSchemas() []database.Schema {
	return []database.Schema{
		{FS: postgresMigrations, Dir: "migrations/postgres"},
		outbox.Schema(database.Postgres),
	}
}

// PostgresStore is the Store of the distributed mode, in the email-sender's own PostgreSQL
// database. Any number of replicas may share it: of the deliveries of one idempotency key,
// one at a time holds its claim (see Claim).
type PostgresStore struct {
	*sqlStore
}

var _ Store = (*PostgresStore)(nil)

// OpenPostgres connects to the email-sender's database at url
// (postgres://user:pass@host:port/db) and brings its schema, the outbox's included, up to
// date; replicas starting at once take turns.
func OpenPostgres(ctx context.Context, url string, log *slog.Logger) (*PostgresStore, error) {
	db, err := database.OpenPostgres(ctx, url, database.PostgresConfig{}, log, postgresSchemas()...)
	if err != nil {
		return nil, fmt.Errorf("open mailer store: %w", err)
	}
	return &PostgresStore{&sqlStore{db: db, d: database.Postgres}}, nil
}

// DB returns the database, for the outbox relay.
func (s *PostgresStore) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *PostgresStore) Close() error { return s.db.Close() }
