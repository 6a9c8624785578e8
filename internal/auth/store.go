package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/idempotency"
)

// Errors a Store returns.
var (
	// ErrEmailTaken is returned when an account with the same email key exists.
	ErrEmailTaken = errors.New("an account with this email address already exists")
	// ErrAccountNotFound is returned when no account has the given ID or email key.
	ErrAccountNotFound = errors.New("account not found")
	// ErrRefreshTokenNotFound is returned when no refresh token has the given hash.
	ErrRefreshTokenNotFound = errors.New("refresh token not found")
	// ErrRefreshTokenNotCurrent is returned by RotateRefreshToken when the token is already
	// used, expired or gone: another rotation won, or the token may not be rotated.
	ErrRefreshTokenNotCurrent = errors.New("refresh token already used, expired or revoked")
	// ErrResetNotCurrent is returned for a password-reset link that is unknown, used or
	// expired.
	ErrResetNotCurrent = errors.New("password-reset link unknown, used or expired")
	// ErrConfirmationNotCurrent is returned for an email-confirmation link that is unknown,
	// used or expired.
	ErrConfirmationNotCurrent = errors.New("email-confirmation link unknown, used or expired")
	// ErrAccountChanged is returned by UpdateAccount when the stored account is no longer the
	// version the update was computed from.
	ErrAccountChanged = errors.New("the account changed meanwhile")
)

// EmailConfirmation is a stored link that confirms an address of an account: its current
// one, or the one it is changing to. Only the SHA-256 of its token is kept.
type EmailConfirmation struct {
	// Hash is the hex SHA-256 of the token.
	Hash      string
	AccountID string
	// Email is the address the link confirms; EmailKey is that address lower-cased.
	Email     string
	EmailKey  string
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is when the link was used, or made useless; nil while it works.
	UsedAt *time.Time
}

// AccountUpdate is one change of an account that UpdateAccount applies at once.
type AccountUpdate struct {
	// Account is the new state. Its Version must be one above the stored version, the one
	// the update was computed from; CreatedAt and ID are not changed.
	Account Account
	// Now is when the update happens.
	Now time.Time
	// UseConfirmation, when not empty, is the hash of the confirmation link the update uses:
	// it must be unused and not expired at Now, and is marked used.
	UseConfirmation string
	// NewConfirmation, when not nil, is a link to store.
	NewConfirmation *EmailConfirmation
	// RevokeOtherSessions revokes every login of the account but KeepSession: their refresh
	// tokens are deleted and a session revocation that matters until RevokeUntil is recorded
	// for each.
	RevokeOtherSessions bool
	KeepSession         string
	RevokeUntil         time.Time
	// Messages go to the outbox in the same transaction.
	Messages []broker.Message
}

// PasswordReset is a stored password-reset (or unlock) link. Only the SHA-256 of its token
// is kept.
type PasswordReset struct {
	// Hash is the hex SHA-256 of the token.
	Hash      string
	AccountID string
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is when the link was used, or made useless by another; nil while it works.
	UsedAt *time.Time
}

// Account is a stored account.
type Account struct {
	ID string
	// Email is the address as the person gave it, trimmed.
	Email string
	// EmailKey is the lower-cased address; it is unique among accounts.
	EmailKey    string
	DisplayName string
	// PasswordHash is the argon2id hash in PHC format.
	PasswordHash string
	CreatedAt    time.Time
	// EmailVerified says whether Email is confirmed.
	EmailVerified bool
	// PendingEmail is the address the account changes to once it is confirmed; empty when
	// none.
	PendingEmail string
	// ConfirmSentAt is when a confirmation link was last sent on request (a new one, or one
	// for a new address); nil when never.
	ConfirmSentAt *time.Time
	// Version rises with every change of the account; a new account has version 1.
	Version int64
}

// RefreshToken is a stored refresh token. Only the SHA-256 of the token is kept.
type RefreshToken struct {
	// Hash is the hex SHA-256 of the token string.
	Hash string
	// SessionID names the login (token family) the token belongs to.
	SessionID string
	AccountID string
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is when the token was rotated; nil while it is the session's current token.
	UsedAt *time.Time
}

// SigningKey is an Ed25519 key that signs access tokens.
type SigningKey struct {
	// ID is the key's "kid" (its RFC 7638 thumbprint).
	ID         string
	PrivateKey ed25519.PrivateKey
	CreatedAt  time.Time
}

