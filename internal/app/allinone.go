package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/metrics"
	"github.com/eventpost/eventpost/internal/platform/outbox"
	"github.com/eventpost/eventpost/internal/platform/private"
)

// System is a running all-in-one EventPost.
type System struct {
	// URL is the gateway's base URL, such as http://127.0.0.1:8080.
	URL string
	// ServiceURLs maps each service name to the base URL of its loopback listener.
	ServiceURLs map[string]string
	// MetricsURL is the base URL of the metrics listener (Config.MetricsAddr), "" without
	// one: the process's metrics (the gateway's, the web UI's, the broker's and the Go
	// runtime's) at MetricsURL+"/metrics", each service's at MetricsURL+"/metrics/<service>".
	MetricsURL string

	cancel context.CancelFunc
	done   chan error
}

// Wait blocks until the system has stopped (its context ended, or a part failed) and
// returns the first error of any part.
func (s *System) Wait() error { return <-s.done }

// Stop stops the system gracefully and waits for it.
func (s *System) Stop() error {
	s.cancel()
	return s.Wait()
}

// Start starts the gateway and the four services in this process: each service on its own
// loopback listener with its own SQLite database under cfg.DataDir, the in-process broker
// between them, and the gateway on cfg.HTTPAddr. With cfg.MetricsAddr, every registry is
// served on that listener (see System.MetricsURL) and no other listener serves /metrics.
// Every log line names the process's instance (cfg.InstanceID, default host name and
// process ID). It returns once every listener is bound; the system runs until ctx ends.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *System, err error) {
	if err := private.MkdirAll(cfg.DataDir, log); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = defaultInstanceID()
	}
	log = log.With("instance", cfg.InstanceID)
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}
	}()

	gatewayReg := metrics.NewRegistry(true)
	deadLetters := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "broker_dead_letters_total", Help: "Messages a consumer rejected for good, by queue.",
	}, []string{"queue"})
	gatewayReg.MustRegister(deadLetters)
	br := broker.NewInProcess(logging.ForService(log, "broker"), func(q string) { deadLetters.WithLabelValues(q).Inc() })

	type part struct {
		name     string
		store    store
		svc      service
		registry *prometheus.Registry
		listener net.Listener
		relay    *outbox.Relay
	}
	transport, err := mailer.NewTransport(cfg.mailTransport(), logging.ForService(log, discovery.Mailer))
	if err != nil {
		return nil, fmt.Errorf("mail transport: %w", err)
	}
	closers = append(closers, transport.Close)

	// The services' keys live in this process's memory only: nothing outside it can make a
	// call that the services accept.
	keys, err := newSystemKeys()
	if err != nil {
		return nil, err
	}
	parts := make([]*part, 0, len(backendServices))
	resolver := discovery.Static{}
	balancer := discovery.NewBalancer(resolver)
	for _, name := range backendServices {
		slog := logging.ForService(log, name)
		st, err := openStore(ctx, name, database.SQLite, cfg.DataDir, "", slog)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		closers = append(closers, st.Close)
		reg := metrics.NewRegistry(false)
		relay := outbox.NewRelay(st.DB(), database.SQLite, br, slog, reg, outbox.RelayConfig{})
		sk, err := keys.keysFor(name)
		if err != nil {
			return nil, err
		}
		b, err := newService(name, st, serviceDeps{
			cfg: cfg, outbox: relay, log: slog, registry: reg, balancer: balancer, transport: transport, keys: sk,
		})
		if err != nil {
			return nil, err
		}
		for _, c := range b.svc.Consumers() {
			if err := br.Register(c); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("%s: listen: %w", name, err)
		}
		closers = append(closers, ln.Close)
		resolver[name] = []string{"http://" + ln.Addr().String()}
		parts = append(parts, &part{name: name, store: st, svc: b.svc, registry: reg, listener: ln, relay: relay})
	}

	glog := logging.ForService(log, discovery.Gateway)
	gk, err := keys.keysFor(discovery.Gateway)
	if err != nil {
		return nil, err
	}
	gw, err := newGateway(cfg, resolver, glog, gatewayReg, gk.signer)
	if err != nil {
		return nil, err
	}
	gln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("gateway: listen: %w", err)
	}
	closers = append(closers, gln.Close)
	// With cfg.MetricsAddr, one listener serves every registry, each at a path of its own.
	var mln net.Listener
	if cfg.MetricsAddr != "" {
		if mln, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return nil, fmt.Errorf("metrics: listen: %w", err)
		}
		closers = append(closers, mln.Close)
	}

	ctx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	serve := func(name string, h http.Handler, ln net.Listener, log *slog.Logger) {
		g.Go(func() error {
			if err := httpx.Serve(gctx, httpx.NewServer("", h, log), ln, cfg.ShutdownTimeout); err != nil {
				return fmt.Errorf("%s: serve: %w", name, err)
			}
			return nil
		})
	}
	run := func(name string, f func(context.Context) error) {
		g.Go(func() error {
			if err := f(gctx); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	run("broker", br.Run)
	serviceRegs := map[string]*prometheus.Registry{}
	for _, p := range parts {
		l := logging.ForService(log, p.name)
		h := p.svc.Handler()
		if mln != nil {
			h = httpx.WithoutMetrics(h, l)
		}
		serviceRegs[p.name] = p.registry
		serve(p.name, h, p.listener, l)
		run(p.name+" outbox relay", p.relay.Run)
		run(p.name, p.svc.Run)
	}
	serve(discovery.Gateway, gw.Handler(), gln, glog)
	run(discovery.Gateway, gw.Run)
	if mln != nil {
		serve("metrics", metrics.ListenerHandler(gatewayReg, serviceRegs), mln, log)
	}

	sys := &System{
		URL:         "http://" + gln.Addr().String(),
		ServiceURLs: map[string]string{},
		cancel:      cancel,
		done:        make(chan error, 1),
	}
	for name, urls := range resolver {
		sys.ServiceURLs[name] = urls[0]
	}
	if mln != nil {
		sys.MetricsURL = "http://" + mln.Addr().String()
		log.Info("serving metrics", "url", sys.MetricsURL+"/metrics", "services", sys.MetricsURL+metrics.PathPrefix+"<service>")
	}
	go func() {
		err := g.Wait()
		cancel()
		var cerr error
		for i := len(closers) - 1; i >= 0; i-- {
			if e := closers[i](); e != nil && !errors.Is(e, net.ErrClosed) {
				cerr = errors.Join(cerr, e)
			}
		}
		sys.done <- errors.Join(err, cerr)
		close(sys.done)
	}()
	return sys, nil
}
