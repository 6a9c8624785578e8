package idempotency

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/eventpost/eventpost/internal/platform/database"
)

//go:embed migrations
var migrations embed.FS

// Schema is the table idempotency_keys in dialect d, for a service that keeps idempotency
// keys to add to its database (database.Service.With); its migrations have their own version
// table.
func Schema(d database.Dialect) database.Schema {
	return database.Schema{FS: migrations, Dir: "migrations/" + d.String(), Table: "goose_idempotency_version"}
}

// SQLStore is the Store over a service's database, in the table idempotency_keys that Schema
// creates:
//
//	idempotency_keys (scope TEXT, idem_key TEXT, fingerprint BLOB/BYTEA, owner TEXT,
//	                  created_at INTEGER/BIGINT (unix µs), status INTEGER NULL,
//	                  header TEXT NULL (JSON), body BLOB/BYTEA NULL,
//	                  PRIMARY KEY (scope, idem_key)), indexed on created_at
type SQLStore struct {
	db *sql.DB
	d  database.Dialect
}

// NewSQLStore returns the store over db, a database of dialect d.
func NewSQLStore(db *sql.DB, d database.Dialect) *SQLStore { return &SQLStore{db: db, d: d} }

// Insert implements Store.
func (s *SQLStore) Insert(ctx context.Context, r Record) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.d.Rebind(
		`INSERT INTO idempotency_keys (scope, idem_key, fingerprint, owner, created_at) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (scope, idem_key) DO NOTHING`),
		r.Key.Scope, r.Key.Value, r.Fingerprint, r.Owner, database.Micros(r.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("insert idempotency key: %w", err)
	}
	return affected(res, "insert idempotency key")
}

// Get implements Store.
func (s *SQLStore) Get(ctx context.Context, k Key) (Record, error) {
	var (
		r       = Record{Key: k}
		created int64
		status  sql.NullInt64
		header  sql.NullString
		body    []byte
	)
	err := s.db.QueryRowContext(ctx, s.d.Rebind(
		`SELECT fingerprint, owner, created_at, status, header, body FROM idempotency_keys
		 WHERE scope = ? AND idem_key = ?`), k.Scope, k.Value).
		Scan(&r.Fingerprint, &r.Owner, &created, &status, &header, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("get idempotency key: %w", err)
	}
	r.CreatedAt = database.FromMicros(created)
	if status.Valid {
		resp := Response{Status: int(status.Int64), Header: http.Header{}, Body: body}
		if header.Valid {
			if err := json.Unmarshal([]byte(header.String), &resp.Header); err != nil {
				return Record{}, fmt.Errorf("get idempotency key: header: %w", err)
			}
		}
		if resp.Body == nil {
			resp.Body = []byte{}
		}
		r.Response = &resp
	}
	return r, nil
}

// Replace implements Store.
func (s *SQLStore) Replace(ctx context.Context, owner string, r Record) (bool, error) {
	var (
		status, header any
		body           []byte
	)
	if r.Response != nil {
		h, err := json.Marshal(r.Response.Header)
		if err != nil {
			return false, fmt.Errorf("replace idempotency key: %w", err)
		}
		status, header, body = r.Response.Status, string(h), r.Response.Body
	}
	res, err := s.db.ExecContext(ctx, s.d.Rebind(
		`UPDATE idempotency_keys SET fingerprint = ?, owner = ?, created_at = ?, status = ?, header = ?, body = ?
		 WHERE scope = ? AND idem_key = ? AND owner = ?`),
		r.Fingerprint, r.Owner, database.Micros(r.CreatedAt), status, header, body, r.Key.Scope, r.Key.Value, owner)
	if err != nil {
		return false, fmt.Errorf("replace idempotency key: %w", err)
	}
	return affected(res, "replace idempotency key")
}

// Complete implements Store.
func (s *SQLStore) Complete(ctx context.Context, k Key, owner string, resp Response) (bool, error) {
	h, err := json.Marshal(resp.Header)
	if err != nil {
		return false, fmt.Errorf("complete idempotency key: %w", err)
	}
	body := resp.Body
	if body == nil {
		body = []byte{}
	}
	res, err := s.db.ExecContext(ctx, s.d.Rebind(
		`UPDATE idempotency_keys SET status = ?, header = ?, body = ?
		 WHERE scope = ? AND idem_key = ? AND owner = ? AND status IS NULL`),
		resp.Status, string(h), body, k.Scope, k.Value, owner)
	if err != nil {
		return false, fmt.Errorf("complete idempotency key: %w", err)
	}
	return affected(res, "complete idempotency key")
}

// Delete implements Store.
func (s *SQLStore) Delete(ctx context.Context, k Key, owner string) error {
	if _, err := s.db.ExecContext(ctx, s.d.Rebind(
		`DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ? AND owner = ?`),
		k.Scope, k.Value, owner); err != nil {
		return fmt.Errorf("delete idempotency key: %w", err)
	}
	return nil
}

// DeleteBefore implements Store.
func (s *SQLStore) DeleteBefore(ctx context.Context, t time.Time, limit int) (int, error) {
	n, err := database.Exec(ctx, s.db, s.d.Rebind(
		`DELETE FROM idempotency_keys WHERE (scope, idem_key) IN
		 (SELECT scope, idem_key FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)`),
		database.Micros(t), limit)
	if err != nil {
		return 0, fmt.Errorf("delete expired idempotency keys: %w", err)
	}
	return int(n), nil
}

func affected(res sql.Result, op string) (bool, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	return n == 1, nil
}
