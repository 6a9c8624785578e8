// Package metrics gives each service its own Prometheus registry, the HTTP request metrics
// every service exports, the /metrics handler, the handler of a metrics listener of its own
// (EVENTPOST_METRICS_ADDR), and RefreshedGauge, the gauge whose value costs a query that a
// scrape never runs.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go runtime and process collectors. With
// withRuntime false (the second and later services of the all-in-one process) they are left
// out, since they describe the process, not the service.
func NewRegistry(withRuntime bool) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	if withRuntime {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return reg
}

// Handler serves reg in the Prometheus text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// HTTP counts requests and observes their latency by route, method and status.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTP registers the request metrics with reg.
func NewHTTP(reg prometheus.Registerer) *HTTP {
	m := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency, by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "status"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// Observe records one request. Every label comes from a closed set, so that no request can
// add series: route is the pattern the server matched ("unmatched" when none), method one of
// the methods HTTP defines or "OTHER", and status is the status the server answered. On a
// nil *HTTP it records nothing.
func (m *HTTP) Observe(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	s := strconv.Itoa(status)
	method = Method(method)
	m.requests.WithLabelValues(route, method, s).Inc()
	m.duration.WithLabelValues(route, method, s).Observe(d.Seconds())
}

// Method returns method as a metric label: the method itself when HTTP defines it (RFC 9110,
// and PATCH), else "OTHER". Any token is a method to Go's server, so a label taken as sent
// would let every request add a series.
func Method(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// NewCounterVec returns an unregistered counter vector named name, described by help, with
// the labels labels: the one-line form of prometheus.NewCounterVec that every service's
// metrics use.
func NewCounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// NewCounter returns an unregistered counter named name, described by help.
func NewCounter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}
