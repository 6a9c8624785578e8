// Package deploy_test checks the deployment files in this directory against the code, without
// Docker or Kubernetes: it parses docker-compose.yml, every Kubernetes manifest and the
// Dockerfile, and checks that every service runs with the settings it needs — probes,
// resources, security, variables the code reads, service URLs that lead somewhere — and
// (isolation_test.go) that the networks and the service keys follow app.Callees.
//
// Each check collects problems instead of stopping at the first, and TestChecksCatch* break
// the real files in memory, one piece at a time, to show that every check can fail.
package deploy_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/eventpost/eventpost/internal/app"
	"github.com/eventpost/eventpost/internal/platform/telemetry"
)

// services are the services of the distributed mode, as the code knows them.
func services() []string {
	names := app.Services()
	sort.Strings(names)
	return names
}

const gateway = "gateway"

// minReplicas is how many replicas a service must have, when more than one.
var minReplicas = map[string]int{"notifications": 2, "mailer": 2}

// urlsVar names the service-URL variable of the named service.
func urlsVar(service string) string { return "EVENTPOST_" + strings.ToUpper(service) + "_URLS" }

// upstreamEnv maps each service-URL variable to the service it names: one per service that
// another calls (app.Callers).
var upstreamEnv = func() map[string]string {
	m := map[string]string{}
	for _, s := range app.Services() {
		if len(app.Callers(s)) > 0 {
			m[urlsVar(s)] = s
		}
	}
	return m
}()

// callers lists the service-URL variables each service needs: it calls those services over
// HTTP (app.Callees), and the defaults (127.0.0.1) are wrong in a container.
var callers = func() map[string][]string {
	m := map[string][]string{}
	for caller, callees := range app.Callees {
		for _, s := range callees {
			m[caller] = append(m[caller], urlsVar(s))
		}
	}
	return m
}()

// isKnownEnv reports whether the code reads the variable name: one of app.KnownEnv, or an
// OpenTelemetry variable the telemetry package reads.
func isKnownEnv(name string) bool {
	return slices.Contains(app.KnownEnv, name) || slices.Contains([]string{
		telemetry.EnvEndpoint, telemetry.EnvTracesEndpoint, telemetry.EnvLogsEndpoint,
		telemetry.EnvTracesExporter, telemetry.EnvLogsExporter,
	}, name)
}

// problems collects what a check finds wrong.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func report(t *testing.T, what string, ps problems) {
	t.Helper()
	for _, p := range ps {
		if what != "" {
			p = what + ": " + p
		}
		t.Error(p)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ---- KnownEnv ---------------------------------------------------------------------------

// TestKnownEnvMatchesReadConfig checks that app.KnownEnv names exactly the variables
// ReadConfig reads, for the all-in-one mode and for every service.
func TestKnownEnvMatchesReadConfig(t *testing.T) {
	read := map[string]bool{}
	for _, name := range append([]string{""}, services()...) {
		getenv := func(k string) string { read[k] = true; return "" }
		if _, err := app.ReadConfig(getenv, name); err != nil {
			t.Fatalf("ReadConfig(%q): %v", name, err)
		}
	}
	for k := range read {
		if !isKnownEnv(k) {
			t.Errorf("ReadConfig reads %s, which app.KnownEnv does not list", k)
		}
	}
	for _, k := range app.KnownEnv {
		if !read[k] {
			t.Errorf("app.KnownEnv lists %s, which ReadConfig does not read", k)
		}
	}
}

// ---- PostgreSQL init script -------------------------------------------------------------

// initPasswords returns the development password init.sql gives each service's role.
func initPasswords(sql string) map[string]string {
	m := map[string]string{}
	for _, g := range regexp.MustCompile(`(?m)^\\set (\w+)_password '([^']*)'`).FindAllStringSubmatch(sql, -1) {
		m[g[1]] = g[2]
	}
	return m
}

func checkInitSQL(sql string) problems {
	var ps problems
	pw := initPasswords(sql)
	for _, name := range services() {
		if name == gateway {
			continue
		}
		ident := "eventpost_" + name
		for _, want := range []string{
			"'" + ident + "'", // in the arrays of roles and databases to create
			"ALTER ROLE " + ident + " LOGIN PASSWORD :'" + name + "_password'",
			"REVOKE ALL ON DATABASE " + ident + " FROM PUBLIC",
		} {
			if strings.Count(sql, want) < 1 {
				ps.add("init.sql: no %q", want)
			}
		}
		if strings.Count(sql, "'"+ident+"'") < 2 {
			ps.add("init.sql: %s is not both a role and a database to create", ident)
		}
		if pw[name] == "" {
			ps.add("init.sql: no default %s_password", name)
		}
	}
	for _, want := range []string{"CREATE ROLE %I LOGIN", "CREATE DATABASE %I OWNER %I", `\gexec`} {
		if !strings.Contains(sql, want) {
			ps.add("init.sql: no %q", want)
		}
	}
	return ps
}

// initSQL creates the databases and roles: compose mounts it into PostgreSQL's init directory,
// and the Kubernetes Job runs it (kustomize reads no file outside k8s/, so it lives there).
const initSQL = "k8s/postgres-init.sql"

func TestInitSQL(t *testing.T) {
	report(t, initSQL, checkInitSQL(readFile(t, initSQL)))
}

// ---- Dockerfile -------------------------------------------------------------------------

type instruction struct{ cmd, args string }

// parseDockerfile returns the instructions of a Dockerfile, continuation lines joined.
func parseDockerfile(text string) []instruction {
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		if s := strings.TrimSpace(cur.String()); s != "" {
			cmd, args, _ := strings.Cut(s, " ")
			out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		}
		cur.Reset()
	}
	return out
}

