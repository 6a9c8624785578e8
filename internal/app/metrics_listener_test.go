package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/app"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker/amqptest"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/logging/logtest"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// answer is a response, read whole.
type answer struct {
	status      int
	contentType string
	body        string
}

// call sends a request without credentials to url and reads the answer.
func call(t testing.TB, method, url string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// wantNoMetrics checks that base answers /metrics (by GET, HEAD and POST) and a path under
// /metrics/ with a 404 problem that holds no metric.
func wantNoMetrics(t *testing.T, what, base string) {
	t.Helper()
	for _, r := range [][2]string{{"GET", "/metrics"}, {"HEAD", "/metrics"}, {"POST", "/metrics"}, {"GET", "/metrics/auth"}} {
		a := call(t, r[0], base+r[1])
		if a.status != http.StatusNotFound || a.contentType != problem.ContentType || strings.Contains(a.body, "# TYPE") {
			t.Errorf("%s: %s %s = %d %q %.100q, want a 404 problem", what, r[0], r[1], a.status, a.contentType, a.body)
		}
	}
}

// wantMetrics checks that url serves the Prometheus text holding every string of want and
// none of unwanted.
func wantMetrics(t *testing.T, what, url string, want, unwanted []string) {
	t.Helper()
	a := call(t, "GET", url)
	if a.status != http.StatusOK || !strings.HasPrefix(a.contentType, "text/plain") {
		t.Errorf("%s: GET %s = %d %q %.100q, want the Prometheus text", what, url, a.status, a.contentType, a.body)
		return
	}
	for _, s := range want {
		if !strings.Contains(a.body, s) {
			t.Errorf("%s: GET %s holds no %q", what, url, s)
		}
	}
	for _, s := range unwanted {
		if strings.Contains(a.body, s) {
			t.Errorf("%s: GET %s holds %q", what, url, s)
		}
	}
}

// serviceMetric is a metric of each service's registry and no other's: from the start, but
// for events, which has one once it has served a search.
var serviceMetric = map[string]string{
	discovery.Auth:          "# TYPE auth_",
	discovery.Events:        "# TYPE events_search_duration_seconds histogram",
	discovery.Notifications: "# TYPE notifications_reminders_scheduled gauge",
	discovery.Mailer:        "# TYPE email_",
}

// TestAllInOneMetricsListener: in the all-in-one mode with EVENTPOST_METRICS_ADDR, the
// gateway's public listener and the services' loopback listeners answer /metrics 404, and
// the metrics listener serves the process's registry at /metrics and each service's at
// /metrics/<service>, the probes staying where they were; without it, every listener
// serves its own /metrics as before and there is no metrics listener.
func TestAllInOneMetricsListener(t *testing.T) {
	t.Run("unset", func(t *testing.T) {
		c, _, sys := startSystem(t)
		if sys.MetricsURL != "" {
			t.Errorf("MetricsURL %q without EVENTPOST_METRICS_ADDR", sys.MetricsURL)
		}
		c.must(200, "GET", "/api/v1/events", "", nil)
		wantMetrics(t, "gateway", sys.URL+"/metrics", []string{"# TYPE gateway_rate_limited_total counter", "go_goroutines",
			`route="GET /api/v1/events"`}, nil)
		for name, base := range sys.ServiceURLs {
			wantMetrics(t, name, base+"/metrics", []string{serviceMetric[name]}, []string{"go_goroutines"})
		}
	})

	t.Run("set", func(t *testing.T) {
		c, _, sys := startSystemWith(t, func(cfg *app.Config) { cfg.MetricsAddr = "127.0.0.1:0" })
		if !strings.HasPrefix(sys.MetricsURL, "http://127.0.0.1:") || sys.MetricsURL == sys.URL {
			t.Fatalf("MetricsURL %q (gateway %q), want a listener of its own", sys.MetricsURL, sys.URL)
		}
		c.must(200, "GET", "/api/v1/events", "", nil)

		// The public listener: no metrics, a problem (not the web UI's page); probes as before.
		wantNoMetrics(t, "gateway", sys.URL)
		for _, probe := range []string{"/healthz", "/readyz"} {
			if a := call(t, "GET", sys.URL+probe); a.status != http.StatusOK {
				t.Errorf("gateway: GET %s = %d, want 200", probe, a.status)
			}
		}
		if a := call(t, "GET", sys.URL+"/"); a.status != http.StatusOK || !strings.HasPrefix(a.contentType, "text/html") {
			t.Errorf("gateway: GET / = %d %q, want the web UI", a.status, a.contentType)
		}
		for name, base := range sys.ServiceURLs {
			wantNoMetrics(t, name, base)
			if a := call(t, "GET", base+"/healthz"); a.status != http.StatusOK {
				t.Errorf("%s: GET /healthz = %d, want 200", name, a.status)
			}
		}

		// The metrics listener: the process's registry, then each service's, each on its own.
		wantMetrics(t, "metrics listener", sys.MetricsURL+"/metrics",
			[]string{"# TYPE gateway_rate_limited_total counter", "# TYPE web_csrf_rejections_total counter", "go_goroutines", `route="GET /api/v1/events"`},
			[]string{"# TYPE outbox_backlog", "notifications_reminders_scheduled"})
		for name, want := range serviceMetric {
			var others []string
			for other, s := range serviceMetric {
				if other != name {
					others = append(others, s)
				}
			}
			wantMetrics(t, "metrics listener", sys.MetricsURL+"/metrics/"+name,
				[]string{want, "# TYPE outbox_backlog gauge"}, append(others, "go_goroutines", "gateway_"))
		}
		wantMetrics(t, "metrics listener", sys.MetricsURL+"/metrics/events", []string{`route="GET /api/v1/events"`}, nil)
		for _, path := range []string{"/healthz", "/readyz", "/", "/metrics/gateway", "/api/v1/events", "/debug/pprof/"} {
			if a := call(t, "GET", sys.MetricsURL+path); a.status != http.StatusNotFound || a.contentType != problem.ContentType {
				t.Errorf("metrics listener: GET %s = %d %q, want a 404 problem", path, a.status, a.contentType)
			}
		}
	})

	t.Run("with profiles", func(t *testing.T) { // EVENTPOST_PPROF
		_, _, sys := startSystemWith(t, func(cfg *app.Config) { cfg.MetricsAddr, cfg.Pprof = "127.0.0.1:0", true })
		if a := call(t, "GET", sys.MetricsURL+"/debug/pprof/goroutine?debug=1"); a.status != http.StatusOK || !strings.Contains(a.body, "goroutine profile: total") {
			t.Errorf("metrics listener: GET /debug/pprof/goroutine = %d %.100q, want the profile", a.status, a.body)
		}
		wantMetrics(t, "metrics listener", sys.MetricsURL+"/metrics", []string{"go_goroutines"}, nil)
		if a := call(t, "GET", sys.URL+"/debug/pprof/goroutine?debug=1"); a.status != http.StatusNotFound {
			t.Errorf("gateway: GET /debug/pprof/goroutine = %d, want 404", a.status)
		}
	})
}

// serveService runs `eventpost serve <name>` in this process with the environment env
// (ReadConfig, then Serve), waits until it answers /healthz, and stops it when t ends.
func serveService(t *testing.T, name string, env map[string]string) {
	t.Helper()
	cfg, err := app.ReadConfig(func(k string) string { return env[k] }, name)
	if err != nil {
		t.Fatal(err)
	}
	logs := new(logtest.Buffer)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, name, cfg, logging.New(logs, nil)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve %s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("serve %s, log (tail):\n%s", name, tail(logs.String(), 30))
		}
	})
	eventually(t, 60*time.Second, "serve "+name+" to answer /healthz", func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve %s stopped: %v\n%s", name, err, tail(logs.String(), 30))
		default:
		}
		resp, err := http.Get("http://" + env["EVENTPOST_HTTP_ADDR"] + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if addr := env["EVENTPOST_METRICS_ADDR"]; addr != "" {
		// The listeners answer before the "serving" line is written.
		eventually(t, 10*time.Second, "a log line that names the metrics address "+addr, func() bool {
			return strings.Contains(logs.String(), `"metrics_addr":"`+addr+`"`)
		})
	}
}

