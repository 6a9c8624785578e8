// Package telemetry sets up OpenTelemetry for an EventPost process: a tracer provider whose
// spans carry W3C trace context across HTTP calls and broker messages, the W3C TraceContext
// (and Baggage) propagator, and, when an OTLP endpoint is configured, the export of traces
// and log records over OTLP/HTTP. It is the only place that sets OpenTelemetry's global
// provider and propagator; the rest of the code starts spans on them (otel.Tracer,
// otel.GetTextMapPropagator), which do nothing until Setup has run.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/eventpost/eventpost/internal/platform/logging"
)

// The environment variables Setup reads itself. The OpenTelemetry SDK reads the other
// standard ones from the process environment: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_* and OTEL_BLRP_* (batching), and
// OTEL_EXPORTER_OTLP_[TRACES_|LOGS_]{HEADERS,TIMEOUT,COMPRESSION,CERTIFICATE}.
const (
	// EnvEndpoint is the base URL of an OTLP/HTTP receiver (such as an OpenTelemetry
	// Collector at http://localhost:4318): traces go to <url>/v1/traces, logs to <url>/v1/logs.
	EnvEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT"
	// EnvTracesEndpoint is the full URL traces are exported to; it overrides EnvEndpoint.
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	// EnvLogsEndpoint is the full URL log records are exported to; it overrides EnvEndpoint.
	EnvLogsEndpoint = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
	// EnvTracesExporter set to "none" turns the export of traces off.
	EnvTracesExporter = "OTEL_TRACES_EXPORTER"
	// EnvLogsExporter set to "none" turns the export of log records off.
	EnvLogsExporter = "OTEL_LOGS_EXPORTER"
)

// scope is the instrumentation scope of the log records exported from slog.
const scope = "github.com/eventpost/eventpost"

// ServiceName returns the service.name resource attribute of service's processes:
// "eventpost-<service>", or "eventpost" for the all-in-one process (service "").
func ServiceName(service string) string {
	if service == "" {
		return "eventpost"
	}
	return "eventpost-" + service
}

// TracesEndpoint returns the URL getenv says traces are exported to, or "" when they are not
// exported.
func TracesEndpoint(getenv func(string) string) string {
	return endpoint(getenv, EnvTracesExporter, EnvTracesEndpoint, "/v1/traces")
}

// LogsEndpoint returns the URL getenv says log records are exported to, or "" when they are
// not exported.
func LogsEndpoint(getenv func(string) string) string {
	return endpoint(getenv, EnvLogsExporter, EnvLogsEndpoint, "/v1/logs")
}

func endpoint(getenv func(string) string, exporter, specific, path string) string {
	if strings.TrimSpace(getenv(exporter)) == "none" {
		return ""
	}
	if v := strings.TrimSpace(getenv(specific)); v != "" {
		return v
	}
	if v := strings.TrimSpace(getenv(EnvEndpoint)); v != "" {
		return strings.TrimSuffix(v, "/") + path
	}
	return ""
}

// Setup installs the process's global tracer provider and propagator, for service ("" for the
// all-in-one process) and its instance ID, and returns the function that flushes and stops
// them, to be called once the process's work has ended. Every span gets a valid trace and span
// ID, so that log lines name their trace and traceparent headers and message fields carry it
// on; spans (and log records, through LogHandler) are exported over OTLP/HTTP only when getenv
// names an endpoint (EnvEndpoint, EnvTracesEndpoint, EnvLogsEndpoint). Export errors are
// logged as JSON on standard error, at most one line every 30 seconds. Call it once per
// process.
func Setup(ctx context.Context, service, instance string, getenv func(string) string) (shutdown func(context.Context) error, err error) {
	errLog := logging.New(os.Stderr, slog.LevelWarn).With(
		"service", or(service, "all-in-one"), "instance", instance, "component", "opentelemetry")
	otel.SetLogger(logr.FromSlogHandler(errLog.Handler()))
	otel.SetErrorHandler(newErrorHandler(errLog, 30*time.Second))

	attrs := []resource.Option{
		resource.WithAttributes(semconv.ServiceName(ServiceName(service))),
		resource.WithTelemetrySDK(),
		// Last, so that OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win, as the
		// specification says.
		resource.WithFromEnv(),
	}
	if instance != "" {
		attrs = append([]resource.Option{resource.WithAttributes(semconv.ServiceInstanceID(instance))}, attrs...)
	}
	res, err := resource.New(ctx, attrs...)
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}

	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if url := TracesEndpoint(getenv); url != "" {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(url))
		if err != nil {
			return nil, fmt.Errorf("telemetry: traces exporter for %s: %w", url, err)
		}
		topts = append(topts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(topts...)
	shutdowns := []func(context.Context) error{tp.Shutdown}

	if url := LogsEndpoint(getenv); url != "" {
		exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(url))
		if err != nil {
			_ = tp.Shutdown(ctx)
			return nil, fmt.Errorf("telemetry: logs exporter for %s: %w", url, err)
		}
		lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
		otel.SetLoggerProvider(lp)
		shutdowns = append(shutdowns, lp.Shutdown)
	}

	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return func(ctx context.Context) error {
		var errs []error
		for _, f := range shutdowns {
			errs = append(errs, f(ctx))
		}
		return errors.Join(errs...)
	}, nil
}

// LogHandler returns the slog handler that exports log records over OTLP through the logger
// provider that Setup installed, or nil when getenv names no logs endpoint: give it to
// logging.New after Setup. The records keep their attributes (service, instance, request_id…)
// and name their trace and span.
func LogHandler(getenv func(string) string) slog.Handler {
	if LogsEndpoint(getenv) == "" {
		return nil
	}
	return otelslog.NewHandler(scope, otelslog.WithLoggerProvider(otel.GetLoggerProvider()))
}

// errorHandler logs OpenTelemetry's errors (a failed export, mostly), at most one line per
// interval, saying how many were left out meanwhile.
type errorHandler struct {
	log      *slog.Logger
	interval time.Duration

	mu      sync.Mutex
	last    time.Time
	dropped int
}

func newErrorHandler(log *slog.Logger, interval time.Duration) *errorHandler {
	return &errorHandler{log: log, interval: interval}
}

// Handle implements otel.ErrorHandler.
func (h *errorHandler) Handle(err error) {
	h.mu.Lock()
	now := time.Now()
	if !h.last.IsZero() && now.Sub(h.last) < h.interval {
		h.dropped++
		h.mu.Unlock()
		return
	}
	dropped := h.dropped
	h.last, h.dropped = now, 0
	h.mu.Unlock()
	h.log.Warn("opentelemetry error", "err", err, "errors_left_out", dropped)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
