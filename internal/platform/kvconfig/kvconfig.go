// Package kvconfig applies configuration from Consul's key/value store while a process runs.
// A Watcher follows the keys under one prefix — eventpost/config/<service>/ — with blocking
// queries and hands each changed value to its Key, which checks it and puts it in force. A
// value that does not check is logged and ignored: the last good value stays. A deleted key
// puts the base value, from the environment, back in force.
package kvconfig

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/metrics"
	"github.com/eventpost/eventpost/internal/platform/retry"
)

// Prefix returns the KV prefix of service's configuration in a system: <system>/config/<service>/,
// such as eventpost/config/gateway/.
func Prefix(system, service string) string { return system + "/config/" + service + "/" }

// Key is one configuration key.
type Key struct {
	// Apply checks value (trimmed of surrounding space) and, when it is valid, puts it in
	// force; when it is not, it returns an error and changes nothing.
	Apply func(value string) error
	// Reset puts the base value back in force: the key was deleted.
	Reset func() error
}

// Config configures a Watcher.
type Config struct {
	// Prefix is the KV prefix watched, ending with a slash (see Prefix).
	Prefix string
	// Keys are the keys known under Prefix, by their name below it.
	Keys map[string]Key
	// WaitTime is how long one blocking query may wait for a change. Default 1 minute.
	WaitTime time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed query, which doubles from
	// MinBackoff at each failure in a row. Defaults 250 ms and 15 s.
	MinBackoff, MaxBackoff time.Duration
}

// Watcher applies the keys under a prefix as they change.
type Watcher struct {
	client *api.Client
	cfg    Config
	log    *slog.Logger

	mu     sync.Mutex
	index  uint64
	seen   map[string]string // key → the raw value last handled, valid or not
	fromKV map[string]bool   // key → its value in force came from the KV store

	updates *prometheus.CounterVec
	errors  prometheus.Counter
}

// New returns a watcher of cfg.Prefix through client. Its metrics — kvconfig_updates_total by
// key and result (applied, rejected, reverted, unknown) and kvconfig_watch_errors_total — are
// registered with reg.
func New(client *api.Client, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Watcher, error) {
	if client == nil || log == nil || reg == nil {
		return nil, errors.New("kvconfig: a Consul client, a logger and a registry are required")
	}
	if cfg.Prefix == "" || !strings.HasSuffix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("kvconfig: prefix %q must end with a slash", cfg.Prefix)
	}
	for name, k := range cfg.Keys {
		if k.Apply == nil || k.Reset == nil {
			return nil, fmt.Errorf("kvconfig: key %s needs Apply and Reset", name)
		}
	}
	if cfg.WaitTime <= 0 {
		cfg.WaitTime = time.Minute
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(15*time.Second, cfg.MinBackoff)
	}
	w := &Watcher{
		client: client, cfg: cfg, log: log.With("kv_prefix", cfg.Prefix),
		seen: map[string]string{}, fromKV: map[string]bool{},
		updates: metrics.NewCounterVec("kvconfig_updates_total",
			"Configuration values read from Consul's KV store, by key and result: applied, rejected (invalid, ignored), reverted (deleted: back to the environment's value) or unknown.",
			"key", "result"),
		errors: metrics.NewCounter("kvconfig_watch_errors_total", "Failed queries of Consul's KV store for the configuration."),
	}
	for _, c := range []prometheus.Collector{w.updates, w.errors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("kvconfig: register metrics: %w", err)
		}
	}
	return w, nil
}

// Load reads the keys once, without waiting for a change, and applies them. Call it before
// serving so that the process starts with the stored configuration; Run goes on from there.
func (w *Watcher) Load(ctx context.Context) error {
	w.mu.Lock()
	index := w.index
	w.mu.Unlock()
	if index != 0 {
		return nil
	}
	pairs, meta, err := w.client.KV().List(w.cfg.Prefix, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("kvconfig: read %s: %w", w.cfg.Prefix, err)
	}
	w.apply(ctx, pairs, meta.LastIndex)
	return nil
}

// minQueryGap is the least time between two queries, so that a misbehaving index does not
// make the watch spin.
const minQueryGap = 10 * time.Millisecond

// Run applies every change of the keys until ctx is done, then returns nil. Failed queries
// are logged and retried with backoff; the values in force stay meanwhile.
func (w *Watcher) Run(ctx context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		start := time.Now()
		w.mu.Lock()
		index := w.index
		w.mu.Unlock()
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: w.cfg.WaitTime}).WithContext(ctx)
		pairs, meta, err := w.client.KV().List(w.cfg.Prefix, q)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			w.errors.Inc()
			wait := retry.Backoff(w.cfg.MinBackoff, w.cfg.MaxBackoff, failures)
			w.log.WarnContext(ctx, "consul KV query failed", "err", err, "retry_in", wait.String())
			retry.Sleep(ctx, wait)
			continue
		}
		failures = 0
		if meta.LastIndex != index {
			w.apply(ctx, pairs, meta.LastIndex)
		}
		retry.Sleep(ctx, minQueryGap-time.Since(start))
	}
	return nil
}

