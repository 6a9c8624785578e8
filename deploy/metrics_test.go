package deploy_test

// Metrics: every EventPost process serves /metrics on a listener of its own
// (EVENTPOST_METRICS_ADDR), so that its HTTP port answers /metrics 404; that port is never
// published, and what scrapes it scrapes it there — in compose the OpenTelemetry Collector, in
// Kubernetes Prometheus, which the pods' annotations and allow-metrics-scraping point at it
// (isolation_test.go checks that the NetworkPolicies open it, and only it, to monitoring).

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// collectorConfig is what the checks read of the OpenTelemetry Collector's configuration.
type collectorConfig struct {
	Receivers struct {
		Prometheus *struct {
			Config struct {
				ScrapeConfigs []struct {
					JobName       string `yaml:"job_name"`
					StaticConfigs []struct {
						Targets []string `yaml:"targets"`
					} `yaml:"static_configs"`
					DNSSDConfigs []struct {
						Names []string `yaml:"names"`
						Type  string   `yaml:"type"`
						Port  int      `yaml:"port"`
					} `yaml:"dns_sd_configs"`
				} `yaml:"scrape_configs"`
			} `yaml:"config"`
		} `yaml:"prometheus"`
	} `yaml:"receivers"`
	Exporters map[string]struct {
		Endpoint string `yaml:"endpoint"`
	} `yaml:"exporters"`
	Service struct {
		Pipelines map[string]struct {
			Receivers []string `yaml:"receivers"`
			Exporters []string `yaml:"exporters"`
		} `yaml:"pipelines"`
	} `yaml:"service"`
}

// collectorService is the compose service of the collector, and collectorFile its
// configuration.
const (
	collectorService = "otel-collector"
	collectorFile    = "observability/otel-collector.yaml"
)

func loadCollector(t *testing.T) *collectorConfig {
	t.Helper()
	var c collectorConfig
	if err := yaml.Unmarshal([]byte(readFile(t, collectorFile)), &c); err != nil {
		t.Fatalf("%s: %v", collectorFile, err)
	}
	return &c
}

// scrapeTargets returns the host:port targets of the collector's Prometheus receiver, a
// DNS name standing for every address it resolves to.
func (c *collectorConfig) scrapeTargets() map[string]bool {
	targets := map[string]bool{}
	if c.Receivers.Prometheus == nil {
		return targets
	}
	for _, sc := range c.Receivers.Prometheus.Config.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, t := range st.Targets {
				targets[t] = true
			}
		}
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				targets[n+":"+strconv.Itoa(d.Port)] = true
			}
		}
	}
	return targets
}

// metricsPort checks the metrics address of an EventPost process that listens on httpPort
// and returns its port (0 when there is none).
func metricsPort(ps *problems, where, addr, httpPort string) string {
	port := addrPort(addr)
	switch {
	case port == "" || port == "0":
		ps.add("%s: EVENTPOST_METRICS_ADDR %q has no port: /metrics would be served on the HTTP port, to whoever reaches it", where, addr)
		return ""
	case port == httpPort:
		ps.add("%s: EVENTPOST_METRICS_ADDR %q is the HTTP port; /metrics needs a port of its own", where, addr)
		return ""
	}
	return port
}

// checkComposeMetrics checks that every EventPost container serves /metrics on a port of its
// own, which it does not publish, and that the collector scrapes it there (and only there)
// on a network they share, into a metrics pipeline whose exporters lead to a compose service.
func checkComposeMetrics(c *composeFile, col *collectorConfig) problems {
	var ps problems
	targets := col.scrapeTargets()
	collector := c.Services[collectorService]
	if collector == nil {
		ps.add("compose: no service %s scrapes the metrics", collectorService)
		return ps
	}
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if runs(s.Command) == "" {
			continue
		}
		where := "compose service " + name
		httpPort := addrPort(s.Environment["EVENTPOST_HTTP_ADDR"])
		port := metricsPort(&ps, where, s.Environment["EVENTPOST_METRICS_ADDR"], httpPort)
		if port == "" {
			continue
		}
		for _, p := range s.Ports {
			if strings.HasSuffix(p, ":"+port) || strings.HasSuffix(p, ":"+port+"/tcp") {
				ps.add("%s: publishes the metrics port (%s); only the collector scrapes it, on an internal network", where, p)
			}
		}
		if !targets[name+":"+port] {
			ps.add("%s: is not scraped on its metrics port %s (%s: no target %s:%s)", where, port, collectorFile, name, port)
		}
		if targets[name+":"+httpPort] {
			ps.add("%s: is scraped on its HTTP port %s, which answers /metrics 404", where, httpPort)
		}
		if !slices.ContainsFunc(s.Networks, func(n string) bool { return slices.Contains(collector.Networks, n) }) {
			ps.add("%s: shares no network with %s, which scrapes it", where, collectorService)
		}
	}
	for t := range targets {
		host, _, _ := strings.Cut(t, ":")
		if s := c.Services[host]; s == nil || runs(s.Command) == "" {
			ps.add("%s: scrapes %s, which is not an EventPost compose service", collectorFile, t)
		}
	}
	p, ok := col.Service.Pipelines["metrics"]
	if !ok || !slices.Contains(p.Receivers, "prometheus") || len(p.Exporters) == 0 {
		ps.add("%s: no metrics pipeline from the prometheus receiver to an exporter", collectorFile)
	}
	for _, e := range p.Exporters {
		u, err := url.Parse(col.Exporters[e].Endpoint)
		if err != nil || c.Services[u.Hostname()] == nil {
			ps.add("%s: the metrics exporter %s sends to %q, which is not a compose service", collectorFile, e, col.Exporters[e].Endpoint)
		}
	}
	return ps
}

