package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/retry"
)

// ErrNotWatched is reported by Consul.Resolve for a service it was not built to watch.
var ErrNotWatched = errors.New("discovery: service not watched")

// ConsulConfig tunes a Consul resolver.
type ConsulConfig struct {
	// Services are the services to watch: Resolve knows these only.
	Services []string
	// Prefix, when set, starts the names of the services in Consul: Resolve("events") watches
	// the Consul service "<Prefix>-events" (see ConsulName), so that several systems can
	// share one agent.
	Prefix string
	// WaitTime is how long one blocking query may wait for a change. Default 1 minute.
	WaitTime time.Duration
	// FirstWait bounds how long Resolve waits for the first answer about a service (the
	// watch has just started) before it reports no instance. Default 5 seconds.
	FirstWait time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed query, which doubles from
	// MinBackoff at each failure in a row. Defaults 250 ms and 15 s.
	MinBackoff, MaxBackoff time.Duration
}

// ConsulName is the name in Consul of service in the system whose names start with prefix
// ("" for none).
func ConsulName(prefix, service string) string {
	if prefix == "" {
		return service
	}
	return prefix + "-" + service
}

// Consul is a Resolver backed by Consul's health API. It watches each of its services with a
// blocking query and keeps the base URLs of the instances whose every check passes, so
// Resolve answers from memory. Run keeps the watches going.
//
// When no instance of a service passes but some are registered (and not in maintenance), it
// keeps all of those instead, as Envoy's panic threshold does: a check can fail for an
// instance's load rather than its health — a readiness probe timing out behind a busy
// database pool marked both replicas of a service critical at once in a CI run, and the
// gateway answered 503 while both were serving. An instance that is really down refuses the
// connection, which the caller's RetryTransport takes to another instance or answers as
// unavailable, as it would have been. discovery_all_failing tells when this is the case.
type Consul struct {
	client *api.Client
	cfg    ConsulConfig
	log    *slog.Logger
	states map[string]*serviceState // fixed at construction: read without locking

	changes    *prometheus.CounterVec
	instances  *prometheus.GaugeVec
	allFailing *prometheus.GaugeVec
	errors     *prometheus.CounterVec
}

// serviceState is what the resolver knows of one service.
type serviceState struct {
	loaded chan struct{} // closed once the first answer arrived
	once   sync.Once

	mu   sync.RWMutex
	urls []string // never modified once set: replaced
	// failing says that urls are instances whose checks fail, none passing (see Consul).
	failing bool
}

// NewConsul returns a resolver of cfg.Services through client. Its metrics —
// discovery_changes_total, discovery_instances, discovery_all_failing and
// discovery_watch_errors_total, by service — are registered with reg.
func NewConsul(client *api.Client, cfg ConsulConfig, log *slog.Logger, reg prometheus.Registerer) (*Consul, error) {
	if client == nil || log == nil || reg == nil {
		return nil, errors.New("discovery: a Consul client, a logger and a registry are required")
	}
	if cfg.WaitTime <= 0 {
		cfg.WaitTime = time.Minute
	}
	if cfg.FirstWait <= 0 {
		cfg.FirstWait = 5 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(15*time.Second, cfg.MinBackoff)
	}
	c := &Consul{
		client: client, cfg: cfg, log: log, states: map[string]*serviceState{},
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "discovery_changes_total",
			Help: "Changes of the set of healthy instances of a service, as Consul reported them.",
		}, []string{"service"}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "discovery_instances",
			Help: "Healthy instances of a service (every check passing).",
		}, []string{"service"}),
		allFailing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "discovery_all_failing",
			Help: "1 while no instance of a service passes its checks and requests go to those registered anyway.",
		}, []string{"service"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "discovery_watch_errors_total",
			Help: "Failed queries of Consul's health API, by watched service.",
		}, []string{"service"}),
	}
	for _, s := range cfg.Services {
		if _, dup := c.states[s]; !dup {
			c.states[s] = &serviceState{loaded: make(chan struct{})}
		}
	}
	for _, m := range []prometheus.Collector{c.changes, c.instances, c.allFailing, c.errors} {
		if err := reg.Register(m); err != nil {
			return nil, fmt.Errorf("discovery: register metrics: %w", err)
		}
	}
	return c, nil
}

