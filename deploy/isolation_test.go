package deploy_test

// Network isolation and service keys: the compose networks and the Kubernetes
// NetworkPolicies give the reachability app.Callees gives and no more, only the gateway is
// open from outside, and each service key is mounted where it is needed and only there.

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/eventpost/eventpost/internal/app"
)

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// calls reports whether EventPost service a calls service b over HTTP.
func calls(a, b string) bool { return slices.Contains(app.Callees[a], b) }

// ---- compose: networks ------------------------------------------------------------------

// composeNetworks are the networks a compose service joins, written as a list or as a map.
type composeNetworks []string

func (n *composeNetworks) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	switch node.Kind {
	case yaml.SequenceNode:
		var names []string
		if err := node.Decode(&names); err != nil {
			return err
		}
		*n = names
	case yaml.MappingNode:
		for i := 0; i < len(node.Content); i += 2 {
			*n = append(*n, node.Content[i].Value)
		}
	default:
		return fmt.Errorf("line %d: networks: want a list or a map", node.Line)
	}
	return nil
}

// composeMount is one of a compose service's volumes: a named volume or a path, mounted at
// target.
type composeMount struct {
	source, target string
	readOnly       bool
}

func (m composeMount) named() bool {
	return m.source != "" && !strings.ContainsAny(m.source[:1], "./~$")
}

func mounts(s *composeService) []composeMount {
	var out []composeMount
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		m := composeMount{source: parts[0]}
		if len(parts) > 1 {
			m.target = path.Clean(parts[1])
		}
		if len(parts) > 2 {
			m.readOnly = slices.Contains(strings.Split(parts[2], ","), "ro")
		}
		out = append(out, m)
	}
	return out
}

// namedHosts returns the hosts that env's values name: in URLs (lists of them too) and in
// host:port addresses.
func namedHosts(env map[string]string) map[string]bool {
	hosts := map[string]bool{}
	for _, v := range env {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if strings.Contains(part, "://") {
				if u, err := url.Parse(part); err == nil && u.Hostname() != "" {
					hosts[u.Hostname()] = true
				}
			} else if h, _, err := net.SplitHostPort(part); err == nil && h != "" {
				hosts[h] = true
			}
		}
	}
	return hosts
}

// composeNets returns the networks of each compose service (none for network_mode none),
// reporting a service on compose's implicit default network or on an undeclared one.
func composeNets(ps *problems, c *composeFile) map[string][]string {
	nets := map[string][]string{}
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		switch {
		case s.NetworkMode == "none":
		case s.NetworkMode != "":
			ps.add("compose service %s: network_mode %q; list its networks instead", name, s.NetworkMode)
		case len(s.Networks) == 0:
			ps.add("compose service %s: on compose's default network, which every service that lists no networks joins; list its networks", name)
			nets[name] = []string{"default"}
		default:
			nets[name] = s.Networks
			for _, n := range s.Networks {
				if _, ok := c.Networks[n]; !ok {
					ps.add("compose service %s: joins network %s, which networks: does not declare", name, n)
				}
			}
		}
	}
	return nets
}

// checkComposeNetworks checks that the networks connect what app.Callees connects and nothing
// more. Docker lets two containers on a network connect to each other on every port, both
// ways, so the rule is on sharing a network:
//
//   - two containers of different EventPost services share a network only when one calls the
//     other, and each shares one with every service it calls;
//   - an EventPost container shares a network with another container (PostgreSQL, RabbitMQ,
//     Mailpit, Consul, the collector…) only when one of its variables names that container,
//     and with each one its variables name;
//   - a network with a way out of the host (not internal) holds only containers that publish
//     a port, which needs one;
//   - a container on several networks registers with Consul under its compose name, which
//     Docker resolves, for each container asking, on a network they share.
//
// So the backing containers connect EventPost services to nothing: none of them forwards
// connections, and each is on the networks of the services that use it only.
func checkComposeNetworks(c *composeFile) problems {
	var ps problems
	nets := composeNets(&ps, c)
	shared := func(a, b string) []string {
		var out []string
		for _, n := range nets[a] {
			if slices.Contains(nets[b], n) {
				out = append(out, n)
			}
		}
		return out
	}
	names := sortedKeys(c.Services)
	for _, a := range names {
		sa := runs(c.Services[a].Command)
		if sa == "" {
			continue
		}
		hosts := namedHosts(c.Services[a].Environment)
		for _, b := range names {
			sb := runs(c.Services[b].Command)
			common := shared(a, b)
			switch {
			case b == a || sb == sa: // replicas of one service
			case sb != "":
				if len(common) > 0 && a < b && !calls(sa, sb) && !calls(sb, sa) {
					ps.add("compose services %s (%s) and %s (%s) share network %s, but neither calls the other (app.Callees): each could connect to the other",
						a, sa, b, sb, strings.Join(common, ", "))
				}
				if len(common) == 0 && calls(sa, sb) {
					ps.add("compose service %s (%s) shares no network with %s (%s), which it calls (app.Callees)", a, sa, b, sb)
				}
			case len(common) > 0 && !hosts[b]:
				ps.add("compose service %s (%s) shares network %s with %s, which none of its variables names: it could connect to %s without using it",
					a, sa, strings.Join(common, ", "), b, b)
			case len(common) == 0 && hosts[b]:
				ps.add("compose service %s (%s) uses %s but shares no network with it", a, sa, b)
			}
		}
	}
	for _, n := range sortedKeys(c.Networks) {
		if def := c.Networks[n]; def != nil && def.Internal {
			continue
		}
		for _, name := range names {
			if slices.Contains(nets[name], n) && len(c.Services[name].Ports) == 0 {
				ps.add("network %s is not internal, and %s, which publishes no port, is on it: that gives it a way out of the host (internal: true)", n, name)
			}
		}
	}
	for _, a := range names {
		s := c.Services[a]
		if runs(s.Command) == "" || len(nets[a]) < 2 || s.Environment["EVENTPOST_CONSUL_ADDR"] == "" {
			continue
		}
		if host, _, _ := strings.Cut(s.Environment["EVENTPOST_ADVERTISE_ADDR"], ":"); host != a {
			ps.add("compose service %s: on %d networks, it would register with Consul the address it has on one of them, which its callers may not share; set EVENTPOST_ADVERTISE_ADDR to %s",
				a, len(nets[a]), a)
		}
		if n := s.replicas(); n > 1 {
			ps.add("compose service %s: %d replicas on %d networks, and replicas cannot each register a name; keep it on one network", a, n, len(nets[a]))
		}
	}
	return ps
}

