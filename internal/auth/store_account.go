package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// UpdateAccount implements Store.
func (s *SQLStore) UpdateAccount(ctx context.Context, u AccountUpdate) (int64, error) {
	var seq int64
	a := u.Account
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		old, err := s.account(ctx, tx, "id", a.ID, true)
		if err != nil {
			return err
		}
		if old.Version != a.Version-1 {
			return ErrAccountChanged
		}
		if err := s.useConfirmation(ctx, tx, a.ID, u); err != nil {
			return err
		}
		if err := s.writeAccount(ctx, tx, old, a); err != nil {
			return err
		}
		// Links to an address that is neither the unconfirmed current one nor the pending
		// one confirm nothing any more. No email key is empty.
		current := ""
		if !a.EmailVerified {
			current = a.EmailKey
		}
		if _, err := tx.ExecContext(ctx, s.Rebind(
			`UPDATE email_confirmations SET used_at = ?
			 WHERE account_id = ? AND used_at IS NULL AND email_key <> ? AND email_key <> ?`),
			database.Micros(u.Now), a.ID, current, emailKey(a.PendingEmail)); err != nil {
			return err
		}
		if u.NewConfirmation != nil {
			if err := s.insertConfirmation(ctx, tx, *u.NewConfirmation); err != nil {
				return err
			}
		}
		if u.RevokeOtherSessions {
			if seq, err = s.revokeOtherSessions(ctx, tx, a.ID, u.KeepSession, u); err != nil {
				return err
			}
		}
		return outbox.Add(ctx, tx, s.Dialect(), u.Messages...)
	})
	if err != nil {
		return 0, fmt.Errorf("update account %s: %w", a.ID, err)
	}
	return seq, nil
}

// useConfirmation marks the link u.UseConfirmation of the account used, provided it is
// current at u.Now.
func (s *SQLStore) useConfirmation(ctx context.Context, tx *sql.Tx, accountID string, u AccountUpdate) error {
	if u.UseConfirmation == "" {
		return nil
	}
	return database.ExecSome(ctx, tx, ErrConfirmationNotCurrent, s.Rebind(
		`UPDATE email_confirmations SET used_at = ?
		 WHERE hash = ? AND account_id = ? AND used_at IS NULL AND expires_at > ?`),
		database.Micros(u.Now), u.UseConfirmation, accountID, database.Micros(u.Now))
}

// writeAccount stores the new state a of the account old.
func (s *SQLStore) writeAccount(ctx context.Context, tx *sql.Tx, old, a Account) error {
	if a.EmailKey != old.EmailKey {
		var taken int
		if err := tx.QueryRowContext(ctx, s.Rebind(`SELECT COUNT(*) FROM accounts WHERE email_key = ? AND id <> ?`),
			a.EmailKey, a.ID).Scan(&taken); err != nil {
			return err
		}
		if taken > 0 {
			return ErrEmailTaken
		}
	}
	_, err := tx.ExecContext(ctx, s.Rebind(
		`UPDATE accounts SET email = ?, email_key = ?, display_name = ?, password_hash = ?, email_verified = ?,
		 pending_email = ?, confirm_sent_at = ?, version = ? WHERE id = ?`),
		a.Email, a.EmailKey, a.DisplayName, a.PasswordHash, a.EmailVerified,
		nullString(a.PendingEmail), database.NullMicros(a.ConfirmSentAt), a.Version, a.ID)
	if isUniqueViolation(err) {
		// In PostgreSQL an account that took the key after the check above and has not
		// committed yet is found only by the unique index.
		return ErrEmailTaken
	}
	return err
}

// isUniqueViolation reports whether err is a violated unique constraint, in either dialect.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// revokeOtherSessions deletes the refresh tokens of every login of the account but keep and
// records a session revocation for each; it returns the highest sequence number recorded.
func (s *SQLStore) revokeOtherSessions(ctx context.Context, tx *sql.Tx, accountID, keep string, u AccountUpdate) (int64, error) {
	sessions, err := s.sessionsOf(ctx, tx, accountID)
	if err != nil {
		return 0, err
	}
	var seq int64
	for _, sid := range sessions {
		if sid == keep {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM refresh_tokens WHERE session_id = ?`), sid); err != nil {
			return 0, err
		}
		if seq, err = s.insertRevocation(ctx, tx, &sid, nil, u.RevokeUntil); err != nil {
			return 0, err
		}
	}
	return seq, nil
}

func (s *SQLStore) insertConfirmation(ctx context.Context, tx *sql.Tx, c EmailConfirmation) error {
	_, err := tx.ExecContext(ctx, s.Rebind(
		`INSERT INTO email_confirmations (hash, account_id, email, email_key, created_at, expires_at, used_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?)`),
		c.Hash, c.AccountID, c.Email, c.EmailKey, database.Micros(c.CreatedAt), database.Micros(c.ExpiresAt),
		database.NullMicros(c.UsedAt))
	if err != nil {
		return fmt.Errorf("insert email confirmation: %w", err)
	}
	return nil
}

// EmailConfirmation implements Store.
func (s *SQLStore) EmailConfirmation(ctx context.Context, hash string) (EmailConfirmation, error) {
	var c EmailConfirmation
	if err := s.singleUse(ctx,
		`SELECT hash, account_id, email, email_key, created_at, expires_at, used_at
		 FROM email_confirmations WHERE hash = ?`,
		hash, ErrConfirmationNotCurrent, useTimes{&c.CreatedAt, &c.ExpiresAt, &c.UsedAt},
		&c.Hash, &c.AccountID, &c.Email, &c.EmailKey); err != nil {
		return EmailConfirmation{}, fmt.Errorf("email confirmation: %w", err)
	}
	return c, nil
}
