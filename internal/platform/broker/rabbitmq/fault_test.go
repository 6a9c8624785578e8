package rabbitmq_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/broker/amqptest"
	"github.com/eventpost/eventpost/internal/platform/broker/rabbitmq"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// publishUntilConfirmed publishes m until Publish returns nil, as the outbox relay does, and
// returns how many attempts failed.
func publishUntilConfirmed(ctx context.Context, b *rabbitmq.Broker, m broker.Message) int {
	failed := 0
	for b.Publish(ctx, m) != nil && ctx.Err() == nil {
		failed++
		time.Sleep(5 * time.Millisecond)
	}
	return failed
}

func TestConnectionCutMidStream(t *testing.T) {
	cfg := testConfig(t)
	proxy := amqptest.NewProxy(t, cfg.URL)
	cfg.URL = proxy.URL()
	b, reg := newBroker(t, cfg)

	var mu sync.Mutex
	seen := map[string]int{}
	handle := func(context.Context, broker.Message) error {
		time.Sleep(time.Millisecond) // keep a backlog, so that the cut catches deliveries in flight
		return nil
	}
	if err := b.Register(broker.Consumer{Queue: queueWork, Types: []string{typeWork}, Handle: func(ctx context.Context, m broker.Message) error {
		mu.Lock()
		seen[m.ID]++
		mu.Unlock()
		return handle(ctx, m)
	}}); err != nil {
		t.Fatal(err)
	}
	run(t, b)
	received := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }

	const n = 600
	msgs := make([]broker.Message, n)
	for i := range msgs {
		msgs[i] = newMessage(t, typeWork, i)
	}
	var published atomic.Int64
	var failedPublishes atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, m := range msgs {
			failedPublishes.Add(int64(publishUntilConfirmed(ctx, b, m)))
			published.Add(1)
		}
	})

	waitFor(t, "a third of the stream", func() bool { return received() >= n/3 })
	proxy.Pause()
	cut := proxy.Cut()
	waitFor(t, "the broker to notice", func() bool { return b.Ping(context.Background()) != nil })
	waitFor(t, "the session to end", func() bool { return metric(t, reg, "broker_connected") == 0 })

	// While the server is away, Publish fails at once instead of blocking.
	err := b.Publish(context.Background(), newMessage(t, typeWork, "while down"))
	if !errors.Is(err, rabbitmq.ErrNotConnected) {
		t.Errorf("Publish while disconnected = %v, want ErrNotConnected", err)
	}
	time.Sleep(300 * time.Millisecond) // let the supervisor fail a few attempts
	proxy.Resume()

	wg.Wait()
	waitFor(t, "every message", func() bool { return received() == n })
	mu.Lock()
	redelivered := 0
	for _, m := range msgs {
		if seen[m.ID] == 0 {
			t.Errorf("message %s never arrived", m.ID)
		}
		redelivered += seen[m.ID] - 1
	}
	mu.Unlock()
	if got := metric(t, reg, "broker_reconnects_total"); got < 1 {
		t.Errorf("broker_reconnects_total = %v, want at least 1", got)
	}
	if got := metric(t, reg, "broker_connected"); got != 1 {
		t.Errorf("broker_connected = %v, want 1", got)
	}
	t.Logf("%d messages, %d connections cut, %d failed publish attempts retried, %d redeliveries",
		n, cut, failedPublishes.Load(), redelivered)
}

