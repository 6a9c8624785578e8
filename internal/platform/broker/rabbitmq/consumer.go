package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/eventpost/eventpost/internal/platform/broker"
)

// Run implements broker.Broker: it consumes the queue of every registered consumer, with
// manual acknowledgements, Config.Prefetch and Config.Concurrency handler goroutines per
// queue, on every connection the supervisor makes, until ctx is done. It then stops taking
// deliveries, waits for the handlers in flight (their outcome is acknowledged), closes its
// channels (prefetched messages go back to their queue) and returns nil. Handlers get a
// context that is not canceled with ctx. Run may be called once.
func (b *Broker) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.running {
		b.mu.Unlock()
		return errors.New("rabbitmq: Run called twice")
	}
	b.running = true
	consumers := slices.Clone(b.consumers)
	b.mu.Unlock()
	if len(consumers) == 0 {
		<-ctx.Done()
		return nil
	}
	hctx := context.WithoutCancel(ctx)
	var workers sync.WaitGroup // the workers of every session
	defer workers.Wait()
	for {
		s, changed := b.session()
		if s == nil || s.isDead() {
			select {
			case <-ctx.Done():
				return nil
			case <-changed:
				continue
			}
		}
		c, err := b.consume(hctx, s, consumers, &workers)
		if err != nil {
			b.log.Warn("rabbitmq: cannot start consumers; reconnecting", "err", err)
			s.fail(err)
			continue
		}
		select {
		case <-ctx.Done():
			c.stop()
			workers.Wait()
			c.close()
			return nil
		case <-s.dead:
			// The workers end as the library closes their delivery channels; a handler in
			// flight finishes, but its message can no longer be acknowledged on the dead
			// channel and comes again.
			c.stop()
			c.close()
		}
	}
}

// consumption is the consumers of one session.
type consumption struct {
	channels []*amqp.Channel
	done     chan struct{} // closed by stop: workers take no more deliveries
	once     sync.Once
	watchers sync.WaitGroup
}

func (c *consumption) stop() { c.once.Do(func() { close(c.done) }) }

// close closes the consumer channels; unacknowledged deliveries return to their queues.
func (c *consumption) close() {
	for _, ch := range c.channels {
		_ = ch.Close() // an error means it is closed already
	}
	c.watchers.Wait()
}

// consume opens a channel per consumer on s and starts its workers.
func (b *Broker) consume(ctx context.Context, s *session, consumers []broker.Consumer, workers *sync.WaitGroup) (*consumption, error) {
	c := &consumption{done: make(chan struct{})}
	for _, cons := range consumers {
		ch, err := s.conConn.Channel()
		if err != nil {
			c.stop()
			c.close()
			return nil, fmt.Errorf("open consumer channel: %w", err)
		}
		c.channels = append(c.channels, ch)
		closes := ch.NotifyClose(make(chan *amqp.Error, 1))
		cancels := ch.NotifyCancel(make(chan string, 1))
		c.watchers.Go(func() {
			for {
				select {
				case e, ok := <-closes:
					if ok && e != nil {
						s.fail(fmt.Errorf("consumer channel of %s: %w", cons.Queue, e))
					}
					return
				case _, ok := <-cancels:
					if !ok {
						cancels = nil
						continue
					}
					// The server cancelled the consumer (its queue was deleted): a new
					// session declares the queue again and resumes consuming.
					s.fail(fmt.Errorf("the server cancelled the consumer of %s", cons.Queue))
				}
			}
		})
		if err := ch.Qos(b.cfg.Prefetch, 0, false); err != nil {
			c.stop()
			c.close()
			return nil, fmt.Errorf("qos: %w", err)
		}
		deliveries, err := ch.Consume(b.cfg.Queue(cons.Queue), "", false, false, false, false, nil)
		if err != nil {
			c.stop()
			c.close()
			return nil, fmt.Errorf("consume %s: %w", b.cfg.Queue(cons.Queue), err)
		}
		for range b.cfg.Concurrency {
			workers.Go(func() { b.work(ctx, s, cons, deliveries, c.done) })
		}
	}
	return c, nil
}

// work handles deliveries one at a time until they end or done is closed.
func (b *Broker) work(ctx context.Context, s *session, c broker.Consumer, deliveries <-chan amqp.Delivery, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case d, ok := <-deliveries:
			if !ok {
				return
			}
			select {
			case <-done:
				_ = d.Nack(false, true) // fails only if the channel is gone, which requeues it too
				return
			default:
			}
			b.handle(ctx, s, c, d)
		}
	}
}

