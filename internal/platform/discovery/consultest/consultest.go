// Package consultest gives tests a Consul agent: a client of the agent at
// EVENTPOST_TEST_CONSUL_ADDR (default 127.0.0.1:8500), and service names and KV prefixes
// unique to each test, cleaned up when it ends. When no agent answers, the tests skip with a
// message — unless EVENTPOST_INTEGRATION=1, which CI sets: then they fail.
//
// A development agent for the tests: bin/consul agent -dev -client 127.0.0.1 -bind 127.0.0.1
package consultest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/eventpost/eventpost/internal/platform/integration"
)

// DefaultAddr is the agent the tests use when EVENTPOST_TEST_CONSUL_ADDR is unset.
const DefaultAddr = "127.0.0.1:8500"

// agent says where the test agent is and how to start one when it does not answer.
var agent = integration.Server{
	Name: "Consul agent", EnvVar: "EVENTPOST_TEST_CONSUL_ADDR", Default: DefaultAddr,
	Start: "start one (bin/consul agent -dev -client 127.0.0.1 -bind 127.0.0.1)",
}

// Addr returns the address of the test agent's HTTP API.
func Addr() string { return agent.Addr() }

// Client returns a client of the test agent, skipping or failing t when it does not answer.
func Client(t testing.TB) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = Addr()
	// A transport of its own, whose idle connections are closed when t ends (goleak).
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	cfg.Transport = tr
	c, err := api.NewClient(cfg)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var leader string
		leader, err = c.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx))
		if err == nil && leader == "" {
			err = errNoLeader
		}
	}
	if err != nil {
		agent.Unavailable(t, Addr(), err)
	}
	return c
}

// errNoLeader is reported by an agent whose cluster has no leader yet.
var errNoLeader = errors.New("the agent has no leader")

// unique returns a name unique to this test run: eventpost-test-<hex>.
func unique() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "eventpost-test-" + hex.EncodeToString(b[:])
}

// ServiceName returns a service name unique to t, starting with base; when t ends every
// instance of it that the agent still holds is deregistered.
func ServiceName(t testing.TB, c *api.Client, base string) string {
	t.Helper()
	name := unique() + "-" + base
	t.Cleanup(func() {
		services, err := c.Agent().ServicesWithFilter("Service == " + quote(name))
		if err != nil {
			t.Errorf("consultest: list services of %s: %v", name, err)
			return
		}
		for id := range services {
			if err := c.Agent().ServiceDeregister(id); err != nil {
				t.Errorf("consultest: deregister %s: %v", id, err)
			}
		}
	})
	return name
}

// KVPrefix returns a KV prefix unique to t, ending with a slash; when t ends every key under
// it is deleted.
func KVPrefix(t testing.TB, c *api.Client) string {
	t.Helper()
	prefix := "eventpost-test/" + unique() + "/"
	t.Cleanup(func() {
		if _, err := c.KV().DeleteTree(prefix, nil); err != nil {
			t.Errorf("consultest: delete %s: %v", prefix, err)
		}
	})
	return prefix
}

// quote quotes s as a string of Consul's filter language.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
