// Package httpx is the HTTP plumbing every service shares: servers with timeouts and graceful
// shutdown, strict JSON decoding, JSON and problem responses, request IDs, access logs,
// request metrics, health endpoints, and the caller identity that the gateway passes on.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/eventpost/eventpost/internal/platform/problem"
)

// Headers the gateway sets on requests it forwards to the services. The gateway removes them
// from every client request first, so a client cannot set them.
const (
	HeaderAccountID    = "X-Eventpost-Account-Id"
	HeaderAccountEmail = "X-Eventpost-Account-Email"
	HeaderSessionID    = "X-Eventpost-Session-Id"
	HeaderClientIP     = "X-Eventpost-Client-Ip"
	// HeaderRevocation is set by the auth service on a response to a request that revoked
	// tokens; it holds the revocation sequence number that the gateway waits for before it
	// answers, so that the client's next request already sees the revocation.
	HeaderRevocation = "X-Eventpost-Revocation-Seq"
	// HeaderRequestID carries the request ID in both directions.
	HeaderRequestID = "X-Request-Id"
)

// InternalHeaders are the headers that only the gateway may set.
var InternalHeaders = []string{HeaderAccountID, HeaderAccountEmail, HeaderSessionID, HeaderClientIP, HeaderRevocation}

// Caller is the authenticated account that made a request, as the gateway verified it.
type Caller struct {
	AccountID string
	Email     string
	SessionID string
}

// CallerFrom returns the caller of r, or problem.ErrUnauthorized when the request carries no
// verified identity.
func CallerFrom(r *http.Request) (Caller, error) {
	c := Caller{
		AccountID: r.Header.Get(HeaderAccountID),
		Email:     r.Header.Get(HeaderAccountEmail),
		SessionID: r.Header.Get(HeaderSessionID),
	}
	if c.AccountID == "" {
		return Caller{}, problem.ErrUnauthorized
	}
	return c, nil
}

// ClientIP returns the client address the gateway saw, falling back to the peer address.
func ClientIP(r *http.Request) string {
	if ip := r.Header.Get(HeaderClientIP); ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
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
// requests finish for up to shutdownTimeout.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, shutdownTimeout time.Duration) error {
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
