package idempotency_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/idempotency"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// stores are the implementations of idempotency.Store the contract suite runs against; the
// PostgreSQL one skips when no server answers (and fails with EVENTPOST_INTEGRATION=1).
var stores = []struct {
	name string
	open func(t *testing.T) idempotency.Store
}{
	{"memory", func(t *testing.T) idempotency.Store { return newMemStore() }},
	{"sqlite", func(t *testing.T) idempotency.Store { return openSQL(t, database.SQLite) }},
	{"postgres", func(t *testing.T) idempotency.Store { return openSQL(t, database.Postgres) }},
}

func openSQL(t *testing.T, d database.Dialect) *idempotency.SQLStore {
	t.Helper()
	if d == database.Postgres {
		return idempotency.NewSQLStore(pgtest.DB(t, idempotency.Schema(d)), d)
	}
	db, err := database.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "idem.db"), logging.Discard(), idempotency.Schema(d))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return idempotency.NewSQLStore(db, d)
}

func forEachStore(t *testing.T, test func(t *testing.T, s idempotency.Store)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) { test(t, s.open(t)) })
	}
}

var (
	t0  = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	fp1 = idempotency.Fingerprint("POST", "/api/v1/events", []byte(`{"a":1}`))
	fp2 = idempotency.Fingerprint("POST", "/api/v1/events", []byte(`{"a":2}`))
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestStoreInsertGet(t *testing.T) {
	forEachStore(t, func(t *testing.T, s idempotency.Store) {
		ctx := context.Background()
		k := idempotency.Key{Scope: "account:a1", Value: "key-1"}
		if _, err := s.Get(ctx, k); !errors.Is(err, idempotency.ErrNotFound) {
			t.Fatalf("Get of an unknown key: %v, want ErrNotFound", err)
		}
		r := idempotency.Record{Key: k, Fingerprint: fp1, Owner: "o1", CreatedAt: t0}
		ok, err := s.Insert(ctx, r)
		must(t, err)
		if !ok {
			t.Fatal("first Insert reported the key taken")
		}
		ok, err = s.Insert(ctx, idempotency.Record{Key: k, Fingerprint: fp2, Owner: "o2", CreatedAt: t0.Add(time.Second)})
		must(t, err)
		if ok {
			t.Fatal("second Insert of the same key succeeded")
		}
		got, err := s.Get(ctx, k)
		must(t, err)
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("Get (-want +got):\n%s", diff)
		}
		// The same value in another scope is another key.
		ok, err = s.Insert(ctx, idempotency.Record{Key: idempotency.Key{Scope: "account:a2", Value: "key-1"}, Fingerprint: fp1, Owner: "o3", CreatedAt: t0})
		must(t, err)
		if !ok {
			t.Error("the same key value in another scope was refused")
		}
	})
}

func TestStoreCompleteReplaceDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, s idempotency.Store) {
		ctx := context.Background()
		k := idempotency.Key{Scope: "client:192.0.2.1", Value: "k"}
		_, err := s.Insert(ctx, idempotency.Record{Key: k, Fingerprint: fp1, Owner: "o1", CreatedAt: t0})
		must(t, err)
		resp := idempotency.Response{Status: 201, Header: http.Header{"Content-Type": {"application/json"}, "Location": {"/x/1"}}, Body: []byte(`{"id":"1"}`)}

		ok, err := s.Complete(ctx, k, "someone else", resp)
		must(t, err)
		if ok {
			t.Fatal("Complete by another owner succeeded")
		}
		ok, err = s.Complete(ctx, k, "o1", resp)
		must(t, err)
		if !ok {
			t.Fatal("Complete by the owner failed")
		}
		ok, err = s.Complete(ctx, k, "o1", idempotency.Response{Status: 500})
		must(t, err)
		if ok {
			t.Fatal("a second Complete replaced the kept response")
		}
		got, err := s.Get(ctx, k)
		must(t, err)
		want := idempotency.Record{Key: k, Fingerprint: fp1, Owner: "o1", CreatedAt: t0, Response: &resp}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("completed record (-want +got):\n%s", diff)
		}

		next := idempotency.Record{Key: k, Fingerprint: fp2, Owner: "o2", CreatedAt: t0.Add(25 * time.Hour)}
		ok, err = s.Replace(ctx, "not the owner", next)
		must(t, err)
		if ok {
			t.Fatal("Replace with the wrong owner succeeded")
		}
		ok, err = s.Replace(ctx, "o1", next)
		must(t, err)
		if !ok {
			t.Fatal("Replace with the right owner failed")
		}
		got, err = s.Get(ctx, k)
		must(t, err)
		if diff := cmp.Diff(next, got); diff != "" {
			t.Errorf("replaced record (-want +got):\n%s", diff)
		}

		must(t, s.Delete(ctx, k, "o1"))
		if _, err := s.Get(ctx, k); err != nil {
			t.Fatalf("Delete by a former owner deleted the record: %v", err)
		}
		must(t, s.Delete(ctx, k, "o2"))
		if _, err := s.Get(ctx, k); !errors.Is(err, idempotency.ErrNotFound) {
			t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
		}
	})
}

