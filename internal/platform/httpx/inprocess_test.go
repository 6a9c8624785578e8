package httpx_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/eventpost/eventpost/internal/platform/httpx"
)

// inProcess returns a transport that serves host "svc:1" on h, and a client over it.
func inProcess(h http.Handler) (*httpx.InProcess, *http.Client) {
	t := httpx.NewInProcess(nil)
	t.Handle("svc:1", h)
	return t, &http.Client{Transport: t}
}

// exchange is what a client sees of an answer, but its Date.
type exchange struct {
	Status        int
	Header        http.Header
	ContentLength int64
	Body          string
	Trailer       http.Header
}

// do makes req with c and returns what it saw.
func do(t *testing.T, c *http.Client, req *http.Request) exchange {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Date") == "" {
		t.Errorf("%s %s: no Date header", req.Method, req.URL)
	}
	resp.Header.Del("Date")
	return exchange{resp.StatusCode, resp.Header, resp.ContentLength, string(body), resp.Trailer}
}

// TestInProcessAnswersAsASocketDoes: for each kind of answer (small, empty, large, sniffed
// or typed, 204, 304, HEAD, flushed, with trailers), what a client sees through the
// in-process transport equals what it sees from a net/http server over a socket: status,
// header (Date aside), Content-Length, body and trailers.
func TestInProcessAnswersAsASocketDoes(t *testing.T) {
	large := strings.Repeat("0123456789", 1000)
	cases := []struct {
		name    string
		method  string
		handler http.HandlerFunc
	}{
		{"small JSON", "GET", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Request-Id", "abc")
			w.WriteHeader(201)
			_, _ = w.Write([]byte(`{"id":"1"}`))
		}},
		{"sniffed HTML", "GET", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "<!DOCTYPE html><html><body>hi</body></html>")
		}},
		{"no body", "GET", func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("X-A", "b") }},
		{"large body", "GET", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, large) }},
		{"large body in small writes", "GET", func(w http.ResponseWriter, _ *http.Request) {
			for i := 0; i < len(large); i += 100 {
				_, _ = io.WriteString(w, large[i:i+100])
			}
		}},
		{"explicit length", "GET", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(large)))
			_, _ = io.WriteString(w, large)
		}},
		{"compressed", "GET", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Encoding", "br")
			_, _ = w.Write([]byte{1, 2, 3})
		}},
		{"204", "DELETE", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(204)
			_, _ = w.Write([]byte("ignored"))
		}},
		{"304", "GET", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("ETag", `"x"`)
			w.WriteHeader(304)
		}},
		{"HEAD with body", "HEAD", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "hello")
		}},
		{"HEAD without body", "HEAD", func(w http.ResponseWriter, _ *http.Request) {}},
		{"flushed", "GET", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "one")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "two")
		}},
		{"declared trailer", "GET", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Trailer", "X-Sum")
			_, _ = io.WriteString(w, "data")
			w.Header().Set("X-Sum", "42")
		}},
		{"problem 503", "GET", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
			_, _ = io.WriteString(w, `{"status":503}`)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			overSocket := do(t, srv.Client(), mustRequest(t, tc.method, srv.URL+"/x", nil))
			_, c := inProcess(tc.handler)
			inProc := do(t, c, mustRequest(t, tc.method, "http://svc:1/x", nil))
			if d := cmp.Diff(overSocket, inProc); d != "" {
				t.Errorf("over a socket (-) and in process (+) differ:\n%s", d)
			}
		})
	}
}

