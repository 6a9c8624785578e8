package auth

import (
	"context"
	"embed"
	"log/slog"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// migrations are the auth database's own: migrations/sqlite and migrations/postgres.
//
//go:embed migrations
var migrations embed.FS

// storeDB is how the auth database is kept: its own migrations, then the outbox's.
var storeDB = database.Service{Name: "auth", Migrations: migrations,
	Shared: []func(database.Dialect) database.Schema{outbox.Schema}}

var _ Store = (*SQLStore)(nil)

// Open opens the auth database of dialect d at dsn — a SQLite file path (the file is created if
// needed) or a PostgreSQL URL (postgres://user:pass@host:port/db) — and brings its schema,
// outbox included, up to date; PostgreSQL replicas starting at once take turns.
func Open(ctx context.Context, d database.Dialect, dsn string, log *slog.Logger) (*SQLStore, error) {
	return database.OpenStore[SQLStore](ctx, storeDB, d, dsn, log)
}
