// Package otlptest is an OTLP/HTTP receiver for tests: an HTTP server that accepts the
// protobuf export requests of OpenTelemetry SDKs on /v1/traces and /v1/logs and keeps the
// spans and log records they carry, to be waited for and queried. Point a process at it with
// OTEL_EXPORTER_OTLP_ENDPOINT=<Receiver.URL>.
package otlptest

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one span a process exported.
type Span struct {
	// TraceID, SpanID and ParentSpanID are in lowercase hex; ParentSpanID is "" for a root.
	TraceID, SpanID, ParentSpanID string
	Name                          string
	// Kind is server, client, producer, consumer or internal.
	Kind string
	// Service is the service.name attribute of the exporting process's resource.
	Service string
	// Attributes are the span's attributes, their values formatted as strings.
	Attributes map[string]string
	// Error reports whether the span's status is an error.
	Error      bool
	Start, End time.Time
}

// LogRecord is one log record a process exported.
type LogRecord struct {
	// TraceID and SpanID are in lowercase hex, "" when the record names no span.
	TraceID, SpanID string
	// Service is the service.name attribute of the exporting process's resource.
	Service  string
	Severity string
	Body     string
	// Attributes are the record's attributes, their values formatted as strings.
	Attributes map[string]string
	Time       time.Time
}

// Receiver is a running OTLP/HTTP receiver.
type Receiver struct {
	// URL is the receiver's base URL, such as http://127.0.0.1:41234: the value of
	// OTEL_EXPORTER_OTLP_ENDPOINT.
	URL string

	srv     *httptest.Server
	mu      sync.Mutex
	spans   []Span
	logs    []LogRecord
	changed chan struct{} // closed and replaced whenever spans or logs are added
}

// Start starts a receiver on a loopback port, closed when t ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r := New()
	t.Cleanup(r.Close)
	return r
}

// New starts a receiver on a loopback port; Close stops it.
func New() *Receiver {
	r := &Receiver{changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.handleTraces)
	mux.HandleFunc("POST /v1/logs", r.handleLogs)
	r.srv = httptest.NewServer(mux)
	r.URL = r.srv.URL
	return r
}

// Close stops the receiver.
func (r *Receiver) Close() { r.srv.Close() }

// Spans returns every span received so far, in arrival order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

// Logs returns every log record received so far, in arrival order.
func (r *Receiver) Logs() []LogRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.logs)
}

// Trace returns the spans received so far of the trace with ID traceID (hex), by start time.
func (r *Receiver) Trace(traceID string) []Span {
	var out []Span
	for _, s := range r.Spans() {
		if s.TraceID == traceID {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return out
}

// TraceLogs returns the log records received so far that name the trace with ID traceID.
func (r *Receiver) TraceLogs(traceID string) []LogRecord {
	var out []LogRecord
	for _, l := range r.Logs() {
		if l.TraceID == traceID {
			out = append(out, l)
		}
	}
	return out
}

// WaitFor waits until cond, called with everything received so far after each export
// request, returns true, or ctx ends.
func (r *Receiver) WaitFor(ctx context.Context, cond func(spans []Span, logs []LogRecord) bool) error {
	for {
		r.mu.Lock()
		spans, logs, changed := slices.Clone(r.spans), slices.Clone(r.logs), r.changed
		r.mu.Unlock()
		if cond(spans, logs) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("otlptest: %w (%d spans, %d log records received)", ctx.Err(), len(spans), len(logs))
		case <-changed:
		}
	}
}

// FormatTrace renders spans (of one trace) as a tree, one span a line: service, name, kind,
// and parents before their children.
func FormatTrace(spans []Span) string {
	byParent := map[string][]Span{}
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	var roots []Span
	for _, s := range spans {
		if s.ParentSpanID == "" || !ids[s.ParentSpanID] {
			roots = append(roots, s)
		} else {
			byParent[s.ParentSpanID] = append(byParent[s.ParentSpanID], s)
		}
	}
	var b strings.Builder
	var walk func(s Span, depth int)
	walk = func(s Span, depth int) {
		fmt.Fprintf(&b, "%s%s: %s (%s, %s)", strings.Repeat("  ", depth), s.Service, s.Name, s.Kind,
			s.End.Sub(s.Start).Round(time.Microsecond))
		if s.ParentSpanID != "" && !ids[s.ParentSpanID] {
			fmt.Fprintf(&b, " [parent %s not received]", s.ParentSpanID)
		}
		b.WriteString("\n")
		for _, c := range byParent[s.SpanID] {
			walk(c, depth+1)
		}
	}
	for _, s := range roots {
		walk(s, 0)
	}
	return b.String()
}

// add appends what one export request carried and wakes the waiters.
func (r *Receiver) add(spans []Span, logs []LogRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, spans...)
	r.logs = append(r.logs, logs...)
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Receiver) handleTraces(w http.ResponseWriter, req *http.Request) {
	var in coltracepb.ExportTraceServiceRequest
	if !read(w, req, &in) {
		return
	}
	var spans []Span
	for _, rs := range in.GetResourceSpans() {
		service := serviceName(rs.GetResource())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				spans = append(spans, Span{
					TraceID:      hex.EncodeToString(s.GetTraceId()),
					SpanID:       hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()),
					Name:         s.GetName(),
					Kind:         strings.ToLower(strings.TrimPrefix(s.GetKind().String(), "SPAN_KIND_")),
					Service:      service,
					Attributes:   attributes(s.GetAttributes()),
					Error:        s.GetStatus().GetCode() == 2, // STATUS_CODE_ERROR
					Start:        time.Unix(0, int64(s.GetStartTimeUnixNano())),
					End:          time.Unix(0, int64(s.GetEndTimeUnixNano())),
				})
			}
		}
	}
	r.add(spans, nil)
	write(w, &coltracepb.ExportTraceServiceResponse{})
}