func TestStoreKeepsEmptyBody(t *testing.T) {
	forEachStore(t, func(t *testing.T, s idempotency.Store) {
		ctx := context.Background()
		k := idempotency.Key{Scope: "account:a", Value: "empty"}
		_, err := s.Insert(ctx, idempotency.Record{Key: k, Fingerprint: fp1, Owner: "o", CreatedAt: t0})
		must(t, err)
		_, err = s.Complete(ctx, k, "o", idempotency.Response{Status: 204, Header: http.Header{}})
		must(t, err)
		got, err := s.Get(ctx, k)
		must(t, err)
		if got.Response == nil || got.Response.Status != 204 || len(got.Response.Body) != 0 {
			t.Errorf("response %+v, want 204 with an empty body", got.Response)
		}
	})
}

func TestStoreDeleteBefore(t *testing.T) {
	forEachStore(t, func(t *testing.T, s idempotency.Store) {
		ctx := context.Background()
		for i, at := range []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute), t0.Add(time.Hour)} {
			_, err := s.Insert(ctx, idempotency.Record{Key: idempotency.Key{Scope: "s", Value: string(rune('a' + i))}, Fingerprint: fp1, Owner: "o", CreatedAt: at})
			must(t, err)
		}
		n, err := s.DeleteBefore(ctx, t0.Add(30*time.Minute), 2)
		must(t, err)
		if n != 2 {
			t.Fatalf("first DeleteBefore with limit 2 deleted %d", n)
		}
		n, err = s.DeleteBefore(ctx, t0.Add(30*time.Minute), 2)
		must(t, err)
		if n != 1 {
			t.Fatalf("second DeleteBefore deleted %d, want the one old record left", n)
		}
		for i, want := range []bool{false, false, false, true} {
			_, err := s.Get(ctx, idempotency.Key{Scope: "s", Value: string(rune('a' + i))})
			if got := err == nil; got != want {
				t.Errorf("record %d kept = %v (err %v), want %v", i, got, err, want)
			}
		}
	})
}

// Of concurrent inserts of one key, exactly one succeeds.
func TestStoreConcurrentInsert(t *testing.T) {
	forEachStore(t, func(t *testing.T, s idempotency.Store) {
		const n = 8
		k := idempotency.Key{Scope: "account:a", Value: "race"}
		var (
			wg   sync.WaitGroup
			won  = make([]bool, n)
			errs = make([]error, n)
		)
		for i := range n {
			wg.Go(func() {
				won[i], errs[i] = s.Insert(context.Background(), idempotency.Record{Key: k, Fingerprint: fp1, Owner: string(rune('A' + i)), CreatedAt: t0})
			})
		}
		wg.Wait()
		winners := 0
		for i := range n {
			must(t, errs[i])
			if won[i] {
				winners++
			}
		}
		if winners != 1 {
			t.Errorf("%d of %d concurrent inserts succeeded, want 1", winners, n)
		}
	})
}

// memStore is the Store the Guard's unit tests use: a map under a mutex.
type memStore struct {
	mu   sync.Mutex
	recs map[idempotency.Key]idempotency.Record
}

func newMemStore() *memStore { return &memStore{recs: map[idempotency.Key]idempotency.Record{}} }

func (m *memStore) Insert(_ context.Context, r idempotency.Record) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.recs[r.Key]; ok {
		return false, nil
	}
	m.recs[r.Key] = clone(r)
	return true, nil
}

func (m *memStore) Get(_ context.Context, k idempotency.Key) (idempotency.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[k]
	if !ok {
		return idempotency.Record{}, idempotency.ErrNotFound
	}
	return clone(r), nil
}

func (m *memStore) Replace(_ context.Context, owner string, r idempotency.Record) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.recs[r.Key]; !ok || old.Owner != owner {
		return false, nil
	}
	m.recs[r.Key] = clone(r)
	return true, nil
}

func (m *memStore) Complete(_ context.Context, k idempotency.Key, owner string, resp idempotency.Response) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[k]
	if !ok || r.Owner != owner || r.Response != nil {
		return false, nil
	}
	r.Response = &resp
	m.recs[k] = clone(r)
	return true, nil
}

func (m *memStore) Delete(_ context.Context, k idempotency.Key, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.recs[k]; ok && r.Owner == owner {
		delete(m.recs, k)
	}
	return nil
}

func (m *memStore) DeleteBefore(_ context.Context, t time.Time, limit int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, r := range m.recs {
		if n < limit && r.CreatedAt.Before(t) {
			delete(m.recs, k)
			n++
		}
	}
	return n, nil
}

func (m *memStore) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs)
}

// clone copies r deeply, as a database would.
func clone(r idempotency.Record) idempotency.Record {
	r.Fingerprint = bytes.Clone(r.Fingerprint)
	if r.Response != nil {
		resp := *r.Response
		resp.Header = resp.Header.Clone()
		if resp.Header == nil {
			resp.Header = http.Header{}
		}
		resp.Body = append([]byte{}, resp.Body...)
		r.Response = &resp
	}
	return r
}