// TestServeMetricsListener: `eventpost serve <service>` with EVENTPOST_METRICS_ADDR serves
// its registry at /metrics on that listener, and its HTTP listener answers /metrics 404;
// without it, /metrics is on the HTTP listener as before. For the gateway, and for a
// service whose every call is verified (events, over PostgreSQL and RabbitMQ).
func TestServeMetricsListener(t *testing.T) {
	keys := t.TempDir()
	if err := app.Run(t.Context(), []string{"keygen", keys}, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatal(err)
	}
	closed := "http://" + freeAddr(t) // upstreams that do not answer: the gateway needs none here
	for _, name := range []string{discovery.Gateway, discovery.Events} {
		for _, moved := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/moved=%v", name, moved), func(t *testing.T) {
				env := map[string]string{
					"EVENTPOST_HTTP_ADDR": freeAddr(t), "EVENTPOST_INSTANCE_ID": name + "-metrics-test",
					"EVENTPOST_AUTH_URLS": closed, "EVENTPOST_EVENTS_URLS": closed, "EVENTPOST_NOTIFICATIONS_URLS": closed,
					"EVENTPOST_SHUTDOWN_TIMEOUT": "5s",
				}
				want := []string{"go_goroutines", "# TYPE gateway_rate_limited_total counter"}
				if name == discovery.Gateway {
					env["EVENTPOST_SERVICE_KEY_FILE"] = filepath.Join(keys, "gateway", "service.key")
				} else {
					amqpURL, prefix := amqptest.URL(t, messages.Bindings...)
					env["EVENTPOST_DATABASE_URL"] = pgtest.URL(t)
					env["EVENTPOST_AMQP_URL"], env["EVENTPOST_AMQP_PREFIX"] = amqpURL, prefix
					env["EVENTPOST_CALLER_KEYS_FILE"] = filepath.Join(keys, "public", "caller-keys")
					want = []string{"go_goroutines", "# TYPE broker_connected gauge", "# TYPE outbox_backlog gauge"}
				}
				if moved {
					env["EVENTPOST_METRICS_ADDR"] = freeAddr(t)
				}
				serveService(t, name, env)
				base := "http://" + env["EVENTPOST_HTTP_ADDR"]
				if !moved {
					wantMetrics(t, name, base+"/metrics", want, nil)
					return
				}
				wantNoMetrics(t, name, base)
				if a := call(t, "GET", base+"/healthz"); a.status != http.StatusOK {
					t.Errorf("GET /healthz = %d, want 200", a.status)
				}
				metricsURL := "http://" + env["EVENTPOST_METRICS_ADDR"]
				wantMetrics(t, name, metricsURL+"/metrics", want, nil)
				for _, path := range []string{"/healthz", "/metrics/" + name} {
					if a := call(t, "GET", metricsURL+path); a.status != http.StatusNotFound {
						t.Errorf("metrics listener: GET %s = %d, want 404", path, a.status)
					}
				}
			})
		}
	}
}

