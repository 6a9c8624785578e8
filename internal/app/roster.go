package app

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/eventpost/eventpost/internal/auth"
	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/kvconfig"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// roster is EventPost's table of services: everything the all-in-one mode, `serve`, the
// launcher and the Consul registration know of each service is in its row. The gateway
// comes first; the services that keep state follow in start order. docs/adding-a-service.md
// walks through adding a row.
var roster = []serviceSpec{
	{
		name: discovery.Gateway, port: 8080, replicas: 1,
		callees: []string{discovery.Auth, discovery.Events, discovery.Notifications},
	},
	{
		name: discovery.Auth, port: 8081, replicas: 1,
		open: over(auth.Open, buildAuth),
	},
	{
		name: discovery.Events, port: 8082, replicas: 1,
		open: over(events.Open, buildEvents),
	},
	{
		name: discovery.Notifications, port: 8083, replicas: 2,
		callees: []string{discovery.Events},
		open:    over(notifications.Open, buildNotifications),
	},
	{
		name: discovery.Mailer, port: 8084, replicas: 2,
		open: over(mailer.Open, buildMailer),
	},
}

// serviceSpec is one row of the roster.
type serviceSpec struct {
	// name is the service's name, as it registers and is looked up (a discovery constant),
	// in `eventpost serve <name>` and in EVENTPOST_<NAME>_URLS.
	name string
	// port is the service's default port in the distributed mode. The launcher gives
	// replica i the port port+10*i.
	port int
	// replicas is how many processes of the service the launcher runs.
	replicas int
	// callees are the services it calls over HTTP — and so the only ones that accept its
	// calls (see Callees).
	callees []string
	// open opens the service's store — a SQLite file, a PostgreSQL URL — and returns it
	// with the builder of the service over it; nil for the gateway, which keeps no state and
	// is built by newGateway.
	open opener
}

// opener opens a service's store of dialect d at dsn (a file path or a database URL).
type opener func(ctx context.Context, d database.Dialect, dsn string, log *slog.Logger) (*openedStore, error)

// openedStore is an open store and the builder of its service over it.
type openedStore struct {
	store
	build func(serviceDeps) (built, error)
}

// built is a service built over its store, and its live-configuration keys (applied from
// Consul's KV store by a `serve` process).
type built struct {
	svc  service
	keys map[string]kvconfig.Key
}

// over returns the opener of a service: open opens the store, build builds the service over
// it.
func over[S store](open func(context.Context, database.Dialect, string, *slog.Logger) (S, error), build func(S, serviceDeps) (built, error)) opener {
	return func(ctx context.Context, d database.Dialect, dsn string, log *slog.Logger) (*openedStore, error) {
		st, err := open(ctx, d, dsn, log)
		if err != nil {
			return nil, err
		}
		return &openedStore{store: st, build: func(d serviceDeps) (built, error) { return build(st, d) }}, nil
	}
}

func buildAuth[S auth.Store](st S, d serviceDeps) (built, error) {
	ac := d.cfg.Auth // zero fields take auth's defaults
	if d.cfg.AuthSigningKeys != "" {
		var err error
		if ac.SigningKeys, err = auth.ParseSigningKeys(d.cfg.AuthSigningKeys); err != nil {
			return built{}, fmt.Errorf("EVENTPOST_AUTH_SIGNING_KEYS: %w", err)
		}
	}
	svc, err := auth.New(ac, auth.Deps{
		Common: d.common(), Store: st, Verifier: d.keys.verifier,
	})
	return built{svc: svc}, err
}

// common are the dependencies d gives every service.
func (d serviceDeps) common() svcdeps.Common {
	return svcdeps.Common{Outbox: d.outbox, Log: d.log, Registry: d.registry}
}

