// Package auth is the auth service: accounts and their argon2id password hashes, confirmed
// addresses (single-use links by email), changes of name, address and password, password
// resets, logins that issue EdDSA-signed access tokens and rotating refresh tokens, logout,
// account deletion, the JWK set that verifies access tokens, and the revocation feed through
// which the gateway learns of logins and accounts whose access tokens must be refused before
// they expire. It announces new and changed accounts (account.changed) and deleted ones.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/outbox"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// Errors the service reports. They know nothing of HTTP: the handlers map them to problem
// responses in one place (see errorRules). Invalid input is a *validation.Error naming the
// fields, and a refused login a *ThrottledError.
var (
	// ErrInvalidCredentials answers a login with an unknown email or a wrong password alike.
	ErrInvalidCredentials = errors.New("the email address or the password is wrong")
	// ErrInvalidRefreshToken answers a refresh with an unknown, expired or revoked token.
	ErrInvalidRefreshToken = errors.New("the refresh token is unknown, expired or revoked")
	// ErrRefreshTokenReused answers a refresh with a token that was already used; the login it
	// belongs to is revoked.
	ErrRefreshTokenReused = errors.New("the refresh token was already used; every token of its login has been revoked")
	// ErrNotYourRefreshToken answers a logout with another account's refresh token.
	ErrNotYourRefreshToken = errors.New("the refresh token belongs to another account")
	// ErrAccountGone answers a caller whose account no longer exists: its access token no
	// longer stands for anyone.
	ErrAccountGone = errors.New("missing, expired or revoked access token")
)

// ThrottledError refuses a login because too many failed; Detail says which limit was
// reached, and RetryAfter when a login can succeed again.
type ThrottledError struct {
	Detail     string
	RetryAfter time.Duration
}

// Error implements error.
func (e *ThrottledError) Error() string { return e.Detail }

// Outcomes of a login, the label values of the logins metric.
const (
	loginSuccess   = "success"
	loginFailure   = "failure"
	loginThrottled = "throttled"
)

// Deps are the auth service's dependencies.
type Deps struct {
	svcdeps.Common
	// Store keeps the service's state.
	Store Store
	// Verifier authenticates every call to the service (see httpx.Options.Verifier).
	// Required.
	Verifier *svcauth.Verifier
}

// Service is the auth service.
type Service struct {
	cfg     Config
	store   Store
	outbox  outbox.Notifier
	log     *slog.Logger
	reg     *prometheus.Registry
	clock   func() time.Time
	hasher  *hasher
	dummy   string       // hash verified when the email is unknown, so both cases cost the same
	key     SigningKey   // signs new access tokens
	keys    []SigningKey // the configured keys (Config.SigningKeys); nil: the store's
	revs    *broadcast
	metrics serviceMetrics
	handler http.Handler
	verify  *svcauth.Verifier

	stopOnce sync.Once
	stopping chan struct{}
}

type serviceMetrics struct {
	logins *prometheus.CounterVec
	tokens *prometheus.CounterVec
	reuse  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) serviceMetrics {
	m := serviceMetrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_logins_total", Help: "Login attempts, by outcome (success, failure, throttled).",
		}, []string{"outcome"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_tokens_issued_total", Help: "Token pairs issued, by grant (password, refresh).",
		}, []string{"grant"}),
		reuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auth_refresh_reuse_detected_total", Help: "Reused refresh tokens; each revoked its login.",
		}),
	}
	reg.MustRegister(m.logins, m.tokens, m.reuse)
	for _, o := range []string{loginSuccess, loginFailure, loginThrottled} {
		m.logins.WithLabelValues(o)
	}
	for _, g := range []string{"password", "refresh"} {
		m.tokens.WithLabelValues(g)
	}
	return m
}

