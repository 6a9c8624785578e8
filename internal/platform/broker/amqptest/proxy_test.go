package amqptest

import (
	"bufio"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echoServer answers every line with itself until closed with t.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); _, _ = io.Copy(c, c) })
		}
	})
	return "amqp://guest:guest@" + ln.Addr().String() + "/"
}

func dialProxy(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	u, err := url.Parse(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo sends a line through c and returns the answer, or the error.
func echo(c net.Conn, line string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	s, err := bufio.NewReader(c).ReadString('\n')
	return s, err
}

func TestProxy(t *testing.T) {
	p := NewProxy(t, echoServer(t))
	c := dialProxy(t, p)
	if got, err := echo(c, "hello"); err != nil || got != "hello\n" {
		t.Fatalf("echo through the proxy = %q, %v", got, err)
	}

	p.Stall()
	if got, err := echo(c, "held"); err == nil {
		t.Errorf("echo while stalled = %q, want a timeout", got)
	}
	p.Unstall()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "held\n" {
		t.Errorf("held bytes after Unstall = %q, %v", got, err)
	}

	if n := p.Cut(); n != 1 {
		t.Errorf("Cut closed %d connections, want 1", n)
	}
	if _, err := echo(c, "after cut"); err == nil {
		t.Error("echo on a cut connection worked")
	}

	p.Pause()
	if _, err := echo(dialProxy(t, p), "paused"); err == nil {
		t.Error("echo through a paused proxy worked")
	}
	p.Resume()
	if got, err := echo(dialProxy(t, p), "back"); err != nil || got != "back\n" {
		t.Errorf("echo after Resume = %q, %v", got, err)
	}
}
