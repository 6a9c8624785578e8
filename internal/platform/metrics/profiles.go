package metrics

import (
	"net/http"
	"net/http/pprof"
)

// ProfilePrefix starts the paths of the runtime profiles WithProfiles serves.
const ProfilePrefix = "/debug/pprof/"

// WithProfiles serves the Go runtime's profiles (net/http/pprof) under /debug/pprof/ beside
// the metrics listener's handler h, which answers every other path: a CPU profile at
// /debug/pprof/profile?seconds=N (N under 60, the listener's write timeout), an execution
// trace at /debug/pprof/trace, and heap, allocs, goroutine, mutex and block at
// /debug/pprof/<name>, all for `go tool pprof`. A profile tells whoever reads it how the
// process spends its time and memory, and a CPU profile or trace costs the process while it
// runs: they belong on the private metrics listener (EVENTPOST_METRICS_ADDR), switched on by
// EVENTPOST_PPROF, and nowhere else.
func WithProfiles(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(ProfilePrefix, pprof.Index) // and the named profiles below it
	mux.HandleFunc(ProfilePrefix+"profile", pprof.Profile)
	mux.HandleFunc(ProfilePrefix+"trace", pprof.Trace)
	mux.HandleFunc(ProfilePrefix+"symbol", pprof.Symbol)
	mux.Handle("/", h)
	return mux
}
