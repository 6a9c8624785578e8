package auth

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/idempotency"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// SQLStore is the auth Store: in the embedded mode over one SQLite database file, in the
// distributed mode in the auth service's own PostgreSQL database, which any number of
// replicas may share. Its SQL is what SQLite and PostgreSQL both accept (placeholders
// rebound for the dialect, times as unix microseconds, INSERT … RETURNING, ON CONFLICT); the
// only difference in behaviour is how revocations are ordered (insertRevocation).
type SQLStore struct{ database.Store }

// CreateAccount implements Store.
func (s *SQLStore) CreateAccount(ctx context.Context, a Account, c *EmailConfirmation, msgs ...broker.Message) error {
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := database.ExecSome(ctx, tx, ErrEmailTaken, s.Rebind(
			`INSERT INTO accounts (id, email, email_key, display_name, password_hash, created_at,
			 email_verified, pending_email, confirm_sent_at, version)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (email_key) DO NOTHING`),
			a.ID, a.Email, a.EmailKey, a.DisplayName, a.PasswordHash, database.Micros(a.CreatedAt),
			a.EmailVerified, nullString(a.PendingEmail), database.NullMicros(a.ConfirmSentAt), a.Version); err != nil {
			return err
		}
		if c != nil {
			if err := s.insertConfirmation(ctx, tx, *c); err != nil {
				return err
			}
		}
		return outbox.Add(ctx, tx, s.Dialect(), msgs...)
	})
	if err != nil {
		return fmt.Errorf("create account: %w", err)
	}
	return nil
}

// nullString is s, or NULL when s is empty.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

const accountColumns = `id, email, email_key, display_name, password_hash, created_at,
	email_verified, pending_email, confirm_sent_at, version`

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *SQLStore) account(ctx context.Context, db querier, where string, arg any, lock bool) (Account, error) {
	var (
		a       Account
		created int64
		pending sql.NullString
		sent    sql.NullInt64
	)
	q := `SELECT ` + accountColumns + ` FROM accounts WHERE ` + where + ` = ?`
	if lock && s.Dialect() == database.Postgres {
		q += ` FOR UPDATE`
	}
	err := db.QueryRowContext(ctx, s.Rebind(q), arg).
		Scan(&a.ID, &a.Email, &a.EmailKey, &a.DisplayName, &a.PasswordHash, &created,
			&a.EmailVerified, &pending, &sent, &a.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, ErrAccountNotFound
	}
	if err != nil {
		return Account{}, err
	}
	a.CreatedAt, a.PendingEmail, a.ConfirmSentAt = database.FromMicros(created), pending.String, database.FromNullMicros(sent)
	return a, nil
}

// AccountByID implements Store.
func (s *SQLStore) AccountByID(ctx context.Context, id string) (Account, error) {
	a, err := s.account(ctx, s.Prepared(), "id", id, false)
	if err != nil {
		return Account{}, fmt.Errorf("account %s: %w", id, err)
	}
	return a, nil
}

// AccountByEmail implements Store.
func (s *SQLStore) AccountByEmail(ctx context.Context, emailKey string) (Account, error) {
	a, err := s.account(ctx, s.DB(), "email_key", emailKey, false)
	if err != nil {
		return Account{}, fmt.Errorf("account by email: %w", err)
	}
	return a, nil
}

// SetPasswordHash implements Store.
func (s *SQLStore) SetPasswordHash(ctx context.Context, id, hash string) error {
	if err := database.ExecSome(ctx, s.DB(), ErrAccountNotFound,
		s.Rebind(`UPDATE accounts SET password_hash = ? WHERE id = ?`), hash, id); err != nil {
		return fmt.Errorf("set password hash of %s: %w", id, err)
	}
	return nil
}

