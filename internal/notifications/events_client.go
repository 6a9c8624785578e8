package notifications

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// EventSource looks up events. It reports an unknown event with ErrEventNotFound and an
// unreachable source with a 503 *problem.Error.
//
// HTTPEventSource, an HTTP client, reports the events service's answers as problems: its
// ErrEventNotFound is also the 404 *problem.Error that the events service answered.
type EventSource interface {
	Event(ctx context.Context, id string) (messages.Event, error)
}

// errEventNotFoundAnswer is ErrEventNotFound as the events service answers it: a 404.
var errEventNotFoundAnswer error = answerError{
	err: ErrEventNotFound, answer: problem.New(http.StatusNotFound, ErrEventNotFound.Error()),
}

// answerError is err, as the HTTP answer answer reported it; it is both.
type answerError struct {
	err    error
	answer *problem.Error
}

func (e answerError) Error() string   { return e.err.Error() }
func (e answerError) Unwrap() []error { return []error{e.err, e.answer} }

// eventsRetryAfter is what a client is told to wait when the events service is down.
const eventsRetryAfter = 5 * time.Second

// HTTPEventSource is the EventSource that asks the events service over HTTP, at an instance
// that discovery picks.
type HTTPEventSource struct {
	balancer *discovery.Balancer
	client   *http.Client
}

// NewHTTPEventSource returns an EventSource that asks the events instances b picks, with
// client (nil: a client with a 5 second timeout), each request signed by signer as a call of
// the notifications service. A lookup whose instance fails before answering is sent to
// another instance, for at most discovery.DefaultAttempts attempts within the client's
// timeout.
func NewHTTPEventSource(b *discovery.Balancer, client *http.Client, signer *svcauth.Signer) *HTTPEventSource {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	retrying := *client
	retrying.Transport = &discovery.RetryTransport{
		Next:     &svcauth.Transport{Base: client.Transport, Signer: signer, Audience: discovery.Events},
		Balancer: b,
	}
	return &HTTPEventSource{balancer: b, client: &retrying}
}

// Event implements EventSource with GET /api/v1/events/{id}, forwarding the request ID and
// the trace context.
func (c *HTTPEventSource) Event(ctx context.Context, id string) (messages.Event, error) {
	unavailable := func(err error) error {
		return fmt.Errorf("%w: %w", problem.Unavailable(discovery.Events, eventsRetryAfter), err)
	}
	base, err := c.balancer.Pick(ctx, discovery.Events)
	if err != nil {
		return messages.Event{}, unavailable(err)
	}
	req, err := http.NewRequestWithContext(discovery.WithTarget(ctx, discovery.Events, base), http.MethodGet,
		base+"/api/v1/events/"+url.PathEscape(id), nil)
	if err != nil {
		return messages.Event{}, unavailable(err)
	}
	req.Header.Set("Accept", "application/json")
	if rid := logging.RequestID(ctx); rid != "" {
		req.Header.Set(httpx.HeaderRequestID, rid)
	}
	httpx.InjectTrace(ctx, req.Header)
	resp, err := c.client.Do(req)
	if err != nil {
		return messages.Event{}, unavailable(err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return messages.Event{}, errEventNotFoundAnswer
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return messages.Event{}, unavailable(fmt.Errorf("GET event %s: status %d", id, resp.StatusCode))
	}
	var ev eventAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&ev); err != nil {
		return messages.Event{}, unavailable(fmt.Errorf("GET event %s: decode: %w", id, err))
	}
	if ev.ID != id {
		return messages.Event{}, unavailable(fmt.Errorf("GET event %s: answered event %q", id, ev.ID))
	}
	return ev.Event, nil
}

// eventAnswer is the events service's answer to GET /api/v1/events/{id}, the REST Event
// (events.Event), as notifications reads it: the fields a reminder keeps as its snapshot of
// the event, which are those of the broker's messages.Event. The REST Event's capacity is
// deliberately not read; TestEventAnswerReadsTheRESTEvent fails when the REST Event gains a
// field that is neither read here nor listed there as ignored (docs/wire-types.md).
type eventAnswer struct {
	messages.Event
}