func (r *Receiver) handleLogs(w http.ResponseWriter, req *http.Request) {
	var in collogspb.ExportLogsServiceRequest
	if !read(w, req, &in) {
		return
	}
	var logs []LogRecord
	for _, rl := range in.GetResourceLogs() {
		service := serviceName(rl.GetResource())
		for _, sl := range rl.GetScopeLogs() {
			for _, l := range sl.GetLogRecords() {
				logs = append(logs, LogRecord{
					TraceID:    hex.EncodeToString(l.GetTraceId()),
					SpanID:     hex.EncodeToString(l.GetSpanId()),
					Service:    service,
					Severity:   l.GetSeverityText(),
					Body:       format(l.GetBody()),
					Attributes: attributes(l.GetAttributes()),
					Time:       time.Unix(0, int64(l.GetTimeUnixNano())),
				})
			}
		}
	}
	r.add(nil, logs)
	write(w, &collogspb.ExportLogsServiceResponse{})
}

// read decodes the protobuf body of req, gzip-compressed or not, into m; it answers the
// request itself and returns false when it cannot.
func read(w http.ResponseWriter, req *http.Request, m proto.Message) bool {
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "otlptest takes application/x-protobuf only, not "+ct, http.StatusUnsupportedMediaType)
		return false
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return false
		}
		defer gz.Close()
		body = gz
	}
	b, err := io.ReadAll(io.LimitReader(body, 64<<20))
	if err == nil {
		err = proto.Unmarshal(b, m)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func write(w http.ResponseWriter, m proto.Message) {
	b, err := proto.Marshal(m)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

func serviceName(r *resourcepb.Resource) string {
	return attributes(r.GetAttributes())["service.name"]
}

func attributes(kvs []*commonpb.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		out[kv.GetKey()] = format(kv.GetValue())
	}
	return out
}

// format renders an attribute or body value as a string.
func format(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case nil:
		return ""
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	case *commonpb.AnyValue_BytesValue:
		return hex.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		parts := make([]string, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			parts = append(parts, format(e))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case *commonpb.AnyValue_KvlistValue:
		parts := make([]string, 0, len(x.KvlistValue.GetValues()))
		for _, kv := range x.KvlistValue.GetValues() {
			parts = append(parts, kv.GetKey()+"="+format(kv.GetValue()))
		}
		return "{" + strings.Join(parts, " ") + "}"
	}
	return fmt.Sprint(v)
}
