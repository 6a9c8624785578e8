// Package amqptest gives tests a RabbitMQ server to themselves: a prefix unique to each
// test for the names of its exchange and queues (rabbitmq.Config.Prefix), deleted when the
// test ends, and a TCP proxy that cuts connections on demand for fault tests.
//
// Tests reach the server at EVENTPOST_TEST_AMQP_URL (default
// amqp://guest:guest@127.0.0.1:5672/). When it does not answer, the tests skip with a
// message — unless EVENTPOST_INTEGRATION=1, which CI sets: then they fail.
package amqptest

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/broker/rabbitmq"
	"github.com/eventpost/eventpost/internal/platform/integration"
)

// DefaultURL is the server the tests use when EVENTPOST_TEST_AMQP_URL is unset.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// ServerURL returns the URL of the test server.
func ServerURL() string { return server.Addr() }

// server says where the test server is and how to start it when it does not answer.
var server = integration.Server{Name: "RabbitMQ", EnvVar: "EVENTPOST_TEST_AMQP_URL", Default: DefaultURL, Start: "start RabbitMQ"}

// URL returns the test server's URL and a prefix unique to t, skipping or failing t when
// the server does not answer. When t ends, the exchange named prefix and the queues of
// bindings under prefix (with the default retry delays; a system test passes
// messages.Bindings) are deleted; a test declaring other delays also calls Cleanup with its
// config.
// Call it before starting what uses the prefix: cleanups run last registered first, so the
// deletion then comes after those stopped (a consumer still connected would declare its
// queues again).
func URL(t testing.TB, bindings ...broker.Binding) (url, prefix string) {
	t.Helper()
	url = ServerURL()
	conn := dial(t, url)
	conn.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix = "eventpost-test-" + hex.EncodeToString(b[:])
	Cleanup(t, rabbitmq.Config{URL: url, Prefix: prefix, Bindings: bindings})
	return url, prefix
}

// Cleanup deletes the exchange and every queue of cfg's topology when t ends (the defaults
// of rabbitmq.DefaultConfig apply to unset fields; cfg.URL must be set).
func Cleanup(t testing.TB, cfg rabbitmq.Config) {
	t.Helper()
	t.Cleanup(func() {
		conn, err := amqp.DialConfig(cfg.URL, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
		if err != nil {
			t.Errorf("amqptest: cleanup: %v", err)
			return
		}
		defer conn.Close()
		del := func(what, name string, f func(ch *amqp.Channel) error) {
			ch, err := conn.Channel()
			if err == nil {
				defer ch.Close()
				err = f(ch)
			}
			if err != nil {
				t.Errorf("amqptest: delete %s %s: %v", what, name, err)
			}
		}
		for _, q := range cfg.QueueNames() {
			del("queue", q, func(ch *amqp.Channel) error {
				_, err := ch.QueueDelete(q, false, false, false)
				return err
			})
		}
		del("exchange", cfg.Exchange(), func(ch *amqp.Channel) error {
			return ch.ExchangeDelete(cfg.Exchange(), false, false)
		})
	})
}

// dial connects to url, skipping or failing t when the server does not answer.
func dial(t testing.TB, url string) *amqp.Connection {
	t.Helper()
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		server.Unavailable(t, redacted(url), err)
	}
	return conn
}

func redacted(u string) string {
	uri, err := amqp.ParseURI(u)
	if err != nil {
		return "(unparsable URL)"
	}
	uri.Password = "xxxxx"
	return uri.String()
}
