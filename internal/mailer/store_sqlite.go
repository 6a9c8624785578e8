package mailer

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLiteStore is the Store of the embedded mode, in one SQLite database file.
type SQLiteStore struct {
	db *sql.DB
	d  database.Dialect
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
	return &SQLiteStore{db: db, d: database.SQLite}, nil
}

// DB returns the database, for the outbox relay.
func (s *SQLiteStore) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *SQLiteStore) Close() error { return s.db.Close() }

// Ping implements Store.
func (s *SQLiteStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

const recordColumns = `idempotency_key, kind, state, claim_token, claimed_at, message_id, error, created_at, completed_at`

// Claim implements Store.
func (s *SQLiteStore) Claim(ctx context.Context, c Claim) (Record, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Record{}, fmt.Errorf("claim %s: %w", c.Key, err)
	}
	defer tx.Rollback()
	at := c.At.UnixMicro()
	res, err := tx.ExecContext(ctx, s.d.Rebind(`
		INSERT INTO sent_messages (idempotency_key, kind, state, claim_token, claimed_at, created_at)
		VALUES (?, ?, 'sending', ?, ?, ?)
		ON CONFLICT (idempotency_key) DO NOTHING`),
		c.Key, string(c.Kind), c.Token, at, at)
	if err != nil {
		return Record{}, fmt.Errorf("claim %s: %w", c.Key, err)
	}
	claimed, err := oneRow(res)
	if err != nil {
		return Record{}, fmt.Errorf("claim %s: %w", c.Key, err)
	}
	if !claimed {
		// Take over a claim whose lease ran out (its consumer crashed or hangs).
		res, err := tx.ExecContext(ctx, s.d.Rebind(`
			UPDATE sent_messages SET claim_token = ?, claimed_at = ?
			WHERE idempotency_key = ? AND state = 'sending' AND claimed_at <= ?`),
			c.Token, at, c.Key, c.At.Add(-c.Lease).UnixMicro())
		if err != nil {
			return Record{}, fmt.Errorf("claim %s: %w", c.Key, err)
		}
		if claimed, err = oneRow(res); err != nil {
			return Record{}, fmt.Errorf("claim %s: %w", c.Key, err)
		}
	}
	rec, err := s.get(ctx, tx, c.Key)
	if err != nil {
		return Record{}, fmt.Errorf("claim %s: %w", c.Key, err)
	}
	if !claimed && rec.State == StateSending {
		return Record{}, fmt.Errorf("claim %s: %w", c.Key, ErrClaimed)
	}
	if err := tx.Commit(); err != nil {
		return Record{}, fmt.Errorf("claim %s: %w", c.Key, err)
	}
	return rec, nil
}

// Complete implements Store.
func (s *SQLiteStore) Complete(ctx context.Context, o Outcome, msgs ...broker.Message) error {
	if o.State != StateSent && o.State != StateFailed {
		return fmt.Errorf("complete %s: invalid outcome state %q", o.Key, o.State)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("complete %s: %w", o.Key, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.d.Rebind(`
		UPDATE sent_messages
		SET state = ?, message_id = ?, error = ?, completed_at = ?, claim_token = NULL
		WHERE idempotency_key = ? AND state = 'sending'`),
		o.State, o.MessageID, o.Error, o.At.UnixMicro(), o.Key)
	if err != nil {
		return fmt.Errorf("complete %s: %w", o.Key, err)
	}
	done, err := oneRow(res)
	if err != nil {
		return fmt.Errorf("complete %s: %w", o.Key, err)
	}
	if !done {
		return fmt.Errorf("complete %s: %w", o.Key, ErrNotClaimed)
	}
	if err := outbox.Add(ctx, tx, s.d, msgs...); err != nil {
		return fmt.Errorf("complete %s: %w", o.Key, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("complete %s: %w", o.Key, err)
	}
	return nil
}

// Release implements Store.
func (s *SQLiteStore) Release(ctx context.Context, key, token string) error {
	res, err := s.db.ExecContext(ctx, s.d.Rebind(`
		DELETE FROM sent_messages WHERE idempotency_key = ? AND state = 'sending' AND claim_token = ?`),
		key, token)
	if err != nil {
		return fmt.Errorf("release %s: %w", key, err)
	}
	released, err := oneRow(res)
	if err != nil {
		return fmt.Errorf("release %s: %w", key, err)
	}
	if !released {
		return fmt.Errorf("release %s: %w", key, ErrNotClaimed)
	}
	return nil
}

// Get implements Store.
func (s *SQLiteStore) Get(ctx context.Context, key string) (Record, error) {
	rec, err := s.get(ctx, s.db, key)
	if err != nil {
		return Record{}, fmt.Errorf("get sent message %s: %w", key, err)
	}
	return rec, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *SQLiteStore) get(ctx context.Context, q queryer, key string) (Record, error) {
	var (
		r                    Record
		kind                 string
		token                sql.NullString
		claimedAt, createdAt int64
		completedAt          sql.NullInt64
	)
	err := q.QueryRowContext(ctx, s.d.Rebind(`SELECT `+recordColumns+` FROM sent_messages WHERE idempotency_key = ?`), key).
		Scan(&r.Key, &kind, &r.State, &token, &claimedAt, &r.MessageID, &r.Error, &createdAt, &completedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, err
	}
	r.Kind = messages.EmailKind(kind)
	r.ClaimToken = token.String
	r.ClaimedAt = fromMicros(claimedAt)
	r.CreatedAt = fromMicros(createdAt)
	if completedAt.Valid {
		r.CompletedAt = fromMicros(completedAt.Int64)
	}
	return r, nil
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func oneRow(res sql.Result) (bool, error) {
	n, err := res.RowsAffected()
	return n == 1, err
}
