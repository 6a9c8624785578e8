package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/eventpost/eventpost/internal/app"
	"github.com/eventpost/eventpost/internal/gateway"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// BenchmarkGetEventThroughGateway measures GET /api/v1/events/{id} end to end: client →
// gateway → events service → SQLite and back, over loopback, in the all-in-one system.
func BenchmarkGetEventThroughGateway(b *testing.B) { getEventThroughGateway(b) }

// BenchmarkGetMeThroughGateway measures an authenticated route, GET /api/v1/accounts/me,
// end to end in the all-in-one system: the gateway verifies the access token, then the auth
// service reads the account.
// "checked" verifies the token's signature on every request (TokenCacheSize 0),
// "remembered" once (the default).
func BenchmarkGetMeThroughGateway(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"checked", 0}, {"remembered", gateway.DefaultConfig().TokenCacheSize}} {
		b.Run(bc.name, func(b *testing.B) {
			gcfg := gateway.DefaultConfig()
			gcfg.TokenCacheSize = bc.size
			sys, c := startBenchSystemWith(b, logging.Discard(), func(cfg *app.Config) { cfg.Gateway = gcfg })
			token, _ := c.signUpAndLogIn("bench@example.com", "Bench")
			runParallelGETs(b, sys.URL+"/api/v1/accounts/me", token)
		})
	}
}

// BenchmarkListEventsThroughGateway measures GET /api/v1/events?limit=20, the first page of
// 20 events, end to end in the all-in-one system, asked with Accept-Encoding: gzip as a
// browser or an HTTP library asks (the body is read as it comes, not decoded: the client's
// work is not the gateway's).
func BenchmarkListEventsThroughGateway(b *testing.B) {
	sys, c := startBenchSystem(b)
	token, _ := c.signUpAndLogIn("bench@example.com", "Bench")
	for i := range 20 {
		c.must(201, "POST", "/api/v1/events", token, map[string]any{
			"title": fmt.Sprintf("Benchmark %d", i), "description": "An evening of jazz by the river, with food and drinks.",
			"starts_at": rfc3339(time.Now().Add(time.Duration(i+1) * time.Hour)),
		})
	}
	runParallelGETsWith(b, sys.URL+"/api/v1/events?limit=20", "", map[string]string{"Accept-Encoding": "gzip"})
}

// startBenchSystem starts the all-in-one system for a benchmark, with no rate limit to speak
// of, stopped when b ends, and a client of it.
func startBenchSystem(b *testing.B) (*app.System, *client) {
	return startBenchSystemLogging(b, logging.Discard())
}

// startBenchSystemLogging is startBenchSystem with the system logging to log.
func startBenchSystemLogging(b *testing.B, log *slog.Logger) (*app.System, *client) {
	return startBenchSystemWith(b, log, func(*app.Config) {})
}

// startBenchSystemWith is startBenchSystemLogging with the configuration edited by edit.
func startBenchSystemWith(b *testing.B, log *slog.Logger, edit func(*app.Config)) (*app.System, *client) {
	cfg := app.Config{
		HTTPAddr: "127.0.0.1:0", DataDir: b.TempDir(), PublicURL: "http://eventpost.test",
		MailFrom: "EventPost <no-reply@eventpost.test>", RateLimit: 1e9, RateBurst: 1e9, ShutdownTimeout: 5 * time.Second,
		InProcessTransport: true,
	}
	edit(&cfg)
	sys, err := app.Start(context.Background(), cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sys.Stop() })
	c := newClient(b, sys.URL)
	c.waitReady()
	return sys, c
}

// runParallelGETs runs b's loop as concurrent GETs of url (with a bearer token when not
// empty) over keep-alive connections, each of which must answer 200.
func runParallelGETs(b *testing.B, url, token string) {
	parallelGETs(b, &http.Transport{MaxIdleConnsPerHost: 64}, url, bearer(token), nil)
}

// runParallelGETsWith is runParallelGETs with the request headers header, over a transport
// that leaves Accept-Encoding and the body as they are.
func runParallelGETsWith(b *testing.B, url, token string, header map[string]string) {
	h := bearer(token)
	for k, v := range header {
		h[k] = v
	}
	parallelGETs(b, &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}, url, h, nil)
}

// bearer returns the header of a request carrying token, none when it is empty.
func bearer(token string) map[string]string {
	if token == "" {
		return map[string]string{}
	}
	return map[string]string{"Authorization": "Bearer " + token}
}

