package app

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/eventpost/eventpost/internal/gateway"
	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker/rabbitmq"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/kvconfig"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/metrics"
	"github.com/eventpost/eventpost/internal/platform/outbox"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
	"github.com/eventpost/eventpost/internal/web"
)

// Serve runs one service in this process, as the distributed mode does: the gateway, or a
// service over its own PostgreSQL database with RabbitMQ between the services. With
// cfg.ConsulAddr it registers itself with the Consul agent, finds the services it calls
// through it and applies its configuration keys from Consul's KV store as they change;
// without, discovery is static (cfg.Upstreams). With cfg.MetricsAddr its registry is served
// at /metrics there, and not on cfg.HTTPAddr. It returns when ctx ends, after a graceful
// shutdown.
func Serve(ctx context.Context, name string, cfg Config, log *slog.Logger) error {
	p, err := newServeProcess(name, cfg, log)
	if err != nil {
		return err
	}
	defer p.close()
	p.g, p.gctx = errgroup.WithContext(ctx)
	if name == discovery.Gateway {
		err = p.serveGateway()
	} else {
		err = p.serveService(ctx)
	}
	if err != nil {
		return err
	}
	return p.g.Wait()
}

// serveProcess is the process of one service of the distributed mode.
type serveProcess struct {
	name      string
	cfg       Config
	log       *slog.Logger
	keys      serviceKeys
	reg       *prometheus.Registry
	resolver  discovery.Resolver
	consul    *consulProcess // with Config.ConsulAddr
	ln        net.Listener
	metricsLn net.Listener // with Config.MetricsAddr
	closers   []func() error

	g    *errgroup.Group
	gctx context.Context
}

// newServeProcess reads the service's keys, sets discovery up and binds the listeners.
func newServeProcess(name string, cfg Config, log *slog.Logger) (*serveProcess, error) {
	p := &serveProcess{
		name: name, cfg: cfg, log: logging.ForService(log, name).With("instance", cfg.InstanceID),
		reg: metrics.NewRegistry(true), resolver: discovery.Static(cfg.Upstreams),
	}
	var err error
	if p.keys, err = keysFromConfig(name, cfg); err != nil {
		return nil, err
	}
	if cfg.ConsulAddr != "" {
		if p.consul, err = newConsulProcess(name, cfg, p.log, p.reg); err != nil {
			return nil, err
		}
		p.resolver = p.consul.resolverOr(p.resolver)
	}
	if err := p.listen(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// listen binds the HTTP listener and, with Config.MetricsAddr, the one of /metrics (the main
// one then answers /metrics 404).
func (p *serveProcess) listen() error {
	var err error
	if p.ln, err = net.Listen("tcp", p.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("%s: listen: %w", p.name, err)
	}
	p.closers = append(p.closers, p.ln.Close)
	if p.cfg.MetricsAddr != "" {
		if p.metricsLn, err = net.Listen("tcp", p.cfg.MetricsAddr); err != nil {
			return fmt.Errorf("%s: metrics listen: %w", p.name, err)
		}
		p.closers = append(p.closers, p.metricsLn.Close)
	}
	return nil
}

// close closes what the process opened, in reverse order.
func (p *serveProcess) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		_ = p.closers[i]()
	}
	p.closers = nil
}

// metricsHandler is h, the handler of the metrics listener, with the runtime profiles
// beside it when c.Pprof.
func (c *Config) metricsHandler(h http.Handler) http.Handler {
	if c.Pprof {
		return metrics.WithProfiles(h)
	}
	return h
}

// serveMetrics serves the registry on the metrics listener, if any, until the process stops,
// and logs the addresses the process serves on.
func (p *serveProcess) serveMetrics() {
	attrs := []any{"addr", p.ln.Addr().String()}
	if p.metricsLn != nil {
		p.g.Go(func() error {
			return httpx.Serve(p.gctx, httpx.NewServer("", p.cfg.metricsHandler(metrics.ListenerHandler(p.reg, nil)), p.log), p.metricsLn, p.cfg.ShutdownTimeout)
		})
		attrs = append(attrs, "metrics_addr", p.metricsLn.Addr().String())
	}
	p.log.Info("serving", attrs...)
}

// serveHTTP serves h. With Consul it first applies the configuration keys, and it serves
// until the instance is deregistered.
func (p *serveProcess) serveHTTP(h http.Handler, keys map[string]kvconfig.Key) error {
	httpCtx := p.gctx
	if p.consul != nil {
		var err error
		if httpCtx, err = p.consul.start(p.gctx, p.g, p.ln, keys); err != nil {
			return err
		}
	}
	p.g.Go(func() error {
		return httpx.Serve(httpCtx, httpx.NewServer("", h, p.log), p.ln, p.cfg.ShutdownTimeout)
	})
	return nil
}