// New returns the auth service. It computes the dummy password hash and takes its signing
// keys from cfg.SigningKeys or, when that is empty, from the store, generating and storing
// one on the first start.
func New(cfg Config, deps Deps) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Verifier == nil {
		return nil, errors.New("auth: a store and a verifier are required")
	}
	c := deps.WithDefaults()
	s := &Service{
		cfg: cfg, store: deps.Store, outbox: c.Outbox, log: c.Log, reg: c.Registry, clock: c.Now,
		hasher: newHasher(cfg.Password, cfg.MaxConcurrentHashes), revs: newBroadcast(), stopping: make(chan struct{}),
		verify: deps.Verifier,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.dummy, err = s.hasher.Hash(ctx, rand.Text()); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if len(cfg.SigningKeys) > 0 {
		s.keys = configuredKeys(cfg.SigningKeys)
		s.key = s.keys[0]
		kids := make([]string, len(s.keys))
		for i, k := range s.keys {
			kids[i] = k.ID
		}
		s.log.Info("signing access tokens with a configured key", "kid", s.key.ID, "published", kids)
	} else if s.key, err = s.loadSigningKey(ctx); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s.metrics = newMetrics(s.reg)
	s.handler = s.routes()
	return s, nil
}

// now returns the current time in UTC, truncated to what the store keeps.
func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// loadSigningKey returns the newest stored signing key, generating one if there is none.
// Replicas starting together may each add one; the JWK set lists them all, so every token
// verifies whichever key signed it.
func (s *Service) loadSigningKey(ctx context.Context) (SigningKey, error) {
	keys, err := s.store.SigningKeys(ctx)
	if err != nil {
		return SigningKey{}, err
	}
	if len(keys) == 0 {
		k, err := generateSigningKey(s.now())
		if err != nil {
			return SigningKey{}, err
		}
		if err := s.store.AddSigningKey(ctx, k); err != nil {
			return SigningKey{}, err
		}
		s.log.Info("generated a signing key", "kid", k.ID)
		if keys, err = s.store.SigningKeys(ctx); err != nil {
			return SigningKey{}, err
		}
	}
	return keys[len(keys)-1], nil
}

// Consumers returns nil: the auth service consumes no messages.
func (s *Service) Consumers() []broker.Consumer { return nil }

// Run prunes expired state every PruneInterval until ctx is done; then it releases waiting
// revocation-feed requests.
func (s *Service) Run(ctx context.Context) error {
	defer s.stopOnce.Do(func() { close(s.stopping) })
	t := time.NewTicker(s.cfg.PruneInterval)
	defer t.Stop()
	for {
		now := s.now()
		if err := s.store.Prune(ctx, now, now.Add(-s.cfg.FailureWindow)); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "prune", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SignUp creates an account, queues its welcome email, which carries a link that confirms
// the address, and announces the account.
func (s *Service) SignUp(ctx context.Context, in SignUpInput) (Account, error) {
	in, err := in.validate()
	if err != nil {
		return Account{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Account{}, fmt.Errorf("sign up: %w", err)
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return Account{}, fmt.Errorf("sign up: %w", err)
	}
	now := s.now()
	a := Account{
		ID: id.String(), Email: in.Email, EmailKey: emailKey(in.Email), DisplayName: in.DisplayName,
		PasswordHash: hash, CreatedAt: now, Version: 1,
	}
	c, token, err := s.newConfirmation(a.ID, a.Email, now)
	if err != nil {
		return Account{}, fmt.Errorf("sign up: %w", err)
	}
	welcome, err := broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{
		IdempotencyKey: "welcome:" + a.ID, Kind: messages.EmailWelcome, To: a.Email, Name: a.DisplayName,
		Token: token, ExpiresAt: &c.ExpiresAt,
	})
	if err != nil {
		return Account{}, fmt.Errorf("sign up: %w", err)
	}
	changed, err := accountChanged(ctx, a)
	if err != nil {
		return Account{}, fmt.Errorf("sign up: %w", err)
	}
	if err := s.store.CreateAccount(ctx, a, &c, welcome, changed); err != nil {
		return Account{}, fmt.Errorf("sign up: %w", err)
	}
	s.outbox.Notify()
	return a, nil
}

// throttleKey names a counter of attempts: of an account (by email), of a client address,
// of password-reset emails; hashed, so the table holds no addresses and every key has the
// same length.
func throttleKey(kind, value string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + value))
	return hex.EncodeToString(sum[:])
}

