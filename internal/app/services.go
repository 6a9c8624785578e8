package app

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/auth"
	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// service is what every EventPost service offers its host process.
type service interface {
	Handler() http.Handler
	Consumers() []broker.Consumer
	Run(ctx context.Context) error
}

// store is what the host needs of a service's store: its database, for the outbox relay.
type store interface {
	DB() *sql.DB
	Close() error
}

// Callees lists the services each service calls over HTTP, which it finds through discovery.
// It is also who may call whom: a service accepts calls only from the services that list it
// here (with the caller's key, see svcauth), and the deployment files open the network along
// the same lines (deploy/deploy_test.go checks them against it).
var Callees = map[string][]string{
	discovery.Gateway:       {discovery.Auth, discovery.Events, discovery.Notifications},
	discovery.Notifications: {discovery.Events},
}

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

// backendServices are the services that keep state (every one but the gateway), in start order.
var backendServices = []string{discovery.Auth, discovery.Events, discovery.Notifications, discovery.Mailer}

// openStore opens the store of the named service: a SQLite file under dataDir, or the
// PostgreSQL database at url.
func openStore(ctx context.Context, name string, d database.Dialect, dataDir, url string, log *slog.Logger) (store, error) {
	path := filepath.Join(dataDir, name+".db")
	type opener struct {
		sqlite   func(context.Context, string, *slog.Logger) (store, error)
		postgres func(context.Context, string, *slog.Logger) (store, error)
	}
	openers := map[string]opener{
		discovery.Auth: {
			func(ctx context.Context, p string, l *slog.Logger) (store, error) { return auth.OpenSQLite(ctx, p, l) },
			func(ctx context.Context, u string, l *slog.Logger) (store, error) {
				return auth.OpenPostgres(ctx, u, l)
			},
		},
		discovery.Events: {
			func(ctx context.Context, p string, l *slog.Logger) (store, error) {
				return events.OpenSQLite(ctx, p, l)
			},
			func(ctx context.Context, u string, l *slog.Logger) (store, error) {
				return events.OpenPostgres(ctx, u, l)
			},
		},
		discovery.Notifications: {
			func(ctx context.Context, p string, l *slog.Logger) (store, error) {
				return notifications.OpenSQLite(ctx, p, l)
			},
			func(ctx context.Context, u string, l *slog.Logger) (store, error) {
				return notifications.OpenPostgres(ctx, u, l)
			},
		},
		discovery.Mailer: {
			func(ctx context.Context, p string, l *slog.Logger) (store, error) {
				return mailer.OpenSQLite(ctx, p, l)
			},
			func(ctx context.Context, u string, l *slog.Logger) (store, error) {
				return mailer.OpenPostgres(ctx, u, l)
			},
		},
	}
	o, ok := openers[name]
	if !ok {
		return nil, fmt.Errorf("no service named %q", name)
	}
	if d == database.Postgres {
		if url == "" {
			return nil, fmt.Errorf("%s: EVENTPOST_DATABASE_URL is required", name)
		}
		return o.postgres(ctx, url, log)
	}
	return o.sqlite(ctx, path, log)
}

// serviceDeps are what newService needs besides the store.
type serviceDeps struct {
	cfg       Config
	outbox    outbox.Notifier
	log       *slog.Logger
	registry  *prometheus.Registry
	balancer  *discovery.Balancer // finds the events service, for notifications
	transport mailer.Transport    // for the mailer
	keys      serviceKeys
}

// newService builds the named service over st, and checks that its consumers match the
// broker topology of messages.Bindings.
func newService(name string, st store, d serviceDeps) (service, error) {
	var (
		svc service
		err error
	)
	switch name {
	case discovery.Auth:
		ac := auth.DefaultConfig()
		if d.cfg.AuthSigningKeys != "" {
			if ac.SigningKeys, err = auth.ParseSigningKeys(d.cfg.AuthSigningKeys); err != nil {
				return nil, fmt.Errorf("EVENTPOST_AUTH_SIGNING_KEYS: %w", err)
			}
		}
		svc, err = auth.New(ac, auth.Deps{
			Store: st.(auth.Store), Outbox: d.outbox, Log: d.log, Registry: d.registry, Verifier: d.keys.verifier,
		})
	case discovery.Events:
		svc, err = events.New(events.Config{PublicURL: d.cfg.PublicURL}, events.Deps{
			Store: st.(events.Store), Outbox: d.outbox, Log: d.log, Registry: d.registry, Verifier: d.keys.verifier,
		})
	case discovery.Notifications:
		svc, err = notifications.New(notifications.DefaultConfig(), notifications.Deps{
			Store: st.(notifications.Store), Events: notifications.NewHTTPEventSource(d.balancer, nil, d.keys.signer),
			Outbox: d.outbox, Log: d.log, Registry: d.registry, Verifier: d.keys.verifier,
		})
	case discovery.Mailer:
		mc := mailer.DefaultConfig()
		mc.From, mc.PublicURL = d.cfg.MailFrom, d.cfg.PublicURL
		svc, err = mailer.New(mc, mailer.Deps{
			Store: st.(mailer.Store), Outbox: d.outbox, Log: d.log, Registry: d.registry, Transport: d.transport,
		})
	default:
		return nil, fmt.Errorf("no service named %q", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for _, c := range svc.Consumers() {
		if err := checkBinding(c); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return svc, nil
}

// checkBinding reports a consumer whose queue or types differ from messages.Bindings, the
// topology the RabbitMQ broker declares.
func checkBinding(c broker.Consumer) error {
	for _, b := range messages.Bindings {
		if b.Queue != c.Queue {
			continue
		}
		if fmt.Sprint(b.Types) != fmt.Sprint(c.Types) {
			return fmt.Errorf("consumer of %s takes %v, but messages.Bindings routes %v to it", c.Queue, c.Types, b.Types)
		}
		return nil
	}
	return fmt.Errorf("consumer queue %s is not in messages.Bindings", c.Queue)
}
