package database

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// PostgresConfig sizes a PostgreSQL connection pool.
type PostgresConfig struct {
	// MaxConns caps open connections (default 10).
	MaxConns int
}

// OpenPostgres connects to the PostgreSQL database at url (postgres://user:pass@host:port/db)
// through pgx and applies the migrations of schemas in order. Several replicas may do so at
// once: migrations run under an advisory lock.
func OpenPostgres(ctx context.Context, url string, cfg PostgresConfig, log *slog.Logger, schemas ...Schema) (*sql.DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	conns := cmp.Or(max(cfg.MaxConns, 0), 10)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := MigrateAll(ctx, db, Postgres, log, schemas...); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return db, nil
}

// openPing returns the pool of one connection to the PostgreSQL database at url on which a
// Store pings (see Store.Ping). The connection is made at the first ping.
func openPing(url string) (*sql.DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	return db, nil
}