func TestComposeNetworks(t *testing.T) {
	report(t, "docker-compose.yml", checkComposeNetworks(loadCompose(t)))
}

// ---- compose: the development UIs (docker-compose.tools.yml) ----------------------------

// devUIs are the development UIs docker-compose.tools.yml publishes: compose service → port.
var devUIs = map[string]string{"mailpit": "8025", "rabbitmq": "15672", "consul": "8500", "jaeger": "16686", "grafana": "3000", "prometheus": "9090"}

func loadComposeTools(t *testing.T) *composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal([]byte(readFile(t, "docker-compose.tools.yml")), &c); err != nil {
		t.Fatalf("docker-compose.tools.yml: %v", err)
	}
	return &c
}

// mergeCompose returns base with override applied as compose applies a further -f file to
// the fields an override of ports and networks uses: ports appended, networks joined.
func mergeCompose(base, override *composeFile) *composeFile {
	out := &composeFile{Services: map[string]*composeService{}, Networks: maps.Clone(base.Networks)}
	if out.Networks == nil {
		out.Networks = map[string]*composeNetwork{}
	}
	for name, s := range base.Services {
		cp := *s
		cp.Ports, cp.Networks = slices.Clone(s.Ports), slices.Clone(s.Networks)
		out.Services[name] = &cp
	}
	for name, o := range override.Services {
		s := out.Services[name]
		if s == nil {
			cp := *o
			out.Services[name] = &cp
			continue
		}
		s.Ports = append(s.Ports, o.Ports...)
		for _, n := range o.Networks {
			if !slices.Contains(s.Networks, n) {
				s.Networks = append(s.Networks, n)
			}
		}
	}
	maps.Copy(out.Networks, override.Networks)
	return out
}

// checkComposeTools checks docker-compose.tools.yml: it publishes the development UIs on
// 127.0.0.1 only, publishes no EventPost container, and, added to docker-compose.yml, keeps
// the networks' rules.
func checkComposeTools(base, tools *composeFile) problems {
	var ps problems
	for _, name := range sortedKeys(tools.Services) {
		b := base.Services[name]
		if b == nil {
			ps.add("docker-compose.tools.yml: service %s is not in docker-compose.yml", name)
			continue
		}
		if runs(b.Command) != "" || b.Build != nil {
			ps.add("docker-compose.tools.yml: changes %s, an EventPost container; only the gateway is published, by docker-compose.yml", name)
		}
		for _, p := range tools.Services[name].Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				ps.add("docker-compose.tools.yml: %s publishes %s beyond this host; publish on 127.0.0.1 only", name, p)
			}
		}
	}
	for _, name := range sortedKeys(devUIs) {
		if s := tools.Services[name]; s == nil || !slices.ContainsFunc(s.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+devUIs[name]) }) {
			ps.add("docker-compose.tools.yml: does not publish %s's UI (port %s)", name, devUIs[name])
		}
	}
	known := map[string]bool{}
	for _, p := range checkComposeNetworks(base) {
		known[p] = true
	}
	for _, p := range checkComposeNetworks(mergeCompose(base, tools)) {
		if !known[p] {
			ps.add("with docker-compose.tools.yml: %s", p)
		}
	}
	return ps
}

func TestComposeTools(t *testing.T) {
	report(t, "", checkComposeTools(loadCompose(t), loadComposeTools(t)))
}

// ---- compose: service keys --------------------------------------------------------------

// The files `eventpost keygen <dir>` writes, and the Secret keys that hold them in Kubernetes.
const (
	keygenPublicDir   = "public"
	keygenCallerKeys  = "caller-keys"
	keygenServiceKey  = "service.key"
	serviceKeysSecret = "eventpost-service-keys"
)

// secretPrivateKey is the key of service's private key in the Secret eventpost-service-keys.
func secretPrivateKey(service string) string { return service + ".key" }

// needsServiceKey and needsCallerKeys say which keys a service reads: its own private key
// when it calls others, the callers' public keys when others call it.
func needsServiceKey(svc string) bool { return len(app.Callees[svc]) > 0 }
func needsCallerKeys(svc string) bool { return len(app.Callers(svc)) > 0 }

// checkComposeKeys checks that a one-shot keygen service writes the keys into one volume per
// directory, and that every container mounts, read-only, the keys its service reads and no
// other, its _FILE variables naming them.
func checkComposeKeys(c *composeFile) problems {
	var ps problems
	var keygen, dir string
	for _, name := range sortedKeys(c.Services) {
		cmd := c.Services[name].Command
		if i := slices.Index(cmd, "keygen"); i >= 0 && i+1 < len(cmd) {
			keygen, dir = name, path.Clean(cmd[i+1])
		}
	}
	if keygen == "" {
		return append(ps, "compose: no service runs `keygen <dir>`, which makes the service keys")
	}
	if mode := c.Services[keygen].NetworkMode; mode != "none" {
		ps.add("compose service %s: network_mode is %q; making keys needs no network (none)", keygen, mode)
	}
	written := map[string]string{} // volume → the directory of keygen's it holds
	for _, m := range mounts(c.Services[keygen]) {
		if m.named() {
			written[m.source] = m.target
		}
	}
	// owner returns whose keys keygen's directory d holds: a service, public, or "" for all.
	owner := func(d string) string {
		rel, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(d, dir), "/"), "/")
		return rel
	}
	dirs := slices.Collect(maps.Values(written))
	for _, svc := range services() {
		if needsServiceKey(svc) && !slices.Contains(dirs, path.Join(dir, svc)) {
			ps.add("compose service %s: no volume of its own at %s, for %s's private key", keygen, path.Join(dir, svc), svc)
		}
	}
	if !slices.Contains(dirs, path.Join(dir, keygenPublicDir)) {
		ps.add("compose service %s: no volume at %s, for the public keys", keygen, path.Join(dir, keygenPublicDir))
	}
	for _, name := range sortedKeys(c.Services) {
		if name == keygen {
			continue
		}
		s := c.Services[name]
		svc := runs(s.Command)
		where := "compose service " + name
		ms := mounts(s)
		mountsKeys := false
		for _, m := range ms {
			d, ok := written[m.source]
			if !ok {
				continue
			}
			mountsKeys = true
			if !m.readOnly {
				ps.add("%s: mounts %s (keygen's %s) writable; mount it read-only (:ro)", where, m.source, d)
			}
			switch o := owner(d); {
			case svc == "":
				ps.add("%s: mounts %s (keygen's %s), but runs no EventPost service", where, m.source, d)
			case o == "":
				ps.add("%s: mounts %s, every key keygen makes", where, m.source)
			case o == keygenPublicDir:
				if !needsCallerKeys(svc) {
					ps.add("%s: mounts the public keys (%s), but no service calls %s", where, m.source, svc)
				}
			case o != svc:
				ps.add("%s: mounts %s, the private key of %s", where, m.source, o)
			case !needsServiceKey(svc):
				ps.add("%s: mounts its private key (%s), but %s calls no service", where, m.source, svc)
			}
		}
		if svc == "" {
			continue
		}
		// keygenFile returns the file of keygen's that file is in this container, or "".
		keygenFile := func(file string) string {
			for _, m := range ms {
				if d, ok := written[m.source]; ok && (file == m.target || strings.HasPrefix(file, m.target+"/")) {
					return d + strings.TrimPrefix(file, m.target)
				}
			}
			return ""
		}
		for _, f := range []struct {
			env, want, why string
			need           bool
		}{
			{"EVENTPOST_SERVICE_KEY_FILE", path.Join(dir, svc, keygenServiceKey), "calls other services", needsServiceKey(svc)},
			{"EVENTPOST_CALLER_KEYS_FILE", path.Join(dir, keygenPublicDir, keygenCallerKeys), "is called", needsCallerKeys(svc)},
		} {
			switch v := s.Environment[f.env]; {
			case f.need && v == "":
				ps.add("%s: does not set %s (%s %s)", where, f.env, svc, f.why)
			case !f.need && v != "":
				ps.add("%s: sets %s, which %s does not need (app.Callees)", where, f.env, svc)
			case v != "":
				if got := keygenFile(v); got != f.want {
					ps.add("%s: %s is %s, which is %q of keygen's files, not %s", where, f.env, v, got, f.want)
				}
			}
		}
		if mountsKeys && s.DependsOn[keygen].Condition != "service_completed_successfully" {
			ps.add("%s: does not wait for %s to make the keys (depends_on … condition: service_completed_successfully)", where, keygen)
		}
	}
	return ps
}

