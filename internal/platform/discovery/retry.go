package discovery

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// DefaultAttempts is how many attempts RetryTransport makes at one request by default, the
// first included.
const DefaultAttempts = 3

// targetKey carries a Target in a request's context.
type targetKey struct{}

// Target names the service a request is for and the instance it was sent to.
type Target struct {
	// Service is the service's name, as the Balancer knows it.
	Service string
	// Base is the base URL of the instance the request was sent to, as the Balancer picked it.
	Base string
}

// WithTarget returns a context marking a request made with it as sent to service at the
// instance base, so that RetryTransport can send it to another instance when base fails.
func WithTarget(ctx context.Context, service, base string) context.Context {
	return context.WithValue(ctx, targetKey{}, Target{Service: service, Base: base})
}

// TargetFrom returns the Target that WithTarget put in ctx.
func TargetFrom(ctx context.Context) (Target, bool) {
	t, ok := ctx.Value(targetKey{}).(Target)
	return t, ok
}

// RetryTransport is an http.RoundTripper that sends a request again to another instance of its
// service when the instance it was sent to failed before answering:
//
//   - any request, when the connection to the instance could not be made (refused, no such
//     host, dial timeout): the instance never saw it, so not even a POST can have taken effect
//     there. Its body, read by no one yet, goes along (a body GetBody cannot give again is held
//     for that: the attempt's transport reads it but cannot close it);
//   - an idempotent request (GET or HEAD, without a body it cannot replay) also when the
//     connection was reset or closed after it was sent.
//
// Every other failure, every answer (whatever its status) and every failure after the
// request's context ended are passed on as they are. A request whose context carries no Target
// is sent once.
type RetryTransport struct {
	// Next makes each attempt; nil means http.DefaultTransport.
	Next http.RoundTripper
	// Balancer picks the instance of each further attempt, among those not yet tried.
	Balancer *Balancer
	// Attempts bounds the attempts at one request, the first included; zero means
	// DefaultAttempts.
	Attempts int
	// Target returns the service and instance of a request; nil means TargetFrom of the
	// request's context.
	Target func(*http.Request) (Target, bool)
	// OnRetry, when not nil, is called before each further attempt with the request, the
	// instance that failed, its error and the instance tried next.
	OnRetry func(r *http.Request, failed Target, err error, next string)
}

// RoundTrip implements http.RoundTripper.
func (t *RetryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	next := t.Next
	if next == nil {
		next = http.DefaultTransport
	}
	target, ok := t.target(r)
	if !ok || t.Balancer == nil {
		return next.RoundTrip(r) // nowhere else to send it
	}
	r = holdBody(r)
	resp, err := next.RoundTrip(r)
	if err == nil || !sendAgain(r, err) {
		return resp, err
	}
	attempts := t.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	tried := []string{target.Base}
	for len(tried) < attempts && r.Context().Err() == nil {
		base, perr := t.Balancer.PickExcept(r.Context(), target.Service, tried...)
		if perr != nil {
			break
		}
		out, rerr := rebase(r, target.Base, base)
		if rerr != nil {
			break
		}
		if t.OnRetry != nil {
			t.OnRetry(r, target, err, base)
		}
		tried = append(tried, base)
		target.Base = base
		if resp, err = next.RoundTrip(out); err == nil || !sendAgain(r, err) {
			return resp, err
		}
	}
	return resp, err
}

// sendAgain reports whether r, which failed with err, may go to another instance: the
// connection could not be made, or r is idempotent and can be replayed.
func sendAgain(r *http.Request, err error) bool {
	var op *net.OpError
	return (errors.As(err, &op) && op.Op == "dial") || replayable(r)
}

// errBodyRead is GetBody's answer for a held body that an attempt has begun to read.
var errBodyRead = errors.New("discovery: the request's body was read by an earlier attempt")

// heldBody is a request body that the transport of an attempt may read but not close, and that
// remembers whether anything read it.
type heldBody struct {
	io.ReadCloser
	read atomic.Bool
}

func (b *heldBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.ReadCloser.Read(p)
}

// Close leaves the body open: whoever made the request closes it (the server, for a proxied
// one).
func (b *heldBody) Close() error { return nil }

// holdBody returns r, or, when r has a body that GetBody cannot give again, a shallow copy of r
// whose body is held (heldBody) and whose GetBody gives that body again as long as nothing has
// read it.
func holdBody(r *http.Request) *http.Request {
	if r.Body == nil || r.Body == http.NoBody || r.GetBody != nil {
		return r
	}
	held := &heldBody{ReadCloser: r.Body}
	c := *r
	c.Body = held
	c.GetBody = func() (io.ReadCloser, error) {
		if held.read.Load() {
			return nil, errBodyRead
		}
		return held, nil
	}
	return &c
}

// target returns the service and instance r was sent to.
func (t *RetryTransport) target(r *http.Request) (Target, bool) {
	if t.Target != nil {
		return t.Target(r)
	}
	return TargetFrom(r.Context())
}

// replayable reports whether r may be sent again: an idempotent method, and no body or one
// that can be read again.
func replayable(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}

// rebase returns a copy of r sent to the instance at base instead of the one at from: the
// scheme and host of base, and the path of base in place of the path of from.
func rebase(r *http.Request, from, base string) (*http.Request, error) {
	fu, err := url.Parse(from)
	if err != nil {
		return nil, err
	}
	bu, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if bu.Scheme == "" || bu.Host == "" {
		return nil, errors.New("discovery: instance URL " + base + " has no scheme or host")
	}
	out := r.Clone(r.Context())
	u := *r.URL
	u.Scheme, u.Host = bu.Scheme, bu.Host
	if fp, bp := strings.TrimSuffix(fu.Path, "/"), strings.TrimSuffix(bu.Path, "/"); fp != bp {
		u.Path = bp + strings.TrimPrefix(u.Path, fp)
		u.RawPath = ""
	}
	out.URL = &u
	out.Host = ""
	if r.Host != "" && r.Host != r.URL.Host {
		out.Host = r.Host // the caller chose the Host header: keep it
	}
	if r.Body != nil && r.Body != http.NoBody {
		if out.Body, err = r.GetBody(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
