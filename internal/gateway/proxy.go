package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// forwardKey carries a *forwarding in the context of a request being proxied.
type forwardKey struct{}

// forwarding is what the proxy needs to know about one request.
type forwarding struct {
	service string
	target  *url.URL
	// token is the gateway's service token for the call: it names the service, the caller's
	// identity (when authenticated) and the client address.
	token string
	// private marks an answer no cache may keep (see private).
	private bool
}

// private reports whether the answer to r may carry a token or personal data, and so must
// carry Cache-Control: no-store: every answer but those of anonymous reads.
func private(r *http.Request, id *identity) bool {
	return id != nil || (r.Method != http.MethodGet && r.Method != http.MethodHead)
}

// newProxy returns the reverse proxy that forwards every request to its service.
func (g *Gateway) newProxy() *httputil.ReverseProxy {
	transport := http.DefaultTransport
	if g.client.Transport != nil {
		transport = g.client.Transport
	}
	return &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      g.retrying(transport),
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		BufferPool:     newBufferPool(),
	}
}

// forward proxies r to an instance of rt's service on behalf of the caller id (nil when
// anonymous).
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, rt Route, id *identity) {
	claims := svcauth.Claims{ClientIP: g.clientIP(r)}
	if id != nil {
		claims.AccountID, claims.Email, claims.SessionID = id.AccountID, id.Email, id.SessionID
	}
	token, err := g.signer.Token(rt.Service, claims)
	if err != nil {
		problem.Write(w, r, g.log, err)
		return
	}
	base, err := g.balancer.Pick(r.Context(), rt.Service)
	if err == nil {
		var target *url.URL
		if target, err = g.parseTarget(base); err == nil {
			g.serveProxy(w, r, &forwarding{service: rt.Service, target: target, token: token, private: private(r, id)})
			return
		}
	}
	g.metrics.upstreamErrors.WithLabelValues(rt.Service, "no_instance").Inc()
	g.log.WarnContext(r.Context(), "no instance to forward to", "service", rt.Service, "err", err)
	problem.WriteError(w, r, problem.Unavailable(rt.Service, g.cfg.RetryAfter))
}

// serveProxy runs the reverse proxy for one request, bounded by Config.UpstreamTimeout.
func (g *Gateway) serveProxy(w http.ResponseWriter, r *http.Request, f *forwarding) {
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.UpstreamTimeout)
	defer cancel()
	out := r.WithContext(context.WithValue(ctx, forwardKey{}, f))
	if r.ContentLength != 0 {
		out.Body = http.MaxBytesReader(w, r.Body, httpx.MaxBodyBytes)
	}
	g.proxy.ServeHTTP(w, out)
}

// parseTarget parses the base URL of an instance, such as http://127.0.0.1:8081.
func (g *Gateway) parseTarget(base string) (*url.URL, error) {
	if u, ok := g.targets.Load(base); ok {
		return u.(*url.URL), nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "" || u.Host == "" {
		return nil, errors.New("instance URL " + strconv.Quote(base) + " has no scheme or host")
	}
	g.targets.Store(base, u)
	return u, nil
}

// rewrite turns the client's request into the request to the service: same path and query,
// X-Forwarded-* set, no X-Eventpost-* header of the client's, the client's Authorization
// replaced by the gateway's service token (which carries the client address and the caller's
// identity), and the trace context of the gateway's span.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	f := pr.In.Context().Value(forwardKey{}).(*forwarding)
	pr.SetURL(f.target)
	for name := range pr.Out.Header {
		if isInternalHeader(name) {
			delete(pr.Out.Header, name)
		}
	}
	if g.cfg.TrustForwardedFor {
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := pr.In.Header.Values(h); len(v) > 0 {
				pr.Out.Header[h] = v
			}
		}
		host, proto := pr.Out.Header.Get("X-Forwarded-Host"), pr.Out.Header.Get("X-Forwarded-Proto")
		pr.SetXForwarded()
		if host != "" {
			pr.Out.Header.Set("X-Forwarded-Host", host)
		}
		if proto != "" {
			pr.Out.Header.Set("X-Forwarded-Proto", proto)
		}
	} else {
		pr.SetXForwarded()
	}
	pr.Out.Header.Set("Authorization", "Bearer "+f.token)
	// The service's spans are children of the gateway's span of this request.
	httpx.InjectTrace(pr.Out.Context(), pr.Out.Header)
}

// isInternalHeader reports whether name is one of the headers only the gateway may set:
// X-Eventpost-*, in any case and with underscores for dashes (which some servers accept).
func isInternalHeader(name string) bool {
	const prefix = "x-eventpost-"
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := name[i]
		if c == '_' {
			c = '-'
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// modifyResponse holds a response that revoked tokens until the gateway's revocation copy
// has caught up with it and removes the headers meant for the gateway alone. (A service's
// 401 carries its challenge already: problem.WriteError gives every 401 one.)
func (g *Gateway) modifyResponse(resp *http.Response) error {
	// The gateway has already set the request ID and nosniff of the response.
	resp.Header.Del(httpx.HeaderRequestID)
	resp.Header.Del("X-Content-Type-Options")
	if v := resp.Header.Get(httpx.HeaderRevocation); v != "" {
		seq, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			g.log.WarnContext(resp.Request.Context(), "ignoring a malformed revocation header", "value", v)
		} else {
			g.revs.waitFor(resp.Request.Context(), seq)
		}
	}
	for name := range resp.Header {
		if isInternalHeader(name) {
			delete(resp.Header, name)
		}
	}
	if f, _ := resp.Request.Context().Value(forwardKey{}).(*forwarding); f != nil && f.private {
		resp.Header.Set("Cache-Control", "no-store")
	}
	return nil
}

// proxyError answers a request that could not be forwarded.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	f, _ := r.Context().Value(forwardKey{}).(*forwarding)
	service := "upstream"
	if f != nil {
		service = f.service
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		problem.WriteError(w, r, problem.Newf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", httpx.MaxBodyBytes))
		return
	case errors.Is(r.Context().Err(), context.Canceled):
		// The client went away; nobody reads this answer.
		w.WriteHeader(problem.StatusClientClosedRequest)
		return
	}
	reason := "unreachable"
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(r.Context().Err(), context.DeadlineExceeded) {
		reason = "timeout"
	}
	g.metrics.upstreamErrors.WithLabelValues(service, reason).Inc()
	g.log.WarnContext(r.Context(), "cannot forward a request", "service", service, "reason", reason, "err", err)
	problem.WriteError(w, r, problem.Unavailable(service, g.cfg.RetryAfter))
}

// bufferPool recycles the proxy's copy buffers.
type bufferPool struct{ p sync.Pool }

// newBufferPool returns a pool of 32 KiB buffers.
func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

// Get implements httputil.BufferPool.
func (p *bufferPool) Get() []byte { return *(p.p.Get().(*[]byte)) }

// Put implements httputil.BufferPool.
func (p *bufferPool) Put(b []byte) { p.p.Put(&b) }