// DeleteAccount implements Store.
func (s *SQLStore) DeleteAccount(ctx context.Context, id string, revokeUntil time.Time, msgs ...broker.Message) (int64, error) {
	var seq int64
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := database.ExecSome(ctx, tx, ErrAccountNotFound, s.Rebind(`DELETE FROM accounts WHERE id = ?`), id); err != nil {
			return err
		}
		for _, table := range []string{"refresh_tokens", "email_confirmations"} {
			if _, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM `+table+` WHERE account_id = ?`), id); err != nil {
				return err
			}
		}
		var err error
		if seq, err = s.insertRevocation(ctx, tx, nil, &id, revokeUntil); err != nil {
			return err
		}
		return outbox.Add(ctx, tx, s.Dialect(), msgs...)
	})
	if err != nil {
		return 0, fmt.Errorf("delete account %s: %w", id, err)
	}
	return seq, nil
}

// revocationLock is the key of the PostgreSQL advisory lock that revocation writers hold
// from the moment they draw a sequence number until their transaction ends. Only the auth
// database uses it.
const revocationLock int64 = 0x61757468_72657673 // "authrevs"

// insertRevocation records a revocation within tx and returns its sequence number.
//
// The feed promises that sequence numbers become visible in order: a reader that saw seq N
// never later finds a smaller one appear. SQLite gives that for free, since its write
// transactions run one at a time. In PostgreSQL an identity column alone does not: two
// transactions may draw N and N+1 and commit in the other order, and a reader polling in
// between would move its cursor past N for ever. So writers first take a transaction-level
// advisory lock, which makes them draw and commit one after another: the lock is released
// only once the commit is visible. It orders the writers only: feed readers, Prune and
// autovacuum never wait for it (LOCK TABLE would also hold those up), and it goes with the
// transaction on commit, rollback or a dropped connection.
func (s *SQLStore) insertRevocation(ctx context.Context, tx *sql.Tx, sessionID, accountID *string, until time.Time) (int64, error) {
	if s.Dialect() == database.Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, revocationLock); err != nil {
			return 0, fmt.Errorf("lock revocations: %w", err)
		}
	}
	var seq int64
	err := tx.QueryRowContext(ctx, s.Rebind(
		`INSERT INTO revocations (session_id, account_id, created_at, expires_at) VALUES (?, ?, ?, ?) RETURNING seq`),
		sessionID, accountID, database.Micros(time.Now()), database.Micros(until)).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("insert revocation: %w", err)
	}
	return seq, nil
}

// CreateRefreshToken implements Store.
func (s *SQLStore) CreateRefreshToken(ctx context.Context, t RefreshToken) error {
	if err := s.insertRefreshToken(ctx, s.DB(), t); err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

func (s *SQLStore) insertRefreshToken(ctx context.Context, db database.Execer, t RefreshToken) error {
	_, err := db.ExecContext(ctx, s.Rebind(
		`INSERT INTO refresh_tokens (hash, session_id, account_id, created_at, expires_at, used_at)
		 VALUES (?, ?, ?, ?, ?, ?)`),
		t.Hash, t.SessionID, t.AccountID, database.Micros(t.CreatedAt), database.Micros(t.ExpiresAt), database.NullMicros(t.UsedAt))
	return err
}

// RefreshToken implements Store.
func (s *SQLStore) RefreshToken(ctx context.Context, hash string) (RefreshToken, error) {
	var t RefreshToken
	if err := s.singleUse(ctx,
		`SELECT hash, session_id, account_id, created_at, expires_at, used_at FROM refresh_tokens WHERE hash = ?`,
		hash, ErrRefreshTokenNotFound, useTimes{&t.CreatedAt, &t.ExpiresAt, &t.UsedAt},
		&t.Hash, &t.SessionID, &t.AccountID); err != nil {
		return RefreshToken{}, fmt.Errorf("refresh token: %w", err)
	}
	return t, nil
}

// useTimes are where a single-use secret (a refresh token, a password reset, an email
// confirmation) keeps when it was made, when it expires and when it was used.
type useTimes struct {
	created, expires *time.Time
	used             **time.Time
}

// singleUse reads the single-use secret that hash names: query selects the columns that cols
// point at, then created_at, expires_at and used_at, which go to at. It returns notFound when
// no row has the hash.
func (s *SQLStore) singleUse(ctx context.Context, query, hash string, notFound error, at useTimes, cols ...any) error {
	var (
		created, expires int64
		used             sql.NullInt64
	)
	err := s.DB().QueryRowContext(ctx, s.Rebind(query), hash).Scan(append(cols, &created, &expires, &used)...)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound
	}
	if err != nil {
		return err
	}
	*at.created, *at.expires, *at.used = database.FromMicros(created), database.FromMicros(expires), database.FromNullMicros(used)
	return nil
}

// RotateRefreshToken implements Store.
func (s *SQLStore) RotateRefreshToken(ctx context.Context, usedHash string, now time.Time, next RefreshToken) error {
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := database.ExecSome(ctx, tx, ErrRefreshTokenNotCurrent, s.Rebind(
			`UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?`),
			database.Micros(now), usedHash, database.Micros(now)); err != nil {
			return err
		}
		return s.insertRefreshToken(ctx, tx, next)
	})
	if err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	return nil
}

// RevokeSession implements Store.
func (s *SQLStore) RevokeSession(ctx context.Context, sessionID string, revokeUntil time.Time) (int64, error) {
	var seq int64
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM refresh_tokens WHERE session_id = ?`), sessionID); err != nil {
			return err
		}
		var err error
		seq, err = s.insertRevocation(ctx, tx, &sessionID, nil, revokeUntil)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revoke session %s: %w", sessionID, err)
	}
	return seq, nil
}

