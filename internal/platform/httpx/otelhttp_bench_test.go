package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventpost/eventpost/internal/platform/metrics"
)

// The tracing layer alone, hand-written (as in Middleware) and with otelhttp.
func handTraced(next http.Handler) http.Handler {
	tracer := otel.Tracer(tracerName)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, metrics.Method(r.Method), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(metrics.Method(r.Method)), semconv.URLPath(r.URL.Path)))
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		endServerSpan(span, r, sw.status)
	})
}

func otelTraced(next http.Handler) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if route := routeOf(r.Pattern); route != "" {
			span := trace.SpanFromContext(r.Context())
			span.SetName(metrics.Method(r.Method) + " " + route)
			span.SetAttributes(semconv.HTTPRoute(route))
		}
	})
	return otelhttp.NewHandler(inner, "", otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		return metrics.Method(r.Method)
	}), otelhttp.WithFilter(func(r *http.Request) bool { return !quiet(r.URL.Path) }))
}

func BenchmarkTracing(b *testing.B) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSyncer(exp))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	b.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for name, h := range map[string]http.Handler{"hand-written": handTraced(mux), "otelhttp": otelTraced(mux)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/things/42", nil)
				req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
				h.ServeHTTP(httptest.NewRecorder(), req)
				exp.Reset()
			}
		})
	}
	// What each span carries.
	for name, h := range map[string]http.Handler{"hand-written": handTraced(mux), "otelhttp": otelTraced(mux)} {
		exp.Reset()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/things/42", nil))
		for _, s := range exp.GetSpans() {
			b.Logf("%s: span %q, %d attributes: %v", name, s.Name, len(s.Attributes), s.Attributes)
		}
	}
}
