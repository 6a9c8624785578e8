package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/validation"
)

// ErrResetLink is the answer to a password-reset link that is unknown, used or expired.
var ErrResetLink = validation.New("token",
	"is not a current password-reset link: it is unknown, used or expired; ask for a new one")

// RequestPasswordReset emails the account of email, if there is one, a link that sets a new
// password, valid for Config.ResetTokenTTL. The caller learns nothing of whether the account
// exists: the answer is the same, and both cases write to the database once. At most
// Config.ResetRequestLimit emails go to one address per Config.FailureWindow; further
// requests are answered the same and send nothing.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	email = strings.TrimSpace(email)
	if msg := checkEmail(email); msg != "" {
		return validation.New("email", msg)
	}
	now := s.now()
	key := emailKey(email)
	counter := throttleKey("reset", key)
	sent, err := s.store.LoginFailures(ctx, counter, now.Add(-s.cfg.FailureWindow), s.cfg.ResetRequestLimit)
	if err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	a, err := s.store.AccountByEmail(ctx, key)
	switch {
	case errors.Is(err, ErrAccountNotFound) || len(sent) >= s.cfg.ResetRequestLimit:
		// Counted all the same, so that both cases cost one write.
		err = s.store.RecordLoginFailure(ctx, now, counter)
	case err == nil:
		if err = s.store.RecordLoginFailure(ctx, now, counter); err == nil {
			err = s.sendResetLink(ctx, a, messages.EmailPasswordReset, now)
		}
	}
	if err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	return nil
}

// lockedOut emails the owner of a, whose failed logins reached the account-wide limit, a link
// that unlocks the account and sets a new password. A failure is logged: the login it
// follows has been answered already.
func (s *Service) lockedOut(ctx context.Context, a Account, now time.Time) {
	s.log.WarnContext(ctx, "account locked after failed logins from many addresses; owner emailed",
		"account_id", a.ID, "limit", s.cfg.AccountFailureLimit, "window", s.cfg.FailureWindow.String())
	if err := s.sendResetLink(ctx, a, messages.EmailAccountLocked, now); err != nil {
		s.log.ErrorContext(ctx, "cannot email the unlock link", "account_id", a.ID, "err", err)
	}
}

// sendResetLink stores a new password-reset link for a and queues the email of kind that
// carries it, in one transaction.
func (s *Service) sendResetLink(ctx context.Context, a Account, kind messages.EmailKind, now time.Time) error {
	token, hash, err := newSecret()
	if err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	expires := now.Add(s.cfg.ResetTokenTTL)
	msg, err := broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{
		// The key names the link, never its token: keys are logged.
		IdempotencyKey: string(kind) + ":" + id.String(), Kind: kind, To: a.Email, Name: a.DisplayName,
		Token: token, ExpiresAt: &expires,
	})
	if err != nil {
		return err
	}
	r := PasswordReset{Hash: hash, AccountID: a.ID, CreatedAt: now, ExpiresAt: expires}
	if err := s.store.CreatePasswordReset(ctx, r, msg); err != nil {
		return err
	}
	s.outbox.Notify()
	return nil
}

// checkReset checks the token and the new password of a password reset, without looking the
// token up.
func checkReset(token, password string) error {
	var errs validation.List
	if token == "" || len(token) > 128 {
		errs.Append(ErrResetLink.Fields...)
	}
	if msg := checkPassword(password); msg != "" {
		errs.Add("password", msg)
	}
	return errs.Err()
}

// resetAccount returns the account that the current password-reset link of hash belongs to;
// ErrResetLink when the link is not current at now or its account is gone.
func (s *Service) resetAccount(ctx context.Context, hash string, now time.Time) (Account, error) {
	r, err := s.store.PasswordReset(ctx, hash)
	if errors.Is(err, ErrResetNotCurrent) || err == nil && (r.UsedAt != nil || !now.Before(r.ExpiresAt)) {
		return Account{}, ErrResetLink
	}
	if err != nil {
		return Account{}, fmt.Errorf("reset password: %w", err)
	}
	a, err := s.store.AccountByID(ctx, r.AccountID)
	if errors.Is(err, ErrAccountNotFound) {
		return Account{}, ErrResetLink
	}
	if err != nil {
		return Account{}, fmt.Errorf("reset password: %w", err)
	}
	return a, nil
}

// ResetPassword sets the password of the account a current password-reset link belongs to,
// once: every other link of the account stops working, every login of the account is
// revoked, and the account is unlocked (its failed logins are forgotten). It returns the
// sequence number of the last revocation, for the gateway to wait for. A link that is not
// current gives ErrResetLink.
func (s *Service) ResetPassword(ctx context.Context, token, password string) (int64, error) {
	if err := checkReset(token, password); err != nil {
		return 0, err
	}
	now := s.now()
	hash := hashSecret(token)
	a, err := s.resetAccount(ctx, hash, now)
	if err != nil {
		return 0, err
	}
	passwordHash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return 0, fmt.Errorf("reset password: %w", err)
	}
	seq, err := s.store.ResetPassword(ctx, hash, now, passwordHash, now.Add(s.cfg.AccessTokenTTL),
		throttleKey("account", a.EmailKey))
	if errors.Is(err, ErrResetNotCurrent) || errors.Is(err, ErrAccountNotFound) {
		return 0, ErrResetLink // another use of the link, or a deletion of the account, came first
	}
	if err != nil {
		return 0, fmt.Errorf("reset password: %w", err)
	}
	if seq > 0 {
		s.revs.signal()
	}
	s.log.InfoContext(ctx, "password reset; every login revoked", "account_id", a.ID)
	return seq, nil
}
