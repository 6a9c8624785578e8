package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/eventpost/eventpost/internal/gateway"
	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/metrics"
	"github.com/eventpost/eventpost/internal/platform/outbox"
	"github.com/eventpost/eventpost/internal/platform/private"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
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

	cancel    context.CancelFunc
	done      chan error
	inProcess *httpx.InProcess // the transport between the parts; nil over sockets
	// gatewaySigner signs the gateway's calls to the services: the tests' way past the
	// gateway (export_test.go).
	gatewaySigner *svcauth.Signer
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
// between them, and the gateway on cfg.HTTPAddr. With cfg.InProcessTransport the gateway
// (and the notifications service) call the services' handlers directly rather than through
// their listeners (see httpx.InProcess). With cfg.MetricsAddr, every registry is
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
	a := &allInOne{cfg: cfg, log: log.With("instance", cfg.InstanceID), resolver: discovery.Static{}}
	a.balancer = discovery.NewBalancer(a.resolver)
	if cfg.InProcessTransport {
		a.inProcess = httpx.NewInProcess(nil)
	}
	defer func() {
		if err != nil {
			_ = a.close()
		}
	}()
	if err := a.prepare(); err != nil {
		return nil, err
	}
	for _, name := range backendServices {
		if err := a.addService(ctx, name); err != nil {
			return nil, err
		}
	}
	if err := a.addGateway(); err != nil {
		return nil, err
	}
	return a.run(ctx), nil
}

// allInOne is the all-in-one process while Start builds it.
type allInOne struct {
	cfg     Config
	log     *slog.Logger
	closers []func() error // what to close when the system stops, in opening order

	broker     *broker.InProcess
	gatewayReg *prometheus.Registry // the process's registry: the gateway's, the broker's…
	transport  mailer.Transport
	keys       systemKeys
	resolver   discovery.Static // each service's loopback listener
	balancer   *discovery.Balancer
	parts      []*part
	// inProcess, with Config.InProcessTransport, carries the calls to the services' loopback
	// addresses to their handlers in this process, without a socket; nil otherwise.
	inProcess *httpx.InProcess

	gateway       *gateway.Gateway
	gatewayLn     net.Listener
	metricsLn     net.Listener // nil without Config.MetricsAddr
	gatewayLog    *slog.Logger
	gatewaySigner *svcauth.Signer
}

// part is one service of the all-in-one process.
type part struct {
	name     string
	svc      service
	registry *prometheus.Registry
	listener net.Listener
	relay    *outbox.Relay
}

// prepare makes what the services share: the broker, the mail transport and the keys.
func (a *allInOne) prepare() error {
	a.gatewayReg = metrics.NewRegistry(true)
	deadLetters := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "broker_dead_letters_total", Help: "Messages a consumer rejected for good, by queue.",
	}, []string{"queue"})
	a.gatewayReg.MustRegister(deadLetters)
	a.broker = broker.NewInProcess(logging.ForService(a.log, "broker"), func(q string) { deadLetters.WithLabelValues(q).Inc() })
	var err error
	if a.transport, err = mailer.NewTransport(a.cfg.mailTransport(), logging.ForService(a.log, discovery.Mailer)); err != nil {
		return fmt.Errorf("mail transport: %w", err)
	}
	a.closers = append(a.closers, a.transport.Close)
	// The services' keys live in this process's memory only: nothing outside it can make a
	// call that the services accept.
	a.keys, err = newSystemKeys()
	return err
}

// addService opens the named service's SQLite store, builds the service over it, registers
// its consumers with the broker and binds its loopback listener.
func (a *allInOne) addService(ctx context.Context, name string) error {
	log := logging.ForService(a.log, name)
	st, err := openStore(ctx, name, database.SQLite, a.cfg.DataDir, "", log)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	a.closers = append(a.closers, st.Close)
	reg := metrics.NewRegistry(false)
	// The in-process broker runs the consumers in the relay's goroutines: many messages of a
	// batch at once let their SQLite transactions share commits (database.Store.InTx) and
	// their mail files be written side by side.
	relay := outbox.NewRelay(st, a.broker, log, reg, outbox.RelayConfig{
		Batch: 500, Concurrency: 128, Linger: 5 * time.Millisecond,
	})
	sk, err := a.keys.keysFor(name)
	if err != nil {
		return err
	}
	b, err := newService(name, st, serviceDeps{
		cfg: a.cfg, outbox: relay, log: log, registry: reg, balancer: a.balancer,
		transport: a.transport, keys: sk, upstream: a.upstream(),
	})
	if err != nil {
		return err
	}
	for _, c := range b.svc.Consumers() {
		if err := a.broker.Register(c); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("%s: listen: %w", name, err)
	}
	a.closers = append(a.closers, ln.Close)
	a.resolver[name] = []string{"http://" + ln.Addr().String()}
	a.parts = append(a.parts, &part{name: name, svc: b.svc, registry: reg, listener: ln, relay: relay})
	return nil
}

