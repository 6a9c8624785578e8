package envconf_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/platform/envconf"
)

type limits struct {
	Memory  uint32
	Threads uint8
}

type defaultsConfig struct {
	Name    string
	Every   time.Duration
	Count   int
	On      bool
	Since   time.Time
	Delays  []time.Duration
	Limits  limits
	private int
}

func TestWithDefaults(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	def := defaultsConfig{
		Name: "def", Every: time.Second, Count: 3, On: true, Since: since,
		Delays: []time.Duration{time.Minute}, Limits: limits{Memory: 64, Threads: 2}, private: 9,
	}
	tests := []struct {
		name     string
		cfg, out defaultsConfig
	}{
		{"all zero", defaultsConfig{}, func() defaultsConfig { d := def; d.private = 0; return d }()},
		{
			"set fields kept, nested struct completed field by field",
			defaultsConfig{Name: "mine", Count: 7, Limits: limits{Threads: 4}, private: 1},
			defaultsConfig{
				Name: "mine", Every: time.Second, Count: 7, On: true, Since: since,
				Delays: []time.Duration{time.Minute}, Limits: limits{Memory: 64, Threads: 4}, private: 1,
			},
		},
		{
			"an empty list is unset",
			defaultsConfig{Delays: []time.Duration{}},
			func() defaultsConfig { d := def; d.private = 0; return d }(),
		},
		{
			"a negative number is not zero",
			defaultsConfig{Every: -time.Second, Count: -1},
			defaultsConfig{
				Name: "def", Every: -time.Second, Count: -1, On: true, Since: since,
				Delays: []time.Duration{time.Minute}, Limits: limits{Memory: 64, Threads: 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := envconf.WithDefaults(tt.cfg, def)
			if diff := cmp.Diff(tt.out, got, cmp.AllowUnexported(defaultsConfig{})); diff != "" {
				t.Errorf("WithDefaults (-want +got):\n%s", diff)
			}
		})
	}
}
