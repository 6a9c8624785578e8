package app

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/eventpost/eventpost/internal/gateway"
	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/discovery/consultest"
	"github.com/eventpost/eventpost/internal/platform/kvconfig"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

func TestAdvertise(t *testing.T) {
	tcp := func(ip string, port int) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
	type hostPort struct {
		Host string
		Port int
	}
	tests := []struct {
		name string
		adv  string
		addr net.Addr
		want hostPort
	}{
		{"the listener's address", "", tcp("127.0.0.1", 8082), hostPort{"127.0.0.1", 8082}},
		{"every interface: the host's address", "", tcp("0.0.0.0", 8082), hostPort{"10.0.0.7", 8082}},
		{"every IPv6 interface: the host's address", "", tcp("::", 8082), hostPort{"10.0.0.7", 8082}},
		{"a host: the listener's port", "events-1.internal", tcp("0.0.0.0", 8082), hostPort{"events-1.internal", 8082}},
		{"host and port", "10.1.2.3:9000", tcp("0.0.0.0", 8082), hostPort{"10.1.2.3", 9000}},
		{"an IPv6 host", "::1", tcp("::", 8082), hostPort{"::1", 8082}},
		{"IPv6 with a port", "[fd00::1]:9000", tcp("::", 8082), hostPort{"fd00::1", 9000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, p := advertise(tt.adv, tt.addr, "10.0.0.7")
			if diff := cmp.Diff(tt.want, hostPort{h, p}); diff != "" {
				t.Errorf("advertise (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostIPIsAnIPv4Address(t *testing.T) {
	if ip := net.ParseIP(hostIP()); ip == nil || ip.To4() == nil {
		t.Errorf("hostIP() = %q, want an IPv4 address", hostIP())
	}
}

func TestReadConfigConsul(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	cfg, err := ReadConfig(env(map[string]string{
		"EVENTPOST_CONSUL_ADDR": "http://127.0.0.1:8500/", "EVENTPOST_ADVERTISE_ADDR": "10.0.0.5:8082",
		"EVENTPOST_LOG_LEVEL": "warn",
	}), discovery.Events)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConsulAddr != "http://127.0.0.1:8500" || cfg.AdvertiseAddr != "10.0.0.5:8082" {
		t.Errorf("ConsulAddr %q AdvertiseAddr %q", cfg.ConsulAddr, cfg.AdvertiseAddr)
	}
	if cfg.LogLevelVar == nil || cfg.LogLevelVar.Level() != slog.LevelWarn {
		t.Errorf("LogLevelVar %v, want warn", cfg.LogLevelVar)
	}
	for _, bad := range []string{"host:port", "host:0", "host:70000", "a:b:c"} {
		if _, err := ReadConfig(env(map[string]string{"EVENTPOST_ADVERTISE_ADDR": bad}), discovery.Events); err == nil {
			t.Errorf("EVENTPOST_ADVERTISE_ADDR=%s accepted", bad)
		}
	}
	if cfg, err := ReadConfig(env(nil), ""); err != nil || cfg.ConsulAddr != "" {
		t.Errorf("without EVENTPOST_CONSUL_ADDR: %q, %v; want static discovery", cfg.ConsulAddr, err)
	}
}

// services builds the gateway, the email-sender, the notifications service and an outbox
// relay over throwaway stores, for their configuration keys.
func services(t *testing.T, cfg Config) (*gateway.Gateway, *mailer.Service, *notifications.Service, *outbox.Relay) {
	t.Helper()
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	keys, err := newSystemKeys()
	if err != nil {
		t.Fatal(err)
	}
	gk, _ := keys.keysFor(discovery.Gateway)
	gw, err := gateway.New(gateway.DefaultConfig(), gateway.Deps{Resolver: discovery.Static{}, Log: logging.Discard(), Registry: reg, Signer: gk.signer})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := openStore(ctx, discovery.Mailer, database.SQLite, t.TempDir(), "", logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	tr, err := mailer.NewTransport(mailer.Config{MailDir: t.TempDir()}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	m, err := newService(discovery.Mailer, ms, serviceDeps{cfg: cfg, log: logging.Discard(), registry: prometheus.NewRegistry(), transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := openStore(ctx, discovery.Notifications, database.SQLite, t.TempDir(), "", logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	nk, err := keys.keysFor(discovery.Notifications)
	if err != nil {
		t.Fatal(err)
	}
	n, err := newService(discovery.Notifications, ns, serviceDeps{
		cfg: cfg, log: logging.Discard(), registry: prometheus.NewRegistry(), balancer: discovery.NewBalancer(discovery.Static{}), keys: nk,
	})
	if err != nil {
		t.Fatal(err)
	}
	relay := outbox.NewRelay(ns, nil, logging.Discard(), prometheus.NewRegistry(), outbox.RelayConfig{})
	return gw, m.svc.(*mailer.Service), n.svc.(*notifications.Service), relay
}

func TestConfigKeys(t *testing.T) {
	cfg, err := ReadConfig(func(string) string { return "" }, "")
	if err != nil {
		t.Fatal(err)
	}
	gw, m, n, relay := services(t, cfg)
	names := func(keys map[string]kvconfig.Key) []string {
		var out []string
		for k := range keys {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name string
		keys map[string]kvconfig.Key
		want []string
	}{
		{"gateway", configKeys(cfg, gw.LiveKeys(), nil), []string{"log_level", "rate_burst", "rate_limit"}},
		{"mailer", configKeys(cfg, m.LiveKeys(), relay), []string{"log_level", "mail_from", "max_attempts", "outbox_max_backoff"}},
		{"notifications", configKeys(cfg, n.LiveKeys(), relay), []string{"claim_batch", "log_level", "outbox_max_backoff", "poll_interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, names(tt.keys)); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
	}

	// Each key reaches its setter, which checks the value, and reverts to the base.
	keys := configKeys(cfg, m.LiveKeys(), relay)
	for k, v := range map[string]string{"mail_from": "Ops <ops@example.org>", "max_attempts": "7", "outbox_max_backoff": "30s", "log_level": "debug"} {
		if err := keys[k].Apply(v); err != nil {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
	for k, v := range map[string]string{"mail_from": "nobody", "max_attempts": "101", "outbox_max_backoff": "10h", "log_level": "chatty"} {
		if err := keys[k].Apply(v); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
	got := []any{m.From(), m.MaxAttempts(), relay.MaxBackoff(), cfg.LogLevelVar.Level()}
	if diff := cmp.Diff([]any{`"Ops" <ops@example.org>`, 7, 30 * time.Second, slog.LevelDebug}, got); diff != "" {
		t.Errorf("after the values (-want +got):\n%s", diff)
	}
	for _, k := range keys {
		if err := k.Reset(); err != nil {
			t.Fatal(err)
		}
	}
	got = []any{m.From(), m.MaxAttempts(), relay.MaxBackoff(), cfg.LogLevelVar.Level()}
	if diff := cmp.Diff([]any{`"EventPost" <no-reply@eventpost.local>`, 10, 5 * time.Minute, slog.LevelInfo}, got); diff != "" {
		t.Errorf("after Reset (-want +got):\n%s", diff)
	}

	nkeys := configKeys(cfg, n.LiveKeys(), relay)
	for k, v := range map[string]string{"poll_interval": "250ms", "claim_batch": "20"} {
		if err := nkeys[k].Apply(v); err != nil {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
	for k, v := range map[string]string{"poll_interval": "2m", "claim_batch": "0"} {
		if err := nkeys[k].Apply(v); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
	if poll, batch := n.Schedule(); poll != 250*time.Millisecond || batch != 20 {
		t.Errorf("schedule %v, %d; want 250ms, 20", poll, batch)
	}
}

// TestGatewayRateLimitFromConsul: through a real Consul agent, rate_limit and rate_burst
// stored under the gateway's prefix change its limits while it serves, and deleting them
// brings the environment's back.
func TestGatewayRateLimitFromConsul(t *testing.T) {
	c := consultest.Client(t)
	prefix := consultest.KVPrefix(t, c)
	cfg, err := ReadConfig(func(string) string { return "" }, discovery.Gateway)
	if err != nil {
		t.Fatal(err)
	}
	gw, _, _, _ := services(t, cfg)
	w, err := kvconfig.New(c, kvconfig.Config{Prefix: prefix, Keys: configKeys(cfg, gw.LiveKeys(), nil)}, logging.Discard(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	// limited reports whether a burst of three requests from a new client address is cut.
	client := 0
	limited := func() bool {
		client++
		addr := net.IPv4(198, 51, 100, byte(client)).String() + ":1000"
		for range 3 {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/events", nil)
			req.RemoteAddr = addr
			rec := httptest.NewRecorder()
			gw.Handler().ServeHTTP(rec, req)
			if rec.Code == http.StatusTooManyRequests {
				return true
			}
		}
		return false
	}
	if limited() {
		t.Fatal("limited with the environment's 20/s, burst 40")
	}
	for k, v := range map[string]string{"rate_limit": "0.01", "rate_burst": "2"} {
		if _, err := c.KV().Put(&api.KVPair{Key: prefix + k, Value: []byte(v)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the stored limits to apply", limited)
	if _, err := c.KV().Put(&api.KVPair{Key: prefix + "rate_burst", Value: []byte("0")}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // an invalid value changes nothing
	if !limited() {
		t.Error("an invalid rate_burst changed the limits")
	}
	if _, err := c.KV().DeleteTree(prefix, nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the environment's limits to come back", func() bool { return !limited() })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTwoSystemsShareOneConsulAgent: two systems with other prefixes whose events instances
// have the same instance ID register side by side on one agent, and each finds only its own
// instance (issue 14: the IDs lacked the prefix, so the second took over the first's).
func TestTwoSystemsShareOneConsulAgent(t *testing.T) {
	c := consultest.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	defer func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Error(err)
		}
	}()

	type system struct {
		prefix, url string
		resolver    *discovery.Consul
	}
	systems := make([]*system, 2)
	for i := range systems {
		prefix := strings.TrimSuffix(consultest.ServiceName(t, c, discovery.Events), "-"+discovery.Events)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		t.Cleanup(srv.Close)
		cfg := defaultConfig(discovery.Events)
		cfg.ConsulAddr, cfg.ConsulPrefix, cfg.InstanceID = consultest.Addr(), prefix, "events-2"
		cfg.AdvertiseAddr = srv.Listener.Addr().String()
		p, err := newConsulProcess(discovery.Events, cfg, logging.Discard(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.start(gctx, g, srv.Listener, map[string]kvconfig.Key{}); err != nil {
			t.Fatal(err)
		}
		res, err := discovery.NewConsul(c, discovery.ConsulConfig{Services: []string{discovery.Events}, Prefix: prefix},
			logging.Discard(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		g.Go(func() error { return res.Run(gctx) })
		systems[i] = &system{prefix: prefix, url: srv.URL, resolver: res}
	}

	for _, s := range systems {
		waitUntil(t, "each system to find its own instance", func() bool {
			urls, err := s.resolver.Resolve(ctx, discovery.Events)
			return err == nil && slices.Equal(urls, []string{s.url})
		})
		id := s.prefix + "-events-2"
		if svc, _, err := c.Agent().Service(id, nil); err != nil || svc.Service != s.prefix+"-"+discovery.Events {
			t.Errorf("agent service %s: %+v, %v; want the instance of service %s-events", id, svc, err, s.prefix)
		}
	}
}