// loginKeys are the failure counters a login attempt counts against.
type loginKeys struct {
	// account counts every failure for the email, from any address; below it, pair counts
	// those from the attempt's address (so clearing account clears every pair).
	account, pair string
	// address counts every failure from the attempt's address, for any email.
	address string
}

func newLoginKeys(emailKey, clientAddr string) loginKeys {
	account := throttleKey("account", emailKey)
	address := throttleKey("address", clientAddr)
	return loginKeys{account: account, pair: account + "/" + address, address: address}
}

// What a client is told when a login is refused before its password is checked.
const (
	throttledHere    = "too many failed logins for this account from your address; try again later"
	throttledAddress = "too many failed logins from your address; try again later"
	throttledAccount = "too many failed logins for this account from many addresses: it is locked for everyone " +
		"for a while. If it is yours, we have emailed you a link that unlocks it and sets a new password."
)

// throttle is a limit on one counter and what a client is told when it is reached.
type throttle struct {
	key    string
	limit  int
	detail string
}

// throttled returns the refusal of the first limit reached, with how long until it lets a
// login through again, or nil when none is reached. accountFails is the number of failures
// counted against the account-wide limit.
func (s *Service) throttled(ctx context.Context, now time.Time, keys loginKeys) (refusal *ThrottledError, accountFails int, err error) {
	for _, l := range []throttle{
		{keys.pair, s.cfg.AccountAddressFailureLimit, throttledHere},
		{keys.address, s.cfg.AddressFailureLimit, throttledAddress},
		{keys.account, s.cfg.AccountFailureLimit, throttledAccount},
	} {
		fails, err := s.store.LoginFailures(ctx, l.key, now.Add(-s.cfg.FailureWindow), l.limit)
		if err != nil {
			return nil, 0, err
		}
		if l.key == keys.account {
			accountFails = len(fails)
		}
		if len(fails) >= l.limit && refusal == nil {
			// The window lets a login through once the oldest of the last limit failures
			// has left it.
			free := max(fails[0].Add(s.cfg.FailureWindow).Sub(now), time.Second)
			refusal = &ThrottledError{Detail: l.detail, RetryAfter: free}
		}
	}
	return refusal, accountFails, nil
}

