package auth

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
)

// Config configures the auth service. Zero fields take their DefaultConfig value. A field
// with an env tag is read from EVENTPOST_AUTH_<tag> by the host process (see envconf).
type Config struct {
	// AccessTokenTTL is how long an access token is valid. Default 15 minutes; at most
	// authtoken.MaxTTL.
	AccessTokenTTL time.Duration `env:"ACCESS_TOKEN_TTL,positive"`
	// RefreshTokenTTL is how long a refresh token is valid after it is issued; every refresh
	// issues a new one. Default 30 days.
	RefreshTokenTTL time.Duration `env:"REFRESH_TOKEN_TTL,positive"`
	// Password holds the argon2id parameters of new hashes. Default and minimum:
	// MinPasswordParams.
	Password PasswordParams `env:"PASSWORD_,prefix"`
	// MaxConcurrentHashes bounds the password hashes computed at once (each holds
	// Password.Memory KiB). Default 2.
	MaxConcurrentHashes int `env:"MAX_CONCURRENT_HASHES,positive"`
	// AccountAddressFailureLimit is how many failed logins for one email address from one
	// client address FailureWindow allows before logins for that email from that address are
	// refused with 429; other addresses may still log in to it. Default 5.
	AccountAddressFailureLimit int `env:"ACCOUNT_ADDRESS_FAILURE_LIMIT,positive"`
	// AddressFailureLimit is how many failed logins from one client address FailureWindow
	// allows before logins from it are refused with 429. Default 20.
	AddressFailureLimit int `env:"ADDRESS_FAILURE_LIMIT,positive"`
	// AccountFailureLimit is how many failed logins for one email address, from all
	// addresses together, FailureWindow allows before logins for it are refused from every
	// address; reaching it emails the owner a link that unlocks the account and sets a new
	// password. Default 100.
	AccountFailureLimit int `env:"ACCOUNT_FAILURE_LIMIT,positive"`
	// ResetTokenTTL is how long a password-reset (or unlock) link works. Default 1 hour.
	ResetTokenTTL time.Duration `env:"RESET_TOKEN_TTL,positive"`
	// ResetRequestLimit is how many password-reset emails one address may be sent within
	// FailureWindow; further requests are answered the same but send nothing. Default 3.
	ResetRequestLimit int `env:"RESET_REQUEST_LIMIT,positive"`
	// FailureWindow is the sliding window over which failed logins are counted. Default 15
	// minutes.
	FailureWindow time.Duration `env:"FAILURE_WINDOW,positive"`
	// PruneInterval is how often expired revocations, refresh tokens and login failures are
	// deleted. Default 10 minutes.
	PruneInterval time.Duration `env:"PRUNE_INTERVAL,positive"`
	// RevocationPoll is how often a waiting revocation-feed request re-reads the database for
	// revocations written by other replicas. Default 1 second.
	RevocationPoll time.Duration `env:"REVOCATION_POLL,positive"`
	// MaxRevocationWait caps the wait parameter of the revocation feed. Default 30 seconds.
	MaxRevocationWait time.Duration `env:"MAX_REVOCATION_WAIT,positive"`
	// SigningKeys, when set, are the access-token signing keys (see ParseSigningKeys): the
	// first signs new access tokens, and every one is published in the JWK set, so that
	// tokens signed with a key that is being retired verify until they expire. The key kept
	// in the database is then neither used nor published. Unset, the service signs with the
	// newest key of its database, generating one on its first start. Secret: never logged.
	SigningKeys []ed25519.PrivateKey
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{
		AccessTokenTTL:             authtoken.MaxTTL,
		RefreshTokenTTL:            30 * 24 * time.Hour,
		Password:                   MinPasswordParams,
		MaxConcurrentHashes:        2,
		AccountAddressFailureLimit: 5,
		AddressFailureLimit:        20,
		AccountFailureLimit:        100,
		ResetTokenTTL:              time.Hour,
		ResetRequestLimit:          3,
		FailureWindow:              15 * time.Minute,
		PruneInterval:              10 * time.Minute,
		RevocationPoll:             time.Second,
		MaxRevocationWait:          30 * time.Second,
	}
}

// withDefaults fills the zero fields of c from DefaultConfig and checks the result.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	def := func(v *time.Duration, dv time.Duration) {
		if *v == 0 {
			*v = dv
		}
	}
	defInt := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	def(&c.AccessTokenTTL, d.AccessTokenTTL)
	def(&c.RefreshTokenTTL, d.RefreshTokenTTL)
	def(&c.FailureWindow, d.FailureWindow)
	def(&c.PruneInterval, d.PruneInterval)
	def(&c.RevocationPoll, d.RevocationPoll)
	def(&c.MaxRevocationWait, d.MaxRevocationWait)
	def(&c.ResetTokenTTL, d.ResetTokenTTL)
	defInt(&c.MaxConcurrentHashes, d.MaxConcurrentHashes)
	defInt(&c.AccountAddressFailureLimit, d.AccountAddressFailureLimit)
	defInt(&c.AccountFailureLimit, d.AccountFailureLimit)
	defInt(&c.AddressFailureLimit, d.AddressFailureLimit)
	defInt(&c.ResetRequestLimit, d.ResetRequestLimit)
	if c.Password == (PasswordParams{}) {
		c.Password = d.Password
	}
	switch {
	case c.AccessTokenTTL < time.Second || c.AccessTokenTTL > authtoken.MaxTTL:
		return c, fmt.Errorf("auth config: access token TTL %v is not between 1s and %v", c.AccessTokenTTL, authtoken.MaxTTL)
	case c.RefreshTokenTTL < time.Minute:
		return c, fmt.Errorf("auth config: refresh token TTL %v is under a minute", c.RefreshTokenTTL)
	case c.MaxConcurrentHashes < 1 || c.AccountAddressFailureLimit < 1 || c.AccountFailureLimit < 1 ||
		c.AddressFailureLimit < 1 || c.ResetRequestLimit < 1:
		return c, fmt.Errorf("auth config: hash concurrency and failure limits must be positive")
	case c.AccountFailureLimit < c.AccountAddressFailureLimit:
		return c, fmt.Errorf("auth config: the account-wide failure limit %d is below the per-address one %d",
			c.AccountFailureLimit, c.AccountAddressFailureLimit)
	case c.FailureWindow < 0 || c.PruneInterval < 0 || c.RevocationPoll < 0 || c.MaxRevocationWait < 0 ||
		c.ResetTokenTTL < time.Minute:
		return c, fmt.Errorf("auth config: durations must be positive")
	}
	if err := c.Password.validate(); err != nil {
		return c, fmt.Errorf("auth config: %w", err)
	}
	for i, k := range c.SigningKeys {
		if len(k) != ed25519.PrivateKeySize {
			return c, fmt.Errorf("auth config: signing key %d is not an Ed25519 private key", i+1)
		}
		for j, prev := range c.SigningKeys[:i] {
			if prev.Equal(k) {
				return c, fmt.Errorf("auth config: signing key %d is the same key as key %d", i+1, j+1)
			}
		}
	}
	return c, nil
}
