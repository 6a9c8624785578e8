package httpx_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// shutdownTimeout is the shutdown timeout of the tests' servers: shorter than what they
// check Serve does not wait for (a long poll that never ends, the 5 s net/http gives a
// connection to send its first request).
const shutdownTimeout = 3 * time.Second

// serving serves h under Serve on a loopback listener, with a ConnState hook that reports
// each accepted connection on accepted. stop starts the graceful shutdown and returns what
// Serve returned.
func serving(t *testing.T, h http.Handler) (addr string, accepted <-chan struct{}, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan struct{}, 8)
	srv := httpx.NewServer("", h, logging.Discard())
	srv.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns <- struct{}{}
		}
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	served := make(chan error, 1)
	go func() { served <- httpx.Serve(ctx, srv, ln, shutdownTimeout) }()
	return ln.Addr().String(), conns, func() error {
		cancel()
		return <-served
	}
}

// TestServeEndsLongPollsAtShutdown holds a long poll that only ends under UntilShutdown and
// checks that Serve's graceful shutdown answers it and returns nil, within a shutdown timeout
// the poll alone would outlast.
func TestServeEndsLongPollsAtShutdown(t *testing.T) {
	t.Parallel()
	polling := make(chan struct{})
	never := make(chan struct{}) // closed at cleanup only, to let a failing test end
	t.Cleanup(func() { close(never) })
	addr, _, stop := serving(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := httpx.UntilShutdown(r)
		defer cancel()
		close(polling)
		select {
		case <-ctx.Done():
			_, _ = io.WriteString(w, "released")
		case <-never:
			_, _ = io.WriteString(w, "outwaited")
		}
	}))
	type answer struct {
		body string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/poll")
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		answered <- answer{string(body), err}
	}()
	<-polling
	if err := stop(); err != nil {
		t.Fatalf("Serve with a long poll in flight = %v, want nil (the poll must end when the shutdown starts)", err)
	}
	if a := <-answered; a.err != nil || a.body != "released" {
		t.Errorf("long poll answered %q, %v; want %q", a.body, a.err, "released")
	}
}

// TestServeClosesConnectionsThatSendNothing opens a connection that never sends a request,
// as a client's spare connection, and checks that the shutdown closes it and returns nil
// rather than wait for it until its time to send a request header runs out.
func TestServeClosesConnectionsThatSendNothing(t *testing.T) {
	t.Parallel()
	addr, accepted, stop := serving(t, http.NotFoundHandler())
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	<-accepted
	if err := stop(); err != nil {
		t.Fatalf("Serve with a connection that sent nothing = %v, want nil", err)
	}
	if n, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("spare connection read %d bytes, %v; want it closed (EOF)", n, err)
	}
}

// TestUntilShutdownEndsWithTheRequest checks that the context of a request served without
// Serve still ends with the request.
func TestUntilShutdownEndsWithTheRequest(t *testing.T) {
	t.Parallel()
	rctx, end := context.WithCancel(context.Background())
	r, err := http.NewRequestWithContext(rctx, http.MethodGet, "/poll", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := httpx.UntilShutdown(r)
	defer cancel()
	if ctx.Err() != nil {
		t.Fatalf("context ended before its request: %v", ctx.Err())
	}
	end()
	<-ctx.Done() // the test times out if it never ends
}
