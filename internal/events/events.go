// Package events is the events service: it stores events, lets their organizers create,
// change and delete them, answers searches (words, time range, category, tags, distance) with
// stable cursor paging, exports events as .ics files, and announces every change through its
// outbox as event.changed and event.deleted messages. It removes the events of a deleted
// account when it consumes account.deleted.
package events

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
	_ "time/tzdata" // time zone names validate on a machine without a zoneinfo database

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/outbox"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// Config configures the events service.
type Config struct {
	// PublicURL is the base URL users reach EventPost at; an event's page is
	// PublicURL + "/events/" + id, the URL of its .ics file when it has no online link.
	PublicURL string
	// DeletedRetention is how long the .ics export of a deleted event answers its
	// cancellation (EVENTPOST_EVENTS_DELETED_RETENTION, default 720h: the 30 days calendar
	// feeds keep a deleted event); later it answers 404. Zero means the default.
	DeletedRetention time.Duration `env:"DELETED_RETENTION,positive"`
}

// DefaultDeletedRetention is the default of Config.DeletedRetention.
const DefaultDeletedRetention = 30 * 24 * time.Hour

// pruneInterval is how often Run removes the tombstones older than Config.DeletedRetention.
const pruneInterval = time.Hour

// DefaultConfig returns the configuration of the all-in-one mode.
func DefaultConfig() Config {
	return Config{PublicURL: "http://localhost:8080", DeletedRetention: DefaultDeletedRetention}
}

// Deps are the dependencies of the service.
type Deps struct {
	// Common: Log and Registry are required.
	svcdeps.Common
	// Store keeps the events.
	Store Store
	// Verifier authenticates every call to the service (see httpx.Options.Verifier).
	// Required.
	Verifier *svcauth.Verifier
}

// Service is the events service.
type Service struct {
	cfg     Config
	store   Store
	outbox  outbox.Notifier
	log     *slog.Logger
	reg     *prometheus.Registry
	now     func() time.Time
	metrics *serviceMetrics
	handler http.Handler
}

// New returns the events service.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Store == nil {
		return nil, errors.New("events: a store is required")
	}
	if deps.Log == nil {
		return nil, errors.New("events: a logger is required")
	}
	if deps.Registry == nil {
		return nil, errors.New("events: a metrics registry is required")
	}
	if deps.Verifier == nil {
		return nil, errors.New("events: a verifier is required")
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = DefaultConfig().PublicURL
	}
	if cfg.DeletedRetention <= 0 {
		cfg.DeletedRetention = DefaultDeletedRetention
	}
	c := deps.WithDefaults()
	m, err := newServiceMetrics(c.Registry)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, store: deps.Store, outbox: c.Outbox, log: c.Log, reg: c.Registry, now: c.Now, metrics: m,
	}
	s.handler = s.routes(deps.Verifier)
	return s, nil
}

// Consumers returns the consumer of account.deleted, which removes the account's events,
// and of account.changed, which keeps the service's copy of the account.
func (s *Service) Consumers() []broker.Consumer {
	deleted, changed := broker.Payload(s.handleAccountDeleted), broker.Payload(s.handleAccountChanged)
	return []broker.Consumer{{
		Queue: messages.QueueEventsAccounts,
		Types: []string{messages.TypeAccountDeleted, messages.TypeAccountChanged},
		Handle: func(ctx context.Context, m broker.Message) error {
			if m.Type == messages.TypeAccountChanged {
				return changed(ctx, m)
			}
			return deleted(ctx, m)
		},
	}}
}

// Run does the service's background work until ctx ends: every pruneInterval, from the
// start, it forgets the deleted events older than Config.DeletedRetention (see
// PruneTombstones). Several replicas may prune at once.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(pruneInterval)
	defer t.Stop()
	for {
		if n, err := s.PruneTombstones(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "could not prune the tombstones of deleted events", "error", err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "pruned the tombstones of deleted events", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// serviceMetrics are the metrics specific to the events service.
type serviceMetrics struct {
	search *prometheus.HistogramVec
}

func newServiceMetrics(reg prometheus.Registerer) (*serviceMetrics, error) {
	m := &serviceMetrics{
		search: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "events_search_duration_seconds",
			Help:    "Time the store took to answer an event search, by the query's main filter.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1},
		}, []string{"shape"}),
	}
	if err := reg.Register(m.search); err != nil {
		return nil, err
	}
	return m, nil
}
