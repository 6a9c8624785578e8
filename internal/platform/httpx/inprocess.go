package httpx

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// InProcess is an http.RoundTripper that serves each request on the http.Handler that this
// process registered for the request's host (see Handle) instead of sending it through a
// socket: in the all-in-one mode the gateway reaches the services so, sparing each call a
// loopback connection, two HTTP/1.1 encodings and two parsings. A request for another host
// goes to Fallback.
//
// The handler sees the request as a server would give it (HTTP/1.1, a path-only URL,
// RequestURI and Host set, the header without Host, a loopback RemoteAddr, no TLS, a
// context that ends when the caller's does, when the caller closes the response body early
// or when the handler returns) and the caller gets the response as http.Transport would
// return it: the header as the handler had it at WriteHeader, plus what net/http's server
// adds (Date, a sniffed Content-Type, Content-Length of a small body written before the
// handler returned), trailers, and a body that streams — whatever the handler flushes, or
// writes past the first 2 KiB, reaches the caller at once while the handler runs on.
//
// What a socket would bound and this transport does not: the server's read and write
// timeouts (the caller's context bounds the call instead: the gateway's upstream timeout),
// its MaxHeaderBytes (the gateway's own server limits its clients' headers, and the gateway
// adds only a fixed-size token) and its body limits (the handlers apply http.MaxBytesReader
// themselves; see Decode). A handler panic that escapes the handler (Middleware recovers
// every other) fails the call, or the body read if the response had started, with an error
// wrapping io.ErrUnexpectedEOF, as a connection that net/http's server closed would.
// Hijacking is not supported: no handler of EventPost hijacks.
type InProcess struct {
	// Fallback carries the requests for hosts without a handler; nil refuses them.
	Fallback http.RoundTripper

	mu       sync.RWMutex
	handlers map[string]http.Handler // by host:port
	closed   bool                    // set by Shutdown: calls are refused
	inflight sync.WaitGroup          // handlers running
	base     context.Context         // the handlers' contexts derive from it (see UntilShutdown)
	shutdown context.CancelFunc      // ends the long polls, as Serve's shutdown does
	quit     <-chan struct{}         // closed by Shutdown: the idle workers end
	calls    chan func()             // a call for an idle worker (see run)
}

// workerIdle is how long a goroutine that served a call waits for another before it ends.
const workerIdle = 5 * time.Second

// NewInProcess returns a transport with no handler yet, sending other hosts' requests to
// fallback (nil: refused).
func NewInProcess(fallback http.RoundTripper) *InProcess {
	shutdown, cancel := context.WithCancel(context.Background())
	return &InProcess{
		Fallback: fallback,
		handlers: map[string]http.Handler{},
		base:     context.WithValue(context.Background(), shutdownKey{}, shutdown),
		shutdown: cancel,
		quit:     shutdown.Done(),
		calls:    make(chan func()),
	}
}

// Handle serves the requests for host (host:port, as in http://host:port) on h.
func (t *InProcess) Handle(host string, h http.Handler) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.handlers[host] = h
}

// Shutdown starts the transport's graceful shutdown, as Serve does its server's: the
// requests that wait for something (see UntilShutdown) end, and new requests to its hosts
// are refused. Wait waits for the handlers still running.
func (t *InProcess) Shutdown() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.shutdown()
}

// Wait waits, until ctx ends, for the handlers that are running to return.
func (t *InProcess) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		t.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("in-process handlers still running: %w", ctx.Err())
	}
}

