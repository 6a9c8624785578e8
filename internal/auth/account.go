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
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/validation"
)

// Errors of confirming addresses and changing accounts.
var (
	// ErrConfirmLink is the answer to an email-confirmation link that is unknown, used or
	// expired.
	ErrConfirmLink = validation.New("token",
		"is not a current email-confirmation link: it is unknown, used or expired; ask for a new one")
	// ErrWrongPassword answers a change or a deletion whose current_password is wrong.
	ErrWrongPassword = errors.New("the current password is wrong")
	// ErrNothingToConfirm answers a request for a confirmation link when the address is
	// confirmed and no change of address is pending.
	ErrNothingToConfirm = errors.New("the email address is confirmed already and no change of address is pending")
)

// maxUpdateAttempts bounds how often a change is computed again because another change of
// the same account came first.
const maxUpdateAttempts = 5

// newConfirmation returns a new link, valid for Config.ConfirmTokenTTL from now, that
// confirms email for the account, and its token.
func (s *Service) newConfirmation(accountID, email string, now time.Time) (EmailConfirmation, string, error) {
	token, hash, err := newSecret()
	if err != nil {
		return EmailConfirmation{}, "", err
	}
	return EmailConfirmation{
		Hash: hash, AccountID: accountID, Email: email, EmailKey: emailKey(email),
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.ConfirmTokenTTL),
	}, token, nil
}

// confirmationEmail returns a new link that confirms to for the account a, and the email of
// kind confirm that carries it to that address; key names the email (never its token).
func (s *Service) confirmationEmail(ctx context.Context, a Account, to, key string, now time.Time) (EmailConfirmation, broker.Message, error) {
	c, token, err := s.newConfirmation(a.ID, to, now)
	if err != nil {
		return EmailConfirmation{}, broker.Message{}, err
	}
	msg, err := broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{
		IdempotencyKey: string(messages.EmailConfirm) + ":" + key, Kind: messages.EmailConfirm, To: to,
		Name: a.DisplayName, Token: token, ExpiresAt: &c.ExpiresAt,
	})
	return c, msg, err
}

// accountChanged returns the account.changed message that announces the state a.
func accountChanged(ctx context.Context, a Account) (broker.Message, error) {
	return broker.NewMessage(ctx, messages.TypeAccountChanged, messages.AccountChanged{
		AccountID: a.ID, Email: a.Email, EmailVerified: a.EmailVerified, DisplayName: a.DisplayName, Version: a.Version,
	})
}

// update applies the update that change computes from the current state of the account id
// (nil: nothing to change), computing it again from the new state when another change of
// the account came first. It returns the account's new state and the highest revocation
// sequence number the update recorded.
func (s *Service) update(ctx context.Context, id string, change func(a Account, now time.Time) (*AccountUpdate, error)) (Account, int64, error) {
	for attempt := 1; ; attempt++ {
		a, err := s.store.AccountByID(ctx, id)
		if err != nil {
			return Account{}, 0, err
		}
		now := s.now()
		u, err := change(a, now)
		if err != nil || u == nil {
			return a, 0, err
		}
		u.Now = now
		seq, err := s.store.UpdateAccount(ctx, *u)
		if errors.Is(err, ErrAccountChanged) && attempt < maxUpdateAttempts {
			continue
		}
		if err != nil {
			return Account{}, 0, err
		}
		if seq > 0 {
			s.revs.signal()
		}
		if len(u.Messages) > 0 {
			s.outbox.Notify()
		}
		return u.Account, seq, nil
	}
}

// next returns the state that follows a: a with its version raised.
func next(a Account) Account {
	a.Version++
	return a
}

// ConfirmEmail uses a current email-confirmation link, once: the address it confirms becomes
// the account's confirmed address — its current one, or the one it is changing to, which
// then replaces it (ErrEmailTaken when another account took that address meanwhile). A
// link that is not current gives ErrConfirmLink.
func (s *Service) ConfirmEmail(ctx context.Context, token string) error {
	if token == "" || len(token) > 128 {
		return ErrConfirmLink
	}
	hash := hashSecret(token)
	c, err := s.store.EmailConfirmation(ctx, hash)
	if errors.Is(err, ErrConfirmationNotCurrent) {
		return ErrConfirmLink
	}
	if err != nil {
		return fmt.Errorf("confirm email: %w", err)
	}
	a, _, err := s.update(ctx, c.AccountID, func(a Account, now time.Time) (*AccountUpdate, error) {
		if c.UsedAt != nil || !now.Before(c.ExpiresAt) {
			return nil, ErrConfirmLink
		}
		n := next(a)
		switch c.EmailKey {
		case a.EmailKey:
			n.EmailVerified = true
		case emailKey(a.PendingEmail):
			n.Email, n.EmailKey, n.EmailVerified, n.PendingEmail = c.Email, c.EmailKey, true, ""
		default:
			return nil, ErrConfirmLink // an address the account no longer has nor changes to
		}
		u := &AccountUpdate{Account: n, UseConfirmation: hash}
		if n.Email != a.Email || n.EmailVerified != a.EmailVerified {
			msg, err := accountChanged(ctx, n)
			if err != nil {
				return nil, err
			}
			u.Messages = append(u.Messages, msg)
		}
		return u, nil
	})
	switch {
	case errors.Is(err, ErrConfirmationNotCurrent), errors.Is(err, ErrAccountNotFound):
		return ErrConfirmLink // another use of the link, or a deletion of the account, came first
	case errors.Is(err, ErrConfirmLink), errors.Is(err, ErrEmailTaken):
		return err
	case err != nil:
		return fmt.Errorf("confirm email: %w", err)
	}
	s.log.InfoContext(ctx, "email address confirmed", "account_id", a.ID)
	return nil
}

