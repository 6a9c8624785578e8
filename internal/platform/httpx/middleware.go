package httpx

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/metrics"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// Check reports whether one dependency of a service answers.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Options configures Wrap.
type Options struct {
	Log      *slog.Logger
	Registry *prometheus.Registry
	// Checks are run by /readyz.
	Checks []Check
	// Verifier authenticates every request but /healthz, /readyz and /metrics as a call from
	// a service allowed to make it (see svcauth), whatever else it carries; a request it
	// refuses is answered 401. Every service sets it; only the gateway, the public entry
	// point, leaves it nil.
	Verifier *svcauth.Verifier
	// UI reports whether a path belongs to a web UI that mux serves. A path with dot or
	// empty segments is answered 404 problem+json (see canonicalPaths) unless UI reports it,
	// as sent and cleaned; then mux answers it (a ServeMux redirects it to its clean form).
	// Nil: no path is the UI's.
	UI func(path string) bool
	// Compress, when set, wraps mux (and the path check) inside the middleware, so that the
	// access log, the request metrics and the server span see the answer as it goes out:
	// the gateway, the public entry point, sets it to the middleware of NewCompressor, and
	// compresses for every service; services leave it nil.
	Compress func(http.Handler) http.Handler
}

// Wrap returns the handler a service serves: mux with /healthz, /readyz and /metrics added,
// behind request-ID, access-log, panic-recovery and request-metric middleware. A path with
// dot or empty segments never reaches mux, which would redirect it with an HTML body: it is
// answered 404 problem+json (but for paths of o.UI). Route labels come from the pattern that
// mux matched. A host process that serves the metrics on a
// listener of its own takes /metrics off with WithoutMetrics.
func Wrap(mux *http.ServeMux, o Options) http.Handler {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", Ready(o.Checks))
	mux.Handle("GET /metrics", metrics.Handler(o.Registry))
	var h http.Handler = mux
	if o.Verifier != nil {
		h = requireCaller(mux, o.Verifier, o.Log, o.Registry)
	}
	h = canonicalPaths(h, o.UI)
	if o.Compress != nil {
		h = o.Compress(h)
	}
	return Middleware(h, o.Log, metrics.NewHTTP(o.Registry))
}

// WithoutMetrics returns h with /metrics taken out, for a process that serves its metrics
// on a listener of its own (EVENTPOST_METRICS_ADDR, metrics.ListenerHandler): a request for
// /metrics, or for a path under /metrics/, by any method, is answered 404 (problem+json,
// with a request ID and an access-log line, as Middleware gives every answer) and never
// reaches h. h is typically a handler of Wrap, which serves /metrics itself; being answered
// here, before h and its caller check, the path is closed whatever h would do with it. These
// answers are not counted in h's request metrics.
func WithoutMetrics(h http.Handler, log *slog.Logger) http.Handler {
	notFound := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem.WriteError(w, r, problem.ErrNotFound)
	}), log, nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" || strings.HasPrefix(r.URL.Path, metrics.PathPrefix) {
			notFound.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// requireCaller answers 401 to every request but the probes and scrapes that v does not
