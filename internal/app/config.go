package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/auth"
	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/gateway"
	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/envconf"
)

// Config is the configuration of an EventPost process, read from the environment by
// ReadConfig: the all-in-one mode, or one service of the distributed mode. A field with an
// env tag is read from EVENTPOST_<tag> (see envconf); a prefix tag reads a service's own
// Config from EVENTPOST_<SERVICE>_<SETTING>.
type Config struct {
	// HTTPAddr is the listen address (EVENTPOST_HTTP_ADDR): the gateway's, default ":8080";
	// in the distributed mode a service's, default 127.0.0.1 and the service's port in
	// the roster.
	HTTPAddr string `env:"HTTP_ADDR" default:":8080; a service of the distributed mode 127.0.0.1:<its port>"`
	// MetricsAddr, when set, is the address of a listener of its own for /metrics
	// (EVENTPOST_METRICS_ADDR, such as ":9090"); the main listener then answers /metrics 404.
	// It serves the process's registry at /metrics and, in the all-in-one mode, each
	// service's at /metrics/<service>; a launcher (`eventpost launch`) wants port 0 there
	// and gives each process a free port of its own. Unset, every listener serves its own
	// /metrics (the gateway's is public).
	MetricsAddr string `env:"METRICS_ADDR"`
	// Pprof serves the Go runtime's profiles (CPU, heap, goroutines, execution trace) under
	// /debug/pprof/ on the metrics listener, for `go tool pprof` (EVENTPOST_PPROF); it needs
	// MetricsAddr, since a profile is for operators only (metrics.WithProfiles).
	Pprof bool `env:"PPROF"`
	// DataDir holds one SQLite database per service and, without SMTP, the mail/ folder
	// (EVENTPOST_DATA_DIR, default "./data").
	DataDir string `env:"DATA_DIR"`
	// PublicURL is the address users reach the gateway at, used for links in emails and
	// calendars (EVENTPOST_PUBLIC_URL, default http://localhost plus the gateway's port).
	PublicURL string `env:"PUBLIC_URL" default:"http://localhost:<the gateway's port>"`
	// SMTPURL sends mail over SMTP when set: smtp://[user:pass@]host:port?tls=none|starttls|tls
	// (EVENTPOST_SMTP_URL). Unset, mail is written as .eml files under DataDir/mail.
	SMTPURL string `env:"SMTP_URL"`
	// MailFrom is the From address of every email (EVENTPOST_MAIL_FROM, default
	// "EventPost <no-reply@eventpost.local>").
	MailFrom string `env:"MAIL_FROM"`
	// LogLevel is debug, info, warn or error (EVENTPOST_LOG_LEVEL, default info).
	LogLevel slog.Level `env:"LOG_LEVEL" default:"info"`
	// AccessLogSample keeps one in this many access-log lines of requests answered below 400
	// (EVENTPOST_ACCESS_LOG_SAMPLE, default 1: every line); each kept line says
	// sample_rate. Lines of 4xx and 5xx answers are always kept.
	AccessLogSample int `env:"ACCESS_LOG_SAMPLE,positive" default:"1"`
	// LogLevelVar holds the log level in force, LogLevel at first: a `serve` process watching
	// Consul changes it from the log_level key. ReadConfig sets it; nil means LogLevel, fixed.
	LogLevelVar *slog.LevelVar
	// RateLimit is the gateway's sustained requests per second per client address
	// (EVENTPOST_RATE_LIMIT, default 20); RateBurst its burst (EVENTPOST_RATE_BURST, default 40).
	RateLimit float64 `env:"RATE_LIMIT,positive"`
	RateBurst int     `env:"RATE_BURST,positive"`
	// ShutdownTimeout bounds the graceful shutdown (EVENTPOST_SHUTDOWN_TIMEOUT, default 15s).
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT,positive"`
	// HSTSIncludeSubdomains adds includeSubDomains to the Strict-Transport-Security header
	// the gateway sends when PublicURL is https (EVENTPOST_HSTS_INCLUDE_SUBDOMAINS, true or
	// false, default false: a sibling site still served over plain HTTP keeps working).
	HSTSIncludeSubdomains bool `env:"HSTS_INCLUDE_SUBDOMAINS"`
	// InProcessTransport makes the all-in-one mode's gateway, and the notifications
	// service's calls to the events service, call each service's handler in this process
	// instead of its loopback listener (EVENTPOST_INPROCESS_TRANSPORT, default true): the
	// same requests and answers without a socket (see httpx.InProcess). The services still
	// listen, for health checks, metrics and direct calls. false goes through the sockets,
	// as the distributed mode does; that mode ignores it.
	InProcessTransport bool `env:"INPROCESS_TRANSPORT"`

	// The distributed mode's settings.

	// InstanceID names this process in logs and in the broker (EVENTPOST_INSTANCE_ID,
	// default host name and process ID).
	InstanceID string `env:"INSTANCE_ID" default:"<host name>-<process ID>"`
	// DatabaseURL is this service's own PostgreSQL database (EVENTPOST_DATABASE_URL, such as
	// postgres://eventpost_events@127.0.0.1:5432/eventpost_events). Required by every service
	// but the gateway.
	DatabaseURL string `env:"DATABASE_URL"`
	// AMQPURL is the RabbitMQ server (EVENTPOST_AMQP_URL, default
	// amqp://guest:guest@127.0.0.1:5672/).
	AMQPURL string `env:"AMQP_URL"`
	// AMQPPrefix starts the names of the exchange and queues EventPost declares
	// (EVENTPOST_AMQP_PREFIX, default "eventpost"), so that several systems can share a
	// RabbitMQ virtual host.
	AMQPPrefix string `env:"AMQP_PREFIX"`
	// ConsulAddr is the HTTP address of the local Consul agent (EVENTPOST_CONSUL_ADDR, such
	// as 127.0.0.1:8500). When set, a `serve` process registers itself with the agent, finds
	// the services it calls through it (Upstreams are then unused), and applies the
	// configuration keys under eventpost/config/<service>/ while it runs. Unset, discovery is
	// static and the configuration comes from the environment alone.
	ConsulAddr string `env:"CONSUL_ADDR"`
	// ConsulPrefix names this system in Consul (EVENTPOST_CONSUL_PREFIX, default "eventpost"):
	// its services register as <prefix>-<service> and read their configuration under
	// <prefix>/config/<service>/, so that several systems can share an agent.
	ConsulPrefix string `env:"CONSUL_PREFIX"`
	// AdvertiseAddr is the address registered with Consul, where other instances and the
	// agent's check reach this one: a host, or host:port (EVENTPOST_ADVERTISE_ADDR). Default
	// the listen address's host — when it listens on every interface, the host's first
	// non-loopback IPv4 address (a container's or pod's) — and the port it listens on.
	AdvertiseAddr string `env:"ADVERTISE_ADDR"`
	// ServiceKey is this process's service identity, the Ed25519 private key it signs its
	// calls to the other services with (EVENTPOST_SERVICE_KEY, or the file named by
	// EVENTPOST_SERVICE_KEY_FILE): a PEM "PRIVATE KEY" block (PKCS #8, as
	// `openssl genpkey -algorithm ed25519` or `eventpost keygen` writes it). Required by a
	// `serve` process of a service that calls others (the gateway, notifications); the
	// all-in-one mode makes its keys in memory.
	ServiceKey string `env:"SERVICE_KEY,file,private"`
	// CallerKeys are the public keys of the services allowed to call this one
	// (EVENTPOST_CALLER_KEYS, or the file named by EVENTPOST_CALLER_KEYS_FILE):
	// "<service>:<base64url Ed25519 public key>" entries separated by commas or new lines,
	// several per service while a key is rotated. Which service may call which is fixed in
	// code; a `serve` process refuses to start without a key for each of its callers.
	CallerKeys string `env:"CALLER_KEYS,file"`
	// AuthSigningKeys are the auth service's access-token signing keys
	// (EVENTPOST_AUTH_SIGNING_KEYS, or the file named by EVENTPOST_AUTH_SIGNING_KEYS_FILE):
	// PEM "PRIVATE KEY" blocks; the first signs new tokens, every one is published in the JWK
	// set. Unset, the auth service keeps a key of its own in its database.
	AuthSigningKeys string `env:"AUTH_SIGNING_KEYS,file,private"`
	// Upstreams are the base URLs of the instances of the services this one calls:
	// EVENTPOST_AUTH_URLS, EVENTPOST_EVENTS_URLS and EVENTPOST_NOTIFICATIONS_URLS, each a
	// comma-separated list, default the service's port in the roster on 127.0.0.1.
	Upstreams map[string][]string

	// The services' own settings, each read from EVENTPOST_<SERVICE>_<SETTING> (see the env
	// tags of their Config types). A zero value means the service's defaults.

	Gateway       gateway.Config       `env:"GATEWAY_,prefix"`
	Auth          auth.Config          `env:"AUTH_,prefix"`
	Events        events.Config        `env:"EVENTS_,prefix"`
	Notifications notifications.Config `env:"NOTIFICATIONS_,prefix"`
	Mailer        mailer.Config        `env:"MAILER_,prefix"`
}

