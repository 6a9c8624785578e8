package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/retry"
)

// AMQP headers the broker sets.
const (
	headerRequestID   = "request_id"
	headerTraceParent = "traceparent"
	// headerAttempt is the attempt number of the next delivery of a republished message; a
	// message without it is on its first attempt.
	headerAttempt = "x-attempt"
	// headerError is the last handler error of a retried or dead-lettered message.
	headerError = "x-error"
)

// Broker is a broker.Broker over RabbitMQ. New connects it and keeps it connected until
// Close; Publish works from then on. Run consumes the registered consumers' queues.
type Broker struct {
	cfg Config
	log *slog.Logger
	m   *brokerMetrics

	ctx    context.Context // done once Close was called
	cancel context.CancelFunc
	done   chan struct{} // closed when the supervisor has returned

	mu        sync.Mutex
	sess      *session      // the live session, nil while disconnected
	changed   chan struct{} // closed, and replaced, whenever sess changes
	consumers []broker.Consumer
	running   bool
}

var _ broker.Broker = (*Broker)(nil)

// New returns a broker for cfg whose metrics are registered with reg (when not nil). It
// tries to connect and declare the topology once before returning; whether or not that
// worked, a supervisor goroutine keeps the broker connected, reconnecting with backoff,
// until Close. New fails only on an invalid Config.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Broker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := amqp.ParseURI(cfg.URL); err != nil {
		return nil, fmt.Errorf("%w: URL: %w", ErrConfig, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		cfg: cfg, log: log, m: newMetrics(reg),
		ctx: ctx, cancel: cancel, done: make(chan struct{}), changed: make(chan struct{}),
	}
	first, err := b.connect()
	if err != nil {
		b.log.Warn("rabbitmq: cannot connect; retrying in the background", "url", redact(cfg.URL), "err", err)
	}
	go b.supervise(first)
	return b, nil
}

// Close disconnects the broker and stops reconnecting; publishes fail from then on. Stop
// Run (cancel its context) first for a graceful end of consumption.
func (b *Broker) Close() error {
	b.cancel()
	<-b.done
	return nil
}

// Ping reports whether the broker is connected, for readiness checks.
func (b *Broker) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s, _ := b.session()
	if s == nil || s.pubConn.IsClosed() || s.conConn.IsClosed() {
		return ErrNotConnected
	}
	return nil
}

// Publish implements broker.Publisher: it publishes m to the topic exchange with its type as
// routing key, and returns nil once RabbitMQ confirmed that every queue bound for the type
// has it. A message no queue is bound for is an error (ErrUnroutable). While disconnected
// it fails at once with ErrNotConnected. It waits for the confirmation at most until ctx is
// done or Config.PublishTimeout has passed. Safe for concurrent use: concurrent calls are
// pipelined on one channel.
func (b *Broker) Publish(ctx context.Context, m broker.Message) error {
	err := b.publish(ctx, m)
	if err != nil {
		b.m.publishFailures.Inc()
		return fmt.Errorf("publish %s %s: %w", m.Type, m.ID, err)
	}
	b.m.published.WithLabelValues(m.Type).Inc()
	return nil
}

