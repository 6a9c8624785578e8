package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultRefreshInterval is how often a RefreshedGauge runs its query unless told otherwise.
const DefaultRefreshInterval = 15 * time.Second

// RefreshedGauge is a gauge whose value costs a query — a count of rows — that a scrape
// never runs: Run runs the query at start and then on a timer, and a scrape reads the last
// value it got. A full-table count per scrape costs what the table holds (a count of 1M rows
// is tens of milliseconds, more on PostgreSQL's parallel sequential scan) and lets every
// scraper, however often it scrapes, load the database.
//
// A timer rather than a counter kept in step with each change: a counters row updated in
// every transaction that changes the figure is a hot row that serializes the writers, and
// every change, retry and migration would have to keep it exact; one query every interval
// costs the database a known, small amount whatever the traffic and the number of scrapers.
// The price is a value up to one interval old, which is why the time of the last refresh is
// exposed beside it.
//
// It exports three series: name, the last value read (0 before the first refresh);
// name_refreshed_timestamp_seconds, the Unix time of the last successful refresh (0 before
// it); and name_refresh_failures_total, the refreshes that failed. A failed refresh keeps the
// last value and is logged; it is never a scrape error.
type RefreshedGauge struct {
	name      string
	read      func(context.Context) (float64, error)
	log       *slog.Logger
	value     prometheus.Gauge
	refreshed prometheus.Gauge
	failures  prometheus.Counter
}

// NewRefreshedGauge returns an unregistered gauge named name, described by help, whose value
// read returns. It is a prometheus.Collector of its three series, to register as such.
// Nothing runs read until Run or Refresh is called; failures are logged to log.
func NewRefreshedGauge(name, help string, read func(context.Context) (float64, error), log *slog.Logger) *RefreshedGauge {
	return &RefreshedGauge{
		name: name, read: read, log: log,
		value: prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help + " Refreshed on a timer, not per scrape."}),
		refreshed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: name + "_refreshed_timestamp_seconds",
			Help: "Unix time of the last successful refresh of " + name + " (0: none yet).",
		}),
		failures: NewCounter(name+"_refresh_failures_total", "Failed refreshes of "+name+"; each kept the previous value."),
	}
}

// Describe implements prometheus.Collector.
func (g *RefreshedGauge) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range g.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector: it reads the values the last refresh left, and
// runs no query.
func (g *RefreshedGauge) Collect(ch chan<- prometheus.Metric) {
	for _, c := range g.collectors() {
		c.Collect(ch)
	}
}

func (g *RefreshedGauge) collectors() []prometheus.Collector {
	return []prometheus.Collector{g.value, g.refreshed, g.failures}
}

// Run refreshes the gauge at once, then every interval (DefaultRefreshInterval when not
// positive), until ctx is done; it returns nil then. A refresh may take at most interval.
func (g *RefreshedGauge) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultRefreshInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, interval)
		_ = g.Refresh(rctx) // logged and counted by Refresh
		cancel()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Refresh runs the query once and sets the gauge to its result. On failure the gauge keeps
// its value, the failure is counted and logged, and the error returned; a refresh cut short
// because ctx was cancelled (a shutdown) is neither counted nor logged.
func (g *RefreshedGauge) Refresh(ctx context.Context) error {
	v, err := g.read(ctx)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return err
		}
		g.failures.Inc()
		g.log.ErrorContext(ctx, "refresh metric", "metric", g.name, "err", err)
		return fmt.Errorf("refresh %s: %w", g.name, err)
	}
	g.value.Set(v)
	g.refreshed.Set(float64(time.Now().UnixNano()) / 1e9)
	return nil
}