func TestComposeMetrics(t *testing.T) {
	report(t, "", checkComposeMetrics(loadCompose(t), loadCollector(t)))
}

// checkK8sMetrics checks that every EventPost container serves /metrics on a port of its own
// (EVENTPOST_METRICS_ADDR), which it declares as the port named metrics, which the pod's
// annotations give Prometheus, and which no Service exposes.
func checkK8sMetrics(m *manifests) problems {
	var ps problems
	for _, d := range m.deployments {
		t := &d.Spec.Template
		for _, c := range t.Spec.Containers {
			if runs(c.cmdline()) == "" {
				continue
			}
			where := "Deployment " + d.Metadata.Name
			var discard problems
			env := m.checkEnv(&discard, where, c)
			port := metricsPort(&ps, where, env["EVENTPOST_METRICS_ADDR"], addrPort(env["EVENTPOST_HTTP_ADDR"]))
			if port == "" {
				continue
			}
			n, _ := strconv.Atoi(port)
			if c.port(port) == 0 {
				ps.add("%s: EVENTPOST_METRICS_ADDR %q is not a port the container declares", where, env["EVENTPOST_METRICS_ADDR"])
			} else if c.port("metrics") != n {
				ps.add("%s: the metrics port %d is not the container port named metrics, which allow-metrics-scraping opens", where, n)
			}
			a := t.Metadata.Annotations
			if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] != "/metrics" {
				ps.add("%s: prometheus.io/scrape %q and prometheus.io/path %q, want \"true\" and /metrics", where, a["prometheus.io/scrape"], a["prometheus.io/path"])
			}
			if got := c.port(a["prometheus.io/port"]); got != n {
				ps.add("%s: prometheus.io/port %q is not the metrics port %d (EVENTPOST_METRICS_ADDR)", where, a["prometheus.io/port"], n)
			}
			for _, s := range m.services {
				if !subset(s.Spec.Selector, t.Metadata.Labels) {
					continue
				}
				for _, p := range s.Spec.Ports {
					target := p.TargetPort
					if target == "" {
						target = strconv.Itoa(p.Port)
					}
					if c.port(target) == n {
						ps.add("Service %s: exposes the metrics port %d of %s (port %d); only Prometheus, from monitoring, scrapes it", s.Metadata.Name, n, where, p.Port)
					}
				}
			}
		}
	}
	return ps
}

func TestKubernetesMetrics(t *testing.T) {
	report(t, "k8s", checkK8sMetrics(loadManifests(t)))
}

