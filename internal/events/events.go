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
}

// DefaultConfig returns the configuration of the all-in-one mode.
func DefaultConfig() Config {
	return Config{PublicURL: "http://localhost:8080"}
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

// Consumers returns the consumer of account.deleted, which removes the account's events.
func (s *Service) Consumers() []broker.Consumer {
	return []broker.Consumer{{
		Queue:  messages.QueueEventsAccounts,
		Types:  []string{messages.TypeAccountDeleted},
		Handle: broker.Payload(s.handleAccountDeleted),
	}}
}

// Run does the service's background work, of which it has none: it waits for ctx to end.
func (s *Service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
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
