package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// ClusterConfig configures Launch.
type ClusterConfig struct {
	// Binary is the eventpost executable each process runs ("serve <service>").
	Binary string
	// PostgresURL reaches the PostgreSQL server with a role that may create roles and
	// databases (EVENTPOST_POSTGRES_URL, default
	// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable).
	PostgresURL string
	// DatabasePrefix names each service's database and role: <prefix>_<service>
	// (EVENTPOST_DATABASE_PREFIX, default "eventpost").
	DatabasePrefix string
	// AMQPURL is the RabbitMQ server (EVENTPOST_AMQP_URL).
	AMQPURL string
	// GatewayAddr is the gateway's listen address (EVENTPOST_HTTP_ADDR, default ":8080").
	GatewayAddr string
	// Ports are the services' ports, one per replica, in order (default: the roster's port
	// plus 10 per replica — 8081 auth, 8082 events, 8083 and 8093 notifications, 8084 and
	// 8094 mailer; EVENTPOST_LAUNCH_BASE_PORT moves them all, see SetBasePort). A service
	// missing from Ports gets free ports chosen at launch.
	Ports map[string][]int
	// Replicas is how many processes of each service run (default the roster's: 1, and 2 for
	// notifications and mailer).
	Replicas map[string]int
	// ConsulAddr is the HTTP address of a running Consul agent the services register with,
	// find each other through and take their configuration from (EVENTPOST_CONSUL_ADDR). When
	// empty, Launch uses the agent answering on 127.0.0.1:8500, or else starts a dev agent of
	// ConsulBinary there and stops it with the cluster; with neither, the services use static
	// discovery.
	ConsulAddr string
	// ConsulBinary is the consul executable (EVENTPOST_CONSUL_BIN, default bin/consul, as
	// scripts/test.sh builds it from tools/consul, or consul on the PATH).
	ConsulBinary string
	// Env is added to every process's environment, which otherwise is this process's
	// (EVENTPOST_SMTP_URL, EVENTPOST_MAIL_FROM, OTEL_EXPORTER_OTLP_ENDPOINT… pass through).
	// EVENTPOST_METRICS_ADDR, from Env or else this process's environment, is the launcher's
	// to hand out: unset, each process serves /metrics on its own HTTP address; host:0 gives
	// each process a metrics listener of its own on host, at a free port (Process.MetricsAddr).
	Env []string
	// Output receives every process's log lines. An *os.File (stdout, a log file opened for
	// appending) is handed to the processes as it is, which costs this process nothing.
	Output io.Writer
	// KeyDir, when set, holds the service keys as `eventpost keygen` writes them (made there
	// if missing), which the processes are then given: whoever reads the directory can sign
	// a call to any service directly, as a benchmark that compares paths to one service
	// does. Unset, every launch makes fresh keys and writes them nowhere.
	KeyDir string
	// Log receives the launcher's own lines: a status line for each process whenever its
	// state changes (see ProcessState). Nil discards them.
	Log *slog.Logger
}

// DefaultClusterConfig returns the launcher's defaults; the ports and replica counts are the
// roster's.
func DefaultClusterConfig() ClusterConfig {
	cfg := ClusterConfig{
		PostgresURL:    "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		DatabasePrefix: "eventpost",
		AMQPURL:        "amqp://guest:guest@127.0.0.1:5672/",
		Replicas:       map[string]int{},
		Output:         os.Stdout,
	}
	for _, name := range backendServices {
		cfg.Replicas[name] = mustSpec(name).replicas
	}
	cfg.SetBasePort(mustSpec(discovery.Gateway).port)
	return cfg
}

// systemKeys returns the service keys of the processes: those under KeyDir, or else a fresh
// set, handed to each process in its environment (which only this user can read) and never
// written to disk.
func (c ClusterConfig) systemKeys() (systemKeys, error) {
	if c.KeyDir == "" {
		return newSystemKeys()
	}
	ks, _, err := keygen(c.KeyDir)
	return ks, err
}

// SetBasePort moves every port of the cluster to start at base instead of the roster's 8080:
// the gateway listens on :base and each replica of a service on its roster port's offset
// from 8080, plus base, plus 10 per replica (base 9080: auth 9081, notifications 9083 and
// 9093…), so that two clusters with other bases run side by side. Call it after setting
// Replicas.
func (c *ClusterConfig) SetBasePort(base int) {
	offset := base - mustSpec(discovery.Gateway).port
	c.GatewayAddr = fmt.Sprintf(":%d", base)
	c.Ports = map[string][]int{}
	for _, name := range backendServices {
		for i := range c.Replicas[name] {
			c.Ports[name] = append(c.Ports[name], mustSpec(name).port+offset+10*i)
		}
	}
}