// envPrefix starts the name of every variable of Config.
const envPrefix = "EVENTPOST_"

// KnownEnv lists every environment variable ReadConfig reads — the configuration of the
// all-in-one mode and of `eventpost serve <service>` — generated from Config's env tags and
// the roster (EnvVars). The deployment files under deploy/ set only these
// (deploy/deploy_test.go checks it, and that this list matches ReadConfig), and README.md
// lists them (TestReadmeListsEnv). The launcher (`eventpost launch`) also reads LauncherEnv,
// which a single service never does.
var KnownEnv = envconf.Names(EnvVars())

// LauncherEnv lists the variables only the launcher reads (runLaunch).
var LauncherEnv = []string{"EVENTPOST_POSTGRES_URL", "EVENTPOST_DATABASE_PREFIX", "EVENTPOST_CONSUL_BIN", "EVENTPOST_LAUNCH_BASE_PORT", "EVENTPOST_LAUNCH_REPLICAS"}

// EnvVars returns the variables ReadConfig reads, with their defaults: Config's, then the
// EVENTPOST_<SERVICE>_URLS of the services that others call (`eventpost env` prints them).
func EnvVars() []envconf.Var {
	vars := envconf.Vars(envPrefix, defaultConfig(""))
	for _, name := range calledServices() {
		vars = append(vars, envconf.Var{
			Name:    upstreamVar(name),
			Default: fmt.Sprintf("http://127.0.0.1:%d", mustSpec(name).port),
		})
	}
	return vars
}