// dockerStages returns the instructions of each stage of a Dockerfile, each starting with FROM.
func dockerStages(text string) [][]instruction {
	var stages [][]instruction
	for _, in := range parseDockerfile(text) {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	return stages
}

func checkDockerfile(text string) problems {
	var ps problems
	stages := dockerStages(text)
	if len(stages) < 2 {
		return append(ps, fmt.Sprintf("Dockerfile: %d stage(s), want a multi-stage build", len(stages)))
	}
	image := func(stage []instruction) string { return strings.Fields(stage[0].args)[0] }
	if !strings.HasPrefix(image(stages[0]), "golang:") {
		ps.add("Dockerfile: the build stage is %s, want golang:…", image(stages[0]))
	}
	built := false
	for _, stage := range stages[:len(stages)-1] {
		for _, in := range stage {
			if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
				continue
			}
			built = true
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w"`, "./cmd/eventpost"} {
				if !strings.Contains(in.args, want) {
					ps.add("Dockerfile: the go build has no %s", want)
				}
			}
		}
	}
	if !built {
		ps.add("Dockerfile: no build stage runs go build")
	}
	final := stages[len(stages)-1]
	if img := image(final); !strings.HasPrefix(img, "gcr.io/distroless/static") && img != "scratch" {
		ps.add("Dockerfile: the final stage is %s, want distroless static or scratch (the binary is static)", img)
	}
	has := map[string][]string{}
	for _, in := range final {
		has[in.cmd] = append(has[in.cmd], in.args)
	}
	copied := false
	for _, args := range has["COPY"] {
		copied = copied || strings.Contains(args, "--from=")
	}
	if !copied {
		ps.add("Dockerfile: the final stage copies nothing from the build stage")
	}
	if users := has["USER"]; len(users) == 0 {
		ps.add("Dockerfile: the final stage has no USER (it would run as root)")
	} else if u, _, _ := strings.Cut(users[len(users)-1], ":"); u == "root" || u == "0" {
		ps.add("Dockerfile: the final stage runs as %s", users[len(users)-1])
	}
	if len(has["ENTRYPOINT"]) == 0 || !strings.Contains(has["ENTRYPOINT"][0], "eventpost") {
		ps.add("Dockerfile: no ENTRYPOINT running the binary")
	}
	if !slices.ContainsFunc(has["EXPOSE"], func(a string) bool { return slices.Contains(strings.Fields(a), "8080") }) {
		ps.add("Dockerfile: no EXPOSE 8080")
	}
	return ps
}

func TestDockerfile(t *testing.T) {
	report(t, "", checkDockerfile(readFile(t, "Dockerfile")))
	ignore := strings.Split(readFile(t, "../.dockerignore"), "\n")
	if !slices.Contains(ignore, ".git") {
		t.Errorf("../.dockerignore does not exclude .git")
	}
}

// ---- docker-compose.yml -----------------------------------------------------------------

type composeFile struct {
	Services map[string]*composeService `yaml:"services"`
	Networks map[string]*composeNetwork `yaml:"networks"`
}