// maxBasePort is the highest base port: the ports above it up to 65535 hold every replica.
const maxBasePort = 65535 - 100

// maxReplicas is the most processes of one service the launcher runs: replica i listens on
// its service's port plus 10*i, and every port stays below base+100 (maxBasePort).
const maxReplicas = 9

// parseReplicas reads a list of service=N, separated by commas (EVENTPOST_LAUNCH_REPLICAS,
// --replicas), into replicas: N processes of each named service, from 1 to maxReplicas.
func parseReplicas(list string, replicas map[string]int) error {
	for item := range strings.SplitSeq(list, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return fmt.Errorf("replicas %q: want service=N, such as notifications=3", item)
		}
		if name == discovery.Gateway {
			return fmt.Errorf("replicas %q: the gateway runs as one process", item)
		}
		if !slices.Contains(backendServices, name) {
			return fmt.Errorf("replicas %q: unknown service; want one of %s", item, strings.Join(backendServices, ", "))
		}
		count, err := strconv.Atoi(n)
		if err != nil || count < 1 || count > maxReplicas {
			return fmt.Errorf("replicas %q: want from 1 to %d processes", item, maxReplicas)
		}
		replicas[name] = count
	}
	return nil
}

// parseBasePort reads EVENTPOST_LAUNCH_BASE_PORT: a port from 1024 to maxBasePort.
func parseBasePort(v string) (int, error) {
	base, err := strconv.Atoi(v)
	if err != nil || base < 1024 || base > maxBasePort {
		return 0, fmt.Errorf("EVENTPOST_LAUNCH_BASE_PORT=%q: want a port from 1024 to %d", v, maxBasePort)
	}
	return base, nil
}

// Process is one running service process of a Cluster.
type Process struct {
	Service string
	Index   int
	// Addr is its listen address (host:port).
	Addr string
	// MetricsAddr is the address of its metrics listener (EVENTPOST_METRICS_ADDR), "" when
	// it serves /metrics on Addr.
	MetricsAddr string

	env []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	state   ProcessState
	readyAt time.Time // when it last turned ready; zero while it is not
}

// PID returns the process ID of p's current (or last) process, 0 before it first started.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// State returns p's state as Launch, Supervise and Stop last saw it.
func (p *Process) State() ProcessState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// name is how the launcher's lines name p: <service>-<replica>, counting from 1.
func (p *Process) name() string { return fmt.Sprintf("%s-%d", p.Service, p.Index+1) }

// Cluster is the distributed system running on this machine, a process per service replica.
type Cluster struct {
	// URL is the gateway's base URL.
	URL       string
	Processes []*Process
	// ConsulAddr is the Consul agent the services use, "" without Consul.
	ConsulAddr string

	cfg      ClusterConfig
	out      io.Writer
	log      *slog.Logger
	stopping atomic.Bool // set by Stop: no process starts again
	consul   *exec.Cmd   // the dev agent Launch started, if any
}

// Launch prepares a database and a role per service on the PostgreSQL server and starts every
// service as its own OS process — the configured replicas of each — plus the gateway, then
// waits until all of them are ready.
func Launch(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	metricsHost, metricsOn, err := launchMetricsHost(cfg.Env)
	if err != nil {
		return nil, err
	}
	dbURLs, err := prepareDatabases(ctx, cfg.PostgresURL, cfg.DatabasePrefix)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, out: cfg.Output, log: cfg.Log, ConsulAddr: cfg.ConsulAddr}
	if c.log == nil {
		c.log = logging.Discard()
	}
	if _, ok := cfg.Output.(*os.File); !ok {
		// Not a file: the processes' output is copied in by goroutines, one line at a time.
		c.out = &lockedWriter{w: cfg.Output}
	}
	if c.ConsulAddr == "" && cfg.ConsulBinary != "" {
		if err := c.startConsul(ctx); err != nil {
			return nil, err
		}
	}
	upstreams, err := c.plan()
	if err != nil {
		return nil, err
	}
	keys, err := cfg.systemKeys()
	if err != nil {
		return nil, err
	}
	for _, p := range c.Processes {
		if err := c.setEnv(p, keys, dbURLs[p.Service], upstreams, metricsHost, metricsOn); err != nil {
			c.Stop()
			return nil, err
		}
		if err := c.Start(p); err != nil {
			c.Stop()
			return nil, err
		}
	}
	for _, p := range c.Processes {
		if err := waitReady(ctx, p.readyURL(), 90*time.Second); err != nil {
			c.Stop()
			return nil, fmt.Errorf("%s: %w", p.name(), err)
		}
		c.setState(p, StateReady, "", 0)
	}
	return c, nil
}

