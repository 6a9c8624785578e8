package httpx

import (
	"net/http"
	"path"

	"github.com/eventpost/eventpost/internal/platform/problem"
)

// errPathNotCanonical answers a path with dot segments or empty segments.
var errPathNotCanonical = problem.New(http.StatusNotFound,
	`the path holds "." or ".." segments or empty ones; no resource has such a path`)

// canonicalPaths answers 404 problem+json to a request whose path is not in canonical form
// ("/api/v1/events/../x", "/api//v1", "/api/v1/./events"), which a ServeMux would answer
// with a redirect to the cleaned path and an HTML body; only a path that ui reports, both as
// sent and cleaned, goes on to next as it is (a web UI may redirect). A client never needs
// such a path: RFC 3986 §5.2.4 has it remove dot segments before sending, and the API has no
// resource whose path holds an empty segment.
func canonicalPaths(next http.Handler, ui func(path string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if r.Method != http.MethodConnect && r.RequestURI != "*" {
			if clean := cleanPath(p); clean != p && (ui == nil || !ui(p) || !ui(clean)) {
				problem.WriteError(w, r, errPathNotCanonical)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath returns the canonical form of the URL path p, as a ServeMux computes it before
// matching: rooted, dot and empty segments resolved, a trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	clean := path.Clean(p)
	if p[len(p)-1] == '/' && clean != "/" {
		clean += "/"
	}
	return clean
}