// parallelGETs runs b's loop as concurrent GETs of url with header over tr, each of which
// must answer 200; with took, each goroutine hands it the times of its requests when done.
func parallelGETs(b *testing.B, tr *http.Transport, url string, header map[string]string, took func([]time.Duration)) {
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		if took != nil {
			defer func() { took(mine) }()
		}
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			for k, v := range header {
				req.Header.Set(k, v)
			}
			t0 := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if took != nil {
				mine = append(mine, time.Since(t0))
			}
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// getEventThroughGateway is the body of BenchmarkGetEventThroughGateway, which
// BenchmarkGetEventThroughGatewayTraced runs with tracing set up.
func getEventThroughGateway(b *testing.B) {
	sys, c := startBenchSystem(b)
	token, _ := c.signUpAndLogIn("bench@example.com", "Bench")
	ev := c.must(201, "POST", "/api/v1/events", token, map[string]any{"title": "Benchmark", "starts_at": rfc3339(time.Now().Add(time.Hour))})
	runParallelGETs(b, sys.URL+"/api/v1/events/"+ev["id"].(string), "")
}

// BenchmarkGetEventTransports measures GET /api/v1/events/{id} in the all-in-one system
// three ways, side by side: "direct" straight to the events service's listener with a
// service token of the gateway's (the floor: no gateway), "gateway-socket" through the
// gateway reaching the service over its loopback socket, and "gateway-inprocess" through the
// gateway calling the service's handler in process (the default). -count runs each of the
// three several times in a row; to alternate them, run it three times:
//
//	for i in 1 2 3; do go test -run '^$' -bench BenchmarkGetEventTransports -benchtime 3s ./internal/app/; done
func BenchmarkGetEventTransports(b *testing.B) {
	for _, bc := range []struct {
		name              string
		inProcess, direct bool
	}{{"direct", true, true}, {"gateway-socket", false, false}, {"gateway-inprocess", true, false}} {
		b.Run(bc.name, func(b *testing.B) {
			sys, c := startBenchSystemWith(b, logging.Discard(), func(cfg *app.Config) { cfg.InProcessTransport = bc.inProcess })
			token, _ := c.signUpAndLogIn("bench@example.com", "Bench")
			ev := c.must(201, "POST", "/api/v1/events", token, map[string]any{"title": "Benchmark", "starts_at": rfc3339(time.Now().Add(time.Hour))})
			path := "/api/v1/events/" + ev["id"].(string)
			if !bc.direct {
				runParallelGETs(b, sys.URL+path, "")
				return
			}
			svcToken, err := app.ServiceToken(sys, discovery.Events, svcauth.Claims{ClientIP: "127.0.0.1"})
			if err != nil {
				b.Fatal(err)
			}
			runParallelGETs(b, sys.ServiceURLs[discovery.Events]+path, svcToken)
		})
	}
}

// BenchmarkGetEventLogged is BenchmarkGetEventThroughGateway with the access logs on, at
// info level, written to a pipe that another goroutine drains, as stdout is when a process
// runs under a supervisor, a container engine or a terminal: beside
// BenchmarkGetEventThroughGateway (logs discarded), what the two access-log lines of a
// request cost.
func BenchmarkGetEventLogged(b *testing.B) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	drained := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, r); close(drained) }()
	b.Cleanup(func() { w.Close(); <-drained; r.Close() })
	sys, c := startBenchSystemLogging(b, logging.New(w, slog.LevelInfo))
	token, _ := c.signUpAndLogIn("bench@example.com", "Bench")
	ev := c.must(201, "POST", "/api/v1/events", token, map[string]any{"title": "Benchmark", "starts_at": rfc3339(time.Now().Add(time.Hour))})
	runParallelGETs(b, sys.URL+"/api/v1/events/"+ev["id"].(string), "")
}

// BenchmarkRemindersSameSecond schedules 10,000 reminders due in the same second in the
// distributed system (two notifications and two email-sender replicas, PostgreSQL,
// RabbitMQ) and measures how long after that second the last one reaches the SMTP server.
// Run it once: go test -run '^$' -bench BenchmarkRemindersSameSecond -benchtime 1x ./internal/app/
func BenchmarkRemindersSameSecond(b *testing.B) {
	const n = 10000
	for range b.N {
		smtp := smtptest.Start(b)
		profiles := os.Getenv("EVENTPOST_BENCH_PROFILE_DIR")
		env := loadEnv
		if profiles != "" {
			env = append(slices.Clone(loadEnv), "EVENTPOST_METRICS_ADDR=127.0.0.1:0", "EVENTPOST_PPROF=true")
		}
		cluster, c, _ := startCluster(b, smtp, nil, env...)
		// One account makes them all, and an account's creations take turns (each counts the
		// account's pending reminders under a lock of its row, for the quota): 55-110 s here.
		first := time.Now().Add(150 * time.Second).Truncate(time.Second)
		load := createReminders(b, c, n, 32, first, 0)
		if time.Now().After(first) {
			b.Fatalf("creating %d reminders took %s, past their time", n, load.created)
		}
		time.Sleep(time.Until(first))
		profiled := profileCluster(b, cluster, profiles, 20*time.Second)
		d := waitForDeliveries(b, smtp, load, 5*time.Minute)
		profiled()
		last := d.late[len(d.late)-1]
		b.ReportMetric(float64(n)/last.Seconds(), "reminders/s")
		b.ReportMetric(d.late[0].Seconds(), "first-late-s")
		b.ReportMetric(last.Seconds(), "last-late-s")
		b.ReportMetric(load.created.Seconds(), "create-s")
	}
}