// upstream returns the transport of the calls between the parts: the in-process one, or nil
// for the network.
func (a *allInOne) upstream() http.RoundTripper {
	if a.inProcess == nil {
		return nil
	}
	return a.inProcess
}

// addGateway builds the gateway over the services' listeners and binds its listener and,
// with Config.MetricsAddr, the metrics listener.
func (a *allInOne) addGateway() error {
	a.gatewayLog = logging.ForService(a.log, discovery.Gateway)
	gk, err := a.keys.keysFor(discovery.Gateway)
	if err != nil {
		return err
	}
	var client *http.Client
	if up := a.upstream(); up != nil {
		client = &http.Client{Transport: up}
	}
	a.gatewaySigner = gk.signer
	if a.gateway, err = newGateway(a.cfg, a.resolver, a.gatewayLog, a.gatewayReg, gk.signer, client); err != nil {
		return err
	}
	if a.gatewayLn, err = net.Listen("tcp", a.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("gateway: listen: %w", err)
	}
	a.closers = append(a.closers, a.gatewayLn.Close)
	// With cfg.MetricsAddr, one listener serves every registry, each at a path of its own.
	if a.cfg.MetricsAddr != "" {
		if a.metricsLn, err = net.Listen("tcp", a.cfg.MetricsAddr); err != nil {
			return fmt.Errorf("metrics: listen: %w", err)
		}
		a.closers = append(a.closers, a.metricsLn.Close)
	}
	return nil
}

// run runs every part until ctx ends or one fails, then closes what Start opened.
func (a *allInOne) run(ctx context.Context) *System {
	ctx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	serve := func(name string, h http.Handler, ln net.Listener, log *slog.Logger) {
		g.Go(func() error {
			if err := httpx.Serve(gctx, httpx.NewServer("", h, log), ln, a.cfg.ShutdownTimeout); err != nil {
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
	run("broker", a.broker.Run)
	serviceRegs := map[string]*prometheus.Registry{}
	for _, p := range a.parts {
		l := logging.ForService(a.log, p.name)
		h := p.svc.Handler()
		if a.metricsLn != nil {
			h = httpx.WithoutMetrics(h, l)
		}
		serviceRegs[p.name] = p.registry
		if a.inProcess != nil {
			a.inProcess.Handle(p.listener.Addr().String(), h)
		}
		serve(p.name, h, p.listener, l)
		run(p.name+" outbox relay", p.relay.Run)
		run(p.name, p.svc.Run)
	}
	if a.inProcess != nil {
		// The in-process calls stop as the listeners do: long polls end, new calls are
		// refused, and the stores close only once the handlers have returned.
		run("in-process transport", func(ctx context.Context) error {
			<-ctx.Done()
			a.inProcess.Shutdown()
			wctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
			defer cancel()
			return a.inProcess.Wait(wctx)
		})
	}
	serve(discovery.Gateway, a.gateway.Handler(), a.gatewayLn, a.gatewayLog)
	run(discovery.Gateway, a.gateway.Run)
	if a.metricsLn != nil {
		serve("metrics", a.cfg.metricsHandler(metrics.ListenerHandler(a.gatewayReg, serviceRegs)), a.metricsLn, a.log)
	}
	sys := a.system(cancel)
	go func() {
		err := g.Wait()
		cancel()
		sys.done <- errors.Join(err, a.close())
		close(sys.done)
	}()
	return sys
}

// system returns the System of the running process, stopped by cancel.
func (a *allInOne) system(cancel context.CancelFunc) *System {
	sys := &System{
		URL:           "http://" + a.gatewayLn.Addr().String(),
		ServiceURLs:   map[string]string{},
		cancel:        cancel,
		done:          make(chan error, 1),
		inProcess:     a.inProcess,
		gatewaySigner: a.gatewaySigner,
	}
	for name, urls := range a.resolver {
		sys.ServiceURLs[name] = urls[0]
	}
	if a.metricsLn != nil {
		sys.MetricsURL = "http://" + a.metricsLn.Addr().String()
		a.log.Info("serving metrics", "url", sys.MetricsURL+"/metrics", "services", sys.MetricsURL+metrics.PathPrefix+"<service>")
	}
	return sys
}

// close closes what Start opened, in reverse order, and returns the errors but those of
// listeners already closed.
func (a *allInOne) close() error {
	var err error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if e := a.closers[i](); e != nil && !errors.Is(e, net.ErrClosed) {
			err = errors.Join(err, e)
		}
	}
	a.closers = nil
	return err
}