// serveGateway builds the gateway and starts serving it.
func (p *serveProcess) serveGateway() error {
	gw, err := newGateway(p.cfg, p.resolver, p.log, p.reg, p.keys.signer, nil)
	if err != nil {
		return err
	}
	if err := p.serveHTTP(gw.Handler(), configKeys(p.cfg, gw.LiveKeys(), nil)); err != nil {
		return err
	}
	p.g.Go(func() error { return gw.Run(p.gctx) })
	p.serveMetrics()
	return nil
}

// serveService opens the service's PostgreSQL store and its RabbitMQ connection, builds the
// service and starts serving it, its consumers and its outbox relay.
func (p *serveProcess) serveService(ctx context.Context) error {
	st, err := openStore(ctx, p.name, database.Postgres, "", p.cfg.DatabaseURL, p.log)
	if err != nil {
		return err
	}
	p.closers = append(p.closers, st.Close)
	rb, err := p.openBroker()
	if err != nil {
		return err
	}
	// RabbitMQ pipelines confirmations: publish many messages of a batch at once, and gather
	// the messages of concurrent commits into batches.
	relay := outbox.NewRelay(st, rb, p.log, p.reg, outbox.RelayConfig{
		Concurrency: 32, Linger: 5 * time.Millisecond,
	})
	deps := serviceDeps{cfg: p.cfg, outbox: relay, log: p.log, registry: p.reg, balancer: discovery.NewBalancer(p.resolver), keys: p.keys}
	if p.name == discovery.Mailer {
		if deps.transport, err = mailer.NewTransport(p.cfg.mailTransport(), p.log); err != nil {
			return fmt.Errorf("%s: mail transport: %w", p.name, err)
		}
		p.closers = append(p.closers, deps.transport.Close)
	}
	b, err := newService(p.name, st, deps)
	if err != nil {
		return err
	}
	for _, c := range b.svc.Consumers() {
		if err := rb.Register(c); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	h := withReadiness(b.svc.Handler(), httpx.BrokerCheck(rb.Ping))
	if p.metricsLn != nil {
		h = httpx.WithoutMetrics(h, p.log)
	}
	if err := p.serveHTTP(h, configKeys(p.cfg, b.keys, relay)); err != nil {
		return err
	}
	p.g.Go(func() error { return rb.Run(p.gctx) })
	p.g.Go(func() error { return relay.Run(p.gctx) })
	p.g.Go(func() error { return b.svc.Run(p.gctx) })
	p.serveMetrics()
	return nil
}

// openBroker connects to RabbitMQ as this instance.
func (p *serveProcess) openBroker() (*rabbitmq.Broker, error) {
	rc := rabbitmq.DefaultConfig()
	rc.Bindings = messages.Bindings
	rc.URL, rc.Prefix, rc.Name = p.cfg.AMQPURL, p.cfg.AMQPPrefix, p.name+"/"+p.cfg.InstanceID
	rc.Concurrency = 32
	rb, err := rabbitmq.New(rc, p.log, p.reg)
	if err != nil {
		return nil, fmt.Errorf("%s: broker: %w", p.name, err)
	}
	p.closers = append(p.closers, rb.Close)
	return rb, nil
}

// newGateway builds the gateway over resolver, with the web UI for every non-API path. The
// UI calls the public API through the gateway's own handler, in process, so routing, token
// checks and rate limits apply to it as to any client. client makes the gateway's calls to
// the services; nil means the gateway's default, over sockets.
func newGateway(cfg Config, resolver discovery.Resolver, log *slog.Logger, reg *prometheus.Registry, signer *svcauth.Signer, client *http.Client) (*gateway.Gateway, error) {
	var gw *gateway.Gateway
	ui, err := web.New(web.Config{PublicURL: cfg.PublicURL, Secure: strings.HasPrefix(cfg.PublicURL, "https://")}, web.Deps{
		API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gw.Handler().ServeHTTP(w, r) }),
		Log: log.With("component", "web"), Registry: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	gcfg := cmp.Or(cfg.Gateway, gateway.DefaultConfig())
	gcfg.RateLimit, gcfg.RateBurst = cfg.RateLimit, cfg.RateBurst
	gcfg.MetricsElsewhere = cfg.MetricsAddr != ""
	if strings.HasPrefix(cfg.PublicURL, "https://") {
		gcfg.HSTS = "max-age=31536000"
		if cfg.HSTSIncludeSubdomains {
			gcfg.HSTS += "; includeSubDomains"
		}
	}
	gw, err = gateway.New(gcfg, gateway.Deps{Resolver: resolver, Log: log, Registry: reg, UI: ui.Handler(), Signer: signer, Client: client})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return gw, nil
}

// withReadiness makes /readyz of h also require checks, which are run first: the
// dependencies the host process adds to a service (its broker connection).
func withReadiness(h http.Handler, checks ...httpx.Check) http.Handler {
	ready := httpx.Ready(checks)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/readyz" {
			for _, c := range checks {
				if c.Check(r.Context()) != nil {
					ready(w, r) // answers 503 naming the failing dependency
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// defaultInstanceID names this process: host name and process ID.
func defaultInstanceID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return fmt.Sprintf("%s-%d", strings.Split(host, ".")[0], os.Getpid())
}
