package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/eventpost/eventpost/internal/platform/broker"
)

// Errors of Publish. Each one leaves the message unpublished, or published without the
// broker's word on it: the caller (the outbox relay) publishes it again later. Those that say
// the server cannot take any message now wrap broker.ErrUnavailable.
var (
	// ErrNotConnected: the broker is not connected to the server at the moment.
	ErrNotConnected = fmt.Errorf("rabbitmq: not connected (%w)", broker.ErrUnavailable)
	// ErrConnectionLost: the connection or channel closed before the server confirmed.
	ErrConnectionLost = fmt.Errorf("rabbitmq: connection lost before the server confirmed (%w)", broker.ErrUnavailable)
	// ErrNacked: the server refused the message (basic.nack), e.g. a queue without a leader.
	ErrNacked = errors.New("rabbitmq: the server refused the message")
	// ErrUnroutable: no queue is bound for the message (it was published mandatory and
	// returned).
	ErrUnroutable = errors.New("rabbitmq: message is unroutable")
	// ErrBlocked: the server blocks publishers (a memory or disk alarm).
	ErrBlocked = fmt.Errorf("rabbitmq: the server blocks publishers (%w)", broker.ErrUnavailable)
)

// returnKey identifies which publish a basic.return is about.
type returnKey struct{ exchange, key, messageID string }

// pending is a publish waiting for its confirmation.
type pending struct {
	key    returnKey
	result chan error // buffered: the confirm loop never blocks on it
}

// publisher publishes on one channel in confirm mode. Any number of goroutines publish at
// once; their messages are pipelined, each caller waiting only for its own confirmation.
// One goroutine (loop) owns the channel's notifications: it drains returns and confirms
// until the channel closes, then fails every publish still waiting.
type publisher struct {
	ch *amqp.Channel

	send sync.Mutex // serializes basic.publish so that pending tags follow the channel's sequence

	mu      sync.Mutex
	pending map[uint64]*pending
	closed  error // set once the loop ended: every later publish fails with it

	done chan struct{} // closed when loop has returned
}

// notifyBuffer is the capacity of the notification channels handed to the library; they are
// always drained, the buffer only smooths bursts.
const notifyBuffer = 256

func newPublisher(conn *amqp.Connection) (*publisher, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open publish channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("confirm mode: %w", err)
	}
	p := &publisher{ch: ch, pending: make(map[uint64]*pending), done: make(chan struct{})}
	returns := ch.NotifyReturn(make(chan amqp.Return, notifyBuffer))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, notifyBuffer))
	go p.loop(returns, confirms)
	return p, nil
}

// loop resolves pending publishes. The library hands a message's basic.return to returns
// before it handles the basic.ack that follows it, so draining returns before resolving a
// confirmation is enough to know whether that message was returned.
func (p *publisher) loop(returns <-chan amqp.Return, confirms <-chan amqp.Confirmation) {
	defer close(p.done)
	rb := &returnBuffer{returns: returns}
	for {
		select {
		case r, ok := <-rb.returns:
			rb.receive(r, ok)
		case c, ok := <-confirms:
			if !ok {
				p.fail(ErrConnectionLost)
				// Returns is closed at the same time; drain it so nothing can block on it.
				rb.discard()
				return
			}
			rb.drain()
			p.resolve(c, rb)
		}
	}
}

// resolve hands confirmation c to the publish waiting for it, if any: nil when the server
// acknowledged the message and did not return it.
func (p *publisher) resolve(c amqp.Confirmation, rb *returnBuffer) {
	p.mu.Lock()
	pd := p.pending[c.DeliveryTag]
	delete(p.pending, c.DeliveryTag)
	p.mu.Unlock()
	if pd == nil {
		return
	}
	err := ErrNacked
	if c.Ack {
		err = rb.unroutable(pd.key)
	}
	pd.result <- err
}

// returnBuffer holds the basic.returns received and not yet matched to their confirmation.
type returnBuffer struct {
	returns <-chan amqp.Return // nil once closed
	held    []amqp.Return
}

// receive handles one receive from returns; ok is false when returns is closed.
func (b *returnBuffer) receive(r amqp.Return, ok bool) {
	if !ok {
		b.returns = nil
		return
	}
	// Returns not matched by then are forgotten: each is followed by its confirmation.
	if len(b.held) >= 4*notifyBuffer {
		b.held = b.held[1:]
	}
	b.held = append(b.held, r)
}

// drain takes every return already waiting, without blocking.
func (b *returnBuffer) drain() {
	for b.returns != nil {
		select {
		case r, ok := <-b.returns:
			b.receive(r, ok)
		default:
			return
		}
	}
}

// discard receives and drops returns until the channel closes.
func (b *returnBuffer) discard() {
	if b.returns == nil {
		return
	}
	for range b.returns {
	}
}

// unroutable removes the held return of the publish key and reports it as ErrUnroutable;
// it returns nil when that publish was not returned.
func (b *returnBuffer) unroutable(key returnKey) error {
	for i, r := range b.held {
		if (returnKey{r.Exchange, r.RoutingKey, r.MessageId}) == key {
			b.held = append(b.held[:i], b.held[i+1:]...)
			return fmt.Errorf("%w: %s (%d)", ErrUnroutable, r.ReplyText, r.ReplyCode)
		}
	}
	return nil
}

// fail fails every pending publish with err and every later one too.
func (p *publisher) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed == nil {
		p.closed = err
	}
	for tag, pd := range p.pending {
		pd.result <- err
		delete(p.pending, tag)
	}
}

// publish publishes msg mandatory and waits until the server confirmed it, ctx is done or
// the channel closed.
func (p *publisher) publish(ctx context.Context, exchange, key string, msg amqp.Publishing) error {
	pd := &pending{key: returnKey{exchange, key, msg.MessageId}, result: make(chan error, 1)}
	p.send.Lock()
	p.mu.Lock()
	if err := p.closed; err != nil {
		p.mu.Unlock()
		p.send.Unlock()
		return err
	}
	tag := p.ch.GetNextPublishSeqNo()
	p.pending[tag] = pd
	p.mu.Unlock()
	err := p.ch.PublishWithContext(ctx, exchange, key, true, false, msg)
	if err != nil {
		p.mu.Lock()
		delete(p.pending, tag)
		p.mu.Unlock()
	}
	p.send.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		// The frame could not be written: the channel or the connection is gone.
		return fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	select {
	case err := <-pd.result:
		return err
	case <-ctx.Done():
		// The confirmation may still come: it then finds no pending entry.
		p.mu.Lock()
		delete(p.pending, tag)
		p.mu.Unlock()
		return ctx.Err()
	}
}
