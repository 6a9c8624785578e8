package wakeup_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/wakeup"
)

func TestLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := wakeup.New()
	stepped := make(chan struct{}, 10)
	done := make(chan error)
	go func() {
		done <- wakeup.Loop(ctx, s, 0, func(context.Context) time.Duration {
			stepped <- struct{}{}
			return time.Hour
		})
	}()
	<-stepped // the first step runs at once
	for range 5 {
		s.Wake() // never blocks
	}
	select {
	case <-stepped: // a wake runs the next step long before its hour is up
	case <-time.After(10 * time.Second):
		t.Fatal("no step after a wake")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Loop: %v", err)
	}
}

func TestLoopLingers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := wakeup.New()
	stepped := make(chan time.Time, 10)
	go func() {
		_ = wakeup.Loop(ctx, s, 50*time.Millisecond, func(context.Context) time.Duration {
			stepped <- time.Now()
			return time.Hour
		})
	}()
	<-stepped
	woken := time.Now()
	s.Wake()
	if at := <-stepped; at.Sub(woken) < 50*time.Millisecond {
		t.Errorf("step %v after the wake, want at least the linger", at.Sub(woken))
	}
}