func TestComposeKeys(t *testing.T) {
	report(t, "docker-compose.yml", checkComposeKeys(loadCompose(t)))
}

// ---- the image: volume mount points owned by its user -----------------------------------

// buildDirs returns the directories the build stages create with `install -d` or `mkdir`,
// parents included, with their modes.
func buildDirs(stages [][]instruction) map[string]os.FileMode {
	dirs := map[string]os.FileMode{}
	for _, stage := range stages[:len(stages)-1] {
		for _, in := range stage {
			if in.cmd != "RUN" {
				continue
			}
			for _, cmd := range regexp.MustCompile(`&&|\|\||;`).Split(in.args, -1) {
				f := strings.Fields(cmd)
				if len(f) == 0 || f[0] != "mkdir" && !(f[0] == "install" && slices.Contains(f, "-d")) {
					continue
				}
				mode := os.FileMode(0o755)
				var paths []string
				for i := 1; i < len(f); i++ {
					switch a := f[i]; {
					case a == "-m" || a == "-o" || a == "-g":
						if a == "-m" && i+1 < len(f) {
							if n, err := strconv.ParseUint(f[i+1], 8, 32); err == nil {
								mode = os.FileMode(n)
							}
						}
						i++
					case strings.HasPrefix(a, "-"):
					default:
						paths = append(paths, path.Clean(a))
					}
				}
				for _, p := range paths {
					dirs[p] = mode
					for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
						if _, ok := dirs[d]; !ok {
							dirs[d] = 0o755
						}
					}
				}
			}
		}
	}
	return dirs
}

// checkImageMountPoints checks that every named volume an EventPost container mounts has its
// mount point in the image, made in a build stage and copied with --chown to the image's
// user: a new volume starts as a copy of it, owned by that user (root's otherwise, which the
// user could not write). A directory holding a private key is 0700.
func checkImageMountPoints(dockerfile string, c *composeFile) problems {
	var ps problems
	stages := dockerStages(dockerfile)
	if len(stages) < 2 {
		return append(ps, "Dockerfile: not a multi-stage build")
	}
	dirs := buildDirs(stages)
	type copyIn struct{ src, dst, chown string }
	var copies []copyIn
	user := ""
	for _, in := range stages[len(stages)-1] {
		f := strings.Fields(in.args)
		switch in.cmd {
		case "USER":
			user, _, _ = strings.Cut(in.args, ":")
		case "COPY":
			var cp copyIn
			var rest []string
			from := false
			for _, a := range f {
				switch {
				case strings.HasPrefix(a, "--from="):
					from = true
				case strings.HasPrefix(a, "--chown="):
					cp.chown, _, _ = strings.Cut(strings.TrimPrefix(a, "--chown="), ":")
				case !strings.HasPrefix(a, "--"):
					rest = append(rest, a)
				}
			}
			if from && len(rest) == 2 {
				cp.src, cp.dst = path.Clean(rest[0]), path.Clean(rest[1])
				copies = append(copies, cp)
			}
		}
	}
	// The volumes that hold a private key: mounted where an EVENTPOST_SERVICE_KEY_FILE is.
	private := map[string]bool{}
	for _, s := range c.Services {
		if f := s.Environment["EVENTPOST_SERVICE_KEY_FILE"]; f != "" {
			for _, m := range mounts(s) {
				if strings.HasPrefix(f, m.target+"/") {
					private[m.source] = true
				}
			}
		}
	}
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if s.Build == nil {
			continue // another image
		}
		for _, m := range mounts(s) {
			if !m.named() {
				continue
			}
			found := false
			for _, cp := range copies {
				if m.target != cp.dst && !strings.HasPrefix(m.target, cp.dst+"/") {
					continue
				}
				mode, ok := dirs[cp.src+strings.TrimPrefix(m.target, cp.dst)]
				if !ok {
					continue
				}
				found = true
				if cp.chown == "" || cp.chown != user {
					ps.add("Dockerfile: %s is copied with --chown=%s, not to the image's user %s", m.target, cp.chown, user)
				}
				if private[m.source] && mode != 0o700 {
					ps.add("Dockerfile: %s holds a private key, but the build stage makes it %#o, not 0700", m.target, mode)
				} else if mode&0o022 != 0 {
					ps.add("Dockerfile: the build stage makes %s writable by others (%#o)", m.target, mode)
				}
			}
			if !found {
				ps.add("Dockerfile: no directory %s made in a build stage and copied to its user (COPY --from=… --chown=…): volume %s, which compose service %s mounts there, would start owned by root",
					m.target, m.source, name)
			}
		}
	}
	return ps
}

