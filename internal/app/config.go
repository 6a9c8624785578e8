package app

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/platform/discovery"
)

// Config is the configuration of an EventPost process, read from the environment by
// ReadConfig: the all-in-one mode, or one service of the distributed mode.
type Config struct {
	// HTTPAddr is the listen address (EVENTPOST_HTTP_ADDR): the gateway's, default ":8080";
	// in the distributed mode a service's, default 127.0.0.1 and the service's port in
	// the roster.
	HTTPAddr string
	// MetricsAddr, when set, is the address of a listener of its own for /metrics
	// (EVENTPOST_METRICS_ADDR, such as ":9090"); the main listener then answers /metrics 404.
	// It serves the process's registry at /metrics and, in the all-in-one mode, each
	// service's at /metrics/<service>; a launcher (`eventpost launch`) wants port 0 there
	// and gives each process a free port of its own. Unset, every listener serves its own
	// /metrics (the gateway's is public).
	MetricsAddr string
	// DataDir holds one SQLite database per service and, without SMTP, the mail/ folder
	// (EVENTPOST_DATA_DIR, default "./data").
	DataDir string
	// PublicURL is the address users reach the gateway at, used for links in emails and
	// calendars (EVENTPOST_PUBLIC_URL, default http://localhost plus the gateway's port).
	PublicURL string
	// SMTPURL sends mail over SMTP when set: smtp://[user:pass@]host:port?tls=none|starttls|tls
	// (EVENTPOST_SMTP_URL). Unset, mail is written as .eml files under DataDir/mail.
	SMTPURL string
	// MailFrom is the From address of every email (EVENTPOST_MAIL_FROM, default
	// "EventPost <no-reply@eventpost.local>").
	MailFrom string
	// LogLevel is debug, info, warn or error (EVENTPOST_LOG_LEVEL, default info).
	LogLevel slog.Level
	// LogLevelVar holds the log level in force, LogLevel at first: a `serve` process watching
	// Consul changes it from the log_level key. ReadConfig sets it; nil means LogLevel, fixed.
	LogLevelVar *slog.LevelVar
	// RateLimit is the gateway's sustained requests per second per client address
	// (EVENTPOST_RATE_LIMIT, default 20); RateBurst its burst (EVENTPOST_RATE_BURST, default 40).
	RateLimit float64
	RateBurst int
	// ShutdownTimeout bounds the graceful shutdown (EVENTPOST_SHUTDOWN_TIMEOUT, default 15s).
	ShutdownTimeout time.Duration
	// HSTSIncludeSubdomains adds includeSubDomains to the Strict-Transport-Security header
	// the gateway sends when PublicURL is https (EVENTPOST_HSTS_INCLUDE_SUBDOMAINS, true or
	// false, default false: a sibling site still served over plain HTTP keeps working).
	HSTSIncludeSubdomains bool

	// The distributed mode's settings.

	// InstanceID names this process in logs and in the broker (EVENTPOST_INSTANCE_ID,
	// default host name and process ID).
	InstanceID string
	// DatabaseURL is this service's own PostgreSQL database (EVENTPOST_DATABASE_URL, such as
	// postgres://eventpost_events@127.0.0.1:5432/eventpost_events). Required by every service
	// but the gateway.
	DatabaseURL string
	// AMQPURL is the RabbitMQ server (EVENTPOST_AMQP_URL, default
	// amqp://guest:guest@127.0.0.1:5672/).
	AMQPURL string
	// AMQPPrefix starts the names of the exchange and queues EventPost declares
	// (EVENTPOST_AMQP_PREFIX, default "eventpost"), so that several systems can share a
	// RabbitMQ virtual host.
	AMQPPrefix string
	// ConsulAddr is the HTTP address of the local Consul agent (EVENTPOST_CONSUL_ADDR, such
	// as 127.0.0.1:8500). When set, a `serve` process registers itself with the agent, finds
	// the services it calls through it (Upstreams are then unused), and applies the
	// configuration keys under eventpost/config/<service>/ while it runs. Unset, discovery is
	// static and the configuration comes from the environment alone.
	ConsulAddr string
	// ConsulPrefix names this system in Consul (EVENTPOST_CONSUL_PREFIX, default "eventpost"):
	// its services register as <prefix>-<service> and read their configuration under
	// <prefix>/config/<service>/, so that several systems can share an agent.
	ConsulPrefix string
	// AdvertiseAddr is the address registered with Consul, where other instances and the
	// agent's check reach this one: a host, or host:port (EVENTPOST_ADVERTISE_ADDR). Default
	// the listen address's host — when it listens on every interface, the host's first
	// non-loopback IPv4 address (a container's or pod's) — and the port it listens on.
	AdvertiseAddr string
	// ServiceKey is this process's service identity, the Ed25519 private key it signs its
	// calls to the other services with (EVENTPOST_SERVICE_KEY, or the file named by
	// EVENTPOST_SERVICE_KEY_FILE): a PEM "PRIVATE KEY" block (PKCS #8, as
	// `openssl genpkey -algorithm ed25519` or `eventpost keygen` writes it). Required by a
	// `serve` process of a service that calls others (the gateway, notifications); the
	// all-in-one mode makes its keys in memory.
	ServiceKey string
	// CallerKeys are the public keys of the services allowed to call this one
	// (EVENTPOST_CALLER_KEYS, or the file named by EVENTPOST_CALLER_KEYS_FILE):
	// "<service>:<base64url Ed25519 public key>" entries separated by commas or new lines,
	// several per service while a key is rotated. Which service may call which is fixed in
	// code; a `serve` process refuses to start without a key for each of its callers.
	CallerKeys string
	// AuthSigningKeys are the auth service's access-token signing keys
	// (EVENTPOST_AUTH_SIGNING_KEYS, or the file named by EVENTPOST_AUTH_SIGNING_KEYS_FILE):
	// PEM "PRIVATE KEY" blocks; the first signs new tokens, every one is published in the JWK
	// set. Unset, the auth service keeps a key of its own in its database.
	AuthSigningKeys string
	// Upstreams are the base URLs of the instances of the services this one calls:
	// EVENTPOST_AUTH_URLS, EVENTPOST_EVENTS_URLS and EVENTPOST_NOTIFICATIONS_URLS, each a
	// comma-separated list, default the service's port in the roster on 127.0.0.1.
	Upstreams map[string][]string
}

