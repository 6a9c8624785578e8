package logging

import (
	"io"
	"sync"
	"time"
)

// bufferSize is how many bytes a Buffered holds before it passes them on.
const bufferSize = 64 << 10

// Buffered passes what is written to it on to another writer in large writes: when it holds
// bufferSize bytes, every interval, and on Close. Each Write is kept whole (a log line is
// never split between two writes), so a line reaches the other writer at most interval after
// it was logged: at full load a process writes a few dozen times a second instead of once
// per log line. A process that dies without Close loses at most interval's lines.
type Buffered struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
	err error // the first error of w, returned by every later Write

	stop chan struct{}
	done chan struct{}
}

// NewBuffered returns a Buffered over w that flushes every interval, which must be positive.
func NewBuffered(w io.Writer, interval time.Duration) *Buffered {
	b := &Buffered{w: w, buf: make([]byte, 0, bufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushEvery(interval)
	return b
}

func (b *Buffered) flushEvery(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.mu.Lock()
			b.flush()
			b.mu.Unlock()
		case <-b.stop:
			return
		}
	}
}

// Write implements io.Writer: p is kept whole, and written at once when it alone fills the
// buffer.
func (b *Buffered) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if len(b.buf)+len(p) > cap(b.buf) {
		if b.flush(); b.err != nil {
			return 0, b.err
		}
	}
	if len(p) > cap(b.buf) {
		_, b.err = b.w.Write(p)
		if b.err != nil {
			return 0, b.err
		}
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// flush writes what the buffer holds. b.mu must be held.
func (b *Buffered) flush() {
	if len(b.buf) == 0 || b.err != nil {
		return
	}
	_, b.err = b.w.Write(b.buf)
	b.buf = b.buf[:0]
}

// Close stops the timer and writes what the buffer holds; later writes go straight through.
func (b *Buffered) Close() error {
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flush()
	b.buf = b.buf[:0:0] // every later Write is larger than the buffer: written at once
	return b.err
}