// Revocations implements Store.
func (s *SQLStore) Revocations(ctx context.Context, after int64, now time.Time) (authtoken.RevocationFeed, error) {
	feed := authtoken.RevocationFeed{Revocations: []authtoken.Revocation{}}
	// Reading the last sequence number first, then the rows up to it, gives a consistent
	// answer without a read transaction: every row up to LastSeq was committed before.
	var last sql.NullInt64
	if err := s.DB().QueryRowContext(ctx, `SELECT MAX(seq) FROM revocations`).Scan(&last); err != nil {
		return feed, fmt.Errorf("revocations: %w", err)
	}
	feed.LastSeq = last.Int64
	if feed.LastSeq <= after {
		return feed, nil
	}
	rows, err := s.DB().QueryContext(ctx, s.Rebind(
		`SELECT seq, session_id, account_id, expires_at FROM revocations
		 WHERE seq > ? AND seq <= ? AND expires_at > ? ORDER BY seq`), after, feed.LastSeq, database.Micros(now))
	if err != nil {
		return feed, fmt.Errorf("revocations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r                authtoken.Revocation
			session, account sql.NullString
			expires          int64
		)
		if err := rows.Scan(&r.Seq, &session, &account, &expires); err != nil {
			return feed, fmt.Errorf("revocations: %w", err)
		}
		r.SessionID, r.AccountID, r.ExpiresAt = session.String, account.String, database.FromMicros(expires)
		feed.Revocations = append(feed.Revocations, r)
	}
	if err := rows.Err(); err != nil {
		return feed, fmt.Errorf("revocations: %w", err)
	}
	return feed, nil
}

// RecordLoginFailure implements Store.
func (s *SQLStore) RecordLoginFailure(ctx context.Context, at time.Time, keys ...string) error {
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, s.Rebind(`INSERT INTO login_failures (key, at) VALUES (?, ?)`), k, database.Micros(at)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record login failure: %w", err)
	}
	return nil
}

