package notifications

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventpost/eventpost/internal/platform/broker"
)

// tracerName is the instrumentation scope of the scheduler's spans.
const tracerName = "github.com/eventpost/eventpost/internal/notifications"

// claimSpans are the spans of the reminders one claim transaction takes, by reminder ID: each
// continues the trace of the request that created its reminder, so that the email.send
// message queued in it, and everything downstream, belongs to that trace.
type claimSpans map[string]claimSpan

type claimSpan struct {
	ctx  context.Context
	span trace.Span
}

// start starts the claim span of r, due at r.SendAt and claimed at now, and returns the
// context to build r's message with: a child of r.TraceParent's span (a new trace when r has
// none), carrying ctx's values.
func (cs claimSpans) start(ctx context.Context, r Reminder, now time.Time) context.Context {
	if r.TraceParent != "" {
		ctx = broker.WithTraceParent(ctx, r.TraceParent)
	} else {
		ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	}
	ctx, span := otel.Tracer(tracerName).Start(ctx, "claim reminder",
		trace.WithAttributes(
			attribute.String("eventpost.reminder_id", r.ID),
			attribute.String("eventpost.event_id", r.EventID),
			attribute.Int64("eventpost.scheduler_lag_ms", now.Sub(r.SendAt).Milliseconds()),
		))
	cs[r.ID] = claimSpan{ctx: ctx, span: span}
	return ctx
}

// context returns the context of the claim of reminder id, or ctx when there is none.
func (cs claimSpans) context(ctx context.Context, id string) context.Context {
	if c, ok := cs[id]; ok {
		return c.ctx
	}
	return ctx
}

// end ends every span, marked failed when the claim failed with err.
func (cs claimSpans) end(err error) {
	for _, c := range cs {
		if err != nil {
			c.span.RecordError(err)
			c.span.SetStatus(codes.Error, err.Error())
		}
		c.span.End()
	}
}
