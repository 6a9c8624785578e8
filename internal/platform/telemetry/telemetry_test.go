package telemetry_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/logging/logtest"
	"github.com/eventpost/eventpost/internal/platform/metrics"
	"github.com/eventpost/eventpost/internal/platform/telemetry"
	"github.com/eventpost/eventpost/internal/platform/telemetry/otlptest"
)

// A client's trace: its trace ID and the ID of its span that made the request.
const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID  = "00f067aa0ba902b7"
	traceparent   = "00-" + clientTraceID + "-" + clientSpanID + "-01"
)

// env returns a getenv over vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// setup runs telemetry.Setup for the process of service with vars as its environment and
// flushes and stops it when t ends (or when the returned function is called, once).
func setup(t *testing.T, service string, vars map[string]string) (flush func()) {
	t.Helper()
	shutdown, err := telemetry.Setup(context.Background(), service, "test-1", env(vars))
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	var once sync.Once
	flush = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
	t.Cleanup(flush)
	return flush
}

// logLines decodes the JSON lines of buf.
func logLines(t *testing.T, buf *logtest.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		name             string
		vars             map[string]string
		wantTraces, logs string
	}{
		{"nothing set: no export", nil, "", ""},
		{"base endpoint", map[string]string{telemetry.EnvEndpoint: "http://collector:4318/"},
			"http://collector:4318/v1/traces", "http://collector:4318/v1/logs"},
		{"signal endpoints win", map[string]string{
			telemetry.EnvEndpoint:       "http://collector:4318",
			telemetry.EnvTracesEndpoint: "http://traces:4318/custom",
			telemetry.EnvLogsEndpoint:   "http://logs:4318/other",
		}, "http://traces:4318/custom", "http://logs:4318/other"},
		{"an exporter turned off", map[string]string{
			telemetry.EnvEndpoint: "http://collector:4318", telemetry.EnvLogsExporter: "none",
		}, "http://collector:4318/v1/traces", ""},
		{"only logs", map[string]string{telemetry.EnvLogsEndpoint: "http://logs:4318/v1/logs"},
			"", "http://logs:4318/v1/logs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := []string{telemetry.TracesEndpoint(env(tt.vars)), telemetry.LogsEndpoint(env(tt.vars))}
			if diff := cmp.Diff([]string{tt.wantTraces, tt.logs}, got); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServiceName(t *testing.T) {
	for in, want := range map[string]string{"": "eventpost", "gateway": "eventpost-gateway", "mailer": "eventpost-mailer"} {
		if got := telemetry.ServiceName(in); got != want {
			t.Errorf("ServiceName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSetupExportsSpansAndLogs: with an endpoint, spans and log records reach the receiver,
// named after the process's service and instance, the records naming their span.
func TestSetupExportsSpansAndLogs(t *testing.T) {
	rcv := otlptest.Start(t)
	vars := map[string]string{telemetry.EnvEndpoint: rcv.URL}
	flush := setup(t, "events", vars)
	var out logtest.Buffer
	log := logging.New(&out, slog.LevelInfo, telemetry.LogHandler(env(vars))).With("service", "events", "instance", "test-1")

	ctx, span := otel.Tracer("test").Start(context.Background(), "work")
	sc := span.SpanContext()
	log.InfoContext(ctx, "inside the span", "n", 1)
	log.DebugContext(ctx, "below the level: neither printed nor exported")
	span.End()
	log.Info("outside any span")
	flush()

	spans := rcv.Spans()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1: %+v", len(spans), spans)
	}
	got := spans[0]
	if got.Name != "work" || got.TraceID != sc.TraceID().String() || got.SpanID != sc.SpanID().String() ||
		got.Service != "eventpost-events" {
		t.Errorf("span = %+v, want work %s/%s of eventpost-events", got, sc.TraceID(), sc.SpanID())
	}

	type rec struct{ Body, TraceID, SpanID, Service, Attr string }
	var recs []rec
	for _, l := range rcv.Logs() {
		recs = append(recs, rec{l.Body, l.TraceID, l.SpanID, l.Service, l.Attributes["service"] + "/" + l.Attributes["instance"]})
	}
	want := []rec{
		{"inside the span", sc.TraceID().String(), sc.SpanID().String(), "eventpost-events", "events/test-1"},
		{"outside any span", "", "", "eventpost-events", "events/test-1"},
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("exported log records (-want +got):\n%s", diff)
	}

	lines := logLines(t, &out)
	if len(lines) != 2 {
		t.Fatalf("got %d stdout lines, want 2:\n%s", len(lines), out.String())
	}
	if lines[0]["trace_id"] != sc.TraceID().String() || lines[0]["span_id"] != sc.SpanID().String() {
		t.Errorf("line in the span = %v, want trace_id %s span_id %s", lines[0], sc.TraceID(), sc.SpanID())
	}
	if _, ok := lines[1]["trace_id"]; ok {
		t.Errorf("line outside any span names a trace: %v", lines[1])
	}
	for _, l := range lines {
		for _, k := range []string{"time", "level", "msg", "service", "instance"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %v lacks %q", l, k)
			}
		}
	}
}

// TestSetupWithoutEndpoint: spans still get valid IDs (so that logs and traceparent headers
// carry them), but nothing is exported and logs go to stdout only.
func TestSetupWithoutEndpoint(t *testing.T) {
	rcv := otlptest.Start(t)
	flush := setup(t, "", nil)
	if h := telemetry.LogHandler(env(nil)); h != nil {
		t.Errorf("LogHandler without an endpoint = %T, want nil", h)
	}
	ctx, span := otel.Tracer("test").Start(context.Background(), "work")
	if !span.SpanContext().IsValid() {
		t.Errorf("span context %v is not valid", span.SpanContext())
	}
	var out logtest.Buffer
	logging.New(&out, slog.LevelInfo).InfoContext(ctx, "hello")
	span.End()
	flush()
	if lines := logLines(t, &out); len(lines) != 1 || lines[0]["trace_id"] != span.SpanContext().TraceID().String() {
		t.Errorf("log lines %v, want one naming trace %s", lines, span.SpanContext().TraceID())
	}
	if n := len(rcv.Spans()) + len(rcv.Logs()); n != 0 {
		t.Errorf("the receiver got %d items, want none", n)
	}
}

// TestMiddlewareContinuesTheCallersTrace: a request's traceparent is extracted; the handler
// runs in a server span named after its route, child of the caller's span; its log lines and
// the requests it makes carry that span.
func TestMiddlewareContinuesTheCallersTrace(t *testing.T) {
	rcv := otlptest.Start(t)
	flush := setup(t, "events", map[string]string{telemetry.EnvEndpoint: rcv.URL})
	var out logtest.Buffer
	log := logging.New(&out, slog.LevelInfo)

	var handlerSpan trace.SpanContext
	outgoing := http.Header{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		handlerSpan = trace.SpanContextFromContext(r.Context())
		log.InfoContext(r.Context(), "handling")
		httpx.InjectTrace(r.Context(), outgoing)
		w.WriteHeader(http.StatusNoContent)
	})
	h := httpx.Middleware(mux, log, metrics.NewHTTP(prometheus.NewRegistry()))

	tests := []struct {
		name        string
		traceparent string
		path        string
		wantName    string
	}{
		{"with the caller's traceparent", traceparent, "/things/42", "GET /things/{id}"},
		{"without one: a new trace", "", "/things/7", "GET /things/{id}"},
		{"a malformed one: a new trace", "00-zz-yy-01", "/things/8", "GET /things/{id}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handlerSpan = trace.SpanContext{}
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.traceparent != "" {
				req.Header.Set("Traceparent", tt.traceparent)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if !handlerSpan.IsValid() {
				t.Fatalf("the handler's context carries no span")
			}
			if tt.traceparent == traceparent && handlerSpan.TraceID().String() != clientTraceID {
				t.Errorf("handler's trace %s, want the caller's %s", handlerSpan.TraceID(), clientTraceID)
			}
			if tt.traceparent != traceparent && handlerSpan.TraceID().String() == clientTraceID {
				t.Errorf("handler continues a trace it was not given")
			}
			wantOut := "00-" + handlerSpan.TraceID().String() + "-" + handlerSpan.SpanID().String() + "-01"
			if got := outgoing.Get("Traceparent"); got != wantOut {
				t.Errorf("outgoing traceparent %q, want %q", got, wantOut)
			}
		})
	}
	flush()

	spans := rcv.Spans()
	if len(spans) != len(tests) {
		t.Fatalf("got %d spans, want %d:\n%s", len(spans), len(tests), otlptest.FormatTrace(spans))
	}
	first := spans[0]
	if first.Name != "GET /things/{id}" || first.Kind != "server" || first.TraceID != clientTraceID ||
		first.ParentSpanID != clientSpanID || first.Attributes["http.route"] != "/things/{id}" ||
		first.Attributes["http.response.status_code"] != "204" {
		t.Errorf("server span = %+v", first)
	}
	for _, s := range spans[1:] {
		if s.ParentSpanID != "" {
			t.Errorf("span %s of a request without a valid traceparent has parent %s", s.Name, s.ParentSpanID)
		}
	}

	// Every log line of a request names its trace and its request ID.
	for _, l := range logLines(t, &out) {
		if l["trace_id"] == nil || l["span_id"] == nil || l["request_id"] == nil {
			t.Errorf("log line %v lacks trace_id, span_id or request_id", l)
		}
	}
	if n := strings.Count(out.String(), `"trace_id":"`+clientTraceID+`"`); n != 2 {
		t.Errorf("%d log lines name the caller's trace, want 2 (handling, request):\n%s", n, out.String())
	}
}

// TestMiddlewareDoesNotTraceProbes: health checks and scrapes start no span, but pass a trace
// on.
func TestMiddlewareDoesNotTraceProbes(t *testing.T) {
	rcv := otlptest.Start(t)
	flush := setup(t, "events", map[string]string{telemetry.EnvEndpoint: rcv.URL})
	mux := http.NewServeMux()
	h := httpx.Wrap(mux, httpx.Options{Log: logging.Discard(), Registry: prometheus.NewRegistry()})
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Traceparent", traceparent)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status %d", path, rec.Code)
		}
	}
	flush()
	if spans := rcv.Spans(); len(spans) != 0 {
		t.Errorf("probes made spans:\n%s", otlptest.FormatTrace(spans))
	}
}
