package database

import (
	"context"
	"database/sql"
)

// Execer runs a statement: a *sql.DB or a *sql.Tx.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Exec runs the statement query on db and returns how many rows it affected.
func Exec(ctx context.Context, db Execer, query string, args ...any) (int64, error) {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// ExecSome runs the statement query on db, which should affect a row, and returns none when
// it affected none.
func ExecSome(ctx context.Context, db Execer, none error, query string, args ...any) error {
	n, err := Exec(ctx, db, query, args...)
	if err == nil && n == 0 {
		err = none
	}
	return err
}