// KnownEnv lists every environment variable ReadConfig reads — the configuration of the
// all-in-one mode and of `eventpost serve <service>`. The deployment files under deploy/ set
// only these (deploy/deploy_test.go checks it, and that this list matches ReadConfig). The
// launcher (`eventpost launch`) also reads EVENTPOST_POSTGRES_URL and
// EVENTPOST_DATABASE_PREFIX, which a single service never does.
var KnownEnv = []string{
	"EVENTPOST_HTTP_ADDR",
	"EVENTPOST_METRICS_ADDR",
	"EVENTPOST_DATA_DIR",
	"EVENTPOST_PUBLIC_URL",
	"EVENTPOST_SMTP_URL",
	"EVENTPOST_MAIL_FROM",
	"EVENTPOST_LOG_LEVEL",
	"EVENTPOST_RATE_LIMIT",
	"EVENTPOST_RATE_BURST",
	"EVENTPOST_SHUTDOWN_TIMEOUT",
	"EVENTPOST_HSTS_INCLUDE_SUBDOMAINS",
	"EVENTPOST_INSTANCE_ID",
	"EVENTPOST_DATABASE_URL",
	"EVENTPOST_AMQP_URL",
	"EVENTPOST_AMQP_PREFIX",
	"EVENTPOST_AUTH_URLS",
	"EVENTPOST_EVENTS_URLS",
	"EVENTPOST_NOTIFICATIONS_URLS",
	"EVENTPOST_CONSUL_ADDR",
	"EVENTPOST_CONSUL_PREFIX",
	"EVENTPOST_ADVERTISE_ADDR",
	"EVENTPOST_SERVICE_KEY",
	"EVENTPOST_SERVICE_KEY_FILE",
	"EVENTPOST_CALLER_KEYS",
	"EVENTPOST_CALLER_KEYS_FILE",
	"EVENTPOST_AUTH_SIGNING_KEYS",
	"EVENTPOST_AUTH_SIGNING_KEYS_FILE",
}

