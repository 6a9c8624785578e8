package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/kvconfig"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// consulLoadTimeout bounds the first read of the configuration keys at start.
const consulLoadTimeout = 3 * time.Second

// consulProcess is what one `serve` process does with Consul (Config.ConsulAddr): find the
// services it calls, register itself, and apply its configuration keys while it runs.
type consulProcess struct {
	name     string
	cfg      Config
	log      *slog.Logger
	reg      prometheus.Registerer
	client   *api.Client
	resolver *discovery.Consul // nil when the service calls no other
}

// newConsulProcess returns the Consul side of the named service's process.
func newConsulProcess(name string, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*consulProcess, error) {
	ac := api.DefaultConfig()
	ac.Address = cfg.ConsulAddr
	client, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("%s: consul client: %w", name, err)
	}
	p := &consulProcess{name: name, cfg: cfg, log: log, reg: reg, client: client}
	if services := Callees[name]; len(services) > 0 {
		p.resolver, err = discovery.NewConsul(client, discovery.ConsulConfig{Services: services, Prefix: cfg.ConsulPrefix}, log.With("component", "discovery"), reg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return p, nil
}

// resolverOr returns the resolver the process finds the services it calls with: Consul's, or
// fallback when it calls none.
func (p *consulProcess) resolverOr(fallback discovery.Resolver) discovery.Resolver {
	if p.resolver == nil {
		return fallback
	}
	return p.resolver
}

// start applies the configuration keys stored under <prefix>/config/<service>/, then starts
// in g, until ctx ends, the watches of the services and of the keys and the registration of
// the instance serving on ln. It returns the context to serve HTTP under: it ends once the
// instance is deregistered after ctx ended, so that the others stop sending it requests
// before it stops taking them.
func (p *consulProcess) start(ctx context.Context, g *errgroup.Group, ln net.Listener, keys map[string]kvconfig.Key) (context.Context, error) {
	kv, err := kvconfig.New(p.client, kvconfig.Config{Prefix: kvconfig.Prefix(p.cfg.ConsulPrefix, p.name), Keys: keys},
		p.log.With("component", "kvconfig"), p.reg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	lctx, cancel := context.WithTimeout(ctx, consulLoadTimeout)
	err = kv.Load(lctx)
	cancel()
	if err != nil {
		p.log.Warn("configuration from consul not loaded yet; the environment's stays until it is", "err", err)
	}
	host, port := advertise(p.cfg.AdvertiseAddr, ln.Addr(), hostIP())
	version := buildVersion()
	registrar, err := discovery.NewRegistrar(p.client, discovery.Registration{
		Service: discovery.ConsulName(p.cfg.ConsulPrefix, p.name),
		ID:      consulServiceID(p.cfg.ConsulPrefix, p.name, p.cfg.InstanceID),
		Address: host,
		Port:    port,
		Tags:    []string{"instance=" + p.cfg.InstanceID, "version=" + version},
		Meta:    map[string]string{"instance": p.cfg.InstanceID, "version": version},
	}, p.log.With("component", "registration"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	if p.resolver != nil {
		g.Go(func() error { return p.resolver.Run(ctx) })
	}
	g.Go(func() error { return kv.Run(ctx) })
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	g.Go(func() error {
		defer stopHTTP()
		return registrar.Run(ctx)
	})
	return httpCtx, nil
}

// consulServiceID returns the ID an instance registers under. It is unique on the agent
// across systems: the system's prefix and the service (discovery.ConsulName), then the
// instance ID unless that already starts with the service's name ("events-2" gives
// "eventpost-events-2"), so that two systems whose instances share names never take each
// other's registrations.
func consulServiceID(prefix, service, instance string) string {
	if !strings.HasPrefix(instance, service+"-") {
		instance = service + "-" + instance
	}
	if prefix == "" {
		return instance
	}
	return prefix + "-" + instance
}

// configKeys returns the configuration keys a process applies from Consul: log_level in
// every one, outbox_max_backoff with an outbox relay, and own, the keys of its service (see
// the roster). Each key's base value, which a deleted key reverts to, is the one in force at
// start (from the environment, or the default).
func configKeys(cfg Config, own map[string]kvconfig.Key, relay *outbox.Relay) map[string]kvconfig.Key {
	keys := map[string]kvconfig.Key{}
	if cfg.LogLevelVar != nil {
		keys["log_level"] = kvconfig.LogLevel(cfg.LogLevel, cfg.LogLevelVar)
	}
	if relay != nil {
		keys["outbox_max_backoff"] = kvconfig.Duration(relay.MaxBackoff(), relay.SetMaxBackoff)
	}
	maps.Copy(keys, own)
	return keys
}

// advertise returns the host and port to register: those of adv (a host, or host:port) where
// given, else the listener's, with anyIP for a listener on every interface.
func advertise(adv string, addr net.Addr, anyIP string) (string, int) {
	host, port := anyIP, 0
	if tcp, ok := addr.(*net.TCPAddr); ok {
		port = tcp.Port
		if !tcp.IP.IsUnspecified() {
			host = tcp.IP.String()
		}
	}
	if adv == "" {
		return host, port
	}
	if h, ps, err := net.SplitHostPort(adv); err == nil {
		if n, err := strconv.Atoi(ps); err == nil {
			return h, n
		}
		return h, port
	}
	return adv, port
}

// hostIP is the address others reach this host at, for a listener on every interface: the
// first IPv4 address of an interface that is up and not loopback (a container's or pod's
// address), or 127.0.0.1 when there is none.
func hostIP() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// buildVersion names the build: its VCS revision when the binary records one, else the
// main module's version.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return info.Main.Version
}
