package app

import (
	"testing"

	"github.com/eventpost/eventpost/internal/platform/discovery"
)

// TestReadConfigMetricsAddr: EVENTPOST_METRICS_ADDR is read as it is, unset by default, and
// refused when it has no valid port or is the HTTP address itself; EVENTPOST_PPROF needs it.
func TestReadConfigMetricsAddr(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	for _, service := range []string{"", discovery.Gateway, discovery.Mailer} {
		cfg, err := ReadConfig(env(nil), service)
		if err != nil || cfg.MetricsAddr != "" {
			t.Errorf("%q unset: MetricsAddr %q, %v; want none", service, cfg.MetricsAddr, err)
		}
		for _, good := range []string{":9090", "127.0.0.1:9090", "[::1]:9090", "127.0.0.1:0"} {
			cfg, err := ReadConfig(env(map[string]string{"EVENTPOST_METRICS_ADDR": good}), service)
			if err != nil || cfg.MetricsAddr != good {
				t.Errorf("%q %s: MetricsAddr %q, %v", service, good, cfg.MetricsAddr, err)
			}
		}
		for _, bad := range []string{"9090", "host", ":http", ":70000", "a:b:c"} {
			if _, err := ReadConfig(env(map[string]string{"EVENTPOST_METRICS_ADDR": bad}), service); err == nil {
				t.Errorf("%q: EVENTPOST_METRICS_ADDR=%s accepted", service, bad)
			}
		}
		if _, err := ReadConfig(env(map[string]string{"EVENTPOST_HTTP_ADDR": ":8080", "EVENTPOST_METRICS_ADDR": ":8080"}), service); err == nil {
			t.Errorf("%q: EVENTPOST_METRICS_ADDR equal to EVENTPOST_HTTP_ADDR accepted", service)
		}
		if _, err := ReadConfig(env(map[string]string{"EVENTPOST_PPROF": "true"}), service); err == nil {
			t.Errorf("%q: EVENTPOST_PPROF accepted without EVENTPOST_METRICS_ADDR", service)
		}
		cfg, err = ReadConfig(env(map[string]string{"EVENTPOST_PPROF": "true", "EVENTPOST_METRICS_ADDR": ":9090"}), service)
		if err != nil || !cfg.Pprof {
			t.Errorf("%q: EVENTPOST_PPROF with EVENTPOST_METRICS_ADDR: Pprof %t, %v", service, cfg.Pprof, err)
		}
	}
}

// TestLaunchMetricsHost: the launcher hands out metrics ports only for host:0, the last
// value in its Env winning over its own environment.
func TestLaunchMetricsHost(t *testing.T) {
	t.Setenv("EVENTPOST_METRICS_ADDR", "")
	tests := []struct {
		name     string
		own      string
		env      []string
		wantHost string
		wantOn   bool
		wantErr  bool
	}{
		{name: "unset"},
		{name: "loopback", env: []string{"EVENTPOST_METRICS_ADDR=127.0.0.1:0"}, wantHost: "127.0.0.1", wantOn: true},
		{name: "every interface", env: []string{"EVENTPOST_METRICS_ADDR=:0"}, wantOn: true},
		{name: "from the environment", own: "127.0.0.1:0", wantHost: "127.0.0.1", wantOn: true},
		{name: "Env wins", own: "127.0.0.1:9090", env: []string{"EVENTPOST_METRICS_ADDR=::1:0", "EVENTPOST_METRICS_ADDR=[::1]:0"}, wantHost: "::1", wantOn: true},
		{name: "cleared in Env", own: "127.0.0.1:0", env: []string{"EVENTPOST_METRICS_ADDR="}},
		{name: "one port for every process", env: []string{"EVENTPOST_METRICS_ADDR=127.0.0.1:9090"}, wantErr: true},
		{name: "no port", own: "127.0.0.1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("EVENTPOST_METRICS_ADDR", tt.own)
			host, on, err := launchMetricsHost(tt.env)
			if (err != nil) != tt.wantErr || host != tt.wantHost || on != tt.wantOn {
				t.Errorf("launchMetricsHost = %q, %v, %v; want %q, %v, error %v", host, on, err, tt.wantHost, tt.wantOn, tt.wantErr)
			}
		})
	}
}
