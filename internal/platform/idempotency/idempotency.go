// Package idempotency makes creating POSTs safe to retry: a request that carries an
// Idempotency-Key header is answered, when the same caller sends the same key with the same
// body again within 24 hours, with the first response again (header Idempotent-Replayed:
// true) instead of running twice. A Guard wraps the endpoint; a Store (SQLStore, over the
// service's own database) keeps the keys.
//
// A key is claimed before the endpoint runs: a second request with the key while the first
// is in flight is answered 409, one with another body 422. A response with a status below
// 500 other than 429 is kept; a 5xx or 429 releases the key, so that a retry runs again.
// Without the header a request is passed on untouched, with no database work.
package idempotency

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// Headers of the protocol.
const (
	// Header is the request header that carries the key.
	Header = "Idempotency-Key"
	// ReplayedHeader is set to "true" on a response answered again from a stored one.
	ReplayedHeader = "Idempotent-Replayed"
)

// Limits of the protocol.
const (
	// MaxKeyLength is the longest key accepted, in bytes.
	MaxKeyLength = 255
	// MaxStoredBody is the largest response body kept; a larger response is passed on and
	// its key released.
	MaxStoredBody = 64 << 10
	// DefaultTTL is how long a key is remembered.
	DefaultTTL = 24 * time.Hour
	// DefaultLease is how long a claim of a request in flight holds: a claim older than this
	// without a response (its process died) is taken over by the next request with the key.
	DefaultLease = 2 * time.Minute
	// sweepEvery is how often a Guard deletes expired records, and sweepBatch how many at most
	// in one statement.
	sweepEvery = 10 * time.Minute
	sweepBatch = 1000
)

// StoredHeaders are the response headers kept and answered again.
var StoredHeaders = []string{"Content-Type", "Location", "Cache-Control"}

// Problems a Guard answers with.
var (
	// ErrInFlight is the 409 of a request whose key is claimed by one still being processed.
	ErrInFlight = problem.New(http.StatusConflict, "a request with this Idempotency-Key is still being processed")
	// ErrMismatch is the 422 of a request whose key was used with another request.
	ErrMismatch = &problem.Error{
		Status: http.StatusUnprocessableEntity,
		Detail: "this Idempotency-Key was used with a different request (method, path or body) in the last 24 hours",
		Fields: []problem.FieldError{{Field: Header, Message: "already used with a different request"}},
	}
	// ErrInvalidKey is the 422 of a malformed key.
	ErrInvalidKey = &problem.Error{
		Status: http.StatusUnprocessableEntity,
		Detail: fmt.Sprintf("the %s header must be 1 to %d printable ASCII characters, given once", Header, MaxKeyLength),
		Fields: []problem.FieldError{{Field: Header, Message: fmt.Sprintf("must be 1 to %d printable ASCII characters", MaxKeyLength)}},
	}
)

// Config tunes a Guard; the zero value is the defaults.
type Config struct {
	// Log receives the errors a Guard cannot answer with (a response it could not keep).
	Log *slog.Logger
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// TTL is how long a key is remembered; DefaultTTL by default.
	TTL time.Duration
	// Lease is how long the claim of a request in flight holds; DefaultLease by default.
	Lease time.Duration
	// Registry, when not nil, gets the counter idempotency_requests_total{outcome}.
	Registry prometheus.Registerer
}

// Outcomes of a request with an Idempotency-Key, the label values of
// idempotency_requests_total.
const (
	OutcomeRan      = "ran"       // the endpoint ran
	OutcomeReplayed = "replayed"  // answered from the stored response
	OutcomeInFlight = "in_flight" // 409: the first request is still in flight
	OutcomeMismatch = "mismatch"  // 422: the key was used with another request
	OutcomeInvalid  = "invalid"   // 422: a malformed key
)

// Guard answers repeated requests with an Idempotency-Key from its Store.
type Guard struct {
	store     Store
	fail      httpx.ErrorWriter
	cfg       Config
	outcomes  *prometheus.CounterVec
	lastSweep atomic.Int64 // unix µs of the last sweep of expired records
}

