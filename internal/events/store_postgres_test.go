package events_test

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/events/storetest"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// openPostgres opens a store on the database at url, closed when t ends.
func openPostgres(t testing.TB, url string) *events.PostgresStore {
	t.Helper()
	s, err := events.OpenPostgres(context.Background(), url, logging.Discard())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) events.Store {
		return openPostgres(t, pgtest.URL(t, events.PostgresSchemas()...))
	})
}

// syncBuffer is a log destination that several goroutines may write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

// TestPostgresMigrationsFromEmpty opens the store on an empty database with two replicas at
// once: every migration is applied exactly once, and a later start applies nothing and finds
// the data in place.
func TestPostgresMigrationsFromEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t) // no schema: an empty database
	want := 0
	for _, s := range events.PostgresSchemas() {
		files, err := fs.Glob(s.FS, path.Join(s.Dir, "*.sql"))
		if err != nil || len(files) == 0 {
			t.Fatalf("migrations in %s: %v, %v", s.Dir, files, err)
		}
		want += len(files)
	}
	var (
		logs syncBuffer
		log  = slog.New(slog.NewJSONHandler(&logs, nil))
		wg   sync.WaitGroup
		errs = make([]error, 2)
	)
	for i := range errs {
		wg.Go(func() {
			s, err := events.OpenPostgres(ctx, url, log)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start %d on an empty database: %v", i, err)
		}
	}
	if got := logs.count(`"msg":"migration applied"`); got != want {
		t.Errorf("%d migrations applied by two replicas starting at once, want %d (each once)", got, want)
	}

	s := openPostgres(t, url)
	e := events.Event{
		ID: uuid.Must(uuid.NewV7()).String(), OrganizerID: "o", Title: "Kept", StartsAt: testNow,
		Timezone: "UTC", Tags: []string{"kept"}, CreatedAt: testNow, UpdatedAt: testNow,
	}
	if err := s.Create(ctx, e); err != nil {
		t.Fatalf("store on the migrated database: %v", err)
	}
	s.Close()

	var again syncBuffer
	s, err := events.OpenPostgres(ctx, url, slog.New(slog.NewJSONHandler(&again, nil)))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if n := again.count(`"msg":"migration applied"`); n != 0 {
		t.Errorf("reopening applied %d migrations, want 0", n)
	}
	if got, err := s.Get(ctx, e.ID); err != nil || got.Title != "Kept" {
		t.Errorf("after reopening: %+v, %v", got, err)
	}
}