// BenchmarkRemindersSameSecondAllInOne is BenchmarkRemindersSameSecond in the all-in-one
// mode as it runs by default: SQLite, the in-process broker, mail written as files into the
// data directory. A reminder arrives when its file is written (the time in the file's name).
// Run it once: go test -run '^$' -bench BenchmarkRemindersSameSecondAllInOne -benchtime 1x ./internal/app/
func BenchmarkRemindersSameSecondAllInOne(b *testing.B) {
	const n = 10000
	for range b.N {
		dir := b.TempDir()
		_, c := startBenchSystemWith(b, logging.Discard(), func(cfg *app.Config) {
			cfg.DataDir = dir
			cfg.Notifications.MaxPendingReminders = 2 * n
		})
		c.mail = &fileMailbox{t: b, dir: filepath.Join(dir, "mail")}
		// SQLite commits each reminder on its own (synchronous=FULL): creating them takes
		// longer than in the distributed mode.
		first := time.Now().Add(60 * time.Second).Truncate(time.Second)
		load := createReminders(b, c, n, 32, first, 0)
		if time.Now().After(first) {
			b.Fatalf("creating %d reminders took %s, past their time", n, load.created)
		}
		time.Sleep(time.Until(first))
		stop := profileDelivery(b)
		cpu := processCPU(b)
		d := waitForDeliveries(b, c.mail, load, 5*time.Minute)
		stop()
		last := d.late[len(d.late)-1]
		b.ReportMetric(float64(n)/last.Seconds(), "reminders/s")
		b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/n, "cpu-µs/reminder")
		b.ReportMetric(d.late[len(d.late)/2].Seconds(), "p50-late-s")
		b.ReportMetric(d.late[len(d.late)*99/100].Seconds(), "p99-late-s")
		b.ReportMetric(last.Seconds(), "last-late-s")
		b.ReportMetric(load.created.Seconds(), "create-s")
	}
}

// fileMailbox reads the all-in-one mode's mail directory as a mailbox: each complete .eml
// file once, in the order it was first seen, received at the time its name gives (see
// mailer.FileTransport), addressed to its To header.
type fileMailbox struct {
	t    testing.TB
	dir  string
	seen map[string]bool
	msgs []smtptest.Message
}

func (m *fileMailbox) Messages() []smtptest.Message {
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	entries, err := os.ReadDir(m.dir)
	if err != nil && !os.IsNotExist(err) {
		m.t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if m.seen[name] || !strings.HasSuffix(name, ".eml") {
			continue
		}
		stamp, _, _ := strings.Cut(name, "-")
		at, err := time.Parse("20060102T150405.000000000Z", stamp)
		if err != nil {
			m.t.Fatalf("mail file %s: %v", name, err)
		}
		data, err := os.ReadFile(filepath.Join(m.dir, name))
		if err != nil {
			m.t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(data))
		if err != nil {
			m.t.Fatalf("mail file %s: %v", name, err)
		}
		m.seen[name] = true
		m.msgs = append(m.msgs, smtptest.Message{To: []string{msg.Header.Get("To")}, Data: data, Received: at})
	}
	return slices.Clone(m.msgs)
}

// profileDelivery writes a CPU profile of the process, from now until the function it
// returns is called, to the file EVENTPOST_BENCH_CPUPROFILE names; unset, it does nothing.
// It profiles the delivery alone, where -cpuprofile would add the creation of the load.
func profileDelivery(b *testing.B) (stop func()) {
	path := os.Getenv("EVENTPOST_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatalf("EVENTPOST_BENCH_CPUPROFILE (not with -cpuprofile): %v", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// profileCluster fetches a CPU profile of each of cluster's processes over the next d, as
// <service>-<replica>.pprof in dir, and the stacks of its goroutines half-way through, as
// <service>-<replica>.goroutines.txt (where the time that is not CPU goes), from the profiles
// its metrics listener serves (EVENTPOST_PPROF); with dir "" it does nothing. The function it
// returns waits for them. Read one with: go tool pprof -top <dir>/mailer-1.pprof
func profileCluster(b *testing.B, cluster *app.Cluster, dir string, d time.Duration) (wait func()) {
	if dir == "" {
		return func() {}
	}
	var g errgroup.Group
	for _, p := range cluster.Processes {
		name := filepath.Join(dir, fmt.Sprintf("%s-%d", p.Service, p.Index+1))
		base := "http://" + p.MetricsAddr + "/debug/pprof/"
		g.Go(func() error {
			return fetch(base+fmt.Sprintf("profile?seconds=%d", int(d.Seconds())), name+".pprof")
		})
		g.Go(func() error {
			time.Sleep(d / 2)
			return fetch(base+"goroutine?debug=1", name+".goroutines.txt")
		})
	}
	return func() {
		if err := g.Wait(); err != nil {
			b.Errorf("profiles: %v", err)
		}
	}
}

// fetch writes what GET url answers to the file path.
func fetch(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	return errors.Join(err, f.Close())
}

// processCPU returns the CPU time the process used so far, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