// New returns the guard that keeps keys in store; fail is the service's ErrorWriter, which
// answers the errors of the endpoints it wraps (so that those answers are kept too).
func New(store Store, fail httpx.ErrorWriter, cfg Config) *Guard {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	g := &Guard{store: store, fail: fail, cfg: cfg, outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "idempotency_requests_total",
		Help: "Requests with an Idempotency-Key, by outcome (ran, replayed, in_flight, mismatch, invalid).",
	}, []string{"outcome"})}
	for _, o := range []string{OutcomeRan, OutcomeReplayed, OutcomeInFlight, OutcomeMismatch, OutcomeInvalid} {
		g.outcomes.WithLabelValues(o)
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(g.outcomes)
	}
	g.lastSweep.Store(cfg.Now().UnixMicro())
	return g
}

// Endpoint returns e guarded: a request without the header runs e as it is; one with it runs
// e at most once per key and caller (see the package documentation), e's errors being
// answered by the guard's ErrorWriter. The caller is the account the service token names,
// or for an anonymous request the client address it names; a request whose token names
// neither runs e as it is.
func (g *Guard) Endpoint(e httpx.Endpoint) httpx.Endpoint {
	return func(w http.ResponseWriter, r *http.Request) error {
		values, ok := r.Header[http.CanonicalHeaderKey(Header)]
		if !ok {
			return e(w, r)
		}
		scope, ok := scopeOf(r)
		if !ok {
			return e(w, r)
		}
		if len(values) != 1 || !ValidKey(values[0]) {
			g.outcomes.WithLabelValues(OutcomeInvalid).Inc()
			return ErrInvalidKey
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, httpx.MaxBodyBytes+1))
		if err != nil {
			return problem.New(http.StatusBadRequest, "the body could not be read")
		}
		r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		if len(body) > httpx.MaxBodyBytes {
			return e(w, r) // refused as too large by e
		}
		return g.serve(w, r, e, Key{Scope: scope, Value: values[0]}, Fingerprint(r.Method, r.URL.Path, body))
	}
}

// serve runs e once for key k, or answers from what k holds.
func (g *Guard) serve(w http.ResponseWriter, r *http.Request, e httpx.Endpoint, k Key, fp []byte) error {
	ctx := r.Context()
	g.sweep(ctx)
	owner, found, err := g.claim(ctx, k, fp)
	if err != nil {
		return err
	}
	if found != nil {
		switch {
		case !bytes.Equal(found.Fingerprint, fp):
			g.outcomes.WithLabelValues(OutcomeMismatch).Inc()
			return ErrMismatch
		case found.Response == nil:
			g.outcomes.WithLabelValues(OutcomeInFlight).Inc()
			return ErrInFlight
		}
		g.outcomes.WithLabelValues(OutcomeReplayed).Inc()
		replay(w, *found.Response)
		return nil
	}
	g.outcomes.WithLabelValues(OutcomeRan).Inc()

	rec := &recorder{w: w}
	done := false
	// The record outlives the request: a client gone meanwhile must not leave it claimed.
	bg := context.WithoutCancel(ctx)
	defer func() {
		if !done { // e panicked
			g.release(bg, k, owner)
		}
	}()
	if err := e(rec, r); err != nil {
		g.fail(rec, r, err)
	}
	done = true
	status := rec.statusCode()
	if rec.overflowed || status >= 500 || status == http.StatusTooManyRequests {
		g.release(bg, k, owner)
	} else if err := g.complete(bg, k, owner, Response{Status: status, Header: stored(w.Header()), Body: rec.buf.Bytes()}); err != nil {
		// The response stands; the claim stays until its lease ends, so that no retry creates
		// a second resource meanwhile.
		g.cfg.Log.ErrorContext(ctx, "keep idempotent response", "err", err)
	}
	rec.flush()
	return nil
}

// claim claims k for the request with fingerprint fp and returns its owner token, or returns
// the record that holds k.
func (g *Guard) claim(ctx context.Context, k Key, fp []byte) (string, *Record, error) {
	for range 5 {
		now := g.cfg.Now()
		rec := Record{Key: k, Fingerprint: fp, Owner: newOwner(), CreatedAt: now}
		ok, err := g.store.Insert(ctx, rec)
		if err != nil || ok {
			return rec.Owner, nil, err
		}
		old, err := g.store.Get(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return "", nil, err
		}
		expired := old.CreatedAt.Before(now.Add(-g.cfg.TTL))
		abandoned := old.Response == nil && old.CreatedAt.Before(now.Add(-g.cfg.Lease))
		if !expired && !abandoned {
			return "", &old, nil
		}
		if ok, err := g.store.Replace(ctx, old.Owner, rec); err != nil || ok {
			return rec.Owner, nil, err
		}
	}
	return "", nil, ErrInFlight // others keep changing the key: as good as in flight
}

