// Package wakeup runs the loops that do a piece of work when it falls due or when they are
// woken, whichever comes first: the outbox relay and the reminder scheduler.
package wakeup

import (
	"context"
	"time"
)

// Signal wakes a Loop. Make it with New.
type Signal chan struct{}

// New returns a Signal.
func New() Signal { return make(Signal, 1) }

// Wake wakes the Loop waiting on s without blocking; wakes that come while it is busy count
// as one.
func (s Signal) Wake() {
	select {
	case s <- struct{}{}:
	default:
	}
}

// Loop calls step at once, then again when the wait step returned has passed or when s is
// woken, until ctx is done; then it returns nil. After a wake it waits linger more (or until
// ctx is done), so that a burst of wakes is served by one step.
func Loop(ctx context.Context, s Signal, linger time.Duration, step func(context.Context) time.Duration) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s:
			if linger > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(linger):
				}
			}
		case <-timer.C:
		}
		timer.Reset(step(ctx))
	}
}
