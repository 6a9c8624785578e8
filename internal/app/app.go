// Package app wires EventPost's services together and runs them: the all-in-one mode (the
// gateway and every service in one process on embedded backends), one service per process
// (the distributed mode), and a launcher that starts the whole distributed system on one
// machine.
package app

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/telemetry"
)

const usage = `usage: eventpost [command]

commands:
  all-in-one       run the gateway and every service in one process (the default)
  serve <service>  run one service of the distributed mode: gateway, auth, events,
                   notifications or mailer
  launch [--replicas service=N,...]
                   run the distributed mode on this machine: every service as its own
                   process (N of the service named, from 1 to 9), against the local
                   PostgreSQL and RabbitMQ; a process that exits is started again
  keygen <dir>     write the service keys of a distributed system under dir:
                   <service>/service.key (0600) for the services that call others,
                   public/caller-keys (0644); existing files are kept
  seed [--events N] [--reminders N]
                   load N sample events (default 200, at most 10000000) into the events
                   store, starting over the next year, with their organizers' names: the
                   events service's PostgreSQL database when EVENTPOST_DATABASE_URL is set,
                   else <data dir>/events.db of the all-in-one mode; EventPost may be running.
                   --reminders N (at most 10000000) also loads N scheduled reminders of
                   generated accounts (100 each, who cannot log in) for the first N/10 of
                   those events into the notifications store: the database of
                   EVENTPOST_NOTIFICATIONS_DATABASE_URL when EVENTPOST_DATABASE_URL is set,
                   else <data dir>/notifications.db
  env              list the environment variables of the all-in-one mode and of serve,
                   with their defaults (a Markdown table, as README.md shows it)
  help             show this text

Configuration comes from the environment; see README.md.
`

// Run runs the command named by args with the environment getenv, writing logs to stdout.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "all-in-one"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "all-in-one":
		return runAllInOne(ctx, getenv, stdout)
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout)
	case "launch":
		return runLaunch(ctx, args[1:], getenv, stdout)
	case "keygen":
		if len(args) != 2 {
			return fmt.Errorf("keygen needs a directory\n%s", usage)
		}
		_, wrote, err := keygen(args[1])
		for _, p := range wrote {
			fmt.Fprintln(stdout, "wrote", p)
		}
		return err
	case "seed":
		return runSeed(ctx, args[1:], getenv, stdout)
	case "env":
		_, err := io.WriteString(stdout, EnvTable())
		return err
	case "help", "-h", "--help":
		_, err := io.WriteString(stdout, usage)
		return err
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

// runAllInOne runs the all-in-one mode until ctx ends or a part fails.
func runAllInOne(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := ReadConfig(getenv, "")
	if err != nil {
		return err
	}
	return withTelemetry(ctx, "", cfg, getenv, stdout, func(log *slog.Logger) error {
		sys, err := Start(ctx, cfg, log)
		if err != nil {
			return err
		}
		log.Info("EventPost is running", "url", sys.URL, "data_dir", cfg.DataDir)
		err = sys.Wait()
		log.Info("EventPost stopped", "err", err)
		return err
	})
}

// runServe runs the service args names (`serve <service>`) until ctx ends.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	services := Services()
	if len(args) != 1 || !slices.Contains(services, args[0]) {
		return fmt.Errorf("serve needs one of: %s\n%s", strings.Join(services, ", "), usage)
	}
	cfg, err := ReadConfig(getenv, args[0])
	if err != nil {
		return err
	}
	return withTelemetry(ctx, args[0], cfg, getenv, stdout, func(log *slog.Logger) error {
		return Serve(ctx, args[0], cfg, log)
	})
}

// EnvTable returns EnvVars as a Markdown table: each variable (and its _FILE form) and its
// default.
func EnvTable() string {
	var b strings.Builder
	b.WriteString("| variable | default |\n|---|---|\n")
	for _, v := range EnvVars() {
		name := "`" + v.Name + "`"
		if v.File {
			name += " (or `" + v.Name + "_FILE`)"
		}
		def := "unset"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		fmt.Fprintf(&b, "| %s | %s |\n", name, def)
	}
	return b.String()
}