// CloseIdleConnections closes the idle connections of Fallback, if it has any.
func (t *InProcess) CloseIdleConnections() {
	if c, ok := t.Fallback.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// errShutDown refuses a request made after Shutdown, as a closed listener would.
var errShutDown = errors.New("in-process transport shut down")

// RoundTrip implements http.RoundTripper: it starts the handler of req's host on a
// goroutine of its own and returns its response as soon as the handler commits it (flushes,
// writes past the first 2 KiB, or returns), or an error when req's context ends first.
func (t *InProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	h, err := t.handler(req)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if h == nil {
		if t.Fallback == nil {
			closeBody(req)
			return nil, fmt.Errorf("in-process transport: no handler for %s", req.URL.Host)
		}
		return t.Fallback.RoundTrip(req)
	}
	if e := req.Header.Get("Expect"); e != "" && !strings.EqualFold(e, "100-continue") {
		// The one expectation net/http's server meets is 100-continue, which needs no
		// interim answer here: the handler reads the caller's body directly.
		t.inflight.Done()
		closeBody(req)
		return expectationFailed(req), nil
	}
	ctx, cancel := context.WithCancel(t.base)
	w := newInProcessWriter(req, cancel)
	stop := context.AfterFunc(req.Context(), func() { w.abort(req.Context().Err()) })
	sr := serverRequest(ctx, req)
	t.run(func() { t.serve(h, w, sr, stop) })
	select {
	case r := <-w.ready:
		return r.resp, r.err
	case <-req.Context().Done():
		w.abort(req.Context().Err())
		return nil, req.Context().Err()
	}
}

// handler returns the handler of req's host, nil when it has none, and counts the call in
// flight; after Shutdown it refuses the call.
func (t *InProcess) handler(req *http.Request) (http.Handler, error) {
	if req.URL == nil {
		return nil, errors.New("in-process transport: request without URL")
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	h := t.handlers[req.URL.Host]
	if h == nil {
		return nil, nil
	}
	if t.closed {
		return nil, fmt.Errorf("in-process call to %s: %w", req.URL.Host, errShutDown)
	}
	t.inflight.Add(1)
	return h, nil
}

// run runs call on a goroutine of its own: a worker that waits for a call, or a new one.
// A worker keeps its stack from call to call: a handler that reads SQLite grows its
// goroutine's stack to tens of KiB, and a new goroutine per call grew it again each time
// (runtime.copystack: 6 % of the CPU of GET /api/v1/events/{id} through the gateway).
func (t *InProcess) run(call func()) {
	select {
	case t.calls <- call:
	default:
		go t.worker(call)
	}
}

// worker runs call, then the calls handed to it while it waits, until none comes for
// workerIdle or the transport shuts down.
func (t *InProcess) worker(call func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		call()
		idle.Reset(workerIdle)
		select {
		case call = <-t.calls:
		case <-idle.C:
			return
		case <-t.quit:
			return
		}
	}
}

// serve runs h for r, then completes the response: the body is closed, or failed when h
// panicked, and r's context ends, as net/http's server ends it when its handler returns.
func (t *InProcess) serve(h http.Handler, w *inProcessWriter, r *http.Request, stop func() bool) {
	defer t.inflight.Done()
	defer func() {
		v := recover()
		stop()
		w.cancel()
		if v != nil {
			w.fail(fmt.Errorf("in-process call to %s: handler panicked: %v: %w", w.req.URL.Host, v, io.ErrUnexpectedEOF))
		} else {
			w.finish()
		}
		_ = r.Body.Close()
	}()
	h.ServeHTTP(w, r)
}

// closeBody closes the body of a request that is not sent, as a RoundTripper must.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// serverRequest returns req as a server would give it to its handler, with the context ctx.
func serverRequest(ctx context.Context, req *http.Request) *http.Request {
	u := &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	header := req.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	delete(header, "Host")
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	r := &http.Request{
		Method: method, URL: u, RequestURI: u.RequestURI(), Host: host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: header, Trailer: req.Trailer,
		Body: req.Body, ContentLength: req.ContentLength,
		RemoteAddr: "127.0.0.1:0",
	}
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		r.Body, r.ContentLength = http.NoBody, 0
	case req.ContentLength <= 0:
		// A body of unknown length goes chunked over a socket.
		r.ContentLength, r.TransferEncoding = -1, []string{"chunked"}
	}
	return r.WithContext(ctx)
}

// expectationFailed is net/http's server's answer to an Expect header other than
// 100-continue.
func expectationFailed(req *http.Request) *http.Response {
	return &http.Response{
		Status: "417 Expectation Failed", StatusCode: http.StatusExpectationFailed,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Length": {"0"}, "Date": {time.Now().UTC().Format(http.TimeFormat)}},
		Body:   http.NoBody, Request: req,
	}
}

// bufferBeforeStreaming is how much of the body the writer keeps before it hands the
// response over: net/http's server buffers as much before it chooses between
// Content-Length and chunking, and the caller sees the same choice.
const bufferBeforeStreaming = 2048

// roundTripResult is what RoundTrip returns.
type roundTripResult struct {
	resp *http.Response
	err  error
}