// resendAllowed returns the refusal of a confirmation link asked for at now, when the last
// one sent on request to the account a is more recent than Config.ConfirmResendInterval.
func (s *Service) resendAllowed(a Account, now time.Time) error {
	if a.ConfirmSentAt == nil {
		return nil
	}
	if wait := a.ConfirmSentAt.Add(s.cfg.ConfirmResendInterval).Sub(now); wait > 0 {
		return &ThrottledError{
			Detail:     "a confirmation link was sent to this account a moment ago; wait before asking for another",
			RetryAfter: max(wait, time.Second),
		}
	}
	return nil
}

// ResendConfirmation sends the caller a new confirmation link: to the address the account
// is changing to when a change is pending, else to its unconfirmed address
// (ErrNothingToConfirm when it is confirmed). At most one link is sent on request per
// Config.ConfirmResendInterval (a *ThrottledError). It returns the address the link goes to.
func (s *Service) ResendConfirmation(ctx context.Context, accountID string) (string, error) {
	var to string
	_, _, err := s.update(ctx, accountID, func(a Account, now time.Time) (*AccountUpdate, error) {
		to = a.PendingEmail
		if to == "" {
			if a.EmailVerified {
				return nil, ErrNothingToConfirm
			}
			to = a.Email
		}
		if err := s.resendAllowed(a, now); err != nil {
			return nil, err
		}
		n := next(a)
		n.ConfirmSentAt = &now
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		c, msg, err := s.confirmationEmail(ctx, n, to, id.String(), now)
		if err != nil {
			return nil, err
		}
		return &AccountUpdate{Account: n, NewConfirmation: &c, Messages: []broker.Message{msg}}, nil
	})
	if errors.Is(err, ErrAccountNotFound) {
		return "", ErrAccountGone
	}
	if err != nil {
		return "", fmt.Errorf("send confirmation link: %w", err)
	}
	return to, nil
}

// AccountChanges is what a person may change of their account; nil fields stay as they
// are. CurrentPassword is required to change Email or Password.
type AccountChanges struct {
	DisplayName     *string `json:"display_name"`
	Email           *string `json:"email"`
	Password        *string `json:"password"`
	CurrentPassword *string `json:"current_password"`
}

// validate checks in with the rules of sign-up and returns it normalized (email and display
// name trimmed), or a *validation.Error naming every invalid field.
func (in AccountChanges) validate() (AccountChanges, error) {
	var errs validation.List
	if in.DisplayName != nil {
		name := strings.TrimSpace(*in.DisplayName)
		in.DisplayName = &name
		if msg := checkDisplayName(name); msg != "" {
			errs.Add("display_name", msg)
		}
	}
	if in.Email != nil {
		email := strings.TrimSpace(*in.Email)
		in.Email = &email
		if msg := checkEmail(email); msg != "" {
			errs.Add("email", msg)
		}
	}
	if in.Password != nil {
		if msg := checkPassword(*in.Password); msg != "" {
			errs.Add("password", msg)
		}
	}
	if (in.Email != nil || in.Password != nil) && in.currentPassword() == "" {
		errs.Add("current_password", "is required to change the email address or the password")
	}
	return in, errs.Err()
}

func (in AccountChanges) currentPassword() string {
	if in.CurrentPassword == nil {
		return ""
	}
	return *in.CurrentPassword
}

