package telemetry_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/broker/amqptest"
	"github.com/eventpost/eventpost/internal/platform/broker/rabbitmq"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/logging/logtest"
	"github.com/eventpost/eventpost/internal/platform/outbox"
	"github.com/eventpost/eventpost/internal/platform/telemetry"
	"github.com/eventpost/eventpost/internal/platform/telemetry/otlptest"
)

const (
	typeWork  = "test.work"
	queueWork = "work"
)

// delivery is what a consumer saw of one message.
type delivery struct {
	span      trace.SpanContext
	requestID string
}

// consumer records the context of each delivery and logs a line in it.
type consumer struct {
	log *slog.Logger
	mu  sync.Mutex
	got []delivery
}

func (c *consumer) handle(ctx context.Context, m broker.Message) error {
	c.log.InfoContext(ctx, "handled", "message_id", m.ID)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, delivery{trace.SpanContextFromContext(ctx), logging.RequestID(ctx)})
	return nil
}

func (c *consumer) deliveries() []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]delivery(nil), c.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// roundTrip sends one message, created within a request's span, through an outbox relay to
// b, whose consumer c is registered, and checks that the consumer continues the request's
// trace: request → send (producer, the relay) → process (consumer, the broker), with the
// consumer's log lines naming the trace and the request ID.
func roundTrip(t *testing.T, rcv *otlptest.Receiver, flush func(), b broker.Publisher, c *consumer, out *logtest.Buffer) {
	t.Helper()
	db, err := database.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "outbox.db"), logging.Discard(),
		outbox.Schema(database.SQLite))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	ctx := logging.WithRequestID(context.Background(), "req-42")
	ctx, request := otel.Tracer("test").Start(ctx, "request")
	m, err := broker.NewMessage(ctx, typeWork, map[string]int{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	request.End()
	sc := request.SpanContext()
	if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; m.TraceParent != want {
		t.Fatalf("NewMessage: TraceParent %q, want %q", m.TraceParent, want)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Add(ctx, tx, database.SQLite, m); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	relay := outbox.NewRelay(database.NewStore(db, database.SQLite), b, logging.Discard(), prometheus.NewRegistry(),
		outbox.RelayConfig{Poll: 20 * time.Millisecond})
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relay.Run(rctx) }()
	waitFor(t, "the delivery", func() bool { return len(c.deliveries()) > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("relay: %v", err)
	}

	d := c.deliveries()[0]
	if d.span.TraceID() != sc.TraceID() || d.requestID != "req-42" {
		t.Errorf("consumer ran in trace %s with request ID %q, want trace %s and req-42", d.span.TraceID(), d.requestID, sc.TraceID())
	}
	flush()

	spans := rcv.Trace(sc.TraceID().String())
	t.Logf("trace:\n%s", otlptest.FormatTrace(spans))
	type hop struct{ Name, Kind, Parent string }
	byID := map[string]string{}
	for _, s := range spans {
		byID[s.SpanID] = s.Name
	}
	var got []hop
	for _, s := range spans {
		got = append(got, hop{s.Name, s.Kind, byID[s.ParentSpanID]})
	}
	want := []hop{
		{"request", "internal", ""},
		{"send " + typeWork, "producer", "request"},
		{"process " + typeWork, "consumer", "send " + typeWork},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans of the trace (-want +got):\n%s", diff)
	}
	if !strings.Contains(out.String(), `"trace_id":"`+sc.TraceID().String()+`"`) ||
		!strings.Contains(out.String(), `"request_id":"req-42"`) {
		t.Errorf("the consumer's log line names neither the trace nor the request:\n%s", out.String())
	}
}

func TestMessageKeepsTheTraceInProcess(t *testing.T) {
	rcv := otlptest.Start(t)
	flush := setup(t, "", map[string]string{telemetry.EnvEndpoint: rcv.URL})
	var out logtest.Buffer
	c := &consumer{log: logging.New(&out, slog.LevelInfo)}
	b := broker.NewInProcess(logging.Discard(), nil)
	if err := b.Register(broker.Consumer{Queue: queueWork, Types: []string{typeWork}, Handle: c.handle}); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, rcv, flush, b, c, &out)
}

func TestMessageKeepsTheTraceThroughRabbitMQ(t *testing.T) {
	url, prefix := amqptest.URL(t)
	cfg := rabbitmq.DefaultConfig()
	cfg.URL, cfg.Prefix = url, prefix
	cfg.Bindings = []broker.Binding{{Queue: queueWork, Types: []string{typeWork}}}
	amqptest.Cleanup(t, cfg)

	rcv := otlptest.Start(t)
	flush := setup(t, "mailer", map[string]string{telemetry.EnvEndpoint: rcv.URL})
	var out logtest.Buffer
	c := &consumer{log: logging.New(&out, slog.LevelInfo)}
	b, err := rabbitmq.New(cfg, logging.Discard(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Register(broker.Consumer{Queue: queueWork, Types: []string{typeWork}, Handle: c.handle}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the connection", func() bool { return b.Ping(context.Background()) == nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	t.Run("through the outbox", func(t *testing.T) { roundTrip(t, rcv, flush, b, c, &out) })

	// A message published by another producer, whose body does not carry the trace but
	// whose AMQP headers do, is handled in that trace.
	t.Run("from the AMQP headers", func(t *testing.T) {
		conn, err := amqp.Dial(url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		body, err := json.Marshal(map[string]any{"id": "raw-1", "type": typeWork, "payload": map[string]int{}})
		if err != nil {
			t.Fatal(err)
		}
		before := len(c.deliveries())
		err = ch.PublishWithContext(context.Background(), cfg.Exchange(), typeWork, true, false, amqp.Publishing{
			ContentType: "application/json", MessageId: "raw-1", Type: typeWork, Body: body,
			Headers: amqp.Table{"traceparent": traceparent, "request_id": "req-raw"},
		})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the delivery", func() bool { return len(c.deliveries()) > before })
		d := c.deliveries()[before]
		if d.span.TraceID().String() != clientTraceID || d.requestID != "req-raw" {
			t.Errorf("consumer ran in trace %s with request ID %q, want %s and req-raw", d.span.TraceID(), d.requestID, clientTraceID)
		}
	})
}
