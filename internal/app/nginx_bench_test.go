package app_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// BenchmarkGatewayVsNginx compares, in one run, three paths to GET /api/v1/events/{id} of
// the distributed system (every service a process of its own, PostgreSQL, RabbitMQ,
// Consul): "direct" to the events service, "nginx" through a stock nginx reverse proxy in
// front of the same service, and "gateway" through EventPost's gateway. The gateway does
// its whole job on every request (routing, rate limit, request ID, metrics, access log
// discarded as the services' logs are, a signed service token per call); nginx is
// configured as a reverse proxy is commonly run (keep-alive to the upstream, access log
// off) and, as the service takes calls only with a service token, sends one token minted
// at its start. Each path is loaded by 32 concurrent clients over keep-alive connections
// (SetParallelism(16) on 2 cores); req/s, p50 and p99 are reported. Run three rounds so
// the paths alternate:
//
//	go test -run '^$' -bench BenchmarkGatewayVsNginx -benchtime 10s -count 3 ./internal/app/
//
// It needs nginx (Debian: apt-get install nginx-light; or EVENTPOST_NGINX=/path/to/nginx)
// and skips without it. It leaves nothing running: the cluster and nginx stop with it.
func BenchmarkGatewayVsNginx(b *testing.B) {
	nginx := nginxBinary()
	if nginx == "" {
		b.Skip("nginx not found: apt-get install nginx-light, or set EVENTPOST_NGINX to its path")
	}
	keyDir := b.TempDir()
	smtp := smtptest.Start(b)
	cluster, c, _, _ := startClusterOn(b, servers{keyDir: keyDir}, smtp,
		map[string]int{discovery.Events: 1, discovery.Notifications: 1, discovery.Mailer: 1})
	token, _ := c.signUpAndLogIn("bench@example.com", "Bench")
	ev := c.must(201, "POST", "/api/v1/events", token, map[string]any{
		"title": "Benchmark", "description": "An evening of jazz by the river.",
		"starts_at": rfc3339(time.Now().Add(24 * time.Hour)),
	})
	path := "/api/v1/events/" + ev["id"].(string)
	var events string
	for _, p := range cluster.Processes {
		if p.Service == discovery.Events {
			events = p.Addr
		}
	}
	key, err := os.ReadFile(filepath.Join(keyDir, discovery.Gateway, "service.key"))
	if err != nil {
		b.Fatal(err)
	}
	gatewayKey, err := svcauth.ParsePrivateKey(string(key))
	if err != nil {
		b.Fatal(err)
	}
	// serviceToken is a call of the gateway to the events service, for no end user, valid
	// for svcauth.TokenTTL from now.
	serviceToken := func() string {
		tok, err := svcauth.NewSigner(discovery.Gateway, gatewayKey, time.Now).Token(discovery.Events, svcauth.Claims{ClientIP: "127.0.0.1"})
		if err != nil {
			b.Fatal(err)
		}
		return "Bearer " + tok
	}

	b.Run("direct", func(b *testing.B) {
		loadGETs(b, "http://"+events+path, map[string]string{"Authorization": serviceToken()})
	})
	b.Run("nginx", func(b *testing.B) {
		front := startNginx(b, nginx, events, serviceToken())
		loadGETs(b, "http://"+front+path, nil)
	})
	b.Run("gateway", func(b *testing.B) {
		loadGETs(b, cluster.URL+path, nil)
	})
}

// nginxBinary returns the nginx executable: EVENTPOST_NGINX, nginx on the PATH or Debian's
// /usr/sbin/nginx; "" when there is none.
func nginxBinary() string {
	if p := os.Getenv("EVENTPOST_NGINX"); p != "" {
		return p
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

// startNginx runs nginx as a reverse proxy to upstream (host:port) that adds the
// Authorization header authz to every request, on a free loopback port, until b ends; it
// returns the address nginx listens on.
func startNginx(b *testing.B, nginx, upstream, authz string) string {
	b.Helper()
	dir := b.TempDir()
	addr := freeAddr(b)
	conf := fmt.Sprintf(`worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	upstream events { server %[2]s; keepalive 64; }
	server {
		listen %[3]s;
		location / {
			proxy_pass http://events;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Authorization "%[4]s";
		}
	}
}
`, dir, upstream, addr, authz)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", confPath)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			return addr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			b.Fatalf("nginx did not answer on %s: %v\n%s", addr, err, log)
		}
	}
}

// loadGETs runs b's loop as GETs of url with header from 16 clients per core over
// keep-alive connections, each of which must answer 200, and reports the requests per
// second and the 50th and 99th percentiles of the request times.
func loadGETs(b *testing.B, url string, header map[string]string) {
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.SetParallelism(16)
	start := time.Now()
	parallelGETs(b, &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}, url, header, func(mine []time.Duration) {
		mu.Lock()
		all = append(all, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}