// upstreamVar names the variable listing the instances of the named service.
func upstreamVar(name string) string { return envPrefix + strings.ToUpper(name) + "_URLS" }

// ReadConfig reads the configuration of the named service ("" for the all-in-one mode) from
// getenv, applying defaults.
func ReadConfig(getenv func(string) string, service string) (Config, error) {
	c := defaultConfig(service)
	if err := envconf.Load(getenv, envPrefix, &c); err != nil {
		return c, err
	}
	c.Upstreams = readUpstreams(getenv)
	c.complete(service)
	return c, c.validate()
}

// defaultConfig returns the defaults of the named service's configuration ("" for the
// all-in-one mode).
func defaultConfig(service string) Config {
	addr := ":8080"
	if s, ok := spec(service); ok && service != discovery.Gateway {
		addr = fmt.Sprintf("127.0.0.1:%d", s.port)
	}
	return Config{
		HTTPAddr:           addr,
		DataDir:            "data",
		MailFrom:           "EventPost <no-reply@eventpost.local>",
		RateLimit:          20,
		RateBurst:          40,
		ShutdownTimeout:    15 * time.Second,
		InProcessTransport: true,
		InstanceID:         defaultInstanceID(),
		AMQPURL:            "amqp://guest:guest@127.0.0.1:5672/",
		AMQPPrefix:         "eventpost",
		ConsulPrefix:       "eventpost",
		Gateway:            gateway.DefaultConfig(),
		Auth:               auth.DefaultConfig(),
		Events:             events.DefaultConfig(),
		Notifications:      notifications.DefaultConfig(),
		Mailer:             mailer.DefaultConfig(),
	}
}

