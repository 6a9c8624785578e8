// Package svcdeps holds the dependencies that every service takes from its host process, and
// their defaults.
package svcdeps

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// Common are the dependencies every service takes; a service's Deps embed them.
type Common struct {
	// Outbox wakes the outbox relay after a commit that added messages. Nil means none: the
	// relay finds the messages on its next poll.
	Outbox outbox.Notifier
	// Log receives the service's logs. Nil discards them.
	Log *slog.Logger
	// Registry receives the service's metrics. Nil means a private registry.
	Registry *prometheus.Registry
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// WithDefaults returns c with its nil fields given their defaults.
func (c Common) WithDefaults() Common {
	if c.Outbox == nil {
		c.Outbox = noNotifier{}
	}
	if c.Log == nil {
		c.Log = logging.Discard()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// noNotifier stands in for a missing outbox notifier.
type noNotifier struct{}

func (noNotifier) Notify() {}
