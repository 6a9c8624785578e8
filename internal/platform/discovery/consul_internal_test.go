package discovery

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"
)

func TestInstanceURLs(t *testing.T) {
	entry := func(node, addr string, port int) *api.ServiceEntry {
		return &api.ServiceEntry{Node: &api.Node{Address: node}, Service: &api.AgentService{Address: addr, Port: port}}
	}
	tests := []struct {
		name    string
		entries []*api.ServiceEntry
		want    []string
	}{
		{"none", nil, []string{}},
		{"the service's address, sorted", []*api.ServiceEntry{
			entry("10.0.0.1", "127.0.0.1", 8093), entry("10.0.0.1", "127.0.0.1", 8083),
		}, []string{"http://127.0.0.1:8083", "http://127.0.0.1:8093"}},
		{"the node's address when the service has none", []*api.ServiceEntry{entry("10.0.0.7", "", 80)},
			[]string{"http://10.0.0.7:80"}},
		{"IPv6 in brackets", []*api.ServiceEntry{entry("", "::1", 8082)}, []string{"http://[::1]:8082"}},
		{"duplicates once", []*api.ServiceEntry{entry("", "h", 1), entry("", "h", 1)}, []string{"http://h:1"}},
		{"no port or no address: skipped", []*api.ServiceEntry{
			entry("", "h", 0), entry("", "", 5), {Service: nil},
		}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, instanceURLs(tt.entries)); diff != "" {
				t.Errorf("instanceURLs (-want +got):\n%s", diff)
			}
		})
	}
}
