package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// service is what every EventPost service offers its host process.
type service interface {
	Handler() http.Handler
	Consumers() []broker.Consumer
	Run(ctx context.Context) error
}

// store is what the host needs of a service's store: its database, for the outbox relay
// (outbox.Database: every service's store embeds a database.Store).
type store interface {
	outbox.Database
	Close() error
}

// sqlitePath is the SQLite database of the named service under dataDir.
func sqlitePath(dataDir, name string) string { return filepath.Join(dataDir, name+".db") }

// serviceDeps are what newService needs besides the store.
type serviceDeps struct {
	cfg       Config
	outbox    outbox.Notifier
	log       *slog.Logger
	registry  *prometheus.Registry
	balancer  *discovery.Balancer // finds the events service, for notifications
	transport mailer.Transport    // for the mailer
	keys      serviceKeys
	// upstream carries the calls to other services (the notifications service's to the
	// events service): the all-in-one mode's in-process transport, or nil for sockets.
	upstream http.RoundTripper
}

// eventsClient returns the notifications service's client of the events service: nil (the
// default, over sockets) without d.upstream.
func (d serviceDeps) eventsClient() *http.Client {
	if d.upstream == nil {
		return nil
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: d.upstream}
}

// newService builds the named service over its store st (see openStore), and checks that its
// consumers match the broker topology of messages.Bindings.
func newService(name string, st *openedStore, d serviceDeps) (built, error) {
	b, err := st.build(d)
	if err != nil {
		return built{}, fmt.Errorf("%s: %w", name, err)
	}
	for _, c := range b.svc.Consumers() {
		if err := checkBinding(c); err != nil {
			return built{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	return b, nil
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