type composeNetwork struct {
	Internal bool `yaml:"internal"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Deploy struct {
		Replicas *int `yaml:"replicas"`
	} `yaml:"deploy"`
	Ports       []string        `yaml:"ports"`
	Volumes     []string        `yaml:"volumes"`
	Networks    composeNetworks `yaml:"networks"`
	NetworkMode string          `yaml:"network_mode"`
}

// runs returns the EventPost service a compose service or container runs ("serve <name>"),
// or "".
func runs(cmdline []string) string {
	if i := slices.Index(cmdline, "serve"); i >= 0 && i+1 < len(cmdline) {
		return cmdline[i+1]
	}
	return ""
}

func (s *composeService) replicas() int {
	if s.Deploy.Replicas != nil {
		return *s.Deploy.Replicas
	}
	return 1
}

func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal([]byte(readFile(t, "docker-compose.yml")), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return &c
}

// addrPort returns the port of a listen address such as ":8080".
func addrPort(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return port
}

// urlPort returns u's port, or the scheme's default.
func urlPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return map[string]string{"http": "80", "https": "443"}[u.Scheme]
}

// checkDatabaseURL checks that raw reaches service's own database as its own role, with
// password when it is not "".
func checkDatabaseURL(ps *problems, where, service, raw, password string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		ps.add("%s: EVENTPOST_DATABASE_URL %q is not a postgres:// URL", where, raw)
		return nil
	}
	ident := "eventpost_" + service
	if u.User.Username() != ident || u.Path != "/"+ident {
		ps.add("%s: EVENTPOST_DATABASE_URL reaches database %s as %s, want %s as %s", where,
			strings.TrimPrefix(u.Path, "/"), u.User.Username(), ident, ident)
	}
	if p, _ := u.User.Password(); password != "" && p != password {
		ps.add("%s: EVENTPOST_DATABASE_URL's password is not the one the init script gives %s", where, ident)
	}
	return u
}

func checkCompose(c *composeFile, script string) problems {
	var ps problems
	running := map[string][]string{} // EventPost service → compose services running it
	for name, s := range c.Services {
		if svc := runs(s.Command); svc != "" {
			running[svc] = append(running[svc], name)
		}
	}
	// A backing service: a compose service whose image starts with prefix.
	backing := func(prefix string) string {
		for name, s := range c.Services {
			if strings.HasPrefix(s.Image, prefix) {
				return name
			}
		}
		ps.add("compose: no service runs %s…", prefix)
		return ""
	}
	postgres, rabbitmq, mailpit := backing("postgres:15"), backing("rabbitmq:"), backing("axllent/mailpit")
	passwords := initPasswords(script)

	for _, svc := range services() {
		names := running[svc]
		if len(names) == 0 {
			ps.add("compose: no service runs `serve %s`", svc)
			continue
		}
		n := 0
		for _, name := range names {
			n += c.Services[name].replicas()
		}
		if n < minReplicas[svc] {
			ps.add("compose: %d replica(s) of %s, want %d", n, svc, minReplicas[svc])
		}
	}

	// Only the gateway's port is published; the development UIs are published by
	// docker-compose.tools.yml (checkComposeTools).
	for name, s := range c.Services {
		if runs(s.Command) != gateway {
			if len(s.Ports) > 0 {
				ps.add("compose service %s: publishes %v; only the gateway's port is published (the development UIs: docker-compose.tools.yml)", name, s.Ports)
			}
			continue
		}
		for _, p := range s.Ports {
			if !strings.HasSuffix(p, ":"+addrPort(s.Environment["EVENTPOST_HTTP_ADDR"])) {
				ps.add("compose service %s: publishes %s, not the gateway's HTTP port", name, p)
			}
		}
	}

	built := false
	for name, s := range c.Services {
		svc := runs(s.Command)
		if svc == "" {
			continue
		}
		where := "compose service " + name
		built = built || s.Build != nil
		if s.Image == "" && s.Build == nil {
			ps.add("%s: no image and no build", where)
		}
		for k := range s.Environment {
			if !isKnownEnv(k) {
				ps.add("%s: sets %s, which the code does not read (app.KnownEnv)", where, k)
			}
		}
		if addrPort(s.Environment["EVENTPOST_HTTP_ADDR"]) == "" {
			ps.add("%s: EVENTPOST_HTTP_ADDR %q has no port (services listen on 127.0.0.1 by default)", where, s.Environment["EVENTPOST_HTTP_ADDR"])
		}
		for _, k := range callers[svc] {
			if s.Environment[k] == "" {
				ps.add("%s: %s calls other services but does not set %s", where, svc, k)
			}
		}
		for k, target := range upstreamEnv {
			if v := s.Environment[k]; v != "" {
				checkComposeURLs(&ps, c, where, k, v, target, running[target])
			}
		}
		if svc == gateway {
			if !slices.ContainsFunc(s.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+addrPort(s.Environment["EVENTPOST_HTTP_ADDR"])) }) {
				ps.add("%s: the gateway's port is not published", where)
			}
			continue
		}
		// Every other service keeps state in its own database and talks to RabbitMQ.
		if u := checkDatabaseURL(&ps, where, svc, s.Environment["EVENTPOST_DATABASE_URL"], passwords[svc]); u != nil && u.Hostname() != postgres {
			ps.add("%s: EVENTPOST_DATABASE_URL names host %s, not the postgres service", where, u.Hostname())
		}
		if u, err := url.Parse(s.Environment["EVENTPOST_AMQP_URL"]); err != nil || u.Scheme != "amqp" || u.Hostname() != rabbitmq {
			ps.add("%s: EVENTPOST_AMQP_URL %q does not reach the rabbitmq service", where, s.Environment["EVENTPOST_AMQP_URL"])
		}
		for _, dep := range []string{postgres, rabbitmq} {
			if dep == "" {
				continue
			}
			if s.DependsOn[dep].Condition != "service_healthy" {
				ps.add("%s: does not wait for %s to be healthy (depends_on … condition: service_healthy)", where, dep)
			}
		}
		if svc == "mailer" {
			u, err := url.Parse(s.Environment["EVENTPOST_SMTP_URL"])
			if err != nil || u.Scheme != "smtp" || u.Hostname() != mailpit || u.Port() != "1025" {
				ps.add("%s: EVENTPOST_SMTP_URL %q does not reach mailpit's SMTP port 1025", where, s.Environment["EVENTPOST_SMTP_URL"])
			}
		}
	}
	if !built {
		ps.add("compose: no EventPost service builds the image")
	}
	for _, dep := range []string{postgres, rabbitmq} {
		if s := c.Services[dep]; s != nil && (s.Healthcheck == nil || len(s.Healthcheck.Test) == 0) {
			ps.add("compose service %s: no healthcheck, so depends_on cannot wait for it", dep)
		}
	}
	if s := c.Services[postgres]; s != nil && !slices.ContainsFunc(s.Volumes, func(v string) bool {
		return strings.HasPrefix(v, "./"+initSQL+":/docker-entrypoint-initdb.d/")
	}) {
		ps.add("compose service %s: does not mount ./%s into /docker-entrypoint-initdb.d", postgres, initSQL)
	}
	return ps
}

// checkComposeURLs checks a service-URL list: every URL names a compose service running
// target on the port it listens on, and every compose service running target is named
// (one name covers the replicas of a service).
func checkComposeURLs(ps *problems, c *composeFile, where, key, value, target string, running []string) {
	named := map[string]bool{}
	for _, raw := range strings.Split(value, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Scheme != "http" {
			ps.add("%s: %s has %q, not an http:// URL", where, key, raw)
			continue
		}
		s := c.Services[u.Hostname()]
		if s == nil || runs(s.Command) != target {
			ps.add("%s: %s names %s, which is not a compose service running %s", where, key, u.Hostname(), target)
			continue
		}
		named[u.Hostname()] = true
		if want := addrPort(s.Environment["EVENTPOST_HTTP_ADDR"]); urlPort(u) != want {
			ps.add("%s: %s reaches %s on port %s, but it listens on %s", where, key, u.Hostname(), urlPort(u), want)
		}
	}
	for _, name := range running {
		if !named[name] {
			ps.add("%s: %s leaves out %s, which runs %s", where, key, name, target)
		}
	}
}

func TestCompose(t *testing.T) {
	report(t, "docker-compose.yml", checkCompose(loadCompose(t), readFile(t, initSQL)))
}

// TestComposeObservability checks that compose runs Consul, an OpenTelemetry Collector with
// its configuration, a trace backend, a log backend and a metrics backend, and that every
// EventPost service uses the first two (TestComposeMetrics: the collector scrapes them).
func TestComposeObservability(t *testing.T) {
	c := loadCompose(t)
	var ps problems
	for name, image := range map[string]string{
		"consul": "hashicorp/consul:", "otel-collector": "otel/opentelemetry-collector",
		"jaeger": "jaegertracing/", "loki": "grafana/loki:", "grafana": "grafana/grafana:", "prometheus": "prom/prometheus:",
	} {
		s, ok := c.Services[name]
		if !ok || !strings.HasPrefix(s.Image, image) {
			ps.add("no service %s running %s…", name, image)
		}
	}
	if col, ok := c.Services["otel-collector"]; ok {
		found := false
		for _, v := range col.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if _, err := os.Stat(src); err == nil && strings.HasSuffix(src, ".yaml") {
				found = true
			}
		}
		if !found {
			ps.add("otel-collector mounts no configuration file that exists")
		}
	}
	for name, s := range c.Services {
		if runs(s.Command) == "" {
			continue
		}
		if s.Environment["EVENTPOST_CONSUL_ADDR"] != "consul:8500" {
			ps.add("%s: EVENTPOST_CONSUL_ADDR is %q, want consul:8500", name, s.Environment["EVENTPOST_CONSUL_ADDR"])
		}
		if !strings.HasPrefix(s.Environment[telemetry.EnvEndpoint], "http://otel-collector:") {
			ps.add("%s: %s does not name the collector", name, telemetry.EnvEndpoint)
		}
	}
	report(t, "docker-compose.yml", ps)
}

// ---- Kubernetes -------------------------------------------------------------------------

type meta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	RunAsGroup               *int64 `yaml:"runAsGroup"`
	FSGroup                  *int64 `yaml:"fsGroup"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	Capabilities             *struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
		ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
		FieldRef        *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
	} `yaml:"valueFrom"`
}