// inProcessWriter is the http.ResponseWriter and http.Flusher of an in-process call. It is
// used by the handler's goroutine only, but for abort (the caller's side).
type inProcessWriter struct {
	req    *http.Request // the caller's
	header http.Header   // the handler's
	sent   http.Header   // header as it was at WriteHeader
	status int
	head   bool

	buf       []byte // the body written before the response was committed (its first 512 bytes for HEAD)
	written   int64
	committed bool // the response is handed over; the body streams through pw
	resp      *http.Response
	trailers  []string // keys the handler declared in its Trailer header

	ready  chan roundTripResult // receives the response, once
	pr     *io.PipeReader
	pw     *io.PipeWriter
	bw     *bufio.Writer // over pw, once committed
	werr   error         // the first failed write to pw
	cancel context.CancelFunc
	body   *pipeBody
}

// newInProcessWriter returns the writer of the response to req; cancel ends the handler's
// context.
func newInProcessWriter(req *http.Request, cancel context.CancelFunc) *inProcessWriter {
	pr, pw := io.Pipe()
	return &inProcessWriter{
		req: req, header: http.Header{}, head: req.Method == http.MethodHead,
		ready: make(chan roundTripResult, 1), pr: pr, pw: pw, cancel: cancel,
	}
}

// Header returns the header map to set before WriteHeader (and trailers after).
func (w *inProcessWriter) Header() http.Header { return w.header }

// WriteHeader records the status and the header as they are now. Informational statuses
// are dropped (a socket would pass them ahead of the response; no caller here reads them).
func (w *inProcessWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.status != 0 || code < 200 {
		return
	}
	w.status = code
	w.sent = w.header.Clone()
}

// Write writes p to the body: into the buffer until the response is committed, then through
// the pipe to the caller.
func (w *inProcessWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	switch {
	case w.head:
		if n := 512 - len(w.buf); n > 0 {
			w.buf = append(w.buf, p[:min(n, len(p))]...)
		}
		return len(p), nil
	case w.committed:
		return w.write(p)
	case len(w.buf)+len(p) <= bufferBeforeStreaming:
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	w.commit(false, append(w.buf[:len(w.buf):len(w.buf)], p[:min(max(512-len(w.buf), 0), len(p))]...))
	if _, err := w.write(w.buf); err != nil {
		return 0, err
	}
	w.buf = nil
	return w.write(p)
}

// write writes p through the pipe's buffer.
func (w *inProcessWriter) write(p []byte) (int, error) {
	if w.werr != nil {
		return 0, w.werr
	}
	n, err := w.bw.Write(p)
	if err != nil {
		w.werr = err
	}
	return n, err
}

// Flush commits the response and sends what the handler wrote so far to the caller.
func (w *inProcessWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false, w.buf)
		if w.bw != nil {
			_, _ = w.write(w.buf)
		}
		w.buf = nil
	}
	if w.bw != nil && w.werr == nil {
		w.werr = w.bw.Flush()
	}
}

// commit hands the response over to RoundTrip; done says the handler has returned, so that
// the whole body is in the buffer; first is the start of the body, for sniffing its type.
func (w *inProcessWriter) commit(done bool, first []byte) {
	w.committed = true
	h := w.responseHeader(done, first)
	resp := &http.Response{
		Status: strconv.Itoa(w.status) + " " + http.StatusText(w.status), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Request: w.req, ContentLength: -1,
	}
	if v := h.Get("Content-Length"); v != "" {
		resp.ContentLength, _ = strconv.ParseInt(v, 10, 64)
	}
	if len(w.trailers) > 0 {
		resp.Trailer = http.Header{}
		for _, k := range w.trailers {
			resp.Trailer[k] = nil
		}
	}
	switch {
	case w.head:
		resp.Body = http.NoBody // ContentLength is the header's, as http.Transport reports it
	case !bodyAllowed(w.status):
		resp.Body, resp.ContentLength = http.NoBody, 0
	case done:
		resp.Body, resp.ContentLength = bytesBody{bytes.NewReader(w.buf)}, int64(len(w.buf))
		if t := w.trailer(); t != nil {
			resp.Trailer, resp.ContentLength = t, -1 // sent chunked over a socket
		}
	default:
		if resp.ContentLength < 0 {
			resp.TransferEncoding = []string{"chunked"}
		}
		w.body = &pipeBody{pr: w.pr, cancel: w.cancel, resp: resp}
		resp.Body = w.body
		w.bw = bufio.NewWriterSize(w.pw, 4096)
	}
	w.resp = resp
	w.ready <- roundTripResult{resp: resp}
}

