package kvconfig_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/discovery/consultest"
	"github.com/eventpost/eventpost/internal/platform/kvconfig"
	"github.com/eventpost/eventpost/internal/platform/logging/logtest"
)

func eventually(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatcherLive: against a Consul agent, a stored value is applied at Load, a change is
// applied while the watcher runs, an invalid value is logged and ignored with the last good
// value staying, and a deleted key reverts to the base value.
func TestWatcherLive(t *testing.T) {
	c := consultest.Client(t)
	prefix := consultest.KVPrefix(t, c)
	kv := c.KV()
	put := func(key, value string) {
		t.Helper()
		if _, err := kv.Put(&api.KVPair{Key: prefix + key, Value: []byte(value)}, nil); err != nil {
			t.Fatal(err)
		}
	}

	var limit atomic.Int64
	limit.Store(10) // the environment's value
	setLimit := func(n int) error {
		if n < 1 || n > 100 {
			return errors.New("want 1 to 100")
		}
		limit.Store(int64(n))
		return nil
	}
	var level slog.LevelVar
	logs := &logtest.Buffer{}
	w, err := kvconfig.New(c, kvconfig.Config{Prefix: prefix, Keys: map[string]kvconfig.Key{
		"limit":     kvconfig.Int(10, setLimit),
		"log_level": kvconfig.LogLevel(slog.LevelInfo, &level),
	}}, slog.New(slog.NewJSONHandler(logs, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}

	put("limit", "20")
	if err := w.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := limit.Load(); got != 20 {
		t.Fatalf("after Load, limit = %d; want the stored 20", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	is := func(n int64) func() bool { return func() bool { return limit.Load() == n } }

	put("limit", "30")
	eventually(t, 5*time.Second, is(30), "the change to 30 was not applied")

	put("log_level", "debug")
	eventually(t, 5*time.Second, func() bool { return level.Level() == slog.LevelDebug }, "log_level debug not applied")

	put("limit", "1000")
	eventually(t, 5*time.Second, func() bool {
		return strings.Contains(logs.String(), `"value":"1000"`) && strings.Contains(logs.String(), `"level":"WARN"`)
	}, "the invalid value was not logged as a warning")
	if got := limit.Load(); got != 30 {
		t.Errorf("after an invalid value, limit = %d; want the last good 30", got)
	}

	put("limit", "40")
	eventually(t, 5*time.Second, is(40), "the change to 40 was not applied")

	if _, err := kv.Delete(prefix+"limit", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, is(10), "the deleted key did not revert to the environment's 10")
	if level.Level() != slog.LevelDebug {
		t.Errorf("deleting limit changed log_level to %v", level.Level())
	}
}