func TestPendingConfirmsFailWhenTheServerGoesAway(t *testing.T) {
	cfg := testConfig(t)
	proxy := amqptest.NewProxy(t, cfg.URL)
	cfg.URL = proxy.URL()
	b, _ := newBroker(t, cfg)

	// With the server silent, publishes wait for confirmations that cannot come.
	proxy.Stall()
	const n = 32
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- b.Publish(context.Background(), newMessage(t, typeWork, i)) }()
	}
	select {
	case err := <-errs:
		t.Fatalf("Publish returned %v while the server was silent", err)
	case <-time.After(200 * time.Millisecond):
	}
	proxy.Cut()
	proxy.Unstall()
	for range n {
		select {
		case err := <-errs:
			if !errors.Is(err, rabbitmq.ErrConnectionLost) && !errors.Is(err, rabbitmq.ErrNotConnected) {
				t.Errorf("pending Publish = %v, want ErrConnectionLost", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a pending Publish never returned after the connection was cut")
		}
	}
	// The supervisor reconnects and publishing works again.
	waitFor(t, "a confirmed publish", func() bool {
		return b.Publish(context.Background(), newMessage(t, typeWork, "after")) == nil
	})
}

func TestCloseWhileConfirmsArePending(t *testing.T) {
	cfg := testConfig(t)
	proxy := amqptest.NewProxy(t, cfg.URL)
	cfg.URL = proxy.URL()
	b, err := rabbitmq.New(cfg, logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connected", func() bool { return b.Ping(context.Background()) == nil })
	proxy.Stall()
	errs := make(chan error, 8)
	for i := range 8 {
		go func() { errs <- b.Publish(context.Background(), newMessage(t, typeWork, i)) }()
	}
	time.Sleep(100 * time.Millisecond)
	closed := make(chan struct{})
	go func() { b.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close hung on a silent server")
	}
	for range 8 {
		if err := <-errs; err == nil {
			t.Error("a Publish pending at Close succeeded")
		}
	}
	if err := b.Publish(context.Background(), newMessage(t, typeWork, "late")); !errors.Is(err, rabbitmq.ErrNotConnected) {
		t.Errorf("Publish after Close = %v, want ErrNotConnected", err)
	}
}

// newBrokerServerDown returns a broker started while its server refuses connections (a
// paused proxy in front of it), and that proxy.
func newBrokerServerDown(t *testing.T) (*rabbitmq.Broker, *amqptest.Proxy) {
	t.Helper()
	cfg := testConfig(t)
	proxy := amqptest.NewProxy(t, cfg.URL)
	cfg.URL = proxy.URL()
	proxy.Pause()
	b, err := rabbitmq.New(cfg, logging.Discard(), nil)
	if err != nil {
		t.Fatalf("New with the server down = %v, want a broker that keeps trying", err)
	}
	t.Cleanup(func() { b.Close() })
	return b, proxy
}

func TestServerDownAtStart(t *testing.T) {
	b, proxy := newBrokerServerDown(t)
	if err := b.Ping(context.Background()); !errors.Is(err, rabbitmq.ErrNotConnected) {
		t.Errorf("Ping = %v, want ErrNotConnected", err)
	}
	if err := b.Publish(context.Background(), newMessage(t, typeWork, 1)); !errors.Is(err, rabbitmq.ErrNotConnected) {
		t.Errorf("Publish = %v, want ErrNotConnected", err)
	}
	proxy.Resume()
	// The first session declares the whole topology (quorum queues, each a Raft group), which a
	// RabbitMQ busy with other tests' loads can take many seconds to do: wait up to a minute,
	// and say what the last attempt answered.
	deadline := time.Now().Add(time.Minute)
	for {
		err := b.Publish(context.Background(), newMessage(t, typeWork, 2))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no confirmed publish a minute after the server came back; the last attempt: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConsumerSurvivesRepeatedCuts(t *testing.T) {
	cfg := testConfig(t)
	proxy := amqptest.NewProxy(t, cfg.URL)
	cfg.URL = proxy.URL()
	b, _ := newBroker(t, cfg)
	r := &recorder{}
	if err := b.Register(broker.Consumer{Queue: queueWork, Types: []string{typeWork}, Handle: r.handle}); err != nil {
		t.Fatal(err)
	}
	run(t, b)
	for round := range 5 {
		m := newMessage(t, typeWork, round)
		publishUntilConfirmed(context.Background(), b, m)
		waitFor(t, "delivery after a cut", func() bool {
			for _, got := range r.got() {
				if got.ID == m.ID {
					return true
				}
			}
			return false
		})
		proxy.Cut()
	}
}

func TestConsumerRecoversFromDeletedQueue(t *testing.T) {
	cfg := testConfig(t)
	b, reg := newBroker(t, cfg)
	r := &recorder{}
	if err := b.Register(broker.Consumer{Queue: queueWork, Types: []string{typeOther}, Handle: r.handle}); err != nil {
		t.Fatal(err)
	}
	run(t, b)
	conn, err := amqp.Dial(cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the consumer", func() bool {
		q, err := ch.QueueDeclarePassive(cfg.Queue(queueWork), true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
		return err == nil && q.Consumers == 1
	})
	if _, err := ch.QueueDelete(cfg.Queue(queueWork), false, false, false); err != nil {
		t.Fatal(err)
	}
	// The cancelled consumer ends the session; the next one declares the queue again.
	waitFor(t, "a reconnection", func() bool { return metric(t, reg, "broker_reconnects_total") >= 1 })
	m := newMessage(t, typeOther, "after")
	publishUntilConfirmed(context.Background(), b, m)
	waitFor(t, "the delivery", func() bool { return r.count() == 1 })
}

// TestPublishWhileConnectsFail: while every connection attempt fails, each Publish and Ping
// answers ErrNotConnected. A failed attempt once left its half-built session (no publisher)
// installed between two attempts, and a Publish in that window panicked (a full run of
// TestServerDownAtStart hit it).
func TestPublishWhileConnectsFail(t *testing.T) {
	b, _ := newBrokerServerDown(t)
	// Many attempts: ReconnectMin 20 ms, ReconnectMax 200 ms in testConfig.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if err := b.Publish(context.Background(), newMessage(t, typeWork, 1)); !errors.Is(err, rabbitmq.ErrNotConnected) {
			t.Fatalf("Publish while the server refuses connections = %v, want ErrNotConnected", err)
		}
		if err := b.Ping(context.Background()); !errors.Is(err, rabbitmq.ErrNotConnected) {
			t.Fatalf("Ping while the server refuses connections = %v, want ErrNotConnected", err)
		}
	}
}