// handle runs c's handler on d and settles d: acknowledged on success; on a transient
// error republished to the retry queue of its attempt's delay; on a permanent error, or
// once attempts are exhausted, republished to the dead-letter queue. d is acknowledged only
// once its copy is confirmed, so a crash in between duplicates it rather than losing it.
func (b *Broker) handle(ctx context.Context, s *session, c broker.Consumer, d amqp.Delivery) {
	attempt := attemptOf(d.Headers)
	m, err := decode(d)
	if err == nil {
		m.Attempt = attempt
		var end func(error)
		ctx, end = broker.StartConsume(ctx, m, c.Queue, "rabbitmq")
		if slices.Contains(c.Types, m.Type) {
			err = call(ctx, c.Handle, m)
		} else {
			err = fmt.Errorf("no handler for type %q", m.Type)
		}
		end(err)
	}
	log := b.log.With("queue", c.Queue, "message_id", d.MessageId, "type", d.Type, "attempt", attempt)
	if err == nil {
		if aerr := d.Ack(false); aerr != nil {
			log.WarnContext(ctx, "rabbitmq: ack failed; the message will come again", "err", aerr)
			return
		}
		b.m.acked.WithLabelValues(c.Queue).Inc()
		return
	}
	dead := broker.IsPermanent(err) || attempt >= b.cfg.MaxAttempts
	target, next, delay := b.cfg.DeadQueue(c.Queue), attempt, time.Duration(0)
	if !dead {
		delay = b.cfg.retryDelay(attempt)
		target, next = b.cfg.RetryQueue(c.Queue, delay), attempt+1
	}
	if perr := b.republish(s, d, target, next, err); perr != nil {
		log.ErrorContext(ctx, "rabbitmq: cannot move a failed message; it will come again",
			"to", target, "err", perr, "handler_err", err)
		// Pause before requeueing so that a broken retry path does not spin; the queue's
		// delivery limit dead-letters a message that keeps coming back.
		t := time.NewTimer(time.Second)
		select {
		case <-t.C:
		case <-s.dead:
		}
		t.Stop()
		_ = d.Nack(false, true)
		return
	}
	if aerr := d.Ack(false); aerr != nil {
		log.WarnContext(ctx, "rabbitmq: ack failed after republishing; the message will come twice", "err", aerr)
	}
	if dead {
		b.m.deadLetters.WithLabelValues(c.Queue).Inc()
		log.ErrorContext(ctx, "rabbitmq: message dead-lettered", "to", target, "err", err, "payload", string(m.Payload))
		return
	}
	b.m.retried.WithLabelValues(c.Queue).Inc()
	log.WarnContext(ctx, "rabbitmq: handler failed; will retry", "retry_in", delay.String(), "err", err)
}

// republish publishes a copy of d to queue through the default exchange, with attempt as
// its attempt number and cause as its error, and waits for the confirmation.
func (b *Broker) republish(s *session, d amqp.Delivery, queue string, attempt int, cause error) error {
	headers := amqp.Table{}
	for k, v := range d.Headers {
		if k != "x-death" && k != "x-delivery-count" {
			headers[k] = v
		}
	}
	headers[headerAttempt] = int64(attempt)
	headers[headerError] = truncate(cause.Error(), 1000)
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.PublishTimeout)
	defer cancel()
	return s.pub.publish(ctx, "", queue, amqp.Publishing{
		ContentType:  d.ContentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    d.MessageId,
		Type:         d.Type,
		Timestamp:    d.Timestamp,
		Headers:      headers,
		Body:         d.Body,
	})
}

// decode reads the envelope in d's body; one that does not decode is a permanent error.
func decode(d amqp.Delivery) (broker.Message, error) {
	var m broker.Message
	if err := json.Unmarshal(d.Body, &m); err != nil {
		return m, broker.Permanent(fmt.Errorf("decode message %s: %w", d.MessageId, err))
	}
	if m.ID == "" {
		m.ID = d.MessageId
	}
	// The headers carry the request's identifiers too, and win: they are the transport's.
	if v, ok := d.Headers[headerRequestID].(string); ok && v != "" {
		m.RequestID = v
	}
	if v, ok := d.Headers[headerTraceParent].(string); ok && v != "" {
		m.TraceParent = v
	}
	if m.Type == "" {
		return m, broker.Permanent(fmt.Errorf("message %s has no type", d.MessageId))
	}
	return m, nil
}

// call runs h, turning a panic into an error (the message is retried).
func call(ctx context.Context, h broker.Handler, m broker.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v\n%s", r, debug.Stack())
		}
	}()
	return h(ctx, m)
}

// attemptOf returns the attempt number carried by headers, 1 when there is none.
func attemptOf(h amqp.Table) int {
	var n int64
	switch v := reflect.ValueOf(h[headerAttempt]); v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n = v.Int()
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		n = int64(v.Uint())
	}
	return int(max(n, 1))
}

func (s *session) isDead() bool {
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