// mustRequest returns a new request with a background context.
func mustRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestInProcessRequestAsAServerGivesIt: the handler sees the request as net/http's server
// would: HTTP/1.1, a path-only URL with the query, RequestURI, Host, a loopback RemoteAddr,
// no TLS, the caller's headers but Host (in a copy it may change), the body and its length.
func TestInProcessRequestAsAServerGivesIt(t *testing.T) {
	type seen struct {
		Method, Proto, URL, RequestURI, Host, RemoteAddr, Body string
		Header                                                 http.Header
		ContentLength                                          int64
		TransferEncoding                                       []string
		TLS                                                    bool
	}
	var got seen
	_, c := inProcess(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{
			Method: r.Method, Proto: r.Proto, URL: r.URL.String(), RequestURI: r.RequestURI, Host: r.Host,
			RemoteAddr: r.RemoteAddr, Body: string(b), Header: r.Header.Clone(), ContentLength: r.ContentLength,
			TransferEncoding: r.TransferEncoding, TLS: r.TLS != nil,
		}
		r.Header.Set("X-Changed", "by the handler")
	}))
	req := mustRequest(t, "POST", "http://svc:1/api/v1/a%2Fb?q=1&r=%20", strings.NewReader(`{"a":1}`))
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Host = "eventpost.test"
	if ex := do(t, c, req); ex.Status != 200 {
		t.Fatalf("status %d", ex.Status)
	}
	want := seen{
		Method: "POST", Proto: "HTTP/1.1", URL: "/api/v1/a%2Fb?q=1&r=%20", RequestURI: "/api/v1/a%2Fb?q=1&r=%20",
		Host: "eventpost.test", RemoteAddr: "127.0.0.1:0", Body: `{"a":1}`, ContentLength: 7,
		Header: http.Header{"Authorization": {"Bearer t"}, "X-Forwarded-For": {"203.0.113.9"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("the handler saw (-want +got):\n%s", d)
	}
	if req.Header.Get("X-Changed") != "" {
		t.Error("the handler changed the caller's header")
	}

	// A body of unknown length arrives as a chunked one does.
	req = mustRequest(t, "PUT", "http://svc:1/", io.NopCloser(strings.NewReader("abc")))
	do(t, c, req)
	if got.ContentLength != -1 || fmt.Sprint(got.TransferEncoding) != "[chunked]" || got.Body != "abc" {
		t.Errorf("unknown length: %+v", got)
	}
}

// TestInProcessLargeBodiesBothWays: 8 MiB sent and echoed arrive whole, streamed (the
// handler answers while it reads).
func TestInProcessLargeBodiesBothWays(t *testing.T) {
	_, c := inProcess(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	}))
	data := bytes.Repeat([]byte("eventpost-"), 800<<10)
	resp, err := c.Post("http://svc:1/echo", "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	sum := sha256.Sum256(data)
	if err != nil || n != int64(len(data)) || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Errorf("echoed %d bytes of %d, err %v", n, len(data), err)
	}
	if resp.ContentLength != -1 {
		t.Errorf("ContentLength %d; want -1 (streamed)", resp.ContentLength)
	}
}

// TestInProcessStreams: what the handler flushes reaches the caller while the handler is
// still running.
func TestInProcessStreams(t *testing.T) {
	release := make(chan struct{})
	_, c := inProcess(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "second\n")
	}))
	resp, err := c.Get("http://svc:1/feed")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first\n" {
		t.Fatalf("read %q, %v before the handler ended", buf, err)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second\n" {
		t.Errorf("then %q, %v", rest, err)
	}
}

// TestInProcessCancellation: when the caller's context ends, the handler's does, and so
// does the call — before the answer (RoundTrip's error) or during its body (the read's).
func TestInProcessCancellation(t *testing.T) {
	for _, flushFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("flushed %v", flushFirst), func(t *testing.T) {
			handlerDone := make(chan error, 1)
			_, c := inProcess(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if flushFirst {
					_, _ = io.WriteString(w, "waiting")
					w.(http.Flusher).Flush()
				}
				select {
				case <-r.Context().Done():
					handlerDone <- r.Context().Err()
				case <-time.After(10 * time.Second):
					handlerDone <- errors.New("the handler's context did not end")
				}
			}))
			ctx, cancel := context.WithCancel(t.Context())
			req := mustRequest(t, "GET", "http://svc:1/poll", nil).WithContext(ctx)
			time.AfterFunc(50*time.Millisecond, cancel)
			resp, err := c.Do(req)
			if flushFirst {
				if err != nil {
					t.Fatal(err)
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("the call ended with %v; want context.Canceled", err)
			}
			if err := <-handlerDone; !errors.Is(err, context.Canceled) {
				t.Errorf("handler: %v", err)
			}
		})
	}
}

// TestInProcessBodyClosedEarly: a caller that closes the body before its end ends the
// handler's context and makes its writes fail, as closing the connection would.
func TestInProcessBodyClosedEarly(t *testing.T) {
	writeErr := make(chan error, 1)
	_, c := inProcess(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "start")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		_, err := io.WriteString(w, strings.Repeat("x", 8192))
		writeErr <- err
	}))
	resp, err := c.Get("http://svc:1/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case err := <-writeErr:
		if err == nil {
			t.Error("the handler's write after the close succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context did not end")
	}
}

