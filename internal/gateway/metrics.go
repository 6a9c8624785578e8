package gateway

import "github.com/prometheus/client_golang/prometheus"

// gatewayMetrics are the gateway's own metrics, beside the request metrics of httpx.
type gatewayMetrics struct {
	upstreamErrors *prometheus.CounterVec
	retries        *prometheus.CounterVec
	rateLimited    prometheus.Counter
	tokenFailures  *prometheus.CounterVec
	jwksFetches    *prometheus.CounterVec
}

// newMetrics registers the gateway's metrics with reg.
func newMetrics(reg prometheus.Registerer) *gatewayMetrics {
	m := &gatewayMetrics{
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_errors_total",
			Help: "Requests the gateway could not forward, by service and reason (no_instance, unreachable, timeout).",
		}, []string{"service", "reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_retries_total",
			Help: "Idempotent requests sent again to another instance after one failed before answering, by service.",
		}, []string{"service"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_rate_limited_total",
			Help: "Requests refused with 429 because their client went over its rate.",
		}),
		tokenFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_token_failures_total",
			Help: "Access tokens refused, by reason.",
		}, []string{"reason"}),
		jwksFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_jwks_fetches_total",
			Help: "Fetches of the auth service's JWK set, by result.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.upstreamErrors, m.retries, m.rateLimited, m.tokenFailures, m.jwksFetches)
	return m
}
