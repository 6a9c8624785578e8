package broker

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventpost/eventpost/internal/platform/logging"
)

// tracerName is the instrumentation scope of the producer and consumer spans.
const tracerName = "github.com/eventpost/eventpost/internal/platform/broker"

// traceParentKey is the W3C header that Message.TraceParent holds the value of.
const traceParentKey = "traceparent"

// TraceParent returns the W3C traceparent of the span ctx carries ("00-<trace ID>-<span
// ID>-<flags>"), or "" when it carries none. Message.TraceParent is always W3C trace
// context, whatever propagator HTTP uses.
func TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c[traceParentKey]
}

// WithTraceParent returns ctx with the remote span that the W3C traceparent value names as its
// current span, so that spans started from it continue that trace; ctx is returned as it is
// when traceparent is empty or malformed.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{traceParentKey: traceparent})
}

// StartConsume starts the consumer span of the delivery of m to queue by system (such as
// "rabbitmq"): a child of the span m.TraceParent names. It returns the handler's context —
// with that span and m's request ID — and the function that ends the span with the handler's
// outcome. Brokers call it around every handler call.
func StartConsume(ctx context.Context, m Message, queue, system string) (context.Context, func(error)) {
	ctx = logging.WithRequestID(WithTraceParent(ctx, m.TraceParent), m.RequestID)
	ctx, span := otel.Tracer(tracerName).Start(ctx, "process "+m.Type,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			semconv.MessagingSystemKey.String(system),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingDestinationName(queue),
			semconv.MessagingMessageID(m.ID),
		))
	return ctx, func(err error) { endSpan(span, err) }
}

// StartPublish starts the producer span of the publication of *m, a child of the
// span m.TraceParent names (or of ctx's, when m has none), and makes it m's trace parent, so
// that the consumers' spans follow it. It returns the context to publish with and the
// function that ends the span with the outcome. The outbox relay calls it around Publish.
func StartPublish(ctx context.Context, m *Message) (context.Context, func(error)) {
	ctx = logging.WithRequestID(WithTraceParent(ctx, m.TraceParent), m.RequestID)
	ctx, span := otel.Tracer(tracerName).Start(ctx, "send "+m.Type,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			semconv.MessagingOperationTypeSend,
			semconv.MessagingMessageID(m.ID),
		))
	if tp := TraceParent(ctx); tp != "" {
		m.TraceParent = tp
	}
	return ctx, func(err error) { endSpan(span, err) }
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
