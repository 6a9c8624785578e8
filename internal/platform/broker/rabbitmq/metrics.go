package rabbitmq

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/metrics"
)

// brokerMetrics are the broker's Prometheus metrics.
type brokerMetrics struct {
	published       *prometheus.CounterVec
	publishFailures prometheus.Counter
	acked           *prometheus.CounterVec
	retried         *prometheus.CounterVec
	deadLetters     *prometheus.CounterVec
	reconnects      prometheus.Counter
	connected       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *brokerMetrics {
	m := &brokerMetrics{
		published: metrics.NewCounterVec("broker_published_total",
			"Messages published and confirmed by RabbitMQ, by type.", "type"),
		publishFailures: metrics.NewCounter("broker_publish_failures_total",
			"Publish calls that failed (not connected, refused, unroutable, connection lost, timeout)."),
		acked: metrics.NewCounterVec("broker_acked_total",
			"Messages handled and acknowledged, by queue.", "queue"),
		retried: metrics.NewCounterVec("broker_retried_total",
			"Messages whose handler failed, moved to a retry queue, by queue.", "queue"),
		deadLetters: metrics.NewCounterVec("broker_dead_letters_total",
			"Messages a consumer rejected for good or that ran out of attempts, moved to the dead-letter queue, by queue.", "queue"),
		reconnects: metrics.NewCounter("broker_reconnects_total",
			"Connections to RabbitMQ re-established after a loss."),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "broker_connected", Help: "1 while connected to RabbitMQ with the topology declared, else 0.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.published, m.publishFailures, m.acked, m.retried, m.deadLetters, m.reconnects, m.connected)
	}
	return m
}