// readUpstreams reads the base URLs of the instances of every service that others call, from
// EVENTPOST_<SERVICE>_URLS (comma-separated), default the service's port on 127.0.0.1.
func readUpstreams(getenv func(string) string) map[string][]string {
	ups := map[string][]string{}
	for _, name := range calledServices() {
		v := getenv(upstreamVar(name))
		if v == "" {
			v = fmt.Sprintf("http://127.0.0.1:%d", mustSpec(name).port)
		}
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSuffix(strings.TrimSpace(u), "/"); u != "" {
				ups[name] = append(ups[name], u)
			}
		}
	}
	return ups
}

// complete derives what the variables leave to the code: the public URL's default, the
// trailing slashes trimmed, the log level variable.
func (c *Config) complete(service string) {
	if c.PublicURL == "" {
		port := c.HTTPAddr[strings.LastIndex(c.HTTPAddr, ":")+1:]
		if service != "" && service != discovery.Gateway {
			port = fmt.Sprint(mustSpec(discovery.Gateway).port)
		}
		c.PublicURL = "http://localhost:" + port
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	c.ConsulAddr = strings.TrimSuffix(c.ConsulAddr, "/")
	c.LogLevelVar = new(slog.LevelVar)
	c.LogLevelVar.Set(c.LogLevel)
}

// validate checks the addresses, which the variables' types do not.
func (c *Config) validate() error {
	if v := c.AdvertiseAddr; strings.Contains(v, ":") && net.ParseIP(v) == nil {
		if _, port, err := net.SplitHostPort(v); err != nil || !validPort(port) {
			return fmt.Errorf("EVENTPOST_ADVERTISE_ADDR: want a host or host:port, got %q", v)
		}
	}
	if v := c.MetricsAddr; v != "" {
		if _, port, err := net.SplitHostPort(v); err != nil || port != "0" && !validPort(port) {
			return fmt.Errorf("EVENTPOST_METRICS_ADDR: want host:port or :port, such as :9090, got %q", v)
		} else if v == c.HTTPAddr && port != "0" {
			return fmt.Errorf("EVENTPOST_METRICS_ADDR: %q is also EVENTPOST_HTTP_ADDR; give /metrics a port of its own", v)
		}
	}
	if c.Pprof && c.MetricsAddr == "" {
		return errors.New("EVENTPOST_PPROF: the profiles are served on the metrics listener only; set EVENTPOST_METRICS_ADDR too")
	}
	return nil
}

// mailTransport is the configuration of the email-sender's transport: SMTP at SMTPURL, or
// .eml files under DataDir/mail.
func (c Config) mailTransport() mailer.Config {
	return mailer.Config{
		SMTPURL: c.SMTPURL, MailDir: filepath.Join(c.DataDir, "mail"), SMTPConnections: c.Mailer.SMTPConnections,
	}
}

// Leveler returns the log level of the process's logger: LogLevelVar, which Consul's
// log_level key changes, or LogLevel when it is nil.
func (c Config) Leveler() slog.Leveler {
	if c.LogLevelVar != nil {
		return c.LogLevelVar
	}
	return c.LogLevel
}

// validPort reports whether s is a port number from 1 to 65535.
func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n < 65536
}