func TestImageMountPoints(t *testing.T) {
	report(t, "", checkImageMountPoints(readFile(t, "Dockerfile"), loadCompose(t)))
	ignore := strings.Split(readFile(t, "../.dockerignore"), "\n")
	if !slices.Contains(ignore, "**/*.key") {
		t.Errorf("../.dockerignore does not exclude **/*.key: keys made in the work tree would reach the builder")
	}
}

// ---- Kubernetes: NetworkPolicies --------------------------------------------------------

type labelSelector struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions []struct {
		Key      string   `yaml:"key"`
		Operator string   `yaml:"operator"`
		Values   []string `yaml:"values"`
	} `yaml:"matchExpressions"`
}

func (s *labelSelector) empty() bool { return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 }

// selects reports whether the selector selects labels (an empty one selects everything).
func (s *labelSelector) selects(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, e := range s.MatchExpressions {
		v, ok := labels[e.Key]
		switch e.Operator {
		case "In":
			if !ok || !slices.Contains(e.Values, v) {
				return false
			}
		case "NotIn":
			if ok && slices.Contains(e.Values, v) {
				return false
			}
		case "Exists":
			if !ok {
				return false
			}
		case "DoesNotExist":
			if ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

type policyPeer struct {
	PodSelector       *labelSelector `yaml:"podSelector"`
	NamespaceSelector *labelSelector `yaml:"namespaceSelector"`
	IPBlock           *struct {
		CIDR   string   `yaml:"cidr"`
		Except []string `yaml:"except"`
	} `yaml:"ipBlock"`
}

type policyPort struct {
	Protocol string `yaml:"protocol"`
	Port     string `yaml:"port"` // a number or a port's name
	EndPort  int    `yaml:"endPort"`
}

type policyRule struct {
	From  []policyPeer `yaml:"from"`
	To    []policyPeer `yaml:"to"`
	Ports []policyPort `yaml:"ports"`
}

type networkPolicy struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		PodSelector labelSelector `yaml:"podSelector"`
		PolicyTypes []string      `yaml:"policyTypes"`
		Ingress     []policyRule  `yaml:"ingress"`
		Egress      []policyRule  `yaml:"egress"`
	} `yaml:"spec"`
}

// has reports whether the policy limits connections of kind, Ingress or Egress (without
// policyTypes: Ingress always, Egress when it has egress rules).
func (p *networkPolicy) has(kind string) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return kind == "Ingress" || kind == "Egress" && len(p.Spec.Egress) > 0
	}
	return slices.Contains(p.Spec.PolicyTypes, kind)
}

// endpoint is one end of a connection: a pod, in a namespace, with labels and named ports; or,
// without a namespace, an address outside the cluster.
type endpoint struct {
	name      string
	namespace string
	nsLabels  map[string]string
	labels    map[string]string
	ports     map[string]int // named container ports
	ip        net.IP
}

func podIn(namespace, name string, labels map[string]string, ports map[string]int) endpoint {
	return endpoint{name: name, namespace: namespace, nsLabels: map[string]string{"kubernetes.io/metadata.name": namespace}, labels: labels, ports: ports}
}

// matches reports whether the peer, of a policy in namespace ns, takes in e. An ipBlock is
// taken to match every pod too: whether it matches pods' addresses depends on the network
// plugin, so the checks assume the worst.
func (p policyPeer) matches(e endpoint, ns string) bool {
	if p.IPBlock != nil {
		if e.namespace != "" {
			return true
		}
		_, block, err := net.ParseCIDR(p.IPBlock.CIDR)
		if err != nil || e.ip == nil || !block.Contains(e.ip) {
			return false
		}
		for _, x := range p.IPBlock.Except {
			if _, xb, err := net.ParseCIDR(x); err == nil && xb.Contains(e.ip) {
				return false
			}
		}
		return true
	}
	if e.namespace == "" || p.PodSelector == nil && p.NamespaceSelector == nil {
		return false
	}
	if p.NamespaceSelector == nil && e.namespace != ns || p.NamespaceSelector != nil && !p.NamespaceSelector.selects(e.nsLabels) {
		return false
	}
	return p.PodSelector == nil || p.PodSelector.selects(e.labels)
}

func peersMatch(peers []policyPeer, e endpoint, ns string) bool {
	return len(peers) == 0 || slices.ContainsFunc(peers, func(p policyPeer) bool { return p.matches(e, ns) })
}

// portsMatch reports whether ports take in port/proto at dst, whose named ports resolve names.
func portsMatch(ports []policyPort, dst endpoint, port int, proto string) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if or(p.Protocol, "TCP") != proto {
			continue
		}
		n, err := strconv.Atoi(p.Port)
		switch {
		case p.Port == "":
			return true
		case err == nil:
			if port == n || p.EndPort > 0 && port >= n && port <= p.EndPort {
				return true
			}
		case dst.ports[p.Port] == port:
			return true
		}
	}
	return false
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// allows reports whether the NetworkPolicies let a connection from src to dst on port/proto
// out of src (kind Egress) or into dst (kind Ingress). A pod that no policy of that kind
// selects is open that way; an end outside the namespace is not limited here.
func (m *manifests) allows(kind string, src, dst endpoint, port int, proto string) bool {
	self, other := dst, src
	if kind == "Egress" {
		self, other = src, dst
	}
	ns := m.kust.Namespace
	if self.namespace != ns {
		return true
	}
	selected := false
	for _, p := range m.policies {
		if !p.has(kind) || !p.Spec.PodSelector.selects(self.labels) {
			continue
		}
		selected = true
		rules := p.Spec.Ingress
		if kind == "Egress" {
			rules = p.Spec.Egress
		}
		for _, r := range rules {
			peers := r.From
			if kind == "Egress" {
				peers = r.To
			}
			if portsMatch(r.Ports, dst, port, proto) && peersMatch(peers, other, ns) {
				return true
			}
		}
	}
	return !selected
}

// reachesOut reports whether src may connect out of its namespace on port/proto: to a server
// these manifests do not run (PostgreSQL, RabbitMQ, SMTP), wherever the policies say it is.
// Port names do not count: they name ports of pods the policies select.
func (m *manifests) reachesOut(src endpoint, port int, proto string) bool {
	selected := false
	for _, p := range m.policies {
		if !p.has("Egress") || !p.Spec.PodSelector.selects(src.labels) {
			continue
		}
		selected = true
		for _, r := range p.Spec.Egress {
			if portsMatch(r.Ports, endpoint{}, port, proto) && (len(r.To) == 0 || slices.ContainsFunc(r.To, func(peer policyPeer) bool {
				return peer.IPBlock != nil || peer.NamespaceSelector != nil
			})) {
				return true
			}
		}
	}
	return !selected
}

