package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/logging"
)

// batchRecorder is a batch consumer that holds every batch until released and records the
// IDs of each batch it was given.
type batchRecorder struct {
	release chan struct{}
	mu      sync.Mutex
	batches [][]string
}

func (r *batchRecorder) handle(_ context.Context, ds []Delivery) []error {
	<-r.release
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	errs := make([]error, len(ds))
	for i, d := range ds {
		ids = append(ids, d.ID)
		switch string(d.Payload) {
		case `"fail"`:
			errs[i] = errors.New("try again")
		case `"refuse"`:
			errs[i] = Permanent(errors.New("never"))
		case `"panic"`:
			panic("boom")
		}
	}
	r.batches = append(r.batches, ids)
	return errs
}

func message(t *testing.T, payload string) Message {
	t.Helper()
	m, err := NewMessage(context.Background(), "t.x", payload)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInProcessGathersBatches: the messages published while a consumer's batches run are
// handed to it together in the next batch, and each Publish returns its own message's
// outcome.
func TestInProcessGathersBatches(t *testing.T) {
	var dead []string
	b := NewInProcess(logging.Discard(), func(q string) { dead = append(dead, q) })
	rec := &batchRecorder{release: make(chan struct{})}
	if err := b.Register(Consumer{Queue: "q", Types: []string{"t.x"}, Handle: func(context.Context, Message) error {
		t.Error("Handle called for a consumer with a HandleBatch")
		return nil
	}, HandleBatch: rec.handle}); err != nil {
		t.Fatal(err)
	}
	ms := []Message{message(t, "first"), message(t, "second")}
	for range 6 {
		ms = append(ms, message(t, "ok"))
	}
	ms = append(ms, message(t, "fail"), message(t, "refuse"))
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	publish := func(i int) { wg.Go(func() { errs[i] = b.Publish(context.Background(), ms[i]) }) }
	bt := b.batchers[0]
	queued := func(n, runs int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			bt.mu.Lock()
			got, running := len(bt.queue), bt.running
			bt.mu.Unlock()
			if got == n && running == runs {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d queued with %d batches running, want %d and %d", got, running, n, runs)
			}
		}
	}
	// The first two messages start the two runs; the rest queue behind them.
	publish(0)
	queued(0, 1)
	publish(1)
	queued(0, maxBatchRuns)
	for i := 2; i < len(ms); i++ {
		publish(i)
	}
	queued(len(ms)-2, maxBatchRuns)
	close(rec.release)
	wg.Wait()

	sizes := []int{}
	for _, ids := range rec.batches {
		sizes = append(sizes, len(ids))
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{1, 1, len(ms) - 2}) {
		t.Errorf("batch sizes %v, want [1 1 %d]", sizes, len(ms)-2)
	}
	for i, err := range errs {
		switch want := string(ms[i].Payload); {
		case want == `"fail"`:
			if err == nil {
				t.Errorf("Publish of a message that failed = nil, want its error")
			}
		case err != nil:
			t.Errorf("Publish of %s: %v", want, err)
		}
	}
	if !slices.Equal(dead, []string{"q"}) {
		t.Errorf("dead letters %v, want the refused message's queue", dead)
	}

	// Published again, only the message that failed reaches the consumer.
	rec.batches = nil
	for _, m := range ms {
		if err := b.Publish(context.Background(), m); err != nil && string(m.Payload) != `"fail"` {
			t.Errorf("Publish again: %v", err)
		}
	}
	if want := [][]string{{ms[len(ms)-2].ID}}; fmt.Sprint(rec.batches) != fmt.Sprint(want) {
		t.Errorf("published again, the consumer got %v, want %v", rec.batches, want)
	}
}

// TestInProcessBatchPanicFailsTheBatch: a batch handler that panics fails the messages of
// its batch, which can be published again, instead of the process.
func TestInProcessBatchPanicFailsTheBatch(t *testing.T) {
	b := NewInProcess(logging.Discard(), nil)
	rec := &batchRecorder{release: make(chan struct{})}
	close(rec.release)
	if err := b.Register(Consumer{Queue: "q", Types: []string{"t.x"}, Handle: func(context.Context, Message) error { return nil },
		HandleBatch: rec.handle}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), message(t, "panic")); err == nil {
		t.Error("Publish of a message whose handler panicked = nil, want an error")
	}
	if err := b.Publish(context.Background(), message(t, "ok")); err != nil {
		t.Errorf("Publish after a panic: %v", err)
	}
}
