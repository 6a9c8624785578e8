package app_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventpost/eventpost/internal/app"
	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// BenchmarkGatewayVsNginx compares, in one run, three paths to the same service of the
// distributed system (every service a process of its own, PostgreSQL, RabbitMQ, Consul):
// "direct" to the service, "nginx" through a stock nginx reverse proxy in front of it, and
// "gateway" through EventPost's gateway. It does so for a public route (GET
// /api/v1/events/{id}, the events service) and an authenticated one (GET
// /api/v1/accounts/me with a user's access token, the auth service), each loaded by 32 and
// by 128 concurrent clients over keep-alive connections: sub-benchmarks
// <route>/c<clients>/<path>, each reporting req/s, p50 and p99.
//
// The gateway does its whole job on every request (routing, rate limit, request ID, metrics,
// tracing, the access token's check, its access log and the service's written to the
// launcher's log file, a service token per call); nginx is configured as a reverse proxy is
// commonly run (keep-alive to the upstream, access log off) and, as a service takes calls
// only with a service token, sends one the benchmark signed for the route's caller: it checks
// no access token. Run three rounds so the paths alternate:
//
//	for i in 1 2 3; do go test -run '^$' -bench BenchmarkGatewayVsNginx$ -benchtime 5s ./internal/app/; done
//
// With EVENTPOST_BENCH_PROFILE_DIR=dir, a CPU profile of the gateway over the first 4 s of
// each gateway sub-benchmark's timed run is written to dir/gateway-<route>-c<clients>.pprof
// (read it with go tool pprof -top); give a count that lasts longer, such as -benchtime
// 20000x, so that there is one timed run. It needs nginx (Debian: apt-get install nginx-light; or
// EVENTPOST_NGINX=/path/to/nginx) and skips without it, and Consul as the distributed tests
// do. It leaves nothing running: the cluster and nginx stop with it.
func BenchmarkGatewayVsNginx(b *testing.B) {
	nginx := nginxBinary()
	if nginx == "" {
		b.Skip("nginx not found: apt-get install nginx-light, or set EVENTPOST_NGINX to its path")
	}
	keyDir := b.TempDir()
	smtp := smtptest.Start(b)
	profiles := os.Getenv("EVENTPOST_BENCH_PROFILE_DIR")
	var env []string
	if profiles != "" {
		env = []string{"EVENTPOST_METRICS_ADDR=127.0.0.1:0", "EVENTPOST_PPROF=true"}
	}
	cluster, c, _, _ := startClusterOn(b, servers{keyDir: keyDir}, smtp,
		map[string]int{discovery.Events: 1, discovery.Notifications: 1, discovery.Mailer: 1}, env...)
	key, err := os.ReadFile(filepath.Join(keyDir, discovery.Gateway, "service.key"))
	if err != nil {
		b.Fatal(err)
	}
	gatewayKey, err := svcauth.ParsePrivateKey(string(key))
	if err != nil {
		b.Fatal(err)
	}
	addrs := map[string]string{}
	var gateway *app.Process
	for _, p := range cluster.Processes {
		addrs[p.Service] = p.Addr
		if p.Service == discovery.Gateway {
			gateway = p
		}
	}
	targets := proxyTargets{
		gateway:    cluster.URL,
		gatewayPID: gateway.PID,
		service:    func(service string) string { return addrs[service] },
		// A call of the gateway's to service with claims, valid for svcauth.TokenTTL from now.
		token: func(service string, claims svcauth.Claims) (string, error) {
			return svcauth.NewSigner(discovery.Gateway, gatewayKey, time.Now).Token(service, claims)
		},
	}
	if profiles != "" {
		targets.profile = func(name string, d time.Duration) (wait func()) {
			done := make(chan error, 1)
			go func() {
				done <- fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", gateway.MetricsAddr, int(d.Seconds())),
					filepath.Join(profiles, "gateway-"+name+".pprof"))
			}()
			return func() {
				if err := <-done; err != nil {
					b.Errorf("profile: %v", err)
				}
			}
		}
	}
	compareProxies(b, nginx, targets, c)
}

// BenchmarkGatewayVsNginxAllInOne is BenchmarkGatewayVsNginx in the all-in-one mode as it
// runs by default (SQLite, the gateway calling each service's handler in the process):
// "direct" and "nginx" reach the service's loopback listener, "gateway" the system's
// address. Access logs are discarded. Profile it with -cpuprofile and a -bench pattern that
// picks one sub-benchmark:
//
//	for i in 1 2 3; do go test -run '^$' -bench BenchmarkGatewayVsNginxAllInOne -benchtime 5s ./internal/app/; done
func BenchmarkGatewayVsNginxAllInOne(b *testing.B) {
	nginx := nginxBinary()
	if nginx == "" {
		b.Skip("nginx not found: apt-get install nginx-light, or set EVENTPOST_NGINX to its path")
	}
	sys, c := startBenchSystem(b)
	compareProxies(b, nginx, proxyTargets{
		gateway: sys.URL,
		service: func(service string) string { return strings.TrimPrefix(sys.ServiceURLs[service], "http://") },
		token: func(service string, claims svcauth.Claims) (string, error) {
			return app.ServiceToken(sys, service, claims)
		},
	}, c)
}

