package events

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strings"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// migrations are the events database's own: migrations/sqlite and migrations/postgres.
//
//go:embed migrations
var migrations embed.FS

// storeDB is how the events database is kept: its own migrations, then the outbox's.
var storeDB = database.Service{Name: "events", Migrations: migrations,
	Shared: []func(database.Dialect) database.Schema{outbox.Schema}}

var _ Store = (*SQLStore)(nil)

// Open opens the events database of dialect d at dsn — a SQLite file path (the file is
// created if needed) or a PostgreSQL URL (postgres://user:pass@host:port/db), which several
// replicas may open at once — and brings its schema, outbox included, up to date.
func Open(ctx context.Context, d database.Dialect, dsn string, log *slog.Logger) (*SQLStore, error) {
	if d == database.Postgres {
		var err error
		if dsn, err = withCustomPlans(dsn); err != nil {
			return nil, fmt.Errorf("open events store: %w", err)
		}
	}
	return database.OpenStore[SQLStore](ctx, storeDB, d, dsn, log)
}

// withCustomPlans returns the connection string dsn (a URL or keyword=value pairs) with the
// session setting plan_cache_mode=force_custom_plan, unless dsn sets it. pgx prepares each
// query once per connection, and after five runs PostgreSQL may switch a prepared query to a
// generic plan, made without the values: the plan of an average tag, word or place, which is
// the wrong one for a rare tag or a crowded city (measured: a distance search went from 0.3 ms
// to 80-200 ms). A custom plan costs a planning per search, a fraction of a millisecond.
func withCustomPlans(dsn string) (string, error) {
	const name, value = "plan_cache_mode", "force_custom_plan"
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		if strings.Contains(dsn, name) {
			return dsn, nil
		}
		return strings.TrimSpace(dsn + " " + name + "=" + value), nil
	}
	u, err := neturl.Parse(dsn)
	if err != nil {
		var uerr *neturl.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL, which may hold a password
		}
		return "", fmt.Errorf("parse database URL: %w", err)
	}
	q := u.Query()
	if !q.Has(name) {
		q.Set(name, value)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