// Store keeps the auth service's state: accounts, refresh tokens, revocations, login failures
// and signing keys. Not found is always an error. Times are returned in UTC, truncated to
// microseconds. Methods that take messages write them to the outbox in the same transaction
// as the change they announce.
type Store interface {
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// IdempotencyKeys returns the store of the Idempotency-Keys of POST /api/v1/accounts.
	IdempotencyKeys() idempotency.Store

	// CreateAccount inserts a, and c when not nil; ErrEmailTaken when a.EmailKey is taken.
	CreateAccount(ctx context.Context, a Account, c *EmailConfirmation, msgs ...broker.Message) error
	// AccountByID returns the account with the given ID, or ErrAccountNotFound.
	AccountByID(ctx context.Context, id string) (Account, error)
	// AccountByEmail returns the account with the given email key, or ErrAccountNotFound.
	AccountByEmail(ctx context.Context, emailKey string) (Account, error)
	// SetPasswordHash replaces the password hash of an account, or returns ErrAccountNotFound.
	SetPasswordHash(ctx context.Context, id, hash string) error
	// UpdateAccount applies u in one transaction: it stores u.Account, provided the stored
	// version is u.Account.Version-1 (else ErrAccountChanged), uses the link
	// u.UseConfirmation (ErrConfirmationNotCurrent when it is not current at u.Now), marks
	// used every unused link of the account that no longer confirms anything (one whose
	// address is neither the unconfirmed current one nor the pending one), stores
	// u.NewConfirmation, revokes the other logins when asked, and writes u.Messages. It
	// returns the highest revocation sequence number it recorded (0 when none). An email key
	// that another account has gives ErrEmailTaken; an unknown account ErrAccountNotFound.
	// On any error nothing is written.
	UpdateAccount(ctx context.Context, u AccountUpdate) (int64, error)
	// EmailConfirmation returns the link with the given hash, used or not, or
	// ErrConfirmationNotCurrent.
	EmailConfirmation(ctx context.Context, hash string) (EmailConfirmation, error)
	// DeleteAccount deletes the account, all its refresh tokens and its confirmation links,
	// and records an account revocation that matters until revokeUntil; it returns the
	// revocation's sequence number.
	// ErrAccountNotFound (and nothing written) when the account does not exist.
	DeleteAccount(ctx context.Context, id string, revokeUntil time.Time, msgs ...broker.Message) (int64, error)

	// CreateRefreshToken inserts the first token of a new session.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RefreshToken returns the token with the given hash, used or not, or ErrRefreshTokenNotFound.
	RefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// RotateRefreshToken atomically marks the token usedHash as used at now, provided it is
	// unused and not expired at now, and inserts next. Of concurrent rotations of one token
	// exactly one succeeds; the others get ErrRefreshTokenNotCurrent and write nothing.
	RotateRefreshToken(ctx context.Context, usedHash string, now time.Time, next RefreshToken) error
	// RevokeSession deletes every refresh token of the session and records a session
	// revocation that matters until revokeUntil; it returns the revocation's sequence number.
	// It records the revocation even when the session has no refresh token left.
	RevokeSession(ctx context.Context, sessionID string, revokeUntil time.Time) (int64, error)

	// Revocations returns the revocations with a sequence number above after that still
	// matter at now (ExpiresAt after now), in sequence order, and the highest sequence number
	// ever issued (0 when none). Sequence numbers increase and become visible in order, so a
	// reader that saw LastSeq has seen every revocation up to it.
	Revocations(ctx context.Context, after int64, now time.Time) (authtoken.RevocationFeed, error)

	// RecordLoginFailure records one failed login (or another attempt that is counted, such
	// as a password-reset email) at the given time under each key. Keys form a hierarchy:
	// "a/b" is below "a".
	RecordLoginFailure(ctx context.Context, at time.Time, keys ...string) error
	// LoginFailures returns the times of the newest n failures recorded under key after
	// since, oldest first (all of them when there are fewer).
	LoginFailures(ctx context.Context, key string, since time.Time, n int) ([]time.Time, error)
	// ClearLoginFailures forgets the failures recorded under key and under every key below
	// it ("key/…").
	ClearLoginFailures(ctx context.Context, key string) error

	// CreatePasswordReset inserts r and writes msgs to the outbox in the same transaction.
	CreatePasswordReset(ctx context.Context, r PasswordReset, msgs ...broker.Message) error
	// PasswordReset returns the link with the given hash, used or not, or ErrResetNotCurrent.
	PasswordReset(ctx context.Context, hash string) (PasswordReset, error)
	// ResetPassword uses the link hash at now, provided it is unused and not expired at now,
	// all in one transaction: it marks every unused link of the account used, sets the
	// account's password hash, deletes its refresh tokens and records a session revocation
	// that matters until revokeUntil for each login they belonged to, and forgets the login
	// failures under clearKey (and below it). It returns the highest revocation sequence
	// number it recorded, 0 when the account had no login. A link that is not current gives
	// ErrResetNotCurrent and writes nothing; of concurrent uses of one link exactly one
	// succeeds.
	ResetPassword(ctx context.Context, hash string, now time.Time, passwordHash string, revokeUntil time.Time, clearKey string) (int64, error)

	// SigningKeys returns every signing key, oldest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKey inserts k.
	AddSigningKey(ctx context.Context, k SigningKey) error

	// Prune deletes what no longer matters at now: revocations that expired (but never the
	// newest one, which keeps the sequence), refresh tokens, password-reset and
	// email-confirmation links that expired, and login failures recorded before
	// failuresBefore.
	Prune(ctx context.Context, now, failuresBefore time.Time) error
}
