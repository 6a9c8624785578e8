package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/metrics"
)

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
		upstreamErrors: metrics.NewCounterVec("gateway_upstream_errors_total",
			"Requests the gateway could not forward, by service and reason (no_instance, unreachable, timeout).",
			"service", "reason"),
		retries: metrics.NewCounterVec("gateway_upstream_retries_total",
			"Idempotent requests sent again to another instance after one failed before answering, by service.",
			"service"),
		rateLimited: metrics.NewCounter("gateway_rate_limited_total",
			"Requests refused with 429 because their client went over its rate."),
		tokenFailures: metrics.NewCounterVec("gateway_token_failures_total",
			"Access tokens refused, by reason.", "reason"),
		jwksFetches: metrics.NewCounterVec("gateway_jwks_fetches_total",
			"Fetches of the auth service's JWK set, by result.", "result"),
	}
	reg.MustRegister(m.upstreamErrors, m.retries, m.rateLimited, m.tokenFailures, m.jwksFetches)
	return m
}