// TestInProcessPanic: a handler that panics does not take the process down; the caller gets
// an error, from RoundTrip or from the body when the answer had started, as from a server
// that closed the connection.
func TestInProcessPanic(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value any
		flush bool
	}{{"before the answer", "boom", false}, {"after a flush", "boom", true}, {"abort", http.ErrAbortHandler, false}} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := inProcess(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "partial")
				if tc.flush {
					w.(http.Flusher).Flush()
				}
				panic(tc.value)
			}))
			resp, err := c.Get("http://svc:1/")
			if tc.flush {
				if err != nil {
					t.Fatal(err)
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("got %v; want an error wrapping io.ErrUnexpectedEOF", err)
			}
		})
	}
	// The transport still serves.
	_, c := inProcess(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	if ex := do(t, c, mustRequest(t, "GET", "http://svc:1/", nil)); ex.Status != 200 {
		t.Errorf("status %d after panics", ex.Status)
	}
}

// TestInProcessExpect: 100-continue reaches the handler with the body; any other
// expectation is answered 417 without calling it, as net/http's server does.
func TestInProcessExpect(t *testing.T) {
	called := 0
	_, c := inProcess(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called++
		_, _ = io.Copy(w, r.Body)
	}))
	req := mustRequest(t, "POST", "http://svc:1/", strings.NewReader("body"))
	req.Header.Set("Expect", "100-continue")
	if ex := do(t, c, req); ex.Status != 200 || ex.Body != "body" {
		t.Errorf("100-continue: %+v", ex)
	}
	req = mustRequest(t, "POST", "http://svc:1/", strings.NewReader("body"))
	req.Header.Set("Expect", "something-else")
	if ex := do(t, c, req); ex.Status != http.StatusExpectationFailed || called != 1 {
		t.Errorf("other expectation: %+v, handler called %d times", ex, called)
	}
}

// TestInProcessOtherHosts: a host without a handler goes to Fallback, or is refused without
// one.
func TestInProcessOtherHosts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(418) }))
	defer srv.Close()
	tr := httpx.NewInProcess(srv.Client().Transport)
	tr.Handle("svc:1", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	c := &http.Client{Transport: tr}
	if ex := do(t, c, mustRequest(t, "GET", srv.URL, nil)); ex.Status != 418 {
		t.Errorf("fallback: status %d", ex.Status)
	}
	_, c = inProcess(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	if _, err := c.Get("http://other:2/"); err == nil {
		t.Error("a host without handler nor fallback was served")
	}
}

// TestInProcessShutdown: Shutdown ends the long polls waiting under UntilShutdown, Wait
// waits for their handlers, and later calls are refused.
func TestInProcessShutdown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	started := make(chan struct{})
	tr, c := inProcess(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := httpx.UntilShutdown(r)
		defer cancel()
		close(started)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond)
		_, _ = io.WriteString(w, "ended")
	}))
	answered := make(chan exchange, 1)
	go func() { answered <- do(t, c, mustRequest(t, "GET", "http://svc:1/poll", nil)) }()
	<-started
	tr.Shutdown()
	if err := tr.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case ex := <-answered:
		if ex.Body != "ended" {
			t.Errorf("the long poll answered %+v", ex)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not end")
	}
	if _, err := c.Get("http://svc:1/poll"); err == nil {
		t.Error("a call after Shutdown was served")
	}
}

// TestInProcessWaitBounded: Wait gives up when its context ends before the handlers do.
func TestInProcessWaitBounded(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	tr, c := inProcess(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(started)
		<-release
	}))
	go func() { _, _ = c.Get("http://svc:1/") }()
	defer close(release)
	<-started
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := tr.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait: %v", err)
	}
}

// TestInProcessReusesItsGoroutines: calls one after the other run on the same goroutine,
// which keeps the stack the handler grew, and it ends at Shutdown (goleak).
func TestInProcessReusesItsGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	goroutines := map[string]bool{}
	tr, c := inProcess(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		buf := make([]byte, 64)
		// "goroutine N"; the calls do not overlap
		id, _, _ := strings.Cut(string(buf[:runtime.Stack(buf, false)]), " [")
		goroutines[id] = true
	}))
	for range 5 {
		if ex := do(t, c, mustRequest(t, "GET", "http://svc:1/", nil)); ex.Status != http.StatusOK {
			t.Fatalf("answered %+v", ex)
		}
		waitIdleWorker(t)
	}
	if len(goroutines) != 1 {
		t.Errorf("five calls in a row ran on %d goroutines: %v", len(goroutines), goroutines)
	}
	tr.Shutdown()
}

// waitIdleWorker waits until a worker of an InProcess waits for its next call (its goroutine
// blocked in the select of worker), so that the next call finds it.
func waitIdleWorker(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		for g := range strings.SplitSeq(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "[select]") && strings.Contains(g, "(*InProcess).worker(") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no worker waits for a call after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
