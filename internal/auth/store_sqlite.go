package auth

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

// SQLiteStore is the Store of the embedded mode, over one SQLite database file.
type SQLiteStore struct {
	*sqlStore
}

var _ Store = (*SQLiteStore)(nil)

// OpenSQLite opens (creating it if needed) the auth database at path and brings its schema,
// outbox included, up to date.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger) (*SQLiteStore, error) {
	db, err := database.OpenSQLite(ctx, path, log,
		database.Schema{FS: sqliteMigrations, Dir: "migrations/sqlite"}, outbox.Schema(database.SQLite))
	if err != nil {
		return nil, fmt.Errorf("open auth store: %w", err)
	}
	return &SQLiteStore{&sqlStore{db: db, d: database.SQLite}}, nil
}

// DB returns the database, on which the app builds the outbox relay.
func (s *SQLiteStore) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *SQLiteStore) Close() error { return s.db.Close() }