func buildEvents[S events.Store](st S, d serviceDeps) (built, error) {
	ec := d.cfg.Events // a zero DeletedRetention takes events' default
	ec.PublicURL = d.cfg.PublicURL
	svc, err := events.New(ec, events.Deps{
		Common: d.common(), Store: st, Verifier: d.keys.verifier,
	})
	return built{svc: svc}, err
}

func buildNotifications[S notifications.Store](st S, d serviceDeps) (built, error) {
	nc := cmp.Or(d.cfg.Notifications, notifications.DefaultConfig())
	nc.PublicURL = d.cfg.PublicURL
	svc, err := notifications.New(nc, notifications.Deps{
		Store: st, Events: notifications.NewHTTPEventSource(d.balancer, d.eventsClient(), d.keys.signer),
		Common: d.common(), Verifier: d.keys.verifier,
	})
	if err != nil {
		return built{}, err
	}
	return built{svc: svc, keys: svc.LiveKeys()}, nil
}

func buildMailer[S mailer.Store](st S, d serviceDeps) (built, error) {
	mc := cmp.Or(d.cfg.Mailer, mailer.DefaultConfig())
	mc.From, mc.PublicURL = d.cfg.MailFrom, d.cfg.PublicURL
	svc, err := mailer.New(mc, mailer.Deps{
		Common: d.common(), Store: st, Transport: d.transport,
	})
	if err != nil {
		return built{}, err
	}
	return built{svc: svc, keys: svc.LiveKeys()}, nil
}

// spec returns the roster's row of the named service.
func spec(name string) (serviceSpec, bool) {
	i := slices.IndexFunc(roster, func(s serviceSpec) bool { return s.name == name })
	if i < 0 {
		return serviceSpec{}, false
	}
	return roster[i], true
}

// mustSpec returns the roster's row of the named service, which must be there.
func mustSpec(name string) serviceSpec {
	s, ok := spec(name)
	if !ok {
		panic("app: no service named " + name)
	}
	return s
}

// Services returns the names of every service, the gateway first.
func Services() []string {
	var out []string
	for _, s := range roster {
		out = append(out, s.name)
	}
	return out
}

// backendServices are the services that keep state (every one but the gateway), in start
// order.
var backendServices = func() []string {
	var out []string
	for _, s := range roster {
		if s.open != nil {
			out = append(out, s.name)
		}
	}
	return out
}()

// Callees lists the services each service calls over HTTP, which it finds through discovery
// (the roster's callees). It is also who may call whom: a service accepts calls only from the
// services that list it here (with the caller's key, see svcauth), and the deployment files
// open the network along the same lines (deploy/deploy_test.go checks them against it).
var Callees = func() map[string][]string {
	m := map[string][]string{}
	for _, s := range roster {
		if len(s.callees) > 0 {
			m[s.name] = s.callees
		}
	}
	return m
}()

// Callers returns the services that call service, sorted.
func Callers(service string) []string {
	var out []string
	for caller, callees := range Callees {
		if slices.Contains(callees, service) {
			out = append(out, caller)
		}
	}
	slices.Sort(out)
	return out
}

// calledServices are the services some service calls, in roster order: those with an
// EVENTPOST_<NAME>_URLS variable.
func calledServices() []string {
	var out []string
	for _, s := range roster {
		if len(Callers(s.name)) > 0 {
			out = append(out, s.name)
		}
	}
	return out
}

// openStore opens the store of the named service: a SQLite file under dataDir, or the
// PostgreSQL database at url. Its build method builds the service over it.
func openStore(ctx context.Context, name string, d database.Dialect, dataDir, url string, log *slog.Logger) (*openedStore, error) {
	s, ok := spec(name)
	if !ok || s.open == nil {
		return nil, fmt.Errorf("no service named %q", name)
	}
	if d == database.Postgres {
		if url == "" {
			return nil, fmt.Errorf("%s: EVENTPOST_DATABASE_URL is required", name)
		}
		return s.open(ctx, d, url, log)
	}
	return s.open(ctx, database.SQLite, sqlitePath(dataDir, name), log)
}