// TestLaunchedProcessesGetMetricsPorts: the launcher, given EVENTPOST_METRICS_ADDR=host:0,
// gives every process a metrics listener of its own on a free port of host; each serves its
// registry there and answers /metrics 404 on its HTTP port.
func TestLaunchedProcessesGetMetricsPorts(t *testing.T) {
	smtp := smtptest.Start(t)
	cluster, _, _ := startCluster(t, smtp, nil, "EVENTPOST_METRICS_ADDR=127.0.0.1:0")
	seen := map[string]bool{}
	for _, p := range cluster.Processes {
		what := fmt.Sprintf("%s-%d", p.Service, p.Index+1)
		if !strings.HasPrefix(p.MetricsAddr, "127.0.0.1:") || strings.HasSuffix(p.MetricsAddr, ":0") || seen[p.MetricsAddr] || p.MetricsAddr == p.Addr {
			t.Errorf("%s: MetricsAddr %q, want a loopback port of its own", what, p.MetricsAddr)
			continue
		}
		seen[p.MetricsAddr] = true
		wantNoMetrics(t, what, "http://"+p.Addr)
		want := []string{"go_goroutines", "# TYPE gateway_rate_limited_total counter"}
		if p.Service != discovery.Gateway {
			want = []string{"go_goroutines", "# TYPE broker_connected gauge", "# TYPE outbox_backlog gauge"}
		}
		wantMetrics(t, what, "http://"+p.MetricsAddr+"/metrics", want, nil)
	}
}