// responseHeader returns the header the caller receives: the one at WriteHeader, with what
// net/http's server adds or drops.
func (w *inProcessWriter) responseHeader(done bool, first []byte) http.Header {
	h := w.sent
	w.trailers = declaredTrailers(h)
	delete(h, "Trailer")
	_, chunked := h["Transfer-Encoding"]
	delete(h, "Transfer-Encoding")
	switch {
	case !bodyAllowed(w.status):
		delete(h, "Content-Length")
		if w.status == http.StatusNotModified {
			delete(h, "Content-Type")
		}
	case chunked || len(w.trailers) > 0:
		delete(h, "Content-Length")
	case done && h.Get("Content-Length") == "" && (!w.head || w.written > 0):
		h.Set("Content-Length", strconv.FormatInt(w.written, 10))
	}
	if _, ok := h["Content-Type"]; !ok && bodyAllowed(w.status) && h.Get("Content-Encoding") == "" && !chunked && len(first) > 0 {
		h.Set("Content-Type", http.DetectContentType(first))
	}
	if _, ok := h["Date"]; !ok {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	return h
}

// declaredTrailers returns the keys of the trailers that h's Trailer header declares.
func declaredTrailers(h http.Header) []string {
	var keys []string
	for _, v := range h["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// finish completes the response of a handler that returned.
func (w *inProcessWriter) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true, w.buf)
	} else if w.bw != nil && w.werr == nil {
		w.werr = w.bw.Flush()
	}
	if w.body != nil {
		// Read adds them to the response at the end of the body, after the pipe closes.
		w.body.trailer = w.trailer()
	}
	w.pw.Close()
}

// trailer returns the trailers the handler set: the keys it declared and those under
// http.TrailerPrefix.
func (w *inProcessWriter) trailer() http.Header {
	if len(w.trailers) == 0 && !hasTrailerPrefix(w.header) {
		return nil
	}
	t := http.Header{}
	for _, k := range w.trailers {
		if v, ok := w.header[k]; ok {
			t[k] = v
		}
	}
	for k, v := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			t[http.CanonicalHeaderKey(strings.TrimPrefix(k, http.TrailerPrefix))] = v
		}
	}
	return t
}

// hasTrailerPrefix reports whether h holds a trailer set under http.TrailerPrefix.
func hasTrailerPrefix(h http.Header) bool {
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// fail ends the call of a handler that panicked with err: RoundTrip returns err, or, when
// the response was committed, reading its body does.
func (w *inProcessWriter) fail(err error) {
	if !w.committed {
		w.committed = true
		w.ready <- roundTripResult{err: err}
	}
	w.pw.CloseWithError(err)
}

// abort ends the call when the caller gave up (its context ended): the handler's context
// ends, the caller's body reads fail with err and the handler's writes fail.
func (w *inProcessWriter) abort(err error) {
	w.cancel()
	w.pw.CloseWithError(err)
}

// bodyAllowed reports whether a response with status may have a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// bytesBody is the body of a response the handler finished before it was handed over.
type bytesBody struct{ *bytes.Reader }

// Close does nothing: the handler is done.
func (bytesBody) Close() error { return nil }

// pipeBody is the body of a response that streams while its handler runs.
type pipeBody struct {
	pr      *io.PipeReader
	cancel  context.CancelFunc
	resp    *http.Response
	trailer http.Header // set by the handler's side before the pipe closes
}

// Read reads the body; at its end the trailers are added to the response.
func (b *pipeBody) Read(p []byte) (int, error) {
	n, err := b.pr.Read(p)
	if err == io.EOF && b.trailer != nil {
		if b.resp.Trailer == nil {
			b.resp.Trailer = http.Header{}
		}
		for k, v := range b.trailer {
			b.resp.Trailer[k] = v
		}
		b.trailer = nil
	}
	return n, err
}

// Close ends the call: as when a client closes a connection before the end of a response,
// the handler's context ends and its further writes fail.
func (b *pipeBody) Close() error {
	b.cancel()
	return b.pr.Close()
}