// k8sPod is a pod the manifests run: an EventPost service's (svc set) or a Job's.
type k8sPod struct {
	endpoint
	svc     string
	http    int // the HTTP port, EventPost's pods only
	metrics int // the port of /metrics (prometheus.io/port), EventPost's pods only
	ports   []int
	env     map[string]string
}

// pods returns the pods of the Deployments and Jobs, reporting an EventPost pod whose
// /metrics port is not known.
func (m *manifests) pods(ps *problems) []k8sPod {
	var out []k8sPod
	add := func(kind, name string, t *podTemplate) {
		named := map[string]int{}
		p := k8sPod{env: map[string]string{}}
		var discard problems
		for _, c := range t.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name != "" {
					named[cp.Name] = cp.ContainerPort
				}
				p.ports = append(p.ports, cp.ContainerPort)
			}
			maps.Copy(p.env, m.checkEnv(&discard, name, c))
			if svc := runs(c.cmdline()); svc != "" {
				p.svc = svc
				p.http, _ = strconv.Atoi(addrPort(p.env["EVENTPOST_HTTP_ADDR"]))
				if a := t.Metadata.Annotations["prometheus.io/port"]; a == "" || c.port(a) == 0 {
					ps.add("%s %s: prometheus.io/port %q is not a port of its container, so where /metrics is served is not known", kind, name, a)
				} else {
					p.metrics = c.port(a)
				}
				if p.metrics != 0 && p.metrics == p.http {
					ps.add("%s %s: /metrics is on the HTTP port (%d), so whoever scrapes it can also call the API: serve it on a port of its own (EVENTPOST_METRICS_ADDR)", kind, name, p.http)
				}
			}
		}
		label := kind + " " + name
		if p.svc != "" {
			label = p.svc
		}
		p.endpoint = podIn(m.kust.Namespace, label, t.Metadata.Labels, named)
		out = append(out, p)
	}
	for _, d := range m.deployments {
		add("Deployment", d.Metadata.Name, &d.Spec.Template)
	}
	for _, j := range m.jobs {
		add("Job", j.Metadata.Name, &j.Spec.Template)
	}
	return out
}

// serverPorts are the default ports of the servers the pods' URLs name, by scheme.
var serverPorts = map[string]int{"postgres": 5432, "postgresql": 5432, "amqp": 5672, "amqps": 5671, "smtp": 25}

// checkNetworkPolicies computes, from the NetworkPolicies, which pod may connect to which,
// and checks it against app.Callees:
//
//   - a default deny for every pod, ingress and egress;
//   - between EventPost pods, on the HTTP port: out of a pod and into another (each checked
//     alone) exactly when the first's service calls the second's (app.Callers), but for the
//     way into the gateway, open to all; a Job's pods reach none;
//   - from outside the cluster and from other namespaces: the gateway's HTTP port only;
//   - from the monitoring namespace: each pod's /metrics port only (prometheus.io/port);
//   - out to the cluster DNS from every pod; out of the namespace to a server's port (from
//     the URLs in the pods' variables: PostgreSQL, RabbitMQ, SMTP) exactly from the pods
//     whose URLs name it.
func checkNetworkPolicies(m *manifests) problems {
	var ps problems
	if !slices.ContainsFunc(m.policies, func(p *networkPolicy) bool {
		s := &p.Spec
		return s.PodSelector.empty() && slices.Contains(s.PolicyTypes, "Ingress") && slices.Contains(s.PolicyTypes, "Egress") &&
			len(s.Ingress) == 0 && len(s.Egress) == 0
	}) {
		ps.add("no default-deny NetworkPolicy (podSelector {}, policyTypes [Ingress, Egress], no rules)")
	}
	pods := m.pods(&ps)

	// Between the pods.
	for _, src := range pods {
		for _, dst := range pods {
			if dst.svc == "" {
				continue // a Job's pods take no connections: checked below
			}
			want := src.svc != "" && slices.Contains(app.Callers(dst.svc), src.svc)
			for _, kind := range []string{"Egress", "Ingress"} {
				want := want || kind == "Ingress" && dst.svc == gateway // open to all; egress keeps the pods off it
				got := m.allows(kind, src.endpoint, dst.endpoint, dst.http, "TCP")
				dir := "from " + src.name + " into " + dst.name
				if kind == "Egress" {
					dir = "out of " + src.name + " to " + dst.name
				}
				switch {
				case got && !want:
					ps.add("NetworkPolicies: connections %s's HTTP port (%d) pass, but %s does not call %s (app.Callees)", dir, dst.http, src.name, dst.svc)
				case !got && want:
					ps.add("NetworkPolicies: connections %s's HTTP port (%d) are refused, but %s calls %s (app.Callees)", dir, dst.http, src.name, dst.svc)
				}
			}
		}
	}

	// From outside, from another namespace, from monitoring.
	outside := endpoint{name: "a client outside the cluster", ip: net.ParseIP("203.0.113.7")}
	elsewhere := podIn("default", "a pod of namespace default", map[string]string{"app": "other"}, nil)
	monitoring := podIn("monitoring", "Prometheus in namespace monitoring", map[string]string{"app.kubernetes.io/name": "prometheus"}, nil)
	for _, dst := range pods {
		ports := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(dst.ports), 1)))) // 1: a port no pod declares
		for _, port := range ports {
			public := dst.svc == gateway && port == dst.http
			for _, src := range []endpoint{outside, elsewhere, monitoring} {
				want := public || src.name == monitoring.name && dst.svc != "" && port == dst.metrics
				switch got := m.allows("Ingress", src, dst.endpoint, port, "TCP"); {
				case got && !want:
					ps.add("NetworkPolicies: %s reaches port %d of %s; only the gateway's HTTP port is open, and the /metrics port to monitoring", src.name, port, dst.name)
				case !got && want && public:
					ps.add("NetworkPolicies: %s cannot reach the gateway's HTTP port (%d)", src.name, port)
				case !got && want:
					ps.add("NetworkPolicies: %s cannot reach %s's /metrics port (%d, prometheus.io/port)", src.name, dst.name, port)
				}
			}
		}
	}

	// Out: DNS, and the servers.
	dns := podIn("kube-system", "the cluster DNS", map[string]string{"k8s-app": "kube-dns"}, map[string]int{"dns": 53, "dns-tcp": 53})
	servers := map[int]string{} // port → the scheme naming it
	uses := map[string]map[int]bool{}
	for _, p := range pods {
		for _, proto := range []string{"UDP", "TCP"} {
			if !m.allows("Egress", p.endpoint, dns, 53, proto) {
				ps.add("NetworkPolicies: %s cannot reach the cluster DNS (kube-system, k8s-app=kube-dns) on 53/%s", p.name, proto)
			}
		}
		uses[p.name] = map[int]bool{}
		for _, v := range p.env {
			u, err := url.Parse(v)
			if err != nil || serverPorts[u.Scheme] == 0 || u.Host == "" {
				continue
			}
			port, _ := strconv.Atoi(or(u.Port(), strconv.Itoa(serverPorts[u.Scheme])))
			servers[port], uses[p.name][port] = u.Scheme, true
		}
	}
	for _, port := range slices.Sorted(maps.Keys(servers)) {
		for _, p := range pods {
			switch want, got := uses[p.name][port], m.reachesOut(p.endpoint, port, "TCP"); {
			case got && !want:
				ps.add("NetworkPolicies: %s may connect out to port %d (%s), which none of its URLs names", p.name, port, servers[port])
			case !got && want:
				ps.add("NetworkPolicies: %s cannot connect out to port %d, where its %s:// URL leads", p.name, port, servers[port])
			}
		}
	}
	return ps
}

