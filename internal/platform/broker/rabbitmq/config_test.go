package rabbitmq

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/eventpost/eventpost/internal/platform/broker"
)

func TestNames(t *testing.T) {
	cfg := Config{
		Prefix:      "p",
		Bindings:    []broker.Binding{{Queue: "q", Types: []string{"t"}}},
		RetryDelays: []time.Duration{250 * time.Millisecond, 5 * time.Second, 2 * time.Minute, 2 * time.Minute, time.Hour},
	}
	if got := cfg.Exchange(); got != "p" {
		t.Errorf("Exchange = %q, want p", got)
	}
	want := []string{"p.q", "p.q.dead", "p.q.retry.250ms", "p.q.retry.5s", "p.q.retry.2m", "p.q.retry.1h"}
	if diff := cmp.Diff(want, cfg.QueueNames()); diff != "" {
		t.Errorf("QueueNames (-want +got):\n%s", diff)
	}
	if def := (Config{}).QueueNames(); len(def) != 0 {
		t.Errorf("QueueNames without bindings = %v, want none", def)
	}
}

func TestRetryDelayOfAttempt(t *testing.T) {
	cfg := Config{RetryDelays: []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 5 * time.Second, 3: 30 * time.Second, 9: 30 * time.Second} {
		if got := cfg.retryDelay(attempt); got != want {
			t.Errorf("retryDelay(%d) = %s, want %s", attempt, got, want)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	bindings := []broker.Binding{{Queue: "q", Types: []string{"t"}}}
	got, err := Config{URL: "amqp://x", Bindings: bindings}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.URL, want.Bindings = "amqp://x", bindings
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("withDefaults (-want +got):\n%s", diff)
	}
	for name, cfg := range map[string]Config{
		"no URL":           {Bindings: bindings},
		"no bindings":      {URL: "amqp://x"},
		"negative":         {URL: "amqp://x", Bindings: bindings, Prefetch: -1},
		"backoff reversed": {URL: "amqp://x", Bindings: bindings, ReconnectMin: time.Second, ReconnectMax: time.Millisecond},
		"duplicate queue":  {URL: "amqp://x", Bindings: []broker.Binding{{Queue: "q", Types: []string{"a"}}, {Queue: "q", Types: []string{"b"}}}},
		"fractional delay": {URL: "amqp://x", Bindings: bindings, RetryDelays: []time.Duration{1500 * time.Microsecond}},
	} {
		if _, err := cfg.withDefaults(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: withDefaults = %v, want ErrConfig", name, err)
		}
	}
}

func TestAttemptOf(t *testing.T) {
	tests := []struct {
		headers amqp.Table
		want    int
	}{
		{nil, 1},
		{amqp.Table{"x-attempt": int64(4)}, 4},
		{amqp.Table{"x-attempt": int32(2)}, 2},
		{amqp.Table{"x-attempt": int16(3)}, 3},
		{amqp.Table{"x-attempt": "7"}, 1},
		{amqp.Table{"x-attempt": int64(0)}, 1},
	}
	for _, tt := range tests {
		if got := attemptOf(tt.headers); got != tt.want {
			t.Errorf("attemptOf(%v) = %d, want %d", tt.headers, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := redact("amqp://guest:secret@host:5672/"); got != "amqp://guest:xxxxx@host:5672/" {
		t.Errorf("redact = %q", got)
	}
}
