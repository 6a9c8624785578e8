// Package outboxtest is what the services' store contract suites (internal/<service>/storetest)
// share to check the messages a store writes to its outbox table (package outbox) along with
// its data.
package outboxtest

import (
	"context"
	"database/sql"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// DBer is a store that exposes its database, whose outbox table the suites read.
type DBer interface {
	DB() *sql.DB
}

// Message returns a new message of type typ carrying payload, failing t when it cannot.
func Message(t testing.TB, typ string, payload any) broker.Message {
	t.Helper()
	m, err := broker.NewMessage(context.Background(), typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Messages returns the messages in store's outbox, oldest first; it fails t when store is
// not a DBer.
func Messages(t testing.TB, store any) []broker.Message {
	t.Helper()
	d, ok := store.(DBer)
	if !ok {
		t.Fatalf("%T does not expose DB() for the outbox checks", store)
	}
	return pending(t, d)
}

// Check reports an error on t unless the IDs of the messages in store's outbox are want, in
// order (none when want is empty). It checks nothing when store is not a DBer.
func Check(t testing.TB, store any, want ...string) {
	t.Helper()
	d, ok := store.(DBer)
	if !ok {
		return
	}
	got := []string{}
	for _, m := range pending(t, d) {
		got = append(got, m.ID)
	}
	if want == nil {
		want = []string{}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outbox message IDs (-want +got):\n%s", diff)
	}
}

func pending(t testing.TB, d DBer) []broker.Message {
	t.Helper()
	msgs, err := outbox.Pending(context.Background(), d.DB())
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	return msgs
}