func TestNetworkPolicies(t *testing.T) {
	m := loadManifests(t)
	if len(m.policies) == 0 {
		t.Fatal("k8s: kustomization.yaml applies no NetworkPolicy")
	}
	report(t, "k8s", checkNetworkPolicies(m))
}

// ---- Kubernetes: service keys -----------------------------------------------------------

// secretFile is a file a Secret volume puts into a container.
type secretFile struct {
	secret, key string
	mode        int
	readOnly    bool
}

// secretFiles returns the files the Secret volumes of pod template t put into c, by path.
func (m *manifests) secretFiles(ps *problems, where string, t *podTemplate, c *container) map[string]secretFile {
	files := map[string]secretFile{}
	for _, vm := range c.VolumeMounts {
		i := slices.IndexFunc(t.Spec.Volumes, func(v podVolume) bool { return v.Name == vm.Name })
		if i < 0 {
			ps.add("%s: mounts volume %s, which the pod does not have", where, vm.Name)
			continue
		}
		sv := t.Spec.Volumes[i].Secret
		if sv == nil {
			continue
		}
		mode := 0o644 // Kubernetes' default
		if sv.DefaultMode != nil {
			mode = *sv.DefaultMode
		}
		type item struct {
			key, path string
			mode      int
		}
		var items []item
		if len(sv.Items) == 0 { // every key of the Secret
			if s := m.secrets[sv.SecretName]; s != nil {
				for _, k := range slices.Sorted(maps.Keys(maps.Collect(func(yield func(string, string) bool) {
					for k, v := range s.Data {
						yield(k, v)
					}
					for k, v := range s.StringData {
						yield(k, v)
					}
				}))) {
					items = append(items, item{k, k, mode})
				}
			}
		}
		for _, it := range sv.Items {
			im := mode
			if it.Mode != nil {
				im = *it.Mode
			}
			items = append(items, item{it.Key, it.Path, im})
		}
		for _, it := range items {
			p := path.Join(vm.MountPath, it.path)
			if vm.SubPath != "" {
				if vm.SubPath != it.path {
					continue
				}
				p = vm.MountPath
			}
			files[p] = secretFile{sv.SecretName, it.key, it.mode, vm.ReadOnly}
		}
	}
	return files
}

// checkK8sKeys checks that the Secret eventpost-service-keys holds every key, and that each
// container mounts the keys its service reads and no other — read-only, 0440, readable through
// the pod's fsGroup — its _FILE variables naming them.
func checkK8sKeys(m *manifests) problems {
	var ps problems
	if s := m.secrets[serviceKeysSecret]; s == nil {
		ps.add("%s shows no Secret %s", secretExample, serviceKeysSecret)
	} else {
		want := []string{keygenCallerKeys}
		for _, svc := range services() {
			if needsServiceKey(svc) {
				want = append(want, secretPrivateKey(svc))
			}
		}
		for _, k := range want {
			if s.StringData[k] == "" && s.Data[k] == "" {
				ps.add("Secret %s (%s): no key %s", serviceKeysSecret, secretExample, k)
			}
		}
	}
	for _, d := range m.deployments {
		t := &d.Spec.Template
		for _, c := range t.Spec.Containers {
			svc := runs(c.cmdline())
			if svc == "" {
				continue
			}
			where := fmt.Sprintf("Deployment %s, container %s", d.Metadata.Name, c.Name)
			var discard problems
			env := m.checkEnv(&discard, where, c)
			files := m.secretFiles(&ps, where, t, c)
			for _, p := range sortedKeys(files) {
				f := files[p]
				if f.mode&0o007 != 0 {
					ps.add("%s: %s (Secret %s key %s) has mode %#o, open to other users, which the code refuses for a private key; set defaultMode: 0440", where, p, f.secret, f.key, f.mode)
				}
				if f.mode&0o040 == 0 {
					ps.add("%s: %s (Secret %s key %s) has mode %#o: the process reads it through the pod's fsGroup, so it must be group-readable (0440)", where, p, f.secret, f.key, f.mode)
				}
				if !f.readOnly {
					ps.add("%s: %s is not mounted readOnly", where, p)
				}
				if f.secret != serviceKeysSecret {
					continue
				}
				switch {
				case f.key == keygenCallerKeys && !needsCallerKeys(svc):
					ps.add("%s: mounts %s, but no service calls %s", where, f.key, svc)
				case f.key == secretPrivateKey(svc) && !needsServiceKey(svc):
					ps.add("%s: mounts its private key, but %s calls no service", where, svc)
				case f.key != keygenCallerKeys && f.key != secretPrivateKey(svc):
					ps.add("%s: mounts %s at %s: another service's private key", where, f.key, p)
				}
			}
			if sc := t.Spec.SecurityContext; len(files) > 0 && (sc == nil || sc.FSGroup == nil) {
				ps.add("%s: mounts Secret files, owned by root and 0440, but the pod has no fsGroup: its user cannot read them", where)
			}
			for _, f := range []struct {
				env, key string
				need     bool
			}{
				{"EVENTPOST_SERVICE_KEY_FILE", secretPrivateKey(svc), needsServiceKey(svc)},
				{"EVENTPOST_CALLER_KEYS_FILE", keygenCallerKeys, needsCallerKeys(svc)},
			} {
				switch v := env[f.env]; {
				case f.need && v == "":
					ps.add("%s: %s does not set %s", where, svc, f.env)
				case !f.need && v != "":
					ps.add("%s: sets %s, which %s does not need (app.Callees)", where, f.env, svc)
				case v != "":
					if got, ok := files[v]; !ok {
						ps.add("%s: %s is %s, which no Secret volume mounts", where, f.env, v)
					} else if got.secret != serviceKeysSecret || got.key != f.key {
						ps.add("%s: %s is %s, which is Secret %s key %s, not %s key %s", where, f.env, v, got.secret, got.key, serviceKeysSecret, f.key)
					}
				}
			}
			for _, k := range sortedKeys(env) {
				if strings.HasSuffix(k, "_FILE") && env[k] != "" {
					if _, ok := files[env[k]]; !ok {
						ps.add("%s: %s is %s, which no Secret volume mounts", where, k, env[k])
					}
				}
			}
		}
	}
	return ps
}