type nameRef struct {
	Name string `yaml:"name"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"` // a number or a port's name
	} `yaml:"httpGet"`
}

type container struct {
	Name    string          `yaml:"name"`
	Image   string          `yaml:"image"`
	Command []string        `yaml:"command"`
	Args    []string        `yaml:"args"`
	Ports   []containerPort `yaml:"ports"`
	Env     []envVar        `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *nameRef `yaml:"configMapRef"`
		SecretRef    *nameRef `yaml:"secretRef"`
	} `yaml:"envFrom"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *securityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

func (c *container) cmdline() []string { return append(slices.Clone(c.Command), c.Args...) }

// port resolves a probe's or Service's target port (a number or a name) to a container port.
func (c *container) port(p string) int {
	for _, cp := range c.Ports {
		if cp.Name != "" && cp.Name == p || strconv.Itoa(cp.ContainerPort) == p {
			return cp.ContainerPort
		}
	}
	return 0
}

type podTemplate struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		SecurityContext *securityContext `yaml:"securityContext"`
		Containers      []*container     `yaml:"containers"`
		Volumes         []podVolume      `yaml:"volumes"`
	} `yaml:"spec"`
}

type podVolume struct {
	Name      string        `yaml:"name"`
	ConfigMap *nameRef      `yaml:"configMap"`
	Secret    *secretVolume `yaml:"secret"`
}

// secretVolume is a Secret volume: the Secret's keys (or only items), as files of the mode given.
type secretVolume struct {
	SecretName  string `yaml:"secretName"`
	DefaultMode *int   `yaml:"defaultMode"`
	Items       []struct {
		Key  string `yaml:"key"`
		Path string `yaml:"path"`
		Mode *int   `yaml:"mode"`
	} `yaml:"items"`
}

type deployment struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template podTemplate `yaml:"template"`
	} `yaml:"spec"`
}

type job struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		Template podTemplate `yaml:"template"`
	} `yaml:"spec"`
}

type kservice struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		Type     string            `yaml:"type"`
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

// ingress holds the Service names an Ingress routes to.
type ingress struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		DefaultBackend *ingressBackend `yaml:"defaultBackend"`
		Rules          []struct {
			HTTP *struct {
				Paths []struct {
					Backend ingressBackend `yaml:"backend"`
				} `yaml:"paths"`
			} `yaml:"http"`
		} `yaml:"rules"`
	} `yaml:"spec"`
}

type ingressBackend struct {
	Service *nameRef `yaml:"service"`
}

