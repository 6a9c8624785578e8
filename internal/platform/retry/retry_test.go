package retry_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/retry"
)

func TestBackoff(t *testing.T) {
	lo, hi := 250*time.Millisecond, 15*time.Second
	for failures, want := range map[int]time.Duration{0: lo, 1: lo, 2: 2 * lo, 3: 4 * lo, 10: hi, 1000: hi} {
		got := retry.Backoff(lo, hi, failures)
		if got < want*8/10 || got > want*12/10 {
			t.Errorf("Backoff after %d failures = %s; want %s ±20%%", failures, got, want)
		}
	}
}

func TestSleep(t *testing.T) {
	if !retry.Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep with a live context reported it done")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if retry.Sleep(ctx, time.Hour) {
		t.Error("Sleep with a cancelled context reported it live")
	}
	if retry.Sleep(ctx, 0) {
		t.Error("Sleep(0) with a cancelled context reported it live")
	}
}
