//go:build unix

package mailer_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/private"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// TestDataAtRestIsPrivateWhateverTheUmask starts from nothing, as the all-in-one mode does:
// the data directory, a store in it and mail written under it, with umask 0, then checks
// the mode of everything there. It sets the process umask, so it must not run in parallel.
func TestDataAtRestIsPrivateWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })

	data := filepath.Join(t.TempDir(), "data")
	if err := private.MkdirAll(data, logging.Discard()); err != nil {
		t.Fatal(err)
	}
	store, err := mailer.Open(context.Background(), database.SQLite, filepath.Join(data, "mailer.db"), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tr, err := mailer.NewFileTransport(filepath.Join(data, "mail"), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := mailer.New(mailer.Config{}, mailer.Deps{Store: store, Transport: tr, Common: svcdeps.Common{Registry: prometheus.NewRegistry()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 1)); err != nil {
		t.Fatal(err)
	}

	seen := map[string]bool{}
	err = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(data, path)
		want := private.FileMode
		if d.IsDir() {
			want = private.DirMode
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", rel, got, want)
		}
		switch {
		case strings.HasSuffix(rel, ".eml"):
			seen["mail/*.eml"] = true
		case d.IsDir() || strings.HasPrefix(rel, "mailer.db"):
			seen[rel] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".", "mail", "mail/*.eml", "mailer.db", "mailer.db-wal", "mailer.db-shm"} {
		if !seen[name] {
			t.Errorf("%s was not written; saw %v", name, seen)
		}
	}
}

func TestFileTransportTightensAnExistingMailDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "20270101T000000.000000000Z-000000000000.eml")
	if err := os.WriteFile(old, []byte("Subject: old\r\n\r\nhi\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o640); err != nil { // as earlier versions wrote them
		t.Fatal(err)
	}
	if _, err := mailer.NewFileTransport(dir, logging.Discard()); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]fs.FileMode{dir: private.DirMode, old: private.FileMode} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", path, got, want)
		}
	}
}
