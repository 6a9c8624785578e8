// Package broker carries messages between services: email work and domain events. Producers
// never publish directly; they write messages to their transactional outbox (package outbox),
// whose relay publishes them through a Publisher. Consumers are handlers registered for a
// queue and the message types it takes; they are acknowledged only after they return nil, so
// they must be idempotent. The in-process broker here serves the all-in-one mode.
package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/eventpost/eventpost/internal/platform/logging"
)

// Message is the envelope of everything that crosses the broker.
type Message struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Time        time.Time       `json:"time"`
	RequestID   string          `json:"request_id,omitempty"`
	TraceParent string          `json:"traceparent,omitempty"`
	Payload     json.RawMessage `json:"payload"`
	// Attempt is the delivery attempt, starting at 1; set by the broker, not serialized.
	Attempt int `json:"-"`
}

// NewMessage returns a message of type typ with payload encoded as JSON, a fresh UUIDv7 ID,
// the current time, and the request ID and trace context (the W3C traceparent of its span)
// carried by ctx.
func NewMessage(ctx context.Context, typ string, payload any) (Message, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return Message{}, fmt.Errorf("encode %s message: %w", typ, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Message{}, fmt.Errorf("new message id: %w", err)
	}
	return Message{
		ID: id.String(), Type: typ, Time: time.Now().UTC(),
		RequestID: logging.RequestID(ctx), TraceParent: TraceParent(ctx), Payload: b,
	}, nil
}

// Decode decodes the payload of m into v. A payload that does not decode is a permanent
// error: delivering it again cannot help.
func (m Message) Decode(v any) error {
	if err := json.Unmarshal(m.Payload, v); err != nil {
		return Permanent(fmt.Errorf("decode %s message %s: %w", m.Type, m.ID, err))
	}
	return nil
}

// Binding is one queue of a topology and the message types routed to it. The application
// declares its topology (messages.Bindings) and hands it to the broker.
type Binding struct {
	Queue string
	Types []string
}

// Handler handles one delivered message. It returns nil to acknowledge it, a Permanent error
// to reject it for good (it is dead-lettered), and any other error to have it delivered
// again later.
type Handler func(ctx context.Context, m Message) error

// Delivery is one message handed to a BatchHandler, with the context its Handler would get:
// its request ID and consumer span (see StartConsume), and the publisher's cancellation.
type Delivery struct {
	Ctx context.Context
	Message
}

// BatchHandler handles several delivered messages at once, so that their work can share
// transactions, and returns one error per delivery, each with the meaning of a Handler's.
// ctx is for the work of the batch as a whole; it is not cancelled.
type BatchHandler func(ctx context.Context, ds []Delivery) []error

// Consumer is a handler bound to a named queue that receives the listed message types.
type Consumer struct {
	Queue  string
	Types  []string
	Handle Handler
	// HandleBatch, when set, is given the messages a broker has for the consumer at once: the
	// in-process broker gathers the messages published while the consumer's previous batches
	// run (see InProcess). Handle serves a broker that delivers one at a time (RabbitMQ).
	HandleBatch BatchHandler
}

// Publisher publishes a message; it returns nil only once the message is safely handed over
// (in-process: handled by every consumer; RabbitMQ: confirmed by the broker).
type Publisher interface {
	Publish(ctx context.Context, m Message) error
}

// Broker is a Publisher that also delivers to registered consumers.
type Broker interface {
	Publisher
	// Register adds a consumer; call it before Run.
	Register(c Consumer) error
	// Run delivers messages until ctx is done.
	Run(ctx context.Context) error
}

// ErrUnavailable is wrapped by the errors of a Publisher that cannot take any message at the
// moment — not connected, connection lost, publishers blocked — as opposed to an error about
// one message: the caller tries again soon, without counting it against the message.
var ErrUnavailable = errors.New("the broker is unavailable")

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// InProcess is the all-in-one mode's broker: Publish hands the message to every consumer of
// its type, in the caller's goroutine, and succeeds when all of them acknowledged it. A
// consumer that already acknowledged a message is not given it again when Publish is retried
// for the consumers that failed. Durability comes from the producer's outbox, which keeps a
// message until Publish succeeds.
//
// A consumer with a HandleBatch gets the messages of concurrent Publish calls together, through
// a Batcher. The outbox relay publishes many messages at once, so their handling shares
// transactions.
type InProcess struct {
	log         *slog.Logger
	deadLetters func(queue string)

	mu        sync.Mutex
	consumers []Consumer
	batchers  []*Batcher           // batchers[i] serves consumers[i] when it has a HandleBatch
	done      map[string]time.Time // message ID + "\x00" + queue → when acknowledged
}

// NewInProcess returns an empty in-process broker. deadLetters, when not nil, is called with
// the queue of every dead-lettered message, for metrics.
func NewInProcess(log *slog.Logger, deadLetters func(queue string)) *InProcess {
	return &InProcess{
		log: log, deadLetters: deadLetters, done: make(map[string]time.Time),
	}
}

