// Package retry holds the two pieces every retry loop of EventPost shares: an exponential
// backoff with jitter, and a sleep that ends early when its context does.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff returns the wait after the failures-th failure in a row (1 for the first): lo
// doubling at each failure, capped at hi, with ±20% jitter so that many clients failing
// together do not retry together.
func Backoff(lo, hi time.Duration, failures int) time.Duration {
	d := min(lo<<min(max(failures-1, 0), 20), hi)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Sleep waits for d or until ctx is done, and reports whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