// Login checks an email and password and starts a login (session). An unknown email and a
// wrong password give the same error after the same work. Failures are counted per email
// and client address, per client address, and per email from every address; past a limit,
// logins are refused before the password is checked: for that email from that address, from
// that address, or — past the much higher account-wide limit — for that email from every
// address, and reaching that limit emails the owner a link that unlocks the account.
func (s *Service) Login(ctx context.Context, email, password, clientAddr string) (TokenPair, error) {
	if err := requireFields([2]string{"email", email}, [2]string{"password", password}); err != nil {
		return TokenPair{}, err
	}
	now := s.now()
	keys := newLoginKeys(emailKey(email), clientAddr)
	a, err := s.authenticate(ctx, now, keys, emailKey(email), password)
	if err != nil {
		return TokenPair{}, err
	}
	pair, err := s.startSession(ctx, a, now)
	if err != nil {
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	s.metrics.logins.WithLabelValues(loginSuccess).Inc()
	s.metrics.tokens.WithLabelValues("password").Inc()
	return pair, nil
}

// authenticate returns the account of key whose password is password, unless a limit on
// failures refuses the login first (a *ThrottledError). A wrong password, or an unknown
// email, is counted as a failure and gives ErrInvalidCredentials; a success forgets the
// failures of keys.pair and rehashes a password hashed with weaker parameters.
func (s *Service) authenticate(ctx context.Context, now time.Time, keys loginKeys, key, password string) (Account, error) {
	refusal, accountFails, err := s.throttled(ctx, now, keys)
	if err != nil {
		return Account{}, fmt.Errorf("login: %w", err)
	}
	if refusal != nil {
		s.metrics.logins.WithLabelValues(loginThrottled).Inc()
		return Account{}, refusal
	}
	a, err := s.store.AccountByEmail(ctx, key)
	hash := a.PasswordHash
	switch {
	case errors.Is(err, ErrAccountNotFound):
		hash = s.dummy
	case err != nil:
		return Account{}, fmt.Errorf("login: %w", err)
	}
	ok, rehash, err := s.hasher.Verify(ctx, hash, password)
	if err != nil {
		return Account{}, fmt.Errorf("login: %w", err)
	}
	if !ok || a.ID == "" {
		return Account{}, s.loginFailed(ctx, now, keys, a, accountFails)
	}
	// A success forgets this address's failures for the account, not the account-wide
	// count: a guesser elsewhere must not gain a fresh allowance each time the owner logs in.
	if err := s.store.ClearLoginFailures(ctx, keys.pair); err != nil {
		return Account{}, fmt.Errorf("login: %w", err)
	}
	if rehash {
		s.rehash(ctx, a.ID, password)
	}
	return a, nil
}

// loginFailed counts a failed login to a (empty for an unknown email), emails its owner when
// the failure reaches the account-wide limit, and returns ErrInvalidCredentials.
// accountFails is the number of failures counted against that limit before this one.
func (s *Service) loginFailed(ctx context.Context, now time.Time, keys loginKeys, a Account, accountFails int) error {
	if err := s.store.RecordLoginFailure(ctx, now, keys.account, keys.pair, keys.address); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	s.metrics.logins.WithLabelValues(loginFailure).Inc()
	if a.ID != "" && accountFails+1 == s.cfg.AccountFailureLimit {
		s.lockedOut(ctx, a, now)
	}
	return ErrInvalidCredentials
}

// startSession starts a login (session) of a and returns its first token pair.
func (s *Service) startSession(ctx context.Context, a Account, now time.Time) (TokenPair, error) {
	sessionID, err := uuid.NewV7()
	if err != nil {
		return TokenPair{}, err
	}
	raw, rhash, err := newSecret()
	if err != nil {
		return TokenPair{}, err
	}
	rt := RefreshToken{
		Hash: rhash, SessionID: sessionID.String(), AccountID: a.ID,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTokenTTL),
	}
	if err := s.store.CreateRefreshToken(ctx, rt); err != nil {
		return TokenPair{}, err
	}
	return s.pair(a, rt.SessionID, raw, now)
}

// rehash replaces a password hash made with weaker parameters than the current ones. A
// failure is logged: the login itself succeeded.
func (s *Service) rehash(ctx context.Context, accountID, password string) {
	hash, err := s.hasher.Hash(ctx, password)
	if err == nil {
		err = s.store.SetPasswordHash(ctx, accountID, hash)
	}
	if err != nil {
		s.log.WarnContext(ctx, "rehash password", "account_id", accountID, "err", err)
	}
}

// pair returns the token pair of a session: a new access token and the given refresh token.
func (s *Service) pair(a Account, sessionID, refresh string, now time.Time) (TokenPair, error) {
	access, err := signAccessToken(s.key, a, sessionID, now, s.cfg.AccessTokenTTL)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(s.cfg.AccessTokenTTL / time.Second), RefreshToken: refresh,
	}, nil
}