type dataObject struct { // a ConfigMap or a Secret
	Metadata   meta              `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

type kustomization struct {
	Namespace          string   `yaml:"namespace"`
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
	Images []kustImage `yaml:"images"`
}

type kustImage struct {
	Name string `yaml:"name"`
}

// manifests are the Kubernetes objects kustomization.yaml applies, plus the example Secrets.
type manifests struct {
	kust        kustomization
	namespaces  []string
	deployments []*deployment
	services    []*kservice
	jobs        []*job
	ingresses   []*ingress
	policies    []*networkPolicy
	configMaps  map[string]*dataObject // by name, generated ones included
	secrets     map[string]*dataObject // from secret.example.yaml
}

const secretExample = "secret.example.yaml"

// loadManifests reads k8s/: kustomization.yaml, every resource it lists, the files of its
// ConfigMap generators, and secret.example.yaml. Every other YAML file in k8s/ must be a
// listed resource.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	dir := "k8s"
	m := &manifests{configMaps: map[string]*dataObject{}, secrets: map[string]*dataObject{}}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(dir, "kustomization.yaml"))), &m.kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		base := filepath.Base(f)
		if base != "kustomization.yaml" && base != secretExample && !slices.Contains(m.kust.Resources, base) {
			t.Errorf("k8s/%s is not listed in kustomization.yaml's resources", base)
		}
	}
	for _, res := range append(slices.Clone(m.kust.Resources), secretExample) {
		text := readFile(t, filepath.Join(dir, res))
		dec := yaml.NewDecoder(strings.NewReader(text))
		for {
			var node yaml.Node
			if err := dec.Decode(&node); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("k8s/%s: %v", res, err)
			}
			var head struct {
				Kind string `yaml:"kind"`
			}
			if err := node.Decode(&head); err != nil {
				t.Fatalf("k8s/%s: %v", res, err)
			}
			decode := func(v any) {
				if err := node.Decode(v); err != nil {
					t.Fatalf("k8s/%s: %s: %v", res, head.Kind, err)
				}
			}
			switch head.Kind {
			case "Namespace":
				var ns struct {
					Metadata meta `yaml:"metadata"`
				}
				decode(&ns)
				m.namespaces = append(m.namespaces, ns.Metadata.Name)
			case "Deployment":
				d := &deployment{}
				decode(d)
				m.deployments = append(m.deployments, d)
			case "Service":
				s := &kservice{}
				decode(s)
				m.services = append(m.services, s)
			case "Job":
				j := &job{}
				decode(j)
				m.jobs = append(m.jobs, j)
			case "Ingress":
				i := &ingress{}
				decode(i)
				m.ingresses = append(m.ingresses, i)
			case "NetworkPolicy":
				p := &networkPolicy{}
				decode(p)
				m.policies = append(m.policies, p)
			case "ConfigMap", "Secret":
				o := &dataObject{}
				decode(o)
				if head.Kind == "Secret" {
					if res != secretExample {
						t.Errorf("k8s/%s: a Secret among the applied resources; keep Secrets out of kustomization.yaml (%s shows them)", res, secretExample)
					}
					m.secrets[o.Metadata.Name] = o
				} else {
					m.configMaps[o.Metadata.Name] = o
				}
			}
		}
	}
	for _, g := range m.kust.ConfigMapGenerator {
		o := &dataObject{Metadata: meta{Name: g.Name}, Data: map[string]string{}}
		for _, f := range g.Files {
			key, path, ok := strings.Cut(f, "=")
			if !ok {
				key, path = filepath.Base(f), f
			}
			o.Data[key] = readFile(t, filepath.Join(dir, path))
		}
		m.configMaps[g.Name] = o
	}
	return m
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

// subset reports whether every label of sel is in labels (and sel selects something).
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// value resolves an environment variable's value from the manifests ("" when unknown).
func (m *manifests) value(e envVar) string {
	switch {
	case e.ValueFrom == nil:
		return e.Value
	case e.ValueFrom.SecretKeyRef != nil:
		if s := m.secrets[e.ValueFrom.SecretKeyRef.Name]; s != nil {
			return s.StringData[e.ValueFrom.SecretKeyRef.Key]
		}
	case e.ValueFrom.ConfigMapKeyRef != nil:
		if c := m.configMaps[e.ValueFrom.ConfigMapKeyRef.Name]; c != nil {
			return c.Data[e.ValueFrom.ConfigMapKeyRef.Key]
		}
	}
	return ""
}

// checkEnv checks a container's environment (every variable one the code reads, every
// reference one that resolves) and returns it, resolved.
func (m *manifests) checkEnv(ps *problems, where string, c *container) map[string]string {
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		var src *dataObject
		switch {
		case from.ConfigMapRef != nil:
			if src = m.configMaps[from.ConfigMapRef.Name]; src == nil {
				ps.add("%s: envFrom names ConfigMap %s, which does not exist", where, from.ConfigMapRef.Name)
				continue
			}
		case from.SecretRef != nil:
			if src = m.secrets[from.SecretRef.Name]; src == nil {
				ps.add("%s: envFrom names Secret %s, which %s does not show", where, from.SecretRef.Name, secretExample)
				continue
			}
		}
		for k, v := range src.Data {
			env[k] = v
		}
		for k, v := range src.StringData {
			env[k] = v
		}
		for k := range env {
			if !isKnownEnv(k) {
				ps.add("%s: sets %s (from %s), which the code does not read (app.KnownEnv)", where, k, src.Metadata.Name)
			}
		}
	}
	for _, e := range c.Env {
		if !isKnownEnv(e.Name) {
			ps.add("%s: sets %s, which the code does not read (app.KnownEnv)", where, e.Name)
		}
		if e.ValueFrom != nil {
			for kind, ref := range map[string]*keyRef{"Secret": e.ValueFrom.SecretKeyRef, "ConfigMap": e.ValueFrom.ConfigMapKeyRef} {
				if ref == nil {
					continue
				}
				src := map[string]map[string]*dataObject{"Secret": m.secrets, "ConfigMap": m.configMaps}[kind][ref.Name]
				if src == nil || (src.Data[ref.Key] == "" && src.StringData[ref.Key] == "") {
					ps.add("%s: %s comes from %s %s key %s, which does not exist", where, e.Name, kind, ref.Name, ref.Key)
				}
			}
		}
		env[e.Name] = m.value(e)
	}
	return env
}

func checkSecurity(ps *problems, where string, pod *securityContext, c *container) {
	sc := c.SecurityContext
	if sc == nil {
		sc = &securityContext{}
	}
	if !(isTrue(sc.RunAsNonRoot) || pod != nil && isTrue(pod.RunAsNonRoot) && !isFalse(sc.RunAsNonRoot)) {
		ps.add("%s: runAsNonRoot is not true", where)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		ps.add("%s: readOnlyRootFilesystem is not true", where)
	}
	if !isFalse(sc.AllowPrivilegeEscalation) {
		ps.add("%s: allowPrivilegeEscalation is not false", where)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		ps.add("%s: capabilities do not drop ALL", where)
	}
}

func checkProbe(ps *problems, where, kind string, p *probe, path string, c *container, port int) {
	if p == nil || p.HTTPGet == nil {
		ps.add("%s: no %s (HTTP GET %s)", where, kind, path)
		return
	}
	if p.HTTPGet.Path != path {
		ps.add("%s: %s probes %s, want %s", where, kind, p.HTTPGet.Path, path)
	}
	if got := c.port(p.HTTPGet.Port); got == 0 || got != port {
		ps.add("%s: %s probes port %s, not the container's HTTP port %d", where, kind, p.HTTPGet.Port, port)
	}
}

// serviceFor returns the Service named name (or any Service, when name is "") that selects
// d's pods, with the port of it that leads to the container port want.
func (m *manifests) serviceFor(d *deployment, c *container, name string, want int) (*kservice, int) {
	for _, s := range m.services {
		if name != "" && s.Metadata.Name != name || !subset(s.Spec.Selector, d.Spec.Template.Metadata.Labels) {
			continue
		}
		for _, p := range s.Spec.Ports {
			target := p.TargetPort
			if target == "" {
				target = strconv.Itoa(p.Port)
			}
			if c.port(target) == want {
				return s, p.Port
			}
		}
	}
	return nil, 0
}

func checkK8s(m *manifests) problems {
	var ps problems
	if m.kust.Namespace == "" || !slices.Contains(m.namespaces, m.kust.Namespace) {
		ps.add("kustomization.yaml: namespace %q, and the Namespaces are %v", m.kust.Namespace, m.namespaces)
	}
	// The Deployment and container running each service.
	type runner struct {
		d    *deployment
		c    *container
		env  map[string]string
		port int
	}
	runners := map[string]runner{}
	for _, d := range m.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			svc := runs(c.cmdline())
			if svc == "" {
				continue
			}
			if r, dup := runners[svc]; dup {
				ps.add("Deployments %s and %s both run %s", r.d.Metadata.Name, d.Metadata.Name, svc)
			}
			where := fmt.Sprintf("Deployment %s, container %s", d.Metadata.Name, c.Name)
			env := m.checkEnv(&ps, where, c)
			port, _ := strconv.Atoi(addrPort(env["EVENTPOST_HTTP_ADDR"]))
			if port == 0 || c.port(strconv.Itoa(port)) == 0 {
				ps.add("%s: EVENTPOST_HTTP_ADDR %q is not a port the container declares", where, env["EVENTPOST_HTTP_ADDR"])
			}
			runners[svc] = runner{d, c, env, port}
		}
	}
	initPw := map[string]string{}
	if s := m.secrets["eventpost-postgres-init"]; s != nil {
		initPw = s.StringData
	}
	for _, svc := range services() {
		r, ok := runners[svc]
		if !ok {
			ps.add("no Deployment runs `serve %s`", svc)
			continue
		}
		d, c := r.d, r.c
		where := fmt.Sprintf("Deployment %s", d.Metadata.Name)
		if !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
			ps.add("%s: its selector does not select its pods", where)
		}
		replicas := 1
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		if replicas < minReplicas[svc] {
			ps.add("%s: %d replica(s), want %d", where, replicas, minReplicas[svc])
		}
		if !slices.ContainsFunc(m.kust.Images, func(i kustImage) bool { return strings.Split(c.Image, ":")[0] == i.Name }) {
			ps.add("%s: image %s is not one kustomization.yaml's images can set", where, c.Image)
		}
		checkProbe(&ps, where, "readinessProbe", c.ReadinessProbe, "/readyz", c, r.port)
		checkProbe(&ps, where, "livenessProbe", c.LivenessProbe, "/healthz", c, r.port)
		for _, res := range []string{"cpu", "memory"} {
			if c.Resources.Requests[res] == "" {
				ps.add("%s: no %s request", where, res)
			}
		}
		if c.Resources.Limits["memory"] == "" {
			ps.add("%s: no memory limit", where)
		}
		checkSecurity(&ps, where, d.Spec.Template.Spec.SecurityContext, c)

		// Reachable: a Service in front of it.
		s, _ := m.serviceFor(d, c, "", r.port)
		if s == nil {
			ps.add("no Service selects the pods of %s on their HTTP port", where)
		} else if svc == gateway && s.Spec.Type != "LoadBalancer" && s.Spec.Type != "NodePort" &&
			!slices.ContainsFunc(m.ingresses, func(i *ingress) bool { return routesTo(i, s.Metadata.Name) }) {
			ps.add("Service %s: the gateway is not exposed (type %q and no Ingress routes to it)", s.Metadata.Name, s.Spec.Type)
		}

		for _, k := range callers[svc] {
			if r.env[k] == "" {
				ps.add("%s: %s calls other services but %s is not set", where, svc, k)
			}
		}
		if svc == gateway {
			continue
		}
		if r.env["EVENTPOST_DATABASE_URL"] == "" {
			ps.add("%s: EVENTPOST_DATABASE_URL is not set", where)
		} else {
			checkDatabaseURL(&ps, where, svc, r.env["EVENTPOST_DATABASE_URL"], initPw[svc+"-password"])
		}
		if r.env["EVENTPOST_AMQP_URL"] == "" {
			ps.add("%s: EVENTPOST_AMQP_URL is not set", where)
		}
		if svc == "mailer" && r.env["EVENTPOST_SMTP_URL"] == "" {
			ps.add("%s: EVENTPOST_SMTP_URL is not set (mail would go to files on a read-only file system)", where)
		}
	}
	// Every service URL leads to a Service in front of the right pods, on their HTTP port.
	for _, r := range runners {
		for k, target := range upstreamEnv {
			v := r.env[k]
			if v == "" {
				continue
			}
			where := fmt.Sprintf("Deployment %s: %s", r.d.Metadata.Name, k)
			t, ok := runners[target]
			if !ok {
				continue // reported above
			}
			for _, raw := range strings.Split(v, ",") {
				u, err := url.Parse(strings.TrimSpace(raw))
				if err != nil || u.Scheme != "http" {
					ps.add("%s: %q is not an http:// URL", where, raw)
					continue
				}
				labels := strings.Split(u.Hostname(), ".")
				if len(labels) > 1 && labels[1] != m.kust.Namespace {
					ps.add("%s: %s is not in namespace %s", where, u.Hostname(), m.kust.Namespace)
				}
				s, port := m.serviceFor(t.d, t.c, labels[0], t.port)
				if s == nil {
					ps.add("%s: %s is not a Service in front of %s's HTTP port", where, labels[0], target)
				} else if strconv.Itoa(port) != urlPort(u) {
					ps.add("%s: %s reaches Service %s on port %s, want %d", where, raw, s.Metadata.Name, urlPort(u), port)
				}
			}
		}
	}
	checkInitJob(&ps, m)
	return ps
}

func routesTo(i *ingress, service string) bool {
	if b := i.Spec.DefaultBackend; b != nil && b.Service != nil && b.Service.Name == service {
		return true
	}
	for _, r := range i.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service != nil && p.Backend.Service.Name == service {
				return true
			}
		}
	}
	return false
}

// checkInitJob checks that a Job runs the init script with psql, giving every role its
// password from the init Secret.
func checkInitJob(ps *problems, m *manifests) {
	for _, j := range m.jobs {
		spec := j.Spec.Template.Spec
		for _, c := range spec.Containers {
			if !strings.HasPrefix(c.Image, "postgres:") {
				continue
			}
			var script string
			for _, v := range spec.Volumes {
				if v.ConfigMap == nil {
					continue
				}
				if cm := m.configMaps[v.ConfigMap.Name]; cm != nil && cm.Data["init.sql"] != "" {
					script = cm.Data["init.sql"]
				}
			}
			if script == "" {
				ps.add("Job %s: no ConfigMap with init.sql mounted", j.Metadata.Name)
			}
			line := strings.Join(c.cmdline(), " ")
			for _, svc := range services() {
				if svc == gateway {
					continue
				}
				if !strings.Contains(line, svc+"_password=") {
					ps.add("Job %s: does not set %s_password", j.Metadata.Name, svc)
				}
			}
			checkSecurity(ps, "Job "+j.Metadata.Name, spec.SecurityContext, c)
			return
		}
	}
	ps.add("no Job runs the PostgreSQL init script (postgres image)")
}

func TestKubernetes(t *testing.T) {
	m := loadManifests(t)
	report(t, "k8s", checkK8s(m))
	if cm := m.configMaps["postgres-init-sql"]; cm == nil || cm.Data["init.sql"] != readFile(t, initSQL) {
		t.Errorf("k8s: the postgres-init-sql ConfigMap's init.sql is not %s", initSQL)
	}
}

// ---- the checks fail when a piece is missing -------------------------------------------

// expectProblem fails unless ps holds a problem containing want.
func expectProblem(t *testing.T, ps problems, want string) {
	t.Helper()
	for _, p := range ps {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Errorf("no problem containing %q; got %q", want, ps)
}

func TestChecksCatchDockerfileFaults(t *testing.T) {
	good := readFile(t, "Dockerfile")
	for _, tc := range []struct{ name, old, new, want string }{
		{"one stage", "FROM golang:1.26 AS build", "", "want a multi-stage build"},
		{"no USER", "USER 65532:65532", "", "no USER"},
		{"root USER", "USER 65532:65532", "USER root", "runs as root"},
		{"cgo", "CGO_ENABLED=0 ", "", "no CGO_ENABLED=0"},
		{"no trimpath", "go build -trimpath", "go build", "no -trimpath"},
		{"full base image", "gcr.io/distroless/static-debian12:nonroot", "debian:12", "want distroless static or scratch"},
		{"no EXPOSE", "EXPOSE 8080", "", "no EXPOSE 8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("Dockerfile has no %q to change", tc.old)
			}
			expectProblem(t, checkDockerfile(strings.Replace(good, tc.old, tc.new, 1)), tc.want)
		})
	}
}

func TestChecksCatchComposeFaults(t *testing.T) {
	sql := readFile(t, initSQL)
	for _, tc := range []struct {
		name   string
		change func(c *composeFile)
		want   string
	}{
		{"no auth", func(c *composeFile) { delete(c.Services, "auth") }, "no service runs `serve auth`"},
		{"one mailer", func(c *composeFile) { c.Services["mailer"].Deploy.Replicas = nil }, "1 replica(s) of mailer"},
		{"unknown variable", func(c *composeFile) { c.Services["events"].Environment["EVENTPOST_TYPO"] = "x" }, "EVENTPOST_TYPO"},
		{"URL to nowhere", func(c *composeFile) { c.Services[gateway].Environment["EVENTPOST_EVENTS_URLS"] = "http://evnts:8080" }, "evnts"},
		{"URL on the wrong port", func(c *composeFile) { c.Services[gateway].Environment["EVENTPOST_EVENTS_URLS"] = "http://events:9090" }, "on port 9090"},
		{"a replica left out", func(c *composeFile) {
			c.Services[gateway].Environment["EVENTPOST_NOTIFICATIONS_URLS"] = "http://notifications-1:8080"
		}, "leaves out notifications-2"},
		{"no URLs on the gateway", func(c *composeFile) { delete(c.Services[gateway].Environment, "EVENTPOST_AUTH_URLS") }, "does not set EVENTPOST_AUTH_URLS"},
		{"another service's database", func(c *composeFile) {
			c.Services["events"].Environment["EVENTPOST_DATABASE_URL"] = c.Services["auth"].Environment["EVENTPOST_DATABASE_URL"]
		}, "want eventpost_events"},
		{"wrong password", func(c *composeFile) {
			e := c.Services["auth"].Environment
			e["EVENTPOST_DATABASE_URL"] = strings.Replace(e["EVENTPOST_DATABASE_URL"], "auth-dev-password", "x", 1)
		}, "password"},
		{"postgres unchecked", func(c *composeFile) { c.Services["postgres"].Healthcheck = nil }, "no healthcheck"},
		{"no wait", func(c *composeFile) { delete(c.Services["mailer"].DependsOn, "rabbitmq") }, "does not wait for rabbitmq"},
		{"no init script", func(c *composeFile) { c.Services["postgres"].Volumes = nil }, "init.sql"},
		{"no SMTP catcher", func(c *composeFile) { delete(c.Services, "mailpit") }, "axllent/mailpit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loadCompose(t)
			tc.change(c)
			expectProblem(t, checkCompose(c, sql), tc.want)
		})
	}
	t.Run("init script without a role", func(t *testing.T) {
		expectProblem(t, checkInitSQL(strings.ReplaceAll(sql, "'eventpost_mailer'", "'x'")), "eventpost_mailer")
	})
}

func TestChecksCatchKubernetesFaults(t *testing.T) {
	find := func(m *manifests, name string) *deployment {
		for _, d := range m.deployments {
			if d.Metadata.Name == name {
				return d
			}
		}
		t.Fatalf("no Deployment %s", name)
		return nil
	}
	ctr := func(m *manifests, name string) *container { return find(m, name).Spec.Template.Spec.Containers[0] }
	for _, tc := range []struct {
		name   string
		change func(m *manifests)
		want   string
	}{
		{"no mailer Deployment", func(m *manifests) {
			m.deployments = slices.DeleteFunc(m.deployments, func(d *deployment) bool { return d.Metadata.Name == "mailer" })
		}, "no Deployment runs `serve mailer`"},
		{"no events Service", func(m *manifests) {
			m.services = slices.DeleteFunc(m.services, func(s *kservice) bool { return s.Metadata.Name == "events" })
		}, "no Service selects the pods of Deployment events"},
		{"readiness on /healthz", func(m *manifests) { ctr(m, "auth").ReadinessProbe.HTTPGet.Path = "/healthz" }, "readinessProbe probes /healthz"},
		{"no liveness", func(m *manifests) { ctr(m, gateway).LivenessProbe = nil }, "no livenessProbe"},
		{"probe on another port", func(m *manifests) { ctr(m, "events").LivenessProbe.HTTPGet.Port = "9090" }, "probes port 9090"},
		{"no requests", func(m *manifests) { ctr(m, "events").Resources.Requests = nil }, "no cpu request"},
		{"root allowed", func(m *manifests) {
			find(m, "auth").Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
			ctr(m, "auth").SecurityContext.RunAsNonRoot = nil
		}, "runAsNonRoot is not true"},
		{"writable root", func(m *manifests) { ctr(m, "mailer").SecurityContext.ReadOnlyRootFilesystem = nil }, "readOnlyRootFilesystem"},
		{"unknown variable in the ConfigMap", func(m *manifests) { m.configMaps["eventpost-config"].Data["EVENTPOST_TYPO"] = "x" }, "EVENTPOST_TYPO"},
		{"unknown variable", func(m *manifests) {
			c := ctr(m, "events")
			c.Env = append(c.Env, envVar{Name: "EVENTPOST_DB_URL", Value: "x"})
		}, "EVENTPOST_DB_URL"},
		{"missing Secret key", func(m *manifests) { delete(m.secrets["eventpost-secrets"].StringData, "amqp-url") }, "key amqp-url, which does not exist"},
		{"one notifications replica", func(m *manifests) { one := 1; find(m, "notifications").Spec.Replicas = &one }, "1 replica(s), want 2"},
		{"gateway not exposed", func(m *manifests) {
			for _, s := range m.services {
				if s.Metadata.Name == gateway {
					s.Spec.Type = "ClusterIP"
				}
			}
		}, "the gateway is not exposed"},
		{"URL to nowhere", func(m *manifests) {
			m.configMaps["eventpost-config"].Data["EVENTPOST_EVENTS_URLS"] = "http://event:8080"
		}, "event is not a Service"},
		{"URL in another namespace", func(m *manifests) {
			m.configMaps["eventpost-config"].Data["EVENTPOST_EVENTS_URLS"] = "http://events.default.svc:8080"
		}, "not in namespace"},
		{"listening elsewhere", func(m *manifests) { m.configMaps["eventpost-config"].Data["EVENTPOST_HTTP_ADDR"] = ":9000" }, "is not a port the container declares"},
		{"another service's database", func(m *manifests) {
			s := m.secrets["eventpost-secrets"].StringData
			s["mailer-database-url"] = s["auth-database-url"]
		}, "want eventpost_mailer"},
		{"password out of step", func(m *manifests) { m.secrets["eventpost-postgres-init"].StringData["events-password"] = "other" }, "password"},
		{"no init Job", func(m *manifests) { m.jobs = nil }, "no Job runs the PostgreSQL init script"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadManifests(t)
			tc.change(m)
			expectProblem(t, checkK8s(m), tc.want)
		})
	}
}