func TestKubernetesKeys(t *testing.T) {
	report(t, "k8s", checkK8sKeys(loadManifests(t)))
}

// ---- the checks fail when a piece is missing -------------------------------------------

func TestChecksCatchComposeIsolationFaults(t *testing.T) {
	sql := readFile(t, initSQL)
	check := func(c *composeFile) problems {
		return slices.Concat(checkCompose(c, sql), checkComposeNetworks(c), checkComposeKeys(c))
	}
	addNet := func(c *composeFile, service, network string) {
		c.Services[service].Networks = append(slices.Clone(c.Services[service].Networks), network)
	}
	for _, tc := range []struct {
		name   string
		change func(c *composeFile)
		want   string
	}{
		{"a UI published", func(c *composeFile) { c.Services["mailpit"].Ports = []string{"127.0.0.1:8025:8025"} }, "only the gateway's port is published"},
		{"a service published", func(c *composeFile) { c.Services["auth"].Ports = []string{"8081:8080"} }, "compose service auth: publishes"},
		{"another gateway port", func(c *composeFile) { c.Services[gateway].Ports = append(c.Services[gateway].Ports, "9090:9090") }, "not the gateway's HTTP port"},
		{"callee reaches its caller's peer", func(c *composeFile) { addNet(c, "auth", "events-api") }, "(auth) and events (events) share network events-api"},
		{"shared data network", func(c *composeFile) { addNet(c, "mailer", "auth-backend") }, "(auth) and mailer (mailer) share network auth-backend"},
		{"caller cut off", func(c *composeFile) {
			c.Services["notifications-2"].Networks = slices.DeleteFunc(slices.Clone(c.Services["notifications-2"].Networks), func(n string) bool { return n == "events-api" })
		}, "notifications-2 (notifications) shares no network with events"},
		{"gateway next to the database", func(c *composeFile) { addNet(c, "postgres", "gateway-backend") }, "gateway (gateway) shares network gateway-backend with postgres"},
		{"database out of reach", func(c *composeFile) { c.Services["postgres"].Networks = []string{"auth-backend"} }, "(events) uses postgres but shares no network"},
		{"default network", func(c *composeFile) { c.Services["loki"].Networks = nil }, "loki: on compose's default network"},
		{"a way out", func(c *composeFile) { c.Networks["auth-backend"].Internal = false }, "network auth-backend is not internal"},
		{"no name for Consul", func(c *composeFile) { delete(c.Services["events"].Environment, "EVENTPOST_ADVERTISE_ADDR") }, "set EVENTPOST_ADVERTISE_ADDR to events"},
		{"no keygen", func(c *composeFile) { delete(c.Services, "keygen") }, "no service runs `keygen <dir>`"},
		{"one volume for every key", func(c *composeFile) { c.Services["keygen"].Volumes = []string{"keys:/keys"} }, "no volume of its own at /keys/gateway"},
		{"another's private key", func(c *composeFile) {
			c.Services["events"].Volumes = append(c.Services["events"].Volumes, "keys-gateway:/keys/gateway:ro")
		}, "the private key of gateway"},
		{"a key mounted writable", func(c *composeFile) { c.Services[gateway].Volumes = []string{"keys-gateway:/keys/gateway"} }, "writable"},
		{"the wrong key", func(c *composeFile) {
			c.Services[gateway].Environment["EVENTPOST_SERVICE_KEY_FILE"] = "/keys/gateway/other.key"
		}, "not /keys/gateway/service.key"},
		{"no caller keys", func(c *composeFile) { delete(c.Services["auth"].Environment, "EVENTPOST_CALLER_KEYS_FILE") }, "auth: does not set EVENTPOST_CALLER_KEYS_FILE"},
		{"keys nobody reads", func(c *composeFile) { c.Services["mailer"].Volumes = []string{"keys-public:/keys/public:ro"} }, "no service calls mailer"},
		{"no wait for the keys", func(c *composeFile) { delete(c.Services[gateway].DependsOn, "keygen") }, "does not wait for keygen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loadCompose(t)
			tc.change(c)
			expectProblem(t, check(c), tc.want)
		})
	}
}

func TestChecksCatchComposeToolsFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(tools *composeFile)
		want   string
	}{
		{"on every address", func(tools *composeFile) { tools.Services["mailpit"].Ports = []string{"8025:8025"} }, "publish on 127.0.0.1 only"},
		{"a UI left out", func(tools *composeFile) { delete(tools.Services, "jaeger") }, "does not publish jaeger's UI"},
		{"an EventPost service", func(tools *composeFile) {
			tools.Services["auth"] = &composeService{Ports: []string{"127.0.0.1:8081:8080"}}
		}, "changes auth, an EventPost container"},
		{"the tools network on a service", func(tools *composeFile) {
			tools.Services["events"] = &composeService{Networks: composeNetworks{"tools"}}
		}, "with docker-compose.tools.yml: compose service events (events) shares network tools with"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tools := loadComposeTools(t)
			tc.change(tools)
			expectProblem(t, checkComposeTools(loadCompose(t), tools), tc.want)
		})
	}
}

func TestChecksCatchImageMountPointFaults(t *testing.T) {
	good := readFile(t, "Dockerfile")
	for _, tc := range []struct{ name, old, new, want string }{
		{"no mount points", "COPY --from=build --chown=65532:65532 /out/keys /keys", "", "no directory /keys/gateway made in a build stage"},
		{"owned by root", "COPY --from=build --chown=65532:65532 /out/keys /keys", "COPY --from=build --chown=0:0 /out/keys /keys", "not to the image's user"},
		{"private key directory open", "install -d -m 0700 /out/keys/gateway", "install -d -m 0755 /out/keys/gateway", "holds a private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("Dockerfile has no %q to change", tc.old)
			}
			expectProblem(t, checkImageMountPoints(strings.Replace(good, tc.old, tc.new, 1), loadCompose(t)), tc.want)
		})
	}
}