// withTelemetry sets OpenTelemetry up for the process of service ("" for the all-in-one
// process), runs fn with the process's logger — JSON lines on stdout, and log records over
// OTLP when getenv names an endpoint — and flushes the telemetry once fn has returned.
func withTelemetry(ctx context.Context, service string, cfg Config, getenv func(string) string, stdout io.Writer, fn func(*slog.Logger) error) error {
	shutdown, err := telemetry.Setup(ctx, service, cfg.InstanceID, getenv)
	if err != nil {
		return err
	}
	log := logging.New(stdout, cfg.Leveler(), telemetry.LogHandler(getenv))
	log = slog.New(httpx.SampleAccessLog(log.Handler(), cfg.AccessLogSample))
	err = fn(log)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if serr := shutdown(sctx); serr != nil {
		log.Warn("telemetry shutdown", "err", serr)
	}
	return err
}

// consulBinary finds the consul executable: bin (when set), ./bin/consul, or consul on the PATH.
func consulBinary(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	if _, err := os.Stat("bin/consul"); err == nil {
		return "bin/consul", nil
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no consul executable: build it with `(cd tools/consul && go build -o ../../bin/consul github.com/hashicorp/consul)` " +
		"(scripts/test.sh does), set EVENTPOST_CONSUL_BIN, or set EVENTPOST_CONSUL_ADDR to a running agent")
}

// runLaunch starts the distributed system with the launcher's settings from getenv and args
// (--replicas) and keeps it running until ctx ends, then stops it.
func runLaunch(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := launchConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		_, err = io.WriteString(stdout, usage)
		return err
	}
	if err != nil {
		return err
	}
	if cfg.Binary, err = os.Executable(); err != nil {
		return err
	}
	log := logging.New(stdout, nil).With("service", "launcher")
	cfg.Output, cfg.Log = stdout, log
	cluster, err := Launch(ctx, cfg)
	if err != nil {
		return err
	}
	log.Info("EventPost (distributed) is running", "url", cluster.URL, "processes", len(cluster.Processes))
	cluster.Supervise(ctx)
	log.Info("EventPost (distributed) stopping")
	cluster.Stop()
	log.Info("EventPost (distributed) stopped")
	return nil
}

// launchConfig reads the launcher's settings: the environment (LauncherEnv and the
// variables it shares with the services), then the command line's --replicas, which adds to
// and overrides EVENTPOST_LAUNCH_REPLICAS.
func launchConfig(args []string, getenv func(string) string) (ClusterConfig, error) {
	cfg := DefaultClusterConfig()
	if v := getenv("EVENTPOST_LAUNCH_REPLICAS"); v != "" {
		if err := parseReplicas(v, cfg.Replicas); err != nil {
			return cfg, fmt.Errorf("EVENTPOST_LAUNCH_REPLICAS: %w", err)
		}
	}
	fs := flag.NewFlagSet("launch", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Func("replicas", "service=N,… (repeatable)", func(v string) error { return parseReplicas(v, cfg.Replicas) })
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, fmt.Errorf("launch: %w", err)
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("launch: unexpected argument %q (see eventpost help)", fs.Arg(0))
	}
	base := mustSpec(discovery.Gateway).port
	if v := getenv("EVENTPOST_LAUNCH_BASE_PORT"); v != "" {
		var err error
		if base, err = parseBasePort(v); err != nil {
			return cfg, err
		}
	}
	cfg.SetBasePort(base) // after the replicas: a port per replica
	cfg.PostgresURL = cmp.Or(getenv("EVENTPOST_POSTGRES_URL"), cfg.PostgresURL)
	cfg.DatabasePrefix = cmp.Or(getenv("EVENTPOST_DATABASE_PREFIX"), cfg.DatabasePrefix)
	cfg.AMQPURL = cmp.Or(getenv("EVENTPOST_AMQP_URL"), cfg.AMQPURL)
	cfg.GatewayAddr = cmp.Or(getenv("EVENTPOST_HTTP_ADDR"), cfg.GatewayAddr)
	cfg.ConsulAddr = getenv("EVENTPOST_CONSUL_ADDR")
	if cfg.ConsulAddr == "" {
		var err error
		if cfg.ConsulBinary, err = consulBinary(getenv("EVENTPOST_CONSUL_BIN")); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}
