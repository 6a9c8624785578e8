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
	log = logging.ForService(log, name).With("instance", cfg.InstanceID)
	keys, err := keysFromConfig(name, cfg)
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry(true)
	var resolver discovery.Resolver = discovery.Static(cfg.Upstreams)
	var consul *consulProcess // with Config.ConsulAddr
	if cfg.ConsulAddr != "" {
		var err error
		if consul, err = newConsulProcess(name, cfg, log, reg); err != nil {
			return err
		}
		resolver = consul.resolverOr(resolver)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("%s: listen: %w", name, err)
	}
	defer ln.Close()
	// With cfg.MetricsAddr, /metrics has a listener of its own, and the main one answers 404.
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return fmt.Errorf("%s: metrics listen: %w", name, err)
		}
		defer metricsLn.Close()
	}

	g, gctx := errgroup.WithContext(ctx)
	// serveMetrics serves reg on the metrics listener, if any, until the process stops, and
	// logs the addresses the process serves on.
	serveMetrics := func() {
		attrs := []any{"addr", ln.Addr().String()}
		if metricsLn != nil {
			g.Go(func() error {
				return httpx.Serve(gctx, httpx.NewServer("", metrics.ListenerHandler(reg, nil), log), metricsLn, cfg.ShutdownTimeout)
			})
			attrs = append(attrs, "metrics_addr", metricsLn.Addr().String())
		}
		log.Info("serving", attrs...)
	}
	// serveHTTP serves h. With Consul it first applies the configuration keys, and it serves
	// until the instance is deregistered.
	serveHTTP := func(h http.Handler, keys map[string]kvconfig.Key) error {
		httpCtx := gctx
		if consul != nil {
			var err error
			if httpCtx, err = consul.start(gctx, g, ln, keys); err != nil {
				return err
			}
		}
		g.Go(func() error {
			return httpx.Serve(httpCtx, httpx.NewServer("", h, log), ln, cfg.ShutdownTimeout)
		})
		return nil
	}
	if name == discovery.Gateway {
		gw, err := newGateway(cfg, resolver, log, reg, keys.signer)
		if err != nil {
			return err
		}
		if err := serveHTTP(gw.Handler(), configKeys(cfg, gatewayKeys(cfg, gw), nil)); err != nil {
			return err
		}
		g.Go(func() error { return gw.Run(gctx) })
		serveMetrics()
		return g.Wait()
	}

	st, err := openStore(ctx, name, database.Postgres, "", cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer st.Close()
	rc := rabbitmq.DefaultConfig()
	rc.URL, rc.Prefix, rc.Name = cfg.AMQPURL, cfg.AMQPPrefix, name+"/"+cfg.InstanceID
	rc.Concurrency = 32
	rb, err := rabbitmq.New(rc, log, reg)
	if err != nil {
		return fmt.Errorf("%s: broker: %w", name, err)
	}
	defer rb.Close()
	// RabbitMQ pipelines confirmations: publish many messages of a batch at once, and gather
	// the messages of concurrent commits into batches.
	relay := outbox.NewRelay(st.DB(), database.Postgres, rb, log, reg, outbox.RelayConfig{
		Concurrency: 32, Linger: 5 * time.Millisecond,
	})
	deps := serviceDeps{cfg: cfg, outbox: relay, log: log, registry: reg, balancer: discovery.NewBalancer(resolver), keys: keys}
	if name == discovery.Mailer {
		if deps.transport, err = mailer.NewTransport(cfg.mailTransport(), log); err != nil {
			return fmt.Errorf("%s: mail transport: %w", name, err)
		}
		defer deps.transport.Close()
	}
	b, err := newService(name, st, deps)
	if err != nil {
		return err
	}
	svc := b.svc
	for _, c := range svc.Consumers() {
		if err := rb.Register(c); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	h := withReadiness(svc.Handler(), httpx.Check{Name: "rabbitmq", Check: rb.Ping})
	if metricsLn != nil {
		h = httpx.WithoutMetrics(h, log)
	}
	if err := serveHTTP(h, configKeys(cfg, b.keys, relay)); err != nil {
		return err
	}
	g.Go(func() error { return rb.Run(gctx) })
	g.Go(func() error { return relay.Run(gctx) })
	g.Go(func() error { return svc.Run(gctx) })
	serveMetrics()
	return g.Wait()
}

// newGateway builds the gateway over resolver, with the web UI for every non-API path. The
// UI calls the public API through the gateway's own handler, in process, so routing, token
// checks and rate limits apply to it as to any client.
func newGateway(cfg Config, resolver discovery.Resolver, log *slog.Logger, reg *prometheus.Registry, signer *svcauth.Signer) (*gateway.Gateway, error) {
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
	gw, err = gateway.New(gcfg, gateway.Deps{Resolver: resolver, Log: log, Registry: reg, UI: ui.Handler(), Signer: signer})
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
