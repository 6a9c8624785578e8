package mailer

import (
	"fmt"

	"github.com/eventpost/eventpost/internal/platform/kvconfig"
)

// Bounds of Config.MaxAttempts as SetMaxAttempts changes it.
const (
	MinMaxAttempts = 1
	MaxMaxAttempts = 100
)

// SetFrom changes the From header of the emails rendered from now on (Config.From); from must
// be an address that net/mail parses, such as "EventPost <no-reply@example.com>". The
// Message-IDs of later emails take its domain.
func (s *Service) SetFrom(from string) error {
	r, err := NewRenderer(from, s.cfg.PublicURL)
	if err != nil {
		return fmt.Errorf("mailer: %w", err)
	}
	s.render.Store(r)
	return nil
}

// From returns the From address in force.
func (s *Service) From() string { return s.render.Load().from.String() }

// SetMaxAttempts changes Config.MaxAttempts while the service runs; n must be within
// MinMaxAttempts and MaxMaxAttempts.
func (s *Service) SetMaxAttempts(n int) error {
	if n < MinMaxAttempts || n > MaxMaxAttempts {
		return fmt.Errorf("mailer: max attempts %d is outside %d to %d", n, MinMaxAttempts, MaxMaxAttempts)
	}
	s.maxAttempts.Store(int64(n))
	return nil
}

// MaxAttempts returns the max attempts in force.
func (s *Service) MaxAttempts() int { return int(s.maxAttempts.Load()) }

// LiveKeys are the settings that live configuration (Consul's KV store) may change while the
// service runs, by key, with the values in force as their base.
func (s *Service) LiveKeys() map[string]kvconfig.Key {
	return map[string]kvconfig.Key{
		"mail_from":    kvconfig.String(s.From(), s.SetFrom),
		"max_attempts": kvconfig.Int(s.MaxAttempts(), s.SetMaxAttempts),
	}
}
