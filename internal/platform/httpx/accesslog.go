package httpx

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// accessLogMessage is the message of the access-log line that every served request writes.
const accessLogMessage = "request"

// SampleAccessLog returns h with the access-log lines of requests answered below 400
// thinned to one in every n (a process-wide count), each kept line carrying sample_rate=n:
// at full load those lines are most of a process's log output, and writing every one costs
// a noticeable share of a request (docs/benchmarks.md). Lines of requests answered 400 or
// above, and every other record, pass through. With n below 2, h is returned as it is.
func SampleAccessLog(h slog.Handler, n int) slog.Handler {
	if n < 2 {
		return h
	}
	return &accessSampler{next: h, n: uint64(n), seen: new(atomic.Uint64)}
}

// accessSampler is the slog.Handler of SampleAccessLog; handlers derived from it (With,
// WithGroup) share its count.
type accessSampler struct {
	next slog.Handler
	n    uint64
	seen *atomic.Uint64
}

// Enabled implements slog.Handler.
func (s *accessSampler) Enabled(ctx context.Context, level slog.Level) bool {
	return s.next.Enabled(ctx, level)
}

// Handle implements slog.Handler: it drops all but one in n access-log lines of answers
// below 400.
func (s *accessSampler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message != accessLogMessage || r.Level != slog.LevelInfo || !belowClientError(r) {
		return s.next.Handle(ctx, r)
	}
	if s.seen.Add(1)%s.n != 0 {
		return nil
	}
	r = r.Clone()
	r.AddAttrs(slog.Uint64("sample_rate", s.n))
	return s.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (s *accessSampler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &accessSampler{next: s.next.WithAttrs(attrs), n: s.n, seen: s.seen}
}

// WithGroup implements slog.Handler.
func (s *accessSampler) WithGroup(name string) slog.Handler {
	return &accessSampler{next: s.next.WithGroup(name), n: s.n, seen: s.seen}
}

// belowClientError reports whether the access-log record r tells of an answer below 400.
func belowClientError(r slog.Record) bool {
	below := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "status" {
			return true
		}
		below = a.Value.Kind() == slog.KindInt64 && a.Value.Int64() < 400
		return false
	})
	return below
}