// plan lists the cluster's processes — the replicas of every service, then the gateway —
// with their addresses, and returns the base URLs of each service's replicas.
func (c *Cluster) plan() (map[string][]string, error) {
	upstreams := map[string][]string{}
	for _, name := range backendServices {
		for i := range max(c.cfg.Replicas[name], 1) {
			addr, err := clusterAddr(c.cfg.Ports[name], i)
			if err != nil {
				return nil, err
			}
			c.Processes = append(c.Processes, &Process{Service: name, Index: i, Addr: addr})
			upstreams[name] = append(upstreams[name], "http://"+addr)
		}
	}
	c.Processes = append(c.Processes, &Process{Service: discovery.Gateway, Addr: c.cfg.GatewayAddr})
	c.URL = "http://" + hostPort(c.cfg.GatewayAddr)
	return upstreams, nil
}

// setEnv sets the environment of p's process: the cluster's Env, its keys, addresses,
// database, broker, Consul agent, metrics listener and the other services' URLs.
func (c *Cluster) setEnv(p *Process, keys systemKeys, dbURL string, upstreams map[string][]string, metricsHost string, metricsOn bool) error {
	keyEnv, err := keys.env(p.Service)
	if err != nil {
		return err
	}
	p.env = append(append(append([]string{}, c.cfg.Env...), keyEnv...),
		"EVENTPOST_SERVICE_KEY_FILE=", "EVENTPOST_CALLER_KEYS_FILE=",
		"EVENTPOST_HTTP_ADDR="+p.Addr,
		"EVENTPOST_DATABASE_URL="+dbURL,
		"EVENTPOST_AMQP_URL="+c.cfg.AMQPURL,
		fmt.Sprintf("EVENTPOST_INSTANCE_ID=%s-%d", p.Service, p.Index+1),
	)
	if c.ConsulAddr != "" {
		p.env = append(p.env, "EVENTPOST_CONSUL_ADDR="+c.ConsulAddr)
	}
	if metricsOn {
		free, err := clusterAddr(nil, 0)
		if err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(free)
		p.MetricsAddr = net.JoinHostPort(metricsHost, port)
		p.env = append(p.env, "EVENTPOST_METRICS_ADDR="+p.MetricsAddr)
	}
	for name, urls := range upstreams {
		p.env = append(p.env, upstreamVar(name)+"="+strings.Join(urls, ","))
	}
	return nil
}

// errStopped is Start's answer once Stop has begun.
var errStopped = errors.New("the cluster is stopping")

// Start starts p's process (again, after Kill); not once Stop has begun.
func (c *Cluster) Start(p *Process) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Checked under p.mu, which Stop takes after setting stopping: a process either starts
	// before Stop looks at p, and is stopped by it, or does not start.
	if c.stopping.Load() {
		return fmt.Errorf("start %s: %w", p.name(), errStopped)
	}
	cmd := exec.Command(c.cfg.Binary, "serve", p.Service)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name(), err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	p.state, p.readyAt = StateStarting, time.Time{}
	c.logState(p, cmd.Process.Pid, StateStarting, "", 0)
	return nil
}

// Kill kills p's process with SIGKILL and waits until it is gone. Under Supervise, the
// process is then started again like any that exits.
func (c *Cluster) Kill(p *Process) error {
	return p.signal(syscall.SIGKILL)
}

// Stop stops every process gracefully (SIGTERM) and waits for them, then the Consul dev
// agent Launch started. No process starts again afterwards, not even under Supervise.
func (c *Cluster) Stop() {
	c.stopping.Store(true)
	var wg sync.WaitGroup
	for _, p := range c.Processes {
		wg.Go(func() {
			_ = p.signal(syscall.SIGTERM)
			if p.PID() != 0 && p.State() != StateExited {
				c.setState(p, StateExited, p.exitStatus(), 0)
			}
		})
	}
	wg.Wait()
	if c.consul != nil {
		_ = c.consul.Process.Signal(syscall.SIGTERM)
		_ = c.consul.Wait()
		c.consul = nil
	}
}

