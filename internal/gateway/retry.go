package gateway

import (
	"net/http"

	"github.com/eventpost/eventpost/internal/platform/discovery"
)

// retrying wraps next, the transport of the reverse proxy, so that a request whose instance
// refused the connection (it died or is stopping; a POST too, which that instance never saw),
// or a GET or HEAD whose connection was reset or closed unanswered, is sent to another instance
// of its service, for at most Config.UpstreamAttempts attempts in all (discovery.RetryTransport).
func (g *Gateway) retrying(next http.RoundTripper) http.RoundTripper {
	return &discovery.RetryTransport{
		Next:     next,
		Balancer: g.balancer,
		Attempts: g.cfg.UpstreamAttempts,
		Target: func(r *http.Request) (discovery.Target, bool) {
			f, ok := r.Context().Value(forwardKey{}).(*forwarding)
			if !ok {
				return discovery.Target{}, false
			}
			return discovery.Target{Service: f.service, Base: f.target.String()}, true
		},
		OnRetry: func(r *http.Request, failed discovery.Target, err error, next string) {
			g.metrics.retries.WithLabelValues(failed.Service).Inc()
			g.log.WarnContext(r.Context(), "instance failed before answering; trying another",
				"upstream", failed.Service, "failed_instance", failed.Base, "next_instance", next, "err", err)
		},
	}
}
