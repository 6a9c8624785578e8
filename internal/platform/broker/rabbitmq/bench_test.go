package rabbitmq_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/broker"
)

// BenchmarkPublish measures confirmed publishes per second to one quorum queue: one at a
// time, as a single outbox relay publishes, and from many goroutines at once, pipelined on
// the broker's confirm channel.
//
//	go test -run '^$' -bench Publish -benchtime 5s ./internal/platform/broker/rabbitmq/
func BenchmarkPublish(b *testing.B) {
	for _, bm := range []struct {
		name        string
		parallelism int // goroutines per GOMAXPROCS; 0: sequential
	}{{"sequential", 0}, {"concurrent-16", 8}, {"concurrent-64", 32}} {
		b.Run(bm.name, func(b *testing.B) {
			cfg := testConfig(b)
			br, _ := newBroker(b, cfg)
			m := newMessage(b, typeOther, map[string]string{"to": "someone@example.com", "kind": "reminder"})
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			if bm.parallelism == 0 {
				for range b.N {
					if err := br.Publish(ctx, m); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism(bm.parallelism)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := br.Publish(ctx, m); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkPublishConsume measures messages per second through RabbitMQ end to end: published
// by 16 goroutines, consumed and acknowledged by one broker with the default prefetch and
// concurrency.
func BenchmarkPublishConsume(b *testing.B) {
	cfg := testConfig(b)
	cfg.Concurrency, cfg.Prefetch = 0, 0 // the defaults
	br, _ := newBroker(b, cfg)
	var handled atomic.Int64
	done := make(chan struct{})
	if err := br.Register(broker.Consumer{Queue: queueWork, Types: []string{typeOther}, Handle: func(context.Context, broker.Message) error {
		if handled.Add(1) == int64(b.N) {
			close(done)
		}
		return nil
	}}); err != nil {
		b.Fatal(err)
	}
	run(b, br)
	m := newMessage(b, typeOther, map[string]string{"to": "someone@example.com", "kind": "reminder"})
	b.ResetTimer()
	start := time.Now()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := br.Publish(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	<-done
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
