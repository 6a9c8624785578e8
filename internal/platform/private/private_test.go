//go:build unix

package private_test

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/private"
)

// withUmask sets the process umask for the rest of the test; such tests do not run in
// parallel, since the umask belongs to the whole process.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func perm(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// captureLog returns a logger and the buffer it writes to.
func captureLog() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func TestMkdirAllIsPrivateWhateverTheUmask(t *testing.T) {
	for _, mask := range []int{0, 0o002, 0o022, 0o077} {
		t.Run(fs.FileMode(mask).String(), func(t *testing.T) {
			withUmask(t, mask)
			dir := filepath.Join(t.TempDir(), "data", "mail")
			if err := private.MkdirAll(dir, nil); err != nil {
				t.Fatal(err)
			}
			if got := perm(t, dir); got != private.DirMode {
				t.Errorf("mode %v, want %v", got, private.DirMode)
			}
			if got := perm(t, filepath.Dir(dir)); got&0o077 != 0 {
				t.Errorf("parent created with mode %v, open to other users", got)
			}
		})
	}
}

func TestMkdirAllTightensAnExistingDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	log, buf := captureLog()
	if err := private.MkdirAll(dir, log); err != nil {
		t.Fatal(err)
	}
	if got := perm(t, dir); got != private.DirMode {
		t.Errorf("mode %v, want %v", got, private.DirMode)
	}
	if !strings.Contains(buf.String(), "closed a file or directory to other users") || !strings.Contains(buf.String(), dir) {
		t.Errorf("the change is not logged: %q", buf)
	}
	buf.Reset()
	if err := private.MkdirAll(dir, log); err != nil || buf.Len() != 0 {
		t.Errorf("second MkdirAll: %v, logged %q; want nothing to do", err, buf)
	}
}

func TestMkdirAllRefusesAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := private.MkdirAll(file, nil); err == nil {
		t.Error("MkdirAll of a regular file succeeded")
	}
}

func TestCreateFile(t *testing.T) {
	withUmask(t, 0)
	dir := t.TempDir()
	t.Run("new file", func(t *testing.T) {
		path := filepath.Join(dir, "new")
		if err := private.CreateFile(path, nil); err != nil {
			t.Fatal(err)
		}
		if got := perm(t, path); got != private.FileMode {
			t.Errorf("mode %v, want %v", got, private.FileMode)
		}
	})
	t.Run("existing file open to others keeps its content", func(t *testing.T) {
		path := filepath.Join(dir, "old")
		if err := os.WriteFile(path, []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
		log, buf := captureLog()
		if err := private.CreateFile(path, log); err != nil {
			t.Fatal(err)
		}
		if got := perm(t, path); got != private.FileMode {
			t.Errorf("mode %v, want %v", got, private.FileMode)
		}
		if b, _ := os.ReadFile(path); string(b) != "data" {
			t.Errorf("content %q, want it kept", b)
		}
		if !strings.Contains(buf.String(), "was=0644") {
			t.Errorf("the change is not logged: %q", buf)
		}
	})
	t.Run("directory", func(t *testing.T) {
		if err := private.CreateFile(dir, nil); err == nil {
			t.Error("CreateFile of a directory succeeded")
		}
	})
}

func TestTightenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x-wal")
	if err := private.TightenFile(path, nil); err != nil {
		t.Errorf("a missing file: %v, want nil", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("TightenFile created a missing file")
	}
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := private.TightenFile(path, nil); err != nil {
		t.Fatal(err)
	}
	if got := perm(t, path); got != private.FileMode {
		t.Errorf("mode %v, want %v", got, private.FileMode)
	}
}

func TestTightenFiles(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]fs.FileMode{"a.eml": 0o640, "b.eml": 0o644, "c.eml": 0o600, "d.eml": 0o400} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	log, buf := captureLog()
	if err := private.TightenFiles(dir, log); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.eml", "b.eml", "c.eml", "d.eml"} {
		if got := perm(t, filepath.Join(dir, name)); got != private.FileMode {
			t.Errorf("%s has mode %v, want %v", name, got, private.FileMode)
		}
	}
	if got := perm(t, sub); got != 0o755 {
		t.Errorf("a subdirectory was changed to %v", got)
	}
	if !strings.Contains(buf.String(), "files=2") {
		t.Errorf("log %q does not count the two files that were open to others", buf)
	}
}
