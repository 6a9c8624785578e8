package rabbitmq

import "github.com/prometheus/client_golang/prometheus"

// metrics are the broker's Prometheus metrics.
type metrics struct {
	published       *prometheus.CounterVec
	publishFailures prometheus.Counter
	acked           *prometheus.CounterVec
	retried         *prometheus.CounterVec
	deadLetters     *prometheus.CounterVec
	reconnects      prometheus.Counter
	connected       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_published_total", Help: "Messages published and confirmed by RabbitMQ, by type.",
		}, []string{"type"}),
		publishFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "broker_publish_failures_total", Help: "Publish calls that failed (not connected, refused, unroutable, connection lost, timeout).",
		}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_acked_total", Help: "Messages handled and acknowledged, by queue.",
		}, []string{"queue"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_retried_total", Help: "Messages whose handler failed, moved to a retry queue, by queue.",
		}, []string{"queue"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_dead_letters_total", Help: "Messages a consumer rejected for good or that ran out of attempts, moved to the dead-letter queue, by queue.",
		}, []string{"queue"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "broker_reconnects_total", Help: "Connections to RabbitMQ re-established after a loss.",
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "broker_connected", Help: "1 while connected to RabbitMQ with the topology declared, else 0.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.published, m.publishFailures, m.acked, m.retried, m.deadLetters, m.reconnects, m.connected)
	}
	return m
}
