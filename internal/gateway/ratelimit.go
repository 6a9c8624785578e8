package gateway

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/eventpost/eventpost/internal/platform/problem"
)

// limiter keeps one token bucket per client address.
type limiter struct {
	idle time.Duration
	now  func() time.Time

	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	clients map[string]*bucket
}

// bucket is the token bucket of one client address.
type bucket struct {
	lim  *rate.Limiter
	last time.Time // guarded by limiter.mu
}

// newLimiter returns a limiter allowing each client perSecond requests per second with
// bursts of burst, forgetting clients idle for longer than idle.
func newLimiter(perSecond float64, burst int, idle time.Duration, now func() time.Time) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, idle: idle, now: now, clients: map[string]*bucket{}}
}

// allow takes a token from client's bucket. When the bucket is empty it returns false and
// how long until a token is available.
func (l *limiter) allow(client string) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	b, ok := l.clients[client]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.clients[client] = b
	}
	b.last = now
	l.mu.Unlock()
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// set changes the rate (when perSecond > 0) and the burst (when burst > 0) of every bucket,
// present and future.
func (l *limiter) set(perSecond float64, burst int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if perSecond > 0 {
		l.rate = rate.Limit(perSecond)
	}
	if burst > 0 {
		l.burst = burst
	}
	for _, b := range l.clients {
		b.lim.SetLimitAt(now, l.rate)
		b.lim.SetBurstAt(now, l.burst)
	}
}

// settings returns the rate and burst in force.
func (l *limiter) settings() (float64, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.rate), l.burst
}

// evict forgets the buckets of clients idle at now for longer than l.idle; a fresh bucket is
// full, as theirs would be by then.
func (l *limiter) evict(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c, b := range l.clients {
		if now.Sub(b.last) > l.idle {
			delete(l.clients, c)
		}
	}
}

// size returns the number of buckets held.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// SetRateLimit changes, while the gateway runs, the sustained number of requests per second
// one client address may make (Config.RateLimit); it must be positive.
func (g *Gateway) SetRateLimit(perSecond float64) error {
	if !(perSecond > 0) || perSecond > 1e9 {
		return errors.New("gateway: the rate limit must be a positive number of requests per second")
	}
	g.limiter.set(perSecond, 0)
	return nil
}

// SetRateBurst changes, while the gateway runs, how many requests one client address may make
// at once (Config.RateBurst); it must be at least 1.
func (g *Gateway) SetRateBurst(burst int) error {
	if burst < 1 {
		return errors.New("gateway: the rate burst must be at least 1")
	}
	g.limiter.set(0, burst)
	return nil
}

// limit answers 429 to a client over its rate before calling next.
func (g *Gateway) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, ok := g.limiter.allow(rateKey(g.clientIP(r))); !ok {
			g.metrics.rateLimited.Inc()
			problem.WriteError(w, r, problem.TooManyRequests("too many requests from this address; slow down", d))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientIP returns the address of the client of r: the peer address, or with
// Config.TrustForwardedFor the first address of X-Forwarded-For when it holds one.
func (g *Gateway) clientIP(r *http.Request) string {
	if g.cfg.TrustForwardedFor {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip := parseAddr(strings.TrimSpace(first)); ip != "" {
				return ip
			}
		}
	}
	if ip := parseAddr(r.RemoteAddr); ip != "" {
		return ip
	}
	return r.RemoteAddr
}

// parseAddr returns the IP address of s, an address with or without a port, or "".
func parseAddr(s string) string {
	if ip := net.ParseIP(s); ip != nil {
		return ip.String()
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if ip := net.ParseIP(host); ip != nil {
			return ip.String()
		}
	}
	return ""
}

// rateKey returns the rate-limit key of a client address: the address itself for IPv4, its
// /64 network for IPv6, since one host commonly holds a whole /64.
func rateKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return addr
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
