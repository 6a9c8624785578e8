package httpx_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// TestServeEndsLongPollsAtShutdown holds a long poll that only ends under UntilShutdown and
// checks that Serve's graceful shutdown answers it and returns nil, within a shutdown timeout
// the poll alone would outlast.
func TestServeEndsLongPollsAtShutdown(t *testing.T) {
	t.Parallel()
	polling := make(chan struct{})
	never := make(chan struct{}) // closed at cleanup only, to let a failing test end
	t.Cleanup(func() { close(never) })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := httpx.UntilShutdown(r)
		defer cancel()
		close(polling)
		select {
		case <-ctx.Done():
			_, _ = io.WriteString(w, "released")
		case <-never:
			_, _ = io.WriteString(w, "outwaited")
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpx.NewServer("", h, logging.Discard())
	t.Cleanup(func() { _ = srv.Close() })
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- httpx.Serve(ctx, srv, ln, 2*time.Second) }()

	type answer struct {
		body string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/poll")
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		answered <- answer{string(body), err}
	}()
	<-polling
	stop()
	if err := <-served; err != nil {
		t.Fatalf("Serve with a long poll in flight = %v, want nil (the poll must end when the shutdown starts)", err)
	}
	if a := <-answered; a.err != nil || a.body != "released" {
		t.Errorf("long poll answered %q, %v; want %q", a.body, a.err, "released")
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