// verify as a call from an allowed service; the claims of the others are put in their
// context (see CallerFrom and ClientIP).
func requireCaller(next *http.ServeMux, v *svcauth.Verifier, log *slog.Logger, reg prometheus.Registerer) http.Handler {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "service_calls_refused_total",
		Help: "Requests refused because they did not come from a service allowed to call this one, by reason.",
	}, []string{"reason"})
	reg.MustRegister(refused)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if probe(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		c, err := v.VerifyRequest(r)
		if err != nil {
			var se *svcauth.Error
			reason := "other"
			if errors.As(err, &se) {
				reason = se.Reason
			}
			refused.WithLabelValues(reason).Inc()
			log.DebugContext(r.Context(), "refused a call", "reason", reason, "remote_addr", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="eventpost-services", error="invalid_token"`)
			problem.WriteError(w, r, problem.New(http.StatusUnauthorized, err.Error()))
			return
		}
		// The mux sets r.Pattern on the request it is given; the middleware above reads it
		// from its own request, so the route is passed back the same way.
		r2 := r.WithContext(svcauth.NewContext(r.Context(), c))
		next.ServeHTTP(w, r2)
		r.Pattern = r2.Pattern
	})
}

// Ready answers 200 when every check passes, else 503 with a JSON body naming the first
// dependency that does not answer.
func Ready(checks []Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		for _, c := range checks {
			if err := c.Check(ctx); err != nil {
				w.Header().Set("Retry-After", "5")
				WriteJSON(w, http.StatusServiceUnavailable, map[string]string{
					"status": "unavailable", "dependency": c.Name, "error": err.Error(),
				})
				return
			}
		}
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// tracerName is the instrumentation scope of the server spans.
//
// The server spans are started here rather than by otelhttp, which was measured against this
// code (commit 4f93709, BenchmarkTracing, otelhttp v0.72.0 over otel v1.47.0, the tracing layer
// alone): otelhttp cost 65 allocations and 13.1 KB per request against 38 and 9.0 KB, and
// about twice the time; it puts the client's address on every span (client.address,
// network.peer.*); it names the span after the route only when the mux sets the pattern on
// otelhttp's own copy of the request, which the request-ID layer here replaces; and its
// filter for probes also skips trace extraction, which probes must still pass on.
const tracerName = "github.com/eventpost/eventpost/internal/platform/httpx"

// Middleware wraps next with request IDs, trace context, access logs, panic recovery and
// request metrics. The request's W3C trace context (traceparent) is extracted and a server
// span named after the matched route is started for it (but for probes, scrapes and internal
// endpoints, which only pass the trace context on), so that the handler's context, and every
// log line and outgoing call made with it, carry the trace. next must be the ServeMux itself
// (or a handler that sets r.Pattern on the request it is given) for the route to be known.
// A request whose query string r.URL.Query() would not read whole (a malformed escape such
// as %zz, a semicolon) is answered 400 before next sees it.
func Middleware(next http.Handler, log *slog.Logger, m *metrics.HTTP) http.Handler {
	tracer := otel.Tracer(tracerName)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = uuid.NewString()
			r.Header.Set(HeaderRequestID, id)
		}
		w.Header().Set(HeaderRequestID, id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		var span trace.Span
		if !quiet(r.URL.Path) {
			ctx, span = tracer.Start(ctx, metrics.Method(r.Method), trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(semconv.HTTPRequestMethodKey.String(metrics.Method(r.Method)), semconv.URLPath(LoggedPath(r.URL.Path))))
		}
		r = r.WithContext(logging.WithRequestID(ctx, id))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				recovered(v, sw, r, log)
			}
			finish(r, sw, time.Since(start), log, m, span)
		}()
		if err := checkQuery(r.URL.RawQuery); err != nil {
			problem.WriteError(sw, r, err)
			return
		}
		next.ServeHTTP(&requestWriter{statusWriter: sw, req: r, log: log}, r)
	})
}

// recovered answers 500 to the request r whose handler panicked with v, unless the handler
// already answered, and logs the panic. http.ErrAbortHandler panics on.
func recovered(v any, sw *statusWriter, r *http.Request, log *slog.Logger) {
	if v == http.ErrAbortHandler {
		panic(v)
	}
	log.ErrorContext(r.Context(), "panic serving request", "panic", v, "path", LoggedPath(r.URL.Path))
	if sw.status == 0 {
		problem.WriteError(sw, r, problem.New(http.StatusInternalServerError, "an internal error occurred; it has been logged"))
	}
}

// finish records a served request: its metrics, its access-log line and, when it has one,
// the end of its server span.
func finish(r *http.Request, sw *statusWriter, d time.Duration, log *slog.Logger, m *metrics.HTTP, span trace.Span) {
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	m.Observe(r.Pattern, r.Method, status, d)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	if probe(r.URL.Path) || quiet(r.URL.Path) && status < 500 {
		// Probes come every second (Consul checks /readyz): a failing one would flood the
		// log; its answer names the dependency that is down.
		level = slog.LevelDebug
	}
	log.Log(r.Context(), level, accessLogMessage,
		"method", r.Method, "path", LoggedPath(r.URL.Path), "route", r.Pattern, "status", status,
		"duration_ms", float64(d.Microseconds())/1000, "bytes", sw.bytes)
	if span != nil {
		endServerSpan(span, r, status)
	}
}

// endServerSpan names span after r's route, records the response status and ends it.
func endServerSpan(span trace.Span, r *http.Request, status int) {
	if span.IsRecording() {
		name := metrics.Method(r.Method)
		if route := routeOf(r.Pattern); route != "" {
			name += " " + route
			span.SetAttributes(semconv.HTTPRoute(route))
		}
		span.SetName(name)
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
	span.End()
}

// routeOf returns the path template of a ServeMux pattern such as "GET /api/v1/events/{id}"
// or "example.com/x/": what follows the method, if any.
func routeOf(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		return strings.TrimLeft(pattern[i+1:], " \t")
	}
	return pattern
}

// probe reports whether path is a health probe or a metrics scrape.
func probe(path string) bool { return path == "/healthz" || path == "/readyz" || path == "/metrics" }

// quiet reports whether requests to path are logged at debug level only: probes, scrapes
// and the gateway's long polls of internal endpoints.
func quiet(path string) bool {
	return probe(path) || strings.HasPrefix(path, "/internal/")
}

// validRequestID accepts a client's request ID when it is short printable ASCII, so that it
// cannot break a log line or a header.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush forwards to the underlying writer, for streamed proxy responses.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// InjectTrace sets the trace context headers (traceparent…) of the span ctx carries on h, the
// headers of an outgoing request, so that the service it calls continues the trace. It sets
// nothing when ctx carries no span.
func InjectTrace(ctx context.Context, h http.Header) {
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(h))
}
