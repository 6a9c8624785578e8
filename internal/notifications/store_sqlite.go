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

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLiteStore is the Store kept in a SQLite database: the embedded default.
type SQLiteStore struct {
	*sqlStore
}

var _ Store = (*SQLiteStore)(nil)

// OpenSQLite opens the SQLite database at path, creating it if needed, and brings its
// schema, outbox and inbox included, up to date.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger) (*SQLiteStore, error) {
	db, err := database.OpenSQLite(ctx, path, log,
		database.Schema{FS: sqliteMigrations, Dir: "migrations/sqlite"}, outbox.Schema(database.SQLite))
	if err != nil {
		return nil, fmt.Errorf("open notifications store: %w", err)
	}
	return &SQLiteStore{&sqlStore{db: db, d: database.SQLite}}, nil
}

// DB returns the store's database, on which the app builds the outbox relay.
func (s *SQLiteStore) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *SQLiteStore) Close() error { return s.db.Close() }
