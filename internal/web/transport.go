package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// peerKey is the context key of the browser's connection details.
type peerKey struct{}

// peer is what the in-process transport tells the API about the browser a call is made
// for, so that the gateway sees that browser as the client.
type peer struct {
	// RemoteAddr is the browser's address, as the UI's own request had it.
	RemoteAddr string
	// Host is the Host the browser asked for.
	Host string
	// ForwardedFor is the X-Forwarded-For header of the browser's request, passed on so
	// that a gateway that trusts it sees the same client for the API calls as for the page.
	ForwardedFor string
}

// withPeer returns a context whose API calls are made on behalf of the client of r.
func withPeer(ctx context.Context, r *http.Request) context.Context {
	return context.WithValue(ctx, peerKey{}, peer{RemoteAddr: r.RemoteAddr, Host: r.Host, ForwardedFor: r.Header.Get("X-Forwarded-For")})
}

// handlerTransport is an http.RoundTripper that serves each request on a handler in this
// process instead of sending it over the network: the UI's calls to the public API go
// through the gateway's own handler, so that routing, token checks and rate limits apply
// to them exactly as to any other client's.
type handlerTransport struct {
	handler http.Handler
}

// RoundTrip serves req on the handler and returns the response it wrote. The request is
// given the browser's address (see withPeer) as its RemoteAddr.
func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if req.URL == nil {
		return nil, fmt.Errorf("in-process transport: request without URL")
	}
	sreq := req.Clone(req.Context())
	sreq.URL = &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	sreq.RequestURI = sreq.URL.RequestURI()
	sreq.Proto, sreq.ProtoMajor, sreq.ProtoMinor = "HTTP/1.1", 1, 1
	sreq.Host = req.Host
	if sreq.Host == "" {
		sreq.Host = req.URL.Host
	}
	sreq.RemoteAddr = "127.0.0.1:0"
	if p, ok := req.Context().Value(peerKey{}).(peer); ok {
		if p.RemoteAddr != "" {
			sreq.RemoteAddr = p.RemoteAddr
		}
		if p.Host != "" {
			sreq.Host = p.Host
		}
	}
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	buf := &responseBuffer{header: http.Header{}}
	t.handler.ServeHTTP(buf, sreq)
	return buf.response(req), nil
}

// responseBuffer is an http.ResponseWriter that keeps the response in memory.
type responseBuffer struct {
	header      http.Header
	sent        http.Header // the header as it was when the status was written
	status      int
	body        bytes.Buffer
	wroteHeader bool
}

// Header returns the header map to set before WriteHeader.
func (b *responseBuffer) Header() http.Header { return b.header }

// WriteHeader records the status and the header as they are now; informational statuses
// are ignored, as a real server would send them ahead of the response.
func (b *responseBuffer) WriteHeader(status int) {
	if b.wroteHeader || (status >= 100 && status < 200) {
		return
	}
	b.wroteHeader = true
	b.status = status
	b.sent = b.header.Clone()
}

// Write appends p to the body, writing a 200 status first if none was written.
func (b *responseBuffer) Write(p []byte) (int, error) {
	if !b.wroteHeader {
		b.WriteHeader(http.StatusOK)
	}
	return b.body.Write(p)
}

// Flush does nothing: the whole response is handed over at once.
func (b *responseBuffer) Flush() {}

// response returns the buffered response to req.
func (b *responseBuffer) response(req *http.Request) *http.Response {
	if !b.wroteHeader {
		b.WriteHeader(http.StatusOK)
	}
	body := b.body.Bytes()
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", b.status, http.StatusText(b.status)),
		StatusCode:    b.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        b.sent,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
