package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/problem"
)

// PathPrefix starts the path of each service's registry on a metrics listener of the
// all-in-one process: /metrics/<service>.
const PathPrefix = "/metrics/"

// ListenerHandler is the handler of a metrics listener, the one EVENTPOST_METRICS_ADDR
// names: it serves process at GET /metrics and, in the all-in-one process, each registry of
// services at GET /metrics/<name>, all in the Prometheus text format. Every other path is
// answered 404, and every other method on those paths 405, as problem+json. It serves
// nothing else: the probes (/healthz, /readyz) stay on the main listener.
//
// Each registry keeps a path of its own rather than being merged into one answer: the
// series of a service are then the same, labels included, whether it runs alone (`serve`)
// or beside the others (all-in-one), and two registries never clash over a series.
func ListenerHandler(process *prometheus.Registry, services map[string]*prometheus.Registry) http.Handler {
	handlers := map[string]http.Handler{"/metrics": Handler(process)}
	for name, reg := range services {
		handlers[PathPrefix+name] = Handler(reg)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h, ok := handlers[r.URL.Path]
		switch {
		case !ok:
			problem.WriteError(w, r, problem.ErrNotFound)
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			problem.WriteError(w, r, problem.New(http.StatusMethodNotAllowed, "method not allowed; allowed: GET, HEAD"))
		default:
			h.ServeHTTP(w, r)
		}
	})
}
