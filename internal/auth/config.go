package auth

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/envconf"
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
	// ConfirmTokenTTL is how long an email-confirmation link works. Default 48 hours.
	ConfirmTokenTTL time.Duration `env:"CONFIRM_TOKEN_TTL,positive"`
	// ConfirmResendInterval is the least time between two confirmation links sent on an
	// account's request (POST /api/v1/accounts/me/confirmation-email, or a change of its
	// email); an earlier request is refused with 429. Default 1 minute.
	ConfirmResendInterval time.Duration `env:"CONFIRM_RESEND_INTERVAL,positive"`
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
		ConfirmTokenTTL:            48 * time.Hour,
		ConfirmResendInterval:      time.Minute,
		FailureWindow:              15 * time.Minute,
		PruneInterval:              10 * time.Minute,
		RevocationPoll:             time.Second,
		MaxRevocationWait:          30 * time.Second,
	}
}

// withDefaults fills the zero fields of c from DefaultConfig and checks the result.
func (c Config) withDefaults() (Config, error) {
	c = c.defaulted()
	if err := c.validate(); err != nil {
		return c, fmt.Errorf("auth config: %w", err)
	}
	return c, nil
}

// defaulted returns c with its zero fields taken from DefaultConfig.
func (c Config) defaulted() Config {
	return envconf.WithDefaults(c, DefaultConfig())
}

// validate checks a defaulted configuration.
func (c Config) validate() error {
	switch {
	case c.AccessTokenTTL < time.Second || c.AccessTokenTTL > authtoken.MaxTTL:
		return fmt.Errorf("access token TTL %v is not between 1s and %v", c.AccessTokenTTL, authtoken.MaxTTL)
	case c.RefreshTokenTTL < time.Minute:
		return fmt.Errorf("refresh token TTL %v is under a minute", c.RefreshTokenTTL)
	case min(c.MaxConcurrentHashes, c.AccountAddressFailureLimit, c.AccountFailureLimit,
		c.AddressFailureLimit, c.ResetRequestLimit) < 1:
		return fmt.Errorf("hash concurrency and failure limits must be positive")
	case c.AccountFailureLimit < c.AccountAddressFailureLimit:
		return fmt.Errorf("the account-wide failure limit %d is below the per-address one %d",
			c.AccountFailureLimit, c.AccountAddressFailureLimit)
	case min(c.FailureWindow, c.PruneInterval, c.RevocationPoll, c.MaxRevocationWait, c.ConfirmResendInterval) < 0 ||
		c.ResetTokenTTL < time.Minute || c.ConfirmTokenTTL < time.Minute:
		return fmt.Errorf("durations must be positive")
	}
	if err := c.Password.validate(); err != nil {
		return err
	}
	return validateSigningKeys(c.SigningKeys)
}

// validateSigningKeys checks that keys are distinct Ed25519 private keys.
func validateSigningKeys(keys []ed25519.PrivateKey) error {
	for i, k := range keys {
		if len(k) != ed25519.PrivateKeySize {
			return fmt.Errorf("signing key %d is not an Ed25519 private key", i+1)
		}
		for j, prev := range keys[:i] {
			if prev.Equal(k) {
				return fmt.Errorf("signing key %d is the same key as key %d", i+1, j+1)
			}
		}
	}
	return nil
}