// Register implements Broker.
func (b *InProcess) Register(c Consumer) error {
	if c.Queue == "" || len(c.Types) == 0 || c.Handle == nil {
		return fmt.Errorf("register consumer %q: queue, types and handler are required", c.Queue)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var bt *Batcher
	if c.HandleBatch != nil {
		bt = NewBatcher(c.HandleBatch)
	}
	b.consumers = append(b.consumers, c)
	b.batchers = append(b.batchers, bt)
	return nil
}

// Run implements Broker; the in-process broker delivers in Publish, so Run only forgets
// old acknowledgements until ctx is done.
func (b *InProcess) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			b.mu.Lock()
			for k, at := range b.done {
				if now.Sub(at) > time.Hour {
					delete(b.done, k)
				}
			}
			b.mu.Unlock()
		}
	}
}

// Publish implements Publisher. A consumer's permanent error dead-letters the message for
// that consumer: it is logged with its payload and counted, and not delivered again.
func (b *InProcess) Publish(ctx context.Context, m Message) error {
	b.mu.Lock()
	consumers, batchers := slices.Clone(b.consumers), slices.Clone(b.batchers)
	b.mu.Unlock()
	var errs []error
	for i, c := range consumers {
		if !slices.Contains(c.Types, m.Type) {
			continue
		}
		key := m.ID + "\x00" + c.Queue
		b.mu.Lock()
		_, handled := b.done[key]
		b.mu.Unlock()
		if handled {
			continue
		}
		hctx, end := StartConsume(ctx, m, c.Queue, "eventpost.inprocess")
		var err error
		if bt := batchers[i]; bt != nil {
			err = bt.Deliver(Delivery{Ctx: hctx, Message: m})
		} else {
			err = c.Handle(hctx, m)
		}
		end(err)
		if err != nil {
			if !IsPermanent(err) {
				errs = append(errs, fmt.Errorf("%s: %w", c.Queue, err))
				continue
			}
			b.log.ErrorContext(hctx, "message dead-lettered", "queue", c.Queue, "message_id", m.ID,
				"type", m.Type, "payload", string(m.Payload), "err", err)
			if b.deadLetters != nil {
				b.deadLetters(c.Queue)
			}
		}
		b.mu.Lock()
		b.done[key] = time.Now()
		b.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Bounds of a Batcher's batches: how many messages one batch takes at most, and how many
// batches run at a time (while one waits for its commit, the next does its work).
const (
	maxBatch     = 256
	maxBatchRuns = 2
)

// Batcher gathers the deliveries of concurrent calls to one consumer into batches for its
// BatchHandler: each Deliver queues its delivery and waits for its outcome; up to
// maxBatchRuns batches run at a time, each taking what queued meanwhile (up to maxBatch
// deliveries). The in-process broker uses it for consumers that have a HandleBatch; the
// RabbitMQ consumer does not (see rabbitmq's package documentation).
type Batcher struct {
	handle BatchHandler

	mu      sync.Mutex
	queue   []pendingDelivery
	running int // batches running
}

// NewBatcher returns a Batcher that hands its batches to handle.
func NewBatcher(handle BatchHandler) *Batcher { return &Batcher{handle: handle} }

type pendingDelivery struct {
	d    Delivery
	done chan error // buffered
}

// Deliver queues d, starts a batch run unless maxBatchRuns run already (one of them takes d
// when it is done), and returns d's outcome.
func (bt *Batcher) Deliver(d Delivery) error {
	p := pendingDelivery{d: d, done: make(chan error, 1)}
	bt.mu.Lock()
	bt.queue = append(bt.queue, p)
	if bt.running < maxBatchRuns {
		bt.running++
		go bt.run()
	}
	bt.mu.Unlock()
	return <-p.done
}

// run handles batches of the queue until it is empty.
func (bt *Batcher) run() {
	for {
		bt.mu.Lock()
		n := min(len(bt.queue), maxBatch)
		if n == 0 {
			bt.running--
			bt.mu.Unlock()
			return
		}
		batch := slices.Clone(bt.queue[:n])
		bt.queue = slices.Delete(bt.queue, 0, n)
		bt.mu.Unlock()
		bt.handleBatch(batch)
	}
}

// handleBatch runs the handler on batch and tells each delivery its outcome; a panic of the
// handler fails every delivery of the batch (they come again) instead of the process.
func (bt *Batcher) handleBatch(batch []pendingDelivery) {
	ds := make([]Delivery, len(batch))
	for i, p := range batch {
		ds[i] = p.d
	}
	errs := func() (errs []error) {
		defer func() {
			if v := recover(); v != nil {
				errs = nil
				for range batch {
					errs = append(errs, fmt.Errorf("batch handler panicked: %v", v))
				}
			}
		}()
		return bt.handle(context.WithoutCancel(ds[0].Ctx), ds)
	}()
	for i, p := range batch {
		if i < len(errs) {
			p.done <- errs[i]
		} else {
			p.done <- errors.New("batch handler returned no outcome for the message")
		}
	}
}
