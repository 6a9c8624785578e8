package rabbitmq_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/broker/amqptest"
	"github.com/eventpost/eventpost/internal/platform/broker/rabbitmq"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Test message types and queues: "work" takes both types, "audit" only typeWork.
const (
	typeWork  = "test.work"
	typeOther = "test.other"
	queueWork = "work"
	queueLog  = "audit"
)

// testConfig returns a config for a topology of its own, deleted when t ends, with short
// retry delays.
func testConfig(t testing.TB) rabbitmq.Config {
	t.Helper()
	url, prefix := amqptest.URL(t)
	cfg := rabbitmq.Config{
		URL:    url,
		Prefix: prefix,
		Bindings: []broker.Binding{
			{Queue: queueWork, Types: []string{typeWork, typeOther}},
			{Queue: queueLog, Types: []string{typeWork}},
		},
		RetryDelays:    []time.Duration{200 * time.Millisecond, 400 * time.Millisecond},
		MaxAttempts:    3,
		ReconnectMin:   20 * time.Millisecond,
		ReconnectMax:   200 * time.Millisecond,
		Concurrency:    4,
		PublishTimeout: 5 * time.Second,
	}
	amqptest.Cleanup(t, cfg)
	return cfg
}

// newBroker returns a connected broker for cfg, closed when t ends.
func newBroker(t testing.TB, cfg rabbitmq.Config) (*rabbitmq.Broker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	b, err := rabbitmq.New(cfg, logging.Discard(), reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	waitFor(t, "connected", func() bool { return b.Ping(context.Background()) == nil })
	return b, reg
}

// run runs b until t ends; the returned function stops it and waits for Run to return.
func run(t testing.TB, b *rabbitmq.Broker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds, failing t after 20s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newMessage(t testing.TB, typ string, payload any) broker.Message {
	t.Helper()
	ctx := logging.WithRequestID(context.Background(), "req-1")
	m, err := broker.NewMessage(ctx, typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	m.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	return m
}

// recorder is a consumer that records what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []broker.Message
	at   []time.Time
	fail func(m broker.Message) error // nil: succeed
}

func (r *recorder) handle(_ context.Context, m broker.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.at = append(r.at, time.Now())
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		return fail(m)
	}
	return nil
}

func (r *recorder) got() []broker.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]broker.Message(nil), r.msgs...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// metric returns the value of the counter or gauge name with the given label values.
func metric(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i, lp := range m.GetLabel() {
				if i >= len(labels) || lp.GetValue() != labels[i] {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

// rawGet takes the next message of queue straight from the server, or fails t.
func rawGet(t testing.TB, url, queue string) amqp.Delivery {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	var d amqp.Delivery
	waitFor(t, "a message in "+queue, func() bool {
		var ok bool
		d, ok, err = ch.Get(queue, true)
		if err != nil {
			t.Fatalf("get %s: %v", queue, err)
		}
		return ok
	})
	return d
}

// queueLen returns how many ready messages queue holds.
func queueLen(t testing.TB, url, queue string) int {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
	if err != nil {
		t.Fatalf("inspect %s: %v", queue, err)
	}
	return q.Messages
}

func TestPublishConsumeRoundTrip(t *testing.T) {
	cfg := testConfig(t)
	b, reg := newBroker(t, cfg)
	work, audit := &recorder{}, &recorder{}
	for _, c := range []broker.Consumer{
		{Queue: queueWork, Types: []string{typeWork, typeOther}, Handle: work.handle},
		{Queue: queueLog, Types: []string{typeWork}, Handle: audit.handle},
	} {
		if err := b.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	run(t, b)

	m1 := newMessage(t, typeWork, map[string]string{"n": "1"})
	m2 := newMessage(t, typeOther, map[string]string{"n": "2"})
	for _, m := range []broker.Message{m1, m2} {
		if err := b.Publish(context.Background(), m); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	waitFor(t, "deliveries", func() bool { return work.count() == 2 && audit.count() == 1 })

	want := func(m broker.Message) broker.Message { m.Attempt = 1; return m }
	opts := cmp.Comparer(func(a, b json.RawMessage) bool { return string(a) == string(b) })
	byID := map[string]broker.Message{}
	for _, m := range work.got() {
		byID[m.ID] = m
	}
	for _, m := range []broker.Message{m1, m2} {
		if diff := cmp.Diff(want(m), byID[m.ID], opts); diff != "" {
			t.Errorf("work queue got (-want +got):\n%s", diff)
		}
	}
	if diff := cmp.Diff([]broker.Message{want(m1)}, audit.got(), opts); diff != "" {
		t.Errorf("audit queue got (-want +got):\n%s", diff)
	}
	waitFor(t, "acks counted", func() bool {
		return metric(t, reg, "broker_acked_total", queueWork) == 2 && metric(t, reg, "broker_acked_total", queueLog) == 1
	})
	if got := metric(t, reg, "broker_published_total", typeWork); got != 1 {
		t.Errorf("broker_published_total{type=%s} = %v, want 1", typeWork, got)
	}
	if got := metric(t, reg, "broker_connected"); got != 1 {
		t.Errorf("broker_connected = %v, want 1", got)
	}
}

func TestPublishSetsProperties(t *testing.T) {
	cfg := testConfig(t)
	b, _ := newBroker(t, cfg)
	m := newMessage(t, typeWork, map[string]int{"x": 1})
	if err := b.Publish(context.Background(), m); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	d := rawGet(t, cfg.URL, cfg.Queue(queueWork))
	type props struct {
		MessageID, Type, ContentType string
		DeliveryMode                 uint8
		Timestamp                    int64
		Headers                      amqp.Table
		Exchange, RoutingKey         string
	}
	delete(d.Headers, "x-delivery-count") // the quorum queue's own
	got := props{d.MessageId, d.Type, d.ContentType, d.DeliveryMode, d.Timestamp.Unix(), d.Headers, d.Exchange, d.RoutingKey}
	wantProps := props{m.ID, m.Type, "application/json", amqp.Persistent, m.Time.Unix(),
		amqp.Table{"request_id": "req-1", "traceparent": m.TraceParent}, cfg.Exchange(), typeWork}
	if diff := cmp.Diff(wantProps, got); diff != "" {
		t.Errorf("properties (-want +got):\n%s", diff)
	}
	var body broker.Message
	if err := json.Unmarshal(d.Body, &body); err != nil {
		t.Fatalf("body: %v", err)
	}
	if body.ID != m.ID || body.Type != m.Type || !body.Time.Equal(m.Time) || body.RequestID != "req-1" ||
		body.TraceParent != m.TraceParent || string(body.Payload) != string(m.Payload) {
		t.Errorf("body = %+v, want %+v", body, m)
	}
	// Fan-out by type: the audit queue has its own copy.
	if d := rawGet(t, cfg.URL, cfg.Queue(queueLog)); d.MessageId != m.ID {
		t.Errorf("audit queue has %s, want %s", d.MessageId, m.ID)
	}
}

func TestPublishUnroutableIsAnError(t *testing.T) {
	cfg := testConfig(t)
	b, reg := newBroker(t, cfg)
	err := b.Publish(context.Background(), newMessage(t, "test.nobody", nil))
	if !errors.Is(err, rabbitmq.ErrUnroutable) {
		t.Fatalf("Publish of an unbound type = %v, want ErrUnroutable", err)
	}
	// The channel survives: the next publish is confirmed.
	if err := b.Publish(context.Background(), newMessage(t, typeWork, nil)); err != nil {
		t.Fatalf("Publish after an unroutable one: %v", err)
	}
	if got := metric(t, reg, "broker_publish_failures_total"); got != 1 {
		t.Errorf("broker_publish_failures_total = %v, want 1", got)
	}
}

func TestConcurrentPublishesAreAllConfirmed(t *testing.T) {
	cfg := testConfig(t)
	b, _ := newBroker(t, cfg)
	const n = 500
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			typ := typeWork
			if i%5 == 0 {
				typ = "test.nobody" // interleaved returns must fail only their own publish
			}
			err := b.Publish(context.Background(), newMessage(t, typ, i))
			if (typ == typeWork) != (err == nil) {
				errs <- fmt.Errorf("publish %d (%s): %v", i, typ, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := queueLen(t, cfg.URL, cfg.Queue(queueWork)); got != n*4/5 {
		t.Errorf("work queue holds %d messages, want %d", got, n*4/5)
	}
}

func TestRetryAfterDelayWithAttempt(t *testing.T) {
	cfg := testConfig(t)
	b, reg := newBroker(t, cfg)
	r := &recorder{fail: func(m broker.Message) error {
		if m.Attempt < 3 {
			return errors.New("not yet")
		}
		return nil
	}}
	if err := b.Register(broker.Consumer{Queue: queueWork, Types: []string{typeWork}, Handle: r.handle}); err != nil {
		t.Fatal(err)
	}
	run(t, b)
	m := newMessage(t, typeWork, "x")
	if err := b.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "third attempt", func() bool { return r.count() == 3 })
	waitFor(t, "ack", func() bool { return metric(t, reg, "broker_acked_total", queueWork) == 1 })
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, got := range r.msgs {
		if got.ID != m.ID || got.Attempt != i+1 {
			t.Errorf("delivery %d: message %s attempt %d, want %s attempt %d", i, got.ID, got.Attempt, m.ID, i+1)
		}
	}
	for i, wantDelay := range cfg.RetryDelays {
		if gap := r.at[i+1].Sub(r.at[i]); gap < wantDelay {
			t.Errorf("attempt %d came %s after attempt %d, before the retry delay %s", i+2, gap, i+1, wantDelay)
		}
	}
	if got := metric(t, reg, "broker_retried_total", queueWork); got != 2 {
		t.Errorf("broker_retried_total = %v, want 2", got)
	}
}

func TestDeadLetter(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		wantAttempt int
	}{
		{"permanent error at once", broker.Permanent(errors.New("bad payload")), 1},
		{"transient error until attempts run out", errors.New("smtp down"), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			b, reg := newBroker(t, cfg)
			r := &recorder{fail: func(broker.Message) error { return tt.err }}
			if err := b.Register(broker.Consumer{Queue: queueWork, Types: []string{typeWork}, Handle: r.handle}); err != nil {
				t.Fatal(err)
			}
			run(t, b)
			m := newMessage(t, typeWork, "doomed")
			if err := b.Publish(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			d := rawGet(t, cfg.URL, cfg.DeadQueue(queueWork))
			if d.MessageId != m.ID || d.Type != m.Type {
				t.Errorf("dead-letter queue has %s %s, want %s %s", d.MessageId, d.Type, m.ID, m.Type)
			}
			if got := d.Headers["x-attempt"]; got != int64(tt.wantAttempt) {
				t.Errorf("x-attempt = %v, want %d", got, tt.wantAttempt)
			}
			if got, _ := d.Headers["x-error"].(string); got != tt.err.Error() {
				t.Errorf("x-error = %q, want %q", got, tt.err.Error())
			}
			var body broker.Message
			if err := json.Unmarshal(d.Body, &body); err != nil || body.ID != m.ID || string(body.Payload) != string(m.Payload) {
				t.Errorf("dead body = %s (%v), want the original envelope", d.Body, err)
			}
			if got := r.count(); got != tt.wantAttempt {
				t.Errorf("handler called %d times, want %d", got, tt.wantAttempt)
			}
			if got := metric(t, reg, "broker_dead_letters_total", queueWork); got != 1 {
				t.Errorf("broker_dead_letters_total = %v, want 1", got)
			}
			if got := metric(t, reg, "broker_acked_total", queueWork); got != 0 {
				t.Errorf("broker_acked_total = %v, want 0", got)
			}
		})
	}
}

func TestDuplicateDeliveryIsHandledOnce(t *testing.T) {
	cfg := testConfig(t)
	b, _ := newBroker(t, cfg)
	// An idempotent consumer, as outbox.FirstDelivery makes them: it applies each message ID
	// once.
	var mu sync.Mutex
	applied, calls := map[string]int{}, 0
	handle := func(_ context.Context, m broker.Message) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if _, seen := applied[m.ID]; !seen {
			applied[m.ID]++
		}
		return nil
	}
	if err := b.Register(broker.Consumer{Queue: queueWork, Types: []string{typeWork}, Handle: handle}); err != nil {
		t.Fatal(err)
	}
	run(t, b)
	m := newMessage(t, typeWork, "once")
	// The outbox relay publishes again when it did not see the confirmation.
	for range 2 {
		if err := b.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both deliveries", func() bool { mu.Lock(); defer mu.Unlock(); return calls == 2 })
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(map[string]int{m.ID: 1}, applied); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
}

func TestConsumerStartedLaterGetsEarlierMessages(t *testing.T) {
	cfg := testConfig(t)
	// A publishing process declares the topology; no consumer runs yet.
	pub, _ := newBroker(t, cfg)
	var ids []string
	for i := range 20 {
		m := newMessage(t, typeWork, i)
		ids = append(ids, m.ID)
		if err := pub.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	cons, _ := newBroker(t, cfg)
	r := &recorder{}
	if err := cons.Register(broker.Consumer{Queue: queueWork, Types: []string{typeWork}, Handle: r.handle}); err != nil {
		t.Fatal(err)
	}
	run(t, cons)
	waitFor(t, "every message", func() bool { return r.count() == len(ids) })
	var got []string
	for _, m := range r.got() {
		got = append(got, m.ID)
	}
	// Concurrent handlers finish in any order.
	if diff := cmp.Diff(ids, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
}

func TestRunWaitsForHandlersInFlight(t *testing.T) {
	cfg := testConfig(t)
	b, reg := newBroker(t, cfg)
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	handle := func(ctx context.Context, m broker.Message) error {
		once.Do(func() { close(started) })
		<-release
		return ctx.Err() // the handler's context outlives Run's
	}
	if err := b.Register(broker.Consumer{Queue: queueWork, Types: []string{typeWork}, Handle: handle}); err != nil {
		t.Fatal(err)
	}
	stop := run(t, b)
	if err := b.Publish(context.Background(), newMessage(t, typeWork, 1)); err != nil {
		t.Fatal(err)
	}
	<-started
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Run returned while a handler was running")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	<-stopped
	if got := metric(t, reg, "broker_acked_total", queueWork); got != 1 {
		t.Errorf("broker_acked_total = %v, want 1", got)
	}
	if got := queueLen(t, cfg.URL, cfg.Queue(queueWork)); got != 0 {
		t.Errorf("work queue holds %d messages after a graceful stop, want 0", got)
	}
}

func TestRegisterChecksTheTopology(t *testing.T) {
	cfg := testConfig(t)
	b, _ := newBroker(t, cfg)
	nop := func(context.Context, broker.Message) error { return nil }
	tests := []struct {
		name    string
		c       broker.Consumer
		wantErr bool
	}{
		{"valid", broker.Consumer{Queue: queueWork, Types: []string{typeWork}, Handle: nop}, false},
		{"second consumer of a queue", broker.Consumer{Queue: queueWork, Types: []string{typeOther}, Handle: nop}, true},
		{"unknown queue", broker.Consumer{Queue: "nope", Types: []string{typeWork}, Handle: nop}, true},
		{"type not bound to the queue", broker.Consumer{Queue: queueLog, Types: []string{typeOther}, Handle: nop}, true},
		{"no handler", broker.Consumer{Queue: queueLog, Types: []string{typeWork}}, true},
		{"no types", broker.Consumer{Queue: queueLog, Handle: nop}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := b.Register(tt.c); (err != nil) != tt.wantErr {
				t.Errorf("Register = %v, want error %v", err, tt.wantErr)
			}
		})
	}
	run(t, b)
	waitFor(t, "Run to start", func() bool {
		return b.Register(broker.Consumer{Queue: queueLog, Types: []string{typeWork}, Handle: nop}) != nil
	})
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	bindings := []broker.Binding{{Queue: "q", Types: []string{"t"}}}
	tests := []struct {
		name string
		cfg  rabbitmq.Config
	}{
		{"no URL", rabbitmq.Config{Bindings: bindings}},
		{"bad URL", rabbitmq.Config{URL: "http://x", Bindings: bindings}},
		{"no bindings", rabbitmq.Config{URL: amqptest.DefaultURL}},
		{"binding without types", rabbitmq.Config{URL: amqptest.DefaultURL, Bindings: []broker.Binding{{Queue: "q"}}}},
		{"sub-millisecond delay", rabbitmq.Config{URL: amqptest.DefaultURL, Bindings: bindings, RetryDelays: []time.Duration{time.Microsecond}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := rabbitmq.New(tt.cfg, logging.Discard(), nil); !errors.Is(err, rabbitmq.ErrConfig) {
				t.Errorf("New = %v, want ErrConfig", err)
			}
		})
	}
}