// Refresh rotates a refresh token: it is marked used and a new one of the same login is
// issued with a new access token. Presenting a token that was already used revokes its whole
// login; the returned sequence number is then that revocation's, with ErrRefreshTokenReused.
func (s *Service) Refresh(ctx context.Context, token string) (TokenPair, int64, error) {
	if err := requireFields([2]string{"refresh_token", token}); err != nil {
		return TokenPair{}, 0, err
	}
	now := s.now()
	hash := hashSecret(token)
	t, err := s.store.RefreshToken(ctx, hash)
	switch {
	case errors.Is(err, ErrRefreshTokenNotFound):
		return TokenPair{}, 0, ErrInvalidRefreshToken
	case err != nil:
		return TokenPair{}, 0, fmt.Errorf("refresh: %w", err)
	case t.UsedAt != nil:
		return s.reused(ctx, t)
	case !now.Before(t.ExpiresAt):
		return TokenPair{}, 0, ErrInvalidRefreshToken
	}
	a, err := s.store.AccountByID(ctx, t.AccountID)
	switch {
	case errors.Is(err, ErrAccountNotFound):
		return TokenPair{}, 0, ErrInvalidRefreshToken
	case err != nil:
		return TokenPair{}, 0, fmt.Errorf("refresh: %w", err)
	}
	raw, nextHash, err := newSecret()
	if err != nil {
		return TokenPair{}, 0, fmt.Errorf("refresh: %w", err)
	}
	next := RefreshToken{
		Hash: nextHash, SessionID: t.SessionID, AccountID: t.AccountID,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTokenTTL),
	}
	if err := s.store.RotateRefreshToken(ctx, hash, now, next); errors.Is(err, ErrRefreshTokenNotCurrent) {
		// Another rotation of the same token won the race (that is reuse too), or the token
		// expired or was revoked meanwhile.
		t, err := s.store.RefreshToken(ctx, hash)
		if err == nil && t.UsedAt != nil {
			return s.reused(ctx, t)
		}
		return TokenPair{}, 0, ErrInvalidRefreshToken
	} else if err != nil {
		return TokenPair{}, 0, fmt.Errorf("refresh: %w", err)
	}
	pair, err := s.pair(a, t.SessionID, raw, now)
	if err != nil {
		return TokenPair{}, 0, fmt.Errorf("refresh: %w", err)
	}
	s.metrics.tokens.WithLabelValues("refresh").Inc()
	return pair, 0, nil
}

// reused revokes the login of a refresh token that was presented again after it was used.
func (s *Service) reused(ctx context.Context, t RefreshToken) (TokenPair, int64, error) {
	s.metrics.reuse.Inc()
	s.log.WarnContext(ctx, "refresh token reused; revoking its login", "account_id", t.AccountID, "session_id", t.SessionID)
	seq, err := s.revokeSession(ctx, t.SessionID)
	if err != nil {
		return TokenPair{}, 0, fmt.Errorf("refresh: %w", err)
	}
	return TokenPair{}, seq, ErrRefreshTokenReused
}

// revokeSession revokes every token of a login and wakes the revocation feed.
func (s *Service) revokeSession(ctx context.Context, sessionID string) (int64, error) {
	seq, err := s.store.RevokeSession(ctx, sessionID, s.now().Add(s.cfg.AccessTokenTTL))
	if err != nil {
		return 0, err
	}
	s.revs.signal()
	return seq, nil
}

// Logout revokes the login that the refresh token belongs to, which must be one of the
// caller's. An unknown token revokes the caller's current login instead. It returns the
// revocation's sequence number (0 when nothing was revoked).
func (s *Service) Logout(ctx context.Context, caller httpx.Caller, token string) (int64, error) {
	if err := requireFields([2]string{"refresh_token", token}); err != nil {
		return 0, err
	}
	sessionID := caller.SessionID
	t, err := s.store.RefreshToken(ctx, hashSecret(token))
	switch {
	case err == nil:
		if t.AccountID != caller.AccountID {
			return 0, ErrNotYourRefreshToken
		}
		sessionID = t.SessionID
	case !errors.Is(err, ErrRefreshTokenNotFound):
		return 0, fmt.Errorf("logout: %w", err)
	}
	if sessionID == "" {
		return 0, nil
	}
	seq, err := s.revokeSession(ctx, sessionID)
	if err != nil {
		return 0, fmt.Errorf("logout: %w", err)
	}
	return seq, nil
}