// Resolve implements Resolver from what the watches last learnt; the slice returned must not
// be modified. Until the first answer about service arrives it waits, for at most
// ConsulConfig.FirstWait or until ctx ends.
func (c *Consul) Resolve(ctx context.Context, service string) ([]string, error) {
	st, ok := c.states[service]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotWatched, service)
	}
	select {
	case <-st.loaded:
	default:
		t := time.NewTimer(c.cfg.FirstWait)
		select {
		case <-st.loaded:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	st.mu.RLock()
	urls := st.urls
	st.mu.RUnlock()
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w of %s", ErrNoInstance, service)
	}
	return urls, nil
}

// Run watches every service until ctx is done, then returns nil.
func (c *Consul) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for name, st := range c.states {
		wg.Go(func() { c.watch(ctx, name, st) })
	}
	wg.Wait()
	return nil
}

// minQueryGap is the least time between two queries of one watch, so that a watch whose
// index misbehaves does not spin.
const minQueryGap = 10 * time.Millisecond

// watch follows the instances of service with blocking queries until ctx is done.
func (c *Consul) watch(ctx context.Context, service string, st *serviceState) {
	var index uint64
	failures := 0
	for ctx.Err() == nil {
		start := time.Now()
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: c.cfg.WaitTime}).WithContext(ctx)
		entries, meta, err := c.client.Health().Service(ConsulName(c.cfg.Prefix, service), "", false, q)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			c.errors.WithLabelValues(service).Inc()
			wait := retry.Backoff(c.cfg.MinBackoff, c.cfg.MaxBackoff, failures)
			c.log.WarnContext(ctx, "consul health query failed", "upstream", service, "err", err, "retry_in", wait.String())
			index = 0
			retry.Sleep(ctx, wait)
			continue
		}
		failures = 0
		// An index going backwards (a Consul restart, a snapshot restore) restarts the watch.
		if meta.LastIndex < index || meta.LastIndex == 0 {
			index = 0
		} else {
			index = meta.LastIndex
		}
		urls, failing := routable(entries)
		c.set(ctx, service, st, urls, failing)
		retry.Sleep(ctx, minQueryGap-time.Since(start))
	}
}

// routable returns the base URLs of the instances to send requests to among entries: those
// whose every check passes; when none does, every one not in maintenance, and failing true.
func routable(entries []*api.ServiceEntry) (urls []string, failing bool) {
	var passing, others []*api.ServiceEntry
	for _, e := range entries {
		switch e.Checks.AggregatedStatus() {
		case api.HealthPassing:
			passing = append(passing, e)
		case api.HealthMaint:
		default:
			others = append(others, e)
		}
	}
	if len(passing) > 0 || len(others) == 0 {
		return instanceURLs(passing), false
	}
	return instanceURLs(others), true
}

// set records urls as the instances of service; failing says that none of them passes.
func (c *Consul) set(ctx context.Context, service string, st *serviceState, urls []string, failing bool) {
	st.mu.Lock()
	changed := !slices.Equal(st.urls, urls) || st.failing != failing
	if changed {
		st.urls, st.failing = urls, failing
	}
	st.mu.Unlock()
	first := false
	st.once.Do(func() { first = true; close(st.loaded) })
	healthy, all := len(urls), 0.0
	if failing {
		healthy, all = 0, 1
	}
	c.instances.WithLabelValues(service).Set(float64(healthy))
	c.allFailing.WithLabelValues(service).Set(all)
	if changed {
		c.changes.WithLabelValues(service).Inc()
	}
	switch {
	case failing && (changed || first):
		c.log.WarnContext(ctx, "no instance of a service passes its checks; sending to every one registered",
			"upstream", service, "instances", urls)
	case changed || first:
		c.log.InfoContext(ctx, "instances of a service", "upstream", service, "instances", urls)
	}
}

// instanceURLs returns the sorted base URLs of entries: http://address:port, the address
// being the service's own or else its node's.
func instanceURLs(entries []*api.ServiceEntry) []string {
	urls := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Service == nil || e.Service.Port == 0 {
			continue
		}
		addr := e.Service.Address
		if addr == "" && e.Node != nil {
			addr = e.Node.Address
		}
		if addr == "" {
			continue
		}
		urls = append(urls, "http://"+net.JoinHostPort(addr, strconv.Itoa(e.Service.Port)))
	}
	slices.Sort(urls)
	return slices.Compact(urls)
}