// startConsul starts a Consul dev agent on 127.0.0.1:8500 and waits until it answers; when an
// agent already answers there, it uses that one.
func (c *Cluster) startConsul(ctx context.Context) error {
	const addr = "127.0.0.1:8500"
	if waitReady(ctx, "http://"+addr+"/v1/status/leader", time.Second) == nil {
		c.ConsulAddr = addr
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("consul: %s is taken by something that is not a Consul agent", addr)
	}
	ln.Close()
	cmd := exec.Command(c.cfg.ConsulBinary, "agent", "-dev", "-client", "127.0.0.1", "-bind", "127.0.0.1", "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("consul: %w", err)
	}
	c.consul, c.ConsulAddr = cmd, addr
	if err := waitReady(ctx, "http://"+addr+"/v1/status/leader", 60*time.Second); err != nil {
		c.Stop()
		return fmt.Errorf("consul: %w", err)
	}
	return nil
}

// signal sends sig to p's process, if it runs, and waits until it has exited, killing it
// after 30 seconds.
func (p *Process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return nil
}

// prepareDatabases creates, when missing, a role and a database owned by it for every
// service, closes the database to everyone else, and returns each service's database URL.
func prepareDatabases(ctx context.Context, adminURL, prefix string) (map[string]string, error) {
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("postgres at %s: %w", redactURL(adminURL), err)
	}
	base, err := url.Parse(adminURL)
	if err != nil {
		return nil, err
	}
	urls := map[string]string{}
	for _, name := range backendServices {
		ident := prefix + "_" + name // letters, digits and underscores: safe as an identifier
		for _, q := range []string{
			fmt.Sprintf(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[1]s') THEN CREATE ROLE %[1]s LOGIN; END IF; END $$`, ident),
		} {
			if _, err := admin.ExecContext(ctx, q); err != nil {
				return nil, fmt.Errorf("role %s: %w", ident, err)
			}
		}
		var exists bool
		if err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, ident).Scan(&exists); err != nil {
			return nil, err
		}
		if !exists {
			if _, err := admin.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %[1]s OWNER %[1]s`, ident)); err != nil {
				return nil, fmt.Errorf("database %s: %w", ident, err)
			}
		}
		if _, err := admin.ExecContext(ctx, fmt.Sprintf(`REVOKE ALL ON DATABASE %[1]s FROM PUBLIC`, ident)); err != nil {
			return nil, fmt.Errorf("database %s: %w", ident, err)
		}
		u := *base
		u.User = url.User(ident)
		u.Path = "/" + ident
		urls[name] = u.String()
	}
	return urls, nil
}

// launchMetricsHost reads the EVENTPOST_METRICS_ADDR the launched processes would inherit
// (the last in env, else this process's) and returns its host; on is false when it is unset.
// One address cannot serve several processes, so its port must be 0: each process is given
// a free port of its own on that host.
func launchMetricsHost(env []string) (host string, on bool, err error) {
	v := os.Getenv("EVENTPOST_METRICS_ADDR")
	for _, kv := range env {
		if rest, ok := strings.CutPrefix(kv, "EVENTPOST_METRICS_ADDR="); ok {
			v = rest
		}
	}
	if v == "" {
		return "", false, nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil || port != "0" {
		return "", false, fmt.Errorf("EVENTPOST_METRICS_ADDR: the launcher gives each process a metrics port of its own; "+
			"set host:0, such as 127.0.0.1:0, not %q", v)
	}
	return host, true, nil
}

// clusterAddr returns the listen address of replica i: its configured port, or a free one.
func clusterAddr(ports []int, i int) (string, error) {
	if i < len(ports) {
		return fmt.Sprintf("127.0.0.1:%d", ports[i]), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func hostPort(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	return addr
}

// waitReady polls url until it answers 200.
func waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if answers200(ctx, url) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready within %s (%s)", timeout, url)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// answers200 reports whether a GET of url answers 200 within probeTimeout.
func answers200(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// probeTimeout bounds each readiness probe, so that a process that accepts but does not
// answer is asked again.
const probeTimeout = 2 * time.Second

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// lockedWriter serializes the writes of several processes to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