// Account returns the caller's account; ErrAccountGone when it no longer exists.
func (s *Service) Account(ctx context.Context, accountID string) (Account, error) {
	a, err := s.store.AccountByID(ctx, accountID)
	if errors.Is(err, ErrAccountNotFound) {
		return Account{}, ErrAccountGone
	}
	return a, err
}

// DeleteAccount deletes the caller's account and its refresh tokens, revokes its access
// tokens and announces the deletion, all at once, provided currentPassword is the account's
// password (ErrWrongPassword otherwise; wrong passwords count as failed logins from
// clientAddr). It returns the revocation's sequence number.
func (s *Service) DeleteAccount(ctx context.Context, accountID, currentPassword, clientAddr string) (int64, error) {
	if err := requireFields([2]string{"current_password", currentPassword}); err != nil {
		return 0, err
	}
	a, err := s.Account(ctx, accountID)
	if err != nil {
		return 0, err
	}
	if err := s.checkCurrentPassword(ctx, a, currentPassword, clientAddr); err != nil {
		return 0, err
	}
	now := s.now()
	msg, err := broker.NewMessage(ctx, messages.TypeAccountDeleted, messages.AccountDeleted{AccountID: accountID, DeletedAt: now})
	if err != nil {
		return 0, fmt.Errorf("delete account: %w", err)
	}
	seq, err := s.store.DeleteAccount(ctx, accountID, now.Add(s.cfg.AccessTokenTTL), msg)
	if errors.Is(err, ErrAccountNotFound) {
		return 0, ErrAccountGone
	}
	if err != nil {
		return 0, err
	}
	s.revs.signal()
	s.outbox.Notify()
	return seq, nil
}

// JWKS returns the public keys that verify access tokens: the configured keys when
// Config.SigningKeys is set, else every key of the store.
func (s *Service) JWKS(ctx context.Context) (authtoken.JWKS, error) {
	keys := s.keys
	if keys == nil {
		var err error
		if keys, err = s.store.SigningKeys(ctx); err != nil {
			return authtoken.JWKS{}, fmt.Errorf("jwks: %w", err)
		}
	}
	set := authtoken.JWKS{Keys: make([]authtoken.JWK, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, publicJWK(k))
	}
	return set, nil
}

// Revocations returns the revocations after the sequence number after. With wait > 0 and
// none past after yet, it waits up to wait (at most MaxRevocationWait) for one: it wakes at
// once for one written by this process, and re-reads the store every RevocationPoll for
// those of other replicas. The wait ends early, answering what the feed has, when ctx ends,
// release is closed (the server starts shutting down) or the service stops; only ctx ends a
// read of the store.
func (s *Service) Revocations(ctx context.Context, release <-chan struct{}, after int64, wait time.Duration) (authtoken.RevocationFeed, error) {
	wait = min(wait, s.cfg.MaxRevocationWait)
	var deadline, poll <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		p := time.NewTicker(s.cfg.RevocationPoll)
		defer p.Stop()
		deadline, poll = t.C, p.C
	}
	for {
		woken := s.revs.wait() // before reading, so no signal after the read is missed
		feed, err := s.store.Revocations(ctx, after, s.now())
		if err != nil {
			return feed, fmt.Errorf("revocations: %w", err)
		}
		if feed.Revocations == nil {
			feed.Revocations = []authtoken.Revocation{} // an empty JSON array, never null
		}
		if wait <= 0 || feed.LastSeq > after {
			return feed, nil
		}
		select {
		case <-woken:
		case <-poll:
		case <-deadline:
			wait = 0 // read once more and answer
		case <-ctx.Done():
			return feed, nil
		case <-release:
			return feed, nil
		case <-s.stopping:
			return feed, nil
		}
	}
}

// broadcast wakes every waiter at once: wait returns a channel that signal closes.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func newBroadcast() *broadcast { return &broadcast{ch: make(chan struct{})} }

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *broadcast) signal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.ch)
	b.ch = make(chan struct{})
}