func TestChecksCatchMetricsFaults(t *testing.T) {
	composeCases := []struct {
		name   string
		change func(c *composeFile, col *collectorConfig)
		want   string
	}{
		{"not set", func(c *composeFile, _ *collectorConfig) {
			delete(c.Services["auth"].Environment, "EVENTPOST_METRICS_ADDR")
		}, "compose service auth: EVENTPOST_METRICS_ADDR \"\" has no port"},
		{"on the HTTP port", func(c *composeFile, _ *collectorConfig) {
			c.Services["events"].Environment["EVENTPOST_METRICS_ADDR"] = ":8080"
		}, "compose service events: EVENTPOST_METRICS_ADDR \":8080\" is the HTTP port"},
		{"published", func(c *composeFile, _ *collectorConfig) {
			c.Services[gateway].Ports = append(c.Services[gateway].Ports, "127.0.0.1:9090:9090")
		}, "compose service gateway: publishes the metrics port"},
		{"moved, scrape not", func(c *composeFile, _ *collectorConfig) {
			c.Services["mailer"].Environment["EVENTPOST_METRICS_ADDR"] = ":9091"
		}, "compose service mailer: is not scraped on its metrics port 9091"},
		{"a replica not scraped", func(_ *composeFile, col *collectorConfig) {
			for i, sc := range col.Receivers.Prometheus.Config.ScrapeConfigs {
				for j, d := range sc.DNSSDConfigs {
					col.Receivers.Prometheus.Config.ScrapeConfigs[i].DNSSDConfigs[j].Names = slices.DeleteFunc(slices.Clone(d.Names), func(n string) bool { return n == "notifications-2" })
				}
			}
		}, "compose service notifications-2: is not scraped"},
		{"scraped on the HTTP port", func(_ *composeFile, col *collectorConfig) {
			scs := col.Receivers.Prometheus.Config.ScrapeConfigs
			scs[0].StaticConfigs = append(scs[0].StaticConfigs, struct {
				Targets []string `yaml:"targets"`
			}{Targets: []string{"auth:8080"}})
		}, "compose service auth: is scraped on its HTTP port 8080"},
		{"no scraper on the network", func(c *composeFile, _ *collectorConfig) {
			c.Services[collectorService].Networks = slices.DeleteFunc(slices.Clone(c.Services[collectorService].Networks), func(n string) bool { return n == "events-backend" })
		}, "compose service events: shares no network with otel-collector"},
		{"no metrics pipeline", func(_ *composeFile, col *collectorConfig) { delete(col.Service.Pipelines, "metrics") }, "no metrics pipeline"},
		{"exporter to nowhere", func(_ *composeFile, col *collectorConfig) {
			col.Exporters["prometheusremotewrite"] = struct {
				Endpoint string `yaml:"endpoint"`
			}{"http://prom:9090/api/v1/write"}
		}, `sends to "http://prom:9090/api/v1/write"`},
	}
	for _, tc := range composeCases {
		t.Run("compose/"+tc.name, func(t *testing.T) {
			c, col := loadCompose(t), loadCollector(t)
			tc.change(c, col)
			expectProblem(t, checkComposeMetrics(c, col), tc.want)
		})
	}

	find := func(t *testing.T, m *manifests, name string) *deployment {
		i := slices.IndexFunc(m.deployments, func(d *deployment) bool { return d.Metadata.Name == name })
		if i < 0 {
			t.Fatalf("no Deployment %s", name)
		}
		return m.deployments[i]
	}
	k8sCases := []struct {
		name   string
		change func(t *testing.T, m *manifests)
		want   string
	}{
		{"not set", func(_ *testing.T, m *manifests) {
			delete(m.configMaps["eventpost-config"].Data, "EVENTPOST_METRICS_ADDR")
		}, "Deployment auth: EVENTPOST_METRICS_ADDR \"\" has no port"},
		{"on the HTTP port", func(_ *testing.T, m *manifests) {
			m.configMaps["eventpost-config"].Data["EVENTPOST_METRICS_ADDR"] = ":8080"
		}, "is the HTTP port"},
		{"on an undeclared port", func(_ *testing.T, m *manifests) {
			m.configMaps["eventpost-config"].Data["EVENTPOST_METRICS_ADDR"] = ":9091"
		}, "\":9091\" is not a port the container declares"},
		{"port not named metrics", func(t *testing.T, m *manifests) {
			c := find(t, m, "mailer").Spec.Template.Spec.Containers[0]
			c.Ports = slices.Clone(c.Ports)
			for i := range c.Ports {
				if c.Ports[i].Name == "metrics" {
					c.Ports[i].Name = "prom"
				}
			}
		}, "Deployment mailer: the metrics port 9090 is not the container port named metrics"},
		{"annotation on the HTTP port", func(t *testing.T, m *manifests) {
			find(t, m, "auth").Spec.Template.Metadata.Annotations["prometheus.io/port"] = "8080"
		}, "Deployment auth: prometheus.io/port \"8080\" is not the metrics port 9090"},
		{"not scraped", func(t *testing.T, m *manifests) {
			delete(find(t, m, "events").Spec.Template.Metadata.Annotations, "prometheus.io/scrape")
		}, "Deployment events: prometheus.io/scrape"},
		{"a Service to the metrics port", func(_ *testing.T, m *manifests) {
			for _, s := range m.services {
				if s.Metadata.Name == gateway {
					s.Spec.Ports = append(s.Spec.Ports, struct {
						Name       string `yaml:"name"`
						Port       int    `yaml:"port"`
						TargetPort string `yaml:"targetPort"`
					}{Name: "metrics", Port: 9090, TargetPort: "metrics"})
				}
			}
		}, "Service gateway: exposes the metrics port 9090"},
	}
	for _, tc := range k8sCases {
		t.Run("k8s/"+tc.name, func(t *testing.T) {
			m := loadManifests(t)
			tc.change(t, m)
			expectProblem(t, checkK8sMetrics(m), tc.want)
		})
	}
}