// apply hands every key whose value changed since the last pass to its Key, and resets the
// keys that were deleted.
func (w *Watcher) apply(ctx context.Context, pairs api.KVPairs, index uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// An index going backwards (a Consul restart, a snapshot restore) restarts the watch.
	if index < w.index || index == 0 {
		index = 0
	}
	w.index = index

	current := w.values(pairs)
	for _, name := range slices.Sorted(maps.Keys(current)) {
		value := current[name]
		if last, ok := w.seen[name]; ok && last == value {
			continue
		}
		w.seen[name] = value
		w.applyKey(ctx, name, value)
	}
	var gone []string
	for name := range w.seen {
		if _, ok := current[name]; !ok {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	for _, name := range gone {
		delete(w.seen, name)
		if w.fromKV[name] {
			w.resetKey(ctx, name)
		}
	}
}

// values returns the configuration values of pairs by key name, without the prefix and
// folders.
func (w *Watcher) values(pairs api.KVPairs) map[string]string {
	current := map[string]string{}
	for _, p := range pairs {
		name := strings.TrimPrefix(p.Key, w.cfg.Prefix)
		if name == "" || strings.HasSuffix(name, "/") {
			continue // the prefix itself, or a folder
		}
		current[name] = strings.TrimSpace(string(p.Value))
	}
	return current
}

// applyKey hands value to the Key name, which takes it or rejects it.
func (w *Watcher) applyKey(ctx context.Context, name, value string) {
	key, known := w.cfg.Keys[name]
	if !known {
		w.updates.WithLabelValues("(unknown)", "unknown").Inc() // a bounded label
		w.log.WarnContext(ctx, "ignoring an unknown configuration key", "key", name)
		return
	}
	log := w.log.With("key", name, "value", value)
	if err := key.Apply(value); err != nil {
		w.updates.WithLabelValues(name, "rejected").Inc()
		log.WarnContext(ctx, "ignoring an invalid configuration value; the last good value stays", "err", err)
		return
	}
	w.fromKV[name] = true
	w.updates.WithLabelValues(name, "applied").Inc()
	log.InfoContext(ctx, "configuration value applied")
}

// resetKey gives the Key name, deleted from the store, the environment's value back.
func (w *Watcher) resetKey(ctx context.Context, name string) {
	delete(w.fromKV, name)
	if err := w.cfg.Keys[name].Reset(); err != nil {
		w.log.ErrorContext(ctx, "cannot restore the environment's configuration value", "key", name, "err", err)
		return
	}
	w.updates.WithLabelValues(name, "reverted").Inc()
	w.log.InfoContext(ctx, "configuration key deleted; the environment's value is back", "key", name)
}

// Int is a Key holding an integer: Apply parses the value and calls set, which checks it;
// Reset calls set with base.
func Int(base int, set func(int) error) Key {
	return parsed(base, set, strconv.Atoi, "an integer")
}

// Float is a Key holding a number, like Int.
func Float(base float64, set func(float64) error) Key {
	return parsed(base, set, func(v string) (float64, error) { return strconv.ParseFloat(v, 64) }, "a number")
}

// Duration is a Key holding a Go duration (such as 500ms or 2m), like Int.
func Duration(base time.Duration, set func(time.Duration) error) Key {
	return parsed(base, set, time.ParseDuration, "a duration such as 500ms or 2m")
}

// parsed is a Key whose Apply reads the value with parse, refusing one it cannot read as not
// what the key wants, and calls set; Reset calls set with base.
func parsed[T any](base T, set func(T) error, parse func(string) (T, error), wants string) Key {
	return Key{
		Apply: func(v string) error {
			x, err := parse(v)
			if err != nil {
				return fmt.Errorf("want %s, got %q", wants, v)
			}
			return set(x)
		},
		Reset: func() error { return set(base) },
	}
}

// String is a Key holding text, which set checks.
func String(base string, set func(string) error) Key {
	return Key{Apply: set, Reset: func() error { return set(base) }}
}

// LogLevel is a Key holding a log level — debug, info, warn or error — put in force in v.
func LogLevel(base slog.Level, v *slog.LevelVar) Key {
	return Key{
		Apply: func(s string) error {
			var l slog.Level
			switch strings.ToLower(s) {
			case "debug":
				l = slog.LevelDebug
			case "info":
				l = slog.LevelInfo
			case "warn":
				l = slog.LevelWarn
			case "error":
				l = slog.LevelError
			default:
				return fmt.Errorf("want debug, info, warn or error, got %q", s)
			}
			v.Set(l)
			return nil
		},
		Reset: func() error { v.Set(base); return nil },
	}
}
