package outbox

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

func TestSetMaxBackoff(t *testing.T) {
	r := NewRelay(database.NewStore(nil, database.SQLite), nil, logging.Discard(), prometheus.NewRegistry(), RelayConfig{MaxBackoff: 10 * time.Second})
	within := func(d, want time.Duration) bool { return d >= want*8/10 && d <= want*12/10 }
	if d := r.backoff(30); !within(d, 10*time.Second) {
		t.Errorf("backoff = %s, want the configured cap of 10s ±20%%", d)
	}
	for _, bad := range []time.Duration{0, 999 * time.Millisecond, time.Hour + 1} {
		if err := r.SetMaxBackoff(bad); err == nil {
			t.Errorf("SetMaxBackoff(%s) succeeded", bad)
		}
	}
	if got := r.MaxBackoff(); got != 10*time.Second {
		t.Errorf("MaxBackoff after invalid values = %s, want 10s", got)
	}
	if err := r.SetMaxBackoff(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if d := r.backoff(30); !within(d, 2*time.Second) {
		t.Errorf("backoff = %s, want the new cap of 2s ±20%%", d)
	}
	if d := r.backoff(0); !within(d, 500*time.Millisecond) {
		t.Errorf("first backoff = %s, want 500ms ±20%% (under the cap)", d)
	}
}
