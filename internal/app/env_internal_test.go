package app

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/discovery"
)

// TestReadmeListsEnv: README.md's generated list is `eventpost env`'s output, and every
// EVENTPOST_ variable its configuration tables name is one the code reads (or the
// launcher's own, or the tests').
func TestReadmeListsEnv(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	const begin, end = "<!-- eventpost env -->\n", "<!-- /eventpost env -->"
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q … %q block", begin, end)
	}
	if got := readme[i+len(begin) : j]; got != EnvTable() {
		t.Errorf("README.md's list of variables differs from the code's; replace it with the output of `go run ./cmd/eventpost env`:\n%s", EnvTable())
	}
	for _, line := range strings.Split(readme, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		for _, name := range regexp.MustCompile(`EVENTPOST_[A-Z0-9_]*[A-Z0-9]`).FindAllString(line, -1) {
			if !slices.Contains(KnownEnv, name) && !slices.Contains(LauncherEnv, name) {
				t.Errorf("README.md lists %s, which the code does not read", name)
			}
		}
	}
}

// TestReadConfigServiceSettings: each service's settings come from
// EVENTPOST_<SERVICE>_<SETTING>, default the service's defaults, and a bad value is refused
// naming its variable.
func TestReadConfigServiceSettings(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	def, err := ReadConfig(env(nil), "")
	if err != nil {
		t.Fatal(err)
	}
	if def.Auth.AccessTokenTTL != 15*time.Minute || def.Gateway.UpstreamAttempts != 3 || def.Mailer.MaxAttempts != 10 || def.Notifications.ClaimBatch != 100 {
		t.Errorf("defaults: %+v %+v %+v %+v", def.Auth, def.Gateway, def.Mailer, def.Notifications)
	}
	if def.Events.DeletedRetention != 720*time.Hour {
		t.Errorf("default events retention: %s", def.Events.DeletedRetention)
	}
	cfg, err := ReadConfig(env(map[string]string{
		"EVENTPOST_AUTH_ACCESS_TOKEN_TTL": "5m", "EVENTPOST_AUTH_REFRESH_TOKEN_TTL": "24h",
		"EVENTPOST_GATEWAY_UPSTREAM_ATTEMPTS": "2", "EVENTPOST_GATEWAY_TRUST_FORWARDED_FOR": "true",
		"EVENTPOST_MAILER_SEND_TIMEOUT": "3s", "EVENTPOST_NOTIFICATIONS_POLL_INTERVAL": "250ms",
		"EVENTPOST_EVENTS_DELETED_RETENTION": "48h",
	}), discovery.Auth)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.AccessTokenTTL != 5*time.Minute || cfg.Auth.RefreshTokenTTL != 24*time.Hour || cfg.Gateway.UpstreamAttempts != 2 ||
		!cfg.Gateway.TrustForwardedFor || cfg.Mailer.SendTimeout != 3*time.Second || cfg.Notifications.PollInterval != 250*time.Millisecond {
		t.Errorf("read: %+v %+v %+v %+v", cfg.Auth, cfg.Gateway, cfg.Mailer, cfg.Notifications)
	}
	if cfg.Events.DeletedRetention != 48*time.Hour {
		t.Errorf("read events retention: %s", cfg.Events.DeletedRetention)
	}
	for k, v := range map[string]string{
		"EVENTPOST_AUTH_ACCESS_TOKEN_TTL": "0s", "EVENTPOST_GATEWAY_UPSTREAM_ATTEMPTS": "x",
		"EVENTPOST_MAILER_MAX_ATTEMPTS": "0", "EVENTPOST_NOTIFICATIONS_CLAIM_BATCH": "-1",
		"EVENTPOST_EVENTS_DELETED_RETENTION": "0s",
	} {
		if _, err := ReadConfig(env(map[string]string{k: v}), ""); err == nil || !strings.HasPrefix(err.Error(), k+": ") {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}

// TestReadConfigMessages: the variables of the process keep their messages.
func TestReadConfigMessages(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	for k, want := range map[string]string{
		"EVENTPOST_RATE_LIMIT":              `EVENTPOST_RATE_LIMIT: want a positive number, got "0"`,
		"EVENTPOST_RATE_BURST":              `EVENTPOST_RATE_BURST: want a positive integer, got "0"`,
		"EVENTPOST_SHUTDOWN_TIMEOUT":        `EVENTPOST_SHUTDOWN_TIMEOUT: want a duration such as 15s, got "0"`,
		"EVENTPOST_HSTS_INCLUDE_SUBDOMAINS": `EVENTPOST_HSTS_INCLUDE_SUBDOMAINS: want true or false, got "0x"`,
	} {
		v := "0"
		if k == "EVENTPOST_HSTS_INCLUDE_SUBDOMAINS" {
			v = "0x"
		}
		if _, err := ReadConfig(env(map[string]string{k: v}), ""); err == nil || err.Error() != want {
			t.Errorf("%s=%s: %v, want %s", k, v, err, want)
		}
	}
	if _, err := ReadConfig(env(map[string]string{"EVENTPOST_LOG_LEVEL": "chatty"}), ""); err == nil || !strings.HasPrefix(err.Error(), "EVENTPOST_LOG_LEVEL: ") {
		t.Errorf("EVENTPOST_LOG_LEVEL=chatty: %v", err)
	}
}

// TestLaunchBasePort: EVENTPOST_LAUNCH_BASE_PORT moves every port of the launcher by the
// same offset, so that two launchers run side by side; a bad value is refused.
func TestLaunchBasePort(t *testing.T) {
	cfg := DefaultClusterConfig()
	if cfg.GatewayAddr != ":8080" || !slices.Equal(cfg.Ports[discovery.Notifications], []int{8083, 8093}) {
		t.Fatalf("defaults: gateway %s, notifications %v; want :8080 and [8083 8093]", cfg.GatewayAddr, cfg.Ports[discovery.Notifications])
	}
	base, err := parseBasePort("9080")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetBasePort(base)
	want := map[string][]int{
		discovery.Auth: {9081}, discovery.Events: {9082}, discovery.Notifications: {9083, 9093}, discovery.Mailer: {9084, 9094},
	}
	if cfg.GatewayAddr != ":9080" || !maps.EqualFunc(cfg.Ports, want, slices.Equal) {
		t.Errorf("base 9080: gateway %s, ports %v; want :9080 and %v", cfg.GatewayAddr, cfg.Ports, want)
	}
	for _, bad := range []string{"", "x", "80", "65500", "-1"} {
		if _, err := parseBasePort(bad); err == nil {
			t.Errorf("parseBasePort(%q) accepted", bad)
		}
	}
}