// ReadConfig reads the configuration of the named service ("" for the all-in-one mode) from
// getenv, applying defaults.
func ReadConfig(getenv func(string) string, service string) (Config, error) {
	addr := ":8080"
	if s, ok := spec(service); ok && service != discovery.Gateway {
		addr = fmt.Sprintf("127.0.0.1:%d", s.port)
	}
	c := Config{
		HTTPAddr:        or(getenv("EVENTPOST_HTTP_ADDR"), addr),
		MetricsAddr:     getenv("EVENTPOST_METRICS_ADDR"),
		DataDir:         or(getenv("EVENTPOST_DATA_DIR"), "data"),
		PublicURL:       getenv("EVENTPOST_PUBLIC_URL"),
		SMTPURL:         getenv("EVENTPOST_SMTP_URL"),
		MailFrom:        or(getenv("EVENTPOST_MAIL_FROM"), "EventPost <no-reply@eventpost.local>"),
		RateLimit:       20,
		RateBurst:       40,
		ShutdownTimeout: 15 * time.Second,
		InstanceID:      or(getenv("EVENTPOST_INSTANCE_ID"), defaultInstanceID()),
		DatabaseURL:     getenv("EVENTPOST_DATABASE_URL"),
		AMQPURL:         or(getenv("EVENTPOST_AMQP_URL"), "amqp://guest:guest@127.0.0.1:5672/"),
		AMQPPrefix:      or(getenv("EVENTPOST_AMQP_PREFIX"), "eventpost"),
		ConsulAddr:      strings.TrimSuffix(getenv("EVENTPOST_CONSUL_ADDR"), "/"),
		ConsulPrefix:    or(getenv("EVENTPOST_CONSUL_PREFIX"), "eventpost"),
		AdvertiseAddr:   getenv("EVENTPOST_ADVERTISE_ADDR"),
		Upstreams:       map[string][]string{},
	}
	for _, name := range calledServices() {
		v := getenv("EVENTPOST_" + strings.ToUpper(name) + "_URLS")
		if v == "" {
			v = fmt.Sprintf("http://127.0.0.1:%d", mustSpec(name).port)
		}
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSuffix(strings.TrimSpace(u), "/"); u != "" {
				c.Upstreams[name] = append(c.Upstreams[name], u)
			}
		}
	}
	for _, s := range []struct {
		v       *string
		name    string
		private bool
	}{
		{&c.ServiceKey, "EVENTPOST_SERVICE_KEY", true},
		{&c.CallerKeys, "EVENTPOST_CALLER_KEYS", false},
		{&c.AuthSigningKeys, "EVENTPOST_AUTH_SIGNING_KEYS", true},
	} {
		var err error
		if *s.v, err = fileSetting(getenv, s.name, s.private); err != nil {
			return c, err
		}
	}
	if c.PublicURL == "" {
		port := c.HTTPAddr[strings.LastIndex(c.HTTPAddr, ":")+1:]
		if service != "" && service != discovery.Gateway {
			port = fmt.Sprint(mustSpec(discovery.Gateway).port)
		}
		c.PublicURL = "http://localhost:" + port
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	if v := getenv("EVENTPOST_LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return c, fmt.Errorf("EVENTPOST_LOG_LEVEL: %w", err)
		}
	}
	c.LogLevelVar = new(slog.LevelVar)
	c.LogLevelVar.Set(c.LogLevel)
	if v := c.AdvertiseAddr; strings.Contains(v, ":") && net.ParseIP(v) == nil {
		if _, port, err := net.SplitHostPort(v); err != nil || !validPort(port) {
			return c, fmt.Errorf("EVENTPOST_ADVERTISE_ADDR: want a host or host:port, got %q", v)
		}
	}
	if v := c.MetricsAddr; v != "" {
		if _, port, err := net.SplitHostPort(v); err != nil || port != "0" && !validPort(port) {
			return c, fmt.Errorf("EVENTPOST_METRICS_ADDR: want host:port or :port, such as :9090, got %q", v)
		} else if v == c.HTTPAddr && port != "0" {
			return c, fmt.Errorf("EVENTPOST_METRICS_ADDR: %q is also EVENTPOST_HTTP_ADDR; give /metrics a port of its own", v)
		}
	}
	if v := getenv("EVENTPOST_RATE_LIMIT"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			return c, fmt.Errorf("EVENTPOST_RATE_LIMIT: want a positive number, got %q", v)
		}
		c.RateLimit = f
	}
	if v := getenv("EVENTPOST_RATE_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("EVENTPOST_RATE_BURST: want a positive integer, got %q", v)
		}
		c.RateBurst = n
	}
	if v := getenv("EVENTPOST_HSTS_INCLUDE_SUBDOMAINS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("EVENTPOST_HSTS_INCLUDE_SUBDOMAINS: want true or false, got %q", v)
		}
		c.HSTSIncludeSubdomains = b
	}
	if v := getenv("EVENTPOST_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("EVENTPOST_SHUTDOWN_TIMEOUT: want a duration such as 15s, got %q", v)
		}
		c.ShutdownTimeout = d
	}
	return c, nil
}

// Leveler returns the log level of the process's logger: LogLevelVar, which Consul's
// log_level key changes, or LogLevel when it is nil.
func (c Config) Leveler() slog.Leveler {
	if c.LogLevelVar != nil {
		return c.LogLevelVar
	}
	return c.LogLevel
}

// fileSetting returns the value of the variable name, or the content of the file named by
// name_FILE. Setting both is an error. When private, so is a file that other users may read
// or write: a file holding a secret is private to its owner (and, for a mounted Kubernetes
// Secret, its group).
func fileSetting(getenv func(string) string, name string, private bool) (string, error) {
	v, file := getenv(name), getenv(name+"_FILE")
	if file == "" {
		return v, nil
	}
	if v != "" {
		return "", fmt.Errorf("%s and %s_FILE are both set; set one", name, name)
	}
	fi, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	if private && fi.Mode().Perm()&0o007 != 0 {
		return "", fmt.Errorf("%s_FILE: %s is open to other users (mode %v); chmod 600 it", name, file, fi.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// validPort reports whether s is a port number from 1 to 65535.
func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n < 65536
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
