package rabbitmq

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/envconf"
)

// Config configures a Broker. The zero value of a field means its default (see DefaultConfig).
type Config struct {
	// URL is the AMQP 0-9-1 URL of the server, such as amqp://guest:guest@127.0.0.1:5672/.
	// It holds credentials; the broker logs it with the password redacted.
	URL string
	// Prefix starts the name of every exchange and queue of the topology, so that several
	// systems (or tests) can share a virtual host. Default "eventpost".
	Prefix string
	// Bindings is the topology: every queue and the message types routed to it. Required:
	// the application's topology (messages.Bindings), or a test's.
	Bindings []broker.Binding
	// Prefetch is how many unacknowledged messages the server hands each consumer at once.
	// Default 32.
	Prefetch int
	// Concurrency is how many handler goroutines each registered consumer runs. Default 8.
	Concurrency int
	// RetryDelays are the delays before the redeliveries of a message whose handler failed:
	// the first for the second attempt, and so on; the last one repeats. Each delay has its
	// own retry queue per queue. Default 1s, 5s, 30s, 2m, 10m.
	RetryDelays []time.Duration
	// MaxAttempts is how many times a message is handed to a consumer before it is
	// dead-lettered. Default 10.
	MaxAttempts int
	// DeliveryLimit is the server-side safety net of every main queue (x-delivery-limit):
	// a message returned to the queue unacknowledged that many times (its consumer crashed
	// or lost its connection while holding it, again and again) is dead-lettered by the
	// server. Default 20.
	DeliveryLimit int
	// ReconnectMin and ReconnectMax bound the exponential backoff (with jitter) between
	// connection attempts. Defaults 100ms and 2s: a server that comes back is used again
	// within 2 s, and one connection attempt every 2 s costs a down server nothing.
	ReconnectMin, ReconnectMax time.Duration
	// ConnectTimeout bounds the TCP and AMQP handshakes. Default 5s.
	ConnectTimeout time.Duration
	// Heartbeat is the AMQP heartbeat interval, which detects a dead peer. Default 10s.
	Heartbeat time.Duration
	// PublishTimeout bounds how long Publish waits for the server's confirmation when the
	// caller's context has no earlier deadline. Default 10s.
	PublishTimeout time.Duration
	// Name is this process's name in the server's connection list (the connection_name
	// client property). Default "eventpost".
	Name string
}

// DefaultConfig returns the defaults, with URL amqp://guest:guest@127.0.0.1:5672/ and no
// Bindings (the caller sets them).
func DefaultConfig() Config {
	return Config{
		URL:            "amqp://guest:guest@127.0.0.1:5672/",
		Prefix:         "eventpost",
		Prefetch:       32,
		Concurrency:    8,
		RetryDelays:    []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute},
		MaxAttempts:    10,
		DeliveryLimit:  20,
		ReconnectMin:   100 * time.Millisecond,
		ReconnectMax:   2 * time.Second,
		ConnectTimeout: 5 * time.Second,
		Heartbeat:      10 * time.Second,
		PublishTimeout: 10 * time.Second,
		Name:           "eventpost",
	}
}

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("invalid rabbitmq config")

// withDefaults returns c with every zero field set to its default, or an error wrapping
// ErrConfig.
func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, fmt.Errorf("%w: URL is required", ErrConfig)
	}
	if len(c.Bindings) == 0 {
		return c, fmt.Errorf("%w: Bindings is required", ErrConfig)
	}
	c = envconf.WithDefaults(c, DefaultConfig())
	c.RetryDelays = slices.Clone(c.RetryDelays)
	return c, c.validate()
}

// validate reports a Config whose fields, defaults applied, do not make a topology, as an
// error wrapping ErrConfig.
func (c Config) validate() error {
	switch {
	case c.Prefetch < 0 || c.Concurrency < 0 || c.MaxAttempts < 0 || c.DeliveryLimit < 0:
		return fmt.Errorf("%w: Prefetch, Concurrency, MaxAttempts and DeliveryLimit must be positive", ErrConfig)
	case c.ReconnectMax < c.ReconnectMin:
		return fmt.Errorf("%w: ReconnectMax %s is below ReconnectMin %s", ErrConfig, c.ReconnectMax, c.ReconnectMin)
	}
	for _, d := range c.RetryDelays {
		if d < time.Millisecond || d%time.Millisecond != 0 {
			return fmt.Errorf("%w: retry delay %s is not a positive number of milliseconds", ErrConfig, d)
		}
	}
	seen := make(map[string]bool)
	for _, b := range c.Bindings {
		if b.Queue == "" || len(b.Types) == 0 {
			return fmt.Errorf("%w: binding %q needs a queue and at least one type", ErrConfig, b.Queue)
		}
		if seen[b.Queue] {
			return fmt.Errorf("%w: queue %q is bound twice", ErrConfig, b.Queue)
		}
		seen[b.Queue] = true
	}
	return nil
}

// Exchange returns the name of the topic exchange every message is published to.
func (c Config) Exchange() string { return c.prefix() }

// Queue returns the name of the main queue of the binding queue.
func (c Config) Queue(queue string) string { return c.prefix() + "." + queue }

// RetryQueue returns the name of queue's retry queue for delay.
func (c Config) RetryQueue(queue string, delay time.Duration) string {
	return c.Queue(queue) + ".retry." + formatDelay(delay)
}

// DeadQueue returns the name of queue's dead-letter queue.
func (c Config) DeadQueue(queue string) string { return c.Queue(queue) + ".dead" }

// QueueNames returns the name of every queue of the topology: for each binding its main
// queue, its retry queues and its dead-letter queue. Defaults apply to unset fields; without
// Bindings there are no queues.
func (c Config) QueueNames() []string {
	bindings, delays := c.Bindings, c.RetryDelays
	if len(delays) == 0 {
		delays = DefaultConfig().RetryDelays
	}
	var names []string
	for _, b := range bindings {
		names = append(names, c.Queue(b.Queue), c.DeadQueue(b.Queue))
		for _, d := range uniqueDelays(delays) {
			names = append(names, c.RetryQueue(b.Queue, d))
		}
	}
	return names
}

func (c Config) prefix() string {
	if c.Prefix == "" {
		return DefaultConfig().Prefix
	}
	return c.Prefix
}

// retryDelay returns the delay before attempt+1, after attempt failed.
func (c Config) retryDelay(attempt int) time.Duration {
	return c.RetryDelays[min(max(attempt, 1), len(c.RetryDelays))-1]
}

// uniqueDelays returns delays without repeats, in order.
func uniqueDelays(delays []time.Duration) []time.Duration {
	var out []time.Duration
	for _, d := range delays {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// formatDelay names a delay in the largest whole unit: 10m, 30s, 1h, 250ms.
func formatDelay(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}
