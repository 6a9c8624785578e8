package notifications

import (
	"fmt"
	"time"

	"github.com/eventpost/eventpost/internal/platform/kvconfig"
)

// Bounds of the settings that SetPollInterval and SetClaimBatch change while the service runs.
const (
	MinPollInterval = 100 * time.Millisecond
	MaxPollInterval = time.Minute
	MinClaimBatch   = 1
	MaxClaimBatch   = 1000
)

// SetPollInterval changes Config.PollInterval while the scheduler runs; d must be within
// MinPollInterval and MaxPollInterval. The scheduler wakes to use it at once.
func (s *Service) SetPollInterval(d time.Duration) error {
	if d < MinPollInterval || d > MaxPollInterval {
		return fmt.Errorf("notifications: poll interval %s is outside %s to %s", d, MinPollInterval, MaxPollInterval)
	}
	s.pollInterval.Store(int64(d))
	s.wakeScheduler()
	return nil
}

// SetClaimBatch changes Config.ClaimBatch while the scheduler runs; n must be within
// MinClaimBatch and MaxClaimBatch.
func (s *Service) SetClaimBatch(n int) error {
	if n < MinClaimBatch || n > MaxClaimBatch {
		return fmt.Errorf("notifications: claim batch %d is outside %d to %d", n, MinClaimBatch, MaxClaimBatch)
	}
	s.claimBatch.Store(int64(n))
	return nil
}

// Schedule returns the poll interval and claim batch in force.
func (s *Service) Schedule() (pollInterval time.Duration, claimBatch int) {
	return time.Duration(s.pollInterval.Load()), int(s.claimBatch.Load())
}

// LiveKeys are the settings that live configuration (Consul's KV store) may change while the
// service runs, by key, with the values in force as their base.
func (s *Service) LiveKeys() map[string]kvconfig.Key {
	poll, batch := s.Schedule()
	return map[string]kvconfig.Key{
		"poll_interval": kvconfig.Duration(poll, s.SetPollInterval),
		"claim_batch":   kvconfig.Int(batch, s.SetClaimBatch),
	}
}