// checkCurrentPassword checks that password is the password of a: a wrong one is counted as
// a failed login from clientAddr and gives ErrWrongPassword, and the limits on failed logins
// apply (a *ThrottledError).
func (s *Service) checkCurrentPassword(ctx context.Context, a Account, password, clientAddr string) error {
	now := s.now()
	keys := newLoginKeys(a.EmailKey, clientAddr)
	refusal, accountFails, err := s.throttled(ctx, now, keys)
	if err != nil {
		return fmt.Errorf("check password: %w", err)
	}
	if refusal != nil {
		s.metrics.logins.WithLabelValues(loginThrottled).Inc()
		return refusal
	}
	ok, _, err := s.hasher.Verify(ctx, a.PasswordHash, password)
	if err != nil {
		return fmt.Errorf("check password: %w", err)
	}
	if !ok {
		if err := s.loginFailed(ctx, now, keys, a, accountFails); !errors.Is(err, ErrInvalidCredentials) {
			return err
		}
		return ErrWrongPassword
	}
	return nil
}

// ChangeAccount changes the caller's display name, email address or password. A new
// address takes effect once it is confirmed: it is kept as pending, a confirmation link goes
// to it and a notice to the current address (at most once per
// Config.ConfirmResendInterval); asking for the current address again cancels a pending
// change. A new password revokes every login of the account but the caller's. It returns
// the account's new state and the highest revocation sequence number recorded.
func (s *Service) ChangeAccount(ctx context.Context, caller httpx.Caller, clientAddr string, in AccountChanges) (Account, int64, error) {
	in, err := in.validate()
	if err != nil {
		return Account{}, 0, err
	}
	a, err := s.Account(ctx, caller.AccountID)
	if err != nil {
		return Account{}, 0, err
	}
	if pw := in.currentPassword(); pw != "" {
		if err := s.checkCurrentPassword(ctx, a, pw, clientAddr); err != nil {
			return Account{}, 0, err
		}
	}
	if in.Email != nil && emailKey(*in.Email) != a.EmailKey {
		switch _, err := s.store.AccountByEmail(ctx, emailKey(*in.Email)); {
		case err == nil:
			return Account{}, 0, ErrEmailTaken
		case !errors.Is(err, ErrAccountNotFound):
			return Account{}, 0, fmt.Errorf("change account: %w", err)
		}
	}
	var passwordHash string
	if in.Password != nil {
		if passwordHash, err = s.hasher.Hash(ctx, *in.Password); err != nil {
			return Account{}, 0, fmt.Errorf("change account: %w", err)
		}
	}
	a, seq, err := s.update(ctx, caller.AccountID, func(a Account, now time.Time) (*AccountUpdate, error) {
		return s.changes(ctx, caller, a, in, passwordHash, now)
	})
	switch {
	case errors.Is(err, ErrAccountNotFound):
		return Account{}, 0, ErrAccountGone
	case err != nil:
		return Account{}, 0, fmt.Errorf("change account: %w", err)
	}
	return a, seq, nil
}

// changes computes the update of a that in asks for; nil when it changes nothing.
func (s *Service) changes(ctx context.Context, caller httpx.Caller, a Account, in AccountChanges, passwordHash string, now time.Time) (*AccountUpdate, error) {
	n := next(a)
	u := &AccountUpdate{Account: n}
	if in.DisplayName != nil {
		u.Account.DisplayName = *in.DisplayName
	}
	if in.Email != nil {
		if err := s.changeEmail(ctx, a, u, *in.Email, now); err != nil {
			return nil, err
		}
	}
	if passwordHash != "" {
		u.Account.PasswordHash = passwordHash
		u.RevokeOtherSessions, u.KeepSession, u.RevokeUntil = true, caller.SessionID, now.Add(s.cfg.AccessTokenTTL)
	}
	if u.Account == n {
		return nil, nil // nothing changes
	}
	if u.Account.DisplayName != a.DisplayName || u.Account.Email != a.Email {
		msg, err := accountChanged(ctx, u.Account)
		if err != nil {
			return nil, err
		}
		u.Messages = append(u.Messages, msg)
	}
	return u, nil
}

// changeEmail adds to u the change of a's address to email: the same address (in any case)
// replaces the current one's spelling and cancels a pending change; another becomes the
// pending one, with a confirmation link to it and a notice to the current address.
func (s *Service) changeEmail(ctx context.Context, a Account, u *AccountUpdate, email string, now time.Time) error {
	if emailKey(email) == a.EmailKey {
		u.Account.Email, u.Account.PendingEmail = email, ""
		return nil
	}
	if err := s.resendAllowed(a, now); err != nil {
		return err
	}
	u.Account.PendingEmail, u.Account.ConfirmSentAt = email, &now
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	c, confirm, err := s.confirmationEmail(ctx, u.Account, email, id.String(), now)
	if err != nil {
		return err
	}
	notice, err := broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{
		IdempotencyKey: string(messages.EmailChanged) + ":" + id.String(), Kind: messages.EmailChanged,
		To: a.Email, Name: a.DisplayName, NewEmail: email,
	})
	if err != nil {
		return err
	}
	u.NewConfirmation = &c
	u.Messages = append(u.Messages, confirm, notice)
	return nil
}