func (b *Broker) publish(ctx context.Context, m broker.Message) error {
	if m.ID == "" || m.Type == "" {
		return errors.New("message ID and type are required")
	}
	s, _ := b.session()
	if s == nil {
		return ErrNotConnected
	}
	if s.blocked.Load() {
		return ErrBlocked
	}
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	headers := amqp.Table{}
	if m.RequestID != "" {
		headers[headerRequestID] = m.RequestID
	}
	if m.TraceParent != "" {
		headers[headerTraceParent] = m.TraceParent
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	return s.pub.publish(ctx, b.cfg.Exchange(), m.Type, amqp.Publishing{
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		MessageId:    m.ID,
		Type:         m.Type,
		Timestamp:    m.Time,
		Headers:      headers,
		Body:         body,
	})
}

// Register implements broker.Broker. The consumer's queue must be one of Config.Bindings
// and its types among the binding's; each queue takes one consumer. Call it before Run.
func (b *Broker) Register(c broker.Consumer) error {
	if c.Queue == "" || len(c.Types) == 0 || c.Handle == nil {
		return fmt.Errorf("register consumer %q: queue, types and handler are required", c.Queue)
	}
	i := slices.IndexFunc(b.cfg.Bindings, func(bd broker.Binding) bool { return bd.Queue == c.Queue })
	if i < 0 {
		return fmt.Errorf("register consumer %q: the queue is not in the topology", c.Queue)
	}
	for _, t := range c.Types {
		if !slices.Contains(b.cfg.Bindings[i].Types, t) {
			return fmt.Errorf("register consumer %q: type %q is not bound to the queue", c.Queue, t)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running {
		return fmt.Errorf("register consumer %q: the broker is already running", c.Queue)
	}
	if slices.ContainsFunc(b.consumers, func(o broker.Consumer) bool { return o.Queue == c.Queue }) {
		return fmt.Errorf("register consumer %q: the queue already has a consumer", c.Queue)
	}
	b.consumers = append(b.consumers, c)
	return nil
}

// session returns the live session (nil when disconnected) and a channel closed when that
// changes.
func (b *Broker) session() (*session, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sess, b.changed
}

func (b *Broker) setSession(s *session) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sess = s
	close(b.changed)
	b.changed = make(chan struct{})
	if s != nil {
		b.m.connected.Set(1)
	} else {
		b.m.connected.Set(0)
	}
}

// supervise keeps the broker connected until Close: it installs a session, waits for it to
// die, and connects again with exponential backoff and jitter. A session that lived longer
// than ReconnectMax resets the backoff, so that a flapping server is not hammered.
func (b *Broker) supervise(s *session) {
	defer close(b.done)
	delay := b.cfg.ReconnectMin
	lost := false
	for {
		if s == nil {
			var err error
			if s, err = b.connect(); err != nil {
				if b.ctx.Err() != nil {
					return
				}
				wait := jitter(delay)
				b.log.Warn("rabbitmq: connect failed", "err", err, "retry_in", wait.String())
				delay = min(2*delay, b.cfg.ReconnectMax)
				if !retry.Sleep(b.ctx, wait) {
					return
				}
				continue
			}
			if lost {
				b.m.reconnects.Inc()
				b.log.Info("rabbitmq: reconnected")
			}
		}
		b.setSession(s)
		up := time.Now()
		select {
		case <-s.dead:
		case <-b.ctx.Done():
		}
		b.setSession(nil)
		s.close()
		if b.ctx.Err() != nil {
			return
		}
		lost = true
		b.log.Warn("rabbitmq: connection lost", "err", s.err)
		s = nil
		if time.Since(up) >= b.cfg.ReconnectMax {
			delay = b.cfg.ReconnectMin
			continue
		}
		if !retry.Sleep(b.ctx, jitter(delay)) {
			return
		}
		delay = min(2*delay, b.cfg.ReconnectMax)
	}
}

// jitter returns a duration between d/2 and d.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// session is one generation of connections: a connection for publishing and one for
// consuming (so that flow control on publishers never holds back acknowledgements), the
// confirm channel, and watchers of their notifications. Any failure kills the whole
// session; the supervisor then builds a new one.
type session struct {
	pubConn, conConn *amqp.Connection
	pub              *publisher
	blocked          atomic.Bool // the server blocks the publishing connection

	dead chan struct{} // closed by fail
	once sync.Once
	err  error // why the session died; read after dead is closed

	wg sync.WaitGroup // watchers
}

// connect opens a session and declares the topology. On an error it returns no session:
// what it had opened is closed.
func (b *Broker) connect() (s *session, err error) {
	s = &session{dead: make(chan struct{})}
	defer func() {
		if err != nil {
			s.close()
			s = nil // not a session for supervise to install: it has no publisher
		}
	}()
	if s.pubConn, err = b.dial("publish"); err != nil {
		return s, err
	}
	if s.conConn, err = b.dial("consume"); err != nil {
		return s, err
	}
	ch, err := s.pubConn.Channel()
	if err != nil {
		return s, fmt.Errorf("open channel: %w", err)
	}
	if err := declare(ch, b.cfg); err != nil {
		return s, err
	}
	if err := ch.Close(); err != nil {
		return s, fmt.Errorf("close declaring channel: %w", err)
	}
	if s.pub, err = newPublisher(s.pubConn); err != nil {
		return s, err
	}
	s.watchConn(s.pubConn, true)
	s.watchConn(s.conConn, false)
	s.wg.Go(func() {
		<-s.pub.done
		s.fail(errors.New("publish channel closed"))
	})
	return s, nil
}

func (b *Broker) dial(role string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(b.cfg.Name + " " + role)
	conn, err := amqp.DialConfig(b.cfg.URL, amqp.Config{
		Heartbeat:  b.cfg.Heartbeat,
		Properties: props,
		Dial:       amqp.DefaultDial(b.cfg.ConnectTimeout),
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s (%s): %w", redact(b.cfg.URL), role, err)
	}
	return conn, nil
}

// watchConn drains conn's close and blocked notifications until it closes; a close kills
// the session.
func (s *session) watchConn(conn *amqp.Connection, publishing bool) {
	closes := conn.NotifyClose(make(chan *amqp.Error, 1))
	blocks := conn.NotifyBlocked(make(chan amqp.Blocking, 8))
	s.wg.Go(func() {
		for {
			select {
			case e, ok := <-closes:
				if ok && e != nil {
					s.fail(e)
				} else {
					s.fail(amqp.ErrClosed)
				}
				return
			case bl, ok := <-blocks:
				if !ok {
					blocks = nil
					continue
				}
				if publishing {
					s.blocked.Store(bl.Active)
				}
			}
		}
	})
}

// fail marks the session dead with err, once.
func (s *session) fail(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.dead)
	})
}

// close closes the session's connections (in-flight publishes fail) and waits for its
// watchers.
func (s *session) close() {
	s.fail(errors.New("closed"))
	deadline := time.Now().Add(2 * time.Second)
	for _, c := range []*amqp.Connection{s.pubConn, s.conConn} {
		if c != nil {
			_ = c.CloseDeadline(deadline) // an error means it was closed already
		}
	}
	if s.pub != nil {
		<-s.pub.done
	}
	s.wg.Wait()
}

// redact returns u with its password hidden.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}
