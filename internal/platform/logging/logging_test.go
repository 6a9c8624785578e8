package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventpost/eventpost/internal/platform/logging"
)

// recorder is a slog handler that keeps the records it is given, with the attributes it was
// built with.
type recorder struct {
	attrs []slog.Attr
	got   *[]map[string]string
}

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]string{"msg": rec.Message, "level": rec.Level.String()}
	for _, a := range r.attrs {
		m[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	*r.got = append(*r.got, m)
	return nil
}

func (r recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return recorder{attrs: append(append([]slog.Attr{}, r.attrs...), attrs...), got: r.got}
}

func (r recorder) WithGroup(string) slog.Handler { return r }

func TestNewAddsRequestAndTraceAndFansOut(t *testing.T) {
	var out bytes.Buffer
	var also []map[string]string
	log := logging.ForService(logging.New(&out, slog.LevelInfo, nil, recorder{got: &also}), "events")

	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
	})
	ctx := trace.ContextWithSpanContext(logging.WithRequestID(context.Background(), "req-1"), sc)
	log.InfoContext(ctx, "in a request", "n", 1)
	log.DebugContext(ctx, "below the level")
	log.Warn("no context")

	want := []map[string]string{
		{"msg": "in a request", "level": "INFO", "service": "events", "n": "1", "request_id": "req-1",
			"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()},
		{"msg": "no context", "level": "WARN", "service": "events"},
	}
	if diff := cmp.Diff(want, also); diff != "" {
		t.Errorf("records of the other handler (-want +got):\n%s", diff)
	}
	var lines []map[string]string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if _, ok := m["time"]; !ok {
			t.Errorf("line without time: %q", l)
		}
		got := map[string]string{}
		for k, v := range m {
			if k != "time" {
				got[k] = strings.Trim(strings.TrimSpace(toString(v)), `"`)
			}
		}
		lines = append(lines, got)
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("JSON lines (-want +got):\n%s", diff)
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