func (g *Guard) complete(ctx context.Context, k Key, owner string, resp Response) error {
	ok, err := g.store.Complete(ctx, k, owner, resp)
	if err == nil && !ok {
		err = errors.New("the claim was taken over before the response was kept")
	}
	return err
}

func (g *Guard) release(ctx context.Context, k Key, owner string) {
	if err := g.store.Delete(ctx, k, owner); err != nil {
		g.cfg.Log.ErrorContext(ctx, "release idempotency key", "err", err)
	}
}

// sweep deletes expired records when the last sweep is sweepEvery old; one request at a time
// does it.
func (g *Guard) sweep(ctx context.Context) {
	now := g.cfg.Now()
	last := g.lastSweep.Load()
	if now.Sub(time.UnixMicro(last)) < sweepEvery || !g.lastSweep.CompareAndSwap(last, now.UnixMicro()) {
		return
	}
	n, err := g.store.DeleteBefore(ctx, now.Add(-g.cfg.TTL), sweepBatch)
	if err != nil {
		g.cfg.Log.ErrorContext(ctx, "delete expired idempotency keys", "err", err)
	}
	if err != nil || n == sweepBatch {
		g.lastSweep.Store(last) // more to do: the next request sweeps again
	}
}

// replay answers resp again.
func replay(w http.ResponseWriter, resp Response) {
	h := w.Header()
	for name, v := range resp.Header {
		h[name] = v
	}
	h.Set(ReplayedHeader, "true")
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// stored returns the StoredHeaders of h.
func stored(h http.Header) http.Header {
	out := http.Header{}
	for _, name := range StoredHeaders {
		if v := h.Values(name); len(v) > 0 {
			out[name] = v
		}
	}
	return out
}

// scopeOf returns whose key a request's is: the account its service token names, else the
// client address it names.
func scopeOf(r *http.Request) (string, bool) {
	c, ok := svcauth.FromContext(r.Context())
	switch {
	case !ok:
		return "", false
	case c.AccountID != "":
		return "account:" + c.AccountID, true
	case c.ClientIP != "":
		return "client:" + c.ClientIP, true
	}
	return "", false
}

// ValidKey reports whether key is a valid Idempotency-Key: 1 to MaxKeyLength printable ASCII
// characters (space to tilde).
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLength {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

// Fingerprint returns the SHA-256 of a request's method, path and body, which a repeated
// request must match.
func Fingerprint(method, path string, body []byte) []byte {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(method), {0}, []byte(path), {0}, body} {
		h.Write(part)
	}
	return h.Sum(nil)
}

// newOwner returns a random token naming one claim.
func newOwner() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// readCloser is a request body read from Reader and closed with Closer.
type readCloser struct {
	io.Reader
	io.Closer
}

// recorder holds a response back until the guard has kept it: headers go to the real writer's
// header map, the status and body are buffered. A body beyond MaxStoredBody is not kept:
// the recorder then writes everything through.
type recorder struct {
	w          http.ResponseWriter
	status     int
	buf        bytes.Buffer
	overflowed bool
}

func (rec *recorder) Header() http.Header { return rec.w.Header() }

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.overflowed {
		return rec.w.Write(b)
	}
	if rec.buf.Len()+len(b) <= MaxStoredBody {
		return rec.buf.Write(b)
	}
	rec.overflowed = true
	rec.w.WriteHeader(rec.status)
	if _, err := rec.w.Write(rec.buf.Bytes()); err != nil {
		return 0, err
	}
	rec.buf.Reset()
	return rec.w.Write(b)
}

// Unwrap lets httpx and http.ResponseController reach the underlying writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.w }

func (rec *recorder) statusCode() int {
	if rec.status == 0 {
		return http.StatusOK
	}
	return rec.status
}

// flush writes the held response out.
func (rec *recorder) flush() {
	if rec.overflowed {
		return
	}
	rec.w.WriteHeader(rec.statusCode())
	_, _ = rec.w.Write(rec.buf.Bytes())
}
