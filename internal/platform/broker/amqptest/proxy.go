package amqptest

import (
	"errors"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of a RabbitMQ server, for fault tests: Cut breaks every
// connection through it, as a network failure or a server restart would; Pause makes it
// refuse new ones until Resume, as a server that is down would; Stall stops it forwarding
// anything until Unstall or Cut, as a hung server or a black-holed network would.
type Proxy struct {
	ln     net.Listener
	target string // host:port of the server
	url    string

	mu      sync.Mutex
	moved   *sync.Cond // broadcast when stalled, closed or conns change
	paused  bool
	stalled bool
	closed  bool
	conns   map[net.Conn]struct{} // both ends of every open connection
	wg      sync.WaitGroup
}

// NewProxy starts a proxy on 127.0.0.1 to the server of amqpURL; it is closed when t ends.
func NewProxy(t testing.TB, amqpURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(amqpURL)
	if err != nil {
		t.Fatalf("amqptest: proxy: %v", err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5672")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("amqptest: proxy: %v", err)
	}
	u.Host = ln.Addr().String()
	p := &Proxy{ln: ln, target: target, url: u.String(), conns: make(map[net.Conn]struct{})}
	p.moved = sync.NewCond(&p.mu)
	p.wg.Go(p.accept)
	t.Cleanup(p.Close)
	return p
}

// URL returns the AMQP URL that goes through the proxy.
func (p *Proxy) URL() string { return p.url }

// Cut closes every connection through the proxy and returns how many it closed.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns) / 2
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.moved.Broadcast()
	return n
}

// Stall makes the proxy hold every byte it receives, in both directions, without closing
// anything, until Unstall (or Cut, for the connections it closes).
func (p *Proxy) Stall() { p.set(&p.stalled, true) }

// Unstall undoes Stall: held bytes flow again.
func (p *Proxy) Unstall() { p.set(&p.stalled, false) }

// Pause makes the proxy refuse new connections (it accepts and closes them at once).
func (p *Proxy) Pause() { p.set(&p.paused, true) }

// Resume undoes Pause.
func (p *Proxy) Resume() { p.set(&p.paused, false) }

// set turns one of the proxy's switches (paused, stalled) on or off, and wakes the copiers
// that hold, to look at them again.
func (p *Proxy) set(flag *bool, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	*flag = on
	p.moved.Broadcast()
}

// Conns returns how many connections go through the proxy.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

// Close stops the proxy, closing every connection, and waits for its goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.moved.Broadcast()
	p.mu.Unlock()
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

func (p *Proxy) serve(client net.Conn) {
	p.mu.Lock()
	paused := p.paused
	p.mu.Unlock()
	if paused {
		client.Close()
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.paused || p.closed {
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && p.hold(src) {
				if _, err := dst.Write(buf[:n]); err != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		// Either direction ending ends the connection, as a broken network would.
		client.Close()
		server.Close()
	}
	wg.Go(func() { pipe(server, client) })
	wg.Go(func() { pipe(client, server) })
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// hold waits while the proxy is stalled and reports whether c is still open.
func (p *Proxy) hold(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		_, open := p.conns[c]
		if !open || p.closed {
			return false
		}
		if !p.stalled {
			return true
		}
		p.moved.Wait()
	}
}
