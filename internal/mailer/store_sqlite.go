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

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLiteStore is the Store of the embedded mode, in one SQLite database file.
type SQLiteStore struct {
	*sqlStore
}

var _ Store = (*SQLiteStore)(nil)

// OpenSQLite opens (creating it if needed) the database at path and brings its schema, the
// outbox's included, up to date.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger) (*SQLiteStore, error) {
	db, err := database.OpenSQLite(ctx, path, log,
		database.Schema{FS: sqliteMigrations, Dir: "migrations/sqlite"}, outbox.Schema(database.SQLite))
	if err != nil {
		return nil, fmt.Errorf("open mailer store: %w", err)
	}
	return &SQLiteStore{&sqlStore{db: db, d: database.SQLite}}, nil
}

// DB returns the database, for the outbox relay.
func (s *SQLiteStore) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *SQLiteStore) Close() error { return s.db.Close() }
