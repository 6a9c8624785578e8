package pgtest

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"sync"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging/logtest"
)

// Opener opens a store on the database at url, migrating it, and logs to log.
type Opener func(ctx context.Context, url string, log *slog.Logger) (io.Closer, error)

// MigrateFromEmpty opens two stores at once on a new, empty database, as two replicas
// starting together do, and checks that every migration of schemas was applied exactly once.
// It returns the database's URL, for the caller to store data and then call Reopen.
func MigrateFromEmpty(t *testing.T, schemas []database.Schema, open Opener) string {
	t.Helper()
	want := 0
	for _, s := range schemas {
		files, err := fs.Glob(s.FS, path.Join(s.Dir, "*.sql"))
		if err != nil || len(files) == 0 {
			t.Fatalf("migrations in %s: %v, %v", s.Dir, files, err)
		}
		want += len(files)
	}
	url := URL(t) // no schema: an empty database
	var (
		logs logtest.Buffer
		log  = slog.New(slog.NewJSONHandler(&logs, nil))
		wg   sync.WaitGroup
		errs = make([]error, 2)
	)
	for i := range errs {
		wg.Go(func() {
			s, err := open(context.Background(), url, log)
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
	if got := logs.Count(`"msg":"migration applied"`); got != want {
		t.Errorf("%d migrations applied by two replicas starting at once, want %d (each once)", got, want)
	}
	return url
}

// Reopen opens a store on the database at url again and checks that no migration was
// applied; the store is closed when t ends.
func Reopen(t *testing.T, url string, open Opener) io.Closer {
	t.Helper()
	var logs logtest.Buffer
	s, err := open(context.Background(), url, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if n := logs.Count(`"msg":"migration applied"`); n != 0 {
		t.Errorf("reopening applied %d migrations, want 0", n)
	}
	return s
}