// LoginFailures implements Store.
func (s *SQLStore) LoginFailures(ctx context.Context, key string, since time.Time, n int) ([]time.Time, error) {
	rows, err := s.DB().QueryContext(ctx, s.Rebind(
		`SELECT at FROM login_failures WHERE key = ? AND at > ? ORDER BY at DESC LIMIT ?`), key, database.Micros(since), n)
	if err != nil {
		return nil, fmt.Errorf("login failures: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at int64
		if err := rows.Scan(&at); err != nil {
			return nil, fmt.Errorf("login failures: %w", err)
		}
		out = append(out, database.FromMicros(at))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("login failures: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// ClearLoginFailures implements Store.
func (s *SQLStore) ClearLoginFailures(ctx context.Context, key string) error {
	if err := clearLoginFailures(ctx, s.DB(), s.Dialect(), key); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}

// clearLoginFailures deletes the failures under key and below it. Keys are the service's
// hex digests joined by "/", so that nothing in them is a LIKE wildcard; escape them anyway.
func clearLoginFailures(ctx context.Context, db database.Execer, d database.Dialect, key string) error {
	prefix := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(key) + "/%"
	_, err := db.ExecContext(ctx, d.Rebind(`DELETE FROM login_failures WHERE key = ? OR key LIKE ? ESCAPE '\'`), key, prefix)
	return err
}

// CreatePasswordReset implements Store.
func (s *SQLStore) CreatePasswordReset(ctx context.Context, r PasswordReset, msgs ...broker.Message) error {
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.Rebind(
			`INSERT INTO password_resets (hash, account_id, created_at, expires_at) VALUES (?, ?, ?, ?)`),
			r.Hash, r.AccountID, database.Micros(r.CreatedAt), database.Micros(r.ExpiresAt)); err != nil {
			return err
		}
		return outbox.Add(ctx, tx, s.Dialect(), msgs...)
	})
	if err != nil {
		return fmt.Errorf("create password reset: %w", err)
	}
	return nil
}

// PasswordReset implements Store.
func (s *SQLStore) PasswordReset(ctx context.Context, hash string) (PasswordReset, error) {
	var r PasswordReset
	if err := s.singleUse(ctx,
		`SELECT hash, account_id, created_at, expires_at, used_at FROM password_resets WHERE hash = ?`,
		hash, ErrResetNotCurrent, useTimes{&r.CreatedAt, &r.ExpiresAt, &r.UsedAt},
		&r.Hash, &r.AccountID); err != nil {
		return PasswordReset{}, fmt.Errorf("password reset: %w", err)
	}
	return r, nil
}

// ResetPassword implements Store.
func (s *SQLStore) ResetPassword(ctx context.Context, hash string, now time.Time, passwordHash string, revokeUntil time.Time, clearKey string) (int64, error) {
	var seq int64
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var accountID string
		err := tx.QueryRowContext(ctx, s.Rebind(
			`UPDATE password_resets SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ? RETURNING account_id`),
			database.Micros(now), hash, database.Micros(now)).Scan(&accountID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrResetNotCurrent
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind(
			`UPDATE password_resets SET used_at = ? WHERE account_id = ? AND used_at IS NULL`), database.Micros(now), accountID); err != nil {
			return err
		}
		if err := database.ExecSome(ctx, tx, ErrAccountNotFound, s.Rebind(`UPDATE accounts SET password_hash = ? WHERE id = ?`), passwordHash, accountID); err != nil {
			return err
		}
		sessions, err := s.sessionsOf(ctx, tx, accountID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM refresh_tokens WHERE account_id = ?`), accountID); err != nil {
			return err
		}
		for _, sid := range sessions {
			if seq, err = s.insertRevocation(ctx, tx, &sid, nil, revokeUntil); err != nil {
				return err
			}
		}
		return clearLoginFailures(ctx, tx, s.Dialect(), clearKey)
	})
	if err != nil {
		return 0, fmt.Errorf("reset password: %w", err)
	}
	return seq, nil
}

// sessionsOf returns the logins of the account that still have a refresh token.
func (s *SQLStore) sessionsOf(ctx context.Context, tx *sql.Tx, accountID string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, s.Rebind(
		`SELECT DISTINCT session_id FROM refresh_tokens WHERE account_id = ? ORDER BY session_id`), accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sid string
		if err := rows.Scan(&sid); err != nil {
			return nil, err
		}
		out = append(out, sid)
	}
	return out, rows.Err()
}

// SigningKeys implements Store.
func (s *SQLStore) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.DB().QueryContext(ctx, `SELECT id, seed, created_at FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	defer rows.Close()
	var out []SigningKey
	for rows.Next() {
		var (
			k       SigningKey
			seed    []byte
			created int64
		)
		if err := rows.Scan(&k.ID, &seed, &created); err != nil {
			return nil, fmt.Errorf("signing keys: %w", err)
		}
		if len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("signing key %s: seed of %d bytes", k.ID, len(seed))
		}
		k.PrivateKey = ed25519.NewKeyFromSeed(seed)
		k.CreatedAt = database.FromMicros(created)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return out, nil
}

// AddSigningKey implements Store.
func (s *SQLStore) AddSigningKey(ctx context.Context, k SigningKey) error {
	if len(k.PrivateKey) != ed25519.PrivateKeySize {
		return fmt.Errorf("add signing key %s: not an Ed25519 private key", k.ID)
	}
	_, err := s.DB().ExecContext(ctx, s.Rebind(`INSERT INTO signing_keys (id, seed, created_at) VALUES (?, ?, ?)`),
		k.ID, k.PrivateKey.Seed(), database.Micros(k.CreatedAt))
	if err != nil {
		return fmt.Errorf("add signing key %s: %w", k.ID, err)
	}
	return nil
}

// Prune implements Store.
func (s *SQLStore) Prune(ctx context.Context, now, failuresBefore time.Time) error {
	stmts := []struct {
		q   string
		arg int64
	}{
		{`DELETE FROM revocations WHERE expires_at <= ? AND seq < (SELECT MAX(seq) FROM revocations)`, database.Micros(now)},
		{`DELETE FROM refresh_tokens WHERE expires_at <= ?`, database.Micros(now)},
		{`DELETE FROM password_resets WHERE expires_at <= ?`, database.Micros(now)},
		{`DELETE FROM email_confirmations WHERE expires_at <= ?`, database.Micros(now)},
		{`DELETE FROM login_failures WHERE at < ?`, database.Micros(failuresBefore)},
	}
	for _, st := range stmts {
		if _, err := s.DB().ExecContext(ctx, s.Rebind(st.q), st.arg); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
	}
	return nil
}

//go:embed migrations
var migrations embed.FS

// storeDB is how the auth database is kept: its own migrations (migrations/sqlite,
// migrations/postgres), then the outbox's.
var storeDB = outbox.Service("auth", migrations).With(idempotency.Schema)

var _ Store = (*SQLStore)(nil)

// Open opens the auth database of dialect d at dsn — a SQLite file path (the file is created if
// needed) or a PostgreSQL URL (postgres://user:pass@host:port/db) — and brings its schema,
// outbox included, up to date; PostgreSQL replicas starting at once take turns.
func Open(ctx context.Context, d database.Dialect, dsn string, log *slog.Logger) (*SQLStore, error) {
	return database.OpenStore[SQLStore](ctx, storeDB, d, dsn, log)
}
