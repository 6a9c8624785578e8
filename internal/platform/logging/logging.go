// Package logging builds the structured JSON loggers every service uses and carries the
// request ID in a context so that each log line of a request names it, and its trace and span
// when the context carries an OpenTelemetry span.
package logging

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

type ctxKey struct{}

// WithRequestID returns a context that carries the request ID id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// RequestID returns the request ID carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// New returns a JSON logger writing to w whose every line names, when the context of the
// call carries them, the request ID (request_id) and the trace and span of its span
// (trace_id, span_id). Each of also, when not nil, receives every record at level too (an
// OpenTelemetry log exporter, for instance), with the same attributes. Give each service its
// own with ForService.
func New(w io.Writer, level slog.Leveler, also ...slog.Handler) *slog.Logger {
	if level == nil {
		level = slog.LevelInfo
	}
	var h slog.Handler = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	fan := []slog.Handler{h}
	for _, a := range also {
		if a != nil {
			fan = append(fan, leveled{a, level})
		}
	}
	if len(fan) > 1 {
		h = slog.NewMultiHandler(fan...)
	}
	return slog.New(contextHandler{h})
}

// ForService returns a logger whose every line names service.
func ForService(base *slog.Logger, service string) *slog.Logger {
	return base.With("service", service)
}

// Discard returns a logger that writes nothing, for tests.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// contextHandler adds the request ID, trace ID and span ID of the record's context to each
// record.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}

// leveled drops the records of h below level.
type leveled struct {
	slog.Handler
	level slog.Leveler
}

func (h leveled) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() && h.Handler.Enabled(ctx, l)
}

func (h leveled) WithAttrs(attrs []slog.Attr) slog.Handler {
	return leveled{h.Handler.WithAttrs(attrs), h.level}
}

func (h leveled) WithGroup(name string) slog.Handler {
	return leveled{h.Handler.WithGroup(name), h.level}
}
