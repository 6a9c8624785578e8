package httpx

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/eventpost/eventpost/internal/platform/problem"
)

// Mux is an http.ServeMux on which every path served by some methods answers the other
// methods 405 problem+json with an Allow header, even when a catch-all "/" pattern would
// otherwise answer them 404. A service builds its routes on one and hands Wrap its ServeMux.
// Register no pattern without a method for a path that has patterns with one: Mux registers
// that pattern itself, and a ServeMux panics on a second registration.
type Mux struct {
	*http.ServeMux

	mu      sync.RWMutex
	methods map[string][]string // path → methods of its patterns
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	return &Mux{ServeMux: http.NewServeMux(), methods: make(map[string][]string)}
}

// Handle registers h for pattern, as http.ServeMux.Handle does. A pattern with a method
// ("GET /api/v1/things/{id}") also makes its path answer 405 to the methods no pattern of
// the path names.
func (m *Mux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || strings.Contains(method, "/") {
		return
	}
	path = strings.TrimLeft(path, " \t")
	m.mu.Lock()
	defer m.mu.Unlock()
	first := len(m.methods[path]) == 0
	m.methods[path] = append(m.methods[path], method)
	if first {
		m.ServeMux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			m.mu.RLock()
			allow := AllowHeader(m.methods[path])
			m.mu.RUnlock()
			MethodNotAllowed(w, r, allow)
		})
	}
}

// HandleFunc registers f for pattern, as Handle does.
func (m *Mux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// AllowHeader returns the Allow header of a path served by methods: sorted, with HEAD when
// GET is there (a ServeMux serves HEAD with the GET handler).
func AllowHeader(methods []string) string {
	ms := slices.Clone(methods)
	if slices.Contains(ms, http.MethodGet) && !slices.Contains(ms, http.MethodHead) {
		ms = append(ms, http.MethodHead)
	}
	slices.Sort(ms)
	return strings.Join(slices.Compact(ms), ", ")
}

// MethodNotAllowed answers 405 problem+json with the Allow header allow.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	problem.WriteError(w, r, problem.New(http.StatusMethodNotAllowed, "method not allowed; allowed: "+allow))
}

// Names of the readiness checks several services share: /readyz names the dependency that
// failed by them, the same in every service.
const (
	CheckDatabase      = "database"
	CheckBroker        = "rabbitmq"
	CheckMailTransport = "mail-transport"
)

// DatabaseCheck returns the readiness check of a service's database, named CheckDatabase.
func DatabaseCheck(ping func(context.Context) error) Check {
	return Check{Name: CheckDatabase, Check: ping}
}

// BrokerCheck returns the readiness check of the message broker, named CheckBroker.
func BrokerCheck(ping func(context.Context) error) Check {
	return Check{Name: CheckBroker, Check: ping}
}
