package notifications

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

// postgresSchemas are the migrations of the notifications database in PostgreSQL: its own,
// then the outbox's.
func postgresSchemas() []database.Schema {
	return []database.Schema{
		{FS: postgresMigrations, Dir: "migrations/postgres"},
		outbox.Schema(database.Postgres),
	}
}

// PostgresStore is the Store of the distributed mode, in the notifications service's own
// PostgreSQL database. Any number of replicas may share it: each due reminder is claimed by
// exactly one of them (see ClaimDue).
type PostgresStore struct {
	*sqlStore
}

var _ Store = (*PostgresStore)(nil)

// OpenPostgres connects to the notifications database at url
// (postgres://user:pass@host:port/db) and brings its schema, outbox and inbox included, up to
// date; replicas starting at once take turns.
func OpenPostgres(ctx context.Context, url string, log *slog.Logger) (*PostgresStore, error) {
	db, err := database.OpenPostgres(ctx, url, database.PostgresConfig{}, log, postgresSchemas()...)
	if err != nil {
		return nil, fmt.Errorf("open notifications store: %w", err)
	}
	return &PostgresStore{&sqlStore{db: db, d: database.Postgres}}, nil
}

// DB returns the store's database, on which the app builds the outbox relay.
func (s *PostgresStore) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *PostgresStore) Close() error { return s.db.Close() }
