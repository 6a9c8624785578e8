package mailer

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventpost/eventpost/internal/messages"
)

// tracerName is the instrumentation scope of the email-sender's spans.
const tracerName = "github.com/eventpost/eventpost/internal/mailer"

// startSend starts the span of one send of req's email through t, a client span within the
// delivery's span, and returns its context and the function that ends it with the outcome.
func startSend(ctx context.Context, req messages.EmailSend, t Transport) (context.Context, func(error)) {
	ctx, span := otel.Tracer(tracerName).Start(ctx, "send email",
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("eventpost.email.kind", string(req.Kind)),
			attribute.String("eventpost.email.idempotency_key", req.IdempotencyKey),
			attribute.String("eventpost.email.transport", fmt.Sprintf("%T", t)),
		))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
