// Package httpx is the HTTP plumbing every service shares: servers with timeouts and graceful
// shutdown, strict JSON decoding, JSON and problem responses, request IDs, access logs,
// request metrics, health endpoints, the check that every call comes from a service allowed
// to make it, with the caller identity the gateway passes on, and the compression of the
// gateway's answers.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// Headers between the gateway and the services.
const (
	// HeaderRevocation is set by the auth service on a response to a request that revoked
	// tokens; it holds the revocation sequence number that the gateway waits for before it
	// answers, so that the client's next request already sees the revocation.
	HeaderRevocation = "X-Eventpost-Revocation-Seq"
	// HeaderRequestID carries the request ID in both directions.
	HeaderRequestID = "X-Request-Id"
)

// Caller is the authenticated account that made a request, as the gateway verified it.
type Caller struct {
	AccountID string
	Email     string
	SessionID string
}

// CallerFrom returns the end user a request was made for, as the gateway's service token
// says (see Options.Verifier), or problem.ErrUnauthorized when the call names none.
func CallerFrom(r *http.Request) (Caller, error) {
	c, ok := svcauth.FromContext(r.Context())
	if !ok || c.AccountID == "" {
		return Caller{}, problem.ErrUnauthorized
	}
	return Caller{AccountID: c.AccountID, Email: c.Email, SessionID: c.SessionID}, nil
}

// ClientIP returns the client address the gateway saw, as its service token says, falling
// back to the peer address for a call that names no client.
func ClientIP(r *http.Request) string {
	if c, ok := svcauth.FromContext(r.Context()); ok && c.ClientIP != "" {
		return c.ClientIP
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// WriteJSON writes v as a JSON response with the given status. v is encoded in full before
// anything is written, so that a value that cannot be encoded (a time past the year 9999, a
// NaN) is answered with a 500 problem, and logged when w comes from Middleware, never with
// an empty or truncated success.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		encodeFailed(w, v, err)
		return
	}
	writeJSONBody(w, status, append(body, '\n'))
}

// NewServer returns a server for h with the timeouts every EventPost server uses.
func NewServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve serves srv on ln until ctx is done, then shuts it down gracefully, letting in-flight
// requests finish for up to shutdownTimeout. Requests that wait for something to happen
// (long polls) end as the shutdown starts: see UntilShutdown. So do the connections that have
// not sent a request yet (a client's spare ones), which http.Server.Shutdown would wait for
// until their first request's header is over 5 s late, only to drop that request unanswered.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, shutdownTimeout time.Duration) error {
	srv.RegisterOnShutdown(trackNewConns(srv).close)
	shutdown, shuttingDown := context.WithCancel(context.Background())
	defer shuttingDown()
	srv.RegisterOnShutdown(shuttingDown)
	base := srv.BaseContext
	srv.BaseContext = func(ln net.Listener) context.Context {
		ctx := context.Background()
		if base != nil {
			ctx = base(ln)
		}
		return context.WithValue(ctx, shutdownKey{}, shutdown)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// shutdownKey is the request context key of the context that Serve cancels when its server
// starts shutting down.
type shutdownKey struct{}

// UntilShutdown returns the context of r, ended also when the server that Serve runs r on
// starts shutting down; cancel releases it. A handler that holds a request until something
// happens (a long poll) waits under it, and answers with what it has when it ends, so that
// the graceful shutdown, which waits for every request in flight, is not held for the whole
// wait. Other requests keep their context, and finish, within the shutdown timeout.
func UntilShutdown(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	shutdown, ok := r.Context().Value(shutdownKey{}).(context.Context)
	if !ok {
		return ctx, cancel
	}
	stop := context.AfterFunc(shutdown, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// newConns is the set of a server's connections that have not sent a request yet.
type newConns struct {
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool // set by close: a connection accepted since is closed at once
}

// trackNewConns makes srv's ConnState hook, before calling the one srv has, keep the set of
// its connections that have not sent a request yet.
func trackNewConns(srv *http.Server) *newConns {
	n := &newConns{conns: map[net.Conn]struct{}{}}
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		n.mu.Lock()
		switch {
		case st == http.StateNew && n.closing:
			_ = c.Close()
		case st == http.StateNew:
			n.conns[c] = struct{}{}
		default:
			delete(n.conns, c)
		}
		n.mu.Unlock()
		if next != nil {
			next(c, st)
		}
	}
	return n
}

// close closes the connections that have not sent a request yet, and those accepted later.
// A server that is shutting down drops the request it reads on one unanswered anyway.
func (n *newConns) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closing = true
	for c := range n.conns {
		_ = c.Close()
		delete(n.conns, c)
	}
}