// proxyTargets is what compareProxies needs of a running system.
type proxyTargets struct {
	gateway string // the gateway's base URL
	// gatewayPID returns the gateway's process ID; nil when the gateway runs in this process.
	gatewayPID func() int
	service    func(service string) string // a service's listen address (host:port)
	// token returns a service token of the gateway's for a call to service with claims.
	token func(service string, claims svcauth.Claims) (string, error)
	// profile starts a CPU profile of the gateway over the next d, to be saved under name;
	// the function it returns waits for it. Nil: no profile.
	profile func(name string, d time.Duration) (wait func())
}

// compareProxies runs the sub-benchmarks of BenchmarkGatewayVsNginx on the system of t and
// its client c: per route and number of clients, direct, nginx and gateway one after the
// other.
func compareProxies(b *testing.B, nginx string, t proxyTargets, c *client) {
	access, _ := c.signUpAndLogIn("bench@example.com", "Bench")
	ev := c.must(201, "POST", "/api/v1/events", access, map[string]any{
		"title": "Benchmark", "description": "An evening of jazz by the river.",
		"starts_at": rfc3339(time.Now().Add(24 * time.Hour)),
	})
	var user authtoken.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(access, &user); err != nil {
		b.Fatal(err)
	}
	anonymous := svcauth.Claims{ClientIP: "127.0.0.1"}
	routes := []struct {
		name, service, path string
		claims              svcauth.Claims // the service token's: the caller's identity
		header              map[string]string
	}{
		{"event", discovery.Events, "/api/v1/events/" + ev["id"].(string), anonymous, nil},
		{"me", discovery.Auth, "/api/v1/accounts/me",
			svcauth.Claims{ClientIP: "127.0.0.1", AccountID: user.Subject, Email: user.Email, SessionID: user.SessionID},
			bearer(access)},
	}
	for _, rt := range routes {
		for _, clients := range []int{32, 128} {
			name := fmt.Sprintf("%s/c%d", rt.name, clients)
			serviceToken := func(b *testing.B) string {
				tok, err := t.token(rt.service, rt.claims)
				if err != nil {
					b.Fatal(err)
				}
				return "Bearer " + tok
			}
			b.Run(name+"/direct", func(b *testing.B) {
				loadGETs(b, "http://"+t.service(rt.service)+rt.path, map[string]string{"Authorization": serviceToken(b)}, clients)
			})
			b.Run(name+"/nginx", func(b *testing.B) {
				front, pids := startNginx(b, nginx, t.service(rt.service), serviceToken(b))
				cpu := cpuOf(b, pids()...)
				loadGETs(b, "http://"+front+rt.path, nil, clients)
				reportProxyCPU(b, cpuOf(b, pids()...)-cpu)
			})
			b.Run(name+"/gateway", func(b *testing.B) {
				var wait func()
				if t.profile != nil && b.N > 1 { // the run that counts, not the first of one request
					wait = t.profile(strings.ReplaceAll(name, "/", "-"), 4*time.Second)
				}
				var cpu time.Duration
				if t.gatewayPID != nil {
					cpu = cpuOf(b, t.gatewayPID())
				}
				loadGETs(b, t.gateway+rt.path, rt.header, clients)
				if t.gatewayPID != nil {
					reportProxyCPU(b, cpuOf(b, t.gatewayPID())-cpu)
				}
				if wait != nil {
					wait()
				}
			})
		}
	}
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

// reportProxyCPU reports the CPU time a proxy used in b's timed run per request, as
// cpu-us/req.
func reportProxyCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/req")
}

// cpuOf returns the CPU time, user and system, that the processes pids used so far, from
// /proc/<pid>/stat (in clock ticks of 10 ms: Linux's USER_HZ is 100).
func cpuOf(b *testing.B, pids ...int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		fields, err := procStat(pid)
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range fields[11:13] { // utime, stime
			ticks, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				b.Fatalf("/proc/%d/stat: %v", pid, err)
			}
			total += time.Duration(ticks) * 10 * time.Millisecond
		}
	}
	return total
}

// children returns the IDs of the processes whose parent is pid.
func children(b *testing.B, pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	var kids []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if fields, err := procStat(child); err == nil && fields[1] == strconv.Itoa(pid) { // ppid
			kids = append(kids, child)
		}
	}
	return kids
}

// procStat returns the fields of /proc/<pid>/stat after the command's name (which ends at the
// last ')'), at least 13 of them: state is the first, ppid the second, utime and stime the
// 12th and 13th.
func procStat(pid int) ([]string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(fields))
	}
	return fields, nil
}

// startNginx runs nginx as a reverse proxy to upstream (host:port) that adds the
// Authorization header authz to every request, on a free loopback port, until b ends; it
// returns the address nginx listens on and a function that returns the IDs of its
// processes (the master and its workers).
func startNginx(b *testing.B, nginx, upstream, authz string) (addr string, pids func() []int) {
	b.Helper()
	dir := b.TempDir()
	addr = freeAddr(b)
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
	upstream events { server %[2]s; keepalive 128; }
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
			master := cmd.Process.Pid
			return addr, func() []int { return append(children(b, master), master) }
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			b.Fatalf("nginx did not answer on %s: %v\n%s", addr, err, log)
		}
	}
}

// loadGETs runs b's loop as GETs of url with header from clients concurrent clients (a
// multiple of GOMAXPROCS) over keep-alive connections, each of which must answer 200, and
// reports the requests per second and the 50th and 99th percentiles of the request times.
func loadGETs(b *testing.B, url string, header map[string]string, clients int) {
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
	start := time.Now()
	parallelGETs(b, &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}, url, header, func(mine []time.Duration) {
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
