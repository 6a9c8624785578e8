package amqptest_test

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/eventpost/eventpost/internal/platform/broker/amqptest"
)

// TestPrivateNodeKeepsPersistentMessagesOverARestart: a persistent message in a durable queue
// is there after Kill and Start, and a connection made before Kill is closed by it.
func TestPrivateNodeKeepsPersistentMessagesOverARestart(t *testing.T) {
	srv := amqptest.StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := amqp.Dial(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("kept", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.PublishWithContext(ctx, "", "kept", false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("the connection was not closed by the stop")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err = amqp.Dial(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if ch, err = conn.Channel(); err != nil {
		t.Fatal(err)
	}
	m, ok, err := ch.Get("kept", true)
	if err != nil || !ok || string(m.Body) != "hello" {
		t.Fatalf("after the restart: got %q, %v, %v; want the message", m.Body, ok, err)
	}
}