func TestChecksCatchNetworkPolicyFaults(t *testing.T) {
	policy := func(m *manifests, name string) *networkPolicy {
		for _, p := range m.policies {
			if p.Metadata.Name == name {
				return p
			}
		}
		t.Fatalf("no NetworkPolicy %s", name)
		return nil
	}
	drop := func(m *manifests, name string) {
		policy(m, name)
		m.policies = slices.DeleteFunc(m.policies, func(p *networkPolicy) bool { return p.Metadata.Name == name })
	}
	deployment := func(m *manifests, name string) *deployment {
		i := slices.IndexFunc(m.deployments, func(d *deployment) bool { return d.Metadata.Name == name })
		if i < 0 {
			t.Fatalf("no Deployment %s", name)
		}
		return m.deployments[i]
	}
	for _, tc := range []struct {
		name   string
		change func(m *manifests)
		want   string
	}{
		{"no default deny", func(m *manifests) { drop(m, "default-deny") }, "no default-deny NetworkPolicy"},
		{"auth open to the namespace", func(m *manifests) {
			policy(m, "auth-ingress").Spec.Ingress[0].From = []policyPeer{{PodSelector: &labelSelector{}}}
		}, "from events into auth's HTTP port (8080) pass"},
		{"events calls notifications", func(m *manifests) {
			p := policy(m, "gateway-egress")
			p.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] = "events"
		}, "out of events to notifications's HTTP port (8080) pass"},
		{"notifications cut off from events", func(m *manifests) { drop(m, "notifications-egress") }, "out of notifications to events's HTTP port (8080) are refused"},
		{"gateway closed", func(m *manifests) { drop(m, "gateway-ingress") }, "cannot reach the gateway's HTTP port"},
		{"mailer open", func(m *manifests) {
			p := policy(m, "gateway-ingress")
			p.Spec.PodSelector = labelSelector{}
		}, "a client outside the cluster reaches port 8080 of mailer"},
		{"metrics on all ports", func(m *manifests) { policy(m, "allow-metrics-scraping").Spec.Ingress[0].Ports = nil }, "Prometheus in namespace monitoring reaches port 1 of auth"},
		{"scraping on the HTTP port", func(m *manifests) {
			policy(m, "allow-metrics-scraping").Spec.Ingress[0].Ports = []policyPort{{Port: "http"}}
		}, "cannot reach events's /metrics port (9090"},
		{"monitoring reaches the API", func(m *manifests) {
			r := &policy(m, "allow-metrics-scraping").Spec.Ingress[0]
			r.Ports = append(slices.Clone(r.Ports), policyPort{Port: "http"})
		}, "Prometheus in namespace monitoring reaches port 8080 of auth"},
		{"metrics back on the HTTP port", func(m *manifests) {
			deployment(m, "events").Spec.Template.Metadata.Annotations["prometheus.io/port"] = "http"
		}, "Deployment events: /metrics is on the HTTP port (8080)"},
		{"no DNS", func(m *manifests) { drop(m, "allow-dns") }, "cannot reach the cluster DNS"},
		{"gateway to the database", func(m *manifests) {
			e := &policy(m, "egress-postgresql").Spec.PodSelector.MatchExpressions[0]
			e.Values = append(e.Values, gateway)
		}, "gateway may connect out to port 5432"},
		{"init Job without the database", func(m *manifests) {
			e := &policy(m, "egress-postgresql").Spec.PodSelector.MatchExpressions[0]
			e.Values = slices.DeleteFunc(slices.Clone(e.Values), func(v string) bool { return v == "postgres-init" })
		}, "Job postgres-init cannot connect out to port 5432"},
		{"SMTP for everyone", func(m *manifests) { policy(m, "egress-smtp").Spec.PodSelector = labelSelector{} }, "auth may connect out to port 587"},
		{"no /metrics port", func(m *manifests) {
			delete(deployment(m, "auth").Spec.Template.Metadata.Annotations, "prometheus.io/port")
		}, "where /metrics is served is not known"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadManifests(t)
			tc.change(m)
			expectProblem(t, checkNetworkPolicies(m), tc.want)
		})
	}
}

func TestChecksCatchKubernetesKeyFaults(t *testing.T) {
	pod := func(m *manifests, name string) *podTemplate {
		i := slices.IndexFunc(m.deployments, func(d *deployment) bool { return d.Metadata.Name == name })
		if i < 0 {
			t.Fatalf("no Deployment %s", name)
		}
		return &m.deployments[i].Spec.Template
	}
	setEnv := func(c *container, name, value string) {
		c.Env = slices.DeleteFunc(c.Env, func(e envVar) bool { return e.Name == name })
		if value != "" {
			c.Env = append(c.Env, envVar{Name: name, Value: value})
		}
	}
	for _, tc := range []struct {
		name   string
		change func(m *manifests)
		want   string
	}{
		{"every key in the gateway", func(m *manifests) { pod(m, gateway).Spec.Volumes[0].Secret.Items = nil }, "notifications.key at /keys/gateway/notifications.key: another service's private key"},
		{"readable by others", func(m *manifests) { mode := 0o644; pod(m, "auth").Spec.Volumes[0].Secret.DefaultMode = &mode }, "open to other users"},
		{"no fsGroup", func(m *manifests) { pod(m, "events").Spec.SecurityContext.FSGroup = nil }, "no fsGroup"},
		{"writable mount", func(m *manifests) { pod(m, "notifications").Spec.Containers[0].VolumeMounts[0].ReadOnly = false }, "is not mounted readOnly"},
		{"a file not mounted", func(m *manifests) {
			setEnv(pod(m, gateway).Spec.Containers[0], "EVENTPOST_SERVICE_KEY_FILE", "/keys/gateway/gateway.key")
		}, "which no Secret volume mounts"},
		{"no caller keys", func(m *manifests) { setEnv(pod(m, "events").Spec.Containers[0], "EVENTPOST_CALLER_KEYS_FILE", "") }, "events does not set EVENTPOST_CALLER_KEYS_FILE"},
		{"a key the mailer does not need", func(m *manifests) {
			setEnv(pod(m, "mailer").Spec.Containers[0], "EVENTPOST_SERVICE_KEY_FILE", "/keys/mailer/service.key")
		}, "sets EVENTPOST_SERVICE_KEY_FILE, which mailer does not need"},
		{"no key in the Secret", func(m *manifests) { delete(m.secrets[serviceKeysSecret].StringData, "notifications.key") }, "no key notifications.key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadManifests(t)
			tc.change(m)
			expectProblem(t, checkK8sKeys(m), tc.want)
		})
	}
}
