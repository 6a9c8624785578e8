package kvconfig

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
)

// setting is an integer setting from 1 to 100 whose base is 10, recording what was put in
// force.
type setting struct {
	value   int
	history []int
}

func (s *setting) set(n int) error {
	if n < 1 || n > 100 {
		return errors.New("out of range")
	}
	s.value = n
	s.history = append(s.history, n)
	return nil
}

// TestApply walks a watcher through successive states of the KV store.
func TestApply(t *testing.T) {
	limit := &setting{value: 10}
	var level slog.LevelVar
	keys := map[string]Key{"limit": Int(10, limit.set), "log_level": LogLevel(slog.LevelInfo, &level)}
	client, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(client, Config{Prefix: "p/", Keys: keys}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	type state struct {
		Limit   int
		History []int
		Level   slog.Level
	}
	steps := []struct {
		name  string
		pairs map[string]string
		want  state
	}{
		{"nothing stored: the base stays", nil, state{10, nil, slog.LevelInfo}},
		{"a value is applied", map[string]string{"limit": "20", "log_level": "debug"}, state{20, []int{20}, slog.LevelDebug}},
		{"an unchanged value is not applied again", map[string]string{"limit": "20", "log_level": "debug"}, state{20, []int{20}, slog.LevelDebug}},
		{"surrounding space is trimmed", map[string]string{"limit": " 30\n", "log_level": "debug"}, state{30, []int{20, 30}, slog.LevelDebug}},
		{"an invalid value is ignored", map[string]string{"limit": "500", "log_level": "loud"}, state{30, []int{20, 30}, slog.LevelDebug}},
		{"a value that does not parse is ignored", map[string]string{"limit": "many", "log_level": "loud"}, state{30, []int{20, 30}, slog.LevelDebug}},
		{"a good value again is applied", map[string]string{"limit": "40", "log_level": "WARN"}, state{40, []int{20, 30, 40}, slog.LevelWarn}},
		{"unknown keys and folders are ignored", map[string]string{"limit": "40", "log_level": "WARN", "other": "1", "dir/": "", "dir/x": "2"}, state{40, []int{20, 30, 40}, slog.LevelWarn}},
		{"a deleted key reverts to the base", map[string]string{"log_level": "WARN"}, state{10, []int{20, 30, 40, 10}, slog.LevelWarn}},
		{"an invalid value of a deleted key changes nothing", map[string]string{"limit": "0", "log_level": "WARN"}, state{10, []int{20, 30, 40, 10}, slog.LevelWarn}},
		{"deleting a key only ever invalid does not reset", map[string]string{"log_level": "WARN"}, state{10, []int{20, 30, 40, 10}, slog.LevelWarn}},
		{"every key deleted", nil, state{10, []int{20, 30, 40, 10}, slog.LevelInfo}},
	}
	for i, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			var pairs api.KVPairs
			for k, v := range step.pairs {
				pairs = append(pairs, &api.KVPair{Key: "p/" + k, Value: []byte(v)})
			}
			w.apply(context.Background(), pairs, uint64(i+1))
			got := state{limit.value, limit.history, level.Level()}
			if diff := cmp.Diff(step.want, got); diff != "" {
				t.Errorf("after this state (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	var gotInt int
	var gotFloat float64
	var gotDur time.Duration
	var gotStr string
	var level slog.LevelVar
	keys := map[string]Key{
		"int":      Int(7, func(n int) error { gotInt = n; return nil }),
		"float":    Float(2.5, func(f float64) error { gotFloat = f; return nil }),
		"duration": Duration(time.Second, func(d time.Duration) error { gotDur = d; return nil }),
		"string":   String("base", func(s string) error { gotStr = s; return nil }),
		"level":    LogLevel(slog.LevelWarn, &level),
	}
	tests := []struct {
		key, value string
		wantErr    bool
	}{
		{"int", "12", false}, {"int", "1.5", true}, {"int", "", true},
		{"float", "0.5", false}, {"float", "x", true},
		{"duration", "250ms", false}, {"duration", "5", true},
		{"string", "a b", false},
		{"level", "error", false}, {"level", "verbose", true},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			if err := keys[tt.key].Apply(tt.value); (err != nil) != tt.wantErr {
				t.Errorf("Apply(%q) = %v; want error %v", tt.value, err, tt.wantErr)
			}
		})
	}
	if diff := cmp.Diff([]any{12, 0.5, 250 * time.Millisecond, "a b", slog.LevelError},
		[]any{gotInt, gotFloat, gotDur, gotStr, level.Level()}); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	for _, k := range keys {
		if err := k.Reset(); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]any{7, 2.5, time.Second, "base", slog.LevelWarn},
		[]any{gotInt, gotFloat, gotDur, gotStr, level.Level()}); diff != "" {
		t.Errorf("after Reset (-want +got):\n%s", diff)
	}
}

func TestNewChecks(t *testing.T) {
	client, _ := api.NewClient(api.DefaultConfig())
	log := slog.New(slog.DiscardHandler)
	for name, cfg := range map[string]Config{
		"prefix without a slash": {Prefix: "p"},
		"empty prefix":           {},
		"key without Reset":      {Prefix: "p/", Keys: map[string]Key{"k": {Apply: func(string) error { return nil }}}},
	} {
		if _, err := New(client, cfg, log, prometheus.NewRegistry()); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
