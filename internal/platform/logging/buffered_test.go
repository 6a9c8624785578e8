package logging_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/logging"
)

// writes records each Write it gets.
type writes struct {
	mu  sync.Mutex
	got [][]byte
	err error
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	w.got = append(w.got, bytes.Clone(p))
	return len(p), nil
}

func (w *writes) all() (n int, joined string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.got), string(bytes.Join(w.got, nil))
}

func TestBufferedBatchesWholeLines(t *testing.T) {
	var out writes
	b := logging.NewBuffered(&out, time.Hour) // no flush by time in this test
	line := strings.Repeat("x", 99) + "\n"
	const lines = 2000 // 200,000 bytes: the buffer fills three times
	var want strings.Builder
	for range lines {
		if _, err := b.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		want.WriteString(line)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	n, got := out.all()
	if got != want.String() {
		t.Fatalf("wrote %d bytes, want %d, in order", len(got), want.Len())
	}
	if n < 3 || n > 5 {
		t.Errorf("%d writes for %d lines of 100 bytes, want 4: one per 64 KiB and the rest at Close", n, lines)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	for i, w := range out.got {
		if len(w)%len(line) != 0 {
			t.Errorf("write %d of %d bytes splits a line", i, len(w))
		}
	}
}

func TestBufferedFlushesByTime(t *testing.T) {
	var out writes
	b := logging.NewBuffered(&out, 10*time.Millisecond)
	defer b.Close()
	if _, err := b.Write([]byte("one line\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, got := out.all(); got == "one line\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a buffered line was not written within 10 s of a 10 ms flush interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBufferedAfterClose(t *testing.T) {
	var out writes
	b := logging.NewBuffered(&out, time.Hour)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("late\n")); err != nil {
		t.Fatal(err)
	}
	if _, got := out.all(); got != "late\n" {
		t.Fatalf("after Close a line is written at once; got %q", got)
	}
}

func TestBufferedReportsTheWritersError(t *testing.T) {
	out := writes{err: errors.New("stdout closed")}
	b := logging.NewBuffered(&out, time.Hour)
	if _, err := b.Write([]byte("kept\n")); err != nil {
		t.Fatalf("a buffered write failed before any write reached the writer: %v", err)
	}
	if err := b.Close(); err == nil || err.Error() != "stdout closed" {
		t.Fatalf("Close = %v, want the writer's error", err)
	}
}
